"""A typed, thread-safe, in-process event bus.

Subscribers are called synchronously in the publishing thread: they must be
quick (the TUI's subscriber only posts a message to its own queue).

Events of a write go out only once the write is durable, in the order the
writes were made: `with bus.after_write(lock) as out:` takes the task-file
lock, and what is put in `out` is held (in lock order) until the lock's
release has made the write durable; a write that fails publishes nothing.
"""

from __future__ import annotations

import threading

from collections import deque

from .record import Factory, Record

TYPE_CHECKING = False  # typing is not imported at run time: `lazyqueue add` starts faster
if TYPE_CHECKING:
    from typing import Any, Callable

TASK_QUEUED = "task-queued"
TASK_STARTED = "task-started"
TASK_PROGRESS = "task-progress"
TASK_COMPLETED = "task-completed"
TASK_FAILED = "task-failed"
TASK_CANCELLED = "task-cancelled"
TASK_EXPIRED = "task-expired"
TASK_UPDATED = "task-updated"  # priority, cancel requested, retry scheduled, deleted
JOB_UPDATED = "job-updated"
WORKER_STATE = "worker-state"  # paused / resumed / stopping
STORE_RELOADED = "store-reloaded"  # another process changed the file

EVENT_TYPES = (
    TASK_QUEUED, TASK_STARTED, TASK_PROGRESS, TASK_COMPLETED, TASK_FAILED,
    TASK_CANCELLED, TASK_EXPIRED, TASK_UPDATED, JOB_UPDATED, WORKER_STATE, STORE_RELOADED,
)

STATUS_EVENT = {
    "queued": TASK_QUEUED,
    "running": TASK_STARTED,
    "completed": TASK_COMPLETED,
    "failed": TASK_FAILED,
    "cancelled": TASK_CANCELLED,
    "expired": TASK_EXPIRED,
}


class Event(Record):
    """One thing that happened. `task`/`job` are copies, safe to keep."""

    type: str
    task: Any = None  # models.Task copy
    job: Any = None  # models.Job copy
    data: dict = Factory(dict)  # e.g. {"cancel_too_late": True}


class _Held:
    """The events of one write, waiting for it (and every earlier write) to be durable."""

    __slots__ = ("events", "ready")

    def __init__(self, events: list, ready: bool) -> None:
        self.events = events
        self.ready = ready


class _AfterWrite:
    """`with bus.after_write(lock) as out:` — see the module docstring."""

    __slots__ = ("bus", "lock", "out")

    def __init__(self, bus: "EventBus", lock) -> None:
        self.bus, self.lock, self.out = bus, lock, []

    def __enter__(self) -> list:
        self.lock.acquire()
        return self.out

    def __exit__(self, exc_type, exc, tb) -> bool:
        # held while the lock is still ours: the order of the writes is the order of the events
        held = self.bus.hold(self.out) if exc_type is None and self.out else None
        try:
            self.lock.release()  # the journal's fsync runs here
        except BaseException:
            if held is not None:
                self.bus.drop(held)
            raise
        if held is not None:
            self.bus.send(held)
        return False


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list = []  # [(callback, types or None)]
        self._lock = threading.Lock()
        self._held: deque[_Held] = deque()  # writes not yet published, in write order
        self._held_lock = threading.Lock()
        self._sending = False  # one thread publishes held events at a time (keeps their order)

    def subscribe(self, callback: "Callable[[Event], None]", types: tuple[str, ...] | None = None) -> Callable[[], None]:
        """Call `callback(event)` for every event (or only `types`); returns unsubscribe."""
        entry = (callback, frozenset(types) if types else None)
        with self._lock:
            self._subscribers = self._subscribers + [entry]

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = [s for s in self._subscribers if s is not entry]

        return unsubscribe

    def wants(self, event_type: str) -> bool:
        """Whether any subscriber listens for this type (spares building unheard events)."""
        return any(types is None or event_type in types for _, types in self._subscribers)

    def publish(self, event: Event) -> None:
        """Call the subscribers now, or after the events of writes still waiting to be durable."""
        with self._held_lock:
            behind = bool(self._held) or self._sending
            if behind:  # e.g. a handler's progress must not overtake the start of its task
                self._held.append(_Held([event], True))
        if behind:
            self.flush()
        else:
            self._deliver(event)

    def _deliver(self, event: Event) -> None:
        for callback, types in self._subscribers:  # copy-on-write list: no lock needed
            if types is None or event.type in types:
                try:
                    callback(event)
                except Exception:  # a broken subscriber must not stop the worker
                    import logging

                    logging.getLogger("lazyqueue").exception("event subscriber failed")

    # ---------------------------------------------------------------- after a durable write
    def after_write(self, lock) -> _AfterWrite:
        """Hold `lock` for a write; the events put in the list it gives are published once it is durable."""
        return _AfterWrite(self, lock)

    def hold(self, events: list, durable: bool = False) -> _Held:
        """Keep the events of a write (call with the task-file lock held, so writes keep their order).

        `durable`: the change is already on disk (read from another process's
        write): it goes out with the next `send`/`flush`.
        """
        held = _Held(list(events), durable)
        with self._held_lock:
            self._held.append(held)
        return held

    def send(self, held: _Held) -> None:
        """The write is durable: publish its events, after those of every earlier write."""
        with self._held_lock:
            held.ready = True
        self.flush()

    def drop(self, held: _Held) -> None:
        """The write failed: its events are never published."""
        with self._held_lock:
            held.events = []
            held.ready = True
        self.flush()

    def flush(self) -> None:
        """Publish every held write that is durable and has no earlier write still pending."""
        with self._held_lock:
            if self._sending:
                return  # the thread sending now publishes these too, in order
            self._sending = True
        try:
            while True:
                batch: list = []
                with self._held_lock:
                    while self._held and self._held[0].ready:
                        batch += self._held.popleft().events
                    if not batch:
                        self._sending = False
                        return
                for event in batch:
                    self._deliver(event)
        except BaseException:
            with self._held_lock:
                self._sending = False
            raise
