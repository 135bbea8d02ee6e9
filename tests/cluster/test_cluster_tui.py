"""The TUI opens on the cluster engine unchanged and follows work other processes run."""

from __future__ import annotations

import time


async def until(pilot, predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def test_the_tui_shows_tasks_that_worker_processes_elsewhere_run(cluster, tmp_path):
    from lazyqueue.tui.app import LazyQueueApp

    before = cluster.add("shell", "--title", "queued before", "--", "echo", "early")
    app = LazyQueueApp(cluster.q, start_worker=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: before["id"] in app.view.tasks, what="the queued task on screen")
        assert app.view.tasks[before["id"]].status == "queued"
        later = cluster.add("shell", "--title", "added elsewhere", "--", "sh", "-c", "echo late; sleep 0.5",
                            host="laptop")
        await until(pilot, lambda: later["id"] in app.view.tasks, what="a task added by another process")
        cluster.worker("gpu-box")
        await until(pilot, lambda: all(app.view.tasks[t["id"]].status == "completed" for t in (before, later)),
                    what="both tasks completed by the worker process")
        await until(pilot, lambda: app.view.workers_note == "1 worker on 1 host", what="the worker in the status line")
        from lazyqueue.tui.widgets.status_line import status_words

        assert "1 worker on 1 host" in status_words(app.view, worker_running=False, width=200)
        # on the cluster engine Activity says which host runs each task
        assert "Host" in [label for _, label, _ in app.activity.columns()]
        done = app.view.tasks[later["id"]]
        assert done.attempt == 1 and done.finished_at
        assert any(j.title == "added elsewhere" for j in app.view.jobs.values())
        # the log the TUI's detail pane and log view read: the worker's output, from the database
        assert app.queue.log_path(later["id"]).read_text().splitlines()[-1] == "late"
