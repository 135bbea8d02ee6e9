"""Autostart: what making sure of a worker costs `add`, and how soon work added to a cold state directory starts.

- `add` with autostart on vs off at 10,000 queued tasks: `lazyqueue add shell
  --delay 86400 -- true`, round-robin, median wall ms of each and their ratio
  (DESIGN: ≤ 1.2×, and ≤ 100 ms). On: a background worker is alive, as after
  the first add (the check is one listing of `workers/`), and it hears every
  add; off: `LAZYQUEUE_AUTOSTART=0` and no worker.
- add → started from a cold state directory: a fresh home each run, `lazyqueue
  add shell -- sh -c 'date +%s%N > F'` and nothing else; from just before the
  add's process starts to the command's first instruction. Median and p95
  (DESIGN: median < 1 s). The background worker the add started is stopped
  after each run.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from .cli_add import bytecode_env
from .report import Row, median
from .shell import env_for, lazyqueue_cmd


def fill_delayed(home: Path, queued: int) -> None:
    """`queued` shell tasks that wait a day (a live worker leaves them be)."""
    from lazyqueue import Queue
    from lazyqueue.core.queue import TaskSpec

    q = Queue(home, plugins=False)
    try:
        q.enqueue_many([TaskSpec("shell", {"command": f"echo {i}"}, delay=86400) for i in range(queued)])
        with q.taskfile.lock:
            q.taskfile.compact(retention=False)  # the steady state: a snapshot, an empty journal
    finally:
        q.close()


def _wall_ms(argv: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - t0) * 1000


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def add_on_vs_off(lq: list[str], tmp: Path, queued: int, runs: int) -> Row:
    config = tmp / "config.toml"
    config.write_text("")
    homes = {"off": tmp / "home-off", "on": tmp / "home-on"}
    envs = {}
    for name, home in homes.items():
        fill_delayed(home, queued)
        env = bytecode_env(env_for(home, config))
        env["LAZYQUEUE_AUTOSTART"] = "1" if name == "on" else "0"
        envs[name] = env
    subprocess.run([*lq, "worker", "start"], env=envs["on"], check=True, capture_output=True)
    argv = [*lq, "add", "shell", "--delay", "86400", "--", "true"]
    try:
        for name in envs:  # warm up: bytecode written, page cache warm
            _wall_ms(argv, envs[name])
            _wall_ms(argv, envs[name])
        got: dict[str, list[float]] = {"off": [], "on": []}
        for _ in range(runs):  # round-robin: a noisy neighbour hits both alike
            for name in ("off", "on"):
                got[name].append(_wall_ms(argv, envs[name]))
    finally:
        subprocess.run([*lq, "worker", "stop"], env=envs["on"], capture_output=True)
    on, off = median(got["on"]), median(got["off"])
    row = Row("autostart", f"add, {queued:,} queued, autostart on vs off", lazyqueue=on, other=off,
              other_name="autostart off", runs=runs, samples=got["on"], other_samples=got["off"],
              goal="≤ 1.2× and ≤ 100 ms")
    row.ok = on <= 100.0 and on <= 1.2 * off
    row.note = f"ratio {on / off:.2f}; on = a background worker alive (the check is one listing of workers/)"
    return row


def add_to_started(lq: list[str], tmp: Path, runs: int) -> Row:
    config = tmp / "config-cold.toml"
    config.write_text("")
    got = []
    for n in range(runs):
        home = tmp / f"cold-{n}"
        mark = tmp / f"started-{n}"
        env = bytecode_env(env_for(home, config))
        env["LAZYQUEUE_AUTOSTART"] = "1"
        t0 = time.time_ns()
        subprocess.run([*lq, "add", "shell", "--", "sh", "-c", f"date +%s%N > {mark}"], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not (mark.exists() and mark.read_text().strip()):
            if time.monotonic() > deadline:
                raise RuntimeError("the task did not start within 30 s")
            time.sleep(0.002)  # another process writes it: poll
        got.append((int(mark.read_text()) - t0) / 1e6)
        subprocess.run([*lq, "worker", "stop"], env=env, capture_output=True)
    row = Row("autostart", "add → task started, cold state dir", lazyqueue=median(got), runs=runs, samples=got,
              goal="median < 1 s")
    row.ok = row.lazyqueue < 1000.0
    row.note = f"p95 {_p95(got):.0f} ms; includes starting the background worker"
    return row


def run(quick: bool = False) -> list[Row]:
    lq = lazyqueue_cmd()
    with tempfile.TemporaryDirectory(prefix="lq-bench-autostart-") as d:
        tmp = Path(d)
        rows = [add_on_vs_off(lq, tmp, 10_000, 5 if quick else 21)]
        rows.append(add_to_started(lq, tmp, 3 if quick else 15))
    return rows


if __name__ == "__main__":
    from .report import table

    table(run())
