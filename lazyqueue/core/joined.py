"""A worker's pass run inside an enqueue of the same process: one write claims what was just queued."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from .errors import StoreError
from .worker import EXTERNAL_POLL_S, JOIN_WAIT_S, Pass, _described

if TYPE_CHECKING:
    from .worker import Worker


class Joined:
    """A worker's pass run in the thread of an enqueue of the same process, inside the enqueue's write.

    While a process enqueues, the pass that records the last outcomes and claims
    the new task rides on the enqueue: one lock, one journal line (the enqueue
    stages its tasks, the pass's commit writes both), one fsync, no wake of the
    loop. While such enqueues keep coming (JOIN_WAIT_S apart at most), a
    handler's outcome waits for the next one instead of waking the loop; the
    loop records it itself once they stop. In such a burst the handlers a pass
    claimed are handed to their threads as the next enqueue's fsync begins, or by
    the loop once the burst is over (`HandlerThreads.hold`). The enqueue calls `run(published)`
    under the lock after staging, and `close(error)` once the lock is let go
    (the fsync done, or failed).
    """

    __slots__ = ("worker", "pass_", "ran", "asked", "due_before", "cold")

    def __init__(self, worker: "Worker") -> None:
        worker._passer = threading.get_ident()
        self.worker = worker
        self.pass_: Pass | None = None
        self.ran = False  # the pass was written: the new tasks were looked at, no wake is needed
        self.asked = False  # run() was called (the enqueue made a task)
        self.due_before = worker._due_at
        self.cold = False

    def run(self, published: list) -> None:
        """The pass, under the enqueue's lock; its failure is the worker's, never the enqueue's."""
        worker = self.worker
        self.asked = True
        pass_ = self.pass_ = Pass(now=time.time(), mono=time.monotonic())
        worker._next_due_scan = 0.0  # what was just queued may be due later: its time is noted
        try:
            worker._steps(pass_, published)
        except Exception as exc:  # noqa: BLE001 - nothing of the pass was written: the loop does it
            worker._give_back(pass_)
            if not isinstance(exc, StoreError):
                worker._note_error(f"worker pass failed: {_described(exc)}")
            self.pass_ = None
            return
        self.ran = True

    def close(self, error: BaseException | None = None) -> None:
        """After the lock: the pass is durable (start what it claimed) or not (its inputs wait)."""
        worker, pass_ = self.worker, self.pass_
        try:
            if pass_ is not None and error is None:
                now = time.monotonic()
                self.cold = worker._joined_until <= now  # the first of a burst: the loop must learn when to look
                worker._joined_until = now + JOIN_WAIT_S  # before the claimed handlers start: their outcomes wait
                # in a burst, what it claimed starts at the next enqueue's fsync, or at the burst's end
                worker._written(pass_, hold=not self.cold)
            elif pass_ is not None:
                self.ran = False
                if isinstance(error, StoreError):
                    worker._store_failed(error, pass_)
                else:
                    worker._give_back(pass_)
        finally:
            worker._passer = None
            worker._passing.release()
            if not self.asked and error is None:
                return  # nothing was queued (every task a duplicate): nothing for the loop to look at
            if not self.ran:
                worker._joined_until = 0.0  # outcomes wake the loop again
            due = worker._due_at  # the loop sleeps at most EXTERNAL_POLL_S: only a sooner time needs a wake
            sooner = due is not None and due < time.monotonic() + EXTERNAL_POLL_S and (
                self.due_before is None or due < self.due_before)
            if not self.ran or self.cold or sooner:
                worker._wake.set()  # the loop looks again: at the new task, or at when its next pass is due
