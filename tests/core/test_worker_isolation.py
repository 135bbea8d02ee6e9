"""One task the worker cannot handle fails on its own; the pass goes on and the others run.

Each test plants one task whose record, payload or kind makes a step of the
pass raise, queues ordinary work beside it, and drives the worker pass by pass.
"""

from __future__ import annotations

import pytest

from lazyqueue import Queue
from lazyqueue.core.config import Config
from lazyqueue.core.errors import TaskError
from lazyqueue.core.models import Task, iso
from lazyqueue.core.taskfile import Change, TaskFile
from lazyqueue.core.worker import HOST, Worker

from tests.conftest import wait_until


@pytest.fixture
def driven(home):
    q = Queue(home, config=Config(concurrency=4), plugins=False)
    worker = Worker(q.taskfile, q.events, q.registry, concurrency=4)
    q.worker = worker
    yield q, worker
    worker.close()
    q.close()


def plant_running(home, owner: dict, kind: str = "work") -> int:
    """A running task as another process wrote it (with `owner` as its owner)."""
    store = TaskFile(home)
    store.load()
    stamp = iso()
    with store.lock:
        store.sync()
        tid = store.next_task_id()
        store.commit(Change(tasks=[Task(id=tid, kind=kind, status="running", attempt=1, max_attempts=3, owner=owner,
                                        created_at=stamp, updated_at=stamp, started_at=stamp)]))
    return tid


def run_until_settled(q: Queue, worker: Worker, tids: list[int], passes: int = 20) -> None:
    """Passes (waiting for handlers between them) until every task in `tids` has ended."""
    for _ in range(passes):
        worker.tick(recover_now=True)
        if all(q.get(t).status not in ("queued", "running") for t in tids):
            return
        if worker.running:
            wait_until(worker.outcomes_waiting, message="a handler to return")
    raise AssertionError(f"not settled: {[(t, q.get(t).status) for t in tids]}")


@pytest.mark.parametrize("owner", [
    {"pid": 1, "host": "elsewhere", "worker": "elsewhere:1:x", "lease_until": 5},  # a lease that is not a time
    {"pid": 10 ** 30, "host": HOST, "worker": f"{HOST}:0:x"},  # a pid no system call takes
], ids=["lease-not-a-time", "pid-out-of-range"])
def test_a_running_record_that_breaks_recovery_fails_alone(home, driven, owner):
    q, worker = driven
    q.kind("work")(lambda ctx: "done")
    bad = plant_running(home, owner)
    good, _ = q.enqueue("work")
    run_until_settled(q, worker, [good.id, bad])
    assert q.get(good.id).status == "completed"
    broken = q.get(bad)
    assert broken.status == "failed" and broken.error_kind == "fatal"
    assert broken.error.startswith(f"lazyqueue could not recover t{bad}: ")
    assert "Error" in broken.error and "\n" not in broken.error
    # what the file holds, too
    store = TaskFile(home)
    store.load()
    assert store.state.tasks[bad].status == "failed" and store.state.tasks[good.id].status == "completed"


def test_a_follow_up_whose_kind_breaks_does_not_strand_the_task_that_completed(home, driven):
    q, worker = driven

    def strict(payload):
        return {**payload, "name": payload["name"].lower()}  # AttributeError when name is a number

    q.kind("first", then=["second"])(lambda ctx: "first done")
    q.kind("second")(lambda ctx: "second done")
    q.registry.get("second").validate = strict
    q.kind("other")(lambda ctx: "other done")
    first, _ = q.enqueue("first", {"name": 7})
    other, _ = q.enqueue("other")
    run_until_settled(q, worker, [first.id, other.id])
    done = q.get(first.id)
    assert done.status == "completed" and done.result == "first done"
    assert done.meta["then_error"].startswith("second: AttributeError")
    assert q.get(other.id).status == "completed"
    assert q.tasks(kind="second") == []
    assert worker.running == {}


def test_a_task_whose_outcome_cannot_be_recorded_fails_and_the_others_are_recorded(home, driven):
    q, worker = driven

    class Odd(TaskError):
        def __str__(self):  # a handler's own exception whose message itself raises
            raise RuntimeError("no message")

    def odd(ctx):
        raise Odd("x")

    q.kind("odd", max_attempts=1)(odd)
    q.kind("work")(lambda ctx: "done")
    bad, _ = q.enqueue("odd")
    good, _ = q.enqueue("work")
    run_until_settled(q, worker, [bad.id, good.id])
    assert q.get(good.id).status == "completed"
    failed = q.get(bad.id)
    assert failed.status == "failed"
    assert failed.error.startswith(f"lazyqueue could not record the outcome of t{bad.id}: RuntimeError: no message")
    assert worker.running == {}
