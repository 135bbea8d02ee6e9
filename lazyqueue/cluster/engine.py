"""ClusterQueue: the Engine protocol over PostgreSQL, with DBOS running the work.

The task and job records live in lazyqueue's tables (the `ls --json` fields);
DBOS queues (one per kind) hold what waits to run and enforce the caps,
priority and delays; `lazyqueue worker` processes on any host run it.
"""

from __future__ import annotations

import time
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable

from ..core import events as ev
from ..core.config import Config, apply_config, load_config
from ..core.errors import LazyQueueError, NotFound, UsageError
from ..core.models import (
    ACTIVE, CANCELLED, COMPLETED, FINISHED, QUEUED, RUNNING, Job, Task, iso, parse_iso, task_ref,
)
from ..core.paths import config_path, state_dir
from ..core.queue import CANCEL_DONE, CANCEL_NOTHING, CANCEL_SIGNALLED, CANCEL_TOO_LATE, Enqueued, Queue, TaskSpec, wait_finished
from ..kinds import default_registry
from . import deps, schema
from .build import build_task, check_priority
from .db import make_engine
from .rows import J, T, insert_job, insert_task, lock_task, next_id, save_job, save_task, to_job, to_task

DEFAULT_LEASE_S = 30.0


class ClusterQueue:
    """A queue in a PostgreSQL database shared by workers on many hosts.

    `url`: postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE. `home`: this
    machine's state directory (full logs of tasks run here). `check_schema=False`
    is for `cluster init`, which creates the schema.
    """

    distributed = True  # workers on any host share the queue; none is autostarted

    def __init__(self, url: str, home: str | Path | None = None, config: Config | str | Path | None = None,
                 registry=None, *, light: bool = False, plugins: bool = True, check_schema: bool = True,
                 lease_s: float | None = None):
        if isinstance(config, Config):
            self.config = config
        else:
            path, named = config_path(config)
            self.config = load_config(path, required=named)
        self.url = url
        self.registry = registry or default_registry()
        self.warnings: list[str] = []
        if plugins:
            self.registry.defer_plugins()
        from ..kinds.shell import command_handler

        apply_config(self.config, self.registry, command_handler)
        self.home = state_dir(home)
        self.lease_s = lease_s or getattr(self.config, "lease_s", None) or DEFAULT_LEASE_S
        self.engine = make_engine(url, pool_size=8)
        if check_schema:
            schema.require(self.engine, url)
        self.events = ev.EventBus()
        self.worker = None
        self._stop_asked = False
        self._dispatcher = None
        self._feed = None

    @property
    def dispatcher(self):
        if self._dispatcher is None:
            from .dispatch import Dispatcher

            self._dispatcher = Dispatcher(self.engine, self.registry, self.config)
        return self._dispatcher

    take_warnings = Queue.take_warnings  # the notices gathered since the last call, each once

    def _after_read(self) -> None:
        if self.registry.warnings:
            self.warnings += self.registry.warnings
            self.registry.warnings = []

    # ---------------------------------------------------------------- kinds
    def kind(self, name: str | None = None, **options: Any) -> Callable:
        """Decorator registering a Python handler: `@queue.kind("thumb", concurrency=2)`."""
        return self.registry.kind(name, **options)

    # ---------------------------------------------------------------- enqueue
    def enqueue(self, kind: str, payload: dict | None = None, **options: Any) -> Enqueued:
        """Queue one task; durable before it returns. Answers (task, deduplicated)."""
        return self.enqueue_many([TaskSpec(kind, payload, **options)])[0]

    def enqueue_many(self, specs: list[TaskSpec]) -> list[Enqueued]:
        """Queue several tasks in one transaction (all or nothing)."""
        built = [build_task(self.registry, spec, None) for spec in specs]
        for task, _key in built:
            self.dispatcher.ensure_queue(task.kind)
        results: list[Enqueued] = []
        with self.engine.begin() as conn:
            for (task, key), spec in zip(built, specs):
                if key:
                    existing = self._active_with_key(conn, key)
                    if existing is not None:
                        results.append(Enqueued(existing, True))
                        continue
                self._check_refs(conn, task)
                conn.exec_driver_sql("SAVEPOINT enq")
                task.id = next_id(conn, "task")
                if task.job_id is None:
                    job = Job(id=next_id(conn, "job"), title=spec.title or task.label,
                              created_at=task.created_at, updated_at=task.created_at)
                    insert_job(conn, job)
                    task.job_id = job.id
                if not insert_task(conn, task, None):  # another process took the key just now
                    conn.exec_driver_sql("ROLLBACK TO SAVEPOINT enq")
                    existing = self._active_with_key(conn, key)
                    if existing is not None:
                        results.append(Enqueued(existing, True))
                        continue
                    raise LazyQueueError(f"dedupe key {key!r} is busy; try again")
                state, _dep = deps.dependency_state(conn, task)
                if state == "ready":
                    wf = self.dispatcher.enqueue(conn, task)
                    conn.exec_driver_sql(f"UPDATE {T} SET workflow_id = %s WHERE id = %s", (wf, task.id))
                elif state == "failed":
                    deps.release(conn, self.dispatcher, [_dep])
                results.append(Enqueued(task, False))
        for r in results:
            if not r.deduplicated:
                self.events.publish(ev.Event(ev.TASK_QUEUED, task=r.task.copy()))
        return results

    def _active_with_key(self, conn, key: str) -> Task | None:
        row = conn.exec_driver_sql(
            f"SELECT record FROM {T} WHERE dedupe_key = %s AND status IN ('queued', 'running')", (key,)
        ).first()
        return to_task(row[0]) if row else None

    def _check_refs(self, conn, task: Task) -> None:
        if task.job_id is not None:
            if conn.exec_driver_sql(f"SELECT 1 FROM {J} WHERE id = %s", (task.job_id,)).first() is None:
                raise NotFound(f"no job #{task.job_id:03d}")
        for dep in task.after:
            if conn.exec_driver_sql(
                f"SELECT 1 FROM {T} WHERE id = %s UNION ALL SELECT 1 FROM {schema.SCHEMA}.archive WHERE id = %s",
                (dep, dep),
            ).first() is None:
                raise NotFound(f"no task {task_ref(dep)} to wait for")

    # ---------------------------------------------------------------- queries
    def get(self, task_id: int) -> Task:
        """One task (live, else archived); NotFound if unknown."""
        with self.engine.connect() as conn:
            row = conn.exec_driver_sql(f"SELECT record FROM {T} WHERE id = %s", (task_id,)).first()
            if row is None:
                row = conn.exec_driver_sql(f"SELECT record FROM {schema.SCHEMA}.archive WHERE id = %s", (task_id,)).first()
        if row is None:
            raise NotFound(f"no task {task_ref(task_id)}")
        return to_task(row[0])

    def job(self, job_id: int) -> Job:
        with self.engine.connect() as conn:
            row = conn.exec_driver_sql(f"SELECT record FROM {J} WHERE id = %s", (job_id,)).first()
        if row is None:
            raise NotFound(f"no job #{job_id:03d}")
        return to_job(row[0])

    def tasks(self, status: str | Iterable[str] | None = None, kind: str | None = None,
              job: int | None = None) -> list[Task]:
        """Live tasks, oldest first, filtered."""
        where, values = [], []
        if status:
            where.append("status = ANY(%s)")
            values.append([status] if isinstance(status, str) else list(status))
        if kind is not None:
            where.append("kind = %s")
            values.append(kind)
        if job is not None:
            where.append("job_id = %s")
            values.append(job)
        sql = f"SELECT record FROM {T}" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        with self.engine.connect() as conn:
            return [to_task(r[0]) for r in conn.exec_driver_sql(sql, tuple(values)).all()]

    def recent_tasks(self, limit: int, status: str | None = None, kind: str | None = None,
                     job: int | None = None) -> tuple[list[Task], int]:
        """The newest `limit` matching live tasks, oldest first, and how many older ones match."""
        tasks = self.tasks(status=status, kind=kind, job=job)
        return tasks[-limit:], max(0, len(tasks) - limit)

    def write_tasks_json(self, out, status: str | None = None, kind: str | None = None,
                         job: int | None = None) -> bool:
        """Not streamed from the database: False, `tasks()` lists them."""
        return False

    def jobs(self) -> list[Job]:
        with self.engine.connect() as conn:
            return [to_job(r[0]) for r in conn.exec_driver_sql(f"SELECT record FROM {J} ORDER BY id").all()]

    def snapshot(self) -> tuple[dict[int, Task], dict[int, Job]]:
        """Every live task and job at one instant (one repeatable-read transaction)."""
        with self.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            with conn.begin():
                tasks = {t.id: t for t in (to_task(r[0]) for r in conn.exec_driver_sql(f"SELECT record FROM {T}").all())}
                jobs = {j.id: j for j in (to_job(r[0]) for r in conn.exec_driver_sql(f"SELECT record FROM {J}").all())}
        return tasks, jobs

    def why_waiting(self, task_id: int, now: float | None = None) -> str:
        """Why a queued task is not running yet, in words."""
        from .waiting import why_waiting

        return why_waiting(self, task_id, now)

    def queued_line(self, tasks, now: float | None = None):
        """None: `ls` works the line out from tasks() and why_waiting()."""
        return None

    def position(self, task_id: int) -> int:
        """A queued task's place in the run order of its kind (1 = next); 0 if not queued."""
        with self.engine.connect() as conn:
            row = conn.exec_driver_sql(f"SELECT kind, status, (record->>'priority')::int FROM {T} WHERE id = %s", (task_id,)).first()
            if row is None or row[1] != QUEUED:
                return 0
            ahead = conn.exec_driver_sql(
                f"SELECT count(*) FROM {T} WHERE status = 'queued' AND kind = %s AND "
                "((record->>'priority')::int > %s OR ((record->>'priority')::int = %s AND id < %s))",
                (row[0], row[2], row[2], task_id),
            ).scalar()
        return ahead + 1

    # ---------------------------------------------------------------- changes
    def retry(self, task_ids: Iterable[int]) -> list[Enqueued]:
        """Queue finished-unsuccessfully tasks again with a fresh attempt budget."""
        out: list[Enqueued] = []
        with self.engine.begin() as conn:
            for tid in task_ids:
                found = lock_task(conn, tid)
                if found is None:
                    raise NotFound(f"no task {task_ref(tid)} in the live queue")
                task, wf, _ex = found
                if task.status in ACTIVE:
                    raise LazyQueueError(f"{task.ref} is {task.status}; nothing to retry")
                if task.status == COMPLETED and not task.meta.get("retry_offered"):
                    raise LazyQueueError(f"{task.ref} completed; nothing to retry")
                if task.dedupe_key:
                    other = self._active_with_key(conn, task.dedupe_key)
                    if other is not None:
                        out.append(Enqueued(other, True))
                        continue
                if task.error:
                    task.meta = dict(task.meta, last_error=task.error)
                task.status = QUEUED
                task.attempt = 0
                task.error = task.error_kind = None
                task.not_before = task.started_at = task.finished_at = None
                task.progress = task.progress_label = None
                task.owner = None
                task.cancel_requested = False
                task.meta.pop("retry_offered", None)
                stamp = iso()
                if task.expires_at and task.expires_at <= stamp:
                    task.expires_at = None
                task.updated_at = stamp
                self.dispatcher.ensure_queue(task.kind)
                self.dispatcher.requeue(conn, task, wf)
                out.append(Enqueued(task, False))
        for r in out:
            if not r.deduplicated:
                self.events.publish(ev.Event(ev.TASK_QUEUED, task=r.task.copy(), data={"retried": True}))
        return out

    def retry_failed(self) -> list[Enqueued]:
        ids = [t.id for t in self.tasks(status="failed")]
        return self.retry(ids) if ids else []

    def cancel(self, task_id: int) -> str:
        """Cancel a task: CANCEL_DONE, CANCEL_SIGNALLED, CANCEL_TOO_LATE or CANCEL_NOTHING."""
        cancel_wf = None
        with self.engine.begin() as conn:
            found = lock_task(conn, task_id)
            if found is None:
                if conn.exec_driver_sql(f"SELECT 1 FROM {schema.SCHEMA}.archive WHERE id = %s", (task_id,)).first():
                    return CANCEL_NOTHING
                raise NotFound(f"no task {task_ref(task_id)}")
            task, wf, _ex = found
            stamp = iso()
            if task.status == QUEUED:
                task.status = CANCELLED
                task.finished_at = task.updated_at = stamp
                task.error, task.error_kind = "cancelled", "user"
                save_task(conn, task)
                deps.release(conn, self.dispatcher, [task.id])
                cancel_wf, answer = wf, CANCEL_DONE
            elif task.status == RUNNING:
                if not task.cancel_requested:
                    task.cancel_requested = True
                    task.updated_at = stamp
                    save_task(conn, task)
                answer = CANCEL_SIGNALLED
            elif task.status == COMPLETED:
                answer = CANCEL_TOO_LATE
            else:
                answer = CANCEL_NOTHING
        if cancel_wf:
            self.dispatcher.cancel(cancel_wf)
        if answer == CANCEL_DONE:
            self.events.publish(ev.Event(ev.TASK_CANCELLED, task=task.copy()))
        elif answer == CANCEL_SIGNALLED:
            self.events.publish(ev.Event(ev.TASK_UPDATED, task=task.copy(), data={"cancel_requested": True}))
            if self.worker is not None:
                self.worker.request_cancel(task_id)
        return answer

    def set_priority(self, task_id: int, priority: int) -> Task:
        check_priority(priority)
        with self.engine.begin() as conn:
            found = lock_task(conn, task_id)
            if found is None:
                raise NotFound(f"no task {task_ref(task_id)}")
            task, wf, _ex = found
            if task.status != QUEUED:
                raise LazyQueueError(f"{task.ref} is {task.status}; only a queued task's priority can change")
            task.priority = priority
            task.updated_at = iso()
            save_task(conn, task)
            self.dispatcher.set_priority(conn, wf, priority)
        self.events.publish(ev.Event(ev.TASK_UPDATED, task=task.copy(), data={"priority": priority}))
        return task

    def set_stage(self, job_id: int, stage: str) -> Job:
        with self.engine.begin() as conn:
            row = conn.exec_driver_sql(f"SELECT record FROM {J} WHERE id = %s FOR UPDATE", (job_id,)).first()
            if row is None:
                raise NotFound(f"no job #{job_id:03d}")
            job = to_job(row[0])
            job.stage = stage
            job.updated_at = iso()
            save_job(conn, job)
        self.events.publish(ev.Event(ev.JOB_UPDATED, job=job))
        return job

    def delete_job(self, job_id: int) -> int:
        """Cancel a job's active tasks, then move the job and its tasks to the archive."""
        self.job(job_id)
        for task in self.tasks(job=job_id):
            if task.status in ACTIVE:
                self.cancel(task.id)
        from .retention import archive

        with self.engine.begin() as conn:
            ids = [r[0] for r in conn.exec_driver_sql(f"SELECT id FROM {T} WHERE job_id = %s FOR UPDATE", (job_id,)).all()]
            workflows = archive(conn, ids, "deleted")
            conn.exec_driver_sql(f"DELETE FROM {J} WHERE id = %s", (job_id,))
        self.dispatcher.delete(workflows)
        self.events.publish(ev.Event(ev.JOB_UPDATED, job=Job(id=job_id), data={"deleted": True}))
        return len(ids)

    def delete_tasks(self, task_ids, cancel_running: bool = False) -> list[Task]:
        """Remove tasks (to the archive) and the jobs they leave empty; a running one is refused
        unless `cancel_running` (then it is cancelled first)."""
        ids = list(dict.fromkeys(task_ids))
        found = {t.id: t for t in (self.get(tid) for tid in ids)}
        with self.engine.begin() as conn:
            live = {r[0] for r in conn.exec_driver_sql(f"SELECT id FROM {T} WHERE id = ANY(%s)", (ids,)).all()}
        for tid in ids:
            if tid not in live:
                raise NotFound(f"no task {task_ref(tid)} in the live queue")
            if found[tid].status == RUNNING and not cancel_running:
                raise LazyQueueError(f"{found[tid].ref} is running; cancel it first")
        for tid in ids:
            if found[tid].status == RUNNING:
                self.cancel(tid)
        from .retention import archive

        with self.engine.begin() as conn:
            rows = conn.exec_driver_sql(f"SELECT record FROM {T} WHERE id = ANY(%s) FOR UPDATE", (ids,)).all()
            tasks = [to_task(r[0]) for r in rows]
            started = next((t for t in tasks if t.status == RUNNING and not t.cancel_requested), None)
            if started is not None:
                raise LazyQueueError(f"{started.ref} is running; cancel it first")
            workflows = archive(conn, [t.id for t in tasks], "deleted")
            jobs = sorted({t.job_id for t in tasks if t.job_id is not None})
            emptied = [r[0] for r in conn.exec_driver_sql(
                f"DELETE FROM {J} j WHERE j.id = ANY(%s) AND NOT EXISTS (SELECT 1 FROM {T} t WHERE t.job_id = j.id) "
                "RETURNING j.id", (jobs,)).all()]
        self.dispatcher.delete(workflows)
        for task in tasks:
            self.events.publish(ev.Event(ev.TASK_UPDATED, task=task.copy(), data={"deleted": True}))
        for jid in emptied:
            self.events.publish(ev.Event(ev.JOB_UPDATED, job=Job(id=jid), data={"deleted": True}))
        return tasks

    def prune(self) -> int:
        """Apply the retention policy now: finished tasks past it leave the live queue (and DBOS's rows)."""
        from .retention import prune

        count = prune(self)
        if count:
            self.events.publish(ev.Event(ev.STORE_RELOADED))
        return count

    # ---------------------------------------------------------------- logs
    def log_path(self, task_id: int) -> Path:
        """A file holding the task's log on this machine.

        The full log if the task ran here; otherwise a local copy of what the
        database holds (its last 1 MB), brought up to date on every call and, for
        running tasks, by the change feed — so the TUI's file-based views follow
        output written on any host.
        """
        path = self.home / "logs" / f"{task_id}.log"
        if path.exists():
            return path
        from .logs import mirror

        return mirror(self, task_id)

    def read_log(self, task_id: int, offset: int = 0, limit: int | None = None) -> tuple[bytes, int]:
        """Log bytes from the database from `offset` (negative: the last -offset bytes), and the next offset.

        The database keeps the last 1 MB of each task; the full log stays in
        the state directory of the host that ran it (logs/ID.log).
        """
        from .logs import read_log

        return read_log(self.engine, task_id, offset, limit)

    def archive_location(self) -> str:
        from .url import mask

        return f"the table {schema.SCHEMA}.archive in {mask(self.url)}"

    def task_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.exec_driver_sql(f"SELECT count(*) FROM {T}").scalar()

    # ---------------------------------------------------------------- change feed
    def subscribe(self, callback: Callable[[ev.Event], None], types: tuple[str, ...] | None = None) -> Callable[[], None]:
        """Call `callback(event)` for each change, from any process (polled from the database)."""
        if self._feed is None:
            from .feed import Feed

            self._feed = Feed(self).start()
        return self.events.subscribe(callback, types)

    # ---------------------------------------------------------------- workers
    def start_worker(self, concurrency: int | None = None, grace_s: float | None = None):
        """Run a worker of the cluster in this process (DBOS launched here)."""
        from .runner import ClusterWorker

        if self.worker is None:
            self.worker = ClusterWorker(self, concurrency=concurrency, grace_s=grace_s).start()
        return self.worker

    def run_worker(self, concurrency: int | None = None, exit_when_idle: bool = False) -> None:
        """Run a worker until `self.worker.stop()` (a signal handler may call it), or idle.

        Answers None: a cluster worker never stops on its own (its state is the database)."""
        worker = self.start_worker(concurrency)
        if self._stop_asked:  # a signal before the worker existed
            worker.stop(wait=False)
        try:
            while not worker.stopping:
                time.sleep(0.2)
                if exit_when_idle and not worker.running and self.is_idle():
                    break
        finally:
            worker.stop()
            self.worker = None

    def request_stop(self) -> None:
        """From a signal handler: stop this process's worker (in a thread of its own, `core.signals`)."""
        from ..core.signals import soon

        self._stop_asked = True
        if self.worker is not None:
            soon(self.worker.stop, wait=False)

    def stop_worker(self, grace: float | None = None) -> None:
        if self.worker is not None:
            self.worker.stop(grace)
            self.worker = None

    def status_note(self) -> str | None:
        """'3 workers on 2 hosts', as of the change feed's last look (no query here: the TUI asks every second)."""
        return self._feed.note if self._feed is not None else None

    def workers(self) -> list:
        """The live workers of this cluster (heartbeat within the lease)."""
        from .status import live_workers

        return live_workers(self)

    def is_idle(self, leave_tracked: bool = False) -> bool:
        """Nothing runs anywhere, and no queued task can start without outside help
        (`leave_tracked`: tracked work, kinds that take no slot, does not count)."""
        tracked = [k.name for k in self.registry if not k.uses_slot] if leave_tracked else []
        names = [k.name for k in self.registry if k.name not in tracked]
        with self.engine.connect() as conn:
            busy = conn.exec_driver_sql(
                f"SELECT 1 FROM {T} WHERE (status = 'running' AND NOT kind = ANY(%s)) OR (status = 'queued' "
                "AND workflow_id IS NOT NULL AND kind = ANY(%s)) LIMIT 1", (tracked, names)
            ).first()
        return busy is None

    def wait(self, task_ids: Iterable[int], timeout: float | None = None, poll: float = 0.2) -> list[Task]:
        """Block until every task is finished (or `timeout`: TimeoutError)."""
        return wait_finished(self.get, task_ids, timeout, poll)  # other hosts own the work: poll the database

    def close(self) -> None:
        self.stop_worker()
        if self._feed is not None:
            self._feed.stop()
            self._feed = None
        if self._dispatcher is not None:
            self._dispatcher.close()
        self.engine.dispose()

    def __enter__(self) -> "ClusterQueue":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_ = (parse_iso, UsageError)
