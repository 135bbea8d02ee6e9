"""JobTable: one row per job, most recent activity first, filtered with `/`."""

from __future__ import annotations

from rich.text import Text

from ...core.models import job_ref
from ..format import ago, progress_text
from ..view import QueueView
from .keyed_table import KeyedTable

# Showing every job of a 10,000-task history costs seconds: show a window of the most recent.
WINDOW = 200


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
    COLUMNS = (("job", "Job", 4), ("title", "Title", 15), ("state", "Stage | task", 31),
               ("progress", "Progress", 10), ("activity", "Activity", 8))

    def __init__(self, view: QueueView, **kwargs) -> None:
        super().__init__(**kwargs)
        self.view = view
        self.filter_text = ""
        self.total = 0
        self.frame = 0

    def row(self, jid: int, now: float) -> tuple:
        view = self.view
        job = view.jobs[jid]
        task = view.primary_task(jid)
        state = Text(f"{job.stage} | ")
        state.append_text(task_state_phrase(view, jid))
        title = job.title if len(job.title) <= 15 else job.title[:14] + "…"
        activity = view.job_activity.get(jid)
        return (
            Text(job_ref(jid)),
            Text(title),
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
            ids, self.total = self.view.jobs_by_activity(WINDOW, self.filter_text)
            shown = self._cells
            self.reconcile([(str(j), None if changed is not None and j not in changed and str(j) in shown
                             else self.row(j, now)) for j in ids])
        else:
            self.refresh_keys([str(j) for j in changed if j is not None], now)

    def tick(self, now: float) -> None:
        self.refresh_visible(now)
