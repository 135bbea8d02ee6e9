"""What is shown is what runs; payloads that could never run, or never be written as JSON, are refused."""

from __future__ import annotations

import json

import pytest

from lazyqueue.core.errors import UsageError
from lazyqueue import Queue
from tests.cli.helpers import lq, ok


@pytest.fixture
def q(home):
    queue = Queue(home, plugins=False)
    yield queue
    queue.close()


def final(q, tid, timeout=15.0):
    return q.wait([tid], timeout=timeout, poll=0.01)[0]


def test_a_shell_payload_with_both_command_and_argv_is_refused(q):
    with pytest.raises(UsageError, match="not both"):
        q.enqueue("shell", {"command": "rm -rf ~/x", "argv": ["echo", "harmless"]})
    assert q.tasks() == []


@pytest.mark.parametrize("payload", [
    {"command": "echo a\x00b"},
    {"argv": ["echo", "a\x00b"]},
    {"argv": ["echo"], "cwd": "/tmp\x00x"},
    {"argv": ["echo"], "env": {"A": "x\x00y"}},
])
def test_a_nul_byte_is_refused_at_add_not_at_run(q, payload):
    with pytest.raises(UsageError, match="NUL byte"):
        q.enqueue("shell", payload)


def test_a_nul_byte_on_the_command_line_is_a_one_line_error(cli_env):
    proc = lq(cli_env, "add", "shell", "command=echo a\x01b")  # argv cannot carry NUL itself: via --from
    assert proc.returncode == 0
    proc = lq(cli_env, "add", "shell", "--from", "-", input="echo a\x00b\n")
    assert proc.returncode == 2 and "NUL byte" in proc.stderr and proc.stderr.count("\n") == 1


def test_a_nan_result_line_is_ignored_and_ls_json_stays_valid(home, q, cli_env):
    q.start_worker()
    try:
        task, _ = q.enqueue("shell", {"command": "echo '::result {\"x\": NaN}'; echo '::result {\"y\": 1e999}'"})
        done = final(q, task.id)
    finally:
        q.stop_worker(grace=0.5)
    assert done.status == "completed" and done.result == {"exit_code": 0}
    assert "NaN and Infinity are not JSON" in (home / "logs" / f"{task.id}.log").read_text()
    json.loads(ok(cli_env, "ls", "--json").stdout, parse_constant=lambda c: pytest.fail(f"{c} in ls --json"))


def test_a_handler_returning_nan_fails_its_task_not_the_json(home, cli_env):
    q = Queue(home, plugins=False)

    @q.kind("nan")
    def nan(ctx):
        return {"x": float("nan")}

    q.start_worker()
    try:
        task, _ = q.enqueue("nan", {})
        done = final(q, task.id)
    finally:
        q.stop_worker(grace=0.5)
        q.close()
    assert done.status == "failed" and "not JSON" in done.error and done.result is None
    json.loads(ok(cli_env, "ls", "--json").stdout, parse_constant=lambda c: pytest.fail(f"{c} in ls --json"))


def test_non_finite_progress_is_unknown_not_a_number(tmp_path):
    from lazyqueue.core.context import TaskContext
    from lazyqueue.core.models import Task

    class Reporter:
        def __init__(self):
            self.seen = []

        def report_progress(self, tid, value, label):
            self.seen.append(value)

    reporter = Reporter()
    ctx = TaskContext(Task(id=1, kind="k"), None, tmp_path / "1.log", reporter)
    for value in (float("nan"), float("inf"), float("-inf"), 140, 42.5):
        ctx.progress(value)
    assert reporter.seen == [None, None, None, 100.0, 42.5]
    with pytest.raises(ValueError):
        ctx.update_meta(x=float("nan"))


def test_text_that_is_not_unicode_from_a_handler_is_written_and_read_back(home):
    """A lone surrogate in a result, a progress label, a stage or an error is stored as a JSON escape;
    the worker goes on (it used to fail every pass on it)."""
    q = Queue(home, plugins=False)

    @q.kind("odd")
    def odd(ctx):
        ctx.progress(50, "half \udcff")
        ctx.set_stage("stage \udcff")
        return {"k\udc80": "x\ud800y"}

    @q.kind("boom")
    def boom(ctx):
        raise RuntimeError("broke \udcff here")

    q.start_worker()
    try:
        odd_id = q.enqueue("odd", {"p": "\udcfe"}).task.id
        boom_id = q.enqueue("boom", {}).task.id
        after = q.enqueue("odd", {}).task.id  # the worker still claims what comes next
        assert [final(q, t).status for t in (odd_id, boom_id, after)] == ["completed", "failed", "completed"]
        assert q.worker.errors == []
    finally:
        q.close()
    again = Queue(home, plugins=False)  # from the file
    try:
        assert again.get(odd_id).result == {"k\udc80": "x\ud800y"} and again.get(odd_id).payload == {"p": "\udcfe"}
        assert again.get(boom_id).error == "RuntimeError: broke \udcff here"
        assert again.job(again.get(odd_id).job_id).stage == "stage \udcff"
    finally:
        again.close()
