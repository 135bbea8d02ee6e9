"""Shell tasks: N `true` commands with 2 slots, lazyqueue vs task-spooler.

lazyqueue: `lazyqueue add shell --from FILE` (one durable write for all), then
`lazyqueue worker --exit-when-idle --concurrency 2 -q` until it exits.
task-spooler (Debian package `task-spooler`, binary `tsp` or `ts`): its own
socket, `tsp -S 2`, N × `tsp -n true`, then poll until all N are finished.
Both are timed from the first enqueue to the last task finished.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .report import Row, median


def lazyqueue_cmd() -> list[str]:
    """The installed `lazyqueue` script next to this interpreter, else `python -m lazyqueue`."""
    script = Path(sys.executable).with_name("lazyqueue")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "lazyqueue"]


def env_for(home: Path, config: Path) -> dict:
    env = dict(os.environ)
    env["LAZYQUEUE_HOME"] = str(home)
    env["LAZYQUEUE_CONFIG"] = str(config)
    env.pop("NO_COLOR", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its .pyc files
    return env


def run_lazyqueue(n: int, tmp: Path) -> float:
    config = tmp / "config.toml"
    config.write_text("")
    env = env_for(tmp / "home", config)
    tasks = tmp / "tasks.txt"
    tasks.write_text("true\n" * n)
    lq = lazyqueue_cmd()
    t0 = time.perf_counter()
    subprocess.run([*lq, "add", "shell", "--from", str(tasks)], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*lq, "worker", "--exit-when-idle", "--concurrency", "2", "-q"], env=env, check=True, timeout=600)
    elapsed = time.perf_counter() - t0
    out = subprocess.run([*lq, "ls", "--json", "--status", "completed"], env=env, check=True, capture_output=True, text=True).stdout
    import json

    done = len(json.loads(out))
    if done != n:
        raise RuntimeError(f"lazyqueue: {done}/{n} shell tasks completed")
    return elapsed


def tsp_binary() -> str | None:
    """task-spooler's client: `tsp` on Debian, `ts` elsewhere (not moreutils' ts)."""
    for name in ("tsp", "ts"):
        path = shutil.which(name)
        if not path:
            continue
        try:
            out = subprocess.run([path, "-h"], capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if "spooler" in (out.stdout + out.stderr).lower():
            return path
    return None


def run_tsp(n: int, tmp: Path, tsp: str) -> float:
    env = dict(os.environ)
    env["TS_SOCKET"] = str(tmp / "ts.socket")
    env["TMPDIR"] = str(tmp)
    env["TS_MAXFINISHED"] = str(n + 10)
    run = lambda *a: subprocess.run([tsp, *a], env=env, capture_output=True, text=True, check=True)  # noqa: E731
    try:
        run("-S", "2")  # starts the server with 2 slots
        t0 = time.perf_counter()
        for _ in range(n):
            run("-n", "true")
        deadline = time.monotonic() + 600
        while True:
            listing = run().stdout
            finished = sum(1 for line in listing.splitlines()[1:] if " finished " in f" {line} ")
            if finished >= n:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"task-spooler: {finished}/{n} finished")
            time.sleep(0.005)  # polling the tsp server: it has no "wait for all"
        elapsed = time.perf_counter() - t0
    finally:
        subprocess.run([tsp, "-K"], env=env, capture_output=True)
    return elapsed


def run(quick: bool = False, n: int | None = None, rounds: int | None = None) -> list[Row]:
    n = n or (100 if quick else 300)
    rounds = rounds or (1 if quick else 3)
    tsp = tsp_binary()
    ours, theirs = [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="lq-bench-") as d:
            ours.append(run_lazyqueue(n, Path(d)) * 1000)
        if tsp:
            with tempfile.TemporaryDirectory(prefix="lq-bench-") as d:
                theirs.append(run_tsp(n, Path(d), tsp) * 1000)
    row = Row(
        "shell", f"{n} × true, 2 slots: total",
        lazyqueue=median(ours), other=median(theirs),
        other_name=f"task-spooler ({os.path.basename(tsp)})" if tsp else "task-spooler not installed",
        goal="ratio ≤ 3", runs=rounds, samples=ours, other_samples=theirs,
    )
    if tsp and row.ratio is not None:
        row.ok = row.ratio <= 3.0
    else:
        row.note = "task-spooler not installed (apt-get install task-spooler); lazyqueue figure only"
    per = Row("shell", f"{n} × true: ms/task", lazyqueue=median(ours) / n,
              other=(median(theirs) / n) if theirs else None, other_name=row.other_name if tsp else "", runs=rounds)
    return [row, per]
