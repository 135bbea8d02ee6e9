"""Acting on a signal without deadlocking the thread it interrupted.

A Python signal handler runs in the main thread between two bytecodes of
whatever that thread was doing, which may be the inside of `Event.wait()` with
the Event's lock held. Setting that Event from the handler then waits for a
lock its own thread holds, forever (a worker given SIGTERM while idle hung so).
A handler therefore hands such work to a thread of its own and returns.
"""

from __future__ import annotations

import threading


def soon(fn, *args, **kwargs) -> None:
    """Run `fn(*args, **kwargs)` in a new daemon thread (from a signal handler: never inline)."""
    threading.Thread(target=fn, args=args, kwargs=kwargs, name="lazyqueue-signal", daemon=True).start()
