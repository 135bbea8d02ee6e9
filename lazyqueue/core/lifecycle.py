"""Every change of a task's status, in one place.

Each function takes the records as they are and answers a `Transition`: the
task's new record (a fresh object; the one held is not touched) and the event
that announces it. The caller puts the new records in one `Change`, makes it
durable (`TaskFile.commit`, which then applies it to the in-memory state) and
only then publishes the events, so a listener never hears of a change that
could still be lost, and a failed write leaves memory as it was.

No I/O here: what a function must look up (a task by id, an archived record)
is passed in.
"""

from __future__ import annotations

import time

from . import events as ev
from .errors import LazyQueueError, NotFound, UsageError
from .models import (
    ACTIVE, CANCELLED, COMPLETED, FAILED, PRIORITY_MAX, PRIORITY_MIN, QUEUED, RUNNING, Job, Task, iso, parse_iso, task_ref,
)
from .record import Factory, Record

TYPE_CHECKING = False  # typing is not imported at run time: `lazyqueue add` starts faster
if TYPE_CHECKING:
    from typing import Any, Callable

    from .registry import Kind
    from .state import QueueState


class Transition(Record):
    """One task's new record and the event that says so (built on `announce()`)."""

    task: Task
    event: str  # an event type: task-queued, task-started, …
    data: dict = Factory(dict)
    job: Job | None = None  # a job made with the task (enqueue)

    def announce(self, job: Job | None = None) -> ev.Event:
        """The event, with copies of the task and its job (safe for a listener to keep)."""
        job = job if job is not None else self.job
        return ev.Event(self.event, task=self.task.copy(), job=copy_job(job), data=dict(self.data))


def copy_job(job: Job | None) -> Job | None:
    """A job record a listener may keep while the queue changes the job."""
    return job.copy() if job is not None else None


def _moved(task: Task, status: str, data: dict | None = None) -> Transition:
    return Transition(task, ev.STATUS_EVENT[status], data or {})


def check_priority(priority: Any) -> None:
    """UsageError unless `priority` is a whole number in range."""
    if not (isinstance(priority, int) and not isinstance(priority, bool) and PRIORITY_MIN <= priority <= PRIORITY_MAX):
        raise UsageError(f"priority must be a whole number from {PRIORITY_MIN} to {PRIORITY_MAX} (got {priority!r})")


LABEL_MAX = 200  # a label made from the payload is cut to this
TEXT_MAX = 1000  # a label, title or dedupe key given by the caller may be at most this long


# ---------------------------------------------------------------- enqueue
def enqueue(
    state: "QueueState", kind: "Kind", payload: dict, *, full: bool,
    find: "Callable[[int], Task | None]", archived: "Callable[[int], dict | None]",
    batch_keys: dict, job_id: int | None = None, title: str | None = None, priority: int | None = None,
    dedupe_key: str | None = None, after: list | None = None, max_attempts: int | None = None,
    timeout: float | None = None, delay: float | None = None, expires: float | None = None,
    label: str | None = None, meta: dict | None = None, now: float | None = None, new_job: bool = True,
) -> tuple[Transition, Task | None]:
    """A new queued task (and its job), or the active task with the same dedupe key.

    Answers (transition, duplicate): `duplicate` is the task that answers
    instead (then nothing is to be written). `state` must be caught up (hold
    the lock); `full`: every record is in `state` (else only its head, and
    `find` reads a task from the file). Ids are handed out from `state`;
    `batch_keys` collects the keys of this write, so a second task with the
    same key in one write is a duplicate too. `new_job`: make a job when
    `job_id` is None.
    """
    if not isinstance(payload, dict):
        raise UsageError("payload must be a mapping of key=value")
    payload = kind.check_payload(payload)
    key = dedupe_key if dedupe_key is not None else kind.dedupe_key(payload)
    key = key or None
    head = state.head
    if key:
        if key in batch_keys:
            same = batch_keys[key]
            return Transition(same, ev.TASK_QUEUED), same
        existing_id = head.active_keys.get(key)
        if existing_id is not None:
            existing = state.tasks.get(existing_id) if full else find(existing_id)
            if existing is not None and existing.status in ACTIVE and existing.dedupe_key == key:  # (an edit moves keys)
                return Transition(existing, ev.TASK_QUEUED), existing
    if priority is None:
        priority = kind.priority
    check_priority(priority)
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
        if value is not None and len(value) > TEXT_MAX:
            raise UsageError(f"{what} is {len(value):,} characters long; at most {TEXT_MAX:,}")
    if meta is not None and not isinstance(meta, dict):
        raise UsageError(f"meta must be a mapping (got {meta!r})")
    for dep in after or ():
        _check_dependency(state, dep, full, archived)
    now = time.time() if now is None else now
    stamp = iso(now)
    if job_id is not None:
        if full and job_id not in state.jobs:
            raise NotFound(f"no job #{job_id:03d}")
        if not full and job_id >= head.next_job_id:
            raise NotFound(f"no job #{job_id:03d}")
    text = _cut(label or kind.make_label(payload))
    job = None
    if job_id is None and new_job:
        job = Job(id=state.next_job_id(), title=title or text, created_at=stamp, updated_at=stamp)
        job_id = job.id
    task = Task(
        id=state.next_task_id(),
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
    if key:
        batch_keys[key] = task
    return Transition(task, ev.TASK_QUEUED, job=job), None


def _cut(label: str) -> str:
    """A label made from a long command is not a second copy of it."""
    return label if len(label) <= LABEL_MAX else label[: LABEL_MAX - 1] + "…"


def _check_dependency(state: "QueueState", dep: Any, full: bool, archived: "Callable[[int], dict | None]") -> None:
    if not isinstance(dep, int) or isinstance(dep, bool):
        raise UsageError(f"--after takes task ids (got {dep!r})")
    if full:
        if dep not in state.tasks and archived(dep) is None:
            raise NotFound(f"no task {task_ref(dep)} to wait for")
    elif dep >= state.head.next_task_id:
        raise NotFound(f"no task {task_ref(dep)} to wait for")


# ---------------------------------------------------------------- the worker's transitions
def claim(task: Task, owner: dict, now_iso: str) -> Transition:
    """queued → running, owned by `owner` (one more attempt spent)."""
    new = task.copy()
    new.status = RUNNING
    new.attempt += 1
    new.started_at = now_iso
    new.updated_at = now_iso
    new.finished_at = None
    new.progress = None
    new.progress_label = None
    new.cancel_requested = False
    new.owner = owner
    return _moved(new, RUNNING)


def finish(task: Task, status: str, now: float, *, result: Any = None, error: str | None = None,
           error_kind: str | None = None, **data: Any) -> Transition:
    """→ completed (with `result`), or failed / cancelled / expired (with `error`)."""
    stamp = iso(now)
    new = task.copy()
    new.status = status
    new.updated_at = stamp
    new.finished_at = stamp
    new.owner = None
    new.cancel_requested = False
    if status == COMPLETED:
        new.result = result
        new.error = None
        new.error_kind = None
        new.progress = 100.0
    else:
        new.error = error
        new.error_kind = error_kind
    return _moved(new, status, data)


def requeue(task: Task, now: float, *, spend_attempt: bool, delay: float | None = None, **data: Any) -> Transition:
    """running → queued again (`spend_attempt=False`: the attempt is given back; `delay`: a back-off)."""
    new = task.copy()
    new.status = QUEUED
    new.owner = None
    new.started_at = None
    new.updated_at = iso(now)
    new.cancel_requested = False
    new.progress = None
    new.progress_label = None
    if not spend_attempt:
        new.attempt = max(0, new.attempt - 1)
    new.not_before = iso(now + delay) if delay else None
    return _moved(new, QUEUED, data)


def fail(task: Task, message: str, error_kind: str, now: float, backoff_delay: "Callable[[int], float]",
         **data: Any) -> Transition:
    """A failed attempt: queued again after a back-off while retryable attempts are left, else failed.

    `backoff_delay(attempt)` answers the seconds to wait after that attempt.
    """
    if error_kind == "retryable" and task.attempt < task.max_attempts:
        delay = backoff_delay(task.attempt)
        moved = requeue(task, now, spend_attempt=True, delay=delay, retry_in=delay, **data)
        moved.task.error = message
        moved.task.error_kind = error_kind
        return moved
    return finish(task, FAILED, now, error=message, error_kind=error_kind, **data)


def broken(task: Task, message: str, now: float) -> Transition:
    """→ failed (fatal): the worker could not handle this task's record, payload or kind; the others run."""
    return finish(task, FAILED, now, error=message, error_kind="fatal")


def expire(task: Task, now: float) -> Transition:
    """queued → expired: it was not started before its `expires_at`."""
    return finish(task, "expired", now, error="not started before it expired", error_kind="fatal")


def dependency_failed(task: Task, why: str, now: float) -> Transition:
    """queued → failed: a task it waits for did not complete."""
    return finish(task, FAILED, now, error=why, error_kind="fatal")


MAX_INTERRUPTIONS = 3  # a task whose supervisor died this many times under it fails


def recover(task: Task, now: float) -> Transition:
    """A running task whose worker died and left nothing to adopt: cancelled if asked, else interrupted."""
    if task.cancel_requested:  # someone asked to cancel it before its death was noticed
        return finish(task, CANCELLED, now, error="cancelled", error_kind="user", recovered=True)
    return interrupted(task, now)


def interrupted(task: Task, now: float) -> Transition:
    """Its supervisor died, not the task: queued again without spending the attempt; failed the third time."""
    try:
        count = int((task.meta or {}).get("interruptions", 0)) + 1
    except (TypeError, ValueError):
        count = 1
    if count >= MAX_INTERRUPTIONS:
        moved = finish(task, FAILED, now, error=f"interrupted {count} times", error_kind="retryable", recovered=True)
    else:
        moved = requeue(task, now, spend_attempt=False, recovered=True)
        moved.task.error = "interrupted (its worker stopped); re-queued"
        moved.task.error_kind = "retryable"
    moved.task.meta = dict(moved.task.meta or {}, interruptions=count)
    return moved


def stopped(task: Task, reason: str | None, now: float, backoff_delay: "Callable[[int], float]",
            suffix: str = "", **data: Any) -> Transition:
    """A running task stopped on request: `reason` "timeout" fails it (retryable), "shutdown"
    re-queues it without spending the attempt, anything else cancels it."""
    if reason == "timeout":
        return fail(task, f"timed out after {task.timeout_s:g} s{suffix}", "retryable", now, backoff_delay, **data)
    if reason == "shutdown":
        return requeue(task, now, spend_attempt=False, **data)
    return finish(task, CANCELLED, now, error="cancelled", error_kind="user", **data)


# ---------------------------------------------------------------- a person's transitions
def retry(task: Task, now: float) -> Transition:
    """Finished unsuccessfully (or offered for retry) → queued with a fresh attempt budget."""
    if task.status in ACTIVE:
        raise LazyQueueError(f"{task.ref} is {task.status}; nothing to retry")
    if task.status == COMPLETED and not task.meta.get("retry_offered"):
        raise LazyQueueError(f"{task.ref} completed; nothing to retry")
    stamp = iso(now)
    new = task.copy()
    if new.error:
        new.meta = dict(new.meta, last_error=new.error)
    new.status = QUEUED
    new.attempt = 0
    new.error = new.error_kind = None
    new.not_before = None
    new.started_at = new.finished_at = None
    new.progress = None
    new.progress_label = None
    new.owner = None
    new.cancel_requested = False
    new.meta.pop("retry_offered", None)
    if new.expires_at and new.expires_at <= stamp:
        new.expires_at = None
    new.updated_at = stamp
    return _moved(new, QUEUED, {"retried": True})


def cancel_queued(task: Task, now: float) -> Transition:
    """queued → cancelled."""
    return finish(task, CANCELLED, now, error="cancelled", error_kind="user")


def ask_to_cancel(task: Task, now: float) -> tuple[dict, Transition]:
    """A running task is asked to stop: the patch to write, and the task-updated event."""
    stamp = iso(now)
    new = task.copy()
    new.cancel_requested = True
    new.updated_at = stamp
    return {"id": task.id, "cancel_requested": True, "updated_at": stamp}, Transition(
        new, ev.TASK_UPDATED, {"cancel_requested": True})


def set_priority(task: Task, priority: int, now: float) -> Transition:
    """A queued task's priority changes."""
    check_priority(priority)
    if task.status != QUEUED:
        raise LazyQueueError(f"{task.ref} is {task.status}; only a queued task's priority can change")
    new = task.copy()
    new.priority = priority
    new.updated_at = iso(now)
    return Transition(new, ev.TASK_UPDATED, {"priority": priority})


def set_stage(job: Job, stage: str, now: float | str) -> Job:
    """A job's new record with its user-facing stage changed."""
    new = copy_job(job)
    new.stage = stage
    new.updated_at = now if isinstance(now, str) else iso(now)
    return new


EDITABLE = ("label", "title", "priority", "not_before", "dedupe_key", "payload")


def edit(task: Task, kind: "Kind | None", job: Job | None, changes: dict, now: float,
         key_holder: "Callable[[str], Task | None]") -> tuple[Transition, Job | None]:
    """A queued task's new record with `changes` (a person's edit) applied, and its job's if the title
    changed. The payload is checked by its kind; a label or dedupe key made from the payload follows it
    unless it is changed too. `key_holder(key)`: the active task holding a dedupe key, if any."""
    if task.status != QUEUED:
        raise LazyQueueError(f"{task.ref} is {task.status}; only a queued task can be edited")
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise UsageError(f"{unknown[0]!r} cannot be edited (editable: {', '.join(EDITABLE)})")
    new = task.copy()
    if "payload" in changes:
        payload = changes["payload"]
        if not isinstance(payload, dict):
            raise UsageError("payload must be a table of fields")
        if kind is None:
            raise UsageError(f"kind {task.kind!r} is not defined here, so its payload cannot be checked")
        new.payload = kind.check_payload(dict(payload))
        if "label" not in changes and task.label == _cut(kind.make_label(task.payload)):
            changes = dict(changes, label=kind.make_label(new.payload))
        if "dedupe_key" not in changes and (task.dedupe_key or None) == (kind.dedupe_key(task.payload) or None):
            changes = dict(changes, dedupe_key=kind.dedupe_key(new.payload) or "")
    for name in ("label", "title", "dedupe_key", "not_before"):
        value = changes.get(name)
        if name in changes and not isinstance(value, str):
            raise UsageError(f"{name} must be text (got {value!r})")
        if name in changes and len(value) > TEXT_MAX:
            raise UsageError(f"{name} is {len(value):,} characters long; at most {TEXT_MAX:,}")
    if "priority" in changes:
        check_priority(changes["priority"])
        new.priority = changes["priority"]
    if "label" in changes:
        new.label = _cut(changes["label"].strip() or task.label)
    if "not_before" in changes:
        when = changes["not_before"].strip()
        stamp = parse_iso(when) if when else None
        if when and stamp is None:
            raise UsageError(f"not_before: not an ISO-8601 time (got {when!r}; e.g. \"2026-03-01T14:05:00Z\", or \"\")")
        new.not_before = iso(stamp) if stamp is not None else None
    if "dedupe_key" in changes:
        key = changes["dedupe_key"] or None
        holder = key_holder(key) if key else None
        if holder is not None and holder.id != task.id:
            raise UsageError(f"dedupe key {key!r} is held by {holder.ref} ({holder.status})")
        new.dedupe_key = key
    new.updated_at = iso(now)
    new_job = None
    if "title" in changes and job is not None:
        new_job = set_stage(job, job.stage, now)
        new_job.title = changes["title"].strip() or job.title
    return Transition(new, ev.TASK_UPDATED, {"edited": sorted(changes)}), new_job


DEFAULT_STAGE = "Pending"
ENDED_STAGES = {COMPLETED: "Done", FAILED: "Failed"}


def stage_when_done(job: Job, status: str, others_active: bool, now: float) -> Job | None:
    """The job's new record once one of its tasks ended `status` (completed or failed) and none of its
    other work is queued or running: stage `Done` or `Failed`. None when the stage stays: more work of
    the job is on its way, or it completed at a stage a handler or the user chose (not Pending, Failed).
    A failure always says so: a stage set while the work went on ("Syncing") would no longer be true."""
    stage = ENDED_STAGES.get(status)
    if stage is None or others_active or job.stage == stage:
        return None
    if status == COMPLETED and job.stage != DEFAULT_STAGE and job.stage not in ENDED_STAGES.values():
        return None
    return set_stage(job, stage, now)
