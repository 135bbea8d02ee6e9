"""Commands outlive their worker: the next worker adopts them; interruptions do not spend attempts."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap

from .helpers import PYTHON, add, ok, pid_gone, run_until_idle, start_worker, stop, task, wait_for


def running_child(env, tid: int) -> dict:
    return wait_for(lambda: (task(env, tid).get("owner") or {}).get("child_pgid") and task(env, tid)["owner"],
                    what="the command to start")


def test_kill_9_of_a_headless_worker_mid_command_is_adopted_and_completes_once(cli_env, tmp_path):
    ledger, go_on = tmp_path / "ledger", tmp_path / "go-on"
    script = (f"echo run >> {ledger}; echo start; while [ ! -e {go_on} ]; do sleep 0.05; done; "
              "echo '::progress 60 most'; echo '::result {\"ok\": 1}'; echo end")
    rec = add(cli_env, "shell", "--max-attempts", "1", "--", "sh", "-c", script)
    worker = start_worker(cli_env)
    try:
        owner = running_child(cli_env, rec["id"])
        wait_for(lambda: "start" in ok(cli_env, "log", str(rec["id"])).stdout, what="the first line")
        stop(worker, signal.SIGKILL)
    finally:
        stop(worker, signal.SIGKILL)
    assert not pid_gone(owner["child_pgid"]), "the command outlives its worker"
    adopter = start_worker(cli_env)
    try:
        wait_for(lambda: task(cli_env, rec["id"])["owner"]["pid"] == adopter.pid, what="the new worker to adopt it")
        go_on.touch()
        done = wait_for(lambda: (t := task(cli_env, rec["id"]))["status"] == "completed" and t, what="completion")
    finally:
        stop(adopter)
    assert done["attempt"] == 1 and done["result"] == {"ok": 1} and done["progress"] == 100.0
    assert ledger.read_text().split() == ["run"], "it ran once"
    log = ok(cli_env, "log", str(rec["id"])).stdout
    assert "start" in log and "::progress 60 most" in log and log.rstrip().endswith("end")


def test_a_command_that_ended_while_no_worker_watched_is_recorded_from_its_exit_status(cli_env, tmp_path):
    go_on = tmp_path / "go-on"
    rec = add(cli_env, "shell", "--max-attempts", "1", "--", "sh", "-c",
              f"echo working; while [ ! -e {go_on} ]; do sleep 0.05; done; echo broke >&2; exit 3")
    worker = start_worker(cli_env)
    try:
        owner = running_child(cli_env, rec["id"])
        stop(worker, signal.SIGKILL)
    finally:
        stop(worker, signal.SIGKILL)
    go_on.touch()
    wait_for(lambda: pid_gone(owner["child_pgid"]), what="the command to end")
    run_until_idle(cli_env)
    done = task(cli_env, rec["id"])
    assert done["status"] == "failed" and done["attempt"] == 1
    assert done["error"].startswith("exit code 3") and "broke" in done["error"]


def test_a_live_process_with_the_old_pid_is_not_taken_for_the_command(cli_env, tmp_path):
    marker = tmp_path / "ran-once"
    rec = add(cli_env, "shell", "--max-attempts", "1", "--", "sh", "-c",
              f"if [ -e {marker} ]; then exit 0; fi; touch {marker}; exec sleep 60")
    worker = start_worker(cli_env)
    try:
        owner = running_child(cli_env, rec["id"])
        stop(worker, signal.SIGKILL)
    finally:
        stop(worker, signal.SIGKILL)
    os.killpg(owner["child_pgid"], signal.SIGKILL)
    wait_for(lambda: pid_gone(owner["child_pgid"]), what="the command to die")
    # the pid is handed to an unrelated process: same number, another start time
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        _point_owner_at(cli_env, rec["id"], stranger.pid)
        run_until_idle(cli_env, timeout=60)
        assert stranger.poll() is None, "the stranger is neither adopted nor killed"
        done = task(cli_env, rec["id"])
        # interrupted, not adopted: run again without spending the attempt (it is the only one)
        assert done["status"] == "completed" and done["meta"]["interruptions"] == 1 and done["attempt"] == 1
    finally:
        stranger.kill()
        stranger.wait()


def _point_owner_at(env, tid: int, pid: int) -> None:
    """Rewrite the dead worker's record of its command so it names `pid` (keeping the old start time)."""
    code = textwrap.dedent(f"""
        from lazyqueue.core.taskfile import Change, TaskFile
        store = TaskFile(__import__("os").environ["LAZYQUEUE_HOME"])
        store.load()
        with store.lock:
            store.sync()
            owner = store.state.tasks[{tid}].owner
            store.commit(Change(patches=[{{"id": {tid}, "owner": dict(owner, child_pgid={pid})}}]))
        store.close()
    """)
    subprocess.run([PYTHON, "-c", code], env=env, check=True, timeout=30)
    assert task(env, tid)["owner"]["child_pgid"] == pid


PY_WORKER = textwrap.dedent("""
    import sys, time
    from lazyqueue import Queue
    q = Queue(plugins=False)

    @q.kind("slow")
    def slow(ctx):
        with open(sys.argv[1], "a") as fh:
            fh.write("run\\n")
        ctx.wait_cancelled(120)

    if sys.argv[2:] == ["add"]:
        q.enqueue("slow")
    q.start_worker()
    time.sleep(120)
""")


def test_a_python_handler_task_interrupted_three_times_fails_with_that_message(cli_env, tmp_path):
    ledger = tmp_path / "runs"
    script = tmp_path / "app.py"
    script.write_text(PY_WORKER)
    for n in range(1, 4):
        app = subprocess.Popen([PYTHON, str(script), str(ledger), *(["add"] if n == 1 else [])], env=cli_env,
                               start_new_session=True, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: ledger.exists() and len(ledger.read_text().split()) == n, what=f"run {n}")
            record = task(cli_env, 1)
            assert record["status"] == "running" and record["attempt"] == 1  # an interruption spent nothing
        finally:
            stop(app, signal.SIGKILL)
    last = subprocess.Popen([PYTHON, str(script), str(ledger)], env=cli_env, start_new_session=True)
    try:
        done = wait_for(lambda: (t := task(cli_env, 1))["status"] == "failed" and t, what="the third interruption")
    finally:
        stop(last, signal.SIGKILL)
    assert done["error"] == "interrupted 3 times" and done["attempt"] == 1
    assert len(ledger.read_text().split()) == 3
    assert "interrupted 3 times" in ok(cli_env, "ls").stdout


def test_sighup_to_a_headless_worker_leaves_its_command_to_a_background_worker(cli_env, home, tmp_path):
    import json as _json

    (tmp_path / "config.toml").write_text("[worker]\nidle_exit = 30\n")
    env = dict(cli_env, LAZYQUEUE_AUTOSTART="1")
    go_on, ledger = tmp_path / "go-on", tmp_path / "ledger"
    rec = add(dict(env, LAZYQUEUE_AUTOSTART="0"), "shell", "--max-attempts", "1", "--", "sh", "-c",
              f"echo run >> {ledger}; while [ ! -e {go_on} ]; do sleep 0.05; done; echo end")
    worker = start_worker(env)
    background = None
    try:
        running_child(env, rec["id"])
        worker.send_signal(signal.SIGHUP)
        assert worker.wait(10) == 0, "a hung-up worker exits promptly"
        records = [_json.loads(p.read_text()) for p in (home / "workers").glob("*.json")]
        background = [r["pid"] for r in records if r.get("where") == "background"]
        assert len(background) == 1, records
        wait_for(lambda: task(env, rec["id"])["owner"]["pid"] == background[0], what="the background worker to adopt it")
        go_on.touch()
        done = wait_for(lambda: (t := task(env, rec["id"]))["status"] == "completed" and t, what="completion")
        assert done["attempt"] == 1 and ledger.read_text().split() == ["run"]
    finally:
        stop(worker, signal.SIGKILL)
        for pid in background or []:
            os.kill(pid, signal.SIGKILL)
