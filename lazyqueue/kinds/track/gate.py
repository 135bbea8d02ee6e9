"""The process-wide poll gate: polls aligned to a tick grid, a few in flight at once."""

from __future__ import annotations

import asyncio
import math
import threading
from collections import deque
from contextlib import asynccontextmanager

MAX_IN_FLIGHT = 3
GATE_TICK = 0.25


class PollGate:
    """At most `limit` polls in flight across every tracker in the process, any event loop.

    `align(t)` rounds a due time up to the tick grid, so trackers on the same
    cadence wake in the same tick and go through the gate as one batch.
    """

    def __init__(self, limit: int = MAX_IN_FLIGHT, tick: float = GATE_TICK):
        self.limit = limit
        self.tick = tick
        self._lock = threading.Lock()
        self._in_flight = 0
        self._waiters: deque = deque()
        self.peak = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def align(self, t: float) -> float:
        if self.tick <= 0:
            return t
        return math.ceil(t / self.tick - 1e-9) * self.tick

    def _take(self) -> None:
        self._in_flight += 1
        self.peak = max(self.peak, self._in_flight)

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._in_flight < self.limit and not self._waiters:
                self._take()
                return
            fut = loop.create_future()
            entry = (loop, fut)
            self._waiters.append(entry)
        try:
            await fut
        except asyncio.CancelledError:
            with self._lock:
                try:
                    self._waiters.remove(entry)
                    granted = False
                except ValueError:
                    granted = True
            if granted and fut.done() and not fut.cancelled():
                self.release()  # handed a slot just as we gave up: pass it on
            raise

    def release(self) -> None:
        with self._lock:
            if not self._waiters:
                self._in_flight -= 1
                return
            loop, fut = self._waiters.popleft()  # the slot passes straight to the next in line
        try:
            loop.call_soon_threadsafe(self._grant, fut)
        except RuntimeError:  # that loop is closed
            self.release()

    def _grant(self, fut: asyncio.Future) -> None:
        if fut.done():
            self.release()
        else:
            fut.set_result(None)

    @asynccontextmanager
    async def slot(self):
        await self.acquire()
        try:
            yield
        finally:
            self.release()


GATE = PollGate()


__all__ = ["MAX_IN_FLIGHT", "GATE_TICK", "PollGate", "GATE"]
