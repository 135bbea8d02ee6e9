"""How the cluster engine records an outcome, without a database: non-finite numbers never reach it.

The local engine fails a task whose handler returns NaN or Infinity (they are
not JSON: `ls --json` would print what no JSON reader takes, and PostgreSQL's
jsonb refuses them) and counts non-finite progress as unknown; so does this one.
"""

from __future__ import annotations

import time

import pytest

from lazyqueue.cluster import outcome
from lazyqueue.core.models import COMPLETED, FAILED, Task, iso
from lazyqueue.core.registry import Registry


class Rows:
    def all(self):
        return []


class Conn:
    """Stands in for a connection: no task waits on another."""

    def exec_driver_sql(self, sql, params=None):
        return Rows()


class Dispatcher:
    def __init__(self):
        self.saved: list[Task] = []

    def save(self, conn, task):
        self.saved.append(task.copy())

    def requeue(self, conn, task, wf):
        self.saved.append(task.copy())


class Worker:
    def __init__(self):
        self.queue = type("Q", (), {})()
        self.queue.registry = Registry()
        self.queue.registry.kind("work", max_attempts=1)(lambda ctx: None)
        self.queue.dispatcher = Dispatcher()


def running_task() -> Task:
    stamp = iso()
    return Task(id=1, kind="work", status="running", attempt=1, max_attempts=1, created_at=stamp, updated_at=stamp,
                started_at=stamp, progress=float("nan"))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {"score": float("-inf")}, [1, float("nan")]],
                         ids=["nan", "inf", "nested", "in-a-list"])
def test_a_result_with_a_non_finite_number_fails_the_task(value):
    worker, task = Worker(), running_task()
    outcome.apply(worker, Conn(), task, "wf", "ok", value, None, time.time())
    saved = worker.queue.dispatcher.saved[-1]
    assert saved.status == FAILED and saved.error_kind == "fatal"
    assert saved.error.startswith("the handler's result is not JSON")
    assert saved.result is None


def test_a_finite_result_completes_and_non_finite_progress_is_unknown():
    worker, task = Worker(), running_task()
    task.status = "running"
    outcome.apply(worker, Conn(), task, "wf", "error", RuntimeError("boom"), None, time.time())
    saved = worker.queue.dispatcher.saved[-1]
    assert saved.status == FAILED and saved.progress is None  # NaN progress would make `ls --json` invalid
    worker, task = Worker(), running_task()
    outcome.apply(worker, Conn(), task, "wf", "ok", {"score": 0.5}, None, time.time())
    saved = worker.queue.dispatcher.saved[-1]
    assert saved.status == COMPLETED and saved.result == {"score": 0.5}
