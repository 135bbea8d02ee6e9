"""StatusLine: what is happening, in words, at the top of the screen."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ...core.models import job_ref
from ..view import QueueView


def status_words(view: QueueView, worker_running: bool = True) -> str:
    running = view.running_order()
    queued = len(view.ids("queued"))
    failed = len(view.failed_order())
    parts: list[str] = []
    if running:
        first = view.tasks[running[0]]
        where = f" {job_ref(first.job_id)}" if first.job_id is not None else f" {first.ref}"
        more = f" (+{len(running) - 1} more)" if len(running) > 1 else ""
        noun = "item" if len(running) == 1 else "items"
        lead = f"Building {len(running)} {noun}: {first.kind}{where}{more}"
        parts.append(("Paused: running tasks finish, nothing new starts (p resumes) · " if view.paused else "") + lead)
    elif view.paused:
        parts.append("Paused — p resumes")
    else:
        parts.append(f"Idle · {view.done_today()} done today")
    if queued:
        parts.append(f"{queued} queued")
    if failed:
        parts.append(f"{failed} failed")
    if not worker_running:
        parts.append("no worker in this process")
    if view.worker_error:
        parts.append(f"worker error: {view.worker_error}")
    return " · ".join(parts)


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    _last = None

    def show(self, view: QueueView, worker_running: bool = True) -> None:
        words = status_words(view, worker_running)
        if words == self._last:
            return  # an update re-lays out the screen: only when the words change
        self._last = words
        text = Text("lazyqueue  ", style="bold")
        text.append(words)
        self.update(text, layout=False)  # always one line
