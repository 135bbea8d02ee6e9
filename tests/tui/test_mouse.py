"""A click on a job or task row selects it and shows it in the detail pane; a double click opens its log."""

from __future__ import annotations

from lazyqueue.tui.app import LazyQueueApp
from lazyqueue.tui.screens.log import LogScreen
from lazyqueue.tui.screens.main import MainScreen

from .conftest import until

SIZE = (120, 36)


def row_offset(table, key: str) -> tuple[int, int]:
    """Where a row is drawn inside its table (the header is the first line)."""
    return (4, table.get_row_index(key) - int(table.scroll_y) + 1)


async def test_a_click_on_a_job_row_selects_it_and_shows_its_detail(queue):
    first = queue.enqueue("quick", {}, title="first job").task
    second = queue.enqueue("quick", {}, title="second job").task
    app = LazyQueueApp(queue, start_worker=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.jobs.row_count == 2, what="two jobs listed")
        other = next(k for k in (str(first.job_id), str(second.job_id)) if k != app.jobs.selected_key)
        await pilot.click(app.jobs, offset=row_offset(app.jobs, other))
        await until(pilot, lambda: app.selection == ("job", int(other)), what="the clicked job selected")
        title = "first job" if int(other) == first.job_id else "second job"
        await until(pilot, lambda: title in app.detail.text, what="its detail shown")
        assert isinstance(app.screen, MainScreen)


async def test_a_click_on_a_task_row_in_activity_selects_it_even_where_the_cursor_already_is(queue):
    tasks = [queue.enqueue("quick", {}, title=f"task {n}").task for n in range(3)]
    app = LazyQueueApp(queue, start_worker=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: all(app.activity.shown(f"t{t.id}") for t in tasks), what="the tasks listed")
        assert app.focused is app.jobs
        # the row under Activity's (unfocused) cursor: a click selects it and opens nothing
        key = f"t{tasks[0].id}"
        app.activity.select_key(key)
        await pilot.pause()
        assert app.selection[0] == "job"
        await pilot.click(app.activity, offset=row_offset(app.activity, key))
        tid = app.activity.task_id(key)
        await until(pilot, lambda: app.selection == ("task", tid), what="the clicked task selected")
        await until(pilot, lambda: f"t{tid}" in app.detail.text, what="its detail shown")
        assert isinstance(app.screen, MainScreen) and app.focused is app.activity
        other = next(f"t{t.id}" for t in tasks if f"t{t.id}" != key)
        await pilot.click(app.activity, offset=row_offset(app.activity, other))
        await until(pilot, lambda: app.selection == ("task", int(other[1:])), what="another task selected")
        assert isinstance(app.screen, MainScreen)


async def test_a_double_click_on_a_task_row_opens_its_log(queue):
    task = queue.enqueue("quick", {}, title="logged").task
    app = LazyQueueApp(queue, start_worker=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.activity.shown(f"t{task.id}"), what="the task listed")
        await pilot.double_click(app.activity, offset=row_offset(app.activity, f"t{task.id}"))
        await until(pilot, lambda: isinstance(app.screen, LogScreen), what="the log opened")
