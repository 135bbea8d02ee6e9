"""`cluster migrate --from HOME`: a local queue graduates to the cluster, ids kept.

Live tasks (queued ones and the history) and jobs are copied from the local task
file into the cluster's tables; queued tasks are handed to DBOS (or held on their
`after` dependencies). The local file is only read. A task running locally stops
the move (stop that worker first), and so do ids the cluster already holds.
"""

from __future__ import annotations

from ..core.errors import LazyQueueError
from ..core.models import QUEUED, RUNNING
from . import deps
from .rows import J, T, insert_job, insert_task
from .schema import SCHEMA


def migrate_from(queue, source_home) -> dict:
    from pathlib import Path

    from ..core.queue import Queue

    source = Path(source_home).expanduser()
    if not (source / "tasks.json").exists() and not (source / "tasks.journal").exists():
        raise LazyQueueError(f"no local task file in {source} (expected tasks.json there)")
    local = Queue(source, queue.config, plugins=False)
    try:
        tasks, jobs = local.snapshot()
    finally:
        local.close()
    running = [t for t in tasks.values() if t.status == RUNNING]
    if running:
        raise LazyQueueError(f"{running[0].ref} is running in {source}; stop its worker first, then migrate")
    for task in tasks.values():
        queue.dispatcher.ensure_queue(task.kind)
    queued = 0
    with queue.engine.begin() as conn:
        clash = conn.exec_driver_sql(
            f"SELECT id FROM {T} WHERE id = ANY(%s) UNION SELECT id FROM {SCHEMA}.archive WHERE id = ANY(%s) LIMIT 1",
            (list(tasks), list(tasks))).first()
        if clash is None and jobs:
            clash = conn.exec_driver_sql(f"SELECT id FROM {J} WHERE id = ANY(%s) LIMIT 1", (list(jobs),)).first()
        if clash is not None:
            raise LazyQueueError(f"the cluster already holds id {clash[0]}; migrate into a fresh cluster database")
        for job in sorted(jobs.values(), key=lambda j: j.id):
            insert_job(conn, job)
        for task in sorted(tasks.values(), key=lambda t: t.id):
            task.owner = None
            if not insert_task(conn, task, None):
                raise LazyQueueError(f"{task.ref}: its dedupe key {task.dedupe_key!r} is active in the cluster already")
        for task in sorted(tasks.values(), key=lambda t: t.id):
            if task.status != QUEUED:
                continue
            state, _dep = deps.dependency_state(conn, task)
            if state == "ready":
                wf = queue.dispatcher.enqueue(conn, task)
                conn.exec_driver_sql(f"UPDATE {T} SET workflow_id = %s WHERE id = %s", (wf, task.id))
            queued += 1
        for which, ids in (("task", tasks), ("job", jobs)):
            if ids:
                conn.exec_driver_sql(f"SELECT setval('{SCHEMA}.{which}_ids', greatest(%s, "
                                     f"(SELECT last_value FROM {SCHEMA}.{which}_ids)))", (max(ids),))
        # finished ones: their finished_ts for retention
        conn.exec_driver_sql(
            f"UPDATE {T} SET finished_ts = extract(epoch from (record->>'finished_at')::timestamptz) "
            "WHERE id = ANY(%s) AND record->>'finished_at' IS NOT NULL", (list(tasks),))
    return {"tasks": len(tasks), "queued": queued, "jobs": len(jobs)}
