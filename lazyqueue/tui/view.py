"""The TUI's one root-scoped view of the queue, kept current from events.

Filled once from `Queue.snapshot()` at mount, then updated from the events the
bridge hands over (on the UI thread). Widgets read it; nothing here touches a
widget. Indexes keep per-frame work proportional to what is on screen, not to
the history size.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from ..core import events as ev
from ..core.models import Job, Task, parse_iso
from .ranking import TopN

RECENT_DONE = 10
RECENT_JOBS_KEPT = 1024  # the job list reads 200 of them first, more as it is scrolled
DONE_STATUSES = ("completed", "cancelled", "expired")


@dataclass
class Transition:
    """A state change worth telling the user once (a toast)."""

    task: Task
    old: str | None
    new: str
    data: dict = field(default_factory=dict)


@dataclass
class Changes:
    tasks: set = field(default_factory=set)
    jobs: set = field(default_factory=set)
    order: bool = False  # membership of a group or a job's activity changed
    transitions: list = field(default_factory=list)
    worker: bool = False
    removed_jobs: set = field(default_factory=set)
    reload: bool = False  # the file changed in a way the event does not detail (prune): read it again

    def __bool__(self) -> bool:
        return bool(self.tasks or self.jobs or self.order or self.worker)


def _ts(value: str | None) -> float:
    return parse_iso(value) or 0.0 if value else 0.0


class QueueView:
    def __init__(self, clock: Callable[[], float] = time.time, job_loader: Callable[[int], Job] | None = None):
        self.clock = clock
        # task-queued events of a fresh enqueue carry no job: look it up once
        self.job_loader = job_loader
        self.tasks: dict[int, Task] = {}
        self.jobs: dict[int, Job] = {}
        self.by_job: dict[int, set[int]] = {}
        self.by_status: dict[str, set[int]] = {s: set() for s in ("queued", "running", "completed", "failed", "cancelled", "expired")}
        self.job_activity: dict[int, float] = {}
        self.queued_since: dict[int, float] = {}
        self.dismissed: set[int] = set()
        self.completed_at: dict[int, float] = {}  # for "done today" without re-parsing history
        self.paused = False
        self.worker_error: str | None = None
        self.workers_note: str | None = None  # what runs the work: "run by this window", "3 workers on 2 hosts"
        self.workers_forms: tuple[str, ...] = ()  # the same, then shorter
        self.show_hosts = False  # tasks run on more than one host, or on the cluster engine: say which runs each
        # the leaders the screen shows, kept up to date instead of sorting the history on each change
        self.recent_jobs = TopN(RECENT_JOBS_KEPT, key=lambda j: self.job_activity.get(j, 0.0), universe=lambda: self.jobs.keys())
        self.done_ids = TopN(4 * RECENT_DONE, key=lambda t: self.tasks[t].finished_at or "", universe=self._done)

    # ------------------------------------------------------------------ loading
    def load(self, tasks: dict[int, Task], jobs: dict[int, Job]) -> None:
        self.tasks, self.jobs = {}, dict(jobs)
        self.by_job = {}
        self.completed_at = {}
        for s in self.by_status.values():
            s.clear()
        self.job_activity = {jid: _ts(j.updated_at or j.created_at) for jid, j in jobs.items()}
        self.recent_jobs.invalidate()
        self.done_ids.invalidate()
        for task in tasks.values():
            self._put(task)

    def _put(self, task: Task) -> str | None:
        old = self.tasks.get(task.id)
        old_status = old.status if old else None
        if old is not None and old.job_id != task.job_id and old.job_id in self.by_job:
            self.by_job[old.job_id].discard(task.id)
        if old_status is not None and old_status != task.status:
            self.by_status[old_status].discard(task.id)
        self.tasks[task.id] = task
        self.by_status.setdefault(task.status, set()).add(task.id)
        if task.job_id is not None:
            self.by_job.setdefault(task.job_id, set()).add(task.id)
            stamp = _ts(task.finished_at or task.started_at or task.updated_at or task.created_at)
            if stamp > self.job_activity.get(task.job_id, 0.0):
                self.job_activity[task.job_id] = stamp
                if task.job_id in self.jobs:  # a job not read yet is ranked when it arrives
                    self.recent_jobs.update(task.job_id)
        if task.status == "queued":
            if old_status != "queued" or task.id not in self.queued_since:
                self.queued_since[task.id] = _ts(task.updated_at or task.created_at)
        else:
            self.queued_since.pop(task.id, None)
        if task.status != "failed":
            self.dismissed.discard(task.id)
        if task.status in DONE_STATUSES:
            self.done_ids.update(task.id)
        elif old_status in DONE_STATUSES:
            self.done_ids.remove(task.id)
        if task.status == "completed":
            if old_status != "completed" or task.id not in self.completed_at:
                self.completed_at[task.id] = _ts(task.finished_at)
        else:
            self.completed_at.pop(task.id, None)
        return old_status

    def _drop(self, tid: int) -> None:
        if tid in self.tasks:
            self.done_ids.remove(tid)
        task = self.tasks.pop(tid, None)
        if task is None:
            return
        self.by_status.get(task.status, set()).discard(tid)
        if task.job_id in self.by_job:
            self.by_job[task.job_id].discard(tid)
        self.queued_since.pop(tid, None)
        self.dismissed.discard(tid)
        self.completed_at.pop(tid, None)

    def _drop_job(self, jid: int) -> None:
        self.recent_jobs.remove(jid)
        self.jobs.pop(jid, None)
        self.job_activity.pop(jid, None)
        for tid in list(self.by_job.pop(jid, ())):
            self._drop(tid)

    # ------------------------------------------------------------------ events
    def apply(self, events: list, changes: Changes | None = None) -> Changes:
        """Apply core events in order; collect what changed and what to announce."""
        changes = changes or Changes()
        for event in events:
            self._apply_one(event, changes)
        return changes

    def _apply_one(self, event: ev.Event, ch: Changes) -> None:
        kind = event.type
        if kind == ev.WORKER_STATE:
            if "paused" in event.data:
                self.paused = bool(event.data["paused"])
            if "error" in event.data:
                self.worker_error = event.data["error"]
            ch.worker = True  # the status line and why queued tasks wait: nothing moves
            return
        if kind == ev.STORE_RELOADED:
            if "tasks" not in event.data and "jobs" not in event.data:
                ch.reload = True
                return
            for task in event.data.get("tasks", ()):
                self._task_changed(task, ch, {})
            for tid in event.data.get("removed_tasks", ()):
                task = self.tasks.get(tid)
                if task is not None:
                    ch.jobs.add(task.job_id)
                self._drop(tid)
                ch.tasks.add(tid)
                ch.order = True
            for job in event.data.get("jobs", ()):
                self._job_changed(job, ch)
            for jid in event.data.get("removed_jobs", ()):
                self._drop_job(jid)
                ch.removed_jobs.add(jid)
                ch.jobs.add(jid)
                ch.order = True
            return
        if kind == ev.JOB_UPDATED:
            job = event.job
            if job is None:
                return
            if event.data.get("deleted"):
                self._drop_job(job.id)
                ch.removed_jobs.add(job.id)
                ch.jobs.add(job.id)
                ch.order = True
            else:
                self._job_changed(job, ch)
            return
        task = event.task
        if task is None:
            return
        if kind == ev.TASK_UPDATED and event.data.get("deleted"):
            self._drop(task.id)
            ch.tasks.add(task.id)
            ch.jobs.add(task.job_id)
            ch.order = True
            return
        if kind == ev.TASK_PROGRESS:
            current = self.tasks.get(task.id)
            if current is None or current.status != "running" or task.status != "running":
                return  # a stale report overtaken by a transition
            current.progress, current.progress_label, current.meta = task.progress, task.progress_label, task.meta
            ch.tasks.add(task.id)
            if current.job_id is not None:
                ch.jobs.add(current.job_id)
            return
        if event.job is not None and event.job.id not in self.jobs:
            self._job_changed(event.job, ch)
        self._task_changed(task, ch, event.data)

    def _task_changed(self, task: Task, ch: Changes, data: dict) -> None:
        current = self.tasks.get(task.id)
        if current is not None and task.updated_at and current.updated_at and task.updated_at < current.updated_at:
            return  # older copy than what we hold (an event from before the snapshot)
        if task.job_id is not None and task.job_id not in self.jobs and self.job_loader is not None:
            try:
                self._job_changed(self.job_loader(task.job_id), ch)
            except Exception:  # deleted meanwhile: the task shows without its job
                pass
        old = self._put(task)
        ch.tasks.add(task.id)
        if task.job_id is not None:
            ch.jobs.add(task.job_id)
        if old != task.status:
            ch.order = True
            ch.transitions.append(Transition(task, old, task.status, dict(data)))
        elif data.get("cancel_too_late") or data.get("retry_in") is not None:
            ch.transitions.append(Transition(task, old, task.status, dict(data)))

    def _job_changed(self, job: Job, ch: Changes) -> None:
        is_new = job.id not in self.jobs
        self.jobs[job.id] = job
        stamp = _ts(job.updated_at or job.created_at)
        if stamp > self.job_activity.get(job.id, 0.0):
            self.job_activity[job.id] = stamp
            ch.order = True
        if is_new:
            ch.order = True
        if is_new or ch.order:
            self.recent_jobs.update(job.id)
        ch.jobs.add(job.id)

    # ------------------------------------------------------------------ reads
    def ids(self, status: str) -> set[int]:
        return self.by_status.get(status, set())

    def queued_order(self) -> list[int]:
        """Queued task ids in run order (priority, then FIFO): index + 1 is the position."""
        return sorted(self.ids("queued"), key=lambda t: (-self.tasks[t].priority, t))

    def running_order(self) -> list[int]:
        return sorted(self.ids("running"), key=lambda t: (self.tasks[t].started_at or "", t))

    def failed_order(self) -> list[int]:
        ids = [t for t in self.ids("failed") if t not in self.dismissed]
        return sorted(ids, key=lambda t: self.tasks[t].finished_at or "", reverse=True)

    def _done(self) -> set[int]:
        return self.ids("completed") | self.ids("cancelled") | self.ids("expired")

    def recent_done(self, n: int = RECENT_DONE) -> list[int]:
        return self.done_ids.top(n)

    def job_tasks(self, jid: int) -> list[Task]:
        return sorted((self.tasks[t] for t in self.by_job.get(jid, ())), key=lambda t: t.id)

    def primary_task(self, jid: int) -> Task | None:
        """The task that best says what a job is doing: running, queued, failed, else the latest."""
        tasks = self.job_tasks(jid)
        if not tasks:
            return None
        for status in ("running", "queued"):
            active = [t for t in tasks if t.status == status]
            if active:
                return active[0]
        failed = [t for t in tasks if t.status == "failed" and t.id not in self.dismissed]
        if failed:
            return failed[-1]
        return tasks[-1]

    def jobs_by_activity(self, limit: int, text: str = "") -> tuple[list[int], int]:
        """(most recently active job ids up to `limit`, how many match in all)."""
        ids = self.jobs.keys()
        if text:
            needle = text.lower()
            ids = [j for j in ids if needle in self._job_haystack(j)]
            total = len(ids)
            return heapq.nlargest(limit, ids, key=lambda j: (self.job_activity.get(j, 0.0), j)), total
        return self.recent_jobs.top(limit), len(ids)

    def _job_haystack(self, jid: int) -> str:
        job = self.jobs[jid]
        parts = [f"#{jid:03d}", job.title, job.stage]
        for tid in self.by_job.get(jid, ()):
            t = self.tasks[tid]
            parts += [f"t{tid}", t.kind, t.label, t.status]
        return " ".join(p for p in parts if p).lower()

    def running_hosts(self) -> set[str]:
        """The hosts the running tasks' owners name."""
        hosts = set()
        for tid in self.ids("running"):
            owner = self.tasks[tid].owner
            if isinstance(owner, dict) and owner.get("host"):
                hosts.add(str(owner["host"]))
        return hosts

    def done_today(self) -> int:
        today = datetime.fromtimestamp(self.clock()).date()
        start = datetime(today.year, today.month, today.day).timestamp()
        return sum(1 for ts in self.completed_at.values() if ts >= start)
