"""A step of the wall clock neither fires nor stalls what the worker times.

The worker is driven pass by pass with `tick()` under a fake clock: the wall
clock (`time.time`) is stepped as an NTP correction or a resumed laptop would
step it, and the monotonic clock (`time.monotonic`) is advanced to stand for
the time that really passed.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from lazyqueue import Queue
from lazyqueue.core import worker as worker_mod
from lazyqueue.core.config import Config
from lazyqueue.core.models import Task, iso
from lazyqueue.core.taskfile import Change, TaskFile
from lazyqueue.core.worker import HOST, LEASE_S, RECOVERY_SCAN_S, Worker

from tests.conftest import wait_until

REAL_TIME = time.time
REAL_MONOTONIC = time.monotonic


class Clock:
    """Both clocks of this process, each offset from the real one."""

    def __init__(self, monkeypatch):
        self.wall = 0.0
        self.mono = 0.0
        monkeypatch.setattr(time, "time", lambda: REAL_TIME() + self.wall)
        monkeypatch.setattr(time, "monotonic", lambda: REAL_MONOTONIC() + self.mono)

    def step_wall(self, seconds: float) -> None:
        self.wall += seconds

    def elapse(self, seconds: float) -> None:
        """`seconds` pass: both clocks move on."""
        self.wall += seconds
        self.mono += seconds


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


@pytest.fixture
def driven(home):
    """A queue and a worker that runs only when the test calls `tick()`."""
    made = []

    def make():
        q = Queue(home, config=Config(concurrency=2), plugins=False)
        worker = Worker(q.taskfile, q.events, q.registry, concurrency=2)
        q.worker = worker
        made.append((q, worker))
        return q, worker

    yield make
    for q, worker in made:
        for run in list(worker.running.values()):
            run.ctx.request_cancel("shutdown")
        worker.close()
        q.close()


def slow_kind(q: Queue) -> None:
    @q.kind("slow", max_attempts=1)
    def slow(ctx):
        ctx.wait_cancelled(30)
        ctx.check_cancelled()
        return "never"


def running(q: Queue, worker: Worker, tid: int) -> bool:
    return q.get(tid).status == "running" and tid in worker.running and not worker.running[tid].ctx.cancelled


def settle(q: Queue, worker: Worker, tid: int) -> Task:
    wait_until(worker.outcomes_waiting, message="the handler to stop")
    worker.tick()
    return q.get(tid)


def test_a_forward_clock_step_does_not_fire_a_timeout_early_and_it_fires_on_schedule(driven, clock):
    q, worker = driven()
    slow_kind(q)
    task, _ = q.enqueue("slow", timeout=600)
    worker.tick()  # claims and starts it
    assert running(q, worker, task.id)
    clock.step_wall(700)  # 700 s on the wall, none really
    worker.tick()
    assert running(q, worker, task.id), "a wall-clock step fired the timeout"
    clock.elapse(599)
    worker.tick()
    assert running(q, worker, task.id)
    clock.elapse(1)  # 600 s have really passed
    worker.tick()
    done = settle(q, worker, task.id)
    assert (done.status, done.error) == ("failed", "timed out after 600 s")


def test_a_backward_clock_step_does_not_stall_a_timeout(driven, clock):
    q, worker = driven()
    slow_kind(q)
    task, _ = q.enqueue("slow", timeout=60)
    worker.tick()
    clock.step_wall(-3600)
    clock.elapse(60)
    worker.tick()
    done = settle(q, worker, task.id)
    assert (done.status, done.error) == ("failed", "timed out after 60 s")


def test_a_backward_clock_step_does_not_stop_lease_renewal(home, driven, clock):
    q, worker = driven()
    slow_kind(q)
    task, _ = q.enqueue("slow")
    worker.tick()
    clock.elapse(worker_mod.HEARTBEAT_S)
    worker.tick()  # the first renewal, which schedules the next
    claimed = TaskFile(home)
    claimed.load()
    first = claimed.state.tasks[task.id].owner["lease_until"]
    clock.step_wall(-3600)
    clock.elapse(worker_mod.HEARTBEAT_S)
    worker.tick()
    store = TaskFile(home)
    store.load()
    renewed = store.state.tasks[task.id].owner["lease_until"]
    assert renewed < first, "the lease was not renewed after the clock stepped back"


def test_a_backward_clock_step_does_not_put_off_the_orphan_scan(home, driven, clock):
    q, worker = driven()
    ran = []
    q.kind("work")(lambda ctx: ran.append(ctx.task.id))
    worker.tick()  # the first pass scans for orphans and schedules the next scan
    clock.step_wall(-3600)
    clock.elapse(RECOVERY_SCAN_S)
    store = TaskFile(home)
    store.load()
    stamp = iso()
    proc = subprocess.Popen(["true"])
    proc.wait()
    owner = {"pid": proc.pid, "host": HOST, "worker": f"{HOST}:{proc.pid}:gone", "lease_until": iso(time.time() + 30)}
    with store.lock:
        store.sync()
        tid = store.next_task_id()
        store.commit(Change(tasks=[Task(id=tid, kind="work", status="running", attempt=1, max_attempts=3, owner=owner,
                                        created_at=stamp, updated_at=stamp, started_at=stamp)]))
    worker.tick()  # recovers it and claims it again
    got = q.get(tid)
    assert got.status == "running" and got.owner["worker"] == worker.id, "the orphan scan was put off by the step"


def _foreign(home, lease: str) -> int:
    store = TaskFile(home)
    store.load()
    stamp = iso()
    owner = {"pid": 1, "host": "elsewhere", "worker": "elsewhere:1:x", "lease_until": lease}
    with store.lock:
        store.sync()
        tid = store.next_task_id()
        store.commit(Change(tasks=[Task(id=tid, kind="work", status="running", attempt=1, max_attempts=3, owner=owner,
                                        created_at=stamp, updated_at=stamp, started_at=stamp)]))
    return tid


def _renew(home, tid: int, lease: str) -> None:
    store = TaskFile(home)
    store.load()
    with store.lock:
        store.sync()
        owner = dict(store.state.tasks[tid].owner, lease_until=lease)
        store.commit(Change(patches=[{"id": tid, "owner": owner}]))


def test_another_hosts_lease_is_judged_by_its_renewals_not_by_a_step_of_our_clock(home, driven, clock):
    q, worker = driven()
    q.kind("work")(lambda ctx: "done")
    alive = _foreign(home, iso(time.time() + LEASE_S))
    dead = _foreign(home, iso(time.time() + LEASE_S))
    worker.tick(recover_now=True)
    clock.step_wall(700)  # every lease in the file now looks 670 s old
    for _ in range(3):
        clock.elapse(LEASE_S / 3)
        _renew(home, alive, iso(REAL_TIME() + LEASE_S))  # its owner renews on its own clock
        worker.tick(recover_now=True)
        assert q.get(alive).owner["worker"] == "elsewhere:1:x", "a renewed lease was taken for dead"
        if _ < 2:
            assert q.get(dead).owner["worker"] == "elsewhere:1:x", "a clock step expired a lease"
    # left unrenewed for a whole lease on our own clock: its owner is gone
    assert q.get(dead).owner["worker"] != "elsewhere:1:x"
