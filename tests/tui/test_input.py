"""Input you can trust: what is typed goes where it is meant to, at full speed."""

from __future__ import annotations

from lazyqueue.tui.app import LazyQueueApp
from lazyqueue.tui.screens.add import AddTaskScreen
from lazyqueue.tui.screens.confirm import ConfirmScreen

from .conftest import disk_jobs, on_disk, until

SIZE = (120, 36)


def disk_tasks(home) -> list:
    from lazyqueue import Queue
    from lazyqueue.core.config import Config

    other = Queue(home, config=Config(), plugins=False)
    try:
        return other.tasks()
    finally:
        other.taskfile.close()


async def test_a_then_typing_at_once_queues_exactly_that_command(queue, home):
    app = LazyQueueApp(queue, start_worker=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", *"echo quick", "enter")  # no pause: keys arrive before the dialog is painted
        await until(pilot, lambda: not isinstance(app.screen, AddTaskScreen) and app.view.tasks, what="queued")
        [task] = disk_tasks(home)
        assert (task.kind, task.payload) == ("shell", {"command": "echo quick"})
        assert app.selection == ("task", task.id)


async def test_tab_moves_to_the_title_and_enter_queues_what_is_shown(queue, home):
    app = LazyQueueApp(queue, start_worker=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", *"echo hi", "tab", *"say hi", "enter")
        await until(pilot, lambda: app.view.tasks, what="queued")
        [task] = disk_tasks(home)
        assert task.payload == {"command": "echo hi"}
        assert app.view.jobs[task.job_id].title == "say hi"


async def test_keys_typed_while_the_dialog_opens_never_act_on_the_main_screen(queue, home):
    t = queue.enqueue("hold", {"gate": "typing"}).task
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.view.tasks[t.id].status == "running")
        app.select_task(t.id)
        await pilot.press("a", *"pcdqxR?")  # pause, cancel, delete, quit… if they reached the main screen
        await until(pilot, lambda: isinstance(app.screen, AddTaskScreen))
        assert app.screen.query_one("#field-command").value == "pcdqxR?"
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, AddTaskScreen))
        assert not queue.worker.paused and app.quitting is None
        assert on_disk(home, t.id).status == "running" and not on_disk(home, t.id).cancel_requested
        assert t.job_id in disk_jobs(home) and len(disk_tasks(home)) == 1


async def test_the_dialog_starts_in_the_command_field_and_its_buttons_show_at_80x24(queue):
    app = LazyQueueApp(queue, start_worker=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AddTaskScreen) and app.screen.ready)
        await pilot.pause()
        screen = app.screen
        assert screen.focused is screen.query_one("#field-command")
        whole = screen.region
        for button in ("#submit", "#cancel"):
            region = screen.query_one(button).region
            assert region.area and whole.contains_region(region), button
        assert "Queue it" in str(screen.query_one("#submit").label)
        bar = screen.query_one("KeyBar")
        assert "Cancel" in bar.text and "Add" not in bar.text  # the dialog's keys, not the main screen's


async def test_keys_after_a_confirmation_opens_answer_it_not_the_main_screen(queue, home):
    t = queue.enqueue("hold", {"gate": "confirm"}, title="doomed").task
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.view.tasks[t.id].status == "running")
        app.jobs.focus()
        await pilot.press("d", "p", "n")  # p while the question opens: not a pause
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert not queue.worker.paused
        assert t.job_id in disk_jobs(home)


async def test_the_filter_box_takes_letters_that_are_keys_elsewhere(queue):
    queue.enqueue("quick", {}, title="quarterly report")
    app = LazyQueueApp(queue, start_worker=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"quar")
        await until(pilot, lambda: app.filter_box.value == "quar")
        assert app.quitting is None and app.screen is app.main_screen
