"""Rows and detail lines are cached between paints; a new theme still redraws them in its colours."""

from __future__ import annotations

from lazyqueue.tui.app import LazyQueueApp

from .conftest import until

SIZE = (120, 36)


def colours(strip) -> list:
    """Background of each piece of text on the line (padding left out)."""
    return [seg.style.bgcolor for seg in strip if seg.text.strip() and seg.style is not None]


async def test_theme_change_redraws_cached_rows_and_details(queue):
    for n in range(2):
        queue.enqueue("quick", {"n": str(n)}, title=f"themed job {n}")
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: len(app.view.ids("completed")) == 2, what="both complete")
        await pilot.pause()
        app.theme = "textual-dark"
        await pilot.pause()
        row, detail = colours(app.jobs.render_line(2)), colours(app.detail.render_line(0))  # line 2: the row under the cursor's
        assert row and detail
        app.theme = "textual-light"
        await pilot.pause()
        await pilot.pause()
        assert colours(app.jobs.render_line(2)) != row
        assert colours(app.detail.render_line(0)) != detail


async def test_detail_pane_scrolls_long_text(queue):
    t = queue.enqueue("quick", {"n": "x" * 380}, title="long payload").task
    app = LazyQueueApp(queue)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await until(pilot, lambda: app.view.tasks[t.id].status == "completed")
        app.select_task(t.id)
        await pilot.pause()
        pane = app.detail
        assert pane.virtual_size.height > pane.scrollable_content_region.height  # more lines than fit
        first = "".join(seg.text for seg in pane.render_line(0))
        await pilot.press("tab")  # from Activity (where the task is selected) to the details
        assert app.focused is pane
        await pilot.press("down", "down", "down")
        await until(pilot, lambda: pane.scroll_y >= 3, what="the keys scroll the details")
        assert "".join(seg.text for seg in pane.render_line(0)) != first
        assert app.selection == ("task", t.id)  # reading the details keeps what is selected
        assert "x" * 20 in pane.text


async def test_terminal_controls_in_task_text_are_drawn_as_characters(queue):
    hostile = "evil\x1b]52;c;cm0gLXJmIH4K\x07\x1b[2J\x9b31m\u202e"
    t = queue.enqueue("quick", {"n": hostile}, title=f"job {hostile}").task
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.view.tasks[t.id].status == "completed")
        app.select_task(t.id)
        await pilot.pause()
        painted = [
            "".join(seg.text for seg in widget.render_line(y))
            for widget in (app.jobs, app.detail) for y in range(widget.size.height)
        ]
        text = "\n".join(painted)
        assert "job evil" in text and "␛]52" in text
        for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
            assert raw not in text
