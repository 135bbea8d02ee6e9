"""Changes other processes make, for the event stream, when the queue's own feed does not carry them.

With no worker in the serve process, the background worker's transitions happen in
another process. `Watcher` looks at the queue's active tasks a few times a second
(through the engine's queries only), and hands each changed record to the event log,
which says each change once however many ways it heard of it.
"""

from __future__ import annotations

import threading

from ..core import events as ev
from ..core.errors import NotFound
from ..core.models import ACTIVE

WATCH_S = 0.05


class Watcher:
    """A thread feeding `events.add` with the records of tasks that changed elsewhere."""

    def __init__(self, queue, events, interval: float = WATCH_S):
        self.queue = queue
        self.events = events
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._active: dict[int, tuple] = {}
        self._max_id = 0

    def start(self) -> "Watcher":
        self._max_id = max((t.id for t in self.queue.tasks()), default=0)
        self._active = {t.id: _look(t) for t in self.queue.tasks(status=ACTIVE)}
        self._thread = threading.Thread(target=self._run, name="lazyqueue-serve-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # a failed look is tried again next tick; the stream goes on
                import logging

                logging.getLogger("lazyqueue.serve").exception("watching the queue failed")

    def tick(self) -> None:
        """One look: active tasks that changed, tasks that left the active set, ids new since."""
        now = {t.id: t for t in self.queue.tasks(status=ACTIVE)}
        changed = [t for tid, t in now.items() if self._active.get(tid) != _look(t)]
        gone = [tid for tid in self._active if tid not in now]
        top = max(now, default=0)
        # a task made and finished between two looks is only seen by its id
        missed = [tid for tid in range(self._max_id + 1, top) if tid not in now]
        finished = []
        for tid in sorted(gone + missed):
            try:
                finished.append(self.queue.get(tid))
            except NotFound:
                pass
        self._active = {tid: _look(t) for tid, t in now.items()}
        self._max_id = max(self._max_id, top, max((t.id for t in finished), default=0))
        for task in sorted(changed + finished, key=lambda t: (t.updated_at or "", t.id)):
            self.events.add(ev.Event(ev.STORE_RELOADED, data={"tasks": [task]}))


def _look(task) -> tuple:
    return (task.updated_at, task.status, task.attempt, task.progress, task.progress_label, task.cancel_requested)
