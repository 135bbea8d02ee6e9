"""In-process: N no-op Python tasks, enqueue + run to durable completion with 2 workers.

lazyqueue: Queue + start_worker(); a task counts when its task-completed event
arrives (published only after the completion is durable in the task file).
huey (optional, `pip install lazyqueue[bench]`): SqliteHuey with fsync on
(durable, like lazyqueue) and a 2-thread consumer in the same process.

Each run is a fresh process (`python -m lazyqueue.bench.inprocess --one
lazyqueue|huey N DIR`), which reports the wall time and the CPU time (user +
sys of all its threads and children) from the first enqueue to the last
completion; lazyqueue and huey runs alternate at each size.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .cpu import self_cpu
from .report import Row, median


def _noop(ctx=None):
    return None


def run_lazyqueue(n: int, tmp: Path) -> tuple[float, float]:
    """(wall s, CPU s) to enqueue `n` no-op tasks and see all of them completed."""
    from lazyqueue.core import events as ev
    from lazyqueue.core.config import Config
    from lazyqueue import Queue

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
        t0, c0 = time.perf_counter(), self_cpu()
        for _ in range(n):
            q.enqueue("noop", {})
        if not done.wait(max(60.0, n * 0.05)):
            raise RuntimeError(f"lazyqueue: only {count[0]}/{n} tasks completed")
        elapsed = time.perf_counter() - t0, self_cpu() - c0
    finally:
        q.close()
    return elapsed


def huey_available() -> bool:
    try:
        import huey  # noqa: F401
    except ImportError:
        return False
    return True


def run_huey(n: int, tmp: Path) -> tuple[float, float]:
    """(wall s, CPU s) for the same with huey's SqliteHuey and a 2-thread consumer."""
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
        t0, c0 = time.perf_counter(), self_cpu()
        for _ in range(n):
            noop()
        if not done.wait(max(60.0, n * 0.05)):
            raise RuntimeError(f"huey: only {count[0]}/{n} tasks completed")
        elapsed = time.perf_counter() - t0, self_cpu() - c0
    finally:
        consumer.stop(graceful=True)
        for s, h in saved.items():
            signal.signal(s, h)
        huey.storage.close()
    return elapsed


def _one(which: str, n: int, tmp: Path) -> dict:
    if which == "lazyqueue":
        wall, cpu = run_lazyqueue(n, tmp / "home")
    else:
        wall, cpu = run_huey(n, tmp)
    return {"wall": wall, "cpu": cpu}


def measure(which: str, n: int) -> dict:
    """One run in a fresh process: {"wall": s, "cpu": s}."""
    with tempfile.TemporaryDirectory(prefix="lq-bench-") as d:
        done = subprocess.run([sys.executable, "-m", "lazyqueue.bench.inprocess", "--one", which, str(n), d],
                              capture_output=True, text=True, timeout=max(120, n * 0.05))
    if done.returncode != 0:
        raise RuntimeError(f"{which} run failed: {(done.stderr.strip().splitlines() or ['no output'])[-1][:200]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(quick: bool = False, sizes: tuple[int, ...] | None = None, rounds: int | None = None) -> list[Row]:
    """CPU ms/task (the figure the goal is judged on) and wall ms/task, lazyqueue beside huey, per size."""
    sizes = sizes or ((300,) if quick else (2000, 20_000))
    have_huey = huey_available()
    rows = []
    for n in sizes:
        count = rounds or (1 if quick else 3)  # interleaved rounds at each size: a single 20,000 run swings ~10%
        got: dict = {"lazyqueue": [], "huey": []}
        for _ in range(count):  # alternate, so a noisy neighbour hits both
            got["lazyqueue"].append(measure("lazyqueue", n))
            if have_huey:
                got["huey"].append(measure("huey", n))
        other = "huey SqliteHuey fsync" if have_huey else "huey not installed"
        for key, label in (("cpu", "CPU ms/task"), ("wall", "wall ms/task")):
            ours = [r[key] * 1000 / n for r in got["lazyqueue"]]
            theirs = [r[key] * 1000 / n for r in got["huey"]]
            row = Row("inprocess", f"{n:,} no-op tasks, 2 workers: {label}", lazyqueue=median(ours),
                      other=median(theirs), other_name=other, runs=count, samples=ours, other_samples=theirs)
            if key == "cpu":
                row.goal = "ratio ≤ 1.0"
                row.ok = row.ratio <= 1.0 if row.ratio is not None else None
            if not have_huey:
                row.note = "huey not installed (pip install 'lazyqueue[bench]'); lazyqueue figure only"
            rows.append(row)
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--one":
        print(json.dumps(_one(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))))
    else:
        sys.exit("usage: python -m lazyqueue.bench.inprocess --one lazyqueue|huey N DIR")
