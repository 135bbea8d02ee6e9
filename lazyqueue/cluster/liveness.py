"""Liveness: heartbeat rows and the lease sweep (DBOS has no lease of its own).

Each worker process has an executor id and a row in `lazyqueue.workers`, beaten
every lease/3 with the database's clock (so hosts' clocks need not agree). Every
live worker sweeps (every second): a task `running` under an executor whose
heartbeat is older than the lease (or that said it stopped) — or, on this same
host, whose process is gone (the pid is the truth here: no need to wait out the
lease, and a live but slow worker keeps its tasks) — is taken back — its command stopped
first if it runs on this host — then queued again spending an attempt (its
interruption budget), cancelled if a cancel was asked, or failed once the
budget is spent. Its DBOS workflow is resumed on the kind's queue (any live
worker runs it; the claim re-checks the row, so never two copies), or cancelled
to free its queue slot. Rounds the dead executor had dequeued but not claimed
are resumed too.

A command the dead worker left on *another* host cannot be signalled from here:
its process group goes into `lazyqueue.orphans` under that host's name, and the
sweep of any worker on that host (one alive now, or the next one started there)
kills it — checked by its start time, so a reused pid is never hit.
"""

from __future__ import annotations

import os
import time

from ..core.models import CANCELLED, FAILED, QUEUED, iso
from ..core.processes import kill_group
from .outcome import finish, requeue
from .rows import T, save_task, to_task
from .schema import SCHEMA

W = f"{SCHEMA}.workers"
O = f"{SCHEMA}.orphans"
SWEEP_S = 1.0
TRIM_S = 60.0
NOW = "extract(epoch from clock_timestamp())"


class Liveness:
    def __init__(self, worker):
        self.worker = worker
        self.engine = worker.engine
        self.lease = worker.queue.lease_s
        self.beat_every = max(0.2, self.lease / 3)
        self.recovered: list[int] = []

    def beat(self) -> None:
        w = self.worker
        with self.engine.begin() as conn:
            conn.exec_driver_sql(
                f"INSERT INTO {W} (executor_id, host, pid, pstart, started_at, heartbeat_at, concurrency, running) "
                f"VALUES (%s, %s, %s, %s, {NOW}, {NOW}, %s, %s) ON CONFLICT (executor_id) DO UPDATE "
                f"SET heartbeat_at = {NOW}, running = excluded.running, concurrency = excluded.concurrency, stopped = false",
                (w.executor_id, _host(), os.getpid(), w.pstart, w.concurrency, len(w.running)),
            )

    def stopped(self) -> None:
        try:
            with self.engine.begin() as conn:
                conn.exec_driver_sql(f"UPDATE {W} SET stopped = true, running = 0, heartbeat_at = {NOW} "
                                     "WHERE executor_id = %s", (self.worker.executor_id,))
        except Exception:  # noqa: BLE001 - the lease will tell the others
            pass

    def run(self) -> None:
        next_beat = next_sweep = next_trim = 0.0
        stop = self.worker._stopped
        while not stop.is_set():
            now = time.monotonic()
            try:
                if now >= next_beat:
                    self.beat()
                    next_beat = now + self.beat_every
                if now >= next_sweep and not self.worker.stopping:
                    self.sweep()
                    next_sweep = now + SWEEP_S
                if now >= next_trim:
                    self.trim_transitions()
                    next_trim = now + TRIM_S
            except Exception as exc:  # noqa: BLE001 - the database may be away a moment
                self.worker.errors.append(f"liveness: {exc}")
            stop.wait(min(0.2, self.beat_every))

    def trim_transitions(self) -> None:
        """The change feed's transitions older than it needs go (any worker may do it)."""
        from .feed import KEEP_TRANSITIONS_S

        with self.engine.begin() as conn:
            conn.exec_driver_sql(f"DELETE FROM {SCHEMA}.transitions WHERE at < {NOW} - %s", (KEEP_TRANSITIONS_S,))

    def dead_executors(self, conn) -> list[str]:
        rows = conn.exec_driver_sql(
            f"SELECT executor_id, host, pid, pstart, stopped OR heartbeat_at < {NOW} - %s FROM {W} "
            f"WHERE executor_id <> %s AND (stopped OR heartbeat_at < {NOW} - %s OR host = %s)",
            (self.lease, self.worker.executor_id, self.lease, _host()),
        ).all()
        return [ex for ex, host, pid, pstart, silent in rows
                if owner_gone({"host": host, "pid": pid, "pstart": pstart}, silent)]

    def sweep(self) -> int:
        """Take back what dead executors held; answers how many tasks."""
        dispatcher = self.worker.queue.dispatcher
        resume: list[tuple[str, str]] = []
        cancel: list[str] = []
        taken = 0
        with self.engine.begin() as conn:
            rows = conn.exec_driver_sql(
                f"SELECT t.record, t.workflow_id, w.executor_id IS NULL OR w.stopped OR w.heartbeat_at < {NOW} - %s "
                f"FROM {T} t LEFT JOIN {W} w ON w.executor_id = t.executor_id "
                f"WHERE t.status = 'running' AND t.executor_id <> %s AND "
                f"(w.executor_id IS NULL OR w.stopped OR w.heartbeat_at < {NOW} - %s OR w.host = %s) "
                "FOR UPDATE OF t SKIP LOCKED",
                (self.lease, self.worker.executor_id, self.lease, _host()),
            ).all()
            now = time.time()
            for record, wf, silent in rows:
                task = to_task(record)
                if not owner_gone(task.owner or {}, silent):
                    continue  # on this host the pid is the truth; elsewhere, the lease
                if not stop_orphan_child(task.owner or {}):
                    leave_orphan(conn, task.owner or {}, task.id)
                if task.cancel_requested:
                    finish(task, CANCELLED, now, error="cancelled", error_kind="user")
                    cancel.append(wf)
                elif task.attempt < task.max_attempts:
                    requeue(task, now, spend_attempt=True)
                    task.error = "interrupted (its worker stopped answering); re-queued"
                    task.error_kind = "retryable"
                    resume.append((wf, task.kind))
                else:
                    finish(task, FAILED, now, error="interrupted", error_kind="retryable")
                    cancel.append(wf)
                save_task(conn, task, executor_id=None)
                if task.status != QUEUED:
                    from . import deps

                    deps.release(conn, dispatcher, [task.id])
                taken += 1
                self.recovered.append(task.id)
            dead = self.dead_executors(conn)
            if dead:
                # rounds a dead executor dequeued but never claimed (waiting for a slot when it died)
                for wf, tid in conn.exec_driver_sql(
                    "SELECT w.workflow_uuid, t.id FROM dbos.workflow_status w JOIN "
                    f"{T} t ON t.workflow_id = w.workflow_uuid WHERE w.status = 'PENDING' AND w.executor_id = ANY(%s) "
                    "AND t.status = 'queued'", (dead,),
                ).all():
                    kind = conn.exec_driver_sql(f"SELECT kind FROM {T} WHERE id = %s", (tid,)).scalar()
                    resume.append((wf, kind))
                conn.exec_driver_sql(f"DELETE FROM {W} WHERE executor_id = ANY(%s) AND heartbeat_at < {NOW} - 86400", (dead,))
            stop_orphans(conn)
        for wf, kind in dict.fromkeys(resume):
            dispatcher.resume(wf, kind)
        for wf in cancel:
            dispatcher.cancel(wf)
        return taken


def _host() -> str:
    from .runner import HOST

    return HOST


def owner_gone(owner: dict, silent: bool = True) -> bool:
    """On this host an owner is gone once its pid is (at once, lease or not); elsewhere once it is silent."""
    from ..core.processes import pid_alive

    if owner.get("host") == _host() and isinstance(owner.get("pid"), int):
        return not pid_alive(owner["pid"], owner.get("pstart"))
    return silent


def stop_orphan_child(owner: dict) -> bool:
    """Kill the command a dead worker left on this host, so a task never runs twice at once.

    True once nothing of it runs here; False for a command on another host (or none recorded).
    """
    pgid = owner.get("child_pgid")
    if owner.get("host") != _host() or not isinstance(pgid, int):
        return False
    kill_group(pgid, owner.get("child_pstart") or "")
    return True


def leave_orphan(conn, owner: dict, task_id: int) -> None:
    """Record a command left on another host, for a worker there to stop."""
    pgid = owner.get("child_pgid")
    if not isinstance(pgid, int) or not owner.get("host"):
        return
    conn.exec_driver_sql(
        f"INSERT INTO {O} (host, pgid, pstart, task_id, since) VALUES (%s, %s, %s, %s, {NOW}) "
        "ON CONFLICT (host, pgid) DO UPDATE SET pstart = excluded.pstart, task_id = excluded.task_id, "
        "since = excluded.since", (owner["host"], pgid, owner.get("child_pstart"), task_id),
    )


def stop_orphans(conn) -> list[int]:
    """Kill the commands recorded as left on this host; answers their tasks' ids."""
    rows = conn.exec_driver_sql(f"DELETE FROM {O} WHERE host = %s RETURNING pgid, pstart, task_id",
                                (_host(),)).all()
    for pgid, pstart, _tid in rows:
        kill_group(pgid, pstart or "")
    return [tid for _pgid, _pstart, tid in rows]


def orphans(conn) -> list[dict]:
    """Commands waiting for a worker on their host to stop them (`cluster status`)."""
    return [{"host": host, "pgid": pgid, "task_id": tid, "since": iso(since)} for host, pgid, tid, since in
            conn.exec_driver_sql(f"SELECT host, pgid, task_id, since FROM {O} ORDER BY since").all()]
