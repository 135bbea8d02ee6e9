"""The local engine's change feed: other processes' transitions reach this process's subscribers,
and a process's own events go out only once its write is durable."""

from __future__ import annotations

import errno
import os
import subprocess

import pytest

from lazyqueue import Queue
from lazyqueue.core import events as ev
from lazyqueue.core.errors import StoreError
from lazyqueue.core.feed import JournalFeed
from tests.conftest import PYTHON, ROOT, wait_until


def told(heard: list, task_id: int) -> list[str]:
    return [e.type for e in list(heard) if e.task is not None and e.task.id == task_id]


def test_a_subscriber_hears_a_lazyqueue_worker_process_run_a_task(home, cli_env):
    q = Queue(home, plugins=False)
    heard: list = []
    try:
        q.subscribe(heard.append)
        # it runs a while: a worker that exits folds its journal, and a fold read after the fact
        # shows only how the task ended (the next test has a task start and end between two reads)
        task, _ = q.enqueue("shell", {"argv": ["sleep", "0.5"]})
        worker = subprocess.run([PYTHON, "-m", "lazyqueue", "worker", "--exit-when-idle", "--quiet"],
                                cwd=ROOT, env=cli_env, capture_output=True, text=True, timeout=60)
        assert worker.returncode == 0, worker.stderr
        wait_until(lambda: ev.TASK_COMPLETED in told(heard, task.id), 10, message="task-completed from the worker process")
    finally:
        q.close()
    assert told(heard, task.id) == [ev.TASK_QUEUED, ev.TASK_STARTED, ev.TASK_COMPLETED]
    started = next(e for e in heard if e.type == ev.TASK_STARTED and e.task.id == task.id)
    assert started.task.owner["pid"] != os.getpid()  # another process ran it
    completed = next(e for e in heard if e.type == ev.TASK_COMPLETED and e.task.id == task.id)
    assert completed.task.status == "completed" and completed.task.finished_at


def test_a_task_started_and_finished_between_two_reads_is_told_both_times(home):
    listener = Queue(home, plugins=False)
    other = Queue(home, plugins=False)  # its own task file and lock: to the listener, another process
    heard: list = []
    listener.events.subscribe(heard.append)
    feed = JournalFeed(listener.taskfile, listener.events, interval=3600).start()  # reads only when asked
    try:
        other.start_worker()
        task, _ = other.enqueue("shell", {"argv": ["true"]})
        other.wait([task.id], timeout=30)
        assert told(heard, task.id) == []
        listener.tasks()  # one read takes in every line the other process wrote
        wait_until(lambda: ev.TASK_COMPLETED in told(heard, task.id), 10, message="the feed's events")
    finally:
        feed.stop()
        other.close()
        listener.close()
    # the enqueue's own write claimed it for the other process's worker: on disk it was never
    # queued, so the line says it started; the next line says it completed
    assert told(heard, task.id) == [ev.TASK_STARTED, ev.TASK_COMPLETED]


def test_other_processes_priority_and_deletes_are_told(home):
    listener = Queue(home, plugins=False)
    other = Queue(home, plugins=False)
    heard: list = []
    try:
        listener.subscribe(heard.append)
        task, _ = other.enqueue("shell", {"argv": ["true"]}, title="kept apart")
        other.set_priority(task.id, 9)
        wait_until(lambda: len(told(heard, task.id)) >= 2, 10, message="queued and re-prioritised")
        other.delete_job(task.job_id)
        wait_until(lambda: any(e.data.get("deleted") for e in list(heard) if e.type == ev.JOB_UPDATED), 10,
                   message="the deleted job")
    finally:
        other.close()
        listener.close()
    kinds = told(heard, task.id)
    assert kinds[:2] == [ev.TASK_QUEUED, ev.TASK_UPDATED]
    assert next(e for e in heard if e.type == ev.TASK_UPDATED).task.priority == 9
    assert kinds[-1] == ev.TASK_UPDATED and heard[-1].job.id == task.job_id
    assert any(e.data.get("deleted") for e in heard if e.task is not None and e.task.id == task.id)


@pytest.mark.parametrize("failing", ["write", "fsync"])
def test_a_write_that_fails_publishes_nothing(home, monkeypatch, failing):
    q = Queue(home, plugins=False)
    heard: list = []
    try:
        q.subscribe(heard.append)
        kept, _ = q.enqueue("shell", {"argv": ["true"]})
        wait_until(lambda: told(heard, kept.id), 5, message="the first enqueue's event")

        def broken(*args):
            raise OSError(errno.EIO, "Input/output error")

        names = [failing, "fdatasync"] if failing == "fsync" and hasattr(os, "fdatasync") else [failing]  # the journal's sync
        real = {name: getattr(os, name) for name in names}
        for name in names:
            monkeypatch.setattr(os, name, broken)
        with pytest.raises(StoreError, match="^could not write"):
            q.enqueue("shell", {"argv": ["echo", "lost"]})
        with pytest.raises(StoreError, match="^could not write"):
            q.cancel(kept.id)
        for name, fn in real.items():
            monkeypatch.setattr(os, name, fn)
        after, _ = q.enqueue("shell", {"argv": ["echo", "after"]})
        wait_until(lambda: told(heard, after.id), 5, message="the event of the write that succeeded")
    finally:
        q.close()
    assert [(e.type, e.task.id) for e in heard if e.task is not None] == [
        (ev.TASK_QUEUED, kept.id), (ev.TASK_QUEUED, after.id)]
