"""Fixtures for the TUI tests: a queue on the test's own home with controllable kinds."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from lazyqueue import FatalError, Queue
from lazyqueue.core.config import Config
from lazyqueue.core.registry import Field

GATES: dict[str, threading.Event] = {}
FAILED_ONCE: set[int] = set()


def gate(name: str) -> threading.Event:
    return GATES.setdefault(name, threading.Event())


def register_test_kinds(q: Queue) -> None:
    @q.kind("hold", concurrency=2, fields=[Field("gate"), Field("stubborn", required=False)], label="hold {gate}")
    def hold(ctx):
        """Runs until its gate opens; honours cancel unless stubborn."""
        ctx.progress(float(ctx.payload.get("progress", 50)), "holding")
        ctx.log("holding on " + ctx.payload["gate"])
        g = gate(ctx.payload["gate"])
        while not g.wait(0.02):
            if ctx.cancelled and not ctx.payload.get("stubborn"):
                ctx.check_cancelled()
        return {"released": ctx.payload["gate"]}

    @q.kind("quick", fields=[Field("n", required=False)])
    def quick(ctx):
        return {"ok": True}

    @q.kind("fail_once", fields=[Field("n", required=False)], label="fail_once {n}")
    def fail_once(ctx):
        if ctx.task.id not in FAILED_ONCE:
            FAILED_ONCE.add(ctx.task.id)
            raise FatalError("boom: the remote said no\nsecond line of detail")
        return {"ok": True}


def open_queue(home, concurrency: int = 4) -> Queue:
    q = Queue(home, config=Config(concurrency=concurrency, grace_s=2.0), plugins=False)
    register_test_kinds(q)
    return q


@pytest.fixture
def queue(home):
    GATES.clear()
    FAILED_ONCE.clear()
    q = open_queue(home)
    yield q
    for g in GATES.values():
        g.set()
    q.close()


def on_disk(home, tid: int):
    """The task as the task file holds it, read by a separate Queue."""
    other = Queue(home, config=Config(), plugins=False)
    try:
        return other.get(tid)
    finally:
        other.taskfile.close()


def disk_jobs(home) -> list[int]:
    other = Queue(home, config=Config(), plugins=False)
    try:
        return [j.id for j in other.jobs()]
    finally:
        other.taskfile.close()


async def until(pilot, predicate, timeout: float = 8.0, what: str = "condition"):
    """Let the app run until `predicate()` holds (a poll with a deadline)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def toasts(app) -> list[str]:
    """The toasts on screen now, as they read."""
    from textual.widgets._toast import Toast

    return [str(t.render()).strip() for t in app.screen.query(Toast)]


class Heard:
    """A `run_test(message_hook=...)` that keeps every toast the app raised (shown or held back)."""

    def __init__(self) -> None:
        self.toasts: list[str] = []

    def __call__(self, message) -> None:
        from textual.notifications import Notify

        if isinstance(message, Notify):
            self.toasts.append(message.notification.message)


def drawn_lines(widget) -> list[str]:
    """The widget's lines as painted on screen."""
    return ["".join(seg.text for seg in widget.render_line(y)) for y in range(widget.size.height)]


def cell(table, key: str, column: str) -> str:
    """One cell of a row as the table draws it."""
    return table.drawn_cell(key, column).strip()


def row_text(table, key: str) -> str:
    """A row as the table draws it, cells joined by " | "."""
    return " | ".join(table.drawn_cell(key, c[0]).strip() for c in table.columns())


_ = asyncio

