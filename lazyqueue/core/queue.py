"""The queue facade: enqueue, retry, cancel, query, subscribe, run a worker.

This is the API an application uses:

    from lazyqueue import Queue
    q = Queue("~/.local/share/myapp/queue")

    @q.kind("thumbnail", concurrency=2, max_attempts=3)
    def thumbnail(ctx):
        ctx.progress(50, "resizing")
        return {"path": "..."}

    q.start_worker()
    task, deduplicated = q.enqueue("thumbnail", {"input": "a.png"})
"""

from __future__ import annotations

import os
import time
from pathlib import Path
TYPE_CHECKING = False  # typing is not imported at run time: `lazyqueue add` starts faster
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable

from . import events as ev
from . import lifecycle
from .config import Config, apply_config, load_config
from .encoded import json_bytes
from .errors import LazyQueueError, NotFound, StoreError, UsageError
from .models import (
    ACTIVE, CANCELLED, COMPLETED, FINISHED, PRIORITY_MAX, PRIORITY_MIN, QUEUED, RETRYABLE_STATUSES,
    RUNNING, Job, PruneReport, Task, iso, parse_iso, task_ref,
)
from .paths import NOFOLLOW, config_path, state_dir
from .record import Record
from .registry import Registry
from .line import Line
from .scheduling import Caps, queue_position, slot_order, wait_reason
from .state import Change, QueueState
from .taskfile import TaskFile


class Enqueued(tuple):
    """(task, deduplicated): what enqueue answers."""

    __slots__ = ()

    def __new__(cls, task: Task, deduplicated: bool) -> "Enqueued":
        return tuple.__new__(cls, (task, deduplicated))

    @property
    def task(self) -> Task:
        return self[0]

    @property
    def deduplicated(self) -> bool:
        return self[1]

    def __repr__(self) -> str:
        return f"Enqueued(task={self[0]!r}, deduplicated={self[1]!r})"


# what cancel() answers
CANCEL_DONE = "cancelled"  # was queued: cancelled now
CANCEL_SIGNALLED = "cancelling"  # running: signalled, ends cancelled when it stops
CANCEL_TOO_LATE = "too-late"  # it had already completed
CANCEL_NOTHING = "finished"  # failed/cancelled/expired already


class TaskSpec(Record):
    """One task to enqueue (for `enqueue_many`)."""

    kind: str
    payload: dict | None = None
    job: int | None = None
    title: str | None = None
    priority: int | None = None
    dedupe_key: str | None = None
    after: Iterable[int] = ()
    max_attempts: int | None = None
    timeout: float | None = None
    delay: float | None = None
    expires: float | None = None
    label: str | None = None
    meta: dict | None = None


class Queue:
    """A persisted queue on one state directory: the local engine (task file, state, worker).

    `home`: the state directory (default: --home / LAZYQUEUE_HOME / platform dir).
    `config`: a Config, a path to a TOML file, or None for the default file.
    `registry`: the kinds (default: an empty registry).
    `kinds(registry, config)`: wires kinds in from above the core — built-ins,
    the config's command kinds (`lazyqueue.kinds.wire`; `lazyqueue.Queue`
    passes it). Without it the config's overrides still apply, and its command
    kinds are known but have no handler in this process.
    `light=True` reads only what enqueues need (used by `lazyqueue add`).
    """

    distributed = False  # this machine's work runs in a worker of this state directory

    def __init__(
        self,
        home: str | Path | None = None,
        config: Config | str | Path | None = None,
        registry: Registry | None = None,
        *,
        light: bool = False,
        plugins: bool = True,
        kinds: Callable[[Registry, Config], None] | None = None,
    ):
        if isinstance(config, Config):
            self.config = config
        else:
            path, named = config_path(config)
            self.config = load_config(path, required=named, cache_dir=state_dir(home))
        self.registry = registry if registry is not None else Registry()
        self.warnings: list[str] = []
        if plugins:
            self.registry.defer_plugins()
        if kinds is not None:
            kinds(self.registry, self.config)
        else:
            apply_config(self.config, self.registry, None)
        self.home = state_dir(home)
        self.state = QueueState()
        self.taskfile = TaskFile(self.home, self.config.retention, self.state)
        self.events = ev.EventBus()
        self.worker = None
        self._feed = None  # other processes' changes as events, once someone subscribes
        self._stop_asked = False  # a signal that came before run_worker() had made its worker
        self._active_cache = None  # (file signature, the queued and running tasks) of a light queue
        if not light:
            self.taskfile.load()
        self._after_read()

    def take_warnings(self) -> list[str]:
        """The notices gathered since the last call (files set aside, config problems), each once."""
        self._after_read()
        taken, self.warnings = self.warnings, []
        return taken

    def _after_read(self) -> None:
        if self.registry.warnings:
            self.warnings += self.registry.warnings
            self.registry.warnings = []
        if self.taskfile.warnings:
            self.warnings += self.taskfile.warnings
            self.taskfile.warnings = []
            self.taskfile.ensure_snapshot()

    # ---------------------------------------------------------------- kinds
    def kind(self, name: str | None = None, **options: Any) -> Callable:
        """Decorator registering a handler: `@queue.kind("thumb", concurrency=2)`."""
        return self.registry.kind(name, **options)

    # ---------------------------------------------------------------- enqueue
    def enqueue(self, kind: str, payload: dict | None = None, **options: Any) -> Enqueued:
        """Queue one task; durable before it returns. Answers (task, deduplicated)."""
        return self.enqueue_many([TaskSpec(kind, payload, **options)])[0]

    def enqueue_many(self, specs: list[TaskSpec]) -> list[Enqueued]:
        """Queue several tasks with one durable write (all or nothing)."""
        results: list[Enqueued] = []
        made: list[lifecycle.Transition] = []
        # this process's worker, when its loop runs, claims in the same write (one fsync, no wake)
        joined = self.worker.joining() if self.worker is not None else None
        try:
            with self.events.after_write(self.taskfile.lock) as published:
                self._catch_up()
                full = self.taskfile.loaded
                change = Change()
                now = time.time()
                batch_keys: dict[str, Task] = {}
                for spec in specs:
                    moved, dup = lifecycle.enqueue(
                        self.state, self.registry.get(spec.kind), spec.payload or {}, full=full,
                        find=self.taskfile.find_light, archived=self.taskfile.archived_task, batch_keys=batch_keys,
                        job_id=spec.job, title=spec.title, priority=spec.priority, dedupe_key=spec.dedupe_key,
                        after=list(spec.after or ()), max_attempts=spec.max_attempts, timeout=spec.timeout,
                        delay=spec.delay, expires=spec.expires, label=spec.label, meta=spec.meta, now=now,
                    )
                    results.append(Enqueued(moved.task, dup is not None))
                    if dup is None:
                        if moved.job is not None:
                            change.jobs.append(moved.job)
                        change.tasks.append(moved.task)
                        made.append(moved)
                if joined is not None:
                    self.taskfile.stage(change)  # written with the pass below: one line
                else:
                    self.taskfile.commit(change)
                # out once durable, and before a worker that claims the task now can announce its start
                if self.events.wants(ev.TASK_QUEUED):  # `lazyqueue add` has no listener: no copies for nobody
                    published += [m.announce(m.job or (self.state.jobs.get(m.task.job_id) if full else None))
                                  for m in made]
                if joined is not None:
                    if made:
                        joined.run(published)
                    self.taskfile.commit_staged()
                self._after_read()
        except BaseException as exc:
            if joined is not None:
                joined.close(exc)
            raise
        if joined is not None:
            joined.close()
            if joined.ran:
                return results
        if self.worker is not None and made:
            self.worker.wake()
        elif made:
            from . import wake

            wake.notify(self.home)  # an idle worker in another process starts it now, not at its next poll
        return results

    def _catch_up(self) -> None:
        if self.taskfile.loaded:
            self.taskfile.sync()
        else:
            self.taskfile.head()

    # ---------------------------------------------------------------- queries
    def get(self, task_id: int) -> Task:
        """A copy of one task (live file, else the archive).

        A light queue (`light=True`) reads the one record from the file, not every task.
        """
        if not self.taskfile.loaded:
            readable, found = self._read_one("task", task_id)
            if found is not None:
                return found
            if readable:  # not in the live file: the archive, without loading the live file
                rec = self.taskfile.archived_task(task_id)
                if rec is not None:
                    return Task.from_dict(rec)
                raise NotFound(f"no task {task_ref(task_id)}")
        with self.taskfile.lock:
            self._catch_up_full()
            task = self.state.tasks.get(task_id)
            if task is not None:
                return task.copy()
            rec = self.taskfile.archived_task(task_id)
        if rec is not None:
            return Task.from_dict(rec)
        raise NotFound(f"no task {task_ref(task_id)}")

    def job(self, job_id: int) -> Job:
        if not self.taskfile.loaded:
            readable, found = self._read_one("job", job_id)
            if found is not None:
                return found
            if readable:
                raise NotFound(f"no job #{job_id:03d}")
        with self.taskfile.lock:
            self._catch_up_full()
            job = self.state.jobs.get(job_id)
            if job is None:
                raise NotFound(f"no job #{job_id:03d}")
            return job.copy()

    def _read_one(self, what: str, ident: int) -> tuple[bool, Any]:
        """(readable, the task or job or None) read from the file alone; readable False: load it instead."""
        from . import reader

        try:
            with reader.View(self.home) as view:
                return True, (view.task(ident) if what == "task" else view.job(ident))
        except reader.Unreadable:
            return False, None

    def tasks(self, status: str | Iterable[str] | None = None, kind: str | None = None, job: int | None = None) -> list[Task]:
        """Copies of live tasks, oldest first, filtered."""
        statuses = {status} if isinstance(status, str) else (set(status) if status else None)
        active = self._light_active() if statuses and statuses <= ACTIVE else None
        if active is not None:  # a light queue: the queued and running tasks alone, read from the file
            return [t.copy() for t in active.tasks.values() if t.status in statuses
                    and (kind is None or t.kind == kind) and (job is None or t.job_id == job)]
        with self.taskfile.lock:
            self._catch_up_full()
            out = [
                t.copy() for t in self.state.tasks.values()
                if (statuses is None or t.status in statuses)
                and (kind is None or t.kind == kind)
                and (job is None or t.job_id == job)
            ]
        out.sort(key=lambda t: t.id)
        return out

    def recent_tasks(self, limit: int, status: str | None = None, kind: str | None = None,
                     job: int | None = None) -> tuple[list[Task], int]:
        """The newest `limit` matching live tasks, oldest first, and how many older ones match.

        A light queue reads them from the file a record at a time, without loading every task.
        """
        if not self.taskfile.loaded:
            from . import reader

            needles = [json_bytes({name: value})[1:-1]
                       for name, value in (("status", status), ("kind", kind), ("job_id", job)) if value]
            try:
                with reader.View(self.home) as view:
                    found = view.page(limit, status, kind, job)  # through tasks.idx: only the page is read
                    if found is None:
                        found = view.tail(limit, _record_filter(status, kind, job), tuple(needles))
                    page, older = found
            except reader.Unreadable:
                pass  # the full read below reads it (and sets damage aside)
            else:
                return [Task.from_dict(rec) for rec in page], older
        tasks = self.tasks(status=status, kind=kind, job=job)
        return tasks[-limit:], max(0, len(tasks) - limit)

    def write_tasks_json(self, out, status: str | None = None, kind: str | None = None,
                         job: int | None = None) -> bool:
        """Write the matching live tasks to `out` as a JSON array, read from the file a record at a time.

        False when the file cannot be read that way and nothing was written (`tasks()` reads it).
        """
        from . import reader

        try:
            with reader.View(self.home) as view:
                reader.stream_json(view, out, _record_filter(status, kind, job))
        except reader.Unreadable as exc:
            if not getattr(exc, "started", False):
                return False
            raise StoreError(f"{self.taskfile.path}: {exc}; the listing is incomplete "
                             "('lazyqueue ls' reads the whole file and sets damage aside)") from None
        return True

    def jobs(self) -> list[Job]:
        with self.taskfile.lock:
            self._catch_up_full()
            return [j.copy() for j in sorted(self.state.jobs.values(), key=lambda j: j.id)]

    def snapshot(self) -> tuple[dict[int, Task], dict[int, Job]]:
        """Copies of every live task and job, taken under the lock at one instant."""
        with self.taskfile.lock:
            self._catch_up_full()
            return ({k: t.copy() for k, t in self.state.tasks.items()},
                    {k: j.copy() for k, j in self.state.jobs.items()})

    def _catch_up_full(self) -> None:
        if not self.taskfile.loaded:
            self.taskfile.load()
        else:
            # even with a worker running: its loop may not have seen another process's
            # write yet, and a commit on stale memory would reuse a journal seq (and be lost)
            self.taskfile.sync()
        self._after_read()

    def caps(self) -> Caps:
        """The caps in force (the worker's global cap if one runs here, else the config's)."""
        return self.registry.caps(self.worker.concurrency if self.worker else self.config.concurrency)

    def _light_active(self) -> QueueState | None:
        """A light queue's queued and running tasks (all a wait reason depends on), read from the file
        without loading the rest and kept while the file is unchanged; None: loaded, or not readable so."""
        if self.taskfile.loaded:
            return None
        from . import reader

        sig = self.taskfile.disk_signature()
        cached = self._fresh_active(sig)
        if cached is not None:
            return cached
        try:
            with reader.View(self.home) as view:
                active = view.active()
        except reader.Unreadable:
            return None
        state = QueueState()
        state.tasks = {t.id: t for t in active}
        state.rebuild_indexes()
        self._active_cache = (sig, state)
        return state

    def _fresh_active(self, sig: tuple | None = None) -> QueueState | None:
        """The active tasks `_light_active()` read, while the file is as it was then; else None."""
        cached = self._active_cache
        if cached is None or cached[0] != (self.taskfile.disk_signature() if sig is None else sig):
            return None
        return cached[1]

    def _own_wait(self, task_id: int, now: float | None) -> str | None:
        """A light queue's task whose own record tells its wait (a start time to come, no `after`):
        that wait, read without the other tasks (it comes before any cap); else None."""
        if self.taskfile.loaded:
            return None
        cached = self._fresh_active()  # `ls` asks for every queued task: one read of them all, not one per task
        if cached is not None:
            task = cached.tasks.get(task_id)
        else:
            _readable, task = self._read_one("task", task_id)
        if task is None or task.status != QUEUED or task.after or not task.not_before:
            return None
        if (parse_iso(task.not_before) or 0) <= (time.time() if now is None else now):
            return None
        return wait_reason(QueueState(), task, self.caps(), now=now)

    def _finished_record(self, task_id: int) -> dict | None:
        """A task that is no longer active (a dependency): its live record, else its archived one."""
        readable, found = self._read_one("task", task_id)
        if found is not None:
            return found.to_dict()
        return self.taskfile.archived_task(task_id)

    def why_waiting(self, task_id: int, now: float | None = None) -> str:
        """Why a queued task is not running yet, in words ("cap full: encode 1/1")."""
        own = self._own_wait(task_id, now)
        if own is not None:
            return own
        active = self._light_active()
        if active is not None:
            task = active.tasks.get(task_id)
            if task is None:
                return ""
            return wait_reason(active, task, self.caps(), now=now, archived=self._finished_record)
        with self.taskfile.lock:
            if not self.taskfile.loaded:
                self._catch_up_full()  # a light queue the reader cannot read: load it all
            task = self.state.tasks.get(task_id)
            if task is None:
                return ""
            paused = bool(self.worker and self.worker.paused)
            return wait_reason(self.state, task, self.caps(), paused=paused, now=now, archived=self.taskfile.archived_task)

    def queued_line(self, tasks: list[Task], now: float | None = None) -> Line | None:
        """Why each of these queued tasks waits, and the line of tasks waiting for a slot (`Line`),
        judged from the index's columns without reading the other records; None: a loaded queue
        or no index to trust (the caller works it out from `tasks()` and `why_waiting()`)."""
        if self.taskfile.loaded:
            return None
        from . import reader
        from .snapindex import find_row

        try:
            with reader.View(self.home) as view:
                cols = view.columns(("status", "priority", "kind", "not_before", "after"))
        except reader.Unreadable:
            return None
        if cols is None:
            return None
        now = time.time() if now is None else now
        ids, statuses, kinds = cols["id"], cols["status"], cols["kind"]
        total_cap = self.worker.concurrency if self.worker else self.config.concurrency
        caps = self.registry.caps(total_cap, only=set(kinds))

        def status_of(tid: int) -> str | None:
            row = find_row(ids, tid)
            if row is not None:
                return statuses[row]
            rec = self.taskfile.archived_task(tid)
            return rec.get("status") if rec else None

        by_kind: dict[str, int] = {}
        if RUNNING in statuses:
            for row in [row for row, status in enumerate(statuses) if status == RUNNING]:
                by_kind[kinds[row]] = by_kind.get(kinds[row], 0) + 1
        total = sum(n for kind, n in by_kind.items() if kind not in caps.exempt)
        ok = {kind for kind in caps.per_kind if kind not in caps.exempt}
        order, counts = slot_order(ids, statuses, cols["priority"], kinds, cols["not_before"], cols["after"],
                                   ok, status_of, iso(now), {t.priority for t in tasks})

        def archived(tid: int) -> dict | None:
            status = status_of(tid)
            return {"status": status} if status else None

        reasons = {t.id: wait_reason(QueueState(), t, caps, now=now, archived=archived, counts=(total, by_kind))
                   for t in tasks}
        return Line(reasons=reasons, counts=counts, order=order, free=max(0, caps.total - total), exempt=caps.exempt)

    def position(self, task_id: int) -> int:
        active = self._light_active()
        if active is not None:
            task = active.tasks.get(task_id)
            return queue_position(active, task) if task else 0
        with self.taskfile.lock:
            if not self.taskfile.loaded:
                self._catch_up_full()
            task = self.state.tasks.get(task_id)
            return queue_position(self.state, task) if task else 0

    # ---------------------------------------------------------------- changes
    def retry(self, task_ids: Iterable[int]) -> list[Enqueued]:
        """Queue failed/cancelled/expired tasks again with a fresh attempt budget."""
        out: list[Enqueued] = []
        moves: list[lifecycle.Transition] = []
        with self.events.after_write(self.taskfile.lock) as published:
            self._catch_up_full()
            now = time.time()
            keys: dict[str, int] = {}  # a second id in this call with the same key answers "already queued"
            for tid in task_ids:
                task = self.state.tasks.get(tid)
                if task is None:
                    raise NotFound(f"no task {task_ref(tid)} in the live queue")
                moved = lifecycle.retry(task, now)  # raises if there is nothing to retry
                if task.dedupe_key:
                    other = keys.get(task.dedupe_key, self.state.head.active_keys.get(task.dedupe_key))
                    current = next((m.task for m in moves if m.task.id == other), None) or self.state.tasks.get(other)
                    if other is not None and other != tid and current is not None and current.active \
                            and current.dedupe_key == task.dedupe_key:  # (an edit moves keys)
                        out.append(Enqueued(current.copy(), True))
                        continue
                if task.dedupe_key:
                    keys[task.dedupe_key] = tid
                moves.append(moved)
                out.append(Enqueued(moved.task.copy(), False))
            self.taskfile.commit(Change(tasks=[m.task for m in moves]))
            published += [moved.announce() for moved in moves]
        if self.worker is not None:
            self.worker.wake()
        return out

    def retry_failed(self) -> list[Enqueued]:
        ids = [t.id for t in self.tasks(status="failed")]
        return self.retry(ids) if ids else []

    def cancel(self, task_id: int) -> str:
        """Cancel a task. Answers CANCEL_DONE, CANCEL_SIGNALLED, CANCEL_TOO_LATE or CANCEL_NOTHING."""
        with self.events.after_write(self.taskfile.lock) as published:
            self._catch_up_full()
            task = self.state.tasks.get(task_id)
            if task is None:
                if self.taskfile.archived_task(task_id):
                    return CANCEL_NOTHING
                raise NotFound(f"no task {task_ref(task_id)}")
            now = time.time()
            if task.status == QUEUED:
                moved = lifecycle.cancel_queued(task, now)
                self.taskfile.commit(Change(tasks=[moved.task]))
                answer = CANCEL_DONE
                published.append(moved.announce())
            elif task.status == RUNNING:
                if not task.cancel_requested:
                    patch, moved = lifecycle.ask_to_cancel(task, now)
                    self.taskfile.commit(Change(patches=[patch]))
                    published.append(moved.announce())
                answer = CANCEL_SIGNALLED
            elif task.status == COMPLETED:
                answer = CANCEL_TOO_LATE
            else:
                answer = CANCEL_NOTHING
        if answer == CANCEL_SIGNALLED and self.worker is not None:
            self.worker.request_cancel(task_id)
            self.worker.wake()
        return answer

    def set_priority(self, task_id: int, priority: int) -> Task:
        """Change a queued task's priority (1 lowest … 10 highest)."""
        lifecycle.check_priority(priority)
        with self.events.after_write(self.taskfile.lock) as published:
            self._catch_up_full()
            task = self.state.tasks.get(task_id)
            if task is None:
                raise NotFound(f"no task {task_ref(task_id)}")
            moved = lifecycle.set_priority(task, priority, time.time())
            self.taskfile.commit(Change(tasks=[moved.task]))
            event = moved.announce()
            published.append(event)
        return event.task.copy()

    def set_stage(self, job_id: int, stage: str) -> Job:
        """Set a job's user-facing stage."""
        with self.events.after_write(self.taskfile.lock) as published:
            self._catch_up_full()
            job = self.state.jobs.get(job_id)
            if job is None:
                raise NotFound(f"no job #{job_id:03d}")
            new = lifecycle.set_stage(job, stage, time.time())
            self.taskfile.commit(Change(jobs=[new]))
            copy = lifecycle.copy_job(new)
            published.append(ev.Event(ev.JOB_UPDATED, job=lifecycle.copy_job(copy)))
        return copy

    def delete_job(self, job_id: int) -> int:
        """Cancel a job's active tasks, then remove the job and its tasks (kept in the archive)."""
        with self.taskfile.lock:
            self._catch_up_full()
            if job_id not in self.state.jobs:
                raise NotFound(f"no job #{job_id:03d}")
            ids = [t.id for t in self.state.tasks.values() if t.job_id == job_id]
        for tid in ids:
            task = self.state.tasks.get(tid)
            if task is not None and task.status in ACTIVE:
                self.cancel(tid)
        with self.events.after_write(self.taskfile.lock) as published:
            self._catch_up_full()
            tasks = [self.state.tasks[t] for t in ids if t in self.state.tasks]
            job = self.state.jobs.get(job_id)
            self.taskfile.archive_records(tasks, [job] if job else [], reason="deleted")
            self.taskfile.commit(Change(del_tasks=[t.id for t in tasks], del_jobs=[job_id]))
            published += [ev.Event(ev.TASK_UPDATED, task=task.copy(), data={"deleted": True}) for task in tasks]
            published.append(ev.Event(ev.JOB_UPDATED, job=job, data={"deleted": True}))
        return len(tasks)

    def delete_tasks(self, task_ids: Iterable[int], cancel_running: bool = False) -> list[Task]:
        """Remove tasks from the live queue (kept in the archive), and the jobs they leave empty.

        A running task is refused (nothing is removed) unless `cancel_running`:
        then it is cancelled first. Answers the removed records.
        """
        ids = list(dict.fromkeys(task_ids))
        with self.taskfile.lock:
            self._catch_up_full()
            for tid in ids:
                task = self.state.tasks.get(tid)
                if task is None:
                    raise NotFound(f"no task {task_ref(tid)} in the live queue")
                if task.status == RUNNING and not cancel_running:
                    raise LazyQueueError(f"{task.ref} is running; cancel it first")
        for tid in ids:
            if self.state.tasks[tid].status == RUNNING:
                self.cancel(tid)
        with self.taskfile.lock:
            self._catch_up_full()
            tasks = [self.state.tasks[t] for t in ids if t in self.state.tasks]
            started = next((t for t in tasks if t.status == RUNNING and not t.cancel_requested), None)
            if started is not None:  # claimed since the check above
                raise LazyQueueError(f"{started.ref} is running; cancel it first")
            gone = {t.id for t in tasks}
            left = {t.job_id for t in self.state.tasks.values() if t.id not in gone}
            jobs = [self.state.jobs[j] for j in {t.job_id for t in tasks} - left if j in self.state.jobs]
            self.taskfile.archive_records(tasks, jobs, reason="deleted")
            self.taskfile.commit(Change(del_tasks=[t.id for t in tasks], del_jobs=[j.id for j in jobs]))
        for task in tasks:
            self.events.publish(ev.Event(ev.TASK_UPDATED, task=task.copy(), data={"deleted": True}))
        for job in jobs:
            self.events.publish(ev.Event(ev.JOB_UPDATED, job=job, data={"deleted": True}))
        return [t.copy() for t in tasks]

    def edit(self, task_id: int, changes: dict) -> Task:
        """Change a queued task's label, job title, priority, not_before, dedupe key or payload
        (`lifecycle.EDITABLE`); the payload is checked by its kind. Answers the new record."""
        with self.taskfile.lock:
            self._catch_up_full()
            task = self.state.tasks.get(task_id)
            if task is None:
                raise NotFound(f"no task {task_ref(task_id)} in the live queue")
            job = self.state.jobs.get(task.job_id) if task.job_id is not None else None

            def holder(key: str) -> Task | None:
                other = self.state.tasks.get(self.state.head.active_keys.get(key, -1))
                return other if other is not None and other.active and other.dedupe_key == key else None

            moved, new_job = lifecycle.edit(task, self.registry.find(task.kind), job, changes, time.time(), holder)
            self.taskfile.commit(Change(tasks=[moved.task], jobs=[new_job] if new_job else []))
            event = moved.announce(new_job or job)
        self.events.publish(event)
        if new_job is not None:
            self.events.publish(ev.Event(ev.JOB_UPDATED, task=event.task, job=lifecycle.copy_job(new_job)))
        if self.worker is not None:
            self.worker.wake()
        return event.task.copy()

    def prune(self) -> "PruneReport":
        """Apply the retention policy now: old finished tasks to the archive, their logs removed,
        the archive kept under its size. Answers what was removed."""
        with self.events.after_write(self.taskfile.lock) as published:
            self._catch_up_full()
            count = self.taskfile.compact()
            logs, log_bytes = self.taskfile.logs_removed
            more_logs, more_bytes, dropped, archive_bytes = self.taskfile.prune_extras()
            if count:
                published.append(ev.Event(ev.STORE_RELOADED))
        return PruneReport(tasks=count, logs=logs + more_logs, log_bytes=log_bytes + more_bytes,
                           archive_dropped=dropped, archive_bytes=archive_bytes)

    # ---------------------------------------------------------------- logs
    def log_path(self, task_id: int) -> Path:
        """Where the task's full log lives (the file may not exist yet)."""
        return self.taskfile.log_path(task_id)

    def read_log(self, task_id: int, offset: int = 0, limit: int | None = None) -> tuple[bytes, int]:
        """Log bytes from `offset` (at most `limit`; negative: the last -offset bytes), and the next offset."""
        path = self.taskfile.log_path(task_id)
        try:
            with open(os.open(path, os.O_RDONLY | NOFOLLOW), "rb") as fh:
                if offset < 0:
                    offset = max(0, fh.seek(0, 2) + offset)
                fh.seek(offset)
                data = fh.read() if limit is None else fh.read(limit)
        except FileNotFoundError:
            return b"", max(0, offset)
        except OSError as exc:  # a symlink planted in logs/ is not followed
            raise LazyQueueError(f"cannot read {path}: {exc.strerror or exc}") from None
        return data, offset + len(data)

    def archive_location(self) -> str:
        """Where `prune` and `delete_job` keep what leaves the live queue, for a person to read."""
        return str(self.taskfile.archive_path)

    def task_count(self) -> int:
        """How many live tasks are in memory now (no read; 0 before the first full read)."""
        return len(self.state.tasks)

    # ---------------------------------------------------------------- events, worker
    def subscribe(self, callback: Callable[[ev.Event], None], types: tuple[str, ...] | None = None) -> Callable[[], None]:
        """Call `callback(event)` for each event, this process's and other processes'; returns unsubscribe.

        Other processes' changes come from the journal feed (`core/feed.py`),
        started by the first subscriber.
        """
        unsubscribe = self.events.subscribe(callback, types)
        with self.taskfile.lock:
            if self._feed is None:
                if not self.taskfile.loaded:  # what a full read finds is the state, not news
                    self._catch_up_full()
                from .feed import JournalFeed

                self._feed = JournalFeed(self.taskfile, self.events).start()
        return unsubscribe

    def start_worker(self, concurrency: int | None = None, grace_s: float | None = None):
        """Run a worker on a background thread of this process."""
        if self.worker is None:
            self.worker = self._new_worker(concurrency, grace_s).start()
        return self.worker

    def run_worker(self, concurrency: int | None = None, exit_when_idle: bool = False,
                   where: str = "foreground", leave_tracked: bool = False) -> "str | None":
        """Run a worker in this thread until `self.worker.stop()` (a signal handler may call it).

        Answers why it stopped on its own (its state directory was removed), or None.

        `exit_when_idle`: stop once `is_idle(leave_tracked)` holds after a pass. `where`: how
        the worker is listed in `workers()` ("background" for the one add starts).
        """
        worker = self._new_worker(concurrency, None)
        worker.where = where
        self.worker = worker
        if self._stop_asked:  # SIGTERM/Ctrl-C between installing the handler and now
            worker.stop(wait=False)
        if exit_when_idle:
            import threading

            def watch_idle() -> None:
                while not worker.stopping:
                    worker.idle_event.wait(0.5)
                    if worker.stopping:
                        return
                    if self.is_idle(leave_tracked):  # tracked work left: re-queued now, not after a grace
                        worker.stop(grace=0 if leave_tracked else None, wait=False)
                        return
                    time.sleep(0.05)  # re-check after the worker's next pass

            threading.Thread(target=watch_idle, daemon=True).start()
        try:
            worker.run()
        finally:
            self.worker = None
        return worker.gone

    def _new_worker(self, concurrency: int | None, grace_s: float | None):
        from .worker import Worker

        return Worker(self.taskfile, self.events, self.registry, concurrency=concurrency or self.config.concurrency,
                      grace_s=self.config.grace_s if grace_s is None else grace_s)

    def workers(self) -> list:
        """The worker processes alive for this state directory: this process's, a TUI's, the background one."""
        from .background import worker_infos

        return worker_infos(self)

    def request_stop(self) -> None:
        """From a signal handler: stop this process's worker, or the one `run_worker()` is about to make."""
        from .signals import soon

        self._stop_asked = True
        if self.worker is not None:
            soon(self.worker.stop, wait=False)

    def stop_worker(self, grace: float | None = None) -> None:
        """Stop the worker of this process, if any (running tasks get `grace` seconds)."""
        if self.worker is not None:
            self.worker.stop(grace)
            self.worker = None

    def is_idle(self, leave_tracked: bool = False) -> bool:
        """Nothing runs anywhere, and no queued task of a kind this process runs can still start.

        A delay or retry back-off still pending is not idle; a paused worker
        with nothing running is. (A task whose dependency failed is failed by
        the worker's next pass, so it does not keep the queue busy.)
        `leave_tracked`: tracked work (kinds that wait on work running
        elsewhere and take no slot, such as `track`) does not count.
        """
        tracked = {k.name for k in self.registry if not k.uses_slot} if leave_tracked else set()
        with self.taskfile.lock:
            self.taskfile.sync()
            tasks = self.state.tasks
            if any(tasks[t].kind not in tracked for t in self.state.running_ids if t in tasks):
                return False
            if self.worker is not None and self.worker.paused:
                return True
            return not any(kind in self.registry and kind not in tracked for kind in self.state.queued_kinds)

    def wait(self, task_ids: Iterable[int], timeout: float | None = None, poll: float = 0.2) -> list[Task]:
        """Block until every task is finished (or `timeout`); returns their final copies."""
        return wait_finished(self.get, task_ids, timeout, poll)

    def close(self) -> None:
        """Stop this process's worker and the change feed, and let go of the task file."""
        self.stop_worker()
        if self._feed is not None:
            self._feed.stop()
            self._feed = None
        self.taskfile.close()

    def __enter__(self) -> "Queue":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def wait_finished(get: Callable[[int], Task], task_ids: Iterable[int], timeout: float | None,
                  poll: float) -> list[Task]:
    """Ask `get` for each task every `poll` s until all are finished (or `timeout`: TimeoutError).

    Either engine polls what it stores: other processes or hosts may own the work.
    """
    ids = list(task_ids)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        found = [get(i) for i in ids]
        if all(t.status in FINISHED for t in found):
            return found
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"still running after {timeout:g} s")
        time.sleep(poll)


def _record_filter(status: str | None, kind: str | None, job: int | None):
    """A test on plain task records for the filters given (None: every record)."""
    if not (status or kind or job is not None):
        return None

    def want(rec: dict) -> bool:
        return ((not status or rec["status"] == status) and (not kind or rec["kind"] == kind)
                and (job is None or rec["job_id"] == job))

    return want


__all__ = [
    "Queue", "TaskSpec", "Enqueued",
    "CANCEL_DONE", "CANCEL_SIGNALLED", "CANCEL_TOO_LATE", "CANCEL_NOTHING",
]
_ = (RETRYABLE_STATUSES, CANCELLED)
