"""ActivityPanel: every task grouped as Running, Queued, Failed, Recently completed."""

from __future__ import annotations

from rich.text import Text

from ...core.models import Task, job_ref, parse_iso
from ..format import ago, finalizing, first_line, progress_text, short_duration, status_text
from ..view import QueueView
from .keyed_table import KeyedTable

QUEUED_SHOWN = 50
FAILED_SHOWN = 50
STUCK_INFO_S = 60
STUCK_WARN_S = 300
# why-waiting answers that are expected waits, not a stuck queue
EXPECTED_WAITS = ("starts at", "retry in", "paused")


def stuck_line(view: QueueView, task: Task, position: int, why: str, now: float) -> tuple[str, str] | None:
    """("info" | "warning", text) when a task has waited longer than expected."""
    if task.status != "queued" or not why or why.startswith(EXPECTED_WAITS):
        return None
    since = max(view.queued_since.get(task.id, now), parse_iso(task.not_before) or 0.0)
    waited = now - since
    if waited < STUCK_INFO_S:
        return None
    text = f"waiting longer than expected ({short_duration(waited)}) — {position - 1} ahead, {why}"
    return ("warning" if waited >= STUCK_WARN_S else "info"), text


HOST_COLUMN = ("host", "Host", 10)
HOST_AT = 4  # before Details


def running_host(task: Task) -> str:
    """The host that runs a task, as its owner record says ("" when not running)."""
    owner = task.owner if task.status == "running" and isinstance(task.owner, dict) else {}
    return str(owner.get("host") or "")


class ActivityPanel(KeyedTable):
    COLUMNS = (("task", "Task", 7), ("state", "State", 13), ("what", "What", 12),
               ("progress", "Progress", 11), ("info", "Details", 18), ("job", "Job", 4))
    FLEX = {"what": 1, "info": 3}  # a wider terminal shows more of labels and details

    def __init__(self, view: QueueView, **kwargs) -> None:
        super().__init__(**kwargs)
        self.show_host = False  # a Host column: when tasks run on more than one host (or on the cluster engine)
        self.view = view
        self.frame = 0
        self.why: dict[int, str] = {}
        self.positions: dict[int, int] = {}
        self.queued_shown: list[int] = []

    def set_show_host(self, show: bool) -> bool:
        """Show or hide the Host column; True if that changed (every row is then made again)."""
        if show == self.show_host:
            return False
        self.show_host = show
        columns = list(ActivityPanel.COLUMNS)
        if show:
            columns.insert(HOST_AT, HOST_COLUMN)
        self.COLUMNS = tuple(columns)
        self._columns = None
        self._strips.clear()
        return True

    def header(self, name: str, count: int, what: str, more: str = "") -> tuple:
        blank = Text("")
        return (Text(name, style="bold underline"), Text(f"{count} {what}", style="bold"), Text(more, style="italic"),
                ) + (blank,) * (len(self.COLUMNS) - 3)

    def task_row(self, task: Task, now: float) -> tuple:
        row = self._task_row(task, now)
        if self.show_host:
            row = row[:HOST_AT] + (Text(running_host(task)),) + row[HOST_AT:]
        return row

    def _task_row(self, task: Task, now: float) -> tuple:
        what = task.label or task.kind
        what = Text(first_line(what, 200))
        job = Text(job_ref(task.job_id)) if task.job_id is not None else Text("")
        ref = Text(task.ref)
        if task.status == "running":
            started = parse_iso(task.started_at) or now
            info = f"{short_duration(now - started)} elapsed"
            if finalizing(task):
                info = "finalizing · " + info
            if task.progress_label:
                info += f" · {task.progress_label}"
            return (ref, status_text(task), what, progress_text(task, 6, self.frame, compact=True), Text(info), job)
        if task.status == "queued":
            pos = self.positions.get(task.id, 0)
            why = self.why.get(task.id, "")
            stuck = stuck_line(self.view, task, pos, why, now)
            if stuck:
                waited = now - max(self.view.queued_since.get(task.id, now), parse_iso(task.not_before) or 0.0)
                info = Text(("⚠ " if stuck[0] == "warning" else "ⓘ ") + f"{why} · waiting {short_duration(waited)}, longer than expected",
                            style="bold yellow" if stuck[0] == "warning" else "italic")
            else:
                info = Text(why)
            return (ref, status_text(task), what, Text(f"#{pos} · prio {task.priority}"), info, job)
        if task.status == "failed":
            hint = "r retry" if task.error_kind != "user" else "fix input, r retry"
            info = Text(f"{first_line(task.error, 160)} · {hint}", style="red")
            return (ref, status_text(task), what, Text(f"attempt {task.attempt}/{task.max_attempts}"), info, job)
        finished = parse_iso(task.finished_at) or now

        info = ago(now - finished)
        if task.status != "completed" and task.error:
            info = f"{first_line(task.error, 160)} · {info}"
        return (ref, status_text(task), what, progress_text(task, 6, self.frame, compact=True), Text(info), job)

    def sync(self, now: float, changed: set | None = None) -> None:
        """Rebuild the groups (membership changed). Rows of tasks not in `changed` are kept as
        shown (None: every row again); queued rows always, as their positions move."""
        view = self.view

        def row(tid: int):
            return None if self.keeps(f"t{tid}", tid, changed) else self.task_row(view.tasks[tid], now)

        running = view.running_order()
        queued = view.queued_order()
        self.positions = {tid: i + 1 for i, tid in enumerate(queued)}
        self.queued_shown = queued[:QUEUED_SHOWN]
        failed = view.failed_order()
        done = view.recent_done()
        rows: list[tuple[str, tuple]] = []
        rows.append(("h-running", self.header("Running", len(running), "running")))
        rows += [(f"t{t}", row(t)) for t in running]
        more = f"first {QUEUED_SHOWN} shown" if len(queued) > QUEUED_SHOWN else ""
        rows.append(("h-queued", self.header("Queued", len(queued), "queued", more)))
        rows += [(f"t{t}", self.task_row(view.tasks[t], now)) for t in self.queued_shown]
        rows.append(("h-failed", self.header("Failed", len(failed), "failed", "r retries" if failed else "")))
        rows += [(f"t{t}", row(t)) for t in failed[:FAILED_SHOWN]]
        rows.append(("h-done", self.header("Done", len(done), "recent")))
        rows += [(f"t{t}", row(t)) for t in done]
        self.reconcile(rows)

    def make_row(self, key: str, now: float) -> tuple | None:
        tid = self.task_id(key)
        task = self.view.tasks.get(tid) if tid is not None else None
        return self.task_row(task, now) if task is not None else None

    def update_tasks(self, ids, now: float) -> None:
        self.refresh_keys([f"t{t}" for t in ids], now)

    def tick(self, now: float) -> None:
        """Elapsed times, spinners, waiting reasons and ages move on (rows on screen)."""
        self.refresh_visible(now)

    @staticmethod
    def task_id(key: str | None) -> int | None:
        if key and key.startswith("t") and key[1:].isdigit():
            return int(key[1:])
        return None
