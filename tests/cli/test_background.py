"""The background worker: `add` starts one, racing adds start one, start/stop/status, idle exit, autostart off."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading

import pytest

from .helpers import PYTHON, add, lq, ok, pid_gone, task, wait_for

STARTED = "started a background worker (pid "
NO_WORKER = "no worker running — 'lazyqueue worker start' or open lazyqueue"


def records(home) -> list[dict]:
    folder = home / "workers"
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("*.json"):
        try:
            found.append(json.loads(path.read_text()))
        except ValueError:
            pass
    return found


def background_pids(home) -> list[int]:
    return [r["pid"] for r in records(home) if r.get("where") == "background" and not pid_gone(r["pid"])]


@pytest.fixture
def env(cli_env, home, tmp_path):
    """Autostart on, a short idle exit; every background worker of this home is stopped afterwards."""
    (tmp_path / "config.toml").write_text("[worker]\nidle_exit = 30\n")
    env = dict(cli_env, LAZYQUEUE_AUTOSTART="1")
    yield env
    for record in records(home):
        try:
            os.kill(record["pid"], signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def status(env) -> dict:
    return json.loads(ok(env, "worker", "status", "--json").stdout)


def test_an_add_from_a_fresh_home_starts_a_worker_and_the_task_completes(env, home):
    proc = ok(env, "add", "shell", "--", "sh", "-c", "echo hello from the background")
    assert proc.stdout.startswith("queued t1")
    lines = [line for line in proc.stderr.splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith(STARTED)
    assert lines[0].endswith("— 'lazyqueue worker stop' stops it")
    pid = int(lines[0][len(STARTED):].split(")")[0])
    assert background_pids(home) == [pid]
    done = wait_for(lambda: (t := task(env, 1))["status"] == "completed" and t, what="t1 to complete")
    assert done["attempt"] == 1
    assert "hello from the background" in ok(env, "log", "1").stdout
    assert "t1 completed" in (home / "worker.log").read_text()
    again = ok(env, "add", "shell", "--", "true")
    assert STARTED not in again.stderr, "a worker is alive: the next add starts none"


def test_racing_adds_start_exactly_one_worker(env, home):
    results: list[subprocess.CompletedProcess] = []

    def one(n: int) -> None:
        results.append(lq(env, "add", "shell", "--", "sh", "-c", f"echo {n}"))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    said = [r for r in results if STARTED in r.stderr]
    assert len(said) == 1, [r.stderr for r in results]
    assert len(background_pids(home)) == 1
    wait_for(lambda: all(t["status"] == "completed" for t in json.loads(ok(env, "ls", "--json").stdout)),
             what="all six to complete")


def test_worker_start_status_stop(env, home):
    assert status(env)["alive"] is False
    assert "no background worker running" in ok(env, "worker", "status").stdout
    started = ok(env, "worker", "start").stdout
    assert started.startswith(STARTED)
    pid = int(started[len(STARTED):].split(")")[0])
    assert "already running (pid %d" % pid in ok(env, "worker", "start").stdout
    add(env, "shell", "--delay", "600", "--", "true")
    now = status(env)
    assert now["alive"] is True and now["background"]["pid"] == pid and now["queued"] == 1 and now["running"] == 0
    assert now["background"]["uptime_s"] >= 0
    text = ok(env, "worker", "status").stdout
    assert f"background worker: pid {pid}, up " in text and "tasks: 0 running, 1 queued" in text
    assert ok(env, "worker", "stop").stdout.strip() == f"stopped the background worker (pid {pid})"
    assert pid_gone(pid)
    assert status(env)["alive"] is False
    assert ok(env, "worker", "stop").stdout.strip() == "no background worker running"


def test_an_idle_background_worker_exits_and_the_next_add_starts_another(env, home, tmp_path):
    (tmp_path / "config.toml").write_text("[worker]\nidle_exit = 1\n")
    first = ok(env, "add", "shell", "--", "true").stderr
    pid = int(first.split(STARTED)[1].split(")")[0])
    wait_for(lambda: task(env, 1)["status"] == "completed", what="t1 to complete")
    wait_for(lambda: pid_gone(pid), timeout=20, what="the idle worker to exit")
    assert "idle for 1 s: exiting" in (home / "worker.log").read_text()
    assert records(home) == []
    second = ok(env, "add", "shell", "--", "true").stderr
    assert STARTED in second and int(second.split(STARTED)[1].split(")")[0]) != pid
    wait_for(lambda: task(env, 2)["status"] == "completed", what="t2 to complete")


def test_a_retry_starts_a_worker(env, home):
    off = dict(env, LAZYQUEUE_AUTOSTART="0")
    add(off, "shell", "--max-attempts", "1", "--", "sh", "-c", "exit 3")
    ok(off, "worker", "--exit-when-idle", "-q")
    assert task(off, 1)["status"] == "failed"
    proc = ok(env, "retry", "1")
    assert STARTED in proc.stderr
    wait_for(lambda: task(env, 1)["status"] == "failed" and task(env, 1)["attempt"] == 1
             and task(env, 1)["finished_at"] is not None and background_pids(home), what="the retry to run")


@pytest.mark.parametrize("how", ["env", "config"])
def test_autostart_off_starts_nothing_and_ls_says_no_worker(env, home, tmp_path, how):
    if how == "env":
        env = dict(env, LAZYQUEUE_AUTOSTART="0")
    else:
        (tmp_path / "config.toml").write_text("[worker]\nautostart = false\n")
    proc = ok(env, "add", "shell", "--", "true")
    assert proc.stderr == ""
    assert records(home) == []
    listing = ok(env, "ls").stdout
    assert NO_WORKER in listing and "next up" not in listing
    assert NO_WORKER in ok(env, "show", "1").stdout
    assert task(env, 1)["status"] == "queued"
    # with a worker alive the same task is simply next up
    worker = subprocess.Popen([PYTHON, "-m", "lazyqueue", "worker", "-q", "--concurrency", "1"], env=dict(env, LAZYQUEUE_AUTOSTART="0"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: task(env, 1)["status"] == "completed", what="the foreground worker to run t1")
        add(env, "shell", "--delay", "600", "--", "true")
        wait_for(lambda: records(home), what="the worker's record")
        assert NO_WORKER not in ok(env, "ls").stdout
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)


def test_bad_autostart_value_is_a_config_error(env, tmp_path):
    (tmp_path / "config.toml").write_text("[worker]\nautostart = 'yes'\n")
    proc = lq(env, "add", "shell", "--", "true")
    assert proc.returncode == 1 and "worker.autostart: must be true or false" in proc.stderr
