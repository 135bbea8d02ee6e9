"""In-process: N no-op Python tasks, enqueue + run to durable completion with 2 workers.

lazyqueue: Queue + start_worker(); a task counts when its task-completed event
arrives (published only after the completion is durable in the task file).
huey (optional, `pip install lazyqueue[bench]`): SqliteHuey with fsync on
(durable, like lazyqueue) and a 2-thread consumer in the same process.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

from .report import Row, median


def _noop(ctx=None):
    return None


def run_lazyqueue(n: int, tmp: Path) -> float:
    """Seconds to enqueue `n` no-op tasks and see all of them completed."""
    from lazyqueue.core import events as ev
    from lazyqueue.core.config import Config
    from lazyqueue.core.queue import Queue

    q = Queue(tmp, config=Config(concurrency=2))
    q.kind("noop")(_noop)
    done = threading.Event()
    count = [0]
    lock = threading.Lock()

    def on_done(event) -> None:
        with lock:
            count[0] += 1
            if count[0] >= n:
                done.set()

    q.subscribe(on_done, types=(ev.TASK_COMPLETED,))
    q.start_worker()
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            q.enqueue("noop", {})
        if not done.wait(max(60.0, n * 0.05)):
            raise RuntimeError(f"lazyqueue: only {count[0]}/{n} tasks completed")
        elapsed = time.perf_counter() - t0
    finally:
        q.close()
    return elapsed


def huey_available() -> bool:
    try:
        import huey  # noqa: F401
    except ImportError:
        return False
    return True


def run_huey(n: int, tmp: Path) -> float:
    import logging
    import signal

    from huey import SqliteHuey
    from huey.signals import SIGNAL_COMPLETE

    logging.getLogger("huey").setLevel(logging.ERROR)
    huey = SqliteHuey("bench", filename=str(tmp / "huey.db"), fsync=True)
    done = threading.Event()
    count = [0]
    lock = threading.Lock()

    @huey.task()
    def noop():
        return None

    @huey.signal(SIGNAL_COMPLETE)
    def on_done(signal_name, task, *args, **kwargs):
        with lock:
            count[0] += 1
            if count[0] >= n:
                done.set()

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    consumer = huey.create_consumer(workers=2, worker_type="thread", periodic=False,
                                    initial_delay=0.01, max_delay=0.1, check_worker_health=False)
    consumer.start()  # threads; also installs signal handlers, restored below
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            noop()
        if not done.wait(max(60.0, n * 0.05)):
            raise RuntimeError(f"huey: only {count[0]}/{n} tasks completed")
        elapsed = time.perf_counter() - t0
    finally:
        consumer.stop(graceful=True)
        for s, h in saved.items():
            signal.signal(s, h)
        huey.storage.close()
    return elapsed


def run(quick: bool = False, n: int | None = None, rounds: int | None = None) -> list[Row]:
    n = n or (300 if quick else 2000)
    rounds = rounds or (1 if quick else 3)
    have_huey = huey_available()
    ours, theirs = [], []
    for _ in range(rounds):  # alternate, so a noisy neighbour hits both
        with tempfile.TemporaryDirectory(prefix="lq-bench-") as d:
            ours.append(run_lazyqueue(n, Path(d) / "home") * 1000 / n)
        if have_huey:
            with tempfile.TemporaryDirectory(prefix="lq-bench-") as d:
                theirs.append(run_huey(n, Path(d)) * 1000 / n)
    row = Row(
        "inprocess", f"{n} no-op tasks, 2 workers: ms/task",
        lazyqueue=median(ours), other=median(theirs), other_name="huey SqliteHuey fsync" if have_huey else "huey not installed",
        goal="ratio ≤ 1.0", runs=rounds, samples=ours, other_samples=theirs,
    )
    if have_huey and row.ratio is not None:
        row.ok = row.ratio <= 1.0
    else:
        row.note = "huey not installed (pip install 'lazyqueue[bench]'); lazyqueue figure only"
    return [row]
