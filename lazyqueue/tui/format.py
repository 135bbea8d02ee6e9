"""How states, times and progress read on screen: a word and a symbol, never colour alone."""

from __future__ import annotations

from rich.text import Text

from ..core.models import STATUS_SYMBOL, Task
from ..core.safe_text import has_unsafe, shown

SYMBOL = STATUS_SYMBOL
STYLE = {
    "queued": "",
    "running": "bold",
    "completed": "green",
    "failed": "bold red",
    "cancelled": "yellow",
    "expired": "yellow",
}
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def status_text(task: Task) -> Text:
    """`▶ running`, `✗ failed`, `… cancelling…` — word and symbol."""
    if task.status == "running" and task.cancel_requested:
        return Text("⊘ cancelling…", style="yellow")
    return Text(f"{SYMBOL.get(task.status, '?')} {task.status}", style=STYLE.get(task.status, ""))


def shown_percent(task: Task) -> int | None:
    """Progress as shown: never 100 before the task completed."""
    if task.status == "completed":
        return 100
    if task.progress is None:
        return None
    value = int(task.progress)
    if task.status == "running":
        return min(value, 99)
    return value


def progress_text(task: Task, width: int = 10, frame: int = 0, compact: bool = False) -> Text:
    """A bar with its percentage; a spinner while running with no known progress.

    `compact` leaves out the "finalizing" word (the row says it elsewhere); the
    number still stops at 99 until the task completed.
    """
    pct = shown_percent(task)
    if pct is None:
        if task.status == "running":
            return Text(f"{SPINNER[frame % len(SPINNER)]} working", style="bold")
        return Text("")
    filled = round(width * pct / 100)
    bar = "█" * filled + "░" * (width - filled)
    suffix = f" {pct:>2}%"
    if finalizing(task) and not compact:
        suffix = " 99% finalizing"
    style = "green" if task.status == "completed" else ("red" if task.status == "failed" else "")
    return Text(bar + suffix, style=style)


def finalizing(task: Task) -> bool:
    """Running and reporting 100 %: the work is not done until the task completed."""
    return task.status == "running" and task.progress is not None and task.progress >= 100


def short_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d {(seconds % 86400) // 3600}h"


def ago(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def countdown(seconds: float) -> str:
    """`expires in 4m 10s`, and `expired` from zero on — never negative."""
    if seconds <= 0:
        return "expired"
    return f"expires in {short_duration(seconds)}"


def first_line(text: str | None, limit: int = 80) -> str:
    if not text:
        return ""
    line = shown(text.strip().splitlines()[0]) if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def safe(text: Text) -> Text:
    """`text` with terminal controls shown as characters (a copy only when there are any)."""
    if not has_unsafe(text.plain):
        return text
    out = text.copy()
    out.plain = shown(text.plain)  # same length: styled spans stay where they were
    return out
