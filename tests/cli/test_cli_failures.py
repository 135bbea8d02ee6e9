"""Failures through the real CLI: retries, timeouts, cancel, a worker killed mid-task."""

from __future__ import annotations

import os
import signal

import pytest

from .helpers import add, lq, ok, pid_gone, run_until_idle, start_worker, stop, task, wait_for
from ..conftest import PYTHON


def test_retries_with_backoff_until_success(cli_env, tmp_path):
    counter = tmp_path / "count"
    (tmp_path / "config.toml").write_text(
        "[kinds.flaky]\n"
        f"command = ['sh', '-c', 'echo x >> {counter}; [ $(wc -l < {counter}) -ge 3 ]']\n"
        "max_attempts = 3\nbackoff = { base = 0.3, factor = 2, max = 5, jitter = 0 }\n"
    )
    rec = add(cli_env, "flaky")
    run_until_idle(cli_env)
    done = task(cli_env, rec["id"])
    assert done["status"] == "completed" and done["attempt"] == 3
    assert counter.read_text().count("x") == 3
    log = ok(cli_env, "log", str(rec["id"])).stdout
    assert [line.split(" · ")[0] for line in log.splitlines() if line.startswith("── attempt")] == [
        "── attempt 1", "── attempt 2", "── attempt 3"]


def test_retry_command_gives_a_fresh_budget(cli_env, tmp_path):
    (tmp_path / "config.toml").write_text("[kinds.shell]\nbackoff = { base = 0.2 }\n")
    rec = add(cli_env, "shell", "--max-attempts", "2", "--", "false")
    run_until_idle(cli_env, timeout=120)
    failed = task(cli_env, rec["id"])
    assert failed["status"] == "failed" and failed["attempt"] == 2
    out = ok(cli_env, "retry", "--failed").stdout
    assert f"re-queued t{rec['id']}" in out
    again = task(cli_env, rec["id"])
    assert again["status"] == "queued" and again["attempt"] == 0 and again["error"] is None
    assert again["meta"]["last_error"].startswith("exit code 1")
    assert lq(cli_env, "retry", str(rec["id"])).returncode == 1  # already queued


def test_fatal_errors_are_not_retried(cli_env):
    rec = add(cli_env, "shell", "--max-attempts", "3", "--", "/no/such/program")
    run_until_idle(cli_env)
    done = task(cli_env, rec["id"])
    assert done["status"] == "failed" and done["attempt"] == 1
    assert done["error_kind"] == "user" and "command not found" in done["error"]


def test_timeout_kills_the_whole_process_group(cli_env, tmp_path):
    pidfile = tmp_path / "child.pid"
    rec = add(cli_env, "shell", "--timeout", "1", "--", "sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait")
    run_until_idle(cli_env)
    done = task(cli_env, rec["id"])
    assert done["status"] == "failed"
    assert done["error"].startswith("timed out after 1 s")
    child = int(pidfile.read_text())
    wait_for(lambda: pid_gone(child), what="the background child to be killed")


def test_cancel_queued_and_running(cli_env, tmp_path):
    queued = add(cli_env, "shell", "--delay", "3600", "--", "true")
    assert ok(cli_env, "cancel", str(queued["id"])).stdout.strip() == f"cancelled t{queued['id']}"
    assert task(cli_env, queued["id"])["status"] == "cancelled"
    pidfile = tmp_path / "pid"
    running = add(cli_env, "shell", "--", "sh", "-c", f"echo $$ > {pidfile}; exec sleep 60")
    worker = start_worker(cli_env)
    try:
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what="the command to start")
        out = ok(cli_env, "cancel", str(running["id"])).stdout
        assert "cancelling" in out
        wait_for(lambda: task(cli_env, running["id"])["status"] == "cancelled", what="cancelled")
        assert pid_gone(int(pidfile.read_text()))
    finally:
        stop(worker)
    proc = lq(cli_env, "cancel", str(running["id"]))
    assert proc.returncode == 1 and "nothing to cancel" in proc.stderr


def test_cancel_after_completion_says_it_had_completed(cli_env):
    rec = add(cli_env, "shell", "--", "true")
    run_until_idle(cli_env)
    proc = lq(cli_env, "cancel", str(rec["id"]))
    assert proc.returncode == 1
    assert f"t{rec['id']} had already completed at " in proc.stderr and "nothing to cancel" in proc.stderr
    assert task(cli_env, rec["id"])["status"] == "completed"


def _kill_worker_and_command_mid_task(cli_env, tmp_path, attempts: str):
    marker, pidfile, runs = tmp_path / "marker", tmp_path / "pid", tmp_path / "runs"
    script = (f"echo run >> {runs}; if [ -e {marker} ]; then exit 0; fi; "
              f"touch {marker}; echo $$ > {pidfile}; exec sleep 60")
    rec = add(cli_env, "shell", "--max-attempts", attempts, "--", "sh", "-c", script)
    worker = start_worker(cli_env)
    try:
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what="the command to start")
        stop(worker, signal.SIGKILL)
    finally:
        stop(worker, signal.SIGKILL)
    assert task(cli_env, rec["id"])["status"] == "running"  # as the dead worker left it
    orphan = int(pidfile.read_text())
    os.killpg(os.getpgid(orphan), signal.SIGKILL)  # its whole group dies too, leaving no exit status: nothing to adopt
    wait_for(lambda: pid_gone(orphan), what="the command to die")
    run_until_idle(cli_env)
    return task(cli_env, rec["id"]), runs.read_text().count("run")


@pytest.mark.parametrize("attempts", ["1", "2"])
def test_killed_worker_and_command_task_is_requeued_without_spending_an_attempt(cli_env, tmp_path, attempts):
    done, runs = _kill_worker_and_command_mid_task(cli_env, tmp_path, attempts)
    assert done["status"] == "completed" and done["attempt"] == 1 and runs == 2
    assert done["meta"]["interruptions"] == 1


def test_sigterm_requeues_running_task_without_spending_an_attempt(cli_env, tmp_path):
    (tmp_path / "config.toml").write_text("[worker]\ngrace = 0.2\n")
    pidfile = tmp_path / "pid"
    rec = add(cli_env, "shell", "--", "sh", "-c", f"echo $$ > {pidfile}; exec sleep 60")
    worker = start_worker(cli_env)
    try:
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what="the command to start")
        stop(worker, signal.SIGTERM)
        assert worker.returncode == 0
    finally:
        stop(worker, signal.SIGKILL)
    back = task(cli_env, rec["id"])
    assert back["status"] == "queued" and back["attempt"] == 0 and back["owner"] is None
    assert pid_gone(int(pidfile.read_text()))


_ = PYTHON


def test_a_worker_whose_state_dir_is_removed_stops_its_commands_and_says_so_in_one_line(cli_env, home, tmp_path):
    import shutil

    rec = add(cli_env, "shell", "--", "sleep", "300")
    worker = start_worker(cli_env)
    try:
        owner = wait_for(lambda: (task(cli_env, rec["id"]).get("owner") or {}).get("child_pgid") and task(cli_env, rec["id"])["owner"],
                         what="the command to start")
        shutil.rmtree(home)
        code = worker.wait(30)
        err = worker.stderr.read()
    finally:
        stop(worker, signal.SIGKILL)
    assert code == 1
    assert err == f"lazyqueue: the state directory {home} was removed: this worker stops\n"
    wait_for(lambda: pid_gone(owner["child_pgid"]), what="the command to be stopped")
