"""The threads sync handlers run on: a capped set, started as work needs them.

A lean stand-in for `concurrent.futures.ThreadPoolExecutor`: the worker never
reads a handler's Future (each handler reports its own outcome), and building
one per task — a Future, its Condition, a work item — was a measurable share
of the CPU a no-op task costs (BENCHMARKS.md, in-process scenario).
"""

from __future__ import annotations

import queue
import threading
import weakref

_live: "weakref.WeakSet[HandlerThreads]" = weakref.WeakSet()


class HandlerThreads:
    """Run `fn(*args)` calls on at most `max_threads` threads (non-daemon, like the executor's)."""

    def __init__(self, max_threads: int, name: str):
        self._max = max(1, max_threads)
        self._name = name
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False
        self._held: list = []  # calls kept back by `hold()` until `let_go()`
        _live.add(self)

    def submit(self, fn, *args) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot run a handler after shutdown")
            self._calls.put((fn, args))
            if self._idle > 0:
                self._idle -= 1  # one idle thread will take it
                return
            if len(self._threads) < self._max:
                thread = threading.Thread(target=self._serve, name=f"{self._name}_{len(self._threads)}", daemon=False)
                self._threads.append(thread)
                thread.start()

    def hold(self, fn, *args) -> None:
        """Keep a call back until `let_go()`: a thread woken now would only wait for the GIL.

        A woken thread that cannot take the GIL wakes again at each system call of
        the thread that holds it (a stat, a lock, a write): the calls of a burst of
        enqueues are let go as the enqueuing thread next blocks in its fsync, or by
        the worker's loop at the burst's end.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot run a handler after shutdown")
            self._held.append((fn, args))

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def let_go(self) -> None:
        """Hand every held call to a thread."""
        if not self._held:
            return
        with self._lock:
            held, self._held = self._held, []
        for fn, args in held:
            self.submit(fn, *args)

    def _serve(self) -> None:
        calls = self._calls
        while True:
            item = calls.get()
            if item is None:
                return
            fn, args = item
            try:
                fn(*args)
            except BaseException:  # noqa: BLE001 - a handler's own wrapper records its failures
                pass
            del item, fn, args
            with self._lock:
                self._idle += 1

    def shutdown(self, wait: bool = True, cancel_pending: bool = False) -> None:
        """No new calls; `cancel_pending` drops calls no thread has begun; `wait` joins the threads."""
        if not cancel_pending:
            self.let_go()
        with self._lock:
            self._closed = True
            self._held = []
            if cancel_pending:
                while True:
                    try:
                        self._calls.get_nowait()
                    except queue.Empty:
                        break
            threads = list(self._threads)
            for _ in threads:
                self._calls.put(None)
        if wait:
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()


def _at_exit() -> None:
    """At interpreter exit, let idle threads go (running handlers finish first, as with the executor)."""
    for pool in list(_live):
        pool.shutdown(wait=True)


threading._register_atexit(_at_exit)  # the hook ThreadPoolExecutor uses: runs before non-daemon threads are joined
