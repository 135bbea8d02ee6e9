"""A stopping worker folds the journal into tasks.json: at rest the snapshot holds the current state."""

from __future__ import annotations

import json
import signal

from tests.cli.helpers import add, ok, run_until_idle, start_worker, stop, wait_for
from tests.core.helpers import snapshot_json


def journal_lines(home) -> int:
    try:
        return len((home / "tasks.journal").read_bytes().splitlines())
    except FileNotFoundError:
        return 0


def statuses(home) -> dict:
    return {t["id"]: t["status"] for t in snapshot_json(home)["tasks"]}


def test_worker_exit_when_idle_leaves_the_journal_folded(cli_env, home):
    first = add(cli_env, "shell", "--", "true")
    second = add(cli_env, "shell", "--", "false", "--max-attempts", "1")
    assert journal_lines(home) > 0
    run_until_idle(cli_env)
    assert journal_lines(home) == 0
    assert statuses(home) == {first["id"]: "completed", second["id"]: "failed"}


def test_a_stopped_worker_leaves_the_journal_folded(cli_env, home):
    proc = start_worker(cli_env)
    try:
        done = add(cli_env, "shell", "--", "true")
        waiting = add(cli_env, "shell", "--delay", "3600", "--", "true")
        wait_for(lambda: json.loads(ok(cli_env, "show", str(done["id"]), "--json").stdout)["status"] == "completed",
                 what="the first task completed")
    finally:
        stop(proc, signal.SIGTERM)
    assert proc.returncode == 0, proc.stderr.read()
    assert journal_lines(home) == 0
    assert statuses(home) == {done["id"]: "completed", waiting["id"]: "queued"}


def test_a_queue_closed_in_process_leaves_the_journal_folded(home):
    from lazyqueue import Queue

    q = Queue(home)
    q.kind("noop")(lambda ctx: 7)
    q.start_worker()
    task = q.enqueue("noop").task
    wait_for(lambda: q.get(task.id).status == "completed", what="the task completed")
    q.close()  # the TUI closes its queue this way on quit
    assert journal_lines(home) == 0
    assert [(t["id"], t["status"], t["result"]) for t in snapshot_json(home)["tasks"]] == [(task.id, "completed", 7)]
