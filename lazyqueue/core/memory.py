"""Give memory back to the system after a large part of the queue left it.

Python frees the objects of archived tasks, but the C allocator keeps the
pages (the snapshot's text, the parsed records) for later use, so a worker
would stay at the size of the largest queue it ever held. `malloc_trim`
returns what is free; it exists in glibc only, elsewhere this does nothing.
"""

from __future__ import annotations

import gc

_trim = None


def give_back() -> None:
    """Collect garbage and return free heap pages to the system (cheap enough after a large prune)."""
    global _trim
    gc.collect()
    if _trim is None:
        try:
            import ctypes

            _trim = ctypes.CDLL(None).malloc_trim
        except (OSError, AttributeError):  # not glibc
            _trim = False
    if _trim:
        _trim(0)
