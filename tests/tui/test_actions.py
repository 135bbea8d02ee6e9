"""Pilot tests: every action changes the task file and shows its effect on screen."""

from __future__ import annotations

from lazyqueue.core.models import Task
from lazyqueue.tui.app import TOO_LATE, LazyQueueApp
from lazyqueue.tui.screens.add import AddTaskScreen
from lazyqueue.tui.screens.confirm import ConfirmScreen
from lazyqueue.tui.screens.quit import QuitScreen

from .conftest import GATES, Heard, cell, disk_jobs, gate, on_disk, open_queue, row_text, toasts, until

SIZE = (120, 36)


def status(app) -> str:
    return str(app.query_one("#status").render())


async def test_mount_shows_jobs_activity_and_status(queue):
    queue.enqueue("quick", {}, title="first job")
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: app.view.ids("completed"), what="quick completes")
        await until(pilot, lambda: "Idle" in status(app), what="idle status")
        assert "1 done today" in status(app)
        assert app.jobs.row_count == 1
        assert "first job" in row_text(app.jobs, "1")
        assert "✓ completed" in row_text(app.activity, "t1")


async def test_retry_selected_failed_task(queue, home):
    t = queue.enqueue("fail_once", {"n": "1"}).task
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: app.view.tasks[t.id].status == "failed", what="failure")
        await until(pilot, lambda: app.activity.shown(f"t{t.id}"))
        assert "✗ failed" in row_text(app.activity, f"t{t.id}")
        await until(pilot, lambda: any("failed: boom" in m for m in toasts(app)), what="the failure toast")
        app.select_task(t.id)
        await pilot.pause()
        assert app.check_action("retry", ()) is True
        await pilot.press("r")
        await until(pilot, lambda: app.view.tasks[t.id].status == "completed", what="retried task completes")
        assert on_disk(home, t.id).status == "completed"
        assert "✓ completed" in row_text(app.activity, f"t{t.id}")
        assert app.check_action("retry", ()) is None  # greyed: nothing to retry now


async def test_retry_is_greyed_for_running_task(queue):
    t = queue.enqueue("hold", {"gate": "g-grey"}).task
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: app.view.tasks[t.id].status == "running")
        app.select_task(t.id)
        await pilot.pause()
        assert app.check_action("retry", ()) is None
        assert app.check_action("cancel", ()) is True
        gate("g-grey").set()


async def test_retry_all_asks_with_count(queue, home):
    ids = [queue.enqueue("fail_once", {"n": str(i)}).task.id for i in range(2)]
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: all(app.view.tasks[i].status == "failed" for i in ids), what="two failures")
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Retry 2 failed tasks?" in app.screen.question
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await until(pilot, lambda: all(app.view.tasks[i].status == "completed" for i in ids), what="retried")
        assert all(on_disk(home, i).status == "completed" for i in ids)
        assert "0 failed" not in status(app) and "failed" not in status(app)


async def test_cancel_queued_task(queue, home):
    queue.enqueue("hold", {"gate": "a"})
    queue.enqueue("hold", {"gate": "b"})
    waiting = queue.enqueue("hold", {"gate": "c"}).task  # cap 2: this one waits
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: len(app.view.ids("running")) == 2)
        await until(pilot, lambda: "cap full: hold 2/2" in row_text(app.activity, f"t{waiting.id}"), what="why it waits")
        app.select_task(waiting.id)
        await pilot.press("c")
        await until(pilot, lambda: app.view.tasks[waiting.id].status == "cancelled")
        assert on_disk(home, waiting.id).status == "cancelled"
        assert "⊘ cancelled" in row_text(app.activity, f"t{waiting.id}")
        for g in "ab":
            gate(g).set()


async def test_cancel_running_shows_cancelling_until_confirmed(queue, home):
    t = queue.enqueue("hold", {"gate": "slow", "stubborn": "yes"}).task
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: app.view.tasks[t.id].status == "running")
        app.select_task(t.id)
        await pilot.press("c")
        await until(pilot, lambda: "cancelling…" in row_text(app.activity, f"t{t.id}"), what="cancelling shown")
        assert "cancelling…" in row_text(app.jobs, str(t.job_id))
        assert on_disk(home, t.id).cancel_requested is True
        assert app.check_action("cancel", ()) is None


async def test_cancel_then_complete_race_says_too_late(queue, home):
    t = queue.enqueue("hold", {"gate": "race", "stubborn": "yes"}).task
    app = LazyQueueApp(queue)
    heard = Heard()
    async with app.run_test(size=SIZE, notifications=True, message_hook=heard) as pilot:
        await until(pilot, lambda: app.view.tasks[t.id].status == "running")
        app.select_task(t.id)
        await pilot.press("c")
        await until(pilot, lambda: "cancelling…" in row_text(app.activity, f"t{t.id}"))
        gate("race").set()  # the handler finishes before it notices the cancel
        await until(pilot, lambda: app.view.tasks[t.id].status == "completed", what="completion")
        await until(pilot, lambda: any(TOO_LATE in m for m in toasts(app)), what="too-late toast")
        assert sum(TOO_LATE in m for m in heard.toasts) == 1
        assert "✓ completed" in row_text(app.activity, f"t{t.id}")
        assert on_disk(home, t.id).status == "completed"


async def test_delete_job_cancels_and_removes(queue, home):
    t = queue.enqueue("hold", {"gate": "del"}, title="doomed").task
    keep = queue.enqueue("quick", {}, title="keeper").task
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: app.view.tasks[t.id].status == "running")
        app.jobs.select_key(str(t.job_id))
        app.jobs.focus()
        await pilot.pause()
        assert app.selected_job_id() == t.job_id
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "cancelled first" in app.screen.question
        await pilot.press("y")
        await until(pilot, lambda: t.job_id not in app.view.jobs, what="job gone from view")
        assert not app.jobs.shown(str(t.job_id))
        assert app.jobs.shown(str(keep.job_id))
        assert t.job_id not in disk_jobs(home)
        assert keep.job_id in disk_jobs(home)


async def test_priority_up_and_down(queue, home):
    queue.enqueue("hold", {"gate": "p1"})
    queue.enqueue("hold", {"gate": "p2"})
    t = queue.enqueue("hold", {"gate": "p3"}).task
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: len(app.view.ids("running")) == 2)
        app.select_task(t.id)
        await pilot.press("plus")
        await until(pilot, lambda: "prio 6" in cell(app.activity, f"t{t.id}", "progress"))
        assert on_disk(home, t.id).priority == 6
        await pilot.press("minus", "minus")
        await until(pilot, lambda: "prio 4" in cell(app.activity, f"t{t.id}", "progress"))
        assert on_disk(home, t.id).priority == 4
        for g in ("p1", "p2", "p3"):
            gate(g).set()


async def test_pause_and_resume(queue, home):
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: queue.worker is not None)
        await pilot.press("p")
        await until(pilot, lambda: "Paused" in status(app), what="paused status")
        assert queue.worker.paused
        t = queue.enqueue("quick", {}).task
        await until(pilot, lambda: t.id in app.view.tasks)
        await until(pilot, lambda: "paused" in row_text(app.activity, f"t{t.id}"), what="why: paused")
        assert on_disk(home, t.id).status == "queued"
        await pilot.press("p")
        await until(pilot, lambda: app.view.tasks[t.id].status == "completed", what="runs after resume")
        assert "Paused" not in status(app)
        assert on_disk(home, t.id).status == "completed"


async def test_add_modal_and_dedupe(queue, home):
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: queue.worker is not None)
        await pilot.press("p")  # keep the task queued so its dedupe key stays active
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AddTaskScreen))
        screen = app.screen
        assert screen.kind_name == "shell"
        screen.query_one("#field-command").value = "echo hi"
        screen.query_one("#title").value = "say hi"
        screen.query_one("#dedupe").value = "hi-once"
        screen.query_one("#priority").value = "7"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, AddTaskScreen))
        first = max(app.view.tasks)
        task = on_disk(home, first)
        assert (task.kind, task.payload["command"], task.dedupe_key, task.priority) == ("shell", "echo hi", "hi-once", 7)
        assert app.view.jobs[task.job_id].title == "say hi"
        assert app.selection == ("task", first)
        # the same key again: nothing new, a toast, and the existing task selected
        app.select_task(first)
        app.jobs.focus()
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AddTaskScreen))
        app.screen.query_one("#field-command").value = "echo hi again"
        app.screen.query_one("#dedupe").value = "hi-once"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: any(f"already queued as t{first}" in m for m in toasts(app)))
        assert max(app.view.tasks) == first
        assert app.selection == ("task", first)


async def test_add_modal_requires_fields(queue):
    app = LazyQueueApp(queue, start_worker=False)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AddTaskScreen))
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, AddTaskScreen)
        assert "needs: command" in str(app.screen.query_one("#add-error").render())
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, AddTaskScreen))
        assert not app.view.tasks


async def _quit_with_running(home, choice: str):
    GATES.clear()
    q = open_queue(home)
    t = q.enqueue("hold", {"gate": f"quit-{choice}"}).task
    app = LazyQueueApp(q)
    try:
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await until(pilot, lambda: app.view.tasks[t.id].status == "running")
            await pilot.press("q")
            await until(pilot, lambda: isinstance(app.screen, QuitScreen))
            assert "1 running" in app.screen.question_text
            await pilot.press(choice[0])
            if choice == "wait":
                await until(pilot, lambda: "waiting for 1" in status(app))
                assert on_disk(home, t.id).status == "running"
                gate(f"quit-{choice}").set()
            await until(pilot, lambda: app.return_code is not None and q.worker is None, what="app exit")
    finally:
        gate(f"quit-{choice}").set()
        q.close()
    return t.id


async def test_quit_wait_lets_running_finish(home):
    tid = await _quit_with_running(home, "wait")
    assert on_disk(home, tid).status == "completed"


async def test_quit_requeue_puts_running_back(home):
    tid = await _quit_with_running(home, "requeue")
    task: Task = on_disk(home, tid)
    assert task.status == "queued"
    assert task.attempt == 0  # no attempt spent


async def test_quit_cancel_cancels_running(home):
    tid = await _quit_with_running(home, "cancel")
    assert on_disk(home, tid).status == "cancelled"


async def test_quit_without_running_exits_at_once(queue):
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: queue.worker is not None)
        await pilot.press("q")
        await until(pilot, lambda: queue.worker is None, what="worker stopped")
    assert app.return_code == 0


async def test_copy_task_id(queue):
    t = queue.enqueue("quick", {}).task
    app = LazyQueueApp(queue, start_worker=False)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.select_task(t.id)
        await pilot.press("y")
        assert app.clipboard == f"t{t.id}"
        await until(pilot, lambda: f"t{t.id} sent to the terminal's clipboard (OSC 52)" in toasts(app))


async def test_dismiss_failed(queue):
    t = queue.enqueue("fail_once", {"n": "x"}).task
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: app.view.tasks[t.id].status == "failed")
        app.select_task(t.id)
        await pilot.press("x")
        await until(pilot, lambda: not app.activity.shown(f"t{t.id}"))
        assert "failed" not in status(app)


async def test_log_screen_opens_with_enter_and_l(queue):
    t = queue.enqueue("hold", {"gate": "log"}).task
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: app.view.tasks[t.id].status == "running")
        from lazyqueue.tui.screens.log import LogScreen
        from textual.widgets import Log

        app.select_task(t.id)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LogScreen))
        await until(pilot, lambda: "holding on log" in "\n".join(app.screen.query_one(Log).lines), what="log text")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, LogScreen))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, LogScreen))
        gate("log").set()


async def test_filter_jobs(queue):
    queue.enqueue("quick", {}, title="alpha report")
    queue.enqueue("quick", {}, title="beta backup")
    app = LazyQueueApp(queue, start_worker=False)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        assert app.jobs.row_count == 2
        await pilot.press("slash")
        await pilot.press(*"beta")
        await until(pilot, lambda: app.jobs.row_count == 1)
        assert "beta backup" in row_text(app.jobs, "2")
        await pilot.press("escape")
        await until(pilot, lambda: app.jobs.row_count == 2)
