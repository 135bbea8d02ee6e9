"""Whether a recovering worker can adopt the command a dead worker left running.

A shell task's command is led by the gate (`kinds/shell.py`): its output goes
straight into the task's log and its exit status into a file beside it, and
the worker that started it recorded the group on the task's owner
(`child_pgid`, `child_pstart`, `log_offset`, `gate`). So when that worker
dies the command goes on, and the next worker adopts it: keeps the task
`running`, follows the log from `log_offset`, enforces timeout and cancel,
and records the exit status. The group counts as the command only while its
leader is the same process (same kernel start time) — never by pid alone.

Only when nothing can be adopted — the group is gone and no exit status was
written, or the task ran in the dead process itself (a Python handler) — is
the task interrupted (`lifecycle.interrupted`: no attempt spent, failed the
third time).
"""

from __future__ import annotations

from pathlib import Path

from .background import host
from .processes import pid_alive

CHILD_KEYS = ("child_pgid", "child_pstart", "log_offset", "gate")


def adoptable(owner: dict, log_path: Path, attempt: int) -> dict | None:
    """The command a dead worker left, if it can be adopted: still running, or ended with its status written."""
    pgid = owner.get("child_pgid")
    if owner.get("host") != host() or not owner.get("gate") or not isinstance(pgid, int) or _ADOPTER is None:
        return None  # not a gated command here, or no kind in this process can supervise one
    child = {k: owner[k] for k in CHILD_KEYS if k in owner}
    if owner.get("child_pstart") and pid_alive(pgid, owner["child_pstart"]):
        return child
    if read_exit_status(log_path, attempt, owner["gate"]) is not None:
        return child  # it ended while nobody watched: its output and status are on disk
    return None


EXITS = "exit-status"  # in the logs dir: a line "TASK ATTEMPT CODE" as each gated command ends
GATE = 3  # `gate` on the owner: 3 = the status is a line of EXITS; 2 = a file beside the log (`12.exit`)


def exits_file(log_path: Path) -> Path:
    """Where the gate appends a command's exit status: one file for the logs dir, no file created per task."""
    return Path(log_path).parent / EXITS


def exit_file(log_path: Path) -> Path:
    """Where a gate of the earlier form wrote a command's exit status: beside its log (`logs/12.exit`)."""
    return Path(log_path).with_suffix(".exit")


def read_exit_status(log_path: Path, attempt: int, gate: int = GATE) -> int | None:
    """The exit code the gate wrote for this attempt, or None (the command ended without writing it)."""
    if gate != GATE:
        return _read_exit_file(log_path, attempt)
    try:
        with open(exits_file(log_path), "rb") as fh:
            data = b"\n" + fh.read()
    except OSError:
        return None
    want = f"\n{Path(log_path).stem} {attempt} ".encode()
    at = data.rfind(want)  # the last line for this attempt
    if at < 0:
        return None
    end = data.find(b"\n", at + 1)
    if end < 0:
        return None  # cut off mid-write
    try:
        return int(data[at + len(want):end])
    except ValueError:
        return None


def _read_exit_file(log_path: Path, attempt: int) -> int | None:
    try:
        with open(exit_file(log_path), encoding="ascii") as fh:
            text = fh.read()
    except (OSError, ValueError):
        return None
    if not text.endswith("\n"):
        return None  # cut off mid-write
    parts = text.split()
    if len(parts) != 2 or parts[0] != str(attempt):
        return None
    try:
        return int(parts[1])
    except ValueError:
        return None


_ADOPTER = None


def set_adopter(adopt) -> None:
    """The shell kind hands in its `adopt_command(ctx, child)` (the core imports no kind)."""
    global _ADOPTER
    _ADOPTER = adopt


def adopter():
    return _ADOPTER
