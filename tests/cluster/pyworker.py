"""`python -m tests.cluster.pyworker worker`: a cluster worker with Python kinds whose failures do not pickle.

DBOS pickles what leaves a workflow step; these handlers raise exceptions of a
class defined in a function, carrying a lock, or whose text cannot be made —
none of which survives pickle. The test process registers the same kinds to
enqueue them.
"""

from __future__ import annotations

import os
import sys
import threading


def register(q) -> None:
    class LocalError(Exception):  # not importable by name: pickle refuses it
        pass

    class NoText(Exception):
        def __str__(self):
            raise RuntimeError("no text")

    @q.kind("local_class")
    def local_class(ctx):
        raise LocalError("made in a function")

    @q.kind("lock_arg")
    def lock_arg(ctx):
        raise ValueError("holds a lock", threading.Lock())

    @q.kind("no_text")
    def no_text(ctx):
        raise NoText()

    @q.kind("async_local")
    async def async_local(ctx):
        raise LocalError("from a coroutine", threading.Lock())


KINDS = ("local_class", "lock_arg", "no_text", "async_local")


def main() -> int:
    from lazyqueue.cluster import ClusterQueue
    from lazyqueue.cluster.commands import run_worker

    q = ClusterQueue(os.environ["LAZYQUEUE_BACKEND"], config=os.environ.get("LAZYQUEUE_CONFIG"), plugins=False)
    register(q)
    try:
        return run_worker(q, quiet=True)
    finally:
        q.close()


if __name__ == "__main__":
    assert sys.argv[1:2] == ["worker"], sys.argv
    sys.exit(main())
