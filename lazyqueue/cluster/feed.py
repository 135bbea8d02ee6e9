"""The change feed: what other processes changed, polled from the database.

Every write takes a new `rev`; the feed reads rows with a rev past the last one
it saw (every 0.3 s) and publishes the usual events (task-started,
task-completed, job-updated…), so the TUI and `serve`'s stream follow work
done on other hosts. Status changes are also kept in `lazyqueue.transitions`
(by a trigger, for KEEP_TRANSITIONS_S), so a task that started and ended
between two looks is still told as started, then completed.
"""

from __future__ import annotations

import threading

from ..core import events as ev
from .rows import J, T, to_job, to_task
from .schema import SCHEMA

TR = f"{SCHEMA}.transitions"

POLL_S = 0.3
KEEP_TRANSITIONS_S = 600.0  # a feed that looks less often than this may miss a transition (it still gets the row)
NOTE_S = 2.0


class Feed:
    def __init__(self, queue):
        self.queue = queue
        self._stop = threading.Event()
        self._thread = None
        self.note: str | None = None  # "3 workers on 2 hosts", refreshed every NOTE_S
        self._next_note = 0.0
        with queue.engine.connect() as conn:
            self.rev = conn.exec_driver_sql(
                f"SELECT greatest((SELECT coalesce(max(rev), 0) FROM {T}), (SELECT coalesce(max(rev), 0) FROM {J}))"
            ).scalar()

    def start(self) -> "Feed":
        self._thread = threading.Thread(target=self._run, name="lq-feed", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - the database may be away a moment
                pass

    def poll(self) -> int:
        with self.queue.engine.connect() as conn:
            # every transition since the last look (a task may have started and ended in between),
            # then the rows changed since (progress), each change once, in the order it was made
            changes = dict(conn.exec_driver_sql(
                f"SELECT rev, record FROM {TR} WHERE rev > %s ORDER BY rev", (self.rev,)).all())
            changes.update(conn.exec_driver_sql(
                f"SELECT rev, record FROM {T} WHERE rev > %s ORDER BY rev", (self.rev,)).all())
            jobs = conn.exec_driver_sql(f"SELECT rev, record FROM {J} WHERE rev > %s ORDER BY rev", (self.rev,)).all()
        tasks = sorted(changes.items())
        top = self.rev
        for rev, record in jobs:
            top = max(top, rev)
            self.queue.events.publish(ev.Event(ev.JOB_UPDATED, job=to_job(record)))
        for rev, record in tasks:
            top = max(top, rev)
            task = to_task(record)
            kind_of = ev.STATUS_EVENT[task.status]
            if task.status == "running" and task.progress is not None:
                kind_of = ev.TASK_PROGRESS
            self.queue.events.publish(ev.Event(kind_of, task=task))
        self.rev = top
        self._follow_mirrors()
        import time

        if time.monotonic() >= self._next_note:
            from .status import live_workers, summary

            self.note = summary(live_workers(self.queue))
            self._next_note = time.monotonic() + NOTE_S
        return len(tasks) + len(jobs)

    def _follow_mirrors(self) -> None:
        """Local copies of logs the TUI opened keep growing while their tasks run elsewhere."""
        from .logs import mirror

        mirrors = self.queue.__dict__.get("_mirrors") or {}
        if not mirrors:
            return
        with self.queue.engine.connect() as conn:
            active = {r[0] for r in conn.exec_driver_sql(
                f"SELECT id FROM {T} WHERE id = ANY(%s) AND status IN ('queued', 'running')", (list(mirrors),)).all()}
        for tid in active:
            mirror(self.queue, tid)
