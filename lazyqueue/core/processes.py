"""Processes on this host: is one alive, when did it start, stop a process group.

Shared by the worker (leases, orphaned commands) and the kinds that run
commands (shell, track), so there is one way to kill a group.
"""

from __future__ import annotations

import os
import threading

HOST = os.uname().nodename  # what socket.gethostname() answers, without importing socket on every `add`


def start_time(pid: int) -> str | None:
    """The kernel's start time of a process (guards against pid reuse); "zombie"; None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = data[data.rfind(")") + 2:].split()
    if fields and fields[0] == "Z":
        return "zombie"
    return fields[19] if len(fields) > 19 else None


def pid_alive(pid: int, started: str | None = None) -> bool:
    """Whether `pid` runs (and, given `started`, is still the process that started then)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: alive; its start time still tells a reused pid
    except OSError:
        return False
    now_start = start_time(pid)
    if now_start == "zombie":
        return False
    if started and now_start and started != now_start:
        return False  # the pid was reused by another process
    return True


def kill_group(pgid: int, started: str | None = None) -> bool:
    """SIGKILL a process group now; with `started`, only if its leader is still that process.

    True if a signal was sent.
    """
    import signal

    if started is not None:
        now_start = start_time(pgid)
        if now_start is None or now_start == "zombie" or (started and started != now_start):
            return False  # gone, or the pid now belongs to someone else
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def terminate_group(pgid: int, grace: float, done: threading.Event | None = None) -> None:
    """SIGTERM a process group, then SIGKILL it if `done` is not set within `grace` seconds."""
    import signal

    try:
        os.killpg(pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return

    def finish() -> None:
        if done is not None and done.wait(grace):
            return
        kill_group(pgid)

    threading.Thread(target=finish, daemon=True).start()
