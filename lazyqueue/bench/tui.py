"""TUI benchmark: a headless Pilot run on a queue with a big history and many running tasks.

    python -m lazyqueue.bench.tui [--history 10000] [--running 100] [--keys 100]

Figures (`run()` returns them as a dict):
- first_frame_ms: app start (history already on disk) to the first painted screen
- history_shown_ms: app start to the jobs and activity filled from the whole history
- key_p95_ms: a key press to the screen painted with its effect, 95th percentile
  (measured while every running task reports progress ~10 times a second)
- event_p95_ms: a worker event published to the screen painted with it, 95th percentile
- rss_mb / peak_rss_mb: resident memory of the whole process at the end / at peak
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from ..core.config import Config
from ..core.models import Job, Task, iso
from ..core.queue import Queue, TaskSpec
from ..core.store import Change, RetentionPolicy


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(pct / 100 * (len(ordered) - 1)))))
    return ordered[index]


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _seed_history(q: Queue, count: int) -> None:
    """`count` finished tasks, one job each, written in one commit."""
    now = time.time()
    kinds = ("fetch", "evaluate", "generate")
    tasks, jobs = [], []
    with q.store.lock:
        q.store.sync()
        for i in range(count):
            stamp = iso(now - 86400 + i * 5)
            jid, tid = q.store.next_job_id(), q.store.next_task_id()
            jobs.append(Job(id=jid, title=f"history item {i}", stage="Done", created_at=stamp, updated_at=stamp))
            failed = i % 97 == 0
            tasks.append(Task(
                id=tid, kind=kinds[i % 3], status="failed" if failed else "completed", job_id=jid,
                label=f"{kinds[i % 3]} item {i}", created_at=stamp, updated_at=stamp, started_at=stamp,
                finished_at=stamp, attempt=1, progress=None if failed else 100.0,
                error="remote answered 503" if failed else None, error_kind="retryable" if failed else None,
                result=None if failed else {"ok": True},
            ))
        q.store.commit(Change(tasks=tasks, jobs=jobs))


def _register(q: Queue, hz: float) -> None:
    for name in ("fetch", "evaluate", "generate"):
        q.kind(name)(lambda ctx: None)

    @q.kind("spin")
    def spin(ctx):
        """Reports progress `hz` times a second until stopped."""
        n = 0
        while not ctx.wait_cancelled(1.0 / hz):
            n = (n + 1) % 100
            ctx.progress(n, f"step {n}")
        ctx.check_cancelled()


async def _key_to_screen(app, key: str, timeout: float = 5.0) -> float:
    """Milliseconds from a key arriving to the screen painted with its effect.

    The key goes in as the terminal driver would send it (Pilot.press also
    waits for the whole process to go idle, which never happens while a
    hundred handlers run); the effect is polled for: the cursor moved or the
    focus changed, then one more paint.
    """
    from textual import events

    focused = app.focused
    table = focused if hasattr(focused, "cursor_row") else None
    before = table.cursor_row if table is not None else None
    if key in ("tab", "shift+tab"):
        done = lambda: app.focused is not focused  # noqa: E731
    elif table is not None and (key == "down" and before < table.row_count - 1 or key == "up" and before > 0):
        done = lambda: table.cursor_row != before  # noqa: E731
    else:
        done = None
    t0 = time.perf_counter()
    event = events.Key(key, None)
    event.set_sender(app)
    app._driver.send_message(event)
    deadline = t0 + timeout
    while done is not None and not done() and time.perf_counter() < deadline:
        await asyncio.sleep(0.0005)
    painted = asyncio.Event()
    app.screen.call_after_refresh(painted.set)
    app.screen.refresh()
    try:
        await asyncio.wait_for(painted.wait(), timeout)
    except asyncio.TimeoutError:
        pass
    return (time.perf_counter() - t0) * 1000


async def _measure(q: Queue, running: int, keys: int, settle_s: float) -> dict:
    from ..tui.app import LazyQueueApp

    app = LazyQueueApp(q)
    start = time.perf_counter()
    out: dict = {}
    async with app.run_test(size=(120, 36)) as pilot:
        deadline_load = time.monotonic() + 30
        await pilot.pause()
        painted = asyncio.Event()
        app.call_after_refresh(painted.set)
        await painted.wait()
        out["first_frame_ms"] = ((app.first_frame_at or time.perf_counter()) - start) * 1000
        while not app.loaded and time.monotonic() < deadline_load:
            await pilot.pause(0.01)
        out["history_shown_ms"] = (time.perf_counter() - start) * 1000
        deadline = time.monotonic() + 30
        while len(app.view.ids("running")) < running and time.monotonic() < deadline:
            await pilot.pause(0.05)
        out["running_seen"] = len(app.view.ids("running"))
        await pilot.pause(settle_s)
        app.latency_samples = []
        key_ms = []
        app.jobs.focus()
        await pilot.pause()
        for i in range(keys):
            key = ("down", "down", "up", "tab", "down", "up", "shift+tab")[i % 7]
            key_ms.append(await _key_to_screen(app, key))
            await asyncio.sleep(0.02)  # progress keeps flowing between keys
        events = [s * 1000 for s in app.latency_samples]
        app.latency_samples = None
        out["keys"] = len(key_ms)
        out["key_p50_ms"] = _percentile(key_ms, 50)
        out["key_p95_ms"] = _percentile(key_ms, 95)
        out["events"] = len(events)
        out["event_p50_ms"] = _percentile(events, 50)
        out["event_p95_ms"] = _percentile(events, 95)
        out["rss_mb"] = _rss_mb()
        await pilot.pause()
        app.exit(0)
    q.stop_worker(grace=0)  # running tasks go back to queued: nothing is lost
    return out


def run(history: int = 10_000, running: int = 100, keys: int = 100, hz: float = 10.0, settle_s: float = 1.0) -> dict:
    """Run the benchmark on a throw-away queue; returns its figures."""
    home = tempfile.mkdtemp(prefix="lazyqueue-bench-tui-")
    config = _config(history, running)
    try:
        t0 = time.perf_counter()
        # seeded by another process, so this one's memory holds only what the app needs
        subprocess.run([sys.executable, "-m", "lazyqueue.bench.tui", "--seed", home, "--history", str(history),
                        "--running", str(running)], check=True)
        seeded = time.perf_counter() - t0
        # the app starts on a file holding the whole history, as a user's would
        q = Queue(home, config=config, plugins=False)
        _register(q, hz)
        out = asyncio.run(_measure(q, running, keys, settle_s))
        q.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    out.update(history=history, running=running, seed_s=round(seeded, 2),
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in out.items()}


def _config(history: int, running: int) -> Config:
    return Config(concurrency=running + 4, grace_s=0.0, retention=RetentionPolicy(keep=history * 2, max_age_days=3650))


def seed(home: str, history: int, running: int) -> None:
    q = Queue(home, config=_config(history, running), plugins=False)
    _register(q, 10.0)
    _seed_history(q, history)
    q.enqueue_many([TaskSpec("spin", {}, title=f"live {i}") for i in range(running)])
    q.store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lazyqueue.bench.tui", description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--running", type=int, default=100)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seed", metavar="HOME", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed:
        seed(args.seed, args.history, args.running)
        return 0
    figures = run(history=args.history, running=args.running, keys=args.keys)
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>16}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
