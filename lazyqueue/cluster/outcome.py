"""Recording how an attempt ended: the same rules as the local worker.

Completed → `then` follow-ups queued and dependents released; a retryable
failure with attempts left → a new round delayed by the kind's back-off (a
durable delay in DBOS, not a sleep that holds the slot); shutdown → queued
again without spending the attempt; cancel → cancelled; else failed.
"""

from __future__ import annotations

import json
import math
import random

from ..core.errors import Cancelled, LazyQueueError, TaskError, failure_text
from ..core.models import CANCELLED, COMPLETED, FAILED, QUEUED, Task, iso
from . import deps
from .build import build_task
from .rows import insert_task, next_id

_rng = random.Random()


def finish(task: Task, status: str, now: float, *, result=None, error=None, error_kind=None) -> None:
    stamp = iso(now)
    task.status = status
    task.updated_at = task.finished_at = stamp
    task.owner = None
    task.cancel_requested = False
    if status == COMPLETED:
        task.result, task.error, task.error_kind, task.progress = result, None, None, 100.0
    else:
        task.error, task.error_kind = error, error_kind


def requeue(task: Task, now: float, *, spend_attempt: bool, delay: float | None = None) -> None:
    task.status = QUEUED
    task.owner = None
    task.started_at = None
    task.updated_at = iso(now)
    task.cancel_requested = False
    task.progress = task.progress_label = None
    if not spend_attempt:
        task.attempt = max(0, task.attempt - 1)
    task.not_before = iso(now + delay) if delay else None


def apply(worker, conn, task: Task, wf: str, kind_of: str, value, reason: str | None, now: float) -> dict:
    """Change `task` for its outcome; answers what else happened (for events)."""
    registry = worker.queue.registry
    dispatcher = worker.queue.dispatcher
    cancel_asked = task.cancel_requested or reason == "cancel"
    if isinstance(task.progress, float) and not math.isfinite(task.progress):
        task.progress = None  # unknown, as the local engine counts it: NaN is not JSON
    if kind_of == "ok":
        try:
            json.dumps(value, allow_nan=False)  # NaN would make `ls --json` invalid JSON (and jsonb refuses it)
        except (TypeError, ValueError) as exc:
            return failed(worker, conn, task, wf, f"the handler's result is not JSON: {exc}", "fatal", now)
        finish(task, COMPLETED, now, result=value)
        dispatcher.save(conn, task)
        follow_ups(worker, conn, task, now)
        deps.release(conn, dispatcher, [task.id])
        return {"cancel_too_late": cancel_asked}
    exc = value
    if isinstance(exc, Cancelled) or (reason and not isinstance(exc, TaskError)):
        if reason == "shutdown" and not task.cancel_requested:
            requeue(task, now, spend_attempt=False)
            dispatcher.requeue(conn, task, wf)
            return {"shutdown": True}
        if reason == "timeout":
            return failed(worker, conn, task, wf, f"timed out after {task.timeout_s:g} s", "retryable", now)
        finish(task, CANCELLED, now, error="cancelled", error_kind="user")
        dispatcher.save(conn, task)
        deps.release(conn, dispatcher, [task.id])
        return {}
    message, error_kind = failure_text(exc)
    return failed(worker, conn, task, wf, message, error_kind, now)


def failed(worker, conn, task: Task, wf: str, message: str, error_kind: str, now: float) -> dict:
    dispatcher = worker.queue.dispatcher
    if error_kind == "retryable" and task.attempt < task.max_attempts:
        kind = worker.queue.registry.find(task.kind)
        delay = kind.backoff.delay(task.attempt, _rng) if kind else 5.0
        task.error, task.error_kind = message, error_kind
        requeue(task, now, spend_attempt=True, delay=delay)
        dispatcher.requeue(conn, task, wf)
        return {"retry_in": delay}
    finish(task, FAILED, now, error=message, error_kind=error_kind)
    dispatcher.save(conn, task)
    deps.release(conn, dispatcher, [task.id])
    return {}


def follow_ups(worker, conn, task: Task, now: float) -> list[Task]:
    """Queue the kind's `then` kinds on the same job, with the result as `previous_result`."""
    from ..core.queue import TaskSpec

    kind = worker.queue.registry.find(task.kind)
    made = []
    if kind is None or not kind.then:
        return made
    payload = dict(task.payload)
    payload["previous_result"] = task.result
    for follow in kind.then:
        try:
            new, _key = build_task(worker.queue.registry, TaskSpec(follow, payload, job=task.job_id), None, now)
        except LazyQueueError as exc:
            task.meta = dict(task.meta, then_error=str(exc))
            worker.queue.dispatcher.save(conn, task)
            continue
        new.id = next_id(conn, "task")
        worker.queue.dispatcher.ensure_queue(new.kind)
        conn.exec_driver_sql("SAVEPOINT follow")
        if not insert_task(conn, new, None):
            conn.exec_driver_sql("ROLLBACK TO SAVEPOINT follow")
            continue  # its dedupe key is active: already queued
        wf = worker.queue.dispatcher.enqueue(conn, new)
        conn.exec_driver_sql("UPDATE lazyqueue.tasks SET workflow_id = %s WHERE id = %s", (wf, new.id))
        made.append(new)
    return made
