"""The worker loop: claims tasks under the caps, runs them, records outcomes.

One loop serves the TUI (in a thread) and `lazyqueue worker` (headless).
Each pass (`tick`) holds the file lock once: catch up with other processes,
record finished handlers, recover tasks whose owner died, expire what is
overdue, renew leases, persist progress, claim new work — one durable write.
Events are published after the write, so a listener never hears of a change
that could still be lost. Handlers run off this thread: sync ones in a thread
pool, async ones on an event loop thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import events as ev
from . import adoption, lifecycle
from .context import TaskContext
from .errors import Cancelled, Interrupted, LazyQueueError, StoreError, TaskError, failure_text
from .handler_threads import HandlerThreads
from .models import COMPLETED, FAILED, QUEUED, RUNNING, Job, Task, iso, parse_iso
from .processes import HOST, kill_group, pid_alive, start_time
from .scheduling import Caps, due_scan, plan_claims
from .state import Change

if TYPE_CHECKING:
    import asyncio

    from .events import EventBus
    from .joined import Joined
    from .registry import Registry
    from .taskfile import TaskFile

LEASE_S = 30.0
HEARTBEAT_S = LEASE_S / 3
RECOVERY_SCAN_S = 2.0
EXTERNAL_POLL_S = 0.25
COALESCE_S = 0.002  # a finished task waits at most this long to share its write
JOIN_WAIT_S = 0.005  # while this process enqueues, an outcome waits this long for the next enqueue's write
PROGRESS_EVENT_S = 0.1  # at most ~10 progress events a second per task
PROGRESS_WRITE_S = 1.0  # progress reaches the file at most once a second
ABANDON_GRACE_S = 5.0  # a handler that ignores cancel is abandoned this long after

# Two clocks: wall time (time.time) for what is written — created_at, not_before,
# lease_until — and the monotonic clock for every interval this process waits
# out (timeouts, heartbeats, scans, grace), so a clock step neither fires nor
# stalls them.


def _described(exc: BaseException) -> str:
    """An exception in one line: its class and message."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


_PLAIN = frozenset((str, int, bool))  # results that are always JSON: no need to try encoding them


@dataclass
class Running:
    task_id: int
    ctx: TaskContext
    deadline: float | None  # monotonic
    started: float  # monotonic
    abandon_at: float | None = None  # monotonic


class Pass:
    """What one pass of the worker decided; written in one change, announced after."""

    def __init__(self, now: float, mono: float):
        self.now = now  # wall time: what this pass writes
        self.mono = mono  # monotonic: what this pass schedules
        self.touched: dict[int, Task] = {}  # new records of tasks this pass moved
        self.added: list[Task] = []  # tasks this pass made (follow-ups)
        self.patches: list[dict] = []  # leases, progress
        self.jobs: list[Job] = []  # job stages
        self.published: list = []  # transitions and events, in order
        self.queued: list[Task] = []  # tasks this pass (re-)queued
        self.to_start: list[Task] = []  # claimed: dispatched once written
        self.new_keys: dict = {}  # dedupe keys of the tasks this pass made
        self.changed: set[int] = set()  # ids another process changed

    def move(self, moved: "lifecycle.Transition") -> None:
        """A task's status changed (its new record replaces any earlier one of this pass)."""
        self.touched[moved.task.id] = moved.task
        self.published.append(moved)
        if moved.task.status == QUEUED:
            self.queued.append(moved.task)

    def add(self, made: "lifecycle.Transition") -> None:
        """A new task was made."""
        self.added.append(made.task)
        self.published.append(made)
        self.queued.append(made.task)

    def change(self) -> Change:
        """Everything this pass writes."""
        return Change(tasks=self.added + list(self.touched.values()), jobs=self.jobs, patches=self.patches)


class Worker:
    """Runs the queued tasks of one task file. Use `start()` (thread) or `run()` (blocking).

    It is handed what it works with: the task file (and the state it keeps
    current), the event bus it announces on, and the registry of kinds it runs.
    """

    _joined_class = None  # joined.Joined, once first asked for

    def __init__(self, taskfile: "TaskFile", events: "EventBus", registry: "Registry",
                 concurrency: int = 2, grace_s: float = 10.0):
        self.taskfile = taskfile
        self.state = taskfile.state
        self.events = events
        self.registry = registry
        self.concurrency = concurrency
        self.grace_s = grace_s
        self.id = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.paused = False
        self.gone: str | None = None  # why this worker stopped on its own: its state directory was removed
        self.running: dict[int, Running] = {}
        self._outcomes: list[tuple[int, str, Any]] = []
        self._outcome_lock = threading.Lock()
        self._pending_outcomes: list[tuple[int, str, Any]] = []
        self._wake = threading.Event()
        self._wake.set()  # the first pass runs at once: recover, expire, claim
        self._passing = threading.Lock()  # one pass at a time: the loop's, or one joined to an enqueue
        self._passer: int | None = None  # the thread in a pass (its event subscribers' enqueues do not join)
        self._joined_until = 0.0  # monotonic: enqueues of this process run the passes (outcomes wait for them) till then
        self._next_look = 0.0  # monotonic: when an idle loop next looks at the file for other processes' writes
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._pool = HandlerThreads(max(8, self.concurrency * 2), "lq-task")
        self._async_handlers: dict = {}  # handler → whether it is a coroutine function (inspect is slow per task)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._rng = random.Random()
        self._pid = os.getpid()
        self._pstart = start_time(self._pid)
        self._logs = os.fspath(taskfile.logs_dir)
        # monotonic times of the next heartbeat, orphan scan, due scan and pass
        self._next_heartbeat = 0.0
        self._next_recovery = 0.0
        self._next_due_scan = 0.0
        self._due_at: float | None = None
        self._queue_due: float | None = None  # wall time: the next not_before / expires_at in the file
        self._leases_seen: dict[int, tuple[str, float, bool]] = {}  # another host's lease: value, since (monotonic), renewed
        self._wall_at_start = time.time() - time.monotonic()  # wall = this + monotonic, as the clock stood at start
        self._progress_dirty: set[int] = set()
        self._progress_pub: dict[int, float] = {}
        self._progress_pending: set[int] = set()
        self._next_progress_write = 0.0
        self._progress_lock = threading.Lock()
        self._children: dict[int, dict] = {}
        self._stage_updates: dict[int, str] = {}
        self.errors: list[str] = []
        self.idle_event = threading.Event()
        self.where = "foreground"  # "background" for the one `add` starts (workers/<pid>.json says so)
        self.leave_running = False  # stop without stopping commands: the next worker adopts them
        self._to_adopt: list[tuple[int, dict]] = []  # commands this pass took over from a dead worker

    # ---------------------------------------------------------------- control
    def start(self) -> "Worker":
        self._thread = threading.Thread(target=self.run, name="lazyqueue-worker", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """Something was queued or changed in this process: look again, due times too."""
        self._next_due_scan = 0.0
        self._wake.set()

    def pause(self) -> None:
        self.paused = True
        self.events.publish(ev.Event(ev.WORKER_STATE, data={"paused": True}))

    def resume(self) -> None:
        self.paused = False
        self.events.publish(ev.Event(ev.WORKER_STATE, data={"paused": False}))
        self.wake()

    def stop(self, grace: float | None = None, wait: bool = True, leave_running: bool = False) -> None:
        """Stop claiming; let running tasks finish within `grace`, then re-queue the rest.

        `leave_running`: stop at once and leave running commands alone; the
        worker that recovers their tasks adopts them (SIGHUP, "keep them running").
        """
        if grace is not None:
            self.grace_s = grace
        if leave_running:
            self.leave_running = True
            for run in list(self.running.values()):
                run.ctx.abandon()
        self._stop.set()
        self._wake.set()
        if wait and self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def caps(self) -> Caps:
        """The caps this worker claims under (its global cap and the kinds' caps).

        While some kinds are not loaded yet (download and track, plugins), the caps
        are those of the kinds of the tasks queued or running: a process whose
        tasks are all of its own kinds never imports their modules (~80 ms of CPU
        and http, ssl and asyncio on the first claim).
        """
        registry = self.registry
        if registry.settled:
            return registry.caps(self.concurrency)
        state = self.state
        kinds = set(state.queued_kinds)
        tasks = state.tasks
        for tid in state.running_ids:
            task = tasks.get(tid)
            if task is not None:
                kinds.add(task.kind)
        return registry.caps(self.concurrency, only=kinds)

    def outcomes_waiting(self) -> int:
        """How many handlers have returned (or raised) since the last pass recorded outcomes."""
        with self._outcome_lock:
            return len(self._outcomes)

    def close(self) -> None:
        """Let go of the threads of a worker driven by `tick()` alone (`run()` does this itself)."""
        self._stop.set()
        self._pool.shutdown(wait=True)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)

    # ---------------------------------------------------------------- loop
    def run(self) -> None:
        """The loop; returns after `stop()` once running tasks are settled."""
        from . import background, wake

        listener = wake.listen(self.taskfile.home, self._wake.set)  # another process's enqueue wakes us
        self.taskfile.before_sync = self._let_go  # an enqueue's fsync lets go the handlers its burst held
        record = background.register(self.taskfile.home, self.where, self.id)  # workers/<pid>.json: a worker runs here
        try:
            while not self._stop.is_set():
                self._wait_for_work()
                if self._stop.is_set():
                    break
                try:
                    self.tick()
                except Exception as exc:  # a bug in one pass must not strand running tasks
                    if self._home_gone():
                        break
                    import logging

                    logging.getLogger("lazyqueue").exception("worker pass failed")
                    self.errors.append(f"worker pass failed: {exc!r}")
                    self.events.publish(ev.Event(ev.WORKER_STATE, data={"error": self.errors[-1]}))
                    self._stop.wait(0.5)
            if self.gone:
                self._abandon_all()
            else:
                self._drain()
                self._fold_journal()
        finally:
            self.taskfile.before_sync = None
            self._let_go()
            if listener is not None:
                listener.close()
            background.unregister(record)
            self._pool.shutdown(wait=False, cancel_pending=True)
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._stopped.set()

    def _home_gone(self) -> bool:
        """The state directory was removed: nothing this worker does can be recorded any more, so it stops."""
        if os.path.isdir(self.taskfile.home):
            return False
        self.gone = f"the state directory {self.taskfile.home} was removed: this worker stops"
        self.errors.append(self.gone)
        self.events.publish(ev.Event(ev.WORKER_STATE, data={"error": self.gone}))
        self._stop.set()
        return True

    def _abandon_all(self) -> None:
        """Stop every handler (a command's whole group): its task and its log went with the directory."""
        for run in list(self.running.values()):
            run.ctx.request_cancel("shutdown")
        self.running.clear()

    def _wait_for_work(self) -> None:
        while not self._stop.is_set():
            timeout = EXTERNAL_POLL_S
            now = time.monotonic()
            if self._due_at is not None:
                timeout = min(timeout, self._due_at - now)
            if self._joined_until > now:  # an outcome may be waiting for an enqueue that never comes
                timeout = min(timeout, self._joined_until - now)
            if self._wake.wait(max(0.0, timeout)):
                self._wake.clear()
                self._coalesce()
                return
            now = time.monotonic()
            if self._due_at is not None and now >= self._due_at:
                return
            if now >= self._joined_until:
                self._let_go()  # the burst of enqueues is over: no fsync of theirs will let the handlers go
                if self.outcomes_waiting():
                    return
            if now + 0.01 < self._next_look:
                continue  # woken early (an enqueue's window): the file is looked at about EXTERNAL_POLL_S apart
            self._next_look = now + EXTERNAL_POLL_S
            if self.taskfile.changed_on_disk() or self.taskfile.has_undrained_changes():
                return

    def _coalesce(self) -> None:
        """Give other running handlers a moment to finish so one write records them all."""
        deadline = time.monotonic() + COALESCE_S
        while True:
            with self._outcome_lock:
                waiting = len(self._outcomes)
            if waiting == 0 or waiting >= len(self.running):
                return
            left = deadline - time.monotonic()
            if left <= 0 or not self._wake.wait(left):
                return
            self._wake.clear()

    def tick(self, recover_now: bool = False) -> None:
        """One pass under the lock: the steps below, then one durable write, then the events.

        Each step decides on the records as written plus what earlier steps of
        this pass changed (`pass_.touched`); nothing is applied to memory before
        the write succeeds.
        """
        with self._passing:
            self._passer = threading.get_ident()
            try:
                self._tick(recover_now)
            finally:
                self._passer = None

    def _tick(self, recover_now: bool) -> None:
        self._let_go()
        pass_ = Pass(now=time.time(), mono=time.monotonic())
        if recover_now:
            self._next_recovery = 0.0
        try:
            with self.events.after_write(self.taskfile.lock) as published:
                self.taskfile.sync()
                self._steps(pass_, published)
        except StoreError as exc:
            self._store_failed(exc, pass_)
            return
        except Exception:  # a bug of the pass itself: nothing was written; the outcomes wait for the next one
            self._give_back(pass_)
            raise
        self._written(pass_)

    def _steps(self, pass_: "Pass", published: list) -> None:
        """The pass itself, under the lock, caught up with the file: decide, write (not yet fsynced), queue the events."""
        self._hear_other_processes(pass_)
        self._record_outcomes(pass_)
        self._recover_orphans(pass_)
        self._check_deadlines(pass_)
        self._expire_overdue(pass_)
        self._renew_leases(pass_)
        self._persist_progress(pass_)
        self._claim_work(pass_)
        self._flush_stage_updates(pass_)
        self.taskfile.commit(pass_.change())
        for item in pass_.published:  # out once durable
            event = self._announce(item)
            if event is not None:
                published.append(event)

    def _written(self, pass_: "Pass", hold: bool = False) -> None:
        """The pass is durable: let go of recorded handlers, start what it claimed, plan the next pass.

        `hold`: a joined pass in a burst of enqueues: its handlers wait for the next fsync (HandlerThreads.hold).
        """
        self._settle_recorded()
        for moved in pass_.queued:
            self._note_queued(moved)
        for task in pass_.to_start:
            self._start(task, hold=hold)
        adopted, self._to_adopt = self._to_adopt, []
        for tid, child in adopted:
            task = self.state.tasks.get(tid)
            if task is not None and task.status == RUNNING:
                self._start(task, adopt=child)
        self._publish_pending_progress()
        busy = bool(self.running) or bool(self.state.queued_ids)
        if not busy:
            self.idle_event.set()
        else:
            self.idle_event.clear()
        self._plan_next_wake()

    def joining(self) -> "Joined | None":
        """A pass to run inside an enqueue of this process (its write), or None: the loop is not
        running here or is stopping, or has not read the file yet, or this thread is already in a
        pass or holds the lock (an event subscriber that enqueues), or the loop's pass takes long
        (then it is woken as before)."""
        if self._thread is None or self._stop.is_set() or not self.taskfile.loaded or self.taskfile.lock.held_by_me():
            return None  # (before the loop's first pass has read the file, it claims as before)
        if self._passer == threading.get_ident() or not self._passing.acquire(timeout=JOIN_WAIT_S):
            return None
        joined = Worker._joined_class
        if joined is None:  # joined.py imports this module: found once, not by an import per enqueue
            from .joined import Joined as joined

            Worker._joined_class = joined
        return joined(self)

    # ---------------------------------------------------------------- the pass, step by step
    def _hear_other_processes(self, pass_: "Pass") -> None:
        """What other processes wrote: a cancel asked elsewhere reaches its handler.

        (Their events reach this process's subscribers through the queue's journal feed.)
        """
        changed, _changed_jobs = self.taskfile.drain_changes()
        pass_.changed = changed
        for tid in changed:
            run = self.running.get(tid)
            if run is None:
                continue
            task = self.state.tasks.get(tid)
            if task is None or task.cancel_requested:
                run.ctx.request_cancel("cancel")

    def _expire_overdue(self, pass_: "Pass") -> None:
        """Queued tasks past their `expires_at` become expired; note when the next one is due."""
        now = pass_.now
        queue_due = self._queue_due
        if pass_.mono >= self._next_due_scan or pass_.changed or (queue_due is not None and now >= queue_due):
            expired, next_due = due_scan(self.state, iso(now))
            for task in expired:
                with self._isolated(pass_, task, "expire"):
                    pass_.move(lifecycle.expire(task, now))
            self._next_due_scan = pass_.mono + 1.0
            self._queue_due = parse_iso(next_due) if next_due else None

    def _renew_leases(self, pass_: "Pass") -> None:
        """Every HEARTBEAT_S: extend the lease of each task this worker runs."""
        now = pass_.now
        if pass_.mono < self._next_heartbeat or not self.running:
            return
        self._next_heartbeat = pass_.mono + HEARTBEAT_S
        for tid in self.running:
            task = self.state.tasks.get(tid)
            if task is None or task.status != RUNNING or (task.owner or {}).get("worker") != self.id:
                continue
            if tid not in pass_.touched:
                pass_.patches.append({"id": tid, "owner": self._owner(now, self._children.get(tid))})

    def _claim_work(self, pass_: "Pass") -> None:
        """Start what the caps allow; fail tasks whose dependency did not complete."""
        if self.paused or self._stop.is_set():
            return
        now = pass_.now
        now_iso = iso(now)
        plan = plan_claims(self.state, self.caps(), now_iso, archived=self.taskfile.archived_task,
                           pending=pass_.touched)
        for task, why in plan.dependency_failed:
            with self._isolated(pass_, task, "fail (its dependency failed)"):
                pass_.move(lifecycle.dependency_failed(task, why, now))
        if plan.dependency_failed:
            self._wake.set()  # tasks waiting on these were judged before they failed: look again
        for task in plan.start:
            with self._isolated(pass_, task, "start"):
                moved = lifecycle.claim(task, self._owner(now), now_iso)
                pass_.move(moved)
                pass_.to_start.append(moved.task)
        if plan.start:  # their leases are fresh, and any older one due was renewed above
            self._next_heartbeat = max(self._next_heartbeat, pass_.mono + HEARTBEAT_S)

    def _let_go(self) -> None:
        """Start the handlers a burst of enqueues held back (HandlerThreads.hold)."""
        try:
            self._pool.let_go()
        except RuntimeError:
            pass  # shut down: a call not begun is dropped, as at shutdown

    def _settle_recorded(self) -> None:
        """The outcomes just written: their handlers are done with."""
        for tid, _kind_of, _value in self._pending_outcomes:
            run = self.running.pop(tid, None)
            if run is not None:
                try:
                    run.ctx.close()
                except OSError:
                    pass  # the outcome is written; a log that cannot be closed must not fail the pass
            self._children.pop(tid, None)
        self._pending_outcomes = []

    def _note_queued(self, task: Task) -> None:
        """A task this pass queued (follow-up, retry): run it now or when it is due."""
        if task.status != QUEUED:
            return
        due = parse_iso(task.not_before) if task.not_before else None
        if due is None or due <= time.time():
            self._wake.set()
        elif self._queue_due is None or due < self._queue_due:
            self._queue_due = due

    def _plan_next_wake(self) -> None:
        now = time.monotonic()
        due = []
        if self._queue_due is not None:  # a wall time in the file: how far away it is now
            due.append(now + (self._queue_due - time.time()))
        if self.running:
            due.append(now + 1.0)  # leases, progress writes
            for run in self.running.values():
                if run.abandon_at is not None:
                    due.append(run.abandon_at)
                elif run.deadline is not None:
                    due.append(run.deadline)
        if self._progress_pending:
            due.append(now + PROGRESS_EVENT_S)
        self._due_at = max(now, min(due)) if due else None

    def _store_failed(self, exc: StoreError, pass_: "Pass") -> None:
        """Nothing of the pass was written (nor applied): keep its inputs for the next one."""
        self._give_back(pass_)
        message = str(exc)
        self.errors.append(message)
        self.events.publish(ev.Event(ev.WORKER_STATE, data={"error": message}))
        self._due_at = time.monotonic() + 1.0  # try again shortly; the outcomes wait

    def _give_back(self, pass_: "Pass") -> None:
        """A pass that wrote nothing: what it took in (outcomes, claims, adoptions) waits for the next one."""
        for tid in pass_.touched:  # the ready order let go of what the pass claimed or failed
            held = self.state.tasks.get(tid)
            if held is not None:
                self.state.reindex(held)
        for tid, _child in self._to_adopt:  # not written: the next recovery scan looks again
            self._children.pop(tid, None)
        self._to_adopt = []
        self._next_recovery = 0.0
        with self._outcome_lock:  # nothing was recorded: keep the outcomes for the next pass
            self._outcomes = self._pending_outcomes + self._outcomes
        self._pending_outcomes = []

    # ---------------------------------------------------------------- one task's trouble stays its own
    @contextlib.contextmanager
    def _isolated(self, pass_: "Pass", task: Task, doing: str):
        """One task's part of a step: if it raises, that task fails with the reason and the pass goes on."""
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - a record, payload or kind this pass cannot handle
            self._quarantine(pass_, task, f"lazyqueue could not {doing} {task.ref}: {_described(exc)}")

    def _quarantine(self, pass_: "Pass", task: Task, message: str) -> None:
        tid = task.id
        self._note_error(message)
        # nothing of it this pass decided is written but its failure
        pass_.patches = [p for p in pass_.patches if p.get("id") != tid]
        pass_.to_start = [t for t in pass_.to_start if t.id != tid]
        self._to_adopt = [(i, c) for i, c in self._to_adopt if i != tid]
        pass_.published = [item for item in pass_.published if getattr(item, "task", None) is None or item.task.id != tid]
        pass_.queued = [t for t in pass_.queued if t.id != tid]
        pass_.touched.pop(tid, None)
        try:
            pass_.move(lifecycle.broken(task, message, pass_.now))
        except Exception:  # noqa: BLE001 - not even its failure can be built: leave it, run the others
            self._note_error(f"{message} (and it could not be marked failed)")
            return
        run = self.running.get(tid)
        if run is not None:  # its handler runs on: stop it; its outcome is no longer recorded
            run.ctx.request_cancel("cancel")
            run.abandon_at = pass_.mono + ABANDON_GRACE_S

    def _note_error(self, message: str) -> None:
        import logging

        logging.getLogger("lazyqueue").error("%s", message)
        self.errors.append(message)
        del self.errors[:-100]  # the latest are what matters; the list must not grow for ever

    def _start(self, task: Task, adopt: dict | None = None, hold: bool = False) -> None:
        """Dispatch a task written as claimed; if that raises, its failure is recorded by the next pass."""
        try:
            self._dispatch(task, adopt, hold)
        except Exception as exc:  # noqa: BLE001
            message = f"lazyqueue could not start {task.ref}: {_described(exc)}"
            self._note_error(message)
            run = self.running.get(task.id)
            self._done(task.id, "error", TaskError(message, error_kind="fatal"), run.ctx if run is not None else None)

    # ---------------------------------------------------------------- transitions
    def _announce(self, item: "lifecycle.Transition | ev.Event") -> ev.Event | None:
        """The event of a transition just written; None when nobody listens for it (nothing to build)."""
        if isinstance(item, ev.Event):
            return item
        if not self.events.wants(item.event):
            return None
        job = item.job or (self.state.jobs.get(item.task.job_id) if item.task.job_id is not None else None)
        return item.announce(job)

    def _owner(self, now: float, extra: dict | None = None) -> dict:
        owner = {"pid": self._pid, "host": HOST, "worker": self.id, "lease_until": iso(now + LEASE_S)}
        if self._pstart:
            owner["pstart"] = self._pstart
        if extra:
            owner.update(extra)
        return owner

    def _record_outcomes(self, pass_: "Pass") -> None:
        """Handlers that returned or raised since the last pass: completed, failed, retried, cancelled."""
        with self._outcome_lock:
            outcomes, self._outcomes = self._outcomes, []
        self._pending_outcomes = outcomes  # given back if the write fails
        for tid, kind_of, value in outcomes:
            run = self.running.get(tid)
            task = self.state.tasks.get(tid)
            if task is None or task.status != RUNNING or (task.owner or {}).get("worker") != self.id:
                continue  # deleted, or recovered by another worker meanwhile: not ours to record
            with self._isolated(pass_, task, "record the outcome of"):
                moved = self._outcome(task, kind_of, value, run, pass_.now)
                with self._progress_lock:
                    stage = self._stage_updates.pop(tid, None)
                if stage is not None and moved.task.status != FAILED:  # a failure's stage says Failed (below)
                    self._set_stage(task, stage, pass_)  # announced with its task, before the task's end
                pass_.move(moved)
            moved_task = pass_.touched.get(tid)
            if moved_task is not None and moved_task.status == COMPLETED:
                self._follow_ups(moved_task, pass_)
            if moved_task is not None:
                try:
                    self._stage_when_done(moved_task, pass_)
                except Exception as exc:  # the task's outcome stands; only its job's stage is not moved on
                    self._note_error(f"could not move the job stage of {moved_task.ref}: {_described(exc)}")
            with self._progress_lock:
                self._progress_dirty.discard(tid)
                self._progress_pending.discard(tid)
                self._progress_pub.pop(tid, None)

    def _outcome(self, task: Task, kind_of: str, value: Any, run: Running | None, now: float) -> lifecycle.Transition:
        cancel_asked = task.cancel_requested or (run is not None and run.ctx.cancel_reason == "cancel")
        if kind_of == "ok":
            if value is not None and type(value) not in _PLAIN:
                try:
                    json.dumps(value, allow_nan=False)  # NaN would make `ls --json` invalid JSON
                except (TypeError, ValueError) as exc:  # it could never be written: fail the task, not the pass
                    return self._fail(task, f"the handler's result is not JSON: {exc}", "fatal", now)
            return lifecycle.finish(task, COMPLETED, now, result=value, cancel_too_late=cancel_asked)
        exc = value
        if isinstance(exc, Interrupted) and not task.cancel_requested:
            return lifecycle.interrupted(task, now)  # an adopted command ended without leaving its status
        reason = run.ctx.cancel_reason if run is not None else None
        if isinstance(exc, Cancelled) or (reason and not isinstance(exc, TaskError)):
            if reason == "shutdown" and task.cancel_requested:  # a cancel asked meanwhile still holds
                reason = "cancel"
            extra = {"shutdown": True} if reason == "shutdown" else {}
            return lifecycle.stopped(task, reason, now, self._backoff(task), **extra)
        message, error_kind = failure_text(exc)
        return self._fail(task, message, error_kind, now)

    def _backoff(self, task: Task):
        kind = self.registry.find(task.kind)
        if kind is None:
            return lambda attempt: 5.0
        return lambda attempt: kind.backoff.delay(attempt, self._rng)

    def _fail(self, task: Task, message: str, error_kind: str, now: float) -> lifecycle.Transition:
        return lifecycle.fail(task, message, error_kind, now, self._backoff(task))

    def _follow_ups(self, task: Task, pass_: "Pass") -> None:
        """Queue the kind's `then` kinds after a completed task (its result as `previous_result`)."""
        kind = self.registry.find(task.kind)
        if kind is None or not kind.then:
            return
        payload = dict(task.payload)
        payload["previous_result"] = task.result
        for follow in kind.then:
            try:
                made, dup = lifecycle.enqueue(
                    self.state, self.registry.get(follow), payload, full=True, find=self.state.tasks.get,
                    archived=self.taskfile.archived_task, batch_keys=pass_.new_keys, job_id=task.job_id,
                    after=[], now=pass_.now, new_job=False,
                )
            except LazyQueueError as exc:
                task.meta = dict(task.meta, then_error=str(exc))
                continue
            except Exception as exc:  # a kind's own validation that breaks: the task completed all the same
                task.meta = dict(task.meta, then_error=f"{follow}: {_described(exc)}")
                self._note_error(f"could not queue {follow!r} after {task.ref}: {_described(exc)}")
                continue
            if dup is None:
                made.data["follow_up_of"] = task.id
                pass_.add(made)

    def _stage_when_done(self, task: Task, pass_: "Pass") -> None:
        """A job whose work ended moves to Done / Failed unless its handler set a stage (lifecycle's rule)."""
        if task.job_id is None or task.status not in (COMPLETED, FAILED):
            return
        with self._progress_lock:
            if task.status == COMPLETED and task.id in self._stage_updates:
                return  # the handler named a stage just now: it is written below
            if task.status == FAILED:
                self._stage_updates.pop(task.id, None)  # what it said while working is no longer true
        job = next((j for j in reversed(pass_.jobs) if j.id == task.job_id), None) or self.state.jobs.get(task.job_id)
        if job is None:
            return

        others = self._active_in_job(task, pass_) > 0 or any(made.job_id == task.job_id for made in pass_.added)
        new = lifecycle.stage_when_done(job, task.status, others, pass_.now)
        if new is not None:
            pass_.jobs.append(new)
            self._job_updated(task, new, pass_)

    def _active_in_job(self, task: Task, pass_: "Pass") -> int:
        """Queued or running tasks of `task`'s job other than it, as this pass leaves them (from the job counts)."""
        count = self.state.active_jobs.get(task.job_id, 0)
        for tid, new in pass_.touched.items():
            held = self.state.tasks.get(tid)
            was = held is not None and held.job_id == task.job_id and held.status in (QUEUED, RUNNING)
            now = tid != task.id and new.job_id == task.job_id and new.status in (QUEUED, RUNNING)
            count += now - was
        return count

    def _flush_stage_updates(self, pass_: "Pass") -> None:
        """Job stages handlers set since the last pass."""
        with self._progress_lock:
            updates, self._stage_updates = self._stage_updates, {}
        for tid, stage in updates.items():
            task = self.state.tasks.get(tid)
            if task is not None:
                self._set_stage(pass_.touched.get(tid, task), stage, pass_)

    def _set_stage(self, task: Task, stage: str, pass_: "Pass") -> None:
        """The stage a task's handler named for its job; the job-updated event carries the task."""
        if task.job_id is None:
            return
        job = next((j for j in reversed(pass_.jobs) if j.id == task.job_id), None) or self.state.jobs.get(task.job_id)
        if job is None or job.stage == stage:
            return
        new = lifecycle.set_stage(job, stage, pass_.now)
        pass_.jobs.append(new)
        self._job_updated(task, new, pass_)

    def _job_updated(self, task: Task, job: Job, pass_: "Pass") -> None:
        """The job-updated event of a stage just set, carrying the task (built only when someone listens)."""
        if self.events.wants(ev.JOB_UPDATED):
            pass_.published.append(ev.Event(ev.JOB_UPDATED, task=task.copy(), job=lifecycle.copy_job(job)))

    # ---------------------------------------------------------------- running
    def _dispatch(self, task: Task, adopt: dict | None = None, hold: bool = False) -> None:
        """Run a claimed task's handler; with `adopt`, supervise the command a dead worker started instead."""
        kind = self.registry.find(task.kind)
        job = self.state.jobs.get(task.job_id) if task.job_id is not None else None
        ctx = TaskContext(task.copy(), job, f"{self._logs}/{task.id}.log", self)
        timeout = task.timeout_s if task.timeout_s else (kind.timeout if kind else None)
        if timeout and not task.timeout_s:
            task.timeout_s = timeout
        now = time.monotonic()
        began = now
        if adopt is not None:  # the timeout runs from the start, which another worker wrote in wall time
            began -= max(0.0, time.time() - (parse_iso(task.started_at) or time.time()))
        self.running[task.id] = Running(task.id, ctx, began + timeout if timeout else None, now)
        current = self.state.tasks.get(task.id)
        if current is not None and current.cancel_requested:
            # cancelled between the claim's write and now: Queue.cancel found no run to signal
            ctx.request_cancel("cancel")
        if adopt is not None:
            adopt_command = adoption.adopter()
            if adopt_command is not None:
                self._pool.submit(self._run_sync, lambda c: adopt_command(c, adopt), ctx)
                return
        if kind is None or kind.handler is None:
            err = TaskError(f"no handler for kind {task.kind!r} in this process", error_kind="fatal")
            self._done(task.id, "error", err)
            return
        if self._is_async(kind):
            import asyncio

            loop = self._async_loop()
            future = asyncio.run_coroutine_threadsafe(self._run_async(kind.handler, ctx), loop)
            future.add_done_callback(lambda f, tid=task.id, c=ctx: self._done_future(tid, f, c))
        else:
            (self._pool.hold if hold else self._pool.submit)(self._run_sync, kind.handler, ctx)

    def _is_async(self, kind) -> bool:
        try:
            known = self._async_handlers.get(kind.handler)
        except TypeError:  # a handler object that cannot be a key
            return kind.is_async
        if known is None:
            known = self._async_handlers[kind.handler] = kind.is_async
        return known

    def _run_sync(self, handler, ctx: TaskContext) -> None:
        try:
            value = handler(ctx)
        except BaseException as exc:  # noqa: BLE001 - every failure is recorded
            self._done(ctx.task.id, "error", exc, ctx)
        else:
            self._done(ctx.task.id, "ok", value, ctx)

    async def _run_async(self, handler, ctx: TaskContext):
        import asyncio

        task = asyncio.current_task()
        ctx.on_cancel(lambda: self._loop.call_soon_threadsafe(task.cancel))
        try:
            return await handler(ctx)
        except asyncio.CancelledError:
            raise Cancelled(ctx.cancel_reason or "cancel") from None

    def _done_future(self, tid: int, future, ctx: TaskContext | None = None) -> None:
        try:
            value = future.result()
        except BaseException as exc:  # noqa: BLE001
            self._done(tid, "error", exc, ctx)
        else:
            self._done(tid, "ok", value, ctx)

    def _done(self, tid: int, kind_of: str, value: Any, ctx: TaskContext | None = None) -> None:
        if ctx is not None and ctx.abandoned:
            return  # left running for the next worker to adopt: nothing to record here
        if ctx is not None:
            run = self.running.get(tid)
            if run is None or run.ctx is not ctx:
                ctx.close()  # an abandoned attempt: its task was settled (maybe re-run) without it
                return
        with self._outcome_lock:
            self._outcomes.append((tid, kind_of, value))
        if time.monotonic() >= self._joined_until:
            self._wake.set()  # else the next enqueue's write records it, or the loop does at _joined_until

    def _async_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            import asyncio  # here, not at the top: ~6 MB a headless worker of sync kinds never needs

            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="lazyqueue-async", daemon=True).start()
            self._loop = loop
        return self._loop

    # ---------------------------------------------------------------- reports from handlers
    def report_progress(self, tid: int, value: float | None, label: str | None) -> None:
        task = self.state.tasks.get(tid)
        if task is None or task.status != RUNNING:
            return
        task.progress = value
        if label is not None:
            task.progress_label = label
        now = time.monotonic()
        with self._progress_lock:
            self._progress_dirty.add(tid)
            last = self._progress_pub.get(tid, 0.0)
            if now - last < PROGRESS_EVENT_S:
                if tid not in self._progress_pending:  # one wake per held-back value, not per report
                    self._progress_pending.add(tid)
                    self._wake.set()
                return
            self._progress_pub[tid] = now
            self._progress_pending.discard(tid)
        self.events.publish(self._progress_event(task))

    def _progress_event(self, task: Task) -> ev.Event:
        """A task-progress event, with the task's job (a listener showing the job row needs it)."""
        job = self.state.jobs.get(task.job_id) if task.job_id is not None else None
        return ev.Event(ev.TASK_PROGRESS, task=task.copy(), job=lifecycle.copy_job(job))

    def report_meta(self, tid: int, values: dict) -> None:
        task = self.state.tasks.get(tid)
        if task is None or task.status != RUNNING:
            return
        task.meta = {**task.meta, **values}
        self.report_progress(tid, task.progress, None)

    def _publish_pending_progress(self) -> None:
        now = time.monotonic()
        ready = []
        with self._progress_lock:
            for tid in list(self._progress_pending):
                if now - self._progress_pub.get(tid, 0.0) >= PROGRESS_EVENT_S:
                    self._progress_pending.discard(tid)
                    self._progress_pub[tid] = now
                    ready.append(tid)
        for tid in ready:
            task = self.state.tasks.get(tid)
            if task is not None and task.status == RUNNING:
                self.events.publish(self._progress_event(task))

    def set_stage(self, tid: int, stage: str) -> None:
        with self._progress_lock:
            self._stage_updates[tid] = stage
        self._wake.set()

    def note_child(self, tid: int, pid: int, **extra) -> None:
        info = {"child_pgid": pid, **extra}
        start = start_time(pid)
        if start and start != "zombie":
            info["child_pstart"] = start
        with self._progress_lock:
            self._children[tid] = info
        # in the file now: a worker that recovers this task must be able to stop the command.
        # Not fsynced: a process group means nothing once the machine has gone down, and
        # while it is up every process reads the line (a dead worker's included).
        with self.taskfile.lock:
            self.taskfile.sync()
            task = self.state.tasks.get(tid)
            if task is None or task.status != RUNNING or (task.owner or {}).get("worker") != self.id:
                raise Cancelled("cancel")  # no longer ours to run
            self.taskfile.commit(Change(patches=[{"id": tid, "owner": {**task.owner, **info}}]), durable=False)

    def _persist_progress(self, pass_: "Pass") -> None:
        """At most every PROGRESS_WRITE_S: write the progress handlers reported (held in memory till then)."""
        if pass_.mono < self._next_progress_write:
            return
        self._next_progress_write = pass_.mono + PROGRESS_WRITE_S
        with self._progress_lock:
            dirty, self._progress_dirty = self._progress_dirty, set()
        for tid in dirty:
            task = self.state.tasks.get(tid)
            if task is None or task.status != RUNNING or tid in pass_.touched:
                continue
            pass_.patches.append({"id": tid, "progress": task.progress, "progress_label": task.progress_label, "meta": task.meta, "updated_at": iso()})

    # ---------------------------------------------------------------- cancel, timeouts, recovery
    def request_cancel(self, tid: int) -> bool:
        """Signal a task this worker runs; True if it is ours."""
        run = self.running.get(tid)
        if run is None:
            return False
        run.ctx.request_cancel("cancel")
        return True

    def _check_deadlines(self, pass_: "Pass") -> None:
        """Time out handlers past their deadline; give up on those that ignore a stop for too long."""
        now, mono = pass_.now, pass_.mono
        for tid, run in list(self.running.items()):
            if run.deadline is not None and mono >= run.deadline and not run.ctx.cancelled:
                run.ctx.request_cancel("timeout")
                run.abandon_at = mono + ABANDON_GRACE_S
            elif run.abandon_at is not None and mono >= run.abandon_at:
                # the handler ignores cancellation: give up on it and free the slot
                self.running.pop(tid, None)
                task = self.state.tasks.get(tid)
                if task is not None and task.status == RUNNING and tid not in pass_.touched:
                    with self._isolated(pass_, task, "stop"):
                        pass_.move(lifecycle.stopped(task, run.ctx.cancel_reason, now, self._backoff(task),
                                                     suffix=" (the handler did not stop)"))

    def _recover_orphans(self, pass_: "Pass") -> None:
        """Every RECOVERY_SCAN_S: tasks running under a dead worker are re-queued (or failed, or cancelled)."""
        if pass_.mono < self._next_recovery:
            return
        self._next_recovery = pass_.mono + RECOVERY_SCAN_S
        watched = self._leases_seen
        self._leases_seen = {}
        for tid in list(self.state.running_ids):
            task = self.state.tasks[tid]
            if tid in pass_.touched or task.status != RUNNING:
                continue  # this pass already recorded its outcome
            with self._isolated(pass_, task, "recover"):
                self._recover_one(pass_, task, watched)

    def _recover_one(self, pass_: "Pass", task: Task, watched: dict) -> None:
        """One running task: left alone while its owner lives, else adopted, re-queued, failed or cancelled."""
        tid, now = task.id, pass_.now
        now_iso = iso(now)
        owner = task.owner or {}
        if owner.get("worker") == self.id and tid in self.running:
            return
        if owner.get("worker") != self.id and not self._owner_dead(tid, owner, pass_.mono, watched):
            return
        self.registry.find(task.kind)  # loads the kind (the shell kind hands in its adopter)
        child = None if task.cancel_requested else adoption.adoptable(owner, self.taskfile.logs_dir / f"{tid}.log", task.attempt)
        if child is not None:  # its command outlived its worker: supervise it from here
            if self._stop.is_set():
                return  # a stopping worker takes on nothing: the next one adopts it
            self._children[tid] = child
            pass_.patches.append({"id": tid, "owner": self._owner(now, child), "updated_at": now_iso})
            self._to_adopt.append((tid, child))
            return
        self._stop_orphan_child(owner)
        pass_.move(lifecycle.recover(task, now))

    def _owner_dead(self, tid: int, owner: dict, mono: float, watched: dict) -> bool:
        if not owner:
            return True
        if owner.get("host") == HOST and isinstance(owner.get("pid"), int):
            # on this host the pid is the truth: a live worker that missed a heartbeat
            # (a suspended laptop, a slow disk) keeps its tasks
            return not pid_alive(owner["pid"], owner.get("pstart"))
        lease = owner.get("lease_until")
        if not lease:
            return False
        # Another host's lease is judged on its owner's clock: a lease it keeps
        # renewing is alive whatever our clock says, and one left unrenewed for a
        # whole lease (timed on our monotonic clock) is dead. A lease seen for the
        # first time is read against our wall clock as it was when this worker
        # started, so a step of the clock since neither kills nor keeps it.
        seen = watched.get(tid)
        if seen is not None and seen[0] != lease:  # renewed since we last looked: alive
            self._leases_seen[tid] = (lease, mono, True)
            return False
        seen = seen or (lease, mono, False)
        self._leases_seen[tid] = seen
        if mono - seen[1] >= LEASE_S:
            return True
        return not seen[2] and lease < iso(self._wall_at_start + mono)

    @staticmethod
    def _stop_orphan_child(owner: dict) -> None:
        """Kill the command a dead worker left behind, so the task never runs twice at once."""
        pgid = owner.get("child_pgid")
        if owner.get("host") == HOST and isinstance(pgid, int):
            kill_group(pgid, started=owner.get("child_pstart") or "")

    # ---------------------------------------------------------------- shutdown
    def _drain(self) -> None:
        if self.leave_running:
            self.tick()  # records what already finished; running tasks keep their owner (us) for the next worker
            return
        deadline = time.monotonic() + self.grace_s
        while self.running and time.monotonic() < deadline:
            self._wake.wait(min(0.1, max(0.0, deadline - time.monotonic())))
            self._wake.clear()
            self.tick()
        if self.running:
            for run in list(self.running.values()):
                run.ctx.request_cancel("shutdown")
            settle = time.monotonic() + 5.0
            while self.running and time.monotonic() < settle:
                self._wake.wait(0.1)
                self._wake.clear()
                self.tick()
        if self.running:  # handlers that ignore cancel: put their tasks back anyway
            with self.taskfile.lock:
                self.taskfile.sync()
                change = Change()
                now = time.time()
                for tid in list(self.running):
                    task = self.state.tasks.get(tid)
                    if task is not None and task.status == RUNNING and (task.owner or {}).get("worker") == self.id:
                        change.tasks.append(lifecycle.requeue(task, now, spend_attempt=False).task)
                    self.running.pop(tid, None)
                self.taskfile.commit(change)
        else:
            self.tick()

    def _fold_journal(self) -> None:
        """On stop, fold the journal into tasks.json: at rest the snapshot holds the current state."""
        try:
            with self.taskfile.lock:
                self.taskfile.sync()
                if not self.taskfile.folded():
                    self.taskfile.compact()
        except StoreError as exc:  # nothing is lost: the journal holds it, the next writer folds it
            self.errors.append(f"could not fold the journal into the snapshot: {exc}")

    def join(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)
