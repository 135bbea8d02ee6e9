"""SIGTERM a worker while commands run: they stop with it, their tasks go back to the queue."""

from __future__ import annotations

import json

from lazyqueue.bench.torture import kill_strays, read_ledger

from tests.conftest import wait_until

from .helpers import lq, ls_json


def strays(home) -> list[int]:
    """Pids of live processes started for this state directory (without killing them)."""
    import os

    marker = f"LAZYQUEUE_HOME={home}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/environ", "rb") as fh:
                    if marker in fh.read().split(b"\0"):
                        with open(f"/proc/{entry}/stat", "rb") as st:
                            if st.read().split(b") ")[-1][:1] != b"Z":
                                found.append(int(entry))
            except OSError:
                pass
    return found


def test_sigterm_requeues_running_tasks_without_spending_an_attempt(cli_env, home, tmp_path, started):
    (tmp_path / "config.toml").write_text("[worker]\ngrace = 0.5\n")
    ledger, flag = tmp_path / "ledger", tmp_path / "hold"
    flag.write_text("")
    command = (f'echo "s $LAZYQUEUE_TASK_ID $$" >> {ledger}; if [ -e {flag} ]; then sleep 60; fi; '
               f'echo "e $LAZYQUEUE_TASK_ID $$" >> {ledger}')
    ids = [json.loads(lq(cli_env, "add", "--json", "shell", "--max-attempts", "1", "--", "sh", "-c", command).stdout)["id"]
           for _ in range(2)]
    worker = started.lazyqueue(cli_env, "worker", "-q")
    wait_until(lambda: len(read_ledger(ledger)) == 2, timeout=30, message="both commands to start")
    worker.terminate()
    _out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert strays(home) == [], "a command outlived its worker"
    tasks = {t["id"]: t for t in ls_json(cli_env)}
    assert [(tasks[i]["status"], tasks[i]["attempt"]) for i in ids] == [("queued", 0)] * 2
    flag.unlink()
    proc = lq(cli_env, "worker", "--exit-when-idle", "-q")
    assert proc.returncode == 0, proc.stderr
    tasks = {t["id"]: t for t in ls_json(cli_env)}
    assert [(tasks[i]["status"], tasks[i]["attempt"]) for i in ids] == [("completed", 1)] * 2
    ends = [tid for event, tid, _pid in read_ledger(ledger) if event == "e"]
    assert sorted(ends) == sorted(ids), "each task finished exactly once"
    assert kill_strays(home) == 0


def test_kill9_leaves_a_command_running_and_the_recovering_worker_adopts_it(cli_env, home, tmp_path, started):
    import signal

    ledger, flag = tmp_path / "ledger", tmp_path / "hold"
    flag.write_text("")
    command = (f'echo "s $LAZYQUEUE_TASK_ID $$" >> {ledger}; while [ -e {flag} ]; do sleep 0.05; done; '
               f'echo "e $LAZYQUEUE_TASK_ID $$" >> {ledger}')
    tid = json.loads(lq(cli_env, "add", "--json", "shell", "--max-attempts", "3", "--", "sh", "-c", command).stdout)["id"]
    worker = started.lazyqueue(cli_env, "worker", "-q")
    wait_until(lambda: (ls_json(cli_env)[0].get("owner") or {}).get("child_pgid"), timeout=30,
               message="the command's process group on the task")
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    orphans = strays(home)
    assert orphans, "the command should outlive a worker killed with -9 (its own session)"
    flag.unlink()
    proc = lq(cli_env, "worker", "--exit-when-idle", "-q")
    assert proc.returncode == 0, proc.stderr
    assert strays(home) == [], "the command ended and nothing of it is left"
    task = ls_json(cli_env)[0]
    assert (task["id"], task["status"], task["attempt"]) == (tid, "completed", 1)
    runs = read_ledger(ledger)
    assert [e for e, _t, _p in runs] == ["s", "e"], runs
    assert runs[0][2] == runs[1][2], "the one run, adopted, finished"


def test_kill9_right_after_a_command_starts_never_runs_the_task_twice_at_once(cli_env, home, tmp_path, started):
    """A worker killed between a command's start and the write of its process group left it running beside the re-run."""
    import signal

    from lazyqueue.bench.torture import overlapping_runs

    ledger = tmp_path / "ledger"
    command = f'echo "s $LAZYQUEUE_TASK_ID $$" >> {ledger}; sleep 1.5; echo "e $LAZYQUEUE_TASK_ID $$" >> {ledger}'
    src = tmp_path / "tasks.txt"
    src.write_text((command + "\n") * 4)
    assert lq(cli_env, "add", "shell", "--from", str(src), "--max-attempts", "5").returncode == 0
    worker = started.lazyqueue(cli_env, "worker", "-q", "--concurrency", "4")
    wait_until(lambda: read_ledger(ledger), timeout=30, interval=0.001, message="a command to start")
    worker.send_signal(signal.SIGKILL)  # as soon as a command runs: likely before its group is on file
    worker.wait()
    proc = lq(cli_env, "worker", "--exit-when-idle", "-q", "--concurrency", "4")
    assert proc.returncode == 0, proc.stderr
    wait_until(lambda: not strays(home), timeout=10, message="left-over commands to end")
    assert overlapping_runs(read_ledger(ledger)) == set()
