"""JobTable: one row per job, most recent activity first, filtered with `/`."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message

from ...core.models import job_ref
from ..format import ago, first_line, progress_text
from ..view import QueueView
from .keyed_table import KeyedTable

# The most recent WINDOW jobs are read first; coming within MORE_WITHIN rows of the end of what is
# read brings in the next WINDOW, and `end` reads them all (a 10,000-job history takes a moment).
WINDOW = 200
MORE_WITHIN = 20


def task_state_phrase(view: QueueView, jid: int) -> Text:
    task = view.primary_task(jid)
    if task is None:
        return Text("")
    if task.status == "running":
        if task.cancel_requested:
            word = "cancelling…"
        elif task.progress is not None:
            pct = min(int(task.progress), 99)
            word = "finalizing" if task.progress >= 100 else f"{pct}%"
        else:
            word = "running"
    else:
        word = task.status
    active = sum(1 for t in view.by_job.get(jid, ()) if view.tasks[t].status in ("queued", "running"))
    more = f" (+{active - 1})" if active > 1 and task.status in ("queued", "running") else ""
    style = {"failed": "bold red", "running": "bold"}.get(task.status, "")
    return Text(f"{task.kind} {word}{more}", style=style)


class JobTable(KeyedTable):
    COLUMNS = (("job", "Job", 6), ("title", "Title", 13), ("state", "Stage | task", 27),
               ("progress", "Progress", 10), ("activity", "Activity", 10))
    FLEX = {"title": 5, "state": 1}  # a wider terminal shows more of the titles

    class MoreShown(Message):
        """How much of the history the table holds changed (the caption says how much)."""

    def __init__(self, view: QueueView, **kwargs) -> None:
        super().__init__(**kwargs)
        self.view = view
        self.filter_text = ""
        self.total = 0
        self.frame = 0
        self.window = WINDOW  # how many of the most recent jobs are read

    def row(self, jid: int, now: float) -> tuple:
        view = self.view
        job = view.jobs[jid]
        task = view.primary_task(jid)
        state = Text(f"{job.stage} | ")
        state.append_text(task_state_phrase(view, jid))
        activity = view.job_activity.get(jid)
        return (
            Text(job_ref(jid)),
            Text(first_line(job.title, 200)),
            state,
            progress_text(task, 5, self.frame, compact=True) if task else Text(""),
            Text(ago(now - activity) if activity else ""),
        )

    def make_row(self, key: str, now: float) -> tuple | None:
        jid = int(key)
        return self.row(jid, now) if jid in self.view.jobs else None

    def sync(self, changed: set | None, order: bool, now: float) -> None:
        """Re-window when order changed (rows of jobs not in `changed` are kept as shown;
        None: every row again), else update the changed rows in place."""
        if order or changed is None:
            ids, self.total = self.view.jobs_by_activity(self.window, self.filter_text)
            self.reconcile([(str(j), None if self.keeps(str(j), j, changed) else self.row(j, now)) for j in ids])
        else:
            self.refresh_keys([str(j) for j in changed if j is not None], now)

    def tick(self, now: float) -> None:
        self.refresh_visible(now)

    def set_filter(self, text: str, now: float) -> None:
        self.filter_text = text
        self.window = WINDOW
        self.sync(set(), True, now)

    # ------------------------------------------------------------------ reading more of the history
    def _set_window(self, size: int) -> None:
        self.window = size
        self.sync(set(), True, self.now())  # rows already shown stay as they are
        self.post_message(self.MoreShown())

    def read_more(self, everything: bool = False) -> None:
        if self.row_count < self.total:
            self._set_window(self.total if everything else self.window + WINDOW)

    def _near_end(self) -> bool:
        bottom = int(self.scroll_y) + max(1, self.size.height - 1)
        return self.row_count < self.total and max(self.cursor_row, bottom) >= self.row_count - MORE_WITHIN

    def _read_more_if_near_end(self) -> None:
        if self._near_end():
            self.read_more()

    def move_cursor(self, *, row: int, scroll: bool = True) -> None:
        super().move_cursor(row=row, scroll=scroll)
        self._read_more_if_near_end()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.is_mounted and self._near_end():
            self.call_later(self._read_more_if_near_end)  # not from inside a scroll: once it has settled

    def action_edge(self, end: int) -> None:
        """home: the most recent job; end: the oldest (the whole history is read first)."""
        if end:
            self.read_more(everything=True)
            if self._order:
                self.select_key(min(self._order, key=int))
                return
        super().action_edge(end)
        if not end and self.window > WINDOW:  # back at the top: keep only the most recent again (re-ranks stay cheap)
            self._set_window(WINDOW)
