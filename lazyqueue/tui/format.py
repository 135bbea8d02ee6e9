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
    """`4 s`, `2 min 05 s`, `1 h 05 min`, `2 d 3 h` — the way the core words a wait, so both read alike."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    if seconds < 86400:
        return f"{seconds // 3600} h {(seconds % 3600) // 60:02d} min"
    return f"{seconds // 86400} d {(seconds % 86400) // 3600} h"


def soon_words(why: str, not_before: float | None, now: float) -> str:
    """A start under a minute away reads as `starts in 2 s`, not as the clock time it will be."""
    if why.startswith("starts at") and not_before is not None and 0 < not_before - now < 60:
        return f"starts in {short_duration(not_before - now + 0.999)}"
    return why


def ago(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


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


def plural(count: int, noun: str) -> str:
    """`1 task`, `2 tasks`, `3 failed tasks` (the last word takes the s)."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
