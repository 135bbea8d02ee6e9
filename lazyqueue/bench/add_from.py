"""`lazyqueue add shell --from FILE` with 10,000 and 100,000 lines into an empty state dir.

One process, one lock, one durable write for all: its wall time, its CPU
(user + sys) and its peak RSS, median of the runs. Linear is the goal
(100,000 lines in < 15 s).

    python -m lazyqueue.bench --only add_from
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from .report import Row, median
from .shell import env_for, lazyqueue_cmd


def one(n: int, tmp: Path) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of one `add --from` of `n` lines."""
    lines = tmp / "lines.txt"
    lines.write_text("".join(f"echo {i}\n" for i in range(n)))
    config = tmp / "config.toml"
    config.write_text("")
    env = env_for(tmp / "home", config)
    t0 = time.perf_counter()
    proc = subprocess.Popen([*lazyqueue_cmd(), "add", "shell", "--from", str(lines)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"add --from {n:,} failed: {proc.stderr.read().decode(errors='replace')[-200:]}")
    proc.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def run(quick: bool = False) -> list[Row]:
    rows = []
    for n in ((10_000,) if quick else (10_000, 100_000)):
        got = []
        for _ in range(1 if quick or n > 10_000 else 3):
            with tempfile.TemporaryDirectory(prefix="lq-bench-") as d:
                got.append(one(n, Path(d)))
        wall, cpu, rss = (median([g[i] for g in got]) for i in range(3))
        row = Row("add_from", f"add --from, {n:,} lines: wall", lazyqueue=wall, unit="s", runs=len(got),
                  goal="< 15 s" if n == 100_000 else "")
        row.ok = wall < 15 if n == 100_000 else None
        rows += [row,
                 Row("add_from", f"add --from, {n:,} lines: CPU", lazyqueue=cpu, unit="s", runs=len(got)),
                 Row("add_from", f"add --from, {n:,} lines: peak RSS", lazyqueue=rss, unit="MB", runs=len(got))]
    return rows
