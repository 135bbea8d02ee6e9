"""An enqueue in a process whose worker runs: the worker's pass rides on the enqueue's write."""

from __future__ import annotations

import os
import threading

import pytest

from lazyqueue import Queue
from lazyqueue.core import events as ev
from lazyqueue.core.errors import StoreError
from lazyqueue.core.taskfile import TaskFile, journal_entries
from tests.conftest import wait_until


@pytest.fixture
def q(home):
    queue = Queue(home, plugins=False)
    yield queue
    queue.stop_worker(grace=1)
    queue.close()


def idle(queue: Queue) -> None:
    """The worker has run its first pass and sleeps: the next enqueue finds it between passes."""
    assert queue.worker.idle_event.wait(10), "the worker never went idle"


def on_disk(home, tid: int):
    store = TaskFile(home)
    store.load()
    return store.state.tasks[tid]


def test_the_enqueue_writes_the_claim_in_its_own_line(home, q):
    gate = threading.Event()
    q.kind("wait")(lambda ctx: gate.wait(20))
    q.start_worker(concurrency=2)
    idle(q)
    journal = home / "tasks.journal"
    before = len(journal_entries(journal)) if journal.exists() else 0
    task, _ = q.enqueue("wait", {})
    try:
        lines = journal_entries(journal)[before:]
        # one line: the task as claimed (it never sat queued in the file), read back by another reader at once
        assert [[t["status"] for t in line.get("tasks", [])] for line in lines] == [["running"]], lines
        assert on_disk(home, task.id).status == "running"
    finally:
        gate.set()
    assert q.wait([task.id], timeout=10, poll=0.01)[0].status == "completed"


def test_a_burst_of_enqueues_costs_about_one_durable_write_per_task(home, q, monkeypatch):
    syncs = []
    real = getattr(os, "fdatasync", None) or os.fsync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (syncs.append(fd), real(fd))[1], raising=False)
    heard: list[int] = []
    q.subscribe(lambda e: heard.append(e.task.id), types=(ev.TASK_COMPLETED,))
    q.kind("noop")(lambda ctx: None)
    q.start_worker(concurrency=2)
    idle(q)
    syncs.clear()
    ids = [q.enqueue("noop", {"i": i})[0].id for i in range(200)]
    # the last outcomes have no enqueue to ride on: the worker writes them itself, soon
    wait_until(lambda: len(heard) == 200, 10, message="every task-completed event")
    assert sorted(heard) == ids
    assert [t.status for t in q.wait(ids, timeout=10)] == ["completed"] * 200
    # each enqueue's write also records an earlier task's outcome and claims the new one: before,
    # the worker wrote its own line for that (two durable writes per task)
    assert len(syncs) <= 260, f"{len(syncs)} fsyncs for 200 tasks"


def test_a_subscriber_that_enqueues_from_the_publishing_thread_does_not_wait_on_itself(q):
    q.kind("step")(lambda ctx: ctx.task.payload["n"])
    chain: list[int] = []

    def next_step(event) -> None:
        n = event.task.result
        chain.append(n)
        if n < 5:
            q.enqueue("step", {"n": n + 1})  # from inside a pass's publishing: no pass joins it

    q.subscribe(next_step, types=(ev.TASK_COMPLETED,))
    q.start_worker(concurrency=2)
    q.enqueue("step", {"n": 1})
    wait_until(lambda: chain == [1, 2, 3, 4, 5], 10, message="five steps, each queued by the last")


def test_a_joined_write_that_fails_fails_the_enqueue_and_keeps_nothing_of_it(home, q, monkeypatch):
    q.kind("noop")(lambda ctx: None)
    q.start_worker(concurrency=2)
    first, _ = q.enqueue("noop", {})
    assert q.wait([first.id], timeout=10)[0].status == "completed"
    idle(q)
    store = q.taskfile
    real = store._append
    failures = [StoreError("could not write tasks.journal: no space left on device")]

    def full_disk(line, durable=True):
        if failures:
            raise failures.pop()
        real(line, durable)

    monkeypatch.setattr(store, "_append", full_disk)
    with pytest.raises(StoreError, match="no space left"):
        q.enqueue("noop", {"lost": True})
    # memory held the task only for the write that failed: it is read again from the file
    assert [t.payload for t in q.tasks()] == [{}]
    second, _ = q.enqueue("noop", {"kept": True})
    assert q.wait([second.id], timeout=10)[0].status == "completed"
    assert [t.payload for t in on_tasks(home)] == [{}, {"kept": True}]


def on_tasks(home):
    store = TaskFile(home)
    store.load()
    return list(store.state.tasks.values())


def test_a_paused_worker_leaves_the_enqueued_task_queued(home, q):
    q.kind("noop")(lambda ctx: None)
    worker = q.start_worker(concurrency=2)
    idle(q)
    worker.pause()
    task, _ = q.enqueue("noop", {})
    assert on_disk(home, task.id).status == "queued"
    worker.resume()
    assert q.wait([task.id], timeout=10)[0].status == "completed"


def test_a_handler_that_enqueues_the_next_step_runs_the_chain_to_its_end(q):
    """A handler's thread enqueues (and so runs a pass) while its own task still runs."""
    @q.kind("hop")
    def hop(ctx):
        n = ctx.payload["n"]
        if n < 20:
            q.enqueue("hop", {"n": n + 1})
        return n

    q.start_worker(concurrency=2)
    first, _ = q.enqueue("hop", {"n": 1})
    wait_until(lambda: len([t for t in q.tasks() if t.status == "completed"]) == 20, 10,
               message="twenty hops, each queued by the one before")
    assert sorted(t.result for t in q.tasks()) == list(range(1, 21))


def noted_burst(q, n: int) -> tuple[list[int], list[int]]:
    """`n` enqueues in a row, with a worker running here; (their ids, the ids whose handler ran so far)."""
    ran: list[int] = []
    q.kind("note")(lambda ctx: ran.append(ctx.task.id))
    q.start_worker(concurrency=2)
    idle(q)
    return [q.enqueue("note", {"i": i})[0].id for i in range(n)], ran


def test_the_last_handler_of_a_burst_starts_with_no_enqueue_after_it(home, q):
    # in a burst, a claimed handler is handed to its thread at the next enqueue's fsync; the
    # last one has none: the worker's loop lets it go once the burst is over
    ids, started = noted_burst(q, 20)
    wait_until(lambda: len(started) == 20, 10, message="every handler to start")
    assert sorted(started) == ids
    assert not q.worker._pool.holding
    assert [t.status for t in q.wait(ids, timeout=10, poll=0.01)] == ["completed"] * 20


def test_held_handlers_start_before_the_next_enqueue_returns(home, q):
    # what the burst held is let go as the next write is made durable, not only at the burst's end
    q.kind("note")(lambda ctx: None)
    q.start_worker(concurrency=4)
    idle(q)

    def held() -> set[int]:
        return {args[1].task.id for _fn, args in list(q.worker._pool._held)}

    ids = []
    for i in range(30):
        before = held()
        ids.append(q.enqueue("note", {"i": i})[0].id)
        assert not before & held(), f"enqueue {i} left earlier handlers held"
    assert [t.status for t in q.wait(ids, timeout=10, poll=0.01)] == ["completed"] * 30


def test_stopping_right_after_a_burst_runs_every_claimed_handler(home, q):
    ids, ran = noted_burst(q, 10)
    claimed = set(q.worker.running)  # the last of the burst may still be held back from its thread
    q.stop_worker(grace=10)
    store = TaskFile(home)
    store.load()
    status = {i: store.state.tasks[i].status for i in ids}
    assert claimed <= set(ran), "a claimed handler never ran"
    # what was claimed ran once and completed; what was not claimed yet stays queued
    assert sorted(ran) == sorted(i for i in ids if status[i] == "completed")
    assert set(status.values()) <= {"completed", "queued"}, status
