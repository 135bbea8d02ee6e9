"""Other processes' changes as events: the local engine's change feed.

A TUI without a worker of its own, `serve`, or a library subscriber hear of
what another process's worker does (a task started, progress, completed)
the same way they hear of this process's changes. The task file tells the
feed of each journal line it reads from another process (`TaskFile.listen`),
whoever made it read (the worker's pass, a query, the feed itself); the
feed turns each into the usual events and publishes them from its own
thread. With no other reader in the process, its thread looks for writes
twenty times a second (two `stat` calls when nothing changed). A journal
another process folded into the snapshot before it was read shows only how
each task is now: one event per task that changed.
"""

from __future__ import annotations

import threading

from . import events as ev
from .lifecycle import copy_job

POLL_S = 0.05  # how often the feed looks for another process's writes
QUIET_FIELDS = frozenset({"owner"})  # a lease renewed or a child pid noted: nothing to tell
PROGRESS_FIELDS = frozenset({"progress", "progress_label", "meta", "updated_at"})


def kind_of_change(before, after) -> str | None:
    """The event a task's change from `before` (None: new) to `after` stands for; None: nothing to tell."""
    if before is None or before.status != after.status or before.attempt != after.attempt:
        return ev.STATUS_EVENT[after.status]
    old, new = before.to_dict(), after.to_dict()
    moved = {name for name in new if old.get(name) != new[name]} - QUIET_FIELDS
    if not moved:
        return None
    if moved <= PROGRESS_FIELDS and ("progress" in moved or "progress_label" in moved):
        return ev.TASK_PROGRESS
    return ev.TASK_UPDATED


def events_for(state, prior_tasks: dict, prior_jobs: dict) -> list[ev.Event]:
    """The events of one change read from the file: jobs made or changed, tasks, then jobs removed.

    Each says `remote` in its data, as the cluster engine's feed does: a worker
    printing what it does leaves these out.
    """
    out: list[ev.Event] = []
    gone_jobs: list[ev.Event] = []
    for jid in sorted(prior_jobs):
        job = state.jobs.get(jid)
        if job is not None:
            out.append(ev.Event(ev.JOB_UPDATED, job=copy_job(job), data={"remote": True}))
        elif prior_jobs[jid] is not None:
            gone_jobs.append(ev.Event(ev.JOB_UPDATED, job=copy_job(prior_jobs[jid]), data={"deleted": True, "remote": True}))
    for tid in sorted(prior_tasks):
        before, task = prior_tasks[tid], state.tasks.get(tid)
        if task is None:
            if before is not None:
                out.append(ev.Event(ev.TASK_UPDATED, task=before.copy(), data={"deleted": True, "remote": True}))
            continue
        kind = kind_of_change(before, task)
        if kind is not None:
            out.append(ev.Event(kind, task=task.copy(), data={"remote": True}))
    return out + gone_jobs


class JournalFeed:
    """Publishes on `bus` what other processes write to `taskfile`, from a thread of its own."""

    def __init__(self, taskfile, bus: ev.EventBus, interval: float = POLL_S):
        self.taskfile = taskfile
        self.bus = bus
        self.interval = interval
        self._poke = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unlisten = None

    def start(self) -> "JournalFeed":
        """Listen (the task file must be fully read) and start looking."""
        self._unlisten = self.taskfile.listen(self._heard)
        self._thread = threading.Thread(target=self._run, name="lazyqueue-feed", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop looking; what was heard already is still published."""
        self._stop.set()
        self._poke.set()
        if self._unlisten is not None:
            self._unlisten()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self.bus.flush()

    def _heard(self, prior_tasks: dict, prior_jobs: dict) -> None:
        # under the task-file lock: held now, so they keep their place among this process's writes
        events = events_for(self.taskfile.state, prior_tasks, prior_jobs)
        if events:
            self.bus.hold(events, durable=True)
            self._poke.set()

    def _run(self) -> None:
        failed = None  # what the last look failed with: told once, not twenty times a second
        while not self._stop.is_set():
            self._poke.wait(self.interval)
            self._poke.clear()
            if self._stop.is_set():
                break
            try:
                if self.taskfile.changed_on_disk():
                    with self.taskfile.lock:
                        self.taskfile.sync()
                failed = None
            except Exception as exc:  # a failed read is tried again at the next look; the feed goes on
                disk = isinstance(exc, OSError)  # the file or its directory went away, a disk error
                if repr(exc) != failed and not (disk and not self.taskfile.home.is_dir()):  # removed: the worker says so
                    failed = repr(exc)
                    import logging

                    logging.getLogger("lazyqueue").log(logging.WARNING if disk else logging.ERROR,
                                                       "reading other processes' changes failed: %s", exc,
                                                       exc_info=not disk)
            self.bus.flush()
