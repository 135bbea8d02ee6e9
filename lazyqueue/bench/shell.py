"""Shell tasks: N `true` commands with 2 slots, lazyqueue vs task-spooler.

Both are driven the way their users drive them, from a shell:
lazyqueue: `lazyqueue add shell --from FILE` (one durable write for all), then
`lazyqueue worker --exit-when-idle --concurrency 2 -q` until it exits.
task-spooler (Debian package `task-spooler`, binary `tsp` or `ts`): its own
socket, `tsp -S 2`, then a shell loop of N × `tsp -n true` and `tsp -w` until
none is queued or running.
Both are timed from the first enqueue to the last task finished. CPU is user +
sys of every process involved: the shell, each client, the commands, and
task-spooler's server and the background clients it leaves (adopted and
reaped by the benchmark as a child subreaper, Linux).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .cpu import become_subreaper, children_cpu, reap_orphans, run_timed
from .report import Row, median


def lazyqueue_cmd() -> list[str]:
    """The installed `lazyqueue` script next to this interpreter, else `python -m lazyqueue`."""
    script = Path(sys.executable).with_name("lazyqueue")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "lazyqueue"]


def stop_process(proc: subprocess.Popen, timeout: float = 60) -> None:
    """SIGTERM a process started in its own session (a worker, a TUI); SIGKILL its group past `timeout`."""
    import signal

    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def env_for(home: Path, config: Path, *, autostart: bool = False) -> dict:
    """The environment of a benchmarked lazyqueue process; without `autostart` no background worker is started
    (the scenario times its own `worker --exit-when-idle`)."""
    env = dict(os.environ)
    env["LAZYQUEUE_HOME"] = str(home)
    env["LAZYQUEUE_CONFIG"] = str(config)
    env["LAZYQUEUE_AUTOSTART"] = "1" if autostart else "0"
    env.pop("NO_COLOR", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its .pyc files
    return env


def run_lazyqueue(n: int, tmp: Path) -> tuple[float, float]:
    """(wall s, CPU s) of `add --from` + `worker --exit-when-idle` for `n` × `true`."""
    config = tmp / "config.toml"
    config.write_text("[retention]\nkeep = 1000000\n")  # every finished task stays countable in `ls --json`
    env = env_for(tmp / "home", config)
    tasks = tmp / "tasks.txt"
    tasks.write_text("true\n" * n)
    lq = " ".join(shlex.quote(a) for a in lazyqueue_cmd())
    script = (f"{lq} add shell --from {shlex.quote(str(tasks))} >/dev/null && "
              f"{lq} worker --exit-when-idle --concurrency 2 -q")
    wall, cpu, code = run_timed(["sh", "-c", script], env=env)
    if code != 0:
        raise RuntimeError(f"lazyqueue: the shell script exited {code}")
    out = subprocess.run([*lazyqueue_cmd(), "ls", "--json", "--status", "completed"], env=env, check=True,
                         capture_output=True, text=True).stdout
    import json

    done = len(json.loads(out))
    if done != n:
        raise RuntimeError(f"lazyqueue: {done}/{n} shell tasks completed")
    return wall, cpu


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


TSP_SCRIPT = """
n=$1
i=0
while [ "$i" -lt "$n" ]; do tsp -n true >/dev/null; i=$((i + 1)); done
tsp -w >/dev/null 2>&1
while id=$(tsp -l | awk '$2 == "running" || $2 == "queued" { print $1; exit }') && [ -n "$id" ]; do
  tsp -w "$id" >/dev/null 2>&1
done
"""


def run_tsp(n: int, tmp: Path, tsp: str) -> tuple[float, float]:
    """(wall s, CPU s) of a shell loop of `n` × `tsp -n true` on a 2-slot server, waiting for the last."""
    env = dict(os.environ)
    env["TS_SOCKET"] = str(tmp / "ts.socket")
    env["TMPDIR"] = str(tmp)
    env["TS_MAXFINISHED"] = str(n + 10)
    bindir = tmp / "bin"  # `tsp` on PATH is the binary found (`ts` on some systems)
    bindir.mkdir()
    (bindir / "tsp").symlink_to(tsp)
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    c0 = children_cpu()
    subprocess.run([tsp, "-S", "2"], env=env, capture_output=True, check=True)  # starts the server
    start = children_cpu() - c0
    try:
        wall, cpu, code = run_timed(["sh", "-c", TSP_SCRIPT, "sh", str(n)], env=env)
        if code != 0:
            raise RuntimeError(f"task-spooler: the shell loop exited {code}")
        listing = subprocess.run([tsp], env=env, capture_output=True, text=True, check=True).stdout
        finished = sum(1 for line in listing.splitlines()[1:] if " finished " in f" {line} ")
        if finished != n:
            raise RuntimeError(f"task-spooler: {finished}/{n} finished")
    finally:
        c1 = children_cpu()
        subprocess.run([tsp, "-K"], env=env, capture_output=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and server_alive(env["TS_SOCKET"]):
            reap_orphans()
            time.sleep(0.01)  # the server exits on its own after -K
        reap_orphans()
    # the server's CPU over its whole life, less the listing and the -K client
    server = children_cpu() - c1
    return wall, cpu + start + server


def server_alive(socket: str) -> bool:
    """Is a task-spooler server for this socket still running (an adopted child not yet reaped)?"""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if f"TS_SOCKET={socket}".encode() not in fh.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] != "Z":
                    return True
        except OSError:
            continue
    return False


def run(quick: bool = False, sizes: tuple[int, ...] | None = None, rounds: int | None = None) -> list[Row]:
    """CPU ms/task (the figure the goal is judged on) and wall ms/task beside task-spooler, per size."""
    sizes = sizes or ((100,) if quick else (300, 3000))
    tsp = tsp_binary()
    adopted = become_subreaper()
    other = f"task-spooler ({os.path.basename(tsp)})" if tsp else "task-spooler not installed"
    rows = []
    for n in sizes:
        count = rounds or (1 if quick else 3)
        ours, theirs = [], []
        for _ in range(count):  # alternate, so a noisy neighbour hits both
            with tempfile.TemporaryDirectory(prefix="lq-bench-") as d:
                ours.append(run_lazyqueue(n, Path(d)))
            if tsp:
                with tempfile.TemporaryDirectory(prefix="lq-bench-") as d:
                    theirs.append(run_tsp(n, Path(d), tsp))
        for idx, label in ((1, "CPU ms/task"), (0, "wall ms/task")):
            a = [r[idx] * 1000 / n for r in ours]
            b = [r[idx] * 1000 / n for r in theirs]
            row = Row("shell", f"{n:,} × true, 2 slots: {label}", lazyqueue=median(a), other=median(b),
                      other_name=other, runs=count, samples=a, other_samples=b)
            if idx == 1:
                row.goal = "ratio ≤ 2.0"
                row.ok = row.ratio <= 2.0 if row.ratio is not None else None
                if tsp and not adopted:
                    row.note = "not Linux: task-spooler's background clients are not counted"
            if not tsp:
                row.note = "task-spooler not installed (apt-get install task-spooler); lazyqueue figure only"
            rows.append(row)
    return rows
