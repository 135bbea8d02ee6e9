"""What the screen claims: progress, waiting, expiry, transitions, external changes."""

from __future__ import annotations

from lazyqueue import Queue
from lazyqueue.core.config import Config
from lazyqueue.core.models import Task
from lazyqueue.tui.app import LazyQueueApp
from lazyqueue.tui.format import countdown, progress_text
from lazyqueue.tui.screens.help import KEYS
from lazyqueue.tui.screens.quit import QuitScreen

from .conftest import cell, gate, row_text, toasts, until
from .fixed import NOW, busy_queue, clock

SIZE = (120, 36)


def test_running_at_100_shows_99_finalizing():
    task = Task(id=1, kind="k", status="running", progress=100.0)
    assert progress_text(task).plain.endswith("99% finalizing")
    assert "100" not in progress_text(task, compact=True).plain
    task.status = "completed"
    assert progress_text(task).plain.endswith("100%")


def test_countdown_turns_to_expired_never_negative():
    assert countdown(65).startswith("expires in 1m")
    assert countdown(0) == "expired"
    assert countdown(-3) == "expired"


async def test_busy_queue_words_and_waiting_lines(home):
    q = busy_queue(home)
    app = LazyQueueApp(q, clock=clock, start_worker=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            status = str(app.status_line.render())
            assert "Building 3 items: crunch #005 (+2 more) · 4 queued · 1 failed" in status
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
            assert "expires in 10m" in app.detail.text
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
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.view.tasks[t.id].status == "running")
        gate("once").set()
        await until(pilot, lambda: app.view.tasks[t.id].status == "completed")
        for _ in range(5):
            await pilot.pause(0.06)  # several ticks and refreshes
        assert sum(f"t{t.id} completed" in m for m in toasts(app)) == 1


async def test_changes_from_another_process_show_within_a_second(queue, home):
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: queue.worker is not None)
        await pilot.press("p")  # paused: the new task stays queued where we can see it
        other = Queue(home, config=Config(), plugins=False)
        try:
            added = other.enqueue("shell", {"command": "true"}, title="from the CLI").task
        finally:
            other.taskfile.close()
        await until(pilot, lambda: app.activity.shown(f"t{added.id}"), timeout=1.0, what="external add on screen")
        assert any("from the CLI" in row_text(app.jobs, k) for k in app.jobs._order)


def test_help_lists_every_key():
    listed = " ".join(k for k, _ in KEYS)
    for key in ("a", "r", "R", "c", "d", "+", "-", "p", "l", "enter", "y", "x", "/", "ctrl+p", "?", "q"):
        assert key in listed.split() or key in listed, key
    bindings = {b.action.split("(")[0] for b in LazyQueueApp.BINDINGS}
    assert {"add", "retry", "retry_all", "cancel", "delete", "priority", "pause", "log", "copy_id", "dismiss",
            "filter", "help", "quit"} <= bindings


async def test_command_palette_offers_actions(queue):
    from lazyqueue.tui.commands import ACTIONS

    app = LazyQueueApp(queue, start_worker=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"retry all")
        await pilot.pause(0.3)
        assert "Retry all failed" in [title for _, title, _ in ACTIONS]
        await pilot.press("escape")


async def test_prune_elsewhere_reloads_the_view(queue):
    done = queue.enqueue("quick", {}).task
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.view.tasks.get(done.id) and app.view.tasks[done.id].status == "completed")
        queue.taskfile.retention.keep = 0
        queue.taskfile.retention.max_age_days = 0
        queue.prune()
        await app.workers.wait_for_complete()
        await until(pilot, lambda: done.id not in app.view.tasks, what="pruned task gone")
        assert not app.activity.shown(f"t{done.id}")


async def test_toasts_never_pile_up_over_the_details(queue):
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE) as pilot:
        for n in range(5):
            app.notify(f"note {n}")
        await pilot.pause()
        assert toasts(app) == ["note 2", "note 3", "note 4"]  # the newest three; the oldest retired
    narrow = LazyQueueApp(queue)
    async with narrow.run_test(size=(80, 24)) as pilot:
        ids = [queue.enqueue("quick", {"n": str(n)}).task.id for n in range(6)]
        await until(pilot, lambda: all(narrow.view.tasks.get(i) and narrow.view.tasks[i].status == "completed" for i in ids))
        await pilot.pause()
        assert len(toasts(narrow)) <= 2  # the 7-row detail pane stays readable
        assert all(narrow.activity.shown(f"t{i}") for i in ids)  # what the toasts left out is listed in Activity


async def test_a_dialog_opens_clear_of_toasts(queue):
    t = queue.enqueue("hold", {"gate": "dialog"}).task
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.view.tasks[t.id].status == "running")
        app.notify("something happened")
        await until(pilot, lambda: toasts(app), what="a toast")
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen))
        assert toasts(app) == []  # nothing covers the question's buttons
        await pilot.press("escape")
        gate("dialog").set()
