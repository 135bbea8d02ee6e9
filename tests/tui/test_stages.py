"""A job's stage moves to Done / Failed when its work ends, unless a handler set one."""

from __future__ import annotations

from lazyqueue import Queue
from lazyqueue.core.config import Config
from lazyqueue.tui.app import LazyQueueApp

from .conftest import cell, until

SIZE = (120, 36)


def disk_stage(home, jid: int) -> str:
    other = Queue(home, config=Config(), plugins=False)
    try:
        return other.job(jid).stage
    finally:
        other.taskfile.close()


async def test_stage_column_says_done_and_failed_when_work_ends(queue, home):
    @queue.kind("staged")
    def staged(ctx):
        ctx.set_stage("Published")
        return {}

    @queue.kind("staged_then_broken")
    def staged_then_broken(ctx):
        from lazyqueue import FatalError

        ctx.set_stage("Syncing")
        raise FatalError("the partner said no")

    ok = queue.enqueue("quick", {}, title="plain").task
    bad = queue.enqueue("fail_once", {"n": "s"}, title="breaks").task
    chosen = queue.enqueue("staged", {}, title="chooses").task
    broken = queue.enqueue("staged_then_broken", {}, title="says syncing, then breaks").task
    app = LazyQueueApp(queue)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: all(app.view.tasks[t.id].status in ("completed", "failed") for t in (ok, bad, chosen)))
        await until(pilot, lambda: cell(app.jobs, str(ok.job_id), "state").startswith("Done |"), what="Done shown")
        await until(pilot, lambda: cell(app.jobs, str(bad.job_id), "state").startswith("Failed |"), what="Failed shown")
        assert cell(app.jobs, str(chosen.job_id), "state").startswith("Published |")
        await until(pilot, lambda: cell(app.jobs, str(broken.job_id), "state").startswith("Failed |"),
                    what="a failure replaces the stage it reported while working")
    assert (disk_stage(home, ok.job_id), disk_stage(home, bad.job_id), disk_stage(home, chosen.job_id)) == \
        ("Done", "Failed", "Published")


def test_a_job_with_more_work_queued_keeps_its_stage(queue, home):
    from tests.conftest import wait_until

    first = queue.enqueue("quick", {}, title="two steps").task
    queue.enqueue("hold", {"gate": "later"}, job=first.job_id)
    queue.start_worker()
    try:
        wait_until(lambda: queue.get(first.id).status == "completed", message="the first step done")
        assert queue.job(first.job_id).stage == "Pending"  # the second step is still running
    finally:
        from .conftest import gate

        gate("later").set()
        wait_until(lambda: queue.job(first.job_id).stage == "Done", message="Done once the last step ends")
        queue.stop_worker(grace=0)
