"""The change feed behind `GET /events`: every task transition and progress report, numbered.

The queue's subscribers are called in whatever thread publishes (a worker thread, the
thread that saw another process's write); `EventLog.add` only numbers the event, keeps
its JSON in a bounded window and wakes the readers on the server's loop. A reader that
comes back with `Last-Event-ID` gets everything after it that is still in the window.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque

from ..core import events as ev
from ..core.encoded import TEXT_ERRORS
from ..core.models import iso

TASK_EVENTS = (
    ev.TASK_QUEUED, ev.TASK_STARTED, ev.TASK_PROGRESS, ev.TASK_COMPLETED, ev.TASK_FAILED,
    ev.TASK_CANCELLED, ev.TASK_EXPIRED, ev.TASK_UPDATED,
)
WINDOW = 10_000  # events kept for Last-Event-ID resumes
PROGRESS_GAP_S = 0.1  # at most ~10 progress events a second per task
GAP_EVENT = "stream-gap"  # told to a reader whose Last-Event-ID fell out of the window


def _json_text(data) -> str:
    """An event's JSON; text that is not Unicode (a lone surrogate) as its escape, so the stream can send it."""
    text = json.dumps(data, ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", TEXT_ERRORS).decode("utf-8")
    return text


def _look(task) -> tuple:
    return (task.updated_at, task.status, task.attempt, task.progress, task.progress_label, task.cancel_requested)


class EventLog:
    """Numbered task events, the newest `window` of them kept; readers wait on `wait_after`."""

    def __init__(self, window: int = WINDOW, progress_gap: float = PROGRESS_GAP_S):
        self.window = window
        self.progress_gap = progress_gap
        self._items: deque[tuple[int, str, str]] = deque(maxlen=window)  # (id, type, data json)
        self._lock = threading.Lock()
        self._last_id = 0
        self._progress_at: dict[int, float] = {}  # task id -> when its last progress went out
        self._held: dict[int, ev.Event] = {}  # progress held back by the rate limit
        self._seen: dict[int, tuple] = {}  # task id -> what the stream last said of it (see _look)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None
        self._wake_pending = False

    # ---------------------------------------------------------------- writing (any thread)
    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Readers live on `loop`; wake-ups are posted to it."""
        self._loop = loop
        self._changed = asyncio.Event()

    def add(self, event: ev.Event) -> None:
        """Take one event from the queue (the subscriber callback)."""
        if event.type == ev.STORE_RELOADED:  # another process's changes, as the records it left
            for task in event.data.get("tasks") or ():
                self.add(ev.Event(self._kind_of_change(task), task=task))
            return
        if event.task is None or event.type not in TASK_EVENTS:
            return
        tid = event.task.id
        now = time.monotonic()
        with self._lock:
            seen = _look(event.task)
            if self._seen.get(tid) == seen and not event.data:  # (a deletion says so in its data)
                return  # the same change heard twice (from this process and from the file)
            self._seen[tid] = seen
            if event.type == ev.TASK_PROGRESS:
                if now - self._progress_at.get(tid, -1e9) < self.progress_gap:
                    self._held[tid] = event  # the newest one goes out when the gap is over
                    return
                self._progress_at[tid] = now
            else:
                self._held.pop(tid, None)  # a transition carries the latest record anyway
                if event.type not in (ev.TASK_STARTED, ev.TASK_UPDATED):
                    self._progress_at.pop(tid, None)
            self._append(event)
        self._wake()

    def _kind_of_change(self, task) -> str:
        """The event a changed record stands for, against what the stream last said of it."""
        with self._lock:
            last = self._seen.get(task.id)
        if last is None or last[1] != task.status or last[2] != task.attempt:
            return ev.STATUS_EVENT.get(task.status, ev.TASK_UPDATED)
        if last[3] != task.progress or last[4] != task.progress_label:
            return ev.TASK_PROGRESS
        return ev.TASK_UPDATED

    def flush_held(self) -> None:
        """Send progress held back by the rate limit once its gap is over (called ~10/s)."""
        now = time.monotonic()
        sent = False
        with self._lock:
            for tid, event in list(self._held.items()):
                if now - self._progress_at.get(tid, -1e9) >= self.progress_gap:
                    del self._held[tid]
                    self._progress_at[tid] = now
                    self._append(event)
                    sent = True
        if sent:
            self._wake()

    def _append(self, event: ev.Event) -> None:
        self._last_id += 1
        data = {
            "id": self._last_id, "type": event.type, "at": iso(),
            "task": event.task.to_dict(),
        }
        if event.job is not None:
            data["job"] = event.job.to_dict()
        if event.data:
            data["data"] = event.data
        self._items.append((self._last_id, event.type, _json_text(data)))

    def _wake(self) -> None:
        loop = self._loop
        if loop is None or self._wake_pending:
            return
        self._wake_pending = True
        try:
            loop.call_soon_threadsafe(self._set_changed)
        except RuntimeError:  # the loop has closed: nobody is reading
            self._wake_pending = False

    def _set_changed(self) -> None:
        self._wake_pending = False
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    # ---------------------------------------------------------------- reading (the loop)
    @property
    def last_id(self) -> int:
        return self._last_id

    def after(self, last_seen: int) -> tuple[list[tuple[int, str, str]], bool]:
        """Events after `last_seen`, and whether some between were lost (fell out of the window)."""
        with self._lock:
            items = list(self._items)
        if last_seen > self._last_id:  # an id from an earlier serve: its events are gone
            return items, True
        if not items:
            return [], False
        first = items[0][0]
        lost = last_seen < first - 1
        if last_seen >= first:
            items = items[last_seen - first + 1:]
        return items, lost

    async def wait_after(self, last_seen: int, timeout: float) -> None:
        """Return once an event after `last_seen` is in, or after `timeout`."""
        assert self._changed is not None, "attach() first"
        if self._last_id > last_seen:
            return
        changed = self._changed
        try:
            await asyncio.wait_for(changed.wait(), timeout)
        except asyncio.TimeoutError:
            pass
