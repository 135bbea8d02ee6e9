"""`lazyqueue add` as a whole process in every state a user reaches, at 10,000 tasks and more.

States (each a fresh state directory, filled once, then `lazyqueue add shell
-- true` timed ≥ 11 times round-robin with the others and the interpreter floor):

- folded: 10,000 queued in a freshly written snapshot, empty journal
- after `add --from`: 10,000 queued by one `lazyqueue add shell --from FILE`
- long journal: 10,000 queued by 10,000 separate adds (the CLI's head-only writer, in-process)
- worker running: the folded state with an idle `lazyqueue worker` holding the file
- TUI open: the folded state with the TUI (`lazyqueue`) running in a tmux session (skipped without tmux)
- 100,000 in history: 100,000 completed tasks in the live file, folded

Every queued task is delayed an hour, so a running worker leaves them queued.
Figures: CPU (user + sys) of the add process, the goal's measure on a shared
machine, with the wall time in the note; medians.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .cpu import run_timed
from .report import Row, median
from .shell import env_for, lazyqueue_cmd, stop_process

DELAY = 3600


def _files(q):
    """(the task file, the in-memory state) of a Queue."""
    return q.taskfile, q.state


def _queue(home: Path, light: bool = False, keep_all: bool = False):
    from lazyqueue.core.config import Config
    from lazyqueue import Queue

    config = Config()
    if keep_all:  # no retention: every finished task stays in the live file
        config.retention = type(config.retention)(keep=10**9, max_age_days=10**6)
    return Queue(home, config=config, light=light)


def fill_folded(home: Path, n: int) -> None:
    from lazyqueue.core.queue import TaskSpec

    q = _queue(home)
    try:
        for start in range(0, n, 2000):
            q.enqueue_many([TaskSpec("shell", {"command": f"echo {i}"}, delay=DELAY)
                            for i in range(start, min(n, start + 2000))])
        store, _ = _files(q)
        with store.lock:
            store.compact(retention=False)
    finally:
        q.close()


def fill_bulk(home: Path, n: int, env: dict, tmp: Path) -> None:
    lines = tmp / f"lines-{n}.txt"
    lines.write_text("".join(f"echo {i}\n" for i in range(n)))
    subprocess.run([*lazyqueue_cmd(), "add", "shell", "--delay", str(DELAY), "--from", str(lines)],
                   env=env, check=True, stdout=subprocess.DEVNULL, timeout=900)


def fill_one_by_one(home: Path, n: int) -> None:
    from lazyqueue.core.queue import TaskSpec

    q = _queue(home, light=True)  # what `lazyqueue add` opens
    try:
        for i in range(n):
            q.enqueue_many([TaskSpec("shell", {"command": f"echo {i}"}, delay=DELAY)])
    finally:
        q.close()


def fill_history(home: Path, n: int) -> None:
    from lazyqueue.core.models import COMPLETED, iso
    from lazyqueue.core.queue import TaskSpec

    q = _queue(home, keep_all=True)
    try:
        store, state = _files(q)
        for start in range(0, n, 2000):
            done = q.enqueue_many([TaskSpec("shell", {"command": f"echo {i}"})
                                   for i in range(start, min(n, start + 2000))])
            with store.lock:
                stamp = iso()
                for r in done:
                    t = state.tasks[r.task.id]
                    t.status, t.finished_at, t.attempt = COMPLETED, stamp, 1
        with store.lock:
            store.compact(retention=False)  # retention off: all of them stay in the live file
    finally:
        q.close()


def _start(argv: list[str], env: dict):
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _gone(pids: list[int], timeout: float = 60) -> None:
    """Wait until every pid has exited (SIGKILL at the deadline)."""
    from ..core.processes import pid_alive

    deadline = time.monotonic() + timeout
    while any(pid_alive(p) for p in pids):
        if time.monotonic() > deadline:
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            return
        time.sleep(0.05)  # poll interval


def _stop_background(home: Path) -> None:
    """Stop any worker left running for `home` (its workers/ records), and wait for it."""
    import json

    from ..core.processes import pid_alive

    pids = []
    for path in (home / "workers").glob("*.json") if (home / "workers").is_dir() else []:
        try:
            record = json.loads(path.read_text())
            pid = int(record["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if pid_alive(pid, record.get("pstart")):  # the same process, not a reused pid
            pids.append(pid)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    _gone(pids)


def _settled(home: Path, timeout: float = 60) -> None:
    """Wait until the holder has read the file: its size stops changing for a while."""
    deadline = time.monotonic() + timeout
    last, same = None, 0
    while same < 5 and time.monotonic() < deadline:
        sig = tuple((p.name, p.stat().st_size) for p in sorted(home.glob("tasks.*")))
        same = same + 1 if sig == last else 0
        last = sig
        time.sleep(0.2)  # the interval of the settle check


def run(quick: bool = False, runs: int | None = None, n: int | None = None) -> list[Row]:
    runs = runs or (5 if quick else 11)
    n = n or (2000 if quick else 10_000)
    history = n * 10
    lq = lazyqueue_cmd()
    rows: list[Row] = []
    held = []
    tui_pids: list[int] = []
    tmux = shutil.which("tmux")
    session = f"lq-bench-tui-{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="lq-bench-") as d:
        tmp = Path(d)
        config = tmp / "config.toml"
        config.write_text("")
        states: dict[str, dict] = {}

        def state(name: str) -> tuple[Path, dict]:
            home = tmp / name.replace(" ", "-").replace(",", "")
            env = env_for(home, config)
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            states[name] = env
            return home, env

        home, env = state(f"folded, {n:,} queued")
        fill_folded(home, n)
        home, env = state(f"after add --from {n:,}")
        fill_bulk(home, n, env, tmp)
        home, env = state(f"long journal, {n:,} single adds")
        fill_one_by_one(home, n)
        home, env = state(f"worker running, {n:,} queued")
        fill_folded(home, n)
        held.append(_start([*lq, "worker", "-q"], env))
        _settled(home)
        tui_note = ""
        if tmux:
            home, env = state(f"TUI open, {n:,} queued")
            fill_folded(home, n)
            envs = " ".join(f"{k}={shlex_quote(v)}" for k, v in env.items() if k.startswith("LAZYQUEUE_"))
            subprocess.run([tmux, "new-session", "-d", "-s", session, "-x", "120", "-y", "36",
                            f"env {envs} {' '.join(shlex_quote(a) for a in lq)}"], check=True)  # no command: the TUI
            _settled(home)
            if subprocess.run([tmux, "has-session", "-t", session], capture_output=True).returncode != 0:
                raise RuntimeError("the TUI did not stay up in tmux")
            pane = subprocess.run([tmux, "list-panes", "-t", session, "-F", "#{pane_pid}"],
                                  capture_output=True, text=True).stdout.split()
            tui_pids.extend(int(p) for p in pane if p.isdigit())  # `env` execs the TUI: the pane's pid is it
        else:
            tui_note = "tmux not installed: the TUI-open state is not measured"
        home, env = state(f"{history:,} completed in history")
        fill_history(home, history)
        try:
            cases = [("floor", [sys.executable, "-c", "pass"], dict(os.environ))]
            cases += [(name, [*lq, "add", "shell", "--", "true"], env) for name, env in states.items()]
            for _, argv, env in cases:  # warm up: bytecode written, page cache warm
                run_timed(argv, env, stdout=subprocess.DEVNULL)
            wall: dict = {name: [] for name, _, _ in cases}
            cpu: dict = {name: [] for name, _, _ in cases}
            for _ in range(runs):  # round-robin, so a noisy neighbour hits every case alike
                for name, argv, env in cases:
                    w, c, code = run_timed(argv, env, stdout=subprocess.DEVNULL)
                    if code != 0:
                        raise RuntimeError(f"add in state {name!r} exited {code}")
                    wall[name].append(w * 1000)
                    cpu[name].append(c * 1000)
        finally:
            for proc in held:
                stop_process(proc, timeout=30)
            if tmux:
                subprocess.run([tmux, "kill-session", "-t", session], capture_output=True)
                _gone(tui_pids)  # the TUI folds its journal as it closes: let it finish before the folder goes
            for env in states.values():  # a hung-up TUI hands its work to a background worker
                _stop_background(Path(env["LAZYQUEUE_HOME"]))
    floor = median(cpu["floor"])
    for name, _, _ in cases:
        row = Row("add_states", "python -c pass (floor), CPU" if name == "floor" else f"add, {name}: CPU",
                  lazyqueue=median(cpu[name]), runs=runs, samples=cpu[name],
                  note=f"wall {median(wall[name]):.1f} ms")
        if name != "floor":
            row.goal, row.ok = "≤ 100 ms CPU", row.lazyqueue <= 100  # wall swings with the neighbours
            row.note += f"; {row.lazyqueue - floor:.1f} ms CPU above the floor"
        rows.append(row)
    if tui_note:
        rows.append(Row("add_states", "add, TUI open", note=tui_note))
    return rows


def shlex_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)
