"""`lazyqueue serve` and `lazyqueue run`: HTTP create latency, SSE lag, and run's cost over sh.

- create: 1,000 `POST /tasks` from 8 client threads (keep-alive connections) against
  `lazyqueue serve` in its own process; latency median and p95, and requests/s over
  the whole burst. The tasks are delayed an hour, so the figure is the API's and the
  durable enqueue's, not the work's.
- SSE lag: with `GET /events` open, N `shell true` tasks run; for every task-started and
  task-completed event, the time from the transition (the record's `updated_at`) to the
  event read by the client.
- run: whole-process time of `lazyqueue run -- true` against `sh -c true`, the ratio of
  medians (both exit 0; run's includes queueing, a worker running it and following it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from .report import Row, median
from .shell import env_for, lazyqueue_cmd

CREATES = 1000
CLIENTS = 8
SSE_TASKS = 200
RUNS = 10


def p95(values):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))] if values else None


class Serving:
    """`lazyqueue serve --port 0` in a process of its own."""

    def __init__(self, tmp: Path, worker: bool):
        self.home = tmp / "home"
        config = tmp / "config.toml"
        config.write_text("[worker]\nconcurrency = 4\n")
        # without a worker of its own, the figure is the background worker's, started as it would be for a user
        self.env = env_for(self.home, config, autostart=not worker)
        args = lazyqueue_cmd() + ["serve", "--port", "0"] + (["--worker"] if worker else [])
        self.proc = subprocess.Popen(args, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if " on http" not in line:
            self.stop()
            raise RuntimeError(f"serve did not start: {line or self.proc.stderr.read()[-300:]}")
        self.url = line.split(" on ")[1].split()[0]
        self.token = (self.home / "serve.token").read_text().strip()
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        stop_workers_of(self.home)


def stop_workers_of(home: Path, timeout: float = 30) -> None:
    """Stop the background workers serving `home` before its folder goes away (found by their command line),
    and wait for them to be gone."""
    import signal

    needle = str(home).encode()
    stopped = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            line = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"worker" in line and needle in line:  # (the background worker names both inside `-c` code)
            try:
                os.kill(int(entry.name), signal.SIGTERM)
                stopped.append(entry)
            except OSError:
                pass
    deadline = time.monotonic() + timeout
    while any(entry.exists() for entry in stopped) and time.monotonic() < deadline:
        time.sleep(0.02)  # a poll with a deadline: the pids are not our children, so there is nothing to wait() on


def bench_create(tmp: Path, n: int, clients: int) -> list[Row]:
    import httpx

    serving = Serving(tmp, worker=True)
    latencies: list[float] = []
    lock = threading.Lock()
    failures = []
    body = {"kind": "shell", "payload": {"argv": ["true"]}, "delay_s": 3600}

    def client(count: int) -> None:
        mine = []
        with httpx.Client(base_url=serving.url, headers=serving.headers, timeout=30) as http:
            for _ in range(count):
                t0 = time.perf_counter()
                response = http.post("/tasks", json=body)
                mine.append((time.perf_counter() - t0) * 1000)
                if response.status_code != 201:
                    failures.append(response.status_code)
        with lock:
            latencies.extend(mine)

    try:
        share = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
        threads = [threading.Thread(target=client, args=(c,)) for c in share]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
    finally:
        serving.stop()
    note = f"{n} creates, {clients} client threads" + (f"; {len(failures)} not 201" if failures else "")
    return [
        Row("serve", "create latency median", median(latencies), unit="ms", goal="< 20 ms",
            ok=median(latencies) < 20, runs=len(latencies), note=note),
        Row("serve", "create latency p95", p95(latencies), unit="ms", runs=len(latencies), note=note),
        Row("serve", "creates per second", n / elapsed, unit="req/s", runs=1, note=note),
    ]


def _at(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def bench_sse(tmp: Path, n: int, worker: bool) -> list[Row]:
    import httpx

    serving = Serving(tmp, worker=worker)
    lags: list[float] = []
    done: set[int] = set()
    ready = threading.Event()
    finished = threading.Event()

    def read() -> None:
        with httpx.Client(base_url=serving.url, headers=serving.headers, timeout=httpx.Timeout(30, read=120)) as http:
            with http.stream("GET", "/events") as response:
                ready.set()
                kind = None
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:") and kind in ("task-started", "task-completed"):
                        now = time.time()
                        task = json.loads(line[5:])["task"]
                        lags.append((now - _at(task["updated_at"])) * 1000)
                        if kind == "task-completed":
                            done.add(task["id"])
                            if len(done) >= n:
                                finished.set()
                                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        ready.wait(30)
        with httpx.Client(base_url=serving.url, headers=serving.headers, timeout=30) as http:
            for _ in range(n):
                http.post("/tasks", json={"kind": "shell", "payload": {"argv": ["true"]}})
        seen, quiet_since = -1, time.monotonic()
        while not finished.wait(0.5) and time.monotonic() - quiet_since < 15:
            if len(done) != seen:  # give up only after 15 s without a completion
                seen, quiet_since = len(done), time.monotonic()
    finally:
        serving.stop()
    where = "a worker in the serve process" if worker else "the background worker"
    note = f"{n} shell tasks run by {where}; {len(done)}/{n} completions seen"
    return [
        Row("serve", f"SSE lag median ({'in-process' if worker else 'background'} worker)", median(lags), unit="ms",
            goal="< 100 ms", ok=(median(lags) or 1e9) < 100, runs=len(lags), note=note),
        Row("serve", f"SSE lag p95 ({'in-process' if worker else 'background'} worker)", p95(lags), unit="ms",
            runs=len(lags), note=note),
    ]


def bench_run(tmp: Path, runs: int) -> list[Row]:
    home = tmp / "run-home"
    config = tmp / "run-config.toml"
    config.write_text("")
    env = env_for(home, config, autostart=True)  # run's task is run by the background worker it starts
    run_args = lazyqueue_cmd() + ["run", "--", "true"]

    def whole(args, env=None) -> float:
        t0 = time.perf_counter()
        done = subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0 or "moved to the background" in done.stderr:
            # a `true` that is not done within run's 2 s is no figure of run's cost
            raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-200:]}")
        return (time.perf_counter() - t0) * 1000

    try:
        ours = [whole(run_args, env) for _ in range(runs)]
    finally:
        stop_workers_of(home)
    direct = [whole(["sh", "-c", "true"]) for _ in range(runs)]
    return [Row("run", "lazyqueue run -- true (whole process)", median(ours), other=median(direct),
                other_name="sh -c true", unit="ms", runs=runs, samples=ours, other_samples=direct)]


def run(quick: bool = False) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="lq-bench-serve-") as tmp:
        tmp = Path(tmp)
        try:
            import httpx  # noqa: F401
            import uvicorn  # noqa: F401
        except ImportError:
            return [Row("serve", "skipped", note="needs pip install 'lazyqueue[serve]' httpx")]
        (tmp / "a").mkdir()
        rows += bench_create(tmp / "a", 200 if quick else CREATES, CLIENTS)
        (tmp / "b").mkdir()
        rows += bench_sse(tmp / "b", 30 if quick else SSE_TASKS, worker=True)
        if os.environ.get("LAZYQUEUE_BENCH_SSE_BACKGROUND", "1") != "0":
            (tmp / "c").mkdir()
            try:
                rows += bench_sse(tmp / "c", 30 if quick else SSE_TASKS, worker=False)
            except Exception as exc:  # noqa: BLE001 - the other figures still count
                rows.append(Row("serve", "SSE lag (background worker)", note=f"failed: {exc}"[:200]))
        rows += bench_run(tmp, 3 if quick else RUNS)
    return rows


if __name__ == "__main__":
    from .report import table

    table(run(quick="--quick" in sys.argv))
