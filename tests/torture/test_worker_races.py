"""Races inside one worker pass, driven deterministically with `tick()`."""

from __future__ import annotations

from lazyqueue.core.config import Config
from lazyqueue import Queue
from lazyqueue.core.worker import Worker

from tests.conftest import wait_until


def test_an_outcome_and_a_recovery_scan_in_one_pass_keep_the_task_completed(home):
    """A task finishing in the same pass as the orphan scan was taken for an orphan."""
    q = Queue(home, config=Config(concurrency=2))
    q.kind("noop", max_attempts=3)(lambda ctx: "done")
    worker = Worker(q.taskfile, q.events, q.registry, concurrency=2)
    q.worker = worker
    try:
        task, _ = q.enqueue("noop", {})
        worker.tick()  # claims and dispatches it
        wait_until(worker.outcomes_waiting, message="the handler's outcome")
        worker.tick(recover_now=True)  # the periodic orphan scan falls due in the same pass
        got = q.get(task.id)
        assert (got.status, got.error, got.attempt) == ("completed", None, 1)
        worker.tick()  # and it is never claimed again
        assert q.get(task.id).attempt == 1
    finally:
        worker.close()
        q.close()


def test_retrying_two_failed_tasks_with_one_dedupe_key_requeues_only_one(home):
    """retry() checked each task's key against the file, not against the tasks it had just re-queued."""
    from lazyqueue.core.errors import TaskError

    q = Queue(home, config=Config(concurrency=2))

    def fail(ctx):
        raise TaskError("no", error_kind="fatal")

    q.kind("flaky", max_attempts=1)(fail)
    worker = Worker(q.taskfile, q.events, q.registry, concurrency=2)
    q.worker = worker
    try:
        ids = []
        for _ in range(2):
            task, dup = q.enqueue("flaky", {}, dedupe_key="same")
            assert not dup
            ids.append(task.id)
            worker.tick()
            wait_until(worker.outcomes_waiting, message="the handler's outcome")
            worker.tick()
            assert q.get(task.id).status == "failed"
        answers = q.retry(ids)
        assert [a.deduplicated for a in answers] == [False, True]
        active = [t.id for t in q.tasks() if t.status in ("queued", "running")]
        assert active == [ids[0]], "two active tasks hold one dedupe key"
        again, dup = q.enqueue("flaky", {}, dedupe_key="same")
        assert dup and again.id == ids[0]
    finally:
        worker.close()
        q.close()


def test_a_chain_of_tasks_after_a_cancelled_one_all_fail_and_the_idle_worker_exits(cli_env, tmp_path):
    """A pass failed t2 (its dependency was cancelled) but judged t3 (after t2) before t2's failure
    was applied; nothing woke the worker again, so t3 stayed queued and `worker --exit-when-idle` never exited."""
    import json
    import subprocess
    import sys

    def lq(*args, timeout=60):
        return subprocess.run([sys.executable, "-m", "lazyqueue", *args], env=cli_env, capture_output=True,
                              text=True, timeout=timeout)

    first = json.loads(lq("add", "--json", "shell", "--delay", "3600", "--", "true").stdout)["id"]
    ids = [first]
    for _ in range(3):
        ids.append(json.loads(lq("add", "--json", "shell", "--after", str(ids[-1]), "--", "true").stdout)["id"])
    assert lq("cancel", str(first)).returncode == 0
    proc = lq("worker", "--exit-when-idle", "-q", timeout=30)
    assert proc.returncode == 0, proc.stderr
    tasks = {t["id"]: t for t in json.loads(lq("ls", "--json").stdout)}
    assert [tasks[i]["status"] for i in ids] == ["cancelled", "failed", "failed", "failed"]
    assert [tasks[i]["error"] for i in ids[1:]] == [f"dependency t{i} did not complete" for i in ids[:-1]]
