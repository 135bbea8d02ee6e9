"""`lazyqueue run`: the foreground while quick, the background when not; and `queue.run()`."""

from __future__ import annotations

import json
import signal
import subprocess

from lazyqueue import Queue

from ..cli.helpers import PYTHON, lq, task, tasks
from ..conftest import wait_until


def test_a_quick_command_gives_its_output_and_exit_code(cli_env):
    proc = lq(cli_env, "run", "--", "sh", "-c", "echo out; echo more; exit 3")
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "out\nmore\n"
    assert proc.stderr == ""
    [record] = tasks(cli_env)
    assert record["status"] == "failed" and record["attempt"] == 1 and record["max_attempts"] == 1
    ok = lq(cli_env, "run", "--", "true")
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", "")


def test_a_missing_command_says_so_and_exits_127(cli_env):
    proc = lq(cli_env, "run", "--", "no-such-command-here")
    assert proc.returncode == 127
    assert "command not found" in proc.stderr and "Traceback" not in proc.stderr


def test_a_slow_command_moves_to_the_background_and_completes(cli_env):
    # The background worker is up before `run`, so its start-up (slow on a loaded machine) is not
    # counted against the foreground window, and the command has printed its first line within it.
    assert lq(cli_env, "worker", "start").stdout.startswith("started a background worker (pid ")
    proc = lq(cli_env, "run", "--background-after", "3", "--", "sh", "-c", "echo begun; sleep 6; echo finished")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "begun\n"
    [record] = tasks(cli_env)
    tid = record["id"]
    assert proc.stderr == (f"still running after 3 s: moved to the background as t{tid} — "
                           f"lazyqueue log {tid} --follow\n")
    done = wait_until(lambda: (t := task(cli_env, tid))["status"] == "completed" and t, timeout=20,
                      interval=0.1, message="the backgrounded task to complete")
    assert done["result"] == {"exit_code": 0}
    assert "finished" in lq(cli_env, "log", str(tid)).stdout


def test_background_after_zero_returns_at_once_and_json_prints_the_record(cli_env):
    proc = lq(cli_env, "run", "--background-after", "0", "--json", "--", "sh", "-c", "sleep 1; echo late")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["kind"] == "shell" and record["status"] in ("queued", "running")
    wait_until(lambda: task(cli_env, record["id"])["status"] == "completed", timeout=20, interval=0.1,
               message="the task to complete in the background")


def test_wait_never_moves_to_the_background(cli_env):
    proc = lq(cli_env, "run", "--wait", "--background-after", "0.2", "--", "sh", "-c", "sleep 1; echo done; exit 4")
    assert proc.returncode == 4
    assert proc.stdout == "done\n" and "background" not in proc.stderr


def test_ctrl_c_in_the_foreground_cancels_the_task(cli_env):
    child = subprocess.Popen(
        [PYTHON, "-m", "lazyqueue", "run", "--", "sh", "-c", "echo started; sleep 30"], env=cli_env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout.readline() == "started\n"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130
    [record] = tasks(cli_env)
    assert f"cancelled t{record['id']}" in err
    wait_until(lambda: task(cli_env, record["id"])["status"] == "cancelled", timeout=10, interval=0.1,
               message="the task to end cancelled")


def test_run_needs_a_command(cli_env):
    proc = lq(cli_env, "run")
    assert proc.returncode == 2 and "give the command after '--'" in proc.stderr
    assert tasks(cli_env) == []


def test_queue_run_answers_the_result_in_time_else_the_task(home):
    with Queue(home) as queue:
        queue.start_worker()
        assert queue.run("shell", {"argv": ["sh", "-c", "echo '::result {\"n\": 1}'"]}) == {"n": 1}
        slow = queue.run("shell", {"argv": ["sleep", "1"]}, background_after=0.1)
        assert slow.status in ("queued", "running") and slow.kind == "shell"
        assert queue.wait([slow.id], timeout=20)[0].status == "completed"


def test_the_commands_own_terminal_codes_pass_through_as_in_a_direct_run(cli_env):
    proc = lq(cli_env, "run", "--", "printf", "\\033[1mbold\\033[0m\\n")
    assert proc.returncode == 0
    assert proc.stdout == "\x1b[1mbold\x1b[0m\n"
