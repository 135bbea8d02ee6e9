"""Snapshot tests of the TUI: fixed size, fixed clock, no blinking, no animation.

Regenerate after a deliberate change (or a Textual bump) with
`pytest tests/test_tui_snapshots.py --snapshot-update`, then look at the SVGs.
"""

from __future__ import annotations

import time

import pytest
from textual.widgets import Input

from lazyqueue.tui.app import LazyQueueApp
from lazyqueue.tui.screens.quit import QuitScreen
from tests.tui.fixed import busy_queue, clock, empty_queue

WIDE = (120, 36)
NARROW = (80, 24)
LARGE = (200, 50)


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


def make_app(q) -> LazyQueueApp:
    app = LazyQueueApp(q, clock=clock, start_worker=False, tick_s=3600)
    app.animation_level = "none"
    return app


async def settle(pilot) -> None:
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the app's own work (reading the history, a log tail) is done
        await pilot.pause()
        if not any(w.group in ("load", "detail-tail") and not w.is_finished for w in pilot.app.workers):
            break
    await pilot.pause()
    await pilot.pause()


def test_empty_queue(snap_compare, home):
    q = empty_queue(home)
    try:
        assert snap_compare(make_app(q), terminal_size=WIDE, run_before=settle)
    finally:
        q.close()


def test_busy_queue(snap_compare, home):
    q = busy_queue(home)
    try:
        assert snap_compare(make_app(q), terminal_size=WIDE, run_before=settle)
    finally:
        q.close()


def test_failed_task_selected(snap_compare, home):
    q = busy_queue(home)

    async def select_failed(pilot):
        pilot.app.select_task(8)
        await settle(pilot)

    try:
        assert snap_compare(make_app(q), terminal_size=WIDE, run_before=select_failed)
    finally:
        q.close()


def test_add_modal(snap_compare, home):
    q = busy_queue(home)

    async def open_add(pilot):
        await pilot.press("a")
        await pilot.pause()
        await settle(pilot)

    try:
        assert snap_compare(make_app(q), terminal_size=WIDE, run_before=open_add)
    finally:
        q.close()


def test_help(snap_compare, home):
    q = busy_queue(home)
    try:
        assert snap_compare(make_app(q), terminal_size=WIDE, press=["question_mark"], run_before=settle)
    finally:
        q.close()


def test_quit_question(snap_compare, home):
    q = busy_queue(home)

    async def ask(pilot):
        pilot.app.push_screen(QuitScreen(3))
        await settle(pilot)

    try:
        assert snap_compare(make_app(q), terminal_size=WIDE, run_before=ask)
    finally:
        q.close()


def test_narrow_terminal(snap_compare, home):
    q = busy_queue(home)
    try:
        assert snap_compare(make_app(q), terminal_size=NARROW, run_before=settle)
    finally:
        q.close()


def test_large_terminal(snap_compare, home):
    q = busy_queue(home)
    try:
        assert snap_compare(make_app(q), terminal_size=LARGE, run_before=settle)
    finally:
        q.close()


def test_add_modal_narrow(snap_compare, home):
    q = busy_queue(home)

    async def open_add(pilot):
        await pilot.press("a")
        await pilot.pause()
        await settle(pilot)

    try:
        assert snap_compare(make_app(q), terminal_size=NARROW, run_before=open_add)
    finally:
        q.close()


def test_help_narrow(snap_compare, home):
    q = busy_queue(home)
    try:
        assert snap_compare(make_app(q), terminal_size=NARROW, press=["question_mark"], run_before=settle)
    finally:
        q.close()
