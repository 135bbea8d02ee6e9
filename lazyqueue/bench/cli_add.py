"""`lazyqueue add` as a whole process, with 0 / 1,000 / 10,000 queued tasks and a 10k archive.

Each figure is the median wall time of ≥ 15 runs of
`lazyqueue add shell -- true` (process start to exit, the enqueue durable).
The floor is `python -c pass` on the same interpreter: what lazyqueue adds
is the difference.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .report import Row, median
from .shell import env_for, lazyqueue_cmd


def fill(home: Path, queued: int = 0, archived: int = 0) -> None:
    """A task file with `queued` queued shell tasks and `archived` tasks in the archive."""
    from lazyqueue.core.config import Config
    from lazyqueue.core.models import COMPLETED, iso
    from lazyqueue import Queue, TaskSpec
    from lazyqueue.core.taskfile import RetentionPolicy

    q = Queue(home, config=Config(retention=RetentionPolicy(keep=0, max_age_days=30)))
    try:
        if archived:
            done = q.enqueue_many([TaskSpec("shell", {"command": f"echo {i}"}) for i in range(archived)])
            with q.taskfile.lock:
                stamp = iso()
                for r in done:
                    t = q.state.tasks[r.task.id]
                    t.status, t.finished_at, t.attempt = COMPLETED, stamp, 1
                q.taskfile.compact()  # keep=0: every finished task goes to archive.jsonl
        if queued:
            q.enqueue_many([TaskSpec("shell", {"command": f"echo {i}"}) for i in range(queued)])
        with q.taskfile.lock:
            q.taskfile.compact(retention=False)  # the steady state: a snapshot, an empty journal
    finally:
        q.close()


CPU: list = []  # CPU ms (user + sys) of each run of the last time_runs(), beside its wall times


def time_runs(argv: list[str], env: dict | None, runs: int) -> list[float]:
    """Wall ms of each run; the CPU ms (less sensitive to a busy machine) go to CPU."""
    import os

    out = []
    CPU.clear()
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(proc.pid, 0)
        out.append((time.perf_counter() - t0) * 1000)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}")
        CPU.append((usage.ru_utime + usage.ru_stime) * 1000)
    return out


def run(quick: bool = False, runs: int | None = None) -> list[Row]:
    runs = runs or (5 if quick else 21)
    sizes = [(0, 0), (1000, 0), (10_000, 0), (0, 10_000)]
    if quick:
        sizes = [(0, 0), (10_000, 0)]
    lq = lazyqueue_cmd()
    with tempfile.TemporaryDirectory(prefix="lq-bench-") as d:
        tmp = Path(d)
        config = tmp / "config.toml"
        config.write_text("")
        cases = [("floor", [sys.executable, "-c", "pass"], bytecode_env(None))]
        for queued, archived in sizes:
            home = tmp / f"home-{queued}-{archived}"
            fill(home, queued, archived)
            cases.append(((queued, archived), [*lq, "add", "shell", "--", "true"], bytecode_env(env_for(home, config))))
        for _, argv, env in cases:  # warm up: bytecode written, page cache warm
            time_runs(argv, env, 2)
        samples: dict = {name: [] for name, _, _ in cases}
        cpu: dict = {name: [] for name, _, _ in cases}
        for _ in range(runs):  # round-robin, so a noisy neighbour hits every case alike
            for name, argv, env in cases:
                samples[name] += time_runs(argv, env, 1)
                cpu[name] += CPU
    floor = median(samples["floor"])
    rows = [Row("cli_add", "python -c pass (floor)", lazyqueue=floor, runs=runs, samples=samples["floor"],
                note=f"CPU {median(cpu['floor']):.1f} ms")]
    for queued, archived in sizes:
        got = samples[(queued, archived)]
        what = f"{queued:,} queued" if not archived else f"{archived:,}-task archive"
        row = Row("cli_add", f"add, {what}", lazyqueue=median(got), runs=runs, samples=got,
                  goal="≤ 100 ms" if queued or archived else "")
        if row.goal:
            row.ok = row.lazyqueue <= 100.0
        row.note = (f"{row.lazyqueue - floor:.1f} ms above the interpreter floor; CPU {median(cpu[(queued, archived)]):.1f} ms "
                    f"(floor {median(cpu['floor']):.1f} ms)")
        rows.append(row)
    return rows


def bytecode_env(env: dict | None) -> dict:
    """Child env that may write .pyc files: an installed package has them, so time that."""
    import os

    env = dict(os.environ if env is None else env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("LAZYQUEUE_AUTOSTART", "0")  # the add alone; autostart.py times it with a worker check
    return env
