"""Handing a task to DBOS: one workflow per round, enqueued in the caller's transaction.

A round is one stay in a DBOS queue. A retry, a durable back-off or a handed-back
task starts a new round (a new workflow id), so DBOS never re-runs a finished
workflow and its queue's caps count only what is really waiting or running.
"""

from __future__ import annotations

import time

from ..core.models import Task, parse_iso
from .rows import APP_NAME, APP_VERSION, WORKFLOW_NAME, dbos_priority, queue_name, round_of, save_task, workflow_id


POLL_S = 0.05  # DBOS queue polling interval of every kind's queue (DBOS's default is 1 s)


def queue_options(kind_name: str, registry=None, config=None) -> dict:
    """A kind's DBOS queue settings.

    `global_concurrency` = the kind's `concurrency` (cluster-wide). DBOS's
    `worker_concurrency` (per executor, per queue, one value for all executors)
    = `per_host` if set, else `[worker] concurrency`: without it one worker would
    dequeue a whole backlog at once and keep it from the others while it waits
    for its own slots.
    """
    kind = registry.find(kind_name) if registry is not None else None
    per_host = (getattr(config, "per_host", None) or {}) if config is not None else {}
    per_worker = getattr(config, "concurrency", None)
    if kind is not None and not kind.uses_slot:
        per_worker = None  # not held to the worker's slots (track waits on remote work)
    cap = kind.concurrency if kind is not None else None
    worker_cap = per_host.get(kind_name, per_worker)
    if cap is not None and worker_cap is not None:
        worker_cap = min(cap, worker_cap)  # DBOS requires worker ≤ global
    return {"global_concurrency": cap, "worker_concurrency": worker_cap, "polling_interval_sec": POLL_S}


class Dispatcher:
    """Enqueues workflows and manages their DBOS rows for one engine."""

    def __init__(self, engine, registry=None, config=None):
        from dbos import DBOSClient

        self.engine = engine
        self.registry, self.config = registry, config
        self.client = DBOSClient(system_database_engine=engine, application_name=APP_NAME)
        self.known_queues: set[str] = set()

    def ensure_queue(self, kind: str, registry=None, config=None) -> None:
        """A queue row must exist before a workflow is enqueued on it; made with the kind's caps if missing."""
        name = queue_name(kind)
        if name in self.known_queues:
            return
        if self.client.retrieve_queue(name) is None:
            options = queue_options(kind, registry or self.registry, config or self.config)
            try:
                self.client.register_queue(name, on_conflict="never_update", **options)
            except Exception:  # noqa: BLE001 - raced with another process registering it
                if self.client.retrieve_queue(name) is None:
                    raise
        self.known_queues.add(name)

    def enqueue(self, conn, task: Task, previous: str | None = None, delay: float | None = None) -> str:
        """Enqueue the task's next round in `conn`'s transaction (not before `not_before`, or
        `delay` s from now); answers the workflow id."""
        wf = workflow_id(task.id, round_of(previous) + 1)
        options = {
            "workflow_name": WORKFLOW_NAME,
            "queue_name": queue_name(task.kind),
            "workflow_id": wf,
            "priority": dbos_priority(task.priority),
            "app_version": APP_VERSION,
            "application_name": APP_NAME,
        }
        if task.not_before:
            delay = max(delay or 0, (parse_iso(task.not_before) or 0) - time.time())
        if delay and delay > 0:
            options["delay_seconds"] = delay
        self.client.enqueue_in_transaction(conn, options, task.id)
        return wf

    def requeue(self, conn, task: Task, previous: str | None, delay: float | None = None) -> str:
        """Save a queued task and enqueue its next round, in one transaction."""
        wf = self.enqueue(conn, task, previous, delay)
        save_task(conn, task, workflow_id=wf, executor_id=None)
        return wf

    def save(self, conn, task: Task) -> None:
        save_task(conn, task)

    def set_priority(self, conn, wf: str | None, priority: int) -> None:
        if wf:
            conn.exec_driver_sql(
                "UPDATE dbos.workflow_status SET priority = %s WHERE workflow_uuid = %s AND status IN ('ENQUEUED', 'DELAYED')",
                (dbos_priority(priority), wf),
            )

    def cancel(self, wf: str | None) -> None:
        """End a workflow's round in DBOS (frees its queue slot); a finished one is left alone."""
        if wf:
            try:
                self.client.cancel_workflow(wf)
            except Exception:  # noqa: BLE001 - unknown or finished: nothing holds a slot
                pass

    def resume(self, wf: str, kind: str) -> None:
        self.client.resume_workflow(wf, queue_name=queue_name(kind))

    def delete(self, workflows: list[str], quiet: bool = False) -> None:
        """Delete workflows' DBOS rows; `quiet`: one already gone (or still running) is no error."""
        if not workflows:
            return
        try:
            self.client.delete_workflows(workflows)
        except Exception:  # noqa: BLE001
            if not quiet:
                raise

    def close(self) -> None:
        try:
            self.client.destroy()
        except Exception:  # noqa: BLE001
            pass
