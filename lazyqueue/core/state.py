"""The queue in memory: tasks, jobs, status indexes, ready order, dedupe keys, next ids.

No I/O and no decisions. The task file (`taskfile.py`) fills it from disk and
applies each durable change to it; the lifecycle (`lifecycle.py`) decides
what a change is; the scheduler (`scheduling.py`) walks its indexes.
"""

from __future__ import annotations

import heapq

from .models import ACTIVE, Job, Task
from .record import Factory, Record


class Head(Record):
    """What an append-only writer needs: next ids and the active dedupe keys."""

    next_task_id: int = 1
    next_job_id: int = 1
    active_keys: dict = Factory(dict)

    def note_task(self, data: dict) -> None:
        """Keep the next id past `data["id"]` and its dedupe key current for its status."""
        tid = data["id"]
        if tid >= self.next_task_id:
            self.next_task_id = tid + 1
        key = data.get("dedupe_key")
        if key:
            if data.get("status") in ACTIVE:
                self.active_keys[key] = tid
            elif self.active_keys.get(key) == tid:
                del self.active_keys[key]

    def note_job(self, data: dict) -> None:
        """Keep the next job id past `data["id"]`."""
        if data["id"] >= self.next_job_id:
            self.next_job_id = data["id"] + 1


class Change(Record):
    """One durable mutation: records to put, fields to patch, ids to delete."""

    tasks: list = Factory(list)
    jobs: list = Factory(list)
    patches: list = Factory(list)  # [{"id": n, field: value, ...}]
    del_tasks: list = Factory(list)
    del_jobs: list = Factory(list)

    def __bool__(self) -> bool:
        return bool(self.tasks or self.jobs or self.patches or self.del_tasks or self.del_jobs)


class QueueState:
    """Every live task and job of one queue, and the indexes kept beside them.

    `queued_ids` / `running_ids`: ids by status. `ready_heap`: (-priority, id)
    in run order; it may hold stale entries (a task since started or
    re-prioritised), which whoever walks it skips. `head`: next ids and the
    dedupe keys of active tasks.
    """

    def __init__(self) -> None:
        self.tasks: dict[int, Task] = {}
        self.jobs: dict[int, Job] = {}
        self.head = Head()
        self.queued_ids: set[int] = set()
        self.running_ids: set[int] = set()
        self.ready_heap: list[tuple[int, int]] = []

    def clear(self) -> None:
        """Forget everything (before a full read)."""
        self.tasks, self.jobs, self.head = {}, {}, Head()
        self.queued_ids, self.running_ids, self.ready_heap = set(), set(), []

    # ---------------------------------------------------------------- ids
    def next_task_id(self) -> int:
        """Hand out a task id (persisted by the commit that uses it)."""
        tid = self.head.next_task_id
        self.head.next_task_id += 1
        return tid

    def next_job_id(self) -> int:
        """Hand out a job id (persisted by the commit that uses it)."""
        jid = self.head.next_job_id
        self.head.next_job_id += 1
        return jid

    # ---------------------------------------------------------------- indexes
    def put_task(self, task: Task, index: bool = True) -> None:
        """Hold `task` (replacing its older record) and keep the indexes current."""
        self.tasks[task.id] = task
        if index:
            self.reindex(task)

    def reindex(self, task: Task) -> None:
        """Re-file a held task after its status or priority changed."""
        tid = task.id
        if task.status == "queued":
            self.queued_ids.add(tid)
            heapq.heappush(self.ready_heap, (-task.priority, tid))
        else:
            self.queued_ids.discard(tid)
        if task.status == "running":
            self.running_ids.add(tid)
        else:
            self.running_ids.discard(tid)

    def drop_task(self, tid: int) -> Task | None:
        """Let go of a task (deleted or archived); answers its last record."""
        self.queued_ids.discard(tid)
        self.running_ids.discard(tid)
        return self.tasks.pop(tid, None)

    def rebuild_indexes(self) -> None:
        """Rebuild the status sets and the ready heap from the records (drops stale heap entries)."""
        self.queued_ids = {t.id for t in self.tasks.values() if t.status == "queued"}
        self.running_ids = {t.id for t in self.tasks.values() if t.status == "running"}
        self.ready_heap = [(-self.tasks[i].priority, i) for i in self.queued_ids]
        heapq.heapify(self.ready_heap)

    # ---------------------------------------------------------------- applying changes
    def apply(self, entry: dict, full: bool, changed_t: set, changed_j: set, index: bool = True) -> None:
        """Apply one journal entry (plain JSON: records, patches, deletes, next ids).

        `full`: keep the records; else only the head (next ids, dedupe keys).
        The ids of what changed are added to `changed_t` / `changed_j`.
        """
        head = self.head
        for rec in entry.get("jobs", ()):
            head.note_job(rec)
            if full:
                job = Job.from_dict(rec)
                self.jobs[job.id] = job
                changed_j.add(job.id)
        for rec in entry.get("tasks", ()):
            head.note_task(rec)
            if full:
                task = Task.from_dict(rec)
                self.put_task(task, index)
                changed_t.add(task.id)
        for patch in entry.get("patches", ()):
            if full and patch["id"] in self.tasks:
                task = self.tasks[patch["id"]]
                for name, value in patch.items():
                    if name != "id":
                        setattr(task, name, value)
                if index and ("status" in patch or "priority" in patch):
                    self.reindex(task)
                changed_t.add(task.id)
        for tid in entry.get("del_tasks", ()):
            if full:
                gone = self.drop_task(tid)
                if gone is not None:
                    changed_t.add(tid)
                    if gone.dedupe_key and head.active_keys.get(gone.dedupe_key) == tid:
                        del head.active_keys[gone.dedupe_key]
            else:
                for key, value in list(head.active_keys.items()):
                    if value == tid:
                        del head.active_keys[key]
        for jid in entry.get("del_jobs", ()):
            if full and self.jobs.pop(jid, None) is not None:
                changed_j.add(jid)
        if "next_task_id" in entry:
            head.next_task_id = max(head.next_task_id, entry["next_task_id"])
        if "next_job_id" in entry:
            head.next_job_id = max(head.next_job_id, entry["next_job_id"])

    def apply_change(self, change: Change, entry: dict, full: bool) -> None:
        """Apply a change just made durable; `entry` is the journal line written for it.

        Records handed in as objects become the ones held (no copy, no parse).
        """
        for job in change.jobs:
            if isinstance(job, Job):
                self.head.note_job({"id": job.id})
                if full:
                    self.jobs[job.id] = job
        for task in change.tasks:
            if isinstance(task, Task):
                self.head.note_task({"id": task.id, "status": task.status, "dedupe_key": task.dedupe_key})
                if full:
                    self.put_task(task)
        if change.patches or change.del_tasks or change.del_jobs:
            sub = {k: v for k, v in entry.items() if k in ("patches", "del_tasks", "del_jobs")}
            self.apply(sub, full, set(), set())

    # ---------------------------------------------------------------- counting
    def note_loaded(self) -> None:
        """After a snapshot was read record by record: derive the head from the records."""
        head = self.head
        for task in self.tasks.values():
            head.note_task({"id": task.id, "status": task.status, "dedupe_key": task.dedupe_key})
        for job_id in self.jobs:
            head.note_job({"id": job_id})
