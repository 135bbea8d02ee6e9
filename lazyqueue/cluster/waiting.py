"""Why a queued task of the cluster is not running yet, in the local engine's words."""

from __future__ import annotations

import time

from ..core.models import QUEUED
from ..core.scheduling import delay_reason, dependency_reason
from . import deps
from .rows import T, to_task


def why_waiting(queue, task_id: int, now: float | None = None) -> str:
    now = time.time() if now is None else now
    with queue.engine.connect() as conn:
        row = conn.exec_driver_sql(f"SELECT record FROM {T} WHERE id = %s", (task_id,)).first()
        if row is None:
            return ""
        task = to_task(row[0])
        if task.status != QUEUED:
            return ""
        if task.after:
            reason = dependency_reason(*deps.dependency_state(conn, task))
            if reason:
                return reason
        reason = delay_reason(task, now)
        if reason:
            return reason
        kind = queue.registry.find(task.kind)
        cap = kind.concurrency if kind else None
        if cap:
            running = conn.exec_driver_sql(f"SELECT count(*) FROM {T} WHERE status = 'running' AND kind = %s",
                                           (task.kind,)).scalar()
            if running >= cap:
                return f"cap full: {task.kind} {running}/{cap} (cluster-wide)"
    if not queue.workers():
        return "no worker running — start one: lazyqueue worker"
    return "next up"
