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


NO_WORKER = "no worker running — tasks wait ('lazyqueue worker start')"


def workers_words(workers: list, own_pid: int, paused_here: bool = False) -> tuple[str, ...]:
    """What runs the work, from `queue.workers()`, in words and then shorter: "run by this window",
    "run by background worker (pid 4242)", "3 workers on 2 hosts" (the cluster engine), or that nothing does."""
    if not workers:
        return (NO_WORKER,)
    if any(getattr(w, "where", None) == "cluster" for w in workers):
        hosts = {w.host for w in workers}
        return (f"{plural(len(workers), 'worker')} on {plural(len(hosts), 'host')}",)
    here, others = None, []
    for w in workers:
        if w.pid == own_pid or w.where == "this process":
            here = "this window (paused)" if paused_here else "this window"
        elif w.where == "background":
            others.append(f"background worker (pid {w.pid})")
        else:  # another TUI or a `lazyqueue worker` in some terminal
            others.append(f"worker pid {w.pid} (another window)")
    if len(others) > 1 and here is not None:
        others = [plural(len(others), "other worker")]
    elif len(others) > 2:
        others = [others[0], plural(len(others) - 1, "other worker")]
    if here is None:
        return ("run by " + " and ".join(others),)
    if not others:
        return (f"run by {here}",)
    # shorter, the window goes first: it is plain to see
    return (f"run by {here} and {others[0]}", f"also run by {others[0]}", f"+ {others[0]}")


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
        # nothing runs while work waits: as important as what failed
        parts.append((1 if view.workers_note == NO_WORKER and queued else 3, view.workers_forms or view.workers_note))
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


def fit(parts: list[tuple[int, str | tuple[str, ...]]], width: int | None) -> str:
    """The parts joined, leaving out the least important until the line fits `width`; a part given as
    (words, shorter words, …) is shortened before it is left out."""
    kept = [(importance, (words,) if isinstance(words, str) else tuple(words)) for importance, words in parts]

    def line() -> str:
        return SEP.join(forms[0] for _, forms in kept)

    while width is not None and len(kept) > 1 and len(line()) > width:
        worst = max(range(len(kept)), key=lambda i: (kept[i][0], i))
        importance, forms = kept[worst]
        if len(forms) > 1:
            kept[worst] = (importance, forms[1:])
            continue
        if importance == 0 and all(k[0] == 0 for k in kept):
            break
        kept.pop(worst)
    return line() if width is None else fit_words(line(), width)


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
