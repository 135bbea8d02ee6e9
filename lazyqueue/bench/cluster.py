"""The cluster engine's figures (`python -m lazyqueue.bench --only cluster`).

A PostgreSQL 15 of its own (unix socket, fsync off — the figures measure
lazyqueue and DBOS, not a disk), `lazyqueue` worker processes started here:
- 2,000 no-op tasks with 1, 2 and 4 worker processes: tasks/s, and the ratio
  to the local engine (one worker in this process, same concurrency) measured
  in the same run;
- enqueue latency (one task, one transaction: median and p95);
- cap holding under 4 workers: max overlap of a kind with `concurrency = 2` (each of its
  tasks holds until two run or none is left, so the figure is the cap, not the polling luck);
- kill -9 of a worker mid-task → the task running again on another worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .report import Row, max_overlap, median

WORKER_CONCURRENCY = 2
CAP = 2  # the `capped` kind's cluster-wide concurrency


def _register(q) -> None:
    @q.kind("noop")
    def noop(ctx):
        return None

    @q.kind("capped", concurrency=CAP)
    def capped(ctx):
        start = time.time()
        # hold until the cap is reached (or no other task of the kind is left), so the overlap shows what the
        # cap lets run at once, not how quickly the workers happened to poll
        deadline = time.monotonic() + 30
        while not ctx.cancelled and time.monotonic() < deadline and not _cap_reached_or_none_left(q):
            ctx.wait_cancelled(0.01)
        time.sleep(0.05)  # the work
        return {"start": start, "end": time.time()}

    @q.kind("slow", max_attempts=3)
    def slow(ctx):
        ctx.wait_cancelled(float(ctx.payload.get("s", 30)))
        ctx.check_cancelled()
        return None


def _cap_reached_or_none_left(q) -> bool:
    with q.engine.connect() as conn:
        running, queued = conn.exec_driver_sql(
            "SELECT count(*) FILTER (WHERE status = 'running'), count(*) FILTER (WHERE status = 'queued') "
            "FROM lazyqueue.tasks WHERE kind = 'capped'").one()
    return running >= CAP or queued == 0


def worker_main(url: str, home: str) -> None:
    """A worker process with the benchmark's kinds (Python kinds live in the worker)."""
    from lazyqueue.cluster import ClusterQueue
    from lazyqueue.core.config import Config

    q = ClusterQueue(url, home=home, config=Config(concurrency=WORKER_CONCURRENCY), plugins=False)
    _register(q)
    worker = q.start_worker()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    print("ready", flush=True)
    stop.wait()
    worker.stop(grace=0)
    q.close()


class Bench:
    def __init__(self):
        from lazyqueue.cluster.testing import TempPostgres

        self.pg = TempPostgres().start()
        self.tmp = Path(tempfile.mkdtemp(prefix="lq-bench-cluster-"))
        self.n_db = 0
        self.procs: list[subprocess.Popen] = []

    def fresh(self):
        """A new database with the schema, and a queue on it in this process."""
        from lazyqueue.cluster import ClusterQueue, schema
        from lazyqueue.cluster.db import make_engine
        from lazyqueue.core.config import Config

        self.n_db += 1
        url = self.pg.createdb(f"bench{self.n_db}")
        engine = make_engine(url)
        schema.migrate(engine)
        schema.migrate_dbos(engine, url)
        engine.dispose()
        q = ClusterQueue(url, home=self.tmp / f"ctl{self.n_db}", config=Config(concurrency=WORKER_CONCURRENCY),
                         plugins=False)
        _register(q)
        return url, q

    def workers(self, url: str, n: int) -> list[subprocess.Popen]:
        procs = []
        for i in range(n):
            p = subprocess.Popen([sys.executable, "-m", "lazyqueue.bench.cluster", "--worker", url,
                                  str(self.tmp / f"w{self.n_db}-{i}")], stdout=subprocess.PIPE, text=True)
            procs.append(p)
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        self.procs += procs
        return procs

    def stop(self, procs) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def close(self) -> None:
        self.stop(self.procs)
        self.pg.stop()

    # ------------------------------------------------------------- figures
    def throughput(self, n_tasks: int, n_workers: int) -> float:
        from lazyqueue.core.queue import TaskSpec

        url, q = self.fresh()
        procs = self.workers(url, n_workers)
        try:
            t0 = time.perf_counter()
            for start in range(0, n_tasks, 200):
                q.enqueue_many([TaskSpec("noop") for _ in range(min(200, n_tasks - start))])
            deadline = time.monotonic() + max(120, n_tasks * 0.2)
            while len(q.tasks(status="completed")) < n_tasks:
                if time.monotonic() > deadline:
                    raise RuntimeError("the cluster did not finish the tasks in time")
                time.sleep(0.05)
            return n_tasks / (time.perf_counter() - t0)
        finally:
            self.stop(procs)
            q.close()

    def enqueue_latency(self, n: int = 200) -> list[float]:
        _url, q = self.fresh()
        try:
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                q.enqueue("noop")
                times.append((time.perf_counter() - t0) * 1000)
            return times
        finally:
            q.close()

    def cap_overlap(self, n_tasks: int = 60) -> int:
        url, q = self.fresh()
        procs = self.workers(url, 4)
        try:
            ids = [q.enqueue("capped").task.id for _ in range(n_tasks)]
            done = q.wait(ids, timeout=300)
            spans = [(t.result["start"], t.result["end"]) for t in done]
        finally:
            self.stop(procs)
            q.close()
        return max_overlap(spans)

    def kill_resume(self) -> float:
        url, q = self.fresh()
        procs = self.workers(url, 2)
        try:
            tid = q.enqueue("slow", {"s": 60}).task.id
            while (t := q.get(tid)).status != "running":
                time.sleep(0.01)
            victim = next(p for p in procs if p.pid == t.owner["pid"])
            os.kill(victim.pid, signal.SIGKILL)
            killed = time.perf_counter()
            victim.wait()
            while not ((t := q.get(tid)).status == "running" and t.owner and t.owner["pid"] != victim.pid):
                if time.perf_counter() - killed > 120:
                    raise RuntimeError("the task was not resumed")
                time.sleep(0.01)
            latency = time.perf_counter() - killed
            q.cancel(tid)
            return latency
        finally:
            self.stop(procs)
            q.close()


def local_throughput(n_tasks: int) -> float:
    from .inprocess import measure

    return n_tasks / measure("lazyqueue", n_tasks)["wall"]


def run(quick: bool = False) -> list[Row]:
    n = 300 if quick else 2000
    bench = Bench()
    rows: list[Row] = []
    try:
        local = local_throughput(n)
        for workers in (1, 2, 4):
            rate = bench.throughput(n, workers)
            row = Row("cluster", f"{n:,} no-op tasks, {workers} worker process(es) × {WORKER_CONCURRENCY}: tasks/s",
                      lazyqueue=rate, other=local, other_name="local engine, 1 worker × 2", unit="tasks/s", runs=1)
            rows.append(row)
        lat = bench.enqueue_latency(50 if quick else 200)
        lat.sort()
        rows.append(Row("cluster", "enqueue latency median", lazyqueue=median(lat), unit="ms", runs=len(lat)))
        rows.append(Row("cluster", "enqueue latency p95", lazyqueue=lat[int(len(lat) * 0.95) - 1], unit="ms",
                        runs=len(lat)))
        overlap = bench.cap_overlap(20 if quick else 60)
        rows.append(Row("cluster", "max overlap, kind concurrency = 2, 4 workers", lazyqueue=overlap, unit="",
                        goal="= 2", ok=overlap == 2, runs=1))
        rows.append(Row("cluster", "kill -9 of a worker mid-task → running on another (same host: pid check)",
                        lazyqueue=bench.kill_resume(), unit="s", runs=1,
                        note="on another host the lease decides: [backend] lease (30 s) + ≤ 1 s sweep"))
    finally:
        bench.close()
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2], sys.argv[3])
    else:
        from .report import table

        table(run(quick="--quick" in sys.argv))
