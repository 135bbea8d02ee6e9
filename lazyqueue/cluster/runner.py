"""A cluster worker: DBOS launched in this process, running lazyqueue's workflow.

DBOS dequeues a round from a kind's queue (its cluster-wide cap, priority and
delays held by DBOS) and calls the attempt step here. The step waits for one of
this process's slots (`[worker] concurrency`), claims the task's row, runs the
kind's handler with a TaskContext (so shell, download, track, TOML command and
Python kinds run unchanged), then records the outcome. Beside it: a heartbeat
row and the lease sweep (liveness.py), and a watcher that delivers cancel
requests, progress and log lines.
"""

from __future__ import annotations

import math
import os
import threading
import time
import uuid

from ..core import events as ev
from ..core.errors import Cancelled, TaskError, safe_failure_text
from ..core.models import EXPIRED, QUEUED, RUNNING, iso
from ..core.processes import HOST as _MACHINE
from ..core.processes import start_time as _proc_start
from . import deps
from .context import ClusterContext
from .outcome import apply, finish, requeue
from .rows import T, lock_task, queue_name, round_of, save_task, to_job, to_task, workflow_id

# The name this machine goes by in the cluster (owner.host, `per_host` caps, orphaned commands):
# LAZYQUEUE_HOST, else the host name. Two machines must not share one; processes of one machine must.
HOST = os.environ.get("LAZYQUEUE_HOST") or _MACHINE
HOST_POLL_S = 0.1  # a round waiting for its host's `per_host` slot looks again this often
HOST_RETRY_S = 1.0  # …or, when the kind also has a cluster-wide cap, goes back to the queue for this long
HOST_FULL = "host-full"
WATCH_S = 0.25  # cancel requests, progress and log lines reach / leave the database this often
PROGRESS_EVENT_S = 0.1


def running_on_host(conn, kind: str, host: str) -> int:
    """Tasks of `kind` running on `host`, counted under a lock on (kind, host) held to the end of
    `conn`'s transaction — so two processes of one host never both take its last `per_host` slot."""
    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"lazyqueue per_host {kind} {host}",))
    return conn.exec_driver_sql(
        f"SELECT count(*) FROM {T} WHERE status = 'running' AND kind = %s AND record->'owner'->>'host' = %s",
        (kind, host),
    ).scalar()


def database_away(exc: BaseException) -> bool:
    """Whether `exc` says the database could not be reached or answered (worth trying again)."""
    import sqlalchemy.exc as sa_exc

    return isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)) or (
        isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated)


class Run:
    def __init__(self, task, ctx, wf):
        self.task, self.ctx, self.wf = task, ctx, wf
        self.progress_dirty = False
        self.last_event = 0.0
        self.timer = None


class ClusterWorker:
    """Runs this cluster's tasks in this process. `start()` returns; `stop()` drains."""

    def __init__(self, queue, concurrency: int | None = None, grace_s: float | None = None):
        self.queue = queue
        self.engine = queue.engine
        self.concurrency = concurrency or queue.config.concurrency
        self.grace_s = queue.config.grace_s if grace_s is None else grace_s
        self.executor_id = f"{HOST}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.id = self.executor_id
        self.pstart = _proc_start(os.getpid())
        self.paused = False
        self.running: dict[int, Run] = {}
        self._lock = threading.Lock()
        self._slot_free = threading.Condition(self._lock)
        self._in_use = 0
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self.idle_event = threading.Event()
        self.errors: list[str] = []
        self._threads: list[threading.Thread] = []
        self._liveness = None
        self._logs = None
        self._loop = None
        self._launched = False

    # ---------------------------------------------------------------- control
    def start(self) -> "ClusterWorker":
        from dbos import DBOS

        from . import workflow
        from .liveness import Liveness
        from .logs import LogWriter
        from .url import dbos_url
        from .rows import APP_NAME, APP_VERSION

        self._liveness = Liveness(self)
        self._liveness.beat()  # the row exists before DBOS can hand us work
        self._logs = LogWriter(self.engine)
        workflow.bind(self)
        DBOS(config={
            "name": APP_NAME,
            "system_database_url": dbos_url(self.queue.url),
            "executor_id": self.executor_id,
            "application_version": APP_VERSION,
            "log_level": os.environ.get("LAZYQUEUE_DBOS_LOG", "ERROR"),
            "max_executor_threads": max(64, self.concurrency * 4),
            "run_migrations": False,
        })
        DBOS.launch()
        self._launched = True
        self.register_queues()
        for target, name in ((self._liveness.run, "lq-liveness"), (self._watch, "lq-watch")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def register_queues(self) -> None:
        """Every kind's DBOS queue with this config's caps (the last worker started sets them)."""
        from dbos import DBOS

        from .dispatch import queue_options

        for kind in self.queue.registry:
            DBOS.register_queue(queue_name(kind.name), on_conflict="always_update",
                                **queue_options(kind.name, self.queue.registry, self.queue.config))

    def pause(self) -> None:
        self.paused = True
        self.queue.events.publish(ev.Event(ev.WORKER_STATE, data={"paused": True}))

    def resume(self) -> None:
        self.paused = False
        with self._lock:
            self._slot_free.notify_all()
        self.queue.events.publish(ev.Event(ev.WORKER_STATE, data={"paused": False}))

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wake(self) -> None:
        pass

    def stop(self, grace: float | None = None, wait: bool = True) -> None:
        """Stop claiming; running tasks get `grace` s, then are queued again; DBOS shut down."""
        if grace is not None:
            self.grace_s = grace
        if self._stop.is_set():
            if wait:
                self._stopped.wait()
            return
        self._stop.set()
        with self._lock:
            self._slot_free.notify_all()
        if wait:
            self._drain()
        else:
            threading.Thread(target=self._drain, name="lq-drain", daemon=True).start()

    def join(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    def _drain(self) -> None:
        began = time.monotonic()
        while self.running and time.monotonic() < began + self.grace_s:  # a second Ctrl-C sets grace 0
            time.sleep(0.05)
        for run in list(self.running.values()):
            run.ctx.request_cancel("shutdown")
        settle = time.monotonic() + 5.0
        while self.running and time.monotonic() < settle:
            time.sleep(0.05)
        if self._launched:
            from dbos import DBOS

            DBOS.destroy(workflow_completion_timeout_sec=0)
            self._launched = False
        if self._liveness is not None:
            self._liveness.stopped()
        if self._logs is not None:
            self._logs.flush()
        self._stopped.set()

    def request_cancel(self, task_id: int) -> bool:
        run = self.running.get(task_id)
        if run is None:
            return False
        run.ctx.request_cancel("cancel")
        return True

    # ---------------------------------------------------------------- the attempt (DBOS step thread)
    def run_attempt(self, task_id: int, wf: str) -> str:
        with self.engine.connect() as conn:
            row = conn.exec_driver_sql(f"SELECT kind FROM {T} WHERE id = %s", (task_id,)).first()
        if row is None:
            return "gone"
        kind = self.queue.registry.find(row[0])
        exempt = kind is not None and not kind.uses_slot
        while True:
            if not self._take_slot(exempt):
                return self._hand_back(task_id, wf)
            try:
                claimed = self._claim(task_id, wf)
                if claimed is None:
                    return "skipped"
                if claimed != HOST_FULL:
                    task, job = claimed
                    kind_of, value, reason = self._execute(task, job, kind, wf)
                    return self._record(task_id, wf, kind_of, value, reason)
            finally:
                self._give_slot(exempt)
            # this host runs its `per_host` of the kind already (in this or another process)
            if kind is not None and kind.concurrency is not None:
                # waiting here would hold one of the kind's cluster-wide slots another host could use
                return self._hand_back(task_id, wf, delay=HOST_RETRY_S)
            if self._stop.wait(HOST_POLL_S):
                return self._hand_back(task_id, wf)

    def _take_slot(self, exempt: bool) -> bool:
        with self._lock:
            while not self._stop.is_set():
                if not self.paused and (exempt or self._in_use < self.concurrency):
                    if not exempt:
                        self._in_use += 1
                    return True
                self._slot_free.wait(0.5)
        return False

    def _give_slot(self, exempt: bool) -> None:
        with self._lock:
            if not exempt:
                self._in_use -= 1
            self._slot_free.notify()

    def _hand_back(self, task_id: int, wf: str, delay: float | None = None) -> str:
        """The round goes back to the queue (after `delay` s) for any worker: this one stops, or its host is full."""
        with self.engine.begin() as conn:
            found = lock_task(conn, task_id)
            if found is None or found[1] != wf or found[0].status != QUEUED:
                return "skipped"
            self.queue.dispatcher.requeue(conn, found[0], wf, delay=delay)
        earlier = round_of(wf) - 1
        if delay and earlier >= 1:
            # a round handed back for a full host leaves no trace: keep DBOS's rows from growing while it waits
            self.queue.dispatcher.delete([workflow_id(task_id, earlier)], quiet=True)
        return "handed-back"

    def _claim(self, task_id: int, wf: str):
        now = time.time()
        stamp = iso(now)
        with self.engine.begin() as conn:
            found = lock_task(conn, task_id)
            if found is None:
                return None
            task, current, _ex = found
            if current != wf or task.status != QUEUED:
                return None  # a stale round, or cancelled / taken meanwhile
            if task.expires_at and task.expires_at <= stamp:
                finish(task, EXPIRED, now, error="not started before it expired", error_kind="fatal")
                save_task(conn, task)
                deps.release(conn, self.queue.dispatcher, [task.id])
                self._publish(task)
                return None
            per_host = self.queue.config.per_host.get(task.kind)
            if per_host is not None and running_on_host(conn, task.kind, HOST) >= per_host:
                return HOST_FULL
            task.status = RUNNING
            task.attempt += 1
            task.started_at = task.updated_at = stamp
            task.finished_at = None
            task.progress = task.progress_label = None
            task.cancel_requested = False
            task.owner = self.owner()
            save_task(conn, task, executor_id=self.executor_id)
            job = None
            if task.job_id is not None:
                jrow = conn.exec_driver_sql("SELECT record FROM lazyqueue.jobs WHERE id = %s", (task.job_id,)).first()
                job = to_job(jrow[0]) if jrow else None
        self._publish(task, job)
        return task, job

    def owner(self, extra: dict | None = None) -> dict:
        owner = {"pid": os.getpid(), "host": HOST, "worker": self.executor_id, "executor_id": self.executor_id}
        if self.pstart:
            owner["pstart"] = self.pstart
        if extra:
            owner.update(extra)
        return owner

    def _execute(self, task, job, kind, wf):
        ctx = ClusterContext(task.copy(), job, self.queue.home / "logs" / f"{task.id}.log", self)
        run = Run(task, ctx, wf)
        self.running[task.id] = run
        self.idle_event.clear()
        timeout = task.timeout_s or (kind.timeout if kind else None)
        if timeout:
            run.timer = threading.Timer(timeout, ctx.request_cancel, ("timeout",))
            run.timer.daemon = True
            run.timer.start()
        try:
            if kind is None or kind.handler is None:
                raise TaskError(f"no handler for kind {task.kind!r} on this worker", error_kind="fatal")
            if kind.is_async:
                value = self._run_async(kind.handler, ctx)
            else:
                value = kind.handler(ctx)
        except BaseException as exc:  # noqa: BLE001 - every failure is recorded
            return "error", exc, ctx.cancel_reason
        else:
            return "ok", value, ctx.cancel_reason
        finally:
            if run.timer is not None:
                run.timer.cancel()
            ctx.close()

    def _run_async(self, handler, ctx):
        import asyncio

        if self._loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="lq-async", daemon=True).start()
            self._loop = loop

        async def call():
            current = asyncio.current_task()
            ctx.on_cancel(lambda: self._loop.call_soon_threadsafe(current.cancel))
            try:
                return await handler(ctx)
            except asyncio.CancelledError:
                raise Cancelled(ctx.cancel_reason or "cancel") from None

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result()

    def _record(self, task_id: int, wf: str, kind_of: str, value, reason) -> str:
        self._flush_run(task_id)
        if self._logs is not None:
            self._logs.flush()
        delay = 0.2
        substituted = False
        while True:
            try:
                return self._record_once(task_id, wf, kind_of, value, reason)
            except Exception as exc:  # noqa: BLE001 - the database is away: keep the outcome, try again
                text = safe_failure_text(exc)
                self.errors.append(f"recording t{task_id} failed: {text}")
                if not database_away(exc) and not substituted:  # this outcome cannot be recorded: record that
                    substituted = True
                    kind_of, value = "error", TaskError(f"lazyqueue could not record the outcome of t{task_id}: {text}",
                                                        error_kind="fatal")
                    continue
                if self._stop.is_set() and delay > 5:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _record_once(self, task_id, wf, kind_of, value, reason) -> str:
        now = time.time()
        with self.engine.begin() as conn:
            found = lock_task(conn, task_id)
            self.running.pop(task_id, None)
            if found is None:
                return "gone"
            task, current, executor = found
            if current != wf or executor != self.executor_id or task.status != RUNNING:
                return "taken-over"  # the sweep gave it to another worker meanwhile: not ours to record
            run_task = task
            data = apply(self, conn, run_task, wf, kind_of, value, reason, now)
        if not self.running:
            self.idle_event.set()
        self._publish(run_task, None, **data)
        return run_task.status

    def _publish(self, task, job=None, **data) -> None:
        kind_of = ev.STATUS_EVENT[task.status]
        self.queue.events.publish(ev.Event(kind_of, task=task.copy(), job=job, data=data))

    # ---------------------------------------------------------------- reports from handlers
    def report_progress(self, tid: int, value, label) -> None:
        run = self.running.get(tid)
        if run is None:
            return
        if isinstance(value, float) and not math.isfinite(value):
            value = None  # unknown: NaN or Infinity is not JSON
        run.task.progress = value
        if label is not None:
            run.task.progress_label = label
        run.progress_dirty = True
        now = time.monotonic()
        if now - run.last_event >= PROGRESS_EVENT_S:
            run.last_event = now
            self.queue.events.publish(ev.Event(ev.TASK_PROGRESS, task=run.task.copy()))

    def report_meta(self, tid: int, values: dict) -> None:
        run = self.running.get(tid)
        if run is None:
            return
        run.task.meta = {**run.task.meta, **values}
        run.progress_dirty = True

    def set_stage(self, tid: int, stage: str) -> None:
        run = self.running.get(tid)
        if run is None or run.task.job_id is None:
            return
        try:
            self.queue.set_stage(run.task.job_id, stage)
        except Exception as exc:  # noqa: BLE001
            self.errors.append(f"stage of t{tid}: {exc}")

    def note_child(self, tid: int, pid: int, **extra) -> None:
        """Record the command's process group, durably, before it may start (`extra`: the shell kind's log offset)."""
        info = {"child_pgid": pid, **extra}
        start = _proc_start(pid)
        if start and start != "zombie":
            info["child_pstart"] = start
        with self.engine.begin() as conn:
            found = lock_task(conn, tid)
            if found is None or found[2] != self.executor_id or found[0].status != RUNNING:
                raise Cancelled("cancel")
            task = found[0]
            task.owner = {**(task.owner or {}), **info}
            save_task(conn, task, executor_id=self.executor_id)
        run = self.running.get(tid)
        if run is not None:
            run.task.owner = task.owner

    def log_line(self, tid: int, line: str) -> None:
        if self._logs is not None:
            self._logs.add(tid, line)

    # ---------------------------------------------------------------- the watcher
    def _watch(self) -> None:
        while not self._stopped.is_set():
            try:
                self._watch_once()
            except Exception as exc:  # noqa: BLE001 - the database may be away a moment
                self.errors.append(f"watch: {exc}")
            self._stopped.wait(WATCH_S)

    def _watch_once(self) -> None:
        ids = list(self.running)
        if ids:
            with self.engine.connect() as conn:
                rows = conn.exec_driver_sql(
                    f"SELECT id, status, executor_id, cancel_requested FROM {T} WHERE id = ANY(%s)", (ids,)
                ).all()
            seen = {r[0]: r for r in rows}
            for tid in ids:
                run = self.running.get(tid)
                row = seen.get(tid)
                if run is None:
                    continue
                if row is None or row[3] or row[2] != self.executor_id or row[1] != RUNNING:
                    run.ctx.request_cancel("cancel")
            for tid in ids:
                self._flush_run(tid)
        if self._logs is not None:
            self._logs.flush()

    def _flush_run(self, tid: int) -> None:
        run = self.running.get(tid)
        if run is None or not run.progress_dirty:
            return
        run.progress_dirty = False
        with self.engine.begin() as conn:
            found = lock_task(conn, tid)
            if found is None or found[2] != self.executor_id or found[0].status != RUNNING:
                return
            task = found[0]
            task.progress, task.progress_label, task.meta = run.task.progress, run.task.progress_label, run.task.meta
            task.updated_at = iso()
            save_task(conn, task, executor_id=self.executor_id)


_ = (requeue, to_task)
