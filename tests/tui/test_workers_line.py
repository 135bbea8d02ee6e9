"""The status line names what runs the work: this window, a background worker, another window, or nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys

import pytest

from lazyqueue.tui.app import LazyQueueApp
from lazyqueue.tui.widgets.status_line import NO_WORKER, fit, workers_words

from .conftest import until

SIZE = (200, 30)  # wide enough for the whole status line


def status(app) -> str:
    return str(app.status_line.render())


def lq(env, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "lazyqueue", *args], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, f"lazyqueue {' '.join(args)} -> {proc.returncode}: {proc.stderr}"
    return proc


@pytest.fixture
def env(cli_env, home):
    """The real CLI on the test's home; a background worker it started is stopped afterwards."""
    yield cli_env
    for path in (home / "workers").glob("*.json") if (home / "workers").is_dir() else ():
        pid = json.loads(path.read_text())["pid"]
        if pid != os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


async def test_the_window_that_runs_the_work_says_so(queue):
    queue.enqueue("quick", {})
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "run by this window" in status(app), what="this window named as the worker")
        await pilot.press("p")
        await until(pilot, lambda: "run by this window (paused)" in status(app), what="the paused worker said")
        assert NO_WORKER not in status(app)


async def test_a_background_worker_starting_and_stopping_shows_in_the_status_line(queue, env):
    queue.enqueue("quick", {}, title="waits for a worker")
    app = LazyQueueApp(queue, start_worker=False, tick_s=0.1)
    loop = asyncio.get_running_loop()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: NO_WORKER in status(app), what="no worker said while the task waits")
        await loop.run_in_executor(None, lq, env, "worker", "start")
        pid = json.loads((await loop.run_in_executor(None, lq, env, "worker", "status", "--json")).stdout)["background"]["pid"]
        await until(pilot, lambda: f"run by background worker (pid {pid})" in status(app),
                    what="the background worker named with its pid")
        await loop.run_in_executor(None, lq, env, "worker", "stop")
        await until(pilot, lambda: NO_WORKER in status(app), what="no worker said once it stopped")


async def test_a_worker_in_another_terminal_is_named(queue, env):
    app = LazyQueueApp(queue, start_worker=False, tick_s=0.1)
    worker = subprocess.Popen([sys.executable, "-m", "lazyqueue", "worker", "-q"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: f"run by worker pid {worker.pid} (another window)" in status(app),
                        timeout=20, what="the other terminal's worker named")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)


class Seen:
    def __init__(self, pid, where, host="box"):
        self.pid, self.where, self.host = pid, where, host


def test_worker_words():
    assert workers_words([], 10) == (NO_WORKER,)
    assert workers_words([Seen(10, "this process")], 10) == ("run by this window",)
    assert workers_words([Seen(10, "this process"), Seen(42, "background")], 10) == \
        ("run by this window and background worker (pid 42)", "also run by background worker (pid 42)",
         "+ background worker (pid 42)")
    assert workers_words([Seen(42, "background"), Seen(10, "this process")], 10, paused_here=True)[0] == \
        "run by this window (paused) and background worker (pid 42)"
    assert workers_words([Seen(10, "this process"), Seen(42, "background"), Seen(43, "foreground")], 10)[0] == \
        "run by this window and 2 other workers"
    assert workers_words([Seen(42, "background"), Seen(43, "foreground")], 10) == \
        ("run by background worker (pid 42) and worker pid 43 (another window)",)
    assert workers_words([Seen(1, "cluster", "gpu"), Seen(2, "cluster", "gpu"), Seen(3, "cluster", "laptop")], 10) == \
        ("3 workers on 2 hosts",)


def test_a_part_is_shortened_before_it_is_left_out():
    parts = [(0, "Running 2 tasks: evaluate #002 (+1 more)"), (2, "4 queued"), (1, "1 failed"),
             (3, ("run by this window and background worker (pid 16714)", "also run by background worker (pid 16714)",
                  "+ background worker (pid 16714)"))]
    assert fit(parts, 200).endswith("· run by this window and background worker (pid 16714)")
    assert fit(parts, 106) == "Running 2 tasks: evaluate #002 (+1 more) · 4 queued · 1 failed · also run by background worker (pid 16714)"
    assert fit(parts, 105) == "Running 2 tasks: evaluate #002 (+1 more) · 4 queued · 1 failed · + background worker (pid 16714)"
    assert fit(parts, 80) == "Running 2 tasks: evaluate #002 (+1 more) · 4 queued · 1 failed"


def header_labels(table) -> list[str]:
    return [label for _, label, _ in table.columns()]


async def test_running_tasks_on_two_hosts_show_which_host_runs_each(home):
    from .fixed import at, clock, job, put, task
    from lazyqueue import Queue
    from lazyqueue.core.config import Config

    q = Queue(home, config=Config(concurrency=4), plugins=False)
    owner = lambda host, pid: {"pid": pid, "host": host, "worker": "elsewhere", "lease_until": at(30)}  # noqa: E731
    put(q, [task(1, "shell", "running", 1, "encode on the gpu", -60, started_at=at(-50), owner=owner("gpu-box", 4242)),
            task(2, "shell", "running", 2, "build on the laptop", -60, started_at=at(-40), owner=owner("laptop", 77)),
            task(3, "shell", "queued", 2, "waits", -30)],
        [job(1, "encode", "Pending", -60), job(2, "build", "Pending", -60)])
    try:
        app = LazyQueueApp(q, clock=clock, start_worker=False)
        async with app.run_test(size=(160, 36)) as pilot:
            await until(pilot, lambda: app.activity.shown("t2"), what="the running tasks listed")
            assert "Host" in header_labels(app.activity)
            assert app.activity.drawn_cell("t1", "host").strip() == "gpu-box"
            assert app.activity.drawn_cell("t2", "host").strip() == "laptop"
            assert app.activity.drawn_cell("t3", "host").strip() == ""  # queued: no host yet
            app.select_task(1)
            await until(pilot, lambda: "host" in app.detail.text and "gpu-box (pid 4242)" in app.detail.text,
                        what="the host in the detail pane")
    finally:
        q.close()


async def test_one_host_shows_no_host_column(home):
    from .fixed import busy_queue, clock

    q = busy_queue(home)  # three running tasks, all on one host
    try:
        app = LazyQueueApp(q, clock=clock, start_worker=False)
        async with app.run_test(size=(160, 36)) as pilot:
            await until(pilot, lambda: app.activity.shown("t3"), what="the running tasks listed")
            await until(pilot, lambda: app.view.workers_note is not None, what="the workers seen")
            assert "Host" not in header_labels(app.activity)
            app.select_task(3)
            await pilot.pause()
            assert "elsewhere" not in app.detail.text
    finally:
        q.close()
