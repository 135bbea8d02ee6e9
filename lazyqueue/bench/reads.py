"""Reads at 100,000 tasks in the live file: `ls`, `ls --json`, `show`, whole processes.

The state users reach after a bulk add: 100,000 queued shell tasks (three
priorities, none delayed) folded into tasks.json, plus one task added after
the fold (the journal is not empty). `ls` must place each task of its page in
line among all 100,000; `ls --json` streams every record; `show` prints one.
Then the same at 10,000 for `ls --json`. Each command runs `runs` times
round-robin; figures are medians of CPU (user + sys) and of peak RSS.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from .report import Row, median
from .shell import env_for, lazyqueue_cmd


def fill(home: "Path | str", n: int) -> None:
    from lazyqueue import Queue, TaskSpec
    from lazyqueue.core.config import Config

    q = Queue(home, config=Config(), plugins=False)
    try:
        specs = [TaskSpec("shell", {"command": f"echo {i}"}, priority=1 + i % 3) for i in range(n)]
        for start in range(0, n, 10_000):
            q.enqueue_many(specs[start:start + 10_000])
        with q.taskfile.lock:
            q.taskfile.compact(retention=False)
        q.enqueue("shell", {"command": "echo after the fold"})
    finally:
        q.close()


# A small process that runs the command and reports its rusage: a child forked from the bench
# itself (which may hold 100,000 tasks from another scenario) counts the bench's pages in its
# peak RSS, one forked from this ~10 MB helper does not.
_MEASURE = """
import os, subprocess, sys, time
t0 = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_pid, status, usage = os.wait4(proc.pid, 0)
print(time.perf_counter() - t0, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status))
"""


def timed(argv: list[str], env: dict) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of one process run to its end."""
    out = subprocess.run([sys.executable, "-c", _MEASURE, *argv], env=env, capture_output=True, text=True, check=True)
    wall, cpu, rss, code = out.stdout.split()
    if int(code) != 0:
        raise RuntimeError(f"{' '.join(argv[-3:])} exited {code}")
    return float(wall), float(cpu), float(rss)


def run(quick: bool = False, runs: int | None = None) -> list[Row]:
    runs = runs or (3 if quick else 7)
    big = 20_000 if quick else 100_000
    rows: list[Row] = []
    lq = lazyqueue_cmd()
    with tempfile.TemporaryDirectory(prefix="lq-bench-reads-") as d:
        for n in (big, 10_000):
            home = Path(d) / f"home-{n}"
            (Path(d) / "config.toml").write_text("")
            subprocess.run(  # filled by a child: the bench stays small
                [sys.executable, "-c", f"from lazyqueue.bench.reads import fill; fill({str(home)!r}, {n})"],
                check=True, env=env_for(home, Path(d) / "config.toml"))
            env = env_for(home, Path(d) / "config.toml")
            cases = {"floor": [sys.executable, "-c", "pass"], "ls --json": [*lq, "ls", "--json"]}
            if n == big:
                cases |= {"ls": [*lq, "ls"], "ls --status queued --limit 20": [*lq, "ls", "--status", "queued", "--limit", "20"],
                          "show (a queued task)": [*lq, "show", str(n // 2)]}
            got: dict[str, list[tuple[float, float, float]]] = {name: [] for name in cases}
            for _ in range(runs):
                for name, argv in cases.items():
                    got[name].append(timed(argv, env))
            for name, samples in got.items():
                if name == "floor":
                    continue
                cpu = [s[1] * 1000 for s in samples]
                rss = [s[2] for s in samples]
                where = f"{n + 1:,} queued"
                row = Row("reads", f"{name} ({where}): CPU", lazyqueue=median(cpu), unit="ms", runs=runs, samples=cpu)
                if name == "ls" or (name == "ls --json" and n == 10_000):
                    row.goal, row.ok = "< 300 ms", row.lazyqueue < 300
                elif name.startswith("show"):
                    row.goal, row.ok = "< 150 ms", row.lazyqueue < 150
                rows.append(row)
                if name == "ls --json" and n == big:
                    rate = (n + 1) / median([s[0] for s in samples])
                    rows.append(Row("reads", f"ls --json ({where}): records/s", lazyqueue=round(rate), unit="/s",
                                    runs=runs, goal="≥ 50,000/s", ok=rate >= 50_000))
                    rows.append(Row("reads", f"ls --json ({where}): peak RSS", lazyqueue=median(rss), unit="MB",
                                    runs=runs, goal="< 100 MB", ok=median(rss) < 100))
            floor = median([s[1] * 1000 for s in got["floor"]])
            rows.append(Row("reads", f"python -c pass (floor, beside {n:,}): CPU", lazyqueue=floor, unit="ms", runs=runs))
    return rows
