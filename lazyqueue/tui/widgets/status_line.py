"""StatusLine: what is happening, in words, at the top of the screen.

The line is made of parts in order of importance; when the terminal is too
narrow the least important go first, and a part that still does not fit is
cut between words, never inside one.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ...core.models import job_ref
from ..format import plural
from ..view import QueueView

LEAD = "lazyqueue  "
SEP = " · "


def status_parts(view: QueueView, worker_running: bool = True) -> list[tuple[int, str]]:
    """(importance, words) in the order shown; 0 is the most important."""
    running = view.running_order()
    queued = len(view.ids("queued"))
    failed = len(view.failed_order())
    parts: list[tuple[int, str]] = []
    if view.paused:
        parts.append((0, "Paused (p resumes)"))
    if running:
        first = view.tasks[running[0]]
        where = f" {job_ref(first.job_id)}" if first.job_id is not None else f" {first.ref}"
        more = f" (+{len(running) - 1} more)" if len(running) > 1 else ""
        parts.append((0, f"Running {plural(len(running), 'task')}: {first.kind}{where}{more}"))
    elif not view.paused:
        parts.append((0, "Idle"))
        parts.append((5, f"{view.done_today()} done today"))
    if queued:
        parts.append((2, f"{queued} queued"))
    if failed:
        parts.append((1, f"{failed} failed"))
    if view.workers_note:
        parts.append((3, view.workers_note))
    elif not worker_running:
        parts.append((3, "no worker in this process"))
    if view.worker_error:
        parts.append((4, f"worker error: {view.worker_error}"))
    return parts


def fit_words(text: str, width: int) -> str:
    """`text` if it fits, else as many whole words as fit and `…`."""
    if len(text) <= width:
        return text
    words, out = text.split(" "), ""
    for word in words:
        candidate = f"{out} {word}" if out else word
        if len(candidate) + 1 > width:
            break
        out = candidate
    return (out.rstrip(" ·:,") + "…") if out else text[: max(0, width - 1)] + "…"


def fit(parts: list[tuple[int, str]], width: int | None) -> str:
    """The parts joined, leaving out the least important until the line fits `width`."""
    kept = list(parts)
    while width is not None and len(kept) > 1 and len(SEP.join(w for _, w in kept)) > width:
        worst = max(range(len(kept)), key=lambda i: (kept[i][0], i))
        if kept[worst][0] == 0 and all(k[0] == 0 for k in kept):
            break
        kept.pop(worst)
    line = SEP.join(w for _, w in kept)
    return line if width is None else fit_words(line, width)


def status_words(view: QueueView, worker_running: bool = True, width: int | None = None) -> str:
    return fit(status_parts(view, worker_running), width)


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    _last = None
    _parts: list[tuple[int, str]] | None = None

    def room(self) -> int | None:
        width = self.size.width - 2 - len(LEAD)  # padding, the name
        return width if width > 0 else None

    def show(self, view: QueueView, worker_running: bool = True) -> None:
        self._parts = status_parts(view, worker_running)
        self._paint()

    def show_text(self, words: str) -> None:
        """Say this instead (quitting)."""
        self._parts = [(0, words)]
        self._paint()

    def _paint(self) -> None:
        words = fit(self._parts or [], self.room())
        if words == self._last:
            return  # an update re-lays out the screen: only when the words change
        self._last = words
        text = Text(LEAD, style="bold")
        text.append(words)
        self.update(text, layout=False)  # always one line

    def on_resize(self) -> None:
        if self._parts is not None:
            self._paint()
