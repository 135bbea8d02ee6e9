"""The job list reads the most recent jobs first and the rest of the history as it is scrolled."""

from __future__ import annotations

from lazyqueue.bench.tui import _seed_history
from lazyqueue.tui.app import LazyQueueApp
from lazyqueue.tui.widgets.job_table import WINDOW

from .conftest import until

SIZE = (120, 36)


def caption(app) -> str:
    return str(app.jobs_caption.render())


async def test_scrolling_reads_more_of_the_history_and_end_reads_it_all(queue):
    _seed_history(queue, 450)  # 450 finished jobs, the newest last
    app = LazyQueueApp(queue, start_worker=False)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: app.loaded and app.jobs.row_count, what="jobs shown")
        jobs = app.jobs
        assert jobs.row_count == WINDOW and jobs.total == 450
        assert "most recent 200 read" in caption(app)
        assert jobs.selected_key == "450"  # the most recent first
        for _ in range(25):  # page down towards the end of what is read
            await pilot.press("pagedown")
        await until(pilot, lambda: jobs.row_count == 2 * WINDOW, what="the next 200 read")
        assert "most recent 400 read" in caption(app)
        await pilot.press("end")
        await until(pilot, lambda: jobs.row_count == 450, what="the whole history read")
        assert jobs.selected_key == "1"  # the oldest job, last
        await until(pilot, lambda: app.selection == ("job", 1), what="the oldest job in the details")
        assert "history item 0" in app.detail.text
        assert "read" not in caption(app)  # everything is shown: nothing more to say
        await pilot.press("home")  # back at the top, the list holds the most recent again
        await until(pilot, lambda: jobs.row_count == WINDOW, what="the window back to 200")
        assert jobs.selected_key == "450" and "most recent 200 read" in caption(app)


async def test_a_filter_searches_the_whole_history(queue):
    _seed_history(queue, 450)
    app = LazyQueueApp(queue, start_worker=False)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: app.loaded and app.jobs.row_count, what="jobs shown")
        await pilot.press("slash")
        await pilot.press(*"item 3")  # item 3, 30-39 and 300-399 … all but one beyond the first 200
        await until(pilot, lambda: app.jobs.total == 111, what="the filter applied")
        assert app.jobs.row_count == 111
        assert "matching" in caption(app)
