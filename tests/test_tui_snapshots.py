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
        if not any(w.group in ("load", "detail-tail", "workers") and not w.is_finished for w in pilot.app.workers):
            break
    await pilot.pause()
    await pilot.pause()


async def select_failed(pilot) -> None:
    pilot.app.select_task(8)
    await settle(pilot)


async def open_add(pilot) -> None:
    await pilot.press("a")
    await pilot.pause()
    await settle(pilot)


async def open_help(pilot) -> None:
    await pilot.press("question_mark")
    await settle(pilot)


async def ask_quit(pilot) -> None:
    pilot.app.push_screen(QuitScreen(3))
    await settle(pilot)


# what is on screen: (the fixed queue, what is done before the picture)
SCENES = {
    "empty": (empty_queue, settle),
    "busy": (busy_queue, settle),
    "failed-selected": (busy_queue, select_failed),
    "add": (busy_queue, open_add),
    "help": (busy_queue, open_help),
    "quit": (busy_queue, ask_quit),
}
CASES = [
    ("empty", WIDE), ("busy", WIDE), ("failed-selected", WIDE), ("add", WIDE), ("help", WIDE), ("quit", WIDE),
    ("busy", NARROW), ("add", NARROW), ("help", NARROW),
    ("busy", LARGE),
]


@pytest.mark.parametrize("scene,size", CASES, ids=[f"{scene}-{w}x{h}" for scene, (w, h) in CASES])
def test_snapshot(snap_compare, home, scene, size):
    make_queue, run_before = SCENES[scene]
    q = make_queue(home)
    try:
        assert snap_compare(make_app(q), terminal_size=size, run_before=run_before)
    finally:
        q.close()
