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

import time
from pathlib import Path
TYPE_CHECKING = False  # typing is not imported at run time: `lazyqueue add` starts faster
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable

from . import events as ev
from .config import Config, apply_config, load_config
from .errors import LazyQueueError, NotFound, UsageError
from .models import (
    ACTIVE, CANCELLED, COMPLETED, FINISHED, PRIORITY_MAX, PRIORITY_MIN, QUEUED, RETRYABLE_STATUSES,
    RUNNING, Job, Task, iso, task_ref,
)
from .paths import config_path, state_dir
from .record import Record
from .registry import Registry
from .scheduling import Caps, queue_position, wait_reason
from .taskfile import Change, Store


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


def default_registry() -> Registry:
    """A registry holding the built-in kinds."""
    from ..kinds import register_builtins

    registry = Registry()
    register_builtins(registry)
    return registry


class Queue:
    """A persisted queue on one state directory.

    `home`: the state directory (default: --home / LAZYQUEUE_HOME / platform dir).
    `config`: a Config, a path to a TOML file, or None for the default file.
    `light=True` reads only what enqueues need (used by `lazyqueue add`).
    """

    def __init__(
        self,
        home: str | Path | None = None,
        config: Config | str | Path | None = None,
        registry: Registry | None = None,
        *,
        light: bool = False,
        plugins: bool = True,
    ):
        if isinstance(config, Config):
            self.config = config
        else:
            path, named = config_path(config)
            self.config = load_config(path, required=named)
        self.registry = registry or default_registry()
        self.warnings: list[str] = []
        if plugins:
            self.registry.defer_plugins()
        from ..kinds.shell import command_handler

        apply_config(self.config, self.registry, command_handler)
        self.home = state_dir(home)
        self.store = Store(self.home, self.config.retention)
        self.events = ev.EventBus()
        self.worker = None
        self._caps: Caps | None = None
        self._caps_key: tuple | None = None
        if not light:
            self.store.load()
        self._after_read()

    def _after_read(self) -> None:
        if self.registry.warnings:
            self.warnings += self.registry.warnings
            self.registry.warnings = []
        if self.store.warnings:
            self.warnings += self.store.warnings
            self.store.warnings = []
            self.store.ensure_snapshot()

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
        published: list[ev.Event] = []
        with self.store.lock:
            self._catch_up()
            change = Change()
            now = time.time()
            batch_keys: dict[str, Task] = {}
            for spec in specs:
                task, dup = self._build_task(
                    spec.kind, spec.payload or {}, job_id=spec.job, title=spec.title, priority=spec.priority,
                    dedupe_key=spec.dedupe_key, after=list(spec.after or ()), max_attempts=spec.max_attempts,
                    timeout=spec.timeout, delay=spec.delay, expires=spec.expires, label=spec.label,
                    meta=spec.meta, now=now, change=change, batch_keys=batch_keys,
                )
                results.append(Enqueued(task, dup is not None))
                if dup is None:
                    job = next((j for j in change.jobs if j.id == task.job_id), None)
                    if job is None and self.store.loaded:
                        job = self.store.jobs.get(task.job_id)
                    job = Job.from_dict(job.to_dict()) if job is not None else None
                    published.append(ev.Event(ev.TASK_QUEUED, task=task.copy(), job=job))
            self.store.commit(change)
            self._after_read()
            # under the lock: a worker claiming the task now cannot announce its start first
            for event in published:
                self.events.publish(event)
        if self.worker is not None and published:
            self.worker.wake()
        return results

    def _catch_up(self) -> None:
        if self.store.loaded:
            self.store.sync()
        else:
            self.store.head()

    def _build_task(
        self, kind_name: str, payload: dict, *, job_id: int | None = None, title: str | None = None,
        priority: int | None = None, dedupe_key: str | None = None, after: list | None = None,
        max_attempts: int | None = None, timeout: float | None = None, delay: float | None = None,
        expires: float | None = None, label: str | None = None, meta: dict | None = None,
        now: float | None = None, change: Change | None = None, batch_keys: dict | None = None,
    ) -> tuple[Task, Task | None]:
        """Make a task record (or find its duplicate). Hold the lock."""
        kind = self.registry.get(kind_name)
        if not isinstance(payload, dict):
            raise UsageError("payload must be a mapping of key=value")
        payload = kind.check_payload(payload)
        key = dedupe_key if dedupe_key is not None else kind.dedupe_key(payload)
        key = key or None
        head = self.store.head_info
        if key:
            if batch_keys is not None and key in batch_keys:
                return batch_keys[key], batch_keys[key]
            existing_id = head.active_keys.get(key)
            if existing_id is not None:
                existing = self._find(existing_id)
                if existing is not None and existing.status in ACTIVE:
                    return existing, existing
        if priority is None:
            priority = kind.priority
        if not (isinstance(priority, int) and not isinstance(priority, bool) and PRIORITY_MIN <= priority <= PRIORITY_MAX):
            raise UsageError(f"priority must be a whole number from {PRIORITY_MIN} to {PRIORITY_MAX} (got {priority!r})")
        attempts = kind.max_attempts if max_attempts is None else max_attempts
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
            raise UsageError(f"max attempts must be at least 1 (got {attempts!r})")
        for value, what in ((timeout, "timeout"), (delay, "delay"), (expires, "expires")):
            # not bool (stored as true), not NaN, not so large a time stamp overflows (~30 years)
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1e9):
                raise UsageError(f"{what} must be a number of seconds ≥ 0 (got {value!r})")
        for value, what in ((label, "label"), (title, "title"), (dedupe_key, "dedupe key")):
            if value is not None and not isinstance(value, str):
                raise UsageError(f"{what} must be text (got {value!r})")
        if meta is not None and not isinstance(meta, dict):
            raise UsageError(f"meta must be a mapping (got {meta!r})")
        for dep in after or ():
            self._check_dependency(dep)
        now = time.time() if now is None else now
        stamp = iso(now)
        if job_id is not None:
            if self.store.loaded and job_id not in self.store.jobs:
                raise NotFound(f"no job #{job_id:03d}")
            if not self.store.loaded and job_id >= head.next_job_id:
                raise NotFound(f"no job #{job_id:03d}")
        text = label or kind.make_label(payload)
        if job_id is None and change is not None:
            job = Job(id=self.store.next_job_id(), title=title or text, created_at=stamp, updated_at=stamp)
            change.jobs.append(job)
            job_id = job.id
        task = Task(
            id=self.store.next_task_id(),
            kind=kind.name,
            job_id=job_id,
            label=text,
            priority=priority,
            dedupe_key=key,
            payload=payload,
            max_attempts=attempts,
            created_at=stamp,
            updated_at=stamp,
            not_before=iso(now + delay) if delay else None,
            expires_at=iso(now + expires) if expires else None,
            timeout_s=timeout if timeout else kind.timeout,
            after=list(after or ()),
            meta=dict(meta or {}),
        )
        if change is not None:
            change.tasks.append(task)
        if key:
            head.active_keys[key] = task.id
            if batch_keys is not None:
                batch_keys[key] = task
        return task, None

    def _check_dependency(self, dep: Any) -> None:
        if not isinstance(dep, int) or isinstance(dep, bool):
            raise UsageError(f"--after takes task ids (got {dep!r})")
        if self.store.loaded:
            if dep not in self.store.tasks and self.store.archived_task(dep) is None:
                raise NotFound(f"no task {task_ref(dep)} to wait for")
        elif dep >= self.store.head_info.next_task_id:
            raise NotFound(f"no task {task_ref(dep)} to wait for")

    def _find(self, task_id: int) -> Task | None:
        if self.store.loaded:
            return self.store.tasks.get(task_id)
        return self.store.find_light(task_id)

    # ---------------------------------------------------------------- queries
    def get(self, task_id: int) -> Task:
        """A copy of one task (live file, else the archive)."""
        with self.store.lock:
            self._catch_up_full()
            task = self.store.tasks.get(task_id)
            if task is not None:
                return task.copy()
            rec = self.store.archived_task(task_id)
        if rec is not None:
            return Task.from_dict(rec)
        raise NotFound(f"no task {task_ref(task_id)}")

    def job(self, job_id: int) -> Job:
        with self.store.lock:
            self._catch_up_full()
            job = self.store.jobs.get(job_id)
            if job is None:
                raise NotFound(f"no job #{job_id:03d}")
            return Job.from_dict(job.to_dict())

    def tasks(self, status: str | Iterable[str] | None = None, kind: str | None = None, job: int | None = None) -> list[Task]:
        """Copies of live tasks, oldest first, filtered."""
        statuses = {status} if isinstance(status, str) else (set(status) if status else None)
        with self.store.lock:
            self._catch_up_full()
            out = [
                t.copy() for t in self.store.tasks.values()
                if (statuses is None or t.status in statuses)
                and (kind is None or t.kind == kind)
                and (job is None or t.job_id == job)
            ]
        out.sort(key=lambda t: t.id)
        return out

    def jobs(self) -> list[Job]:
        with self.store.lock:
            self._catch_up_full()
            return [Job.from_dict(j.to_dict()) for j in sorted(self.store.jobs.values(), key=lambda j: j.id)]

    def snapshot(self) -> tuple[dict[int, Task], dict[int, Job]]:
        """Copies of every live task and job, taken under the lock at one instant."""
        with self.store.lock:
            self._catch_up_full()
            return ({k: t.copy() for k, t in self.store.tasks.items()},
                    {k: Job.from_dict(j.to_dict()) for k, j in self.store.jobs.items()})

    def _catch_up_full(self) -> None:
        if not self.store.loaded:
            self.store.load()
        else:
            # even with a worker running: its loop may not have seen another process's
            # write yet, and a commit on stale memory would reuse a journal seq (and be lost)
            self.store.sync()
        self._after_read()

    def caps(self) -> Caps:
        """The caps in force; rebuilt only when the kinds or the global cap change (asked every pass)."""
        concurrency = self.worker.concurrency if self.worker else self.config.concurrency
        self.registry._resolve()  # loads lazy kinds first (a no-op once loaded); may bump the version
        key = (self.registry.version, concurrency)
        if self._caps_key != key:
            kinds = list(self.registry)
            self._caps = Caps(
                total=concurrency,
                per_kind={k.name: k.concurrency for k in kinds},
                exempt=frozenset(k.name for k in kinds if not k.uses_slot),
            )
            self._caps_key = key
        return self._caps

    def why_waiting(self, task_id: int, now: float | None = None) -> str:
        """Why a queued task is not running yet, in words ("cap full: encode 1/1")."""
        with self.store.lock:
            task = self.store.tasks.get(task_id)
            if task is None:
                return ""
            paused = bool(self.worker and self.worker.paused)
            return wait_reason(self.store, task, self.caps(), paused=paused, now=now)

    def position(self, task_id: int) -> int:
        with self.store.lock:
            task = self.store.tasks.get(task_id)
            return queue_position(self.store, task) if task else 0

    # ---------------------------------------------------------------- changes
    def retry(self, task_ids: Iterable[int]) -> list[Enqueued]:
        """Queue failed/cancelled/expired tasks again with a fresh attempt budget."""
        out: list[Enqueued] = []
        published: list[ev.Event] = []
        with self.store.lock:
            self._catch_up_full()
            change = Change()
            now = time.time()
            stamp = iso(now)
            for tid in task_ids:
                task = self.store.tasks.get(tid)
                if task is None:
                    raise NotFound(f"no task {task_ref(tid)} in the live queue")
                if task.status in ACTIVE:
                    raise LazyQueueError(f"{task.ref} is {task.status}; nothing to retry")
                if task.status == COMPLETED and not task.meta.get("retry_offered"):
                    raise LazyQueueError(f"{task.ref} completed; nothing to retry")
                if task.dedupe_key:
                    other = self.store.head_info.active_keys.get(task.dedupe_key)
                    if other is not None and other != tid and other in self.store.tasks and self.store.tasks[other].active:
                        out.append(Enqueued(self.store.tasks[other].copy(), True))
                        continue
                if task.error:
                    task.meta = dict(task.meta, last_error=task.error)
                task.status = QUEUED
                task.attempt = 0
                task.error = task.error_kind = None
                task.not_before = None
                task.started_at = task.finished_at = None
                task.progress = None
                task.progress_label = None
                task.owner = None
                task.cancel_requested = False
                task.meta.pop("retry_offered", None)
                if task.expires_at and task.expires_at <= stamp:
                    task.expires_at = None
                task.updated_at = stamp
                change.tasks.append(task)
                if task.dedupe_key:  # the next id in this call with the same key answers "already queued"
                    self.store.head_info.active_keys[task.dedupe_key] = task.id
                out.append(Enqueued(task.copy(), False))
                published.append(ev.Event(ev.TASK_QUEUED, task=task.copy(), data={"retried": True}))
            self.store.commit(change)
            for event in published:  # under the lock, as in enqueue_many
                self.events.publish(event)
        if self.worker is not None:
            self.worker.wake()
        return out

    def retry_failed(self) -> list[Enqueued]:
        ids = [t.id for t in self.tasks(status="failed")]
        return self.retry(ids) if ids else []

    def cancel(self, task_id: int) -> str:
        """Cancel a task. Answers CANCEL_DONE, CANCEL_SIGNALLED, CANCEL_TOO_LATE or CANCEL_NOTHING."""
        published: list[ev.Event] = []
        with self.store.lock:
            self._catch_up_full()
            task = self.store.tasks.get(task_id)
            if task is None:
                if self.store.archived_task(task_id):
                    return CANCEL_NOTHING
                raise NotFound(f"no task {task_ref(task_id)}")
            stamp = iso()
            if task.status == QUEUED:
                task.status = CANCELLED
                task.finished_at = task.updated_at = stamp
                task.error, task.error_kind = "cancelled", "user"
                self.store.commit(Change(tasks=[task]))
                answer = CANCEL_DONE
                published.append(ev.Event(ev.TASK_CANCELLED, task=task.copy()))
            elif task.status == RUNNING:
                if not task.cancel_requested:
                    task.cancel_requested = True
                    task.updated_at = stamp
                    self.store.commit(Change(patches=[{"id": task_id, "cancel_requested": True, "updated_at": stamp}]))
                    published.append(ev.Event(ev.TASK_UPDATED, task=task.copy(), data={"cancel_requested": True}))
                answer = CANCEL_SIGNALLED
            elif task.status == COMPLETED:
                answer = CANCEL_TOO_LATE
            else:
                answer = CANCEL_NOTHING
        for event in published:
            self.events.publish(event)
        if answer == CANCEL_SIGNALLED and self.worker is not None:
            self.worker.request_cancel(task_id)
            self.worker.wake()
        return answer

    def set_priority(self, task_id: int, priority: int) -> Task:
        if not (isinstance(priority, int) and not isinstance(priority, bool) and PRIORITY_MIN <= priority <= PRIORITY_MAX):
            raise UsageError(f"priority must be a whole number from {PRIORITY_MIN} to {PRIORITY_MAX} (got {priority!r})")
        with self.store.lock:
            self._catch_up_full()
            task = self.store.tasks.get(task_id)
            if task is None:
                raise NotFound(f"no task {task_ref(task_id)}")
            if task.status != QUEUED:
                raise LazyQueueError(f"{task.ref} is {task.status}; only a queued task's priority can change")
            task.priority = priority
            task.updated_at = iso()
            self.store.commit(Change(tasks=[task]))
            copy = task.copy()
        self.events.publish(ev.Event(ev.TASK_UPDATED, task=copy, data={"priority": priority}))
        return copy

    def set_stage(self, job_id: int, stage: str) -> Job:
        with self.store.lock:
            self._catch_up_full()
            job = self.store.jobs.get(job_id)
            if job is None:
                raise NotFound(f"no job #{job_id:03d}")
            job.stage = stage
            job.updated_at = iso()
            self.store.commit(Change(jobs=[job]))
            copy = Job.from_dict(job.to_dict())
        self.events.publish(ev.Event(ev.JOB_UPDATED, job=copy))
        return copy

    def delete_job(self, job_id: int) -> int:
        """Cancel a job's active tasks, then remove the job and its tasks (kept in the archive)."""
        with self.store.lock:
            self._catch_up_full()
            if job_id not in self.store.jobs:
                raise NotFound(f"no job #{job_id:03d}")
            ids = [t.id for t in self.store.tasks.values() if t.job_id == job_id]
        for tid in ids:
            task = self.store.tasks.get(tid)
            if task is not None and task.status in ACTIVE:
                self.cancel(tid)
        with self.store.lock:
            self._catch_up_full()
            tasks = [self.store.tasks[t] for t in ids if t in self.store.tasks]
            job = self.store.jobs.get(job_id)
            self.store.archive_records(tasks, [job] if job else [], reason="deleted")
            self.store.commit(Change(del_tasks=[t.id for t in tasks], del_jobs=[job_id]))
        for task in tasks:
            self.events.publish(ev.Event(ev.TASK_UPDATED, task=task.copy(), data={"deleted": True}))
        self.events.publish(ev.Event(ev.JOB_UPDATED, job=job, data={"deleted": True}))
        return len(tasks)

    def prune(self) -> int:
        """Apply the retention policy now; returns how many tasks moved to the archive."""
        with self.store.lock:
            self._catch_up_full()
            count = self.store.compact()
        if count:
            self.events.publish(ev.Event(ev.STORE_RELOADED))
        return count

    # ---------------------------------------------------------------- events, worker
    def subscribe(self, callback: Callable[[ev.Event], None], types: tuple[str, ...] | None = None) -> Callable[[], None]:
        """Call `callback(event)` for each event; returns a function that unsubscribes."""
        return self.events.subscribe(callback, types)

    def start_worker(self, concurrency: int | None = None, grace_s: float | None = None):
        """Run a worker on a background thread of this process."""
        from .worker import Worker

        if self.worker is None:
            self.worker = Worker(self, concurrency=concurrency, grace_s=grace_s).start()
        return self.worker

    def stop_worker(self, grace: float | None = None) -> None:
        if self.worker is not None:
            self.worker.stop(grace)
            self.worker = None

    def wait(self, task_ids: Iterable[int], timeout: float | None = None, poll: float = 0.2) -> list[Task]:
        """Block until every task is finished (or `timeout`); returns their final copies."""
        ids = list(task_ids)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            found = [self.get(i) for i in ids]
            if all(t.status in FINISHED for t in found):
                return found
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"still running after {timeout:g} s")
            time.sleep(poll)  # polls the file: other processes may own the work

    def run(self, kind: str, payload: dict | None = None, background_after: float = 2.0, **options: Any):
        """Queue a task and wait up to `background_after` s: its result if it completed, else the task.

        The worker of this process runs it if one was started, else the background worker.
        """
        from ..run import run_task

        return run_task(self, kind, payload, background_after, **options)

    def close(self) -> None:
        self.stop_worker()
        self.store.close()

    def __enter__(self) -> "Queue":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = [
    "Queue", "TaskSpec", "Enqueued", "default_registry",
    "CANCEL_DONE", "CANCEL_SIGNALLED", "CANCEL_TOO_LATE", "CANCEL_NOTHING",
]
_ = (RETRYABLE_STATUSES, CANCELLED)
