"""The poll loop: cadence, back-off, the failure banner, cancel confirmation."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import deque
from typing import Any, Callable

from .gate import GATE, PollGate
from .status import PollError, RemoteStatus

DEFAULT_INTERVAL = 2.0
MIN_INTERVAL = 1.0
BACKOFF_AFTER_S = 60.0
BACKOFF_STEPS = (5.0, 10.0, 30.0)
FAILURES_FOR_BANNER = 3
FAILURE_INTERVAL = 30.0
CANCEL_CONFIRM_S = 30.0


class PollStopped(Exception):
    """The poller was told to stop (cancel without an endpoint, timeout, shutdown)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class CancelNotConfirmed(Exception):
    """A cancel was sent but the source kept answering queued/running."""


def _is_async(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))


class PollListener:
    """What a Poller tells its owner; every method is optional."""

    def on_transition(self, previous: str | None, status: RemoteStatus) -> None: ...
    def on_status(self, status: RemoteStatus) -> None: ...
    def on_poll_error(self, error: str, consecutive: int) -> None: ...
    def on_banner(self, shown: bool, error: str | None) -> None: ...


class Poller:
    """Polls `fetch()` until a terminal state; returns that RemoteStatus.

    `fetch` is a plain function (run in a thread) or a coroutine function.
    `clock()` and `await sleep(seconds)` are injectable so a test can run the
    cadence under a fake clock; `gate` limits polls in flight. Thread-safe
    controls: `poke()` (poll now), `stop(reason)` (run raises PollStopped),
    `note_cancel()` (a cancel is on its way: poll at the base cadence),
    `cancel_sent()` (poll at once; give up with CancelNotConfirmed if the
    source still says queued/running `cancel_confirm_s` later).
    """

    def __init__(
        self,
        fetch: Callable[[], Any],
        *,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] | None = None,
        gate: PollGate | None = None,
        listener: PollListener | None = None,
        cancel_confirm_s: float = CANCEL_CONFIRM_S,
    ):
        self.fetch = fetch
        self.interval = max(MIN_INTERVAL, float(interval))
        self.clock = clock
        self._sleep = sleep
        self.gate = gate if gate is not None else GATE
        self.listener = listener or PollListener()
        self.cancel_confirm_s = cancel_confirm_s
        self.polls = 0
        self.poll_times: deque[float] = deque(maxlen=4096)
        self.failures = 0  # consecutive
        self.banner = False
        self.state: str | None = None
        self.last: RemoteStatus | None = None
        self.transitions: list[tuple[str | None, str]] = []
        self._backoff_step = 0
        self._started: float | None = None
        self._due = 0.0
        self._poked = False
        self._stop_reason: str | None = None
        self._cancel_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None

    # controls (any thread) ------------------------------------------------
    def poke(self) -> None:
        self._poked = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:
                pass

    def stop(self, reason: str = "cancel") -> None:
        self._stop_reason = reason
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:
                pass

    def note_cancel(self) -> None:
        """A cancel is on its way: poll at the base cadence from now on."""
        if self._cancel_at is None:
            self._cancel_at = self.clock()

    def cancel_sent(self) -> None:
        """The cancel went out: poll at once; the confirmation window starts now."""
        self._cancel_at = self.clock()
        self.poke()

    @property
    def cancelling(self) -> bool:
        return self._cancel_at is not None

    # cadence --------------------------------------------------------------
    def next_delay(self, at: float) -> float:
        """Seconds from the poll made at `at` to the next one."""
        if self._cancel_at is not None:
            return self.interval
        if self.failures >= FAILURES_FOR_BANNER:
            return max(self.interval, FAILURE_INTERVAL)
        if self._started is None or at - self._started < BACKOFF_AFTER_S:
            return self.interval
        step = BACKOFF_STEPS[min(self._backoff_step, len(BACKOFF_STEPS) - 1)]
        self._backoff_step += 1
        return max(self.interval, step)

    # the loop -------------------------------------------------------------
    async def run(self) -> RemoteStatus:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._wake = asyncio.Event()
        try:
            return await self._run()
        except asyncio.CancelledError:
            if self._stop_reason is not None:
                if self._task is not None:
                    self._task.uncancel()
                raise PollStopped(self._stop_reason) from None
            raise

    def _check_stop(self) -> None:
        if self._stop_reason is not None:
            raise PollStopped(self._stop_reason)

    async def _run(self) -> RemoteStatus:
        self._started = self._due = self.clock()
        while True:
            self._check_stop()
            await self._sleep_until(self._due)
            self._check_stop()
            status = await self._poll()
            if status is not None and status.terminal:
                return status
            self._check_stop()
            if self._cancel_at is not None and self.clock() - self._cancel_at >= self.cancel_confirm_s:
                raise CancelNotConfirmed(f"the source still says {self.state} {self.cancel_confirm_s:g} s after the cancel")
            made_at = self._due
            self._due = self.gate.align(made_at + self.next_delay(made_at))

    async def _sleep_until(self, due: float) -> None:
        while True:
            if self._poked:
                self._poked = False
                self._due = self.clock()
                return
            left = due - self.clock()
            if left <= 0:
                return
            if self._sleep is not None:
                await self._sleep(left)
            else:
                assert self._wake is not None
                try:
                    await asyncio.wait_for(self._wake.wait(), left)
                except TimeoutError:
                    pass
                self._wake.clear()

    async def _fetch(self) -> Any:
        if _is_async(self.fetch):
            async with self.gate.slot():
                return await self.fetch()
        await self.gate.acquire()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self.fetch)
        handed_off = False
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if not future.done():
                # the request is still out: it keeps its slot until it ends
                def settle(f):
                    if not f.cancelled():
                        f.exception()
                    self.gate.release()

                future.add_done_callback(settle)
                handed_off = True
            raise
        finally:
            if not handed_off:
                self.gate.release()

    async def _poll(self) -> RemoteStatus | None:
        self.polls += 1
        self.poll_times.append(self.clock())
        try:
            result = await self._fetch()
            status = result if isinstance(result, RemoteStatus) else RemoteStatus.from_data(result)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure is a failed poll
            message = str(exc) if isinstance(exc, PollError) else (f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__)
            self.failures += 1
            self.listener.on_poll_error(message, self.failures)
            if self.failures == FAILURES_FOR_BANNER:
                self.banner = True
                self.listener.on_banner(True, message)
            return None
        self.failures = 0
        if self.banner:
            self.banner = False
            self.listener.on_banner(False, None)
        previous, self.state, self.last = self.state, status.state, status
        if previous != status.state:
            self.transitions.append((previous, status.state))
            self.listener.on_transition(previous, status)
        self.listener.on_status(status)
        return status


__all__ = ["DEFAULT_INTERVAL", "MIN_INTERVAL", "FAILURES_FOR_BANNER", "PollStopped", "CancelNotConfirmed", "PollListener", "Poller"]
