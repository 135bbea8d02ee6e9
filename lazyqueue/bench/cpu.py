"""CPU seconds of processes: the fair figure on a shared machine.

Wall time swings with the neighbours; user + sys time of every process
involved (children included) is what the machine pays for the work.
"""

from __future__ import annotations

import os
import subprocess
import time


def run_timed(argv: list[str], env: dict | None = None, timeout: float = 900, **kw) -> tuple[float, float, int]:
    """Run `argv` to its end: (wall s, CPU s of it and of every descendant reaped meanwhile, exit code).

    With become_subreaper() in force, descendants that daemonized (task-spooler's
    clients) are adopted by this process and reaped here as they exit, so their
    CPU is counted too.
    """
    c0 = children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, **kw)
    deadline = time.monotonic() + timeout
    status = None
    while status is None:  # poll with WNOHANG against a deadline, reaping adopted orphans on the way
        status = reap_orphans().get(proc.pid)
        if status is not None:
            break
        if time.monotonic() > deadline:
            proc.kill()
            os.waitpid(proc.pid, 0)
            raise RuntimeError(f"{' '.join(argv[:4])}… still running after {timeout:.0f} s")
        time.sleep(0.002)  # the interval of the exit poll
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, children_cpu() - c0, proc.returncode


def proc_cpu(pid: int) -> float:
    """CPU s of a live process we did not start: its own plus its waited-for children's."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def self_cpu() -> float:
    """CPU s of this process (every thread) and of its waited-for children so far."""
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def children_cpu() -> float:
    """CPU s of every child this process has reaped so far (they add up when reaped)."""
    import resource

    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux), so a daemon's CPU is counted when it is reaped."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def reap_orphans() -> dict[int, int]:
    """Reap every child that has exited (adopted orphans included): {pid: wait status}."""
    reaped = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if not pid:
            return reaped
        reaped[pid] = status
