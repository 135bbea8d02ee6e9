"""Races inside one worker pass, driven deterministically with `tick()`."""

from __future__ import annotations

from lazyqueue.core.config import Config
from lazyqueue.core.queue import Queue
from lazyqueue.core.worker import Worker

from tests.conftest import wait_until


def test_an_outcome_and_a_recovery_scan_in_one_pass_keep_the_task_completed(home):
    """A task finishing in the same pass as the orphan scan was taken for an orphan."""
    q = Queue(home, config=Config(concurrency=2))
    q.kind("noop", max_attempts=3)(lambda ctx: "done")
    worker = Worker(q)
    q.worker = worker
    try:
        task, _ = q.enqueue("noop", {})
        worker.tick()  # claims and dispatches it
        wait_until(lambda: worker._outcomes, message="the handler's outcome")
        worker._next_recovery = 0.0  # the periodic orphan scan falls due in the same pass
        worker.tick()
        got = q.get(task.id)
        assert (got.status, got.error, got.attempt) == ("completed", None, 1)
        worker.tick()  # and it is never claimed again
        assert q.get(task.id).attempt == 1
    finally:
        worker.stop(grace=0, wait=False)
        worker._pool.shutdown(wait=True)
        q.store.close()
