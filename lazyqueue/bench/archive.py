"""`lazyqueue show ID` of an archived task, with 100,000 tasks in the archive (a whole process).

The archive is filled once (100,000 task lines of ~280 bytes, as retention
writes them, in batches of 1,000); then `show ID --json` of the oldest, a middle
and the newest archived id, and of an unknown id, is timed round-robin
with the interpreter floor. Figures: CPU (user + sys) of the process, medians;
the goal is the add target's (< 100 ms), since `show` is as interactive.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from .cpu import run_timed
from .report import Row, median
from .shell import env_for, lazyqueue_cmd


def fill_archive(home: Path, n: int) -> None:
    from ..core.archive import Archive
    from ..core.models import iso
    from ..core.state import Change
    from ..core.taskfile import TaskFile

    store = TaskFile(home)
    stamp = iso()
    archive = Archive(home)
    for start in range(1, n + 1, 1000):
        archive.append([(tid, json.dumps({"type": "task", "archived_at": stamp, "record": {
            "id": tid, "kind": "shell", "status": "completed", "label": f"echo {tid}", "payload": {"command": f"echo {tid}"},
            "result": None, "attempt": 1, "max_attempts": 3, "created_at": stamp, "updated_at": stamp,
            "finished_at": stamp}}).encode()) for tid in range(start, min(n, start + 999) + 1)])
    with store.lock:
        store.head()
        store.state.head.next_task_id = n + 1
        store.commit(Change())
        store.compact(retention=False)
    store.close()


def run(quick: bool = False, runs: int | None = None, n: int = 100_000) -> list[Row]:
    runs = runs or (5 if quick else 11)
    rows = []
    with tempfile.TemporaryDirectory(prefix="lq-bench-archive-") as d:
        tmp = Path(d)
        home = tmp / "home"
        (tmp / "config.toml").write_text("")
        fill_archive(home, n)
        env = env_for(home, tmp / "config.toml")
        lq = lazyqueue_cmd()
        cases = {"floor": [sys.executable, "-c", "pass"]}
        for name, tid in (("oldest", 1), ("middle", n // 2), ("newest", n), ("unknown id", n + 50)):
            cases[name] = [*lq, "show", str(tid), "--json"]
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(runs):
            for name, argv in cases.items():
                _wall, used, code = run_timed(argv, env=env, stdout=-3, stderr=-3)  # DEVNULL
                if name not in ("floor", "unknown id") and code != 0:
                    raise RuntimeError(f"show of the {name} archived task exited {code}")
                cpu[name].append(used * 1000)
    for name, samples in cpu.items():
        metric = "python -c pass (floor), CPU" if name == "floor" else f"show, {name} ({n:,} archived): CPU"
        row = Row("archive", metric, lazyqueue=median(samples), unit="ms", runs=runs, samples=samples,
                  goal="" if name == "floor" else "< 100 ms")
        if name != "floor":
            row.ok = row.lazyqueue < 100
        rows.append(row)
    return rows
