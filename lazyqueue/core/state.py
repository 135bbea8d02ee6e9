"""The queue in memory: tasks, jobs, status indexes, ready order, dedupe keys, next ids.

No I/O and no decisions. The task file (`taskfile.py`) fills it from disk and
applies each durable change to it; the lifecycle (`lifecycle.py`) decides
what a change is; the scheduler (`scheduling.py`) walks its indexes.
"""

from __future__ import annotations

import heapq
import itertools

from .models import ACTIVE, Job, Task
from .record import Factory, Record

REFILED_BY = ("status", "priority", "not_before", "expires_at")  # patched fields that move a task in the indexes


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
    in run order of queued tasks with no start time; `due_heap`:
    (not_before, id) of queued tasks that have one, moved to the ready heap
    once due (`release_due`), so a pass never walks tasks that are not due;
    `expiry_heap`: (expires_at, id). The heaps may hold stale entries (a
    task since started or changed), which whoever walks them skips.
    `queued_kinds`: queued tasks per kind; `active_jobs`: queued or running
    tasks per job. `head`: next ids and the dedupe keys of active tasks.
    """

    def __init__(self) -> None:
        self.tasks: dict[int, Task] = {}
        self.jobs: dict[int, Job] = {}
        self.head = Head()
        self._clear_indexes()

    def _clear_indexes(self) -> None:
        self.queued_ids: set[int] = set()
        self.running_ids: set[int] = set()
        self.ready_heap: list[tuple[int, int]] = []
        self.due_heap: list[tuple[str, int]] = []
        self.expiry_heap: list[tuple[str, int]] = []
        self.queued_kinds: dict[str, int] = {}
        self.active_jobs: dict[int, int] = {}

    def clear(self) -> None:
        """Forget everything (before a full read)."""
        self.tasks, self.jobs, self.head = {}, {}, Head()
        self._clear_indexes()

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
        old = self.tasks.get(task.id)
        self.tasks[task.id] = task
        if index:
            self.reindex(task, old)

    def reindex(self, task: Task, old: Task | None = None) -> None:
        """Re-file a held task after its status, priority or times changed (`old`: the record it replaced)."""
        tid = task.id
        before = old if old is not None else task
        if tid in self.queued_ids:
            self._count(self.queued_kinds, before.kind, -1)
            self._count(self.active_jobs, before.job_id, -1)
        elif tid in self.running_ids:
            self._count(self.active_jobs, before.job_id, -1)
        status = task.status
        if status == "queued":
            self.queued_ids.add(tid)
            self._push_queued(task)
            self._count(self.queued_kinds, task.kind, 1)
        else:
            self.queued_ids.discard(tid)
        if status == "running":
            self.running_ids.add(tid)
        else:
            self.running_ids.discard(tid)
        if status in ACTIVE:
            self._count(self.active_jobs, task.job_id, 1)

    def _push_queued(self, task: Task) -> None:
        if task.not_before:
            heapq.heappush(self.due_heap, (task.not_before, task.id))
        else:
            heapq.heappush(self.ready_heap, (-task.priority, task.id))
        if task.expires_at:
            heapq.heappush(self.expiry_heap, (task.expires_at, task.id))

    @staticmethod
    def _count(counts: dict, key, step: int) -> None:
        if key is None:
            return
        left = counts.get(key, 0) + step
        if left > 0:
            counts[key] = left
        else:
            counts.pop(key, None)

    def _held_queued(self, entry: tuple[str, int], field: str) -> Task | None:
        """The queued task a due or expiry entry is for, if the entry is still current."""
        task = self.tasks.get(entry[1])
        if task is None or task.status != "queued" or getattr(task, field) != entry[0]:
            return None
        return task

    def release_due(self, now_iso: str) -> None:
        """Queued tasks whose start time came join the ready order."""
        due, ready = self.due_heap, self.ready_heap
        while due and due[0][0] <= now_iso:
            task = self._held_queued(heapq.heappop(due), "not_before")
            if task is not None:
                heapq.heappush(ready, (-task.priority, task.id))

    def due_overdue(self, now_iso: str) -> list[Task]:
        """Queued tasks whose `expires_at` passed (their entries leave the expiry heap)."""
        out: list[Task] = []
        heap = self.expiry_heap
        while heap and heap[0][0] <= now_iso:
            task = self._held_queued(heapq.heappop(heap), "expires_at")
            if task is not None and task not in out:
                out.append(task)
        return out

    def next_due(self) -> str | None:
        """The earliest start time or expiry still to come of a queued task (stale heap tops dropped)."""
        found = []
        for heap, field in ((self.due_heap, "not_before"), (self.expiry_heap, "expires_at")):
            while heap and self._held_queued(heap[0], field) is None:
                heapq.heappop(heap)
            if heap:
                found.append(heap[0][0])
        return min(found) if found else None

    def drop_task(self, tid: int) -> Task | None:
        """Let go of a task (deleted or archived); answers its last record."""
        task = self.tasks.get(tid)
        if task is not None and (tid in self.queued_ids or tid in self.running_ids):
            if tid in self.queued_ids:
                self._count(self.queued_kinds, task.kind, -1)
            self._count(self.active_jobs, task.job_id, -1)
        self.queued_ids.discard(tid)
        self.running_ids.discard(tid)
        return self.tasks.pop(tid, None)

    def rebuild_indexes(self) -> None:
        """Rebuild the status sets, counts and heaps from the records (drops stale heap entries).

        Reads the fields it needs from the snapshot's index where a record was
        not parsed yet (`snapindex`), so it parses nothing.
        """
        from .snapindex import split

        self._clear_indexes()
        queued, running = self.queued_ids, self.running_ids
        ready, due, expiry = self.ready_heap, self.due_heap, self.expiry_heap
        kinds, jobs = self.queued_kinds, self.active_jobs
        held, unread = split(self.tasks, ("status", "priority", "not_before", "expires_at", "kind", "job_id"))
        every = [(t.id, t.status, t.priority, t.not_before, t.expires_at, t.kind, t.job_id) for t in held.values()]
        for tid, status, priority, not_before, expires_at, kind, job_id in itertools.chain(every, zip(*unread)):
            if status == "queued":
                queued.add(tid)
                if not_before:
                    due.append((not_before, tid))
                else:
                    ready.append((-priority, tid))
                if expires_at:
                    expiry.append((expires_at, tid))
                if kind is not None:
                    kinds[kind] = kinds.get(kind, 0) + 1
            elif status == "running":
                running.add(tid)
            else:
                continue
            if job_id is not None:
                jobs[job_id] = jobs.get(job_id, 0) + 1
        for heap in (ready, due, expiry):
            heapq.heapify(heap)

    def heaps_overgrown(self) -> bool:
        """Stale entries outnumber the live ones by far: time for `rebuild_indexes()`."""
        live = 4 * len(self.queued_ids) + 1024
        return len(self.ready_heap) > live or len(self.due_heap) > live or len(self.expiry_heap) > live

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
                if index and any(name in patch for name in REFILED_BY):
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
        from .snapindex import split

        head = self.head
        held, (ids, statuses, keys) = split(self.tasks, ("status", "dedupe_key"))
        for task in held.values():
            head.note_task({"id": task.id, "status": task.status, "dedupe_key": task.dedupe_key})
        if ids:
            head.next_task_id = max(head.next_task_id, max(ids) + 1)
        active = head.active_keys
        for tid, status, key in zip(ids, statuses, keys):
            if key:  # as note_task does, for the tasks not read yet
                if status in ACTIVE:
                    active[key] = tid
                elif active.get(key) == tid:
                    del active[key]
        for job_id in self.jobs:
            head.note_job({"id": job_id})
