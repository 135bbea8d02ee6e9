"""The CLI's cluster commands: `cluster init|status|migrate` and `worker` on the cluster engine."""

from __future__ import annotations

import json
import sys
import time

from .errors import ClusterError
from .url import is_cluster_url, mask


def _need_url(url: str | None) -> str:
    if not url:
        raise ClusterError("no cluster backend chosen — give --backend postgresql://…, set LAZYQUEUE_BACKEND, "
                           "or [backend] url in the config")
    if not is_cluster_url(url):
        raise ClusterError(f"backend {mask(url)} is not a postgresql:// URL")
    return url


def cmd_init(url: str | None, home=None, config=None) -> int:
    """Create or migrate the schema (lazyqueue's tables and DBOS's)."""
    from . import schema
    from .db import make_engine

    url = _need_url(url)
    engine = make_engine(url)
    try:
        before, after = schema.migrate(engine)
        schema.migrate_dbos(engine, url)
    finally:
        engine.dispose()
    if before == after:
        print(f"cluster schema is up to date (version {after}) in {mask(url)}")
    else:
        print(f"cluster schema {'created' if before == 0 else 'migrated'} (version {after}) in {mask(url)}")
    return 0


def cmd_status(queue, as_json: bool = False) -> int:
    """Workers (host, pid, heartbeat age, running) and task counts."""
    from .liveness import orphans
    from .status import all_workers, summary

    workers = [w for w in all_workers(queue) if w.alive or w.heartbeat_age_s < 3600]
    with queue.engine.connect() as conn:
        counts = dict(conn.exec_driver_sql("SELECT status, count(*) FROM lazyqueue.tasks GROUP BY status").all())
        left = orphans(conn)
    if as_json:
        sys.stdout.write(json.dumps({"backend": mask(queue.url), "workers": [w.to_dict() for w in workers],
                                     "tasks": counts, "orphans": left}, indent=2) + "\n")
        return 0
    print(f"{mask(queue.url)}: {summary(workers)}; "
          + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) if counts else f"{mask(queue.url)}: {summary(workers)}; no tasks")
    if workers:
        print(f"{'HOST':<20} {'PID':>7} {'HEARTBEAT':>10} {'RUNNING':>7}  STATE")
        for w in workers:
            state = "alive" if w.alive else "gone"
            print(f"{w.host:<20} {w.pid:>7} {w.heartbeat_age_s:>8.1f} s {w.running:>3}/{w.concurrency:<3}  {state}")
    for o in left:
        print(f"t{o['task_id']}'s command (process group {o['pgid']}) may still run on {o['host']}, left by a worker "
              f"that died there; the next lazyqueue worker started on {o['host']} stops it")
    return 0


def cmd_migrate(queue, source_home) -> int:
    from .migrate import migrate_from

    counts = migrate_from(queue, source_home)
    print(f"moved {counts['tasks']} task(s) ({counts['queued']} queued) and {counts['jobs']} job(s) "
          f"from {source_home} into {mask(queue.url)}; the local task file is left as it was")
    return 0


def run_worker(queue, concurrency=None, exit_when_idle: bool = False, quiet: bool = False, on_event=None,
               leave_tracked: bool = False) -> int:
    """`lazyqueue worker` on the cluster: run until a signal (or idle); drain; exit 0."""
    import signal

    from ..core import events as ev

    worker = queue.start_worker(concurrency=concurrency)
    if not quiet and on_event is not None:
        queue.events.subscribe(on_event, types=(ev.TASK_STARTED, ev.TASK_COMPLETED, ev.TASK_FAILED,
                                                ev.TASK_CANCELLED, ev.TASK_EXPIRED, ev.TASK_QUEUED, ev.WORKER_STATE))
    stop = {"asked": False}

    def on_signal(signum, frame):
        if stop["asked"]:
            worker.grace_s = 0
        else:
            sys.stderr.write(f"lazyqueue: stopping (running tasks get {worker.grace_s:g} s; Ctrl-C again to re-queue them now)\n")
        stop["asked"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if not quiet:
        print(f"worker {worker.executor_id} on {mask(queue.url)} (concurrency {worker.concurrency})", flush=True)
    while not stop["asked"]:
        time.sleep(0.2)
        tracked = {k.name for k in queue.registry if not k.uses_slot} if leave_tracked else set()
        if exit_when_idle and all(run.task.kind in tracked for run in list(worker.running.values())) \
                and queue.is_idle(leave_tracked):
            if leave_tracked:
                worker.grace_s = 0  # tracked work left: re-queued now, not after a grace
            break
    queue.worker = None
    worker.stop()
    return 0


def follow_log(queue, task, follow: bool) -> int:
    """`log ID [--follow]` from the database (any host's output)."""
    from ..core.models import FINISHED

    offset = 0
    out = sys.stdout
    while True:
        chunk, offset_next = queue.read_log(task.id, offset)
        if chunk:
            out.write(chunk.decode("utf-8", "replace"))
            out.flush()
        offset = offset_next
        if not follow:
            if offset == 0:
                sys.stderr.write(f"lazyqueue: {task.ref} has no output yet ({task.status})\n")
            return 0
        if queue.get(task.id).status in FINISHED:
            chunk, offset = queue.read_log(task.id, offset)
            if chunk:
                out.write(chunk.decode("utf-8", "replace"))
                out.flush()
            return 0
        time.sleep(0.2)  # another host writes it: poll the database
