"""The TUI's way out without stopping its commands: "keep them running" and a closed window (SIGHUP).

Either way the worker of this process stops claiming and lets go of its
running commands (they run in their own sessions and write straight into
their logs), a background worker is made sure of (autostart), and the process
exits at once — a handler thread (download, track) dies with it and its task
is re-queued by the next worker without spending an attempt.
"""

from __future__ import annotations

import os
import signal
import threading

_hung_up = threading.Event()
_left = threading.Event()


def leave_running(queue) -> None:
    """Stop this process's worker, leaving its running commands to be adopted."""
    worker = queue.worker
    if worker is not None and queue.distributed:
        queue.stop_worker(grace=0)  # the cluster engine: its tasks resume on another worker
    elif worker is not None:
        worker.stop(leave_running=True)
        queue.worker = None
    _left.set()


def install(queue) -> None:
    """SIGHUP (the terminal went away): leave the commands running, hand over, exit promptly."""

    def on_hangup(signum, frame) -> None:
        if _hung_up.is_set():
            return
        _hung_up.set()
        threading.Thread(target=_hang_up, args=(queue,), name="lazyqueue-hangup", daemon=True).start()

    signal.signal(signal.SIGHUP, on_hangup)


def _hang_up(queue) -> None:
    _detach_output()
    try:
        leave_running(queue)
        from ..core.background import hand_over

        hand_over(queue)
        queue.close()
    finally:
        os._exit(129)  # 128 + SIGHUP, as a shell reports a hangup


def after_run(queue) -> None:
    """The app returned: if it is because of a hangup, the hangup thread ends the process; wait for it."""
    if _hung_up.is_set():
        threading.Event().wait()  # _hang_up calls os._exit


def hand_over(queue, code: int) -> None:
    """After a quit: queued (or kept) work is left to a background worker; a kept quit exits at once."""
    import sys

    from ..core.background import hand_over as ensure
    from ..core.background import started_line

    record = ensure(queue)
    if record is not None:
        sys.stderr.write(started_line(record) + "\n")
    if _left.is_set():
        try:
            sys.stderr.flush()
            queue.close()
        finally:
            os._exit(code)  # handler threads still running must not hold the exit


def _detach_output() -> None:
    """Writes to a terminal that is gone fail (EIO): send them nowhere."""
    try:
        fd = os.open(os.devnull, os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(fd, target)
        os.close(fd)
    except OSError:
        pass
