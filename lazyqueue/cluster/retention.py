"""Retention: finished tasks past the policy leave the live tables — and DBOS's rows.

DBOS keeps a row (and its steps) for every workflow it ever ran; pruning moves
the task record to `lazyqueue.archive` and deletes its rounds' DBOS rows, so
neither grows without bound. Logs of pruned tasks are deleted too.
"""

from __future__ import annotations

import time

from .rows import J, T
from .schema import SCHEMA


def archive(conn, ids: list[int], reason: str) -> list[str]:
    """Move tasks to the archive; answers their DBOS workflow ids (every round) to delete."""
    if not ids:
        return []
    conn.exec_driver_sql(
        f"INSERT INTO {SCHEMA}.archive (id, record, reason) SELECT id, record, %s FROM {T} WHERE id = ANY(%s) "
        "ON CONFLICT (id) DO UPDATE SET record = excluded.record, reason = excluded.reason", (reason, ids))
    workflows = [r[0] for r in conn.exec_driver_sql(
        "SELECT workflow_uuid FROM dbos.workflow_status WHERE workflow_uuid LIKE 'lq-t%%' AND "
        "split_part(substr(workflow_uuid, 5), '-', 1)::bigint = ANY(%s)", (ids,)).all()]
    conn.exec_driver_sql(f"DELETE FROM {T} WHERE id = ANY(%s)", (ids,))
    conn.exec_driver_sql(f"DELETE FROM {SCHEMA}.logs WHERE task_id = ANY(%s)", (ids,))
    return workflows


def prune(queue) -> int:
    policy = queue.config.retention
    cutoff = time.time() - policy.max_age_days * 86400
    with queue.engine.begin() as conn:
        ids = [r[0] for r in conn.exec_driver_sql(
            f"SELECT id FROM {T} WHERE finished_ts IS NOT NULL AND "
            f"(finished_ts < %s OR id NOT IN (SELECT id FROM {T} WHERE finished_ts IS NOT NULL "
            "ORDER BY finished_ts DESC LIMIT %s)) FOR UPDATE", (cutoff, policy.keep)).all()]
        workflows = archive(conn, ids, "retention")
        conn.exec_driver_sql(f"DELETE FROM {J} j WHERE NOT EXISTS (SELECT 1 FROM {T} t WHERE t.job_id = j.id) "
                             f"AND EXISTS (SELECT 1 FROM {SCHEMA}.archive a WHERE (a.record->>'job_id')::bigint = j.id)")
    queue.dispatcher.delete(workflows)
    return len(ids)
