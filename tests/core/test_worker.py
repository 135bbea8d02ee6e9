"""The worker loop, driven through the Queue facade with Python handlers."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time

import pytest

from lazyqueue.core import events as ev
from lazyqueue.core.errors import FatalError, RetryableError, UsageError
from lazyqueue.core.models import Task, iso, parse_iso
from lazyqueue import Queue
from lazyqueue.core.queue import CANCEL_DONE, CANCEL_SIGNALLED
from lazyqueue.core.registry import Backoff, Kind
from lazyqueue.core.taskfile import Change, TaskFile
from lazyqueue.core.worker import HOST
from tests.conftest import wait_until

TINY = Backoff(base=0.05, factor=2, max=0.2)


class Recorder:
    """Every event the queue publishes, with the moment it arrived."""

    def __init__(self, q: Queue):
        self.events: list[tuple[float, ev.Event]] = []
        self._lock = threading.Lock()
        q.subscribe(self)

    def __call__(self, event: ev.Event) -> None:
        with self._lock:
            self.events.append((time.monotonic(), event))

    def of(self, tid: int, type_: str | None = None) -> list[ev.Event]:
        with self._lock:
            return [e for _, e in self.events if e.task is not None and e.task.id == tid and (type_ is None or e.type == type_)]

    def types(self, tid: int) -> list[str]:
        """The task's transitions and the job stages it caused (no progress)."""
        return [e.type for e in self.of(tid) if e.type != ev.TASK_PROGRESS]

    def transitions(self, tid: int) -> list[str]:
        return [t for t in self.types(tid) if t != ev.JOB_UPDATED]


@pytest.fixture
def queue(home):
    made: list[Queue] = []

    def make(**kw) -> Queue:
        q = Queue(home, plugins=False, **kw)
        made.append(q)
        return q

    yield make
    for q in made:
        q.stop_worker(grace=0.5)
        q.close()


def hold(ctx, gate: threading.Event, limit: float = 20.0) -> None:
    """Block a handler until `gate` opens or its task is cancelled."""
    deadline = time.monotonic() + limit
    while not gate.is_set() and not ctx.cancelled and time.monotonic() < deadline:
        gate.wait(0.01)


def final(q: Queue, tid: int, timeout: float = 10.0) -> Task:
    return q.wait([tid], timeout=timeout, poll=0.01)[0]


def on_disk(home, tid: int) -> Task:
    store = TaskFile(home)
    store.load()
    return store.state.tasks[tid]


def test_a_task_completes_and_its_result_is_recorded(home, queue):
    q = queue()
    rec = Recorder(q)

    @q.kind("work")
    def work(ctx):
        return {"doubled": ctx.payload["n"] * 2, "attempt": ctx.attempt}

    q.start_worker()
    task, dup = q.enqueue("work", {"n": 21})
    assert not dup and task.status == "queued"
    done = final(q, task.id)
    assert done.status == "completed"
    assert done.result == {"doubled": 42, "attempt": 1}
    assert done.attempt == 1 and done.progress == 100 and done.error is None and done.owner is None
    assert done.started_at <= done.finished_at
    assert on_disk(home, task.id).status == "completed"
    wait_until(lambda: rec.transitions(task.id) == ["task-queued", "task-started", "task-completed"], 5, message="events")


def test_progress_events_are_throttled_but_the_last_value_arrives(queue):
    q = queue()
    rec = Recorder(q)
    gate = threading.Event()

    @q.kind("work")
    def work(ctx):
        end = time.monotonic() + 0.5
        i = 0
        while time.monotonic() < end:
            ctx.progress(i % 70, "working")
            i += 1
            time.sleep(0.0005)
        ctx.progress(77, "almost")
        hold(ctx, gate)
        return "ok"

    worker = q.start_worker()
    passes = []
    real_tick = worker.tick

    def tick():
        passes.append(1)
        real_tick()

    worker.tick = tick
    task, _ = q.enqueue("work")
    wait_until(lambda: any(e.task.progress == 77 for e in rec.of(task.id, ev.TASK_PROGRESS)), 5, message="last progress")
    assert len(passes) < 60  # a held-back value wakes the loop once, not once per report
    progress = [(t, e) for t, e in rec.events if e.type == ev.TASK_PROGRESS and e.task.id == task.id]
    assert 2 <= len(progress) <= 10  # hundreds of reports in ~0.5 s
    span = progress[-1][0] - progress[0][0]
    assert len(progress) - 1 <= span / 0.1 + 1  # at most ~10 a second
    assert progress[-1][1].task.progress_label == "almost"
    gate.set()
    assert final(q, task.id).status == "completed"


def test_retries_with_backoff_until_success(queue):
    q = queue()
    rec = Recorder(q)
    starts: list[float] = []

    @q.kind("flaky", max_attempts=3, backoff=TINY)
    def flaky(ctx):
        starts.append(time.time())
        if ctx.attempt < 3:
            raise RetryableError(f"try {ctx.attempt} failed")
        return "third time lucky"

    q.start_worker()
    task, _ = q.enqueue("flaky")
    done = final(q, task.id)
    assert done.status == "completed" and done.attempt == 3 and done.result == "third time lucky"
    assert done.error is None
    assert len(starts) == 3
    assert starts[1] - starts[0] >= 0.05 * 0.8 - 0.01  # back-off was waited out
    retries = [e for e in rec.of(task.id, ev.TASK_QUEUED) if "retry_in" in e.data]
    assert len(retries) == 2
    assert retries[0].task.error == "try 1 failed" and retries[0].task.not_before is not None
    assert 0.04 <= retries[0].data["retry_in"] <= 0.06 and 0.08 <= retries[1].data["retry_in"] <= 0.12


def test_retries_run_out(queue):
    q = queue()

    @q.kind("bad", max_attempts=2, backoff=TINY)
    def bad(ctx):
        raise ValueError("nope")

    q.start_worker()
    task, _ = q.enqueue("bad")
    done = final(q, task.id)
    assert done.status == "failed" and done.attempt == 2
    assert done.error == "ValueError: nope" and done.error_kind == "retryable"


def test_fatal_error_is_not_retried(queue):
    q = queue()
    calls = []

    @q.kind("fatal", max_attempts=5, backoff=TINY)
    def fatal(ctx):
        calls.append(1)
        raise FatalError("the input is gone")

    q.start_worker()
    task, _ = q.enqueue("fatal")
    done = final(q, task.id)
    assert done.status == "failed" and done.attempt == 1 and len(calls) == 1
    assert done.error == "the input is gone" and done.error_kind == "fatal"


def test_a_python_handler_times_out(queue):
    q = queue()

    @q.kind("slow")
    def slow(ctx):
        ctx.wait_cancelled(20)
        ctx.check_cancelled()
        return "never"

    q.start_worker()
    task, _ = q.enqueue("slow", timeout=0.2)
    t0 = time.monotonic()
    done = final(q, task.id)
    assert done.status == "failed"
    assert done.error.startswith("timed out after 0.2 s")
    assert time.monotonic() - t0 < 5


def test_cancel_a_queued_task_at_once(home, queue):
    q = queue()
    rec = Recorder(q)
    q.start_worker().pause()
    task, _ = q.enqueue("shell", {"command": "true"})
    assert q.why_waiting(task.id) == "paused"
    assert q.cancel(task.id) == CANCEL_DONE
    assert q.get(task.id).status == "cancelled"
    assert on_disk(home, task.id).status == "cancelled"
    assert rec.transitions(task.id) == ["task-queued", "task-cancelled"]
    q.worker.resume()
    assert q.cancel(task.id) == "finished"


def test_cancel_a_running_python_handler(queue):
    q = queue()
    started = threading.Event()

    @q.kind("poll")
    def poll(ctx):
        started.set()
        deadline = time.monotonic() + 20
        while not ctx.cancelled and time.monotonic() < deadline:
            time.sleep(0.01)
        ctx.check_cancelled()
        return "finished anyway"

    q.start_worker()
    task, _ = q.enqueue("poll")
    assert started.wait(5)
    assert q.cancel(task.id) == CANCEL_SIGNALLED
    done = final(q, task.id)
    assert done.status == "cancelled" and done.error == "cancelled" and done.error_kind == "user"


def test_cancel_racing_a_completion_stays_completed(queue):
    q = queue()
    rec = Recorder(q)
    started, go, returned = threading.Event(), threading.Event(), threading.Event()

    @q.kind("quick")
    def quick(ctx):
        started.set()
        go.wait(10)
        returned.set()
        return 1

    worker = q.start_worker()
    task, _ = q.enqueue("quick")
    assert started.wait(5)
    with q.taskfile.lock:  # the worker cannot record the outcome while we hold the lock
        go.set()
        assert returned.wait(5)
        wait_until(worker.outcomes_waiting, 5, message="the outcome to be handed in")
        assert q.state.tasks[task.id].status == "running"
        assert q.cancel(task.id) == CANCEL_SIGNALLED
    done = final(q, task.id)
    assert done.status == "completed" and done.result == 1
    # events go out just after the durable write that the line above reads
    wait_until(lambda: rec.of(task.id, ev.TASK_COMPLETED), 5, message="the completed event")
    completed = rec.of(task.id, ev.TASK_COMPLETED)
    assert len(completed) == 1 and completed[0].data.get("cancel_too_late") is True


def test_a_queued_task_expires(home, queue):
    q = queue()
    rec = Recorder(q)
    q.start_worker().pause()
    task, _ = q.enqueue("shell", {"command": "true"}, expires=0.1)
    done = final(q, task.id, timeout=5)
    assert done.status == "expired" and done.error == "not started before it expired"
    assert done.attempt == 0 and done.started_at is None
    assert on_disk(home, task.id).status == "expired"
    # the event goes out just after the durable write that final() reads
    wait_until(lambda: rec.of(task.id, ev.TASK_EXPIRED), 5, message="the expired event")
    assert rec.transitions(task.id) == ["task-queued", "task-expired"]


def test_a_delayed_task_does_not_start_before_not_before(queue):
    q = queue()
    started: list[float] = []

    @q.kind("work")
    def work(ctx):
        started.append(time.time())

    q.start_worker()
    task, _ = q.enqueue("work", delay=0.3)
    assert q.why_waiting(task.id).startswith("starts at ")
    done = final(q, task.id)
    assert done.status == "completed"
    assert started[0] >= parse_iso(task.not_before) - 0.002


def test_after_waits_for_the_dependency(queue):
    q = queue()
    gate = threading.Event()

    @q.kind("first")
    def first(ctx):
        hold(ctx, gate)
        return "one"

    @q.kind("second")
    def second(ctx):
        return "two"

    q.start_worker()
    a, _ = q.enqueue("first")
    b, _ = q.enqueue("second", after=[a.id])
    wait_until(lambda: q.get(a.id).status == "running", 5, message="t1 running")
    assert q.get(b.id).status == "queued"
    assert q.why_waiting(b.id) == f"waiting on t{a.id}"
    gate.set()
    done = final(q, b.id)
    assert done.status == "completed"
    assert done.started_at >= q.get(a.id).finished_at


def test_a_failed_dependency_fails_the_dependent(queue):
    q = queue()

    @q.kind("boom")
    def boom(ctx):
        raise FatalError("boom")

    q.start_worker()
    a, _ = q.enqueue("boom")
    b, _ = q.enqueue("shell", {"command": "true"}, after=[a.id])
    done = final(q, b.id)
    assert done.status == "failed" and done.attempt == 0
    assert done.error == f"dependency t{a.id} did not complete"


def test_then_follow_ups_share_the_job_and_are_deduplicated(queue):
    q = queue()
    gate = threading.Event()
    seen: list[dict] = []

    @q.kind("fetch", concurrency=1, then=["notify"])
    def fetch(ctx):
        return {"got": ctx.payload["name"]}

    @q.kind("notify", dedupe="notify:{name}")
    def notify(ctx):
        seen.append(dict(ctx.payload))
        hold(ctx, gate)
        return "sent"

    q.start_worker()
    a, _ = q.enqueue("fetch", {"name": "x"}, title="first")
    b, _ = q.enqueue("fetch", {"name": "x"}, title="second")
    assert a.job_id != b.job_id
    wait_until(lambda: q.get(b.id).status == "completed", 10, message="second fetch")
    follow = q.tasks(kind="notify")
    assert len(follow) == 1  # the second follow-up found the first one active
    assert follow[0].job_id == a.job_id
    assert follow[0].dedupe_key == "notify:x"
    gate.set()
    assert final(q, follow[0].id).status == "completed"
    assert seen == [{"name": "x", "previous_result": {"got": "x"}}]


def test_graceful_stop_requeues_without_spending_an_attempt(home, queue):
    q = queue()
    started = threading.Event()

    @q.kind("long", max_attempts=1)
    def long(ctx):
        started.set()
        ctx.wait_cancelled(20)
        ctx.check_cancelled()

    q.start_worker()
    task, _ = q.enqueue("long")
    assert started.wait(5)
    t0 = time.monotonic()
    q.stop_worker(grace=0.2)
    assert time.monotonic() - t0 < 5
    again = on_disk(home, task.id)
    assert again.status == "queued" and again.attempt == 0 and again.owner is None
    # the next worker runs it with its one attempt
    q2 = queue()

    @q2.kind("long", max_attempts=1)
    def long2(ctx):
        return "ran"

    q2.start_worker()
    done = final(q2, task.id)
    assert done.status == "completed" and done.attempt == 1


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_lease_recovery_of_a_dead_owner(home, queue):
    dead = _dead_pid()
    store = TaskFile(home)
    store.load()
    stamp = iso()
    owner = {"pid": dead, "host": HOST, "worker": f"{HOST}:{dead}:gone", "lease_until": iso(time.time() + 30)}
    with store.lock:
        records = [
            Task(id=1, kind="work", status="running", attempt=1, max_attempts=2, owner=dict(owner), created_at=stamp, updated_at=stamp, started_at=stamp),
            # interrupted twice before: this third time fails it
            Task(id=2, kind="work", status="running", attempt=1, max_attempts=3, owner=dict(owner), created_at=stamp, updated_at=stamp,
                 started_at=stamp, meta={"interruptions": 2}),
            Task(id=3, kind="work", status="completed", attempt=1, result="old", created_at=stamp, updated_at=stamp, finished_at=stamp),
            # another host's worker whose lease ran out long ago
            Task(id=4, kind="work", status="running", attempt=1, max_attempts=3, created_at=stamp, updated_at=stamp,
                 owner={"pid": 1, "host": "elsewhere", "worker": "elsewhere:1:x", "lease_until": iso(time.time() - 60)}),
            # another host's worker with a live lease: left alone
            Task(id=5, kind="work", status="running", attempt=1, max_attempts=3, created_at=stamp, updated_at=stamp,
                 owner={"pid": 1, "host": "elsewhere", "worker": "elsewhere:1:y", "lease_until": iso(time.time() + 600)}),
        ]
        store.state.head.next_task_id = 6
        store.commit(Change(tasks=records))
    q = queue()
    ran: list[int] = []

    @q.kind("work", backoff=TINY)
    def work(ctx):
        ran.append(ctx.task.id)
        return "again"

    q.start_worker()
    one = final(q, 1)
    # an interruption (the worker died, not the task) gives its attempt back
    assert one.status == "completed" and one.attempt == 1 and one.result == "again"
    assert one.meta["interruptions"] == 1
    two = q.get(2)
    assert two.status == "failed" and two.error == "interrupted 3 times" and two.attempt == 1
    assert final(q, 4).status == "completed"
    three = q.get(3)
    assert three.status == "completed" and three.result == "old"
    assert q.get(5).status == "running"
    assert sorted(ran) == [1, 4]


def test_events_fire_once_per_transition(queue):
    q = queue()
    rec = Recorder(q)

    @q.kind("flaky", max_attempts=2, backoff=TINY)
    def flaky(ctx):
        if ctx.attempt == 1:
            raise RuntimeError("first")
        return "ok"

    q.start_worker()
    task, _ = q.enqueue("flaky")
    final(q, task.id)
    wait_until(lambda: ev.TASK_COMPLETED in rec.types(task.id), 5, message="completion event")
    assert rec.transitions(task.id) == ["task-queued", "task-started", "task-queued", "task-started", "task-completed"]


def test_a_handler_can_set_the_job_stage(queue):
    q = queue()

    @q.kind("stage")
    def stage(ctx):
        ctx.set_stage("Fetched")
        return None

    q.start_worker()
    task, _ = q.enqueue("stage", title="thing")
    final(q, task.id)
    wait_until(lambda: q.job(task.job_id).stage == "Fetched", 5, message="stage")


def test_an_abandoned_attempt_does_not_settle_the_next_one(queue, monkeypatch):
    from lazyqueue.core import worker as worker_mod

    monkeypatch.setattr(worker_mod, "ABANDON_GRACE_S", 0.1)
    q = queue()
    gate1, gate2 = threading.Event(), threading.Event()
    second_started, stale_handed_in = threading.Event(), threading.Event()

    @q.kind("stubborn", max_attempts=2, backoff=TINY, timeout=0.3)
    def stubborn(ctx):
        if ctx.attempt == 1:
            gate1.wait(20)  # ignores cancellation: the worker gives up on it
            return "stale"
        second_started.set()
        hold(ctx, gate2)
        ctx.check_cancelled()
        return "fresh"

    worker = q.start_worker()
    real_done = worker._done

    def done(tid, kind_of, value, *rest):
        real_done(tid, kind_of, value, *rest)
        if value == "stale":
            stale_handed_in.set()

    monkeypatch.setattr(worker, "_done", done)
    task, _ = q.enqueue("stubborn")
    assert second_started.wait(10)
    gate1.set()
    assert stale_handed_in.wait(5)
    gate2.set()
    finished = final(q, task.id)
    assert finished.status == "completed" and finished.attempt == 2
    assert finished.result == "fresh"


def test_async_handlers_complete_and_can_be_cancelled(queue):
    import asyncio

    q = queue()
    started = threading.Event()

    @q.kind("fetch")
    async def fetch(ctx):
        await asyncio.sleep(0.01)
        ctx.progress(50, "half")
        return {"n": ctx.payload["n"]}

    @q.kind("forever")
    async def forever(ctx):
        started.set()
        await asyncio.sleep(30)

    q.start_worker()
    a, _ = q.enqueue("fetch", {"n": 3})
    b, _ = q.enqueue("forever")
    done = final(q, a.id)
    assert done.status == "completed" and done.result == {"n": 3}
    assert started.wait(5)
    assert q.cancel(b.id) == CANCEL_SIGNALLED
    assert final(q, b.id).status == "cancelled"


def test_a_cancel_written_by_another_process_stops_the_handler(home, queue):
    q = queue()
    started = threading.Event()

    @q.kind("poll")
    def poll(ctx):
        started.set()
        ctx.wait_cancelled(20)
        ctx.check_cancelled()

    q.start_worker()
    task, _ = q.enqueue("poll")
    assert started.wait(5)
    other = Queue(home, plugins=False)  # its own view of the file, as the CLI would have
    assert other.cancel(task.id) == CANCEL_SIGNALLED
    assert other.wait([task.id], timeout=10, poll=0.01)[0].status == "cancelled"
    other.close()


def test_recovery_stops_the_command_a_dead_worker_left_behind(home, queue):
    from lazyqueue.core.processes import start_time as _proc_start

    leftover = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        dead = _dead_pid()
        stamp = iso()
        store = TaskFile(home)
        store.load()
        owner = {"pid": dead, "host": HOST, "worker": f"{HOST}:{dead}:gone", "lease_until": iso(time.time() + 30),
                 "child_pgid": leftover.pid, "child_pstart": _proc_start(leftover.pid)}
        with store.lock:
            store.state.head.next_task_id = 2
            store.commit(Change(tasks=[Task(id=1, kind="shell", status="running", attempt=1, max_attempts=1,
                                            payload={"argv": ["true"]}, owner=owner, created_at=stamp, updated_at=stamp)]))
        q = queue()
        q.start_worker()
        assert leftover.wait(timeout=10) == -9
        done = final(q, 1)
        # a command from before the exit-status gate cannot be adopted: stopped, and the task runs again
        assert done.status == "completed" and done.attempt == 1 and done.meta["interruptions"] == 1
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait()


def test_events_carry_copies_that_later_changes_do_not_touch(queue):
    q = queue()
    rec = Recorder(q)

    @q.kind("stage")
    def stage(ctx):
        ctx.progress(10, "first")
        ctx.set_stage("Fetched")
        return {"n": 1}

    q.start_worker()
    task, _ = q.enqueue("stage", title="thing")
    final(q, task.id)
    wait_until(lambda: q.job(task.job_id).stage == "Fetched", 5, message="stage")
    started = rec.of(task.id, ev.TASK_STARTED)[0]
    assert started.task.status == "running" and started.task.result is None
    assert started.job is not None and started.job.stage == "Pending"
    # the event goes out just after the durable write that q.job() reads
    wait_until(lambda: [e for _, e in rec.events if e.type == ev.JOB_UPDATED], 5, message="the job-updated event")
    staged = [e for _, e in rec.events if e.type == ev.JOB_UPDATED]
    assert staged and staged[0].job.stage == "Fetched"
    q.set_stage(task.job_id, "Evaluated")
    assert started.job.stage == "Pending" and staged[0].job.stage == "Fetched"


def test_a_kind_cap_holds_across_two_workers(queue):
    active, peak = [0], [0]
    lock = threading.Lock()
    gate = threading.Event()
    workers = []
    passes = {0: 0, 1: 0}

    def solo(ctx):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            hold(ctx, gate)
        finally:
            with lock:
                active[0] -= 1
        return "done"

    for n in range(2):
        q = queue()
        q.kind("solo", concurrency=1)(solo)
        w = q.start_worker()
        real = w.tick

        def tick(real=real, n=n):
            real()
            passes[n] += 1

        w.tick = tick
        workers.append(q)
    a, _ = workers[0].enqueue("solo")
    b, _ = workers[0].enqueue("solo")
    wait_until(lambda: active[0] == 1, 5, message="one running")
    seen = dict(passes)
    poke, _ = workers[1].enqueue("shell", {"argv": ["true"]})  # both workers look at the file again
    assert final(workers[1], poke.id).status == "completed"
    wait_until(lambda: all(passes[n] >= seen[n] + 1 for n in passes), 10, message="both workers to look again")
    assert peak[0] == 1
    waiting = b if workers[0].get(a.id).status == "running" else a
    assert workers[0].get(waiting.id).status == "queued"
    assert workers[1].why_waiting(waiting.id) == "cap full: solo 1/1"
    gate.set()
    for t in (a, b):
        assert final(workers[0], t.id).status == "completed"
    assert peak[0] == 1


def test_the_global_cap_holds_and_exempt_kinds_pass_it(queue):
    from lazyqueue.core.registry import Kind

    q = queue()
    gate = threading.Event()

    @q.kind("busy")
    def busy(ctx):
        hold(ctx, gate)

    def remote(ctx):
        hold(ctx, gate)

    q.registry.register(Kind("remote", handler=remote, uses_slot=False))
    q.start_worker(concurrency=1)
    a, _ = q.enqueue("busy")
    b, _ = q.enqueue("busy")
    c, _ = q.enqueue("remote")
    wait_until(lambda: q.get(a.id).status == "running" and q.get(c.id).status == "running", 5, message="a and c running")
    assert q.get(b.id).status == "queued"
    assert q.why_waiting(b.id) == "all 1 slots busy"
    gate.set()
    assert final(q, b.id).status == "completed"


def test_progress_and_meta_reach_the_file_while_running(home, queue):
    q = queue()
    gate = threading.Event()

    @q.kind("work")
    def work(ctx):
        ctx.progress(42, "copying")
        ctx.update_meta(queue_position=3)
        hold(ctx, gate)
        return "ok"

    q.start_worker()
    task, _ = q.enqueue("work")

    def persisted():
        t = on_disk(home, task.id)
        return t.status == "running" and t.progress == 42 and t.progress_label == "copying" and t.meta.get("queue_position") == 3

    wait_until(persisted, 5, message="progress in the file")
    gate.set()
    done = final(q, task.id)
    assert done.status == "completed" and done.progress == 100


def test_a_task_in_back_off_says_when_it_retries(queue):
    q = queue()

    @q.kind("flaky", max_attempts=2, backoff=Backoff(base=30, factor=2, max=60, jitter=0))
    def flaky(ctx):
        raise RetryableError("server busy")

    q.start_worker()
    task, _ = q.enqueue("flaky")
    wait_until(lambda: q.get(task.id).attempt == 1 and q.get(task.id).status == "queued", 5, message="back-off")
    again = q.get(task.id)
    assert again.error == "server busy" and again.error_kind == "retryable"
    assert re.fullmatch(r"retry in (2\d|30) s", q.why_waiting(task.id))
    assert q.cancel(task.id) == CANCEL_DONE


def test_a_shell_task_stopped_with_the_worker_is_queued_again(home, queue):
    q = queue()
    q.start_worker()
    task, _ = q.enqueue("shell", {"argv": ["sleep", "30"]}, max_attempts=1)
    pgid = wait_until(lambda: (q.get(task.id).owner or {}).get("child_pgid"), 5, message="child recorded")
    q.stop_worker(grace=0.1)
    again = on_disk(home, task.id)
    assert again.status == "queued" and again.attempt == 0
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)


def test_a_result_that_is_not_json_fails_the_task_and_not_the_worker(home, queue):
    from pathlib import Path

    q = queue()
    meta_error: list[str] = []

    @q.kind("weird")
    def weird(ctx):
        try:
            ctx.update_meta(where=Path("/tmp"))
        except TypeError as exc:
            meta_error.append(str(exc))
        return {"path": Path("/tmp/x")}

    @q.kind("fine")
    def fine(ctx):
        return 1

    worker = q.start_worker()
    a, _ = q.enqueue("weird")
    done = final(q, a.id)
    assert done.status == "failed" and done.error_kind == "fatal"
    assert "not JSON" in done.error and "PosixPath" in done.error
    assert meta_error and "PosixPath" in meta_error[0]
    assert on_disk(home, a.id).status == "failed"
    b, _ = q.enqueue("fine")
    assert final(q, b.id).status == "completed"
    assert worker.errors == []


def test_a_cancel_asked_of_a_dead_workers_task_holds_after_recovery(home, queue):
    dead = _dead_pid()
    stamp = iso()
    store = TaskFile(home)
    store.load()
    with store.lock:
        store.state.head.next_task_id = 2
        store.commit(Change(tasks=[Task(id=1, kind="work", status="running", attempt=1, max_attempts=3, created_at=stamp, updated_at=stamp,
                                        owner={"pid": dead, "host": HOST, "worker": f"{HOST}:{dead}:gone", "lease_until": iso(time.time() + 30)})]))
    q = queue()
    ran = []

    @q.kind("work")
    def work(ctx):
        ran.append(ctx.task.id)

    assert q.cancel(1) == CANCEL_SIGNALLED  # it looks running: its worker's death is not known yet
    q.start_worker()
    done = final(q, 1)
    assert done.status == "cancelled"
    assert ran == []


def test_a_cancel_during_shutdown_is_not_undone_by_the_requeue(home, queue):
    q = queue()
    saw, gate = threading.Event(), threading.Event()

    @q.kind("slow-stop")
    def slow_stop(ctx):
        ctx.wait_cancelled(20)
        saw.set()
        gate.wait(10)  # cleaning up
        ctx.check_cancelled()

    worker = q.start_worker()
    task, _ = q.enqueue("slow-stop")
    wait_until(lambda: q.get(task.id).status == "running", 5, message="running")
    worker.stop(grace=0.05, wait=False)
    assert saw.wait(5)
    assert q.cancel(task.id) == CANCEL_SIGNALLED
    gate.set()
    assert worker.join(10)
    assert on_disk(home, task.id).status == "cancelled"


def test_a_progress_label_that_is_not_text_is_shown_as_text(queue):
    q = queue()

    @q.kind("count")
    def count(ctx):
        ctx.progress(30, 3)  # "step 3": a number, not a string
        return "ok"

    q.start_worker()
    task, _ = q.enqueue("count")
    done = final(q, task.id)
    assert done.status == "completed" and done.progress_label == "3"
    assert q.worker.errors == []


def test_a_follow_up_that_cannot_be_built_does_not_break_the_pass(home, queue):
    q = queue()

    @q.kind("first", then=["second"])
    def first(ctx):
        return {"no": "url"}

    @q.kind("second", dedupe=lambda p: "get:" + p["url"], label=lambda p: p["url"])
    def second(ctx):
        return None

    worker = q.start_worker()
    task, _ = q.enqueue("first")
    done = final(q, task.id)
    assert done.status == "completed"
    assert on_disk(home, task.id).status == "completed"
    assert "url" in done.meta.get("then_error", "")
    assert q.tasks(kind="second") == []
    assert worker.errors == []
    with pytest.raises(UsageError, match="url"):
        q.enqueue("second", {})


def test_an_async_handler_times_out(queue):
    import asyncio

    q = queue()

    @q.kind("hang")
    async def hang(ctx):
        await asyncio.sleep(30)

    q.start_worker()
    task, _ = q.enqueue("hang", timeout=0.2)
    done = final(q, task.id)
    assert done.status == "failed" and done.error == "timed out after 0.2 s"


def test_a_stop_asked_before_the_worker_exists_stops_it(queue):
    """SIGTERM can land after the handler is installed and before run_worker() made its worker."""
    q = queue()
    q.request_stop()
    done = threading.Event()
    thread = threading.Thread(target=lambda: (q.run_worker(), done.set()), daemon=True)
    thread.start()
    assert done.wait(10), "run_worker() ignored a stop asked before it started"
    assert q.worker is None


def test_a_stop_asked_while_the_worker_loop_holds_its_wake_lock_does_not_deadlock(queue):
    """A signal handler runs inside whatever the main thread was doing, maybe Event.wait() with the
    Event's lock held: request_stop() must return without taking that lock, and the worker still stops."""
    q = queue()
    q.start_worker()
    worker = q.worker
    returned = threading.Event()

    def as_a_handler_would() -> None:
        with worker._wake._cond:  # the lock Event.wait() holds at the moment the signal lands
            q.request_stop()
            returned.set()

    thread = threading.Thread(target=as_a_handler_would, daemon=True)
    thread.start()
    if not returned.wait(5):
        worker._wake._cond._lock.release()  # let the stuck thread go, so the failure does not hang the run
        pytest.fail("request_stop() blocked on the lock its own thread holds")
    thread.join(5)
    wait_until(lambda: worker.stopping and not worker._thread.is_alive(), 10, message="the worker to stop")


def test_a_stage_a_handler_sets_is_announced_with_its_task_before_the_task_ends(queue):
    q = queue()
    rec = Recorder(q)

    @q.kind("thumbnail")
    def thumbnail(ctx):
        ctx.progress(10, "decoding")
        ctx.set_stage("Thumbnailed")
        return {"path": "thumb.png"}

    q.start_worker()
    task, _ = q.enqueue("thumbnail", title="a.png")
    final(q, task.id)
    wait_until(lambda: ev.TASK_COMPLETED in rec.types(task.id), 5, message="the completed event")
    seen = [e for e in rec.of(task.id)]
    assert [e.type for e in seen] == ["task-queued", "task-started", "task-progress", "job-updated", "task-completed"]
    staged, done = seen[3], seen[4]
    assert staged.task.id == task.id and staged.job.id == task.job_id and staged.job.stage == "Thumbnailed"
    assert done.job.stage == "Thumbnailed" and done.task.result == {"path": "thumb.png"}
    progress = seen[2]
    assert progress.job is not None and progress.job.id == task.job_id and progress.task.progress == 10


def test_a_job_that_ends_at_done_is_announced_with_the_task_that_ended_it(queue):
    q = queue()
    rec = Recorder(q)

    @q.kind("plain")
    def plain(ctx):
        return None

    q.start_worker()
    task, _ = q.enqueue("plain", title="x")
    final(q, task.id)
    wait_until(lambda: ev.JOB_UPDATED in rec.types(task.id), 5, message="the job-updated event")
    assert rec.types(task.id)[-2:] == ["task-completed", "job-updated"]
    assert rec.of(task.id, ev.JOB_UPDATED)[0].job.stage == "Done"


def test_durable_writes_per_task_enqueue_one_line_run_at_most_two(home, queue, monkeypatch):
    """What a task costs in journal lines (each one durable write): an enqueue one line, a batch one
    line, and claim + outcome at most two more (a pass writes its outcomes and next claims together)."""
    from lazyqueue import TaskSpec
    from lazyqueue.core.taskfile import journal_entries

    journal = home / "tasks.journal"
    syncs = []
    real = getattr(os, "fdatasync", None) or os.fsync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (syncs.append(fd), real(fd))[1], raising=False)
    q = queue()
    q.kind("noop")(lambda ctx: None)
    single = [q.enqueue("noop", {"i": i})[0].id for i in range(20)]
    assert len(journal_entries(journal)) == 20 and len(syncs) == 20
    batch = [e.task.id for e in q.enqueue_many([TaskSpec("noop", {"i": i}) for i in range(10)])]
    assert len(journal_entries(journal)) == 21 and len(syncs) == 21
    q.start_worker(concurrency=2)
    done = q.wait(single + batch, timeout=20, poll=0.01)
    assert [t.status for t in done] == ["completed"] * 30
    worker_lines = journal_entries(journal)[21:]  # read before the worker stops (stopping folds the journal)
    q.stop_worker(grace=1)
    assert worker_lines and all(e.get("tasks") or e.get("patches") for e in worker_lines)
    assert len(worker_lines) <= 2 * 30, f"{len(worker_lines)} journal lines to run 30 tasks"
    assert len(syncs) <= 21 + len(worker_lines)  # no line is synced twice


def test_a_cancel_between_the_claim_and_the_start_still_reaches_the_handler(queue, monkeypatch):
    """Queue.cancel can land after the claim is written and before the handler is dispatched."""
    q = queue()
    outcome: list[bool] = []

    @q.kind("wait")
    def wait(ctx):
        outcome.append(ctx.wait_cancelled(20))
        ctx.check_cancelled()

    worker = q.start_worker(grace_s=0.5)
    dispatch = worker._start

    def cancel_then_start(task, adopt=None, **how):
        assert q.cancel(task.id) == CANCEL_SIGNALLED
        dispatch(task, adopt, **how)

    monkeypatch.setattr(worker, "_start", cancel_then_start)
    task, _ = q.enqueue("wait")
    done = final(q, task.id)
    assert done.status == "cancelled"
    assert outcome == [True]


def test_a_kind_loaded_on_first_use_has_its_cap_from_the_first_claim(queue):
    # the worker looks up only the kinds of the tasks it holds until every kind is loaded
    q = queue()
    gate = threading.Event()
    running: list[int] = []
    most = [0]

    def slow(ctx):
        running.append(ctx.task.id)
        most[0] = max(most[0], len(running))
        hold(ctx, gate)
        running.remove(ctx.task.id)

    loads = []
    q.registry.lazy(("slow",), lambda r: (loads.append(1), r.register(Kind("slow", handler=slow, concurrency=1))))
    q.kind("noop")(lambda ctx: None)
    q.start_worker(concurrency=4)
    assert final(q, q.enqueue("noop", {})[0].id).status == "completed"
    assert loads == []  # no task of it yet: not loaded
    ids = [q.enqueue("slow", {"i": i})[0].id for i in range(3)]
    wait_until(lambda: len(running) == 1, 10, message="the first slow task to start")
    assert loads == [1]
    assert [t.status for t in q.tasks() if t.id in ids].count("running") == 1  # its cap of 1, at once
    gate.set()
    assert [final(q, i).status for i in ids] == ["completed"] * 3
    assert most[0] == 1
