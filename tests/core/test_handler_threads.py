"""The handler threads: calls run, the cap holds, shutdown drops what had not begun; the context's cancel flag."""

import threading
import time

from lazyqueue.core.context import TaskContext
from lazyqueue.core.handler_threads import HandlerThreads
from lazyqueue.core.models import Task


def test_calls_run_and_threads_are_reused():
    pool = HandlerThreads(4, "t")
    done = []
    finished = threading.Event()
    lock = threading.Lock()

    def call(i):
        with lock:
            done.append(i)
            if len(done) == 200:
                finished.set()

    for i in range(200):
        pool.submit(call, i)
    assert finished.wait(10)
    pool.shutdown(wait=True)
    assert sorted(done) == list(range(200))
    assert len(pool._threads) <= 4


def test_the_cap_holds_and_pending_calls_wait_for_a_thread():
    pool = HandlerThreads(2, "t")
    release = threading.Event()
    started = []
    both = threading.Event()
    third = threading.Event()

    def block(i):
        started.append(i)
        if len(started) == 2:
            both.set()
        if i == 2:
            third.set()
            return
        release.wait(10)

    for i in range(3):
        pool.submit(block, i)
    assert both.wait(10)
    assert not third.wait(0.2)  # both threads are busy: the third call waits its turn
    assert len(pool._threads) == 2
    release.set()
    assert third.wait(10)
    pool.shutdown(wait=True)


def test_shutdown_cancel_pending_drops_calls_not_begun():
    pool = HandlerThreads(1, "t")
    release = threading.Event()
    began = threading.Event()
    ran = []
    pool.submit(lambda: (began.set(), release.wait(10)))
    assert began.wait(10)
    pool.submit(ran.append, "late")
    pool.shutdown(wait=False, cancel_pending=True)
    release.set()
    pool._threads[0].join(10)
    assert not pool._threads[0].is_alive()
    assert ran == []


def test_a_failing_call_does_not_stop_its_thread():
    pool = HandlerThreads(1, "t")
    ok = threading.Event()
    pool.submit(lambda: 1 / 0)
    pool.submit(ok.set)
    assert ok.wait(10)
    pool.shutdown(wait=True)


def _ctx():
    return TaskContext(Task(id=1, kind="noop", payload={}), None, "/nonexistent/log", reporter=None)


def test_wait_after_cancel_returns_at_once():
    ctx = _ctx()
    ctx.request_cancel("cancel")
    assert ctx.cancelled and ctx.cancel_reason == "cancel"
    assert ctx.wait_cancelled(10) is True


def test_cancel_wakes_a_waiting_handler():
    ctx = _ctx()
    got = []
    waiter = threading.Thread(target=lambda: got.append(ctx.wait_cancelled(10)))
    waiter.start()
    deadline = time.monotonic() + 10
    while ctx._cancel is None and time.monotonic() < deadline:  # the waiter has made its event
        waiter.join(0.001)
    assert ctx._cancel is not None
    ctx.request_cancel("timeout")
    waiter.join(10)
    assert got == [True]
    assert ctx.wait_cancelled(0) is True
    assert _ctx().wait_cancelled(0.01) is False


def test_a_held_call_waits_for_let_go_and_then_runs():
    pool = HandlerThreads(2, "t")
    ran = threading.Event()
    pool.hold(ran.set)
    assert pool.holding and pool._threads == [] and pool._calls.empty()  # no thread was woken for it
    pool.let_go()
    assert not pool.holding
    assert ran.wait(10)
    pool.shutdown(wait=True)


def test_shutdown_runs_held_calls_unless_pending_ones_are_dropped():
    kept = HandlerThreads(1, "t")
    ran = []
    kept.hold(ran.append, "held")
    kept.shutdown(wait=True)
    assert ran == ["held"]
    dropped = HandlerThreads(1, "t")
    dropped.hold(ran.append, "dropped")
    dropped.shutdown(wait=True, cancel_pending=True)
    assert ran == ["held"] and not dropped.holding
