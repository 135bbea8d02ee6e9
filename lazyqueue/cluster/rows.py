"""Task and job records in and out of their rows, and the few writes everything shares.

A row holds the record as JSON (the `ls --json` fields) and, beside it, the
columns queries and locks need. Every write takes a new `rev` from one
sequence, so the change feed reads "everything after rev N".
"""

from __future__ import annotations

import json

from ..core.models import FINISHED, Job, Task, parse_iso
from .schema import SCHEMA

T = f"{SCHEMA}.tasks"
J = f"{SCHEMA}.jobs"

APP_NAME = "lazyqueue"
APP_VERSION = "lazyqueue-cluster-1"  # the workflow's protocol; every worker of this lazyqueue shares it
WORKFLOW_NAME = "lazyqueue.run_task"


def queue_name(kind: str) -> str:
    """The DBOS queue of a kind."""
    return f"lq.{kind}"


def dbos_priority(priority: int) -> int:
    """lazyqueue's 1 (lowest)…10 (highest) as DBOS's lower-runs-first (always set: DBOS's 0 beats all)."""
    return 11 - priority


def workflow_id(task_id: int, round_: int) -> str:
    """The DBOS workflow of one round of a task (a retry or back-off starts a new round)."""
    return f"lq-t{task_id}-r{round_}"


def to_task(record) -> Task:
    return Task.from_dict(record if isinstance(record, dict) else json.loads(record))


def to_job(record) -> Job:
    return Job.from_dict(record if isinstance(record, dict) else json.loads(record))


def dump(obj) -> str:
    return json.dumps(obj.to_dict(), ensure_ascii=False)


def insert_task(conn, task: Task, workflow: str | None) -> bool:
    """Insert a task; False if its dedupe key is held by another active task (nothing written)."""
    row = conn.exec_driver_sql(
        f"INSERT INTO {T} (id, kind, status, job_id, dedupe_key, record, workflow_id) "
        "VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s) "
        "ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running') DO NOTHING "
        "RETURNING id",
        (task.id, task.kind, task.status, task.job_id, task.dedupe_key, dump(task), workflow),
    ).first()
    return row is not None


def save_task(conn, task: Task, **columns) -> None:
    """Write a task's record (and any of workflow_id, executor_id, cancel_requested)."""
    sets = ["status = %s", "record = %s::jsonb", "job_id = %s", "dedupe_key = %s", "finished_ts = %s",
            f"rev = nextval('{SCHEMA}.revs')", "cancel_requested = %s"]
    finished = parse_iso(task.finished_at) if task.status in FINISHED and task.finished_at else None
    values: list = [task.status, dump(task), task.job_id, task.dedupe_key, finished, bool(task.cancel_requested)]
    for name in ("workflow_id", "executor_id"):
        if name in columns:
            sets.append(f"{name} = %s")
            values.append(columns[name])
    if "executor_id" not in columns and task.status != "running":
        sets.append("executor_id = NULL")
    conn.exec_driver_sql(f"UPDATE {T} SET {', '.join(sets)} WHERE id = %s", (*values, task.id))


def lock_task(conn, task_id: int):
    """(task, workflow_id, executor_id) under a row lock, or None."""
    row = conn.exec_driver_sql(
        f"SELECT record, workflow_id, executor_id FROM {T} WHERE id = %s FOR UPDATE", (task_id,)
    ).first()
    if row is None:
        return None
    return to_task(row[0]), row[1], row[2]


def insert_job(conn, job: Job) -> None:
    conn.exec_driver_sql(f"INSERT INTO {J} (id, record) VALUES (%s, %s::jsonb)", (job.id, dump(job)))


def save_job(conn, job: Job) -> None:
    conn.exec_driver_sql(f"UPDATE {J} SET record = %s::jsonb, rev = nextval('{SCHEMA}.revs') WHERE id = %s",
                         (dump(job), job.id))


def next_id(conn, which: str) -> int:
    return conn.exec_driver_sql(f"SELECT nextval('{SCHEMA}.{which}_ids')").scalar()


def round_of(workflow: str | None) -> int:
    if not workflow or "-r" not in workflow:
        return 0
    return int(workflow.rsplit("-r", 1)[1])
