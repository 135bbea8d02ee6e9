"""The scheduling rules, in one place.

- Order: higher priority first, FIFO (by id) within a priority.
- A queued task waits while: the worker is paused; its `not_before` is in the
  future (a delay or a retry back-off); a task in its `after` list is not
  completed; its kind's cap or the global cap is full. Caps count every
  running task in the task file, whichever process runs it.
- A queued task whose `expires_at` passed before it started becomes `expired`.
- A task whose dependency failed, was cancelled or expired fails ("dependency
  t12 failed") without running.
"""

from __future__ import annotations

import heapq
import time
TYPE_CHECKING = False  # typing is not imported at run time: `lazyqueue add` starts faster

from .models import COMPLETED, FINISHED, QUEUED, RUNNING, Task, parse_iso, task_ref
from .record import Factory, Record

if TYPE_CHECKING:
    from typing import Callable
    from .taskfile import Store


class Caps(Record):
    total: int
    per_kind: dict[str, int | None] = Factory(dict)
    exempt: frozenset = frozenset()  # kinds not held to (nor counted in) the global cap


class Plan(Record):
    start: list[Task] = Factory(list)
    dependency_failed: list[tuple[Task, str]] = Factory(list)


def running_counts(store: "Store", exempt: frozenset = frozenset()) -> tuple[int, dict[str, int]]:
    """(running tasks held to the global cap, running per kind) across every worker."""
    by_kind: dict[str, int] = {}
    total = 0
    for tid in store.running_ids:
        kind = store.tasks[tid].kind
        by_kind[kind] = by_kind.get(kind, 0) + 1
        if kind not in exempt:
            total += 1
    return total, by_kind


def dependency_state(store: "Store", task: Task) -> tuple[str, int | None]:
    """("ready" | "waiting" | "failed", the blocking dependency id)."""
    for dep_id in task.after:
        dep = store.tasks.get(dep_id)
        status = dep.status if dep is not None else _archived_status(store, dep_id)
        if status == COMPLETED:
            continue
        if status in FINISHED:
            return "failed", dep_id
        if status is None:
            return "failed", dep_id
        return "waiting", dep_id
    return "ready", None


def _archived_status(store: "Store", task_id: int) -> str | None:
    rec = store.archived_task(task_id)
    return rec.get("status") if rec else None


def plan_claims(store: "Store", caps: Caps, now_iso: str, limit: int | None = None) -> Plan:
    """Pick queued tasks to start now, in order, within the caps.

    Walks the ready heap; entries that are stale (no longer queued, or
    re-queued with another priority) are dropped, blocked ones pushed back.
    """
    plan = Plan()
    total, by_kind = running_counts(store, caps.exempt)
    free = caps.total - total
    if limit is not None:
        free = min(free, limit)
    # past the global cap only exempt kinds may start: walk the heap for them only if one is queued
    # (else a full cap walked every queued task on every pass: O(queued) per pass)
    exempt_queued = bool(caps.exempt) and any(store.tasks[t].kind in caps.exempt for t in store.queued_ids)
    if free <= 0 and not exempt_queued:
        return plan
    heap = store.ready_heap
    skipped: list[tuple[int, int]] = []
    seen: set[int] = set()
    full_kinds: set[str] = set()
    while heap and (free > 0 or exempt_queued):
        entry = heapq.heappop(heap)
        prio, tid = entry
        task = store.tasks.get(tid)
        if task is None or task.status != QUEUED or -task.priority != prio or tid in seen:
            continue  # stale entry
        seen.add(tid)
        if task.not_before and task.not_before > now_iso:
            skipped.append(entry)
            continue
        if task.expires_at and task.expires_at <= now_iso:
            skipped.append(entry)  # expire_due() handles it
            continue
        if task.kind in full_kinds or task.kind not in caps.per_kind:
            skipped.append(entry)  # cap full, or a kind this process has no handler for
            continue
        if task.after:
            state, dep = dependency_state(store, task)
            if state == "waiting":
                skipped.append(entry)
                continue
            if state == "failed":
                plan.dependency_failed.append((task, f"dependency {task_ref(dep)} did not complete"))
                continue
        cap = caps.per_kind.get(task.kind)
        if cap is not None and by_kind.get(task.kind, 0) >= cap:
            full_kinds.add(task.kind)
            skipped.append(entry)
            continue
        exempt = task.kind in caps.exempt
        if not exempt and free <= 0:
            skipped.append(entry)
            continue
        plan.start.append(task)
        by_kind[task.kind] = by_kind.get(task.kind, 0) + 1
        if not exempt:
            free -= 1
    for entry in skipped:
        heapq.heappush(heap, entry)
    if len(heap) > 4 * len(store.queued_ids) + 1024:
        store._rebuild_indexes()
    return plan


def due_scan(store: "Store", now_iso: str) -> tuple[list[Task], str | None]:
    """Queued tasks past their expiry, and the earliest future time anything is due."""
    expired: list[Task] = []
    next_due: str | None = None
    for tid in store.queued_ids:
        task = store.tasks[tid]
        if task.expires_at:
            if task.expires_at <= now_iso:
                expired.append(task)
                continue
            if next_due is None or task.expires_at < next_due:
                next_due = task.expires_at
        if task.not_before and task.not_before > now_iso and (next_due is None or task.not_before < next_due):
            next_due = task.not_before
    return expired, next_due


def queue_position(store: "Store", task: Task) -> int:
    """1-based place in run order among queued tasks."""
    key = (-task.priority, task.id)
    return 1 + sum(1 for tid in store.queued_ids if (-store.tasks[tid].priority, tid) < key)


def wait_reason(
    store: "Store",
    task: Task,
    caps: Caps,
    paused: bool = False,
    now: float | None = None,
    clock_fmt: Callable[[float], str] | None = None,
) -> str:
    """Why a queued task is not running, in the user's words."""
    if task.status != QUEUED:
        return ""
    now = time.time() if now is None else now
    if task.after:
        state, dep = dependency_state(store, task)
        if state == "waiting":
            return f"waiting on {task_ref(dep)}"
        if state == "failed":
            return f"dependency {task_ref(dep)} did not complete"
    if task.not_before:
        when = parse_iso(task.not_before) or 0
        if when > now:
            left = when - now
            if task.attempt > 0:
                return f"retry in {_short(left)}"
            stamp = clock_fmt(when) if clock_fmt else time.strftime("%H:%M", time.localtime(when))
            return f"starts at {stamp}"
    if paused:
        return "paused"
    total, by_kind = running_counts(store, caps.exempt)
    cap = caps.per_kind.get(task.kind)
    if cap is not None and by_kind.get(task.kind, 0) >= cap:
        return f"cap full: {task.kind} {by_kind.get(task.kind, 0)}/{cap}"
    if total >= caps.total and task.kind not in caps.exempt:
        return f"all {caps.total} slots busy"
    return "next up"


def _short(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s" if seconds % 60 else f"{seconds // 60} min"
    return f"{seconds // 3600} h {(seconds % 3600) // 60} min"


__all__ = ["Caps", "Plan", "plan_claims", "due_scan", "wait_reason", "queue_position", "running_counts", "RUNNING"]
