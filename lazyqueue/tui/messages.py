"""Messages that carry queue events from the worker's thread to the UI.

The worker calls the bridge in its own thread; the bridge only buffers the
event and posts one message (thread-safe) per batch. Progress for a task
overwrites its older unread progress, and a pending `QueueChanged` replaces
the next one (`can_replace`), so a burst is applied in one batch on the UI
thread.
"""

from __future__ import annotations

import threading
import time

from textual.message import Message

from ..core import events as ev


class QueueChanged(Message):
    """There are events to apply (read them with `EventBridge.drain`)."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, QueueChanged)


class EventBridge:
    """Subscriber for `Queue.subscribe`: buffers events, posts one message per batch."""

    def __init__(self, target) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._events: list[tuple[float, ev.Event]] = []
        self._progress: dict[int, tuple[float, ev.Event]] = {}
        self._posted = False

    def __call__(self, event: ev.Event) -> None:
        stamp = time.perf_counter()
        with self._lock:
            if event.type == ev.TASK_PROGRESS and event.task is not None:
                first = self._progress.get(event.task.id)
                # keep the first arrival time: latency is measured from the oldest unread report
                self._progress[event.task.id] = (first[0] if first else stamp, event)
            else:
                self._events.append((stamp, event))
            if self._posted:
                return
            self._posted = True
        self.target.post_message(QueueChanged())

    def drain(self) -> tuple[list[ev.Event], list[float]]:
        """Events in order (progress last, one per task) and their arrival times."""
        with self._lock:
            events, self._events = self._events, []
            progress, self._progress = self._progress, {}
            self._posted = False
        items = events + list(progress.values())
        return [e for _, e in items], [s for s, _ in items]


class WorkersSeen(Message):
    """What `queue.workers()` answered (read off the UI thread)."""

    def __init__(self, workers: list) -> None:
        super().__init__()
        self.workers = workers

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, WorkersSeen)
