"""`cluster status`: the workers of a cluster (host, pid, heartbeat age, running)."""

from __future__ import annotations

from ..core.engine import WorkerInfo
from ..core.models import iso
from .schema import SCHEMA


class ClusterWorkerInfo(WorkerInfo):
    """One worker process of the cluster."""

    FIELDS = ("executor_id", "host", "pid", "started_at", "heartbeat_at", "heartbeat_age_s", "where",
              "running", "concurrency", "alive")

    def __init__(self, **values):
        for name in self.FIELDS:
            setattr(self, name, values.get(name))

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.FIELDS}


def all_workers(queue, include_dead: bool = True) -> list[ClusterWorkerInfo]:
    """Worker rows, newest first; `alive` = heartbeat within the lease and not stopped."""
    with queue.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT w.executor_id, w.host, w.pid, w.started_at, w.heartbeat_at, "
            "extract(epoch from clock_timestamp()) - w.heartbeat_at, w.concurrency, w.stopped, "
            f"(SELECT count(*) FROM {SCHEMA}.tasks t WHERE t.status = 'running' AND t.executor_id = w.executor_id) "
            f"FROM {SCHEMA}.workers w ORDER BY w.started_at DESC"
        ).all()
    out = []
    for ex, host, pid, started, beat, age, conc, stopped, running in rows:
        alive = not stopped and age < queue.lease_s
        if not alive and not include_dead:
            continue
        out.append(ClusterWorkerInfo(
            executor_id=ex, host=host, pid=pid, started_at=iso(started), heartbeat_at=iso(beat),
            heartbeat_age_s=round(float(age), 1), where="cluster", running=int(running), concurrency=conc,
            alive=alive,
        ))
    return out


def live_workers(queue) -> list[ClusterWorkerInfo]:
    return all_workers(queue, include_dead=False)


def summary(workers: list) -> str:
    """'3 workers on 2 hosts' (the TUI's status line says this)."""
    live = [w for w in workers if w.alive]
    hosts = {w.host for w in live}
    return f"{len(live)} worker{'s' if len(live) != 1 else ''} on {len(hosts)} host{'s' if len(hosts) != 1 else ''}"
