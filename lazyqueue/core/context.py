"""What a handler gets: its task, a way to report, and the cancellation flag."""

from __future__ import annotations

import os
import threading
from pathlib import Path
TYPE_CHECKING = False  # typing is not imported at run time: `lazyqueue add` starts faster

from .errors import Cancelled

if TYPE_CHECKING:
    from typing import Any, Callable
    from .models import Job, Task


class TaskContext:
    """Passed to every handler call.

    - `payload`, `task`, `job`, `attempt`: what to do (copies; safe to read).
    - `progress(n, label)`: 0–100 or None for "unknown"; cheap to call often.
    - `log(line)`: append a line to the task's log file.
    - `cancelled` / `check_cancelled()` / `on_cancel(cb)`: cooperative stop.
      `cancel_reason` says why: "cancel", "timeout" or "shutdown".
    - `set_stage(text)`: the job's user-facing stage ("Fetched", "Evaluated").
    """

    def __init__(self, task: "Task", job: "Job | None", log_path: "Path | str", reporter: Any):
        self.task = task
        self.job = job
        self.payload: dict = task.payload
        self.attempt: int = task.attempt
        self._log_path = log_path  # a str from the worker: made a Path when asked (most handlers never do)
        self._reporter = reporter
        self._cancelled = False
        self._cancel: threading.Event | None = None  # made when a handler first waits (most never do)
        self.cancel_reason: str | None = None
        self._callbacks: list[Callable[[], None]] = []
        self._cb_lock = threading.Lock()
        self._log_fh = None
        self.owner_extra: dict = {}
        self._abandon = False

    @property
    def log_path(self) -> Path:
        path = self._log_path
        if type(path) is not str:
            return path
        path = self._log_path = Path(path)
        return path

    # reporting ------------------------------------------------------------
    def progress(self, value: float | None, label: str | None = None) -> None:
        if value is not None:
            value = float(value)
            value = max(0.0, min(100.0, value)) if value == value and abs(value) != float("inf") else None
        if label is not None and not isinstance(label, str):
            label = str(label)  # the record's progress_label is text
        self._reporter.report_progress(self.task.id, value, label)

    def log(self, line: str) -> None:
        if self._log_fh is None:
            from .paths import NOFOLLOW, ensure_private_dir

            ensure_private_dir(self.log_path.parent)
            # output may hold secrets: private, and never through a planted symlink
            fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | NOFOLLOW, 0o600)
            self._log_fh = open(fd, "a", encoding="utf-8", errors="replace")
        self._log_fh.write(line.rstrip("\n") + "\n")
        self._log_fh.flush()

    def output(self, line: str) -> None:
        """A line a command wrote straight into this task's log file (the shell kind reads them back).

        Already in the file: nothing to do here. An engine that keeps logs
        elsewhere too (the cluster's database) overrides this.
        """

    def update_meta(self, **values) -> None:
        """Merge values into the task's `meta` (queue position, request id, banners…).

        Persisted and published like progress (coalesced). Values must be JSON
        (TypeError here otherwise, not a failed write later).
        """
        import json

        json.dumps(values, allow_nan=False)
        self._reporter.report_meta(self.task.id, values)

    def set_stage(self, stage: str) -> None:
        self._reporter.set_stage(self.task.id, stage)

    def note_child(self, pid: int, **extra) -> None:
        """Record a child process group so a recovering worker can stop or adopt it.

        `extra` (JSON values) is kept with it: the shell kind records where the
        attempt's output begins in the log (`log_offset`).
        """
        if extra:
            self._reporter.note_child(self.task.id, pid, **extra)
        else:
            self._reporter.note_child(self.task.id, pid)

    # cancellation --------------------------------------------------------
    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def check_cancelled(self) -> None:
        if self._cancelled:
            raise Cancelled(self.cancel_reason or "cancel")

    def wait_cancelled(self, timeout: float | None = None) -> bool:
        """Sleep up to `timeout` seconds, waking early on cancel; True if cancelled."""
        event = self._cancel
        if event is None:
            with self._cb_lock:
                event = self._cancel
                if event is None:
                    event = self._cancel = threading.Event()
                    if self._cancelled:
                        event.set()
        return event.wait(timeout)

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Run `callback()` (from the worker's thread) when cancel is asked."""
        with self._cb_lock:
            if not self._cancelled:
                self._callbacks.append(callback)
                return
        callback()

    @property
    def abandoned(self) -> bool:
        """The worker is going away and leaves this task's command running for the next one to adopt."""
        return self._abandon

    def abandon(self) -> None:
        """Stop supervising without stopping the command (a command handler returns at once)."""
        self._abandon = True

    def request_cancel(self, reason: str) -> None:
        with self._cb_lock:
            if self._cancelled:
                return
            self.cancel_reason = reason
            self._cancelled = True
            if self._cancel is not None:
                self._cancel.set()
            callbacks, self._callbacks = self._callbacks, []
        for cb in callbacks:
            try:
                cb()
            except Exception:
                pass

    def close(self) -> None:
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None
