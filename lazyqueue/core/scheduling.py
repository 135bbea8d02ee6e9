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
    from .state import QueueState

    Archived = Callable[[int], "dict | None"]  # a task id → its archived record


class Caps(Record):
    total: int
    per_kind: dict[str, int | None] = Factory(dict)
    exempt: frozenset = frozenset()  # kinds not held to (nor counted in) the global cap


class Plan(Record):
    start: list[Task] = Factory(list)
    dependency_failed: list[tuple[Task, str]] = Factory(list)


def running_counts(state: "QueueState", exempt: frozenset = frozenset(),
                   pending: "dict[int, Task] | None" = None) -> tuple[int, dict[str, int]]:
    """(running tasks held to the global cap, running per kind) across every worker.

    `pending`: new records not yet written (a worker's pass), counted instead of the held ones.
    """
    by_kind: dict[str, int] = {}
    total = 0
    kinds = [state.tasks[tid].kind for tid in state.running_ids if not pending or tid not in pending]
    if pending:
        kinds += [t.kind for t in pending.values() if t.status == RUNNING]
    for kind in kinds:
        by_kind[kind] = by_kind.get(kind, 0) + 1
        if kind not in exempt:
            total += 1
    return total, by_kind


def dependency_state(state: "QueueState", task: Task, archived: "Archived | None" = None,
                     pending: "dict[int, Task] | None" = None) -> tuple[str, int | None]:
    """("ready" | "waiting" | "failed", the blocking dependency id).

    `archived` finds a dependency no longer in the live state (None: it is gone);
    `pending` holds new records not yet written, which count first.
    """
    for dep_id in task.after:
        dep = pending.get(dep_id) if pending else None
        if dep is None:
            dep = state.tasks.get(dep_id)
        status = dep.status if dep is not None else _archived_status(archived, dep_id)
        if status == COMPLETED:
            continue
        if status in FINISHED:
            return "failed", dep_id
        if status is None:
            return "failed", dep_id
        return "waiting", dep_id
    return "ready", None


def _archived_status(archived: "Archived | None", task_id: int) -> str | None:
    rec = archived(task_id) if archived is not None else None
    return rec.get("status") if rec else None


def plan_claims(state: "QueueState", caps: Caps, now_iso: str, limit: int | None = None,
                archived: "Archived | None" = None, pending: "dict[int, Task] | None" = None) -> Plan:
    """Pick queued tasks to start now, in order, within the caps.

    Walks the ready heap; entries that are stale (no longer queued, or
    re-queued with another priority) are dropped, blocked ones pushed back.
    `pending`: records this pass changed but has not written yet; they count
    instead of the held ones (a task re-queued by the pass may start in it).
    """
    plan = Plan()
    total, by_kind = running_counts(state, caps.exempt, pending)
    free = caps.total - total
    if limit is not None:
        free = min(free, limit)
    # past the global cap only exempt kinds may start: walk the heap for them only if one is queued
    # (else a full cap walked every queued task on every pass: O(queued) per pass)
    exempt_queued = bool(caps.exempt) and (
        any(state.queued_kinds.get(kind) for kind in caps.exempt)
        or any(t.kind in caps.exempt and t.status == QUEUED for t in (pending or {}).values()))
    state.release_due(now_iso)  # tasks not yet due stay out of the walk
    if free <= 0 and not exempt_queued:
        return plan
    heap = state.ready_heap
    for t in (pending or {}).values():
        if t.status == QUEUED and not (t.not_before and t.not_before > now_iso):
            heapq.heappush(heap, (-t.priority, t.id))  # stale once the pass is written: skipped then
    tasks = state.tasks
    skipped: list[tuple[int, int]] = []
    seen: set[int] = set()
    full_kinds: set[str] = set()
    while heap and (free > 0 or exempt_queued):
        entry = heapq.heappop(heap)
        prio, tid = entry
        task = pending.get(tid) if pending else None
        if task is None:
            task = tasks.get(tid)
        if task is None or task.status != QUEUED or -task.priority != prio or tid in seen:
            continue  # stale entry
        seen.add(tid)
        if task.not_before and task.not_before > now_iso:
            if pending is None or tid not in pending:  # a pending one is filed once written
                heapq.heappush(state.due_heap, (task.not_before, tid))
            continue
        if task.expires_at and task.expires_at <= now_iso:
            skipped.append(entry)  # expire_due() handles it
            continue
        if task.kind in full_kinds or task.kind not in caps.per_kind:
            skipped.append(entry)  # cap full, or a kind this process has no handler for
            continue
        if task.after:
            waits, dep = dependency_state(state, task, archived, pending)
            if waits == "waiting":
                skipped.append(entry)
                continue
            if waits == "failed":
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
    if state.heaps_overgrown():
        state.rebuild_indexes()
    return plan


def due_scan(state: "QueueState", now_iso: str) -> tuple[list[Task], str | None]:
    """Queued tasks past their expiry, and the earliest future time anything is due.

    From the due and expiry heaps: the cost does not grow with the tasks that are not due.
    """
    expired = state.due_overdue(now_iso)
    state.release_due(now_iso)
    return expired, state.next_due()


def queue_position(state: "QueueState", task: Task) -> int:
    """1-based place in run order among queued tasks."""
    key = (-task.priority, task.id)
    return 1 + sum(1 for tid in state.queued_ids if (-state.tasks[tid].priority, tid) < key)


def wait_reason(
    state: "QueueState",
    task: Task,
    caps: Caps,
    paused: bool = False,
    now: float | None = None,
    clock_fmt: Callable[[float], str] | None = None,
    archived: "Archived | None" = None,
    counts: "tuple[int, dict[str, int]] | None" = None,
) -> str:
    """Why a queued task is not running, in the user's words.

    `counts`: running_counts() when the caller has them (the state then need
    not hold the running tasks).
    """
    if task.status != QUEUED:
        return ""
    now = time.time() if now is None else now
    if task.after:
        reason = dependency_reason(*dependency_state(state, task, archived))
        if reason:
            return reason
    reason = delay_reason(task, now, clock_fmt)
    if reason:
        return reason
    if paused:
        return "paused"
    total, by_kind = counts or running_counts(state, caps.exempt)
    cap = caps.per_kind.get(task.kind)
    if cap is not None and by_kind.get(task.kind, 0) >= cap:
        return f"cap full: {task.kind} {by_kind.get(task.kind, 0)}/{cap}"
    if total >= caps.total and task.kind not in caps.exempt:
        return f"all {caps.total} slots busy"
    return "next up"


def slot_order(ids, statuses, priorities, kinds, not_befores, afters, ok: "set[str]",
               status_of: "Callable[[int], str | None]", now_iso: str,
               levels: "set[int]") -> tuple[dict[int, list[int]], dict[int, int]]:
    """The queued tasks that wait for a slot alone: (priority → their ids, ascending, for the
    priorities in `levels`; priority → how many, for every priority).

    Columns, row for row, ids ascending; `ok`: the defined kinds held to the
    global cap; `status_of`: a dependency's status (None: gone). The rules of
    wait_reason() — it is due, every dependency completed — judged from those
    fields alone, so no record need be read; a column at a time (100,000
    queued tasks: ~20 ms, against ~90 ms a row at a time).
    """
    from itertools import compress

    mask = [status == QUEUED for status in statuses]
    if not ok.issuperset(kinds):
        mask = [m and kind in ok for m, kind in zip(mask, kinds)]
    if any(not_befores):
        mask = [m and (not nb or nb <= now_iso) for m, nb in zip(mask, not_befores)]
    if any(afters):
        mask = [m and (not after or all(status_of(dep) == COMPLETED for dep in after))
                for m, after in zip(mask, afters)]
    ready_ids = list(compress(ids, mask))
    ready_priorities = list(compress(priorities, mask))
    counts = {level: ready_priorities.count(level) for level in set(ready_priorities)}
    if len(counts) <= 1:
        return {level: ready_ids for level in counts}, counts
    order = {level: list(compress(ready_ids, [p == level for p in ready_priorities]))
             for level in levels if level in counts}
    return order, counts


def dependency_reason(state: str, dep: int | None) -> str:
    """The words for a dependency state ("ready" | "waiting" | "failed"); "" when ready."""
    if state == "waiting":
        return f"waiting on {task_ref(dep)}"
    if state == "failed":
        return f"dependency {task_ref(dep)} did not complete"
    return ""


def delay_reason(task: Task, now: float, clock_fmt: Callable[[float], str] | None = None) -> str:
    """"retry in 12 s" / "starts at 14:05" while the task's `not_before` is ahead; "" otherwise."""
    when = (parse_iso(task.not_before) or 0) if task.not_before else 0
    if when <= now:
        return ""
    if task.attempt > 0:
        return f"retry in {_short(when - now)}"
    stamp = clock_fmt(when) if clock_fmt else time.strftime("%H:%M", time.localtime(when))
    return f"starts at {stamp}"


def _short(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s" if seconds % 60 else f"{seconds // 60} min"
    return f"{seconds // 3600} h {(seconds % 3600) // 60} min"


__all__ = ["Caps", "Plan", "slot_order", "plan_claims", "due_scan", "wait_reason", "queue_position", "running_counts", "RUNNING",
           "dependency_reason", "delay_reason"]
