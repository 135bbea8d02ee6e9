"""Nothing on screen lies: following, quitting, pausing, prompts, hints, layout."""

from __future__ import annotations

from textual.widgets import Log

from lazyqueue.tui import settings
from lazyqueue.tui.app import LazyQueueApp
from lazyqueue.tui.screens.confirm import ConfirmScreen
from lazyqueue.tui.screens.log import LogScreen
from lazyqueue.tui.screens.quit import QuitScreen
from lazyqueue.tui.widgets.status_line import fit

from .conftest import cell, gate, toasts, until

SIZE = (120, 36)


def status(app) -> str:
    return str(app.status_line.render())


async def test_scrolling_up_pauses_following_and_G_resumes(queue, home):
    t = queue.enqueue("hold", {"gate": "log-follow"}).task
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.view.tasks[t.id].status == "running")
        path = app.log_path(t.id)
        # the worker opens the log just after it reports the start
        await until(pilot, lambda: path.exists(), what="the task's log file")
        with open(path, "a") as fh:
            fh.writelines(f"line {n}\n" for n in range(200))
        app.select_task(t.id)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LogScreen))
        screen = app.screen
        title = screen.query_one("#log-title")
        await until(pilot, lambda: "following" in str(title.render()), what="following while running")
        await pilot.press("pageup")
        await until(pilot, lambda: "paused" in str(title.render()), what="page up pauses")
        log = screen.query_one(Log)
        top = log.scroll_y
        with open(path, "a") as fh:
            fh.write("more output\n")
        await until(pilot, lambda: log.line_count > 201, what="new output read")
        assert log.scroll_y == top  # what is being read stays put
        await pilot.press("G")
        await until(pilot, lambda: "following" in str(title.render()) and log.scroll_y == log.max_scroll_y)
        gate("log-follow").set()
        await until(pilot, lambda: "finished" in str(title.render()), what="finished once the task is")
        assert "following" not in str(title.render())


async def test_quit_wait_can_be_undone_and_counts_live(queue, home):
    a = queue.enqueue("hold", {"gate": "qa"}).task
    b = queue.enqueue("hold", {"gate": "qb"}).task
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: len(app.view.ids("running")) == 2)
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen))
        await pilot.press("w")
        await until(pilot, lambda: "waiting for 2 running tasks" in status(app))
        gate("qa").set()
        await until(pilot, lambda: "waiting for 1 running task " in status(app), what="the count follows")
        await pilot.press("q")  # asks again
        await until(pilot, lambda: isinstance(app.screen, QuitScreen))
        assert "Still waiting for 1 running" in app.screen.question_text
        await pilot.press("escape")  # keep waiting
        await until(pilot, lambda: app.screen is app.main_screen)
        await pilot.press("ctrl+c")
        await until(pilot, lambda: any("press q" in m for m in toasts(app)), what="how to quit")
        assert not any("[b]" in m for m in toasts(app))
        await pilot.press("q", "r")  # re-queue the last one and quit
        await until(pilot, lambda: app.return_code is not None and queue.worker is None, what="exit")
    from .conftest import on_disk

    assert on_disk(home, a.id).status == "completed" and on_disk(home, b.id).status == "queued"


async def test_the_quit_question_follows_the_running_count(queue):
    t = queue.enqueue("hold", {"gate": "qcount"}).task
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.view.tasks[t.id].status == "running")
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen))
        label = app.screen.query_one("#quit-question")
        assert "1 running" in str(label.render())
        gate("qcount").set()
        await until(pilot, lambda: "Nothing is running" in str(label.render()), what="the question updated")
        await pilot.press("escape")


async def test_key_bar_says_resume_while_paused(queue):
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: queue.worker is not None)
        assert "p Pause" in app.key_bar.text
        await pilot.press("p")
        await until(pilot, lambda: "p Resume" in app.key_bar.text, what="Resume in the bar")
        await pilot.press("p")
        await until(pilot, lambda: "p Pause" in app.key_bar.text)


async def test_delete_prompt_reads_right_for_one_task(queue):
    queue.enqueue("hold", {"gate": "del1"}, title="one")
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.view.ids("running"))
        app.jobs.focus()
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        question = app.screen.question
        assert "and its task?" in question and "1 tasks" not in question and "Its 1" not in question
        assert "Its running task is cancelled first." in question
        await pilot.press("n")
        gate("del1").set()


async def test_a_key_that_does_not_apply_says_why(queue):
    t = queue.enqueue("quick", {}).task
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: app.view.tasks[t.id].status == "completed")
        app.select_task(t.id)
        await pilot.press("x")
        await until(pilot, lambda: any(f"t{t.id} is completed: only a failed task can be dismissed" in m
                                       for m in toasts(app)), what="why x does nothing")


async def test_a_start_seconds_away_reads_in_seconds(queue):
    t = queue.enqueue("quick", {}, delay=30).task
    app = LazyQueueApp(queue, start_worker=False)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.activity.shown(f"t{t.id}"))
        app.refresh_why(app.now())
        assert app.activity.why[t.id].startswith("starts in ")
        assert app.activity.why[t.id].endswith(" s")


async def test_a_filter_matching_nothing_says_so_and_clears_the_details(queue):
    queue.enqueue("quick", {}, title="alpha")
    app = LazyQueueApp(queue, start_worker=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "alpha" in app.detail.text)
        await pilot.press("slash", *"zzz")
        await until(pilot, lambda: "No job matches “zzz”" in app.detail.text, what="the pane says why it is empty")
        assert "alpha" not in app.detail.text


def test_the_status_line_drops_whole_parts_then_whole_words():
    parts = [(0, "Running 2 tasks: shell #124 (+1 more)"), (2, "5 queued"), (1, "1 failed"), (3, "no worker in this process")]
    assert fit(parts, 200) == "Running 2 tasks: shell #124 (+1 more) · 5 queued · 1 failed · no worker in this process"
    assert fit(parts, 60) == "Running 2 tasks: shell #124 (+1 more) · 5 queued · 1 failed"
    assert fit(parts, 50) == "Running 2 tasks: shell #124 (+1 more) · 1 failed"
    short = fit(parts, 20)
    assert short.endswith("…") and "Running 2 tasks:".startswith(short[:-1].rstrip(":"))


async def test_the_theme_is_kept_between_runs(queue):
    app = LazyQueueApp(queue, start_worker=False)
    async with app.run_test(size=SIZE) as pilot:
        app.theme = "textual-light"
        await pilot.pause()
    assert settings.saved_theme() == "textual-light"
    again = LazyQueueApp(queue, start_worker=False)
    assert again.theme == "textual-light"


async def test_columns_follow_the_terminal_width(queue):
    title = "A forty character title for a wide screen"[:40]
    queue.enqueue("quick", {}, title=title)
    widths = {}
    for size in ((80, 24), (120, 36), (160, 40), (200, 50)):
        app = LazyQueueApp(queue, start_worker=False)
        async with app.run_test(size=size) as pilot:
            await until(pilot, lambda: app.jobs.row_count == 1)
            await pilot.pause()
            cols = dict((key, width) for key, _, width in app.jobs.columns())
            widths[size[0]] = cols["title"]
            assert sum(w + 2 for w in cols.values()) <= app.jobs.scrollable_content_region.width  # no sideways scroll
            if size[0] >= 160:
                assert cell(app.jobs, "1", "title") == title  # shown whole
    assert widths[80] < widths[160] < widths[200]
    assert widths[200] >= 60  # the free width goes to the titles, not to empty columns


async def test_end_goes_to_the_oldest_job_even_when_it_moved_up(queue):
    first = queue.enqueue("quick", {}, title="oldest").task
    for n in range(3):
        queue.enqueue("quick", {}, title=f"newer {n}")
    queue.set_stage(first.job_id, "touched")  # the oldest job has the most recent activity now
    app = LazyQueueApp(queue, start_worker=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.jobs.row_count == 4)
        app.jobs.focus()
        await pilot.press("end")
        await until(pilot, lambda: app.selection == ("job", first.job_id), what="the oldest job selected")
        assert "oldest" in app.detail.text
