"""`after` dependencies across hosts: a task waits outside DBOS until its dependencies end.

A task with unfinished dependencies is held (queued, no workflow). Whoever ends a
task releases its dependents in the same transaction: all dependencies completed →
the task is enqueued in DBOS; one failed, was cancelled or expired → it fails.
"""

from __future__ import annotations

from ..core.models import COMPLETED, FAILED, FINISHED, iso, task_ref
from .rows import T, save_task, to_task


def dependency_state(conn, task) -> tuple[str, int | None]:
    """("ready" | "waiting" | "failed", the blocking dependency) from the rows."""
    if not task.after:
        return "ready", None
    rows = dict(conn.exec_driver_sql(f"SELECT id, status FROM {T} WHERE id = ANY(%s)", (list(task.after),)).all())
    from .schema import SCHEMA

    for dep in task.after:
        status = rows.get(dep)
        if status is None:
            archived = conn.exec_driver_sql(f"SELECT record->>'status' FROM {SCHEMA}.archive WHERE id = %s", (dep,)).first()
            status = archived[0] if archived else FAILED
        if status in FINISHED and status != COMPLETED:
            return "failed", dep
        if status != COMPLETED:
            return "waiting", dep
    return "ready", None


def release(conn, dispatcher, ended: list[int]) -> list:
    """Enqueue or fail the held tasks that waited on `ended`; answers the tasks changed."""
    changed = []
    todo = list(ended)
    while todo:
        rows = conn.exec_driver_sql(
            f"SELECT record FROM {T} WHERE status = 'queued' AND workflow_id IS NULL "
            "AND jsonb_array_length(record->'after') > 0 FOR UPDATE SKIP LOCKED"
        ).all()
        ending = set(todo)
        todo = []
        for (record,) in rows:
            task = to_task(record)
            if not ending.intersection(task.after):
                continue
            state, dep = dependency_state(conn, task)
            if state == "ready":
                dispatcher.requeue(conn, task, None)
                changed.append(task)
            elif state == "failed":
                stamp = iso()
                task.status = FAILED
                task.error, task.error_kind = f"dependency {task_ref(dep)} did not complete", "fatal"
                task.finished_at = task.updated_at = stamp
                save_task(conn, task)
                changed.append(task)
                todo.append(task.id)
    return changed
