"""The key bar: the keys that apply now, greyed when they do not, clickable."""

from __future__ import annotations

from lazyqueue.tui.app import LazyQueueApp
from lazyqueue.tui.screens.help import HelpScreen

from .conftest import gate, until

SIZE = (120, 36)


def key_state(app, description: str) -> bool:
    return next(item[3] for item in app.key_bar.items if item[2] == description)


async def test_bar_greys_keys_that_do_not_apply_to_the_selection(queue):
    t = queue.enqueue("hold", {"gate": "g-bar"}).task
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: app.view.tasks[t.id].status == "running")
        app.select_task(t.id)
        await until(pilot, lambda: key_state(app, "Cancel"), what="Cancel lit for a running task")
        assert key_state(app, "Retry") is False  # a running task cannot be retried
        assert "r Retry" in app.key_bar.text and "c Cancel" in app.key_bar.text
        assert app.key_bar.text.rstrip().endswith("palette")
        gate("g-bar").set()
        await until(pilot, lambda: app.view.tasks[t.id].status == "completed")
        await until(pilot, lambda: not key_state(app, "Cancel"), what="Cancel greyed once it completed")
        assert key_state(app, "Retry") is False


async def test_clicking_a_key_runs_it(queue):
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        start = app.key_bar.text.index("? Help")
        await pilot.click(app.key_bar, offset=(start + 2, 0))
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help opened by a click")


async def test_clicking_a_greyed_key_does_nothing(queue):
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        assert key_state(app, "All") is False  # nothing failed: Retry all does not apply
        start = app.key_bar.text.index("R All")
        await pilot.click(app.key_bar, offset=(start + 1, 0))
        await pilot.pause()
        assert app.screen is app.screen_stack[0]  # no confirmation was asked
