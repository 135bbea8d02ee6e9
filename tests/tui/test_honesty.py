"""What the screen claims: progress, waiting, expiry, transitions, external changes."""

from __future__ import annotations

from lazyqueue import Queue
from lazyqueue.core.config import Config
from lazyqueue.core.models import Task
from lazyqueue.tui.app import LazyQueueApp
from lazyqueue.tui.format import countdown, progress_text
from lazyqueue.tui.actions import ACTIONS
from lazyqueue.tui.screens.help import HelpScreen
from lazyqueue.tui.screens.main import MainScreen
from lazyqueue.tui.screens.quit import QuitScreen

from .conftest import Heard, cell, drawn_lines, gate, row_text, toasts, until
from .fixed import NOW, busy_queue, clock

SIZE = (120, 36)


def test_running_at_100_shows_99_finalizing():
    task = Task(id=1, kind="k", status="running", progress=100.0)
    assert progress_text(task).plain.endswith("99% finalizing")
    assert "100" not in progress_text(task, compact=True).plain
    task.status = "completed"
    assert progress_text(task).plain.endswith("100%")


def test_countdown_turns_to_expired_never_negative():
    assert countdown(65) == "expires in 1 min 05 s"
    assert countdown(4) == "expires in 4 s"  # the same style as the core's "retry in 4 s"
    assert countdown(0) == "expired"
    assert countdown(-3) == "expired"


async def test_busy_queue_words_and_waiting_lines(home):
    q = busy_queue(home)
    app = LazyQueueApp(q, clock=clock, start_worker=False)
    try:
        async with app.run_test(size=(200, 50), notifications=True) as pilot:  # wide: whole details in the rows
            await pilot.pause()
            status = str(app.status_line.render())
            assert "Running 3 tasks: crunch #005 (+2 more) · 4 queued · 1 failed" in status
            assert "finalizing" in row_text(app.activity, "t4")
            assert "99%" in cell(app.activity, "t4", "progress")
            assert "working" in cell(app.activity, "t5", "progress")  # no known progress: a spinner
            assert "retry in 8 s" in row_text(app.activity, "t9")
            assert "ⓘ" in row_text(app.activity, "t6") and "longer than expected" in row_text(app.activity, "t6")
            assert "⚠" in row_text(app.activity, "t10")  # queued over 5 minutes: a warning
            assert "waiting on t3" in row_text(app.activity, "t10")
            app.select_task(10)
            await pilot.pause()
            body = app.detail.text
            assert "waiting longer than expected" in str(body) and "0 ahead" not in str(body)
            app.select_task(2)  # completed, with an artifact that expires in 10 minutes
            await pilot.pause()
            assert "expires in 10 min" in app.detail.text
            app.clock = lambda: NOW + 700
            app.tick()
            assert "expired" in app.detail.text
            assert "expires in -" not in app.detail.text
            app.select_task(8)
            await pilot.pause()
            assert "req_demo_0008" in app.detail.text
    finally:
        q.close()


async def test_completion_is_announced_once(queue):
    t = queue.enqueue("hold", {"gate": "once"}).task
    app = LazyQueueApp(queue, tick_s=0.05)
    heard = Heard()
    async with app.run_test(size=SIZE, notifications=True, message_hook=heard) as pilot:
        await until(pilot, lambda: app.view.tasks[t.id].status == "running")
        gate("once").set()
        await until(pilot, lambda: app.view.tasks[t.id].status == "completed")
        for _ in range(5):
            await pilot.pause(0.06)  # several ticks and refreshes
        assert sum(f"t{t.id} completed" in m for m in heard.toasts) == 1


async def test_changes_from_another_process_show_within_a_second(queue, home):
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: queue.worker is not None)
        await pilot.press("p")  # paused: the new task stays queued where we can see it
        other = Queue(home, config=Config(), plugins=False)
        try:
            added = other.enqueue("shell", {"command": "true"}, title="from the CLI").task
        finally:
            other.taskfile.close()
        await until(pilot, lambda: app.activity.shown(f"t{added.id}"), timeout=1.0, what="external add on screen")
        assert any("from the CLI" in row_text(app.jobs, k) for k in app.jobs._order)


async def test_help_lists_every_key(queue):
    """Each binding of the main screen has its own row in help: its keys and what it does."""
    app = LazyQueueApp(queue, start_worker=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help open")
        await pilot.pause()
        keys = app.screen.query_one("#help-keys")
        lines = [line.strip() for line in drawn_lines(keys)]
        for binding in MainScreen.BINDINGS:
            action = next(a for a in ACTIONS if a.id == binding.id)
            shown = "+ / -" if action.name == "priority" else action.shown
            rows = [line for line in lines if line.startswith(shown + " ")]
            assert rows, f"no help row for {shown}"
            if action.name != "priority":
                assert any(action.help[:30] in line for line in rows), f"{shown}: row does not say what it does"
        for key in ("tab / shift+tab", "home / end", "ctrl+p"):
            assert any(line.startswith(key) for line in lines), key


async def test_command_palette_offers_actions_once(queue):
    app = LazyQueueApp(queue, start_worker=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"quit")
        await until(pilot, lambda: "Quit" in str(app.screen.query_one("CommandList").get_option_at_index(0).prompt),
                    what="quit offered")
        options = app.screen.query_one("CommandList")
        titles = [str(options.get_option_at_index(i).prompt).split("\n")[0] for i in range(options.option_count)]
        assert sum(t.startswith("Quit") for t in titles) == 1, titles  # ours only (it asks about running tasks)
        await pilot.press("escape")


async def test_prune_elsewhere_reloads_the_view(queue):
    done = queue.enqueue("quick", {}).task
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: app.view.tasks.get(done.id) and app.view.tasks[done.id].status == "completed")
        queue.taskfile.retention.keep = 0
        queue.taskfile.retention.max_age_days = 0
        queue.prune()
        await app.workers.wait_for_complete()
        await until(pilot, lambda: done.id not in app.view.tasks, what="pruned task gone")
        assert not app.activity.shown(f"t{done.id}")


async def test_toasts_never_pile_up_over_the_details(queue):
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        for n in range(5):
            app.toast_change(f"note {n}")
        await until(pilot, lambda: len(toasts(app)) == 3, what="three toasts")
        assert toasts(app) == ["note 0", "note 1", "note 2"]  # the rest are held back and summed up
        assert app.toasts.held == 2
    narrow = LazyQueueApp(queue)
    async with narrow.run_test(size=(80, 24), notifications=True) as pilot:
        ids = [queue.enqueue("quick", {"n": str(n)}).task.id for n in range(6)]
        await until(pilot, lambda: all(narrow.view.tasks.get(i) and narrow.view.tasks[i].status == "completed" for i in ids))
        await pilot.pause()
        assert len(toasts(narrow)) <= 1  # the 7-row detail pane stays readable
        assert all(narrow.activity.shown(f"t{i}") for i in ids)  # what the toasts left out is listed in Activity


async def test_toasts_stay_off_the_activity_details(queue):
    """A toast sits over the detail pane (right, or under the tables when narrow), never over Activity."""
    for size in ((80, 24), (120, 36), (200, 50)):
        app = LazyQueueApp(queue, start_worker=False)
        async with app.run_test(size=size, notifications=True) as pilot:
            app.notify("a long toast message that would wrap over two or three lines of the pane")
            await until(pilot, lambda: toasts(app), what="a toast")
            await pilot.pause()
            from textual.widgets._toast import Toast

            toast = app.screen.query_one(Toast).region
            assert not toast.overlaps(app.activity.region), size
            assert not toast.overlaps(app.key_bar.region), size


async def test_a_dialog_opens_clear_of_toasts(queue):
    t = queue.enqueue("hold", {"gate": "dialog"}).task
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: app.view.tasks[t.id].status == "running")
        app.notify("something happened")
        await until(pilot, lambda: toasts(app), what="a toast")
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen))
        assert toasts(app) == []  # nothing covers the question's buttons
        await pilot.press("escape")
        gate("dialog").set()


def done(app, ids) -> bool:
    return all(app.view.tasks.get(i) is not None and app.view.tasks[i].status in ("completed", "failed") for i in ids)


async def test_no_toast_covers_an_open_dialog_and_what_came_meanwhile_is_summed_up_after(queue):
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help dialog")
        ids = [queue.enqueue("quick", {"n": str(n)}).task.id for n in range(3)]
        await until(pilot, lambda: done(app, ids), what="three tasks completed while help is open")
        await pilot.pause()
        assert toasts(app) == []  # nothing over the dialog
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen) and toasts(app), what="the toast held back")
        assert toasts(app) == ["3 changes while the dialog was open (see Activity)"]


async def test_an_error_that_came_while_a_dialog_was_open_is_shown_as_it_was_after(queue):
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help dialog")
        failed = queue.enqueue("fail_once", {"n": "1"}).task.id
        completed = queue.enqueue("quick", {}).task.id
        await until(pilot, lambda: done(app, [failed, completed]), what="a failure and a completion")
        await pilot.pause()
        assert toasts(app) == []
        await pilot.press("escape")
        await until(pilot, lambda: len(toasts(app)) == 2, what="both toasts held back")
        assert toasts(app)[0].startswith(f"✗ t{failed} failed: boom: the remote said no")
        assert toasts(app)[1].startswith(f"✓ t{completed} completed")


async def test_no_toast_covers_the_log_view_and_the_one_that_came_is_shown_after(queue):
    from lazyqueue.tui.screens.log import LogScreen

    held = queue.enqueue("hold", {"gate": "log-open"}, title="watched").task
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: app.view.tasks[held.id].status == "running", what="the task running")
        app.select_task(held.id)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LogScreen), what="the log view")
        gate("log-open").set()
        await until(pilot, lambda: app.view.tasks[held.id].status == "completed", what="the task completed")
        await pilot.pause()
        assert toasts(app) == []  # nothing over the log
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen) and toasts(app), what="the toast held back")
        assert toasts(app) == [f"✓ {held.ref} completed · hold log-open"]


async def test_a_big_history_being_read_is_not_called_an_empty_queue(home, monkeypatch):
    import threading

    import lazyqueue.tui.app as app_module
    from lazyqueue import TaskSpec

    q = Queue(home, config=Config(), plugins=False)
    q.kind("noop")(lambda ctx: None)
    q.enqueue_many([TaskSpec("noop", {}) for _ in range(30)])
    monkeypatch.setattr(app_module, "LOAD_IN_BACKGROUND", 10)  # 30 tasks: read after the first frame
    release = threading.Event()
    snapshot = q.snapshot

    def held_snapshot():
        release.wait(10)
        return snapshot()

    q.snapshot = held_snapshot
    app = LazyQueueApp(q, clock=clock, start_worker=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert "reading 30 tasks" in str(app.status_line.render())
            assert "Reading the queue" in str(app.detail.text) and "Nothing queued" not in str(app.detail.text)
            release.set()
            await until(pilot, lambda: app.loaded)
            await pilot.pause()
            assert "Nothing queued" not in str(app.detail.text)
            assert "30 queued" in str(app.status_line.render())
    finally:
        release.set()
        q.close()
