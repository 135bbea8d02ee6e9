"""Headless worker memory with 10,000 tasks in the task file.

The file holds 10,000 queued shell tasks that are not due for an hour, so
the worker loads them all and then idles. VmRSS/VmHWM are read from
/proc/PID/status once RSS has settled (three equal reads in a row after the
first pass), then the worker is stopped with SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .report import Row, median
from .shell import env_for, lazyqueue_cmd


def fill_delayed(home: Path, n: int) -> None:
    from lazyqueue.core.config import Config
    from lazyqueue import Queue, TaskSpec

    q = Queue(home, config=Config())
    try:
        q.enqueue_many([TaskSpec("shell", {"command": f"echo {i}"}, delay=3600) for i in range(n)])
        with q.taskfile.lock:
            q.taskfile.compact(retention=False)
    finally:
        q.close()


def read_status(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024  # kB -> MB
    return out


def measure(n: int, tmp: Path) -> dict:
    config = tmp / "config.toml"
    config.write_text("")
    home = tmp / "home"
    fill_delayed(home, n)
    env = env_for(home, config)
    proc = subprocess.Popen([*lazyqueue_cmd(), "worker", "-q"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        last, same = None, 0
        while same < 3:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited early: {proc.stderr.read().decode(errors='replace')[-300:]}")
            if time.monotonic() > deadline:
                break
            status = read_status(proc.pid)
            same = same + 1 if last is not None and abs(status["VmRSS"] - last) < 0.05 else 0
            last = status["VmRSS"]
            time.sleep(0.25)  # sampling interval of the settle check, not a synchronisation
        status = read_status(proc.pid)
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(30)
        status["exit"] = proc.returncode
        return status
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


_BURST = """
import sys
from lazyqueue import Queue, TaskSpec
from lazyqueue.core.config import Config
from lazyqueue.core.models import RetentionPolicy, iso
from lazyqueue.core.state import Change

def rss(key="VmRSS:"):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) / 1024 for line in fh if line.startswith(key))

q = Queue(sys.argv[1], config=Config(retention=RetentionPolicy(keep=1000)), plugins=False)
q.enqueue_many([TaskSpec("shell", {"command": "echo " + "x" * 200}) for _ in range(int(sys.argv[2]))])
with q.taskfile.lock:  # the burst ends: every task finished
    q.taskfile.sync()
    stamp = iso()
    q.taskfile.commit(Change(patches=[{"id": t, "status": "completed", "finished_at": stamp} for t in list(q.state.tasks)]))
q.prune()
print(rss("VmHWM:"), rss(), len(q.state.tasks))
q.close()
"""


def measure_burst(n: int, tmp: Path) -> tuple[float, float]:
    """(VmHWM, VmRSS) of a process that held `n` finished tasks, once retention left 1,000 of them."""
    env = env_for(tmp / "home", tmp / "config.toml")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2]) + os.pathsep + env.get("PYTHONPATH", "")
    (tmp / "config.toml").write_text("")
    out = subprocess.run([sys.executable, "-c", _BURST, str(tmp / "home"), str(n)], env=env,
                         capture_output=True, text=True, timeout=600, check=True).stdout.split()
    return float(out[0]), float(out[1])


def run(quick: bool = False, n: int = 10_000, rounds: int | None = None) -> list[Row]:
    rounds = rounds or (1 if quick else 3)
    rss, hwm = [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="lq-bench-") as d:
            got = measure(n, Path(d))
        rss.append(got["VmRSS"])
        hwm.append(got["VmHWM"])
    row = Row("rss", f"headless worker, {n:,} tasks: VmRSS", lazyqueue=median(rss), unit="MB",
              goal="< 50 MB", runs=rounds, samples=rss)
    row.ok = row.lazyqueue < 50
    peak = Row("rss", f"headless worker, {n:,} tasks: VmHWM", lazyqueue=median(hwm), unit="MB",
               goal="< 50 MB", runs=rounds, samples=hwm)
    peak.ok = peak.lazyqueue < 50
    burst = 30_000
    after = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="lq-bench-") as d:
            high, left = measure_burst(burst, Path(d))
        after.append(left)
    follows = Row("rss", f"after a {burst:,}-task burst (VmHWM {high:.0f} MB) pruned to 1,000: VmRSS",
                  lazyqueue=median(after), unit="MB", goal="< half the peak", runs=rounds, samples=after)
    follows.ok = follows.lazyqueue < high / 2
    return [row, peak, follows]
