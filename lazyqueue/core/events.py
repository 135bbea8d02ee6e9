"""A typed, thread-safe, in-process event bus.

Subscribers are called synchronously in the publishing thread: they must be
quick (the TUI's subscriber only posts a message to its own queue).
"""

from __future__ import annotations

import threading

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




class EventBus:
    def __init__(self) -> None:
        self._subscribers: list = []  # [(callback, types or None)]
        self._lock = threading.Lock()

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
        for callback, types in self._subscribers:  # copy-on-write list: no lock needed
            if types is None or event.type in types:
                try:
                    callback(event)
                except Exception:  # a broken subscriber must not stop the worker
                    import logging

                    logging.getLogger("lazyqueue").exception("event subscriber failed")
