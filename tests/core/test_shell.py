"""The built-in shell kind: output protocol, failures, logs, timeouts and cancel kill the group."""

from __future__ import annotations

import os
import sys
import time

import pytest

from lazyqueue.core import events as ev
from lazyqueue import Queue
from lazyqueue.core.queue import CANCEL_SIGNALLED
from tests.conftest import wait_until

PY = sys.executable


@pytest.fixture
def q(home):
    queue = Queue(home, plugins=False)
    events: list[ev.Event] = []
    queue.subscribe(events.append)
    queue.seen = events
    queue.start_worker()
    yield queue
    queue.stop_worker(grace=0.5)
    queue.close()


def final(q, tid, timeout=15.0):
    return q.wait([tid], timeout=timeout, poll=0.01)[0]


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes whose process group is `pgid`."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                data = fh.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = data[data.rfind(")") + 2:].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(entry))
    return out


def child_group(q, tid) -> int:
    owner = wait_until(lambda: (q.get(tid).owner or {}).get("child_pgid"), 5, message="child recorded")
    return owner


def test_progress_and_result_lines(home, q):
    script = "; ".join([
        "echo starting",
        "echo '::progress 40 encoding'",
        "echo '::result {\"path\": \"out.mp4\", \"n\": 2}'",
        "echo done",
    ])
    task, _ = q.enqueue("shell", {"command": script})
    done = final(q, task.id)
    assert done.status == "completed", done.error
    assert done.result == {"path": "out.mp4", "n": 2}
    progress = [e.task for e in q.seen if e.type == ev.TASK_PROGRESS and e.task.id == task.id]
    assert [(p.progress, p.progress_label) for p in progress] == [(40.0, "encoding")]
    log = (home / "logs" / f"{task.id}.log").read_text()
    assert "starting" in log and "::progress 40 encoding" in log and "done" in log
    assert os.stat(home / "logs").st_mode & 0o077 == 0


def test_argv_is_not_run_through_a_shell(q):
    task, _ = q.enqueue("shell", {"argv": [PY, "-c", "import sys, json; print('::result', json.dumps(sys.argv[1:]))", "$HOME", "a; b"]})
    done = final(q, task.id)
    assert done.result == ["$HOME", "a; b"]


def test_without_a_result_line_the_exit_code_is_the_result(q):
    task, _ = q.enqueue("shell", {"argv": ["true"]})
    assert final(q, task.id).result == {"exit_code": 0}


def test_env_and_cwd_reach_the_command(q, tmp_path):
    task, _ = q.enqueue("shell", {"command": 'echo "::result [\\"$GREETING\\", \\"$(pwd)\\", \\"$LAZYQUEUE_TASK_ID\\"]"',
                                  "env": {"GREETING": "hi there"}, "cwd": str(tmp_path)})
    done = final(q, task.id)
    assert done.result == ["hi there", str(tmp_path), str(task.id)]


def test_non_zero_exit_fails_with_the_output_tail(home, q):
    lines = "; ".join(f"echo line{i}" for i in range(30))
    task, _ = q.enqueue("shell", {"command": f"{lines}; echo 'it broke' >&2; exit 3"})
    done = final(q, task.id)
    assert done.status == "failed"
    assert done.error.startswith("exit code 3: ")
    assert done.error.endswith("line29\nit broke")
    assert "line0\n" not in done.error  # only the tail
    assert "it broke" in (home / "logs" / f"{task.id}.log").read_text()


def test_non_utf8_output_does_not_break_the_task(home, q):
    code = "import sys; sys.stdout.buffer.write(b'caf\\xe9 \\xff\\xfe\\n::progress 50 \\xff\\n::result {\"ok\": true}\\n')"
    task, _ = q.enqueue("shell", {"argv": [PY, "-c", code]})
    done = final(q, task.id)
    assert done.status == "completed", done.error
    assert done.result == {"ok": True}
    assert b"caf\xe9 \xff\xfe\n" in (home / "logs" / f"{task.id}.log").read_bytes()  # the command's bytes, as written


def test_command_not_found_is_not_retried(q):
    task, _ = q.enqueue("shell", {"argv": ["/no/such/lazyqueue-command"]}, max_attempts=3)
    done = final(q, task.id)
    assert done.status == "failed" and done.attempt == 1 and done.error_kind == "user"
    assert "command not found" in done.error


def test_timeout_kills_the_whole_process_group(q):
    task, _ = q.enqueue("shell", {"argv": ["sh", "-c", "sleep 30 & sleep 30; wait"]}, timeout=1)
    pgid = child_group(q, task.id)
    wait_until(lambda: len(group_members(pgid)) >= 3, 5, message="sh and both sleeps")
    t0 = time.monotonic()
    done = final(q, task.id)
    assert done.status == "failed" and done.error.startswith("timed out after 1 s")
    wait_until(lambda: group_members(pgid) == [], 5, message="the group to be gone")
    assert time.monotonic() - t0 < 6


def test_a_command_ends_when_it_exits_even_if_it_left_a_child_holding_its_output(home, q, tmp_path):
    # the background sleep holds the output open; the task still ends with the command
    pidfile = tmp_path / "leftover.pid"
    t0 = time.monotonic()
    task, _ = q.enqueue("shell", {"command": f"sleep 30 & echo $! > {pidfile}; echo started"})
    done = final(q, task.id, timeout=10)
    assert done.status == "completed" and done.result == {"exit_code": 0}
    assert time.monotonic() - t0 < 6
    assert "started" in (home / "logs" / f"{task.id}.log").read_text()
    leftover = int(pidfile.read_text())
    wait_until(lambda: _gone(leftover), 5, message="the left-over sleep to be stopped")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat", "rb") as fh:
        return fh.read().split(b") ")[-1][:1] == b"Z"


def test_cancel_a_running_shell_task(q):
    task, _ = q.enqueue("shell", {"argv": ["sleep", "30"]})
    pgid = child_group(q, task.id)
    assert q.cancel(task.id) == CANCEL_SIGNALLED
    done = final(q, task.id, timeout=8)
    assert done.status == "cancelled"
    wait_until(lambda: group_members(pgid) == [], 5, message="the sleep to be gone")


def test_config_command_kind_runs_with_placeholders(home, config_file):
    config_file.write_text(f'[kinds.greet]\ncommand = ["{PY}", "-c", "import sys; print(\\"::result\\", repr(sys.argv[1]).replace(chr(39), chr(34)))", "hello {{who}}"]\n')
    q = Queue(home, config=config_file, plugins=False)
    q.start_worker()
    try:
        task, _ = q.enqueue("greet", {"who": "world; rm -rf ~"})
        done = final(q, task.id)
        assert done.status == "completed", done.error
        assert done.result == "hello world; rm -rf ~"
    finally:
        q.stop_worker(grace=0.5)
        q.close()


def test_cancel_reaches_a_command_that_ignores_sigterm(q):
    task, _ = q.enqueue("shell", {"command": "trap '' TERM; echo ready; sleep 30; echo survived"})
    pgid = child_group(q, task.id)
    wait_until(lambda: "ready" in (q.log_path(task.id)).read_text(), 5, message="trap set")
    t0 = time.monotonic()
    assert q.cancel(task.id) == CANCEL_SIGNALLED
    done = final(q, task.id, timeout=10)
    assert done.status == "cancelled"
    assert time.monotonic() - t0 < 6  # TERM, then KILL after the grace
    wait_until(lambda: group_members(pgid) == [], 5, message="the group to be gone")
    assert "survived" not in (q.log_path(task.id)).read_text().splitlines()


def test_missing_working_directory_is_a_user_error(q, tmp_path):
    task, _ = q.enqueue("shell", {"argv": ["true"], "cwd": str(tmp_path / "nowhere")}, max_attempts=3)
    done = final(q, task.id)
    assert done.status == "failed" and done.error_kind == "user" and done.attempt == 1
    assert "working directory not found" in done.error


def test_every_file_in_the_state_directory_is_private(home, q):
    task, _ = q.enqueue("shell", {"command": "echo secret-output"})
    assert final(q, task.id).status == "completed"
    with open(home / "tasks.journal", "ab") as fh:
        fh.write(b"damaged line\n")
    q.enqueue("shell", {"command": "true"}, delay=3600)
    Queue(home, plugins=False).close()  # reads the damaged line: keeps a copy aside
    assert list(home.glob("tasks.journal.damaged-*"))
    for path in [home, *home.rglob("*")]:
        mode = os.stat(path).st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"


def test_a_failing_log_write_does_not_leave_the_command_running_beside_a_retry(home, q, monkeypatch, tmp_path):
    import errno

    from lazyqueue.core.context import TaskContext

    def full_disk(self, line):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(TaskContext, "log", full_disk)
    ledger = tmp_path / "ledger"
    task, _ = q.enqueue("shell", {"command": f"echo start >> {ledger}; sleep 0.5; echo end >> {ledger}"}, max_attempts=2)
    done = final(q, task.id)
    assert done.status == "completed" and done.attempt == 1, done.error
    assert ledger.read_text().split() == ["start", "end"]


def test_a_child_in_its_own_session_holding_the_output_does_not_keep_the_task_running(home, q, tmp_path):
    pidfile = tmp_path / "daemon.pid"
    task, _ = q.enqueue("shell", {"command": f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 30' & while [ ! -s {pidfile} ]; do sleep 0.05; done; echo parent done"})
    t0 = time.monotonic()
    try:
        done = final(q, task.id, timeout=10)
        assert done.status == "completed" and time.monotonic() - t0 < 5
        assert "parent done" in (home / "logs" / f"{task.id}.log").read_text()
    finally:
        pid = wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 5, message="the daemon's pid")
        os.kill(int(pid), 9)


def test_a_command_line_sees_what_sh_c_would_give_it_and_none_of_the_gate(home, q):
    """A command line runs in the gate's own subshell (one exec of sh per task, not two), as `sh -c` would run it."""
    task, _ = q.enqueue("shell", {"command": 'echo "$# $0 [$exits$tid$attempt$form$go]"; exit 3'})
    done = final(q, task.id)
    assert done.status == "failed" and done.error == "exit code 3: 0 /bin/sh []"


def test_exit_statuses_are_lines_of_one_file_and_no_file_is_made_per_task(home, q):
    tids = [q.enqueue("shell", {"command": f"exit {i % 3}"}, max_attempts=1).task.id for i in range(12)]
    done = q.wait(tids, timeout=30, poll=0.01)
    assert [t.status for t in done] == ["completed" if i % 3 == 0 else "failed" for i in range(12)]
    names = os.listdir(home / "logs")
    assert sorted(names) == sorted([f"{tid}.log" for tid in tids] + ["exit-status"])
    lines = (home / "logs" / "exit-status").read_text().splitlines()
    assert sorted(lines) == sorted(f"{tid} 1 {i % 3}" for i, tid in enumerate(tids)), "one whole line each"


def test_the_exit_status_file_starts_afresh_at_a_fold_with_nothing_running(home, q):
    tid = q.enqueue("shell", {"command": "true"}).task.id
    assert final(q, tid).status == "completed"
    status = home / "logs" / "exit-status"
    assert status.read_text() == f"{tid} 1 0\n"
    with q.taskfile.lock:
        q.taskfile.sync()
        q.taskfile.compact()
    assert not status.exists()


def test_an_exit_status_is_read_for_its_own_task_and_attempt_only(tmp_path):
    from lazyqueue.core.adoption import read_exit_status

    (tmp_path / "exit-status").write_bytes(b"12 1 0\n2 1 7\n12 2 5\n112 2 9\n12 3 4")
    log = tmp_path / "12.log"
    assert read_exit_status(log, 1) == 0
    assert read_exit_status(log, 2) == 5, "not task 112's line"
    assert read_exit_status(log, 3) is None, "a line cut off mid-write"
    assert read_exit_status(tmp_path / "2.log", 1) == 7
    assert read_exit_status(tmp_path / "9.log", 1) is None
    (tmp_path / "12.exit").write_text("1 6\n")
    assert read_exit_status(log, 1, gate=2) == 6, "a command started by the earlier gate"
