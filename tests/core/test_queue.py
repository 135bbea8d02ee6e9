"""The queue facade: enqueue, dedupe, retry, cancel, priorities, and staying in step with other processes."""

from __future__ import annotations

import errno
import os

import pytest

from lazyqueue.core.errors import LazyQueueError, NotFound, StoreError, UsageError
from lazyqueue import Queue
from lazyqueue.core.queue import CANCEL_DONE, TaskSpec
from lazyqueue.core.taskfile import TaskFile
from tests.conftest import wait_until


@pytest.fixture
def q(home):
    queue = Queue(home, plugins=False)
    yield queue
    queue.close()


def disk(home) -> dict:
    store = TaskFile(home)
    store.load()
    return {t.id: t for t in store.state.tasks.values()}


def test_enqueue_is_durable_before_it_returns(home, q):
    task, dup = q.enqueue("shell", {"command": "echo hi"}, priority=8, title="greeting", meta={"from": "test"})
    assert not dup
    saved = disk(home)[task.id]
    assert saved.to_dict() == task.to_dict()
    assert saved.priority == 8 and saved.meta == {"from": "test"}
    job = q.job(task.job_id)
    assert job.title == "greeting" and job.stage == "Pending"


def test_dedupe_key_holds_across_processes_while_active(home, q):
    a, dup = q.enqueue("shell", {"command": "true"}, dedupe_key="nightly")
    assert not dup
    other = Queue(home, plugins=False, light=True)
    b, dup = other.enqueue("shell", {"command": "false"}, dedupe_key="nightly")
    assert dup and b.id == a.id
    other.close()
    assert q.cancel(a.id) == CANCEL_DONE
    other = Queue(home, plugins=False, light=True)
    c, dup = other.enqueue("shell", {"command": "true"}, dedupe_key="nightly")
    assert not dup and c.id == a.id + 1
    other.close()


def test_enqueue_many_is_one_write_and_dedupes_within_the_batch(home, q):
    out = q.enqueue_many([
        TaskSpec("shell", {"command": "a"}, dedupe_key="k"),
        TaskSpec("shell", {"command": "b"}, dedupe_key="k"),
        TaskSpec("shell", {"command": "c"}),
    ])
    assert [e.deduplicated for e in out] == [False, True, False]
    assert out[1].task.id == out[0].task.id
    assert len((home / "tasks.journal").read_bytes().splitlines()) == 1
    assert sorted(disk(home)) == [1, 2]


def test_enqueue_many_is_all_or_nothing(home, q):
    with pytest.raises(UsageError):
        q.enqueue_many([TaskSpec("shell", {"command": "a"}), TaskSpec("shell", {})])
    assert disk(home) == {}
    task = q.enqueue("shell", {"command": "a"}).task
    assert list(disk(home)) == [task.id]


@pytest.mark.parametrize(
    "options,text",
    [
        ({"priority": 0}, "priority"),
        ({"priority": 11}, "priority"),
        ({"max_attempts": 0}, "max attempts"),
        ({"timeout": -1}, "timeout"),
        ({"delay": "soon"}, "delay"),
        ({"after": ["t1"]}, "--after"),
    ],
)
def test_bad_enqueue_options_are_usage_errors(q, options, text):
    with pytest.raises(UsageError, match=text):
        q.enqueue("shell", {"command": "true"}, **options)


def test_unknown_dependency_and_job_are_not_found(q):
    with pytest.raises(NotFound, match="t9"):
        q.enqueue("shell", {"command": "true"}, after=[9])
    with pytest.raises(NotFound, match="#009"):
        q.enqueue("shell", {"command": "true"}, job=9)


def test_retry_gives_a_fresh_attempt_budget(home, q):
    t, _ = q.enqueue("shell", {"command": "true"})
    q.cancel(t.id)
    [again] = q.retry([t.id])
    assert not again.deduplicated
    task = disk(home)[t.id]
    assert task.status == "queued" and task.attempt == 0 and task.error is None
    assert task.meta["last_error"] == "cancelled"
    with pytest.raises(LazyQueueError, match="queued; nothing to retry"):
        q.retry([t.id])
    with pytest.raises(NotFound):
        q.retry([99])


def test_set_priority_only_for_queued_tasks(home, q):
    t, _ = q.enqueue("shell", {"command": "true"})
    q.set_priority(t.id, 9)
    assert disk(home)[t.id].priority == 9
    q.cancel(t.id)
    with pytest.raises(LazyQueueError):
        q.set_priority(t.id, 3)


def test_delete_job_archives_its_tasks(home, q):
    t, _ = q.enqueue("shell", {"command": "true"})
    assert q.delete_job(t.job_id) == 1
    assert disk(home) == {}
    assert q.get(t.id).status == "cancelled"  # the archive remembers it
    with pytest.raises(NotFound):
        q.job(t.job_id)


def test_a_change_made_beside_a_running_worker_is_not_lost(home, q, monkeypatch):
    """Another process writes between two worker passes; a cancel right then must still hold."""
    worker = q.start_worker()
    worker.pause()
    t1, _ = q.enqueue("shell", {"command": "true"})
    with q.taskfile.lock:  # let any pass in flight finish, then freeze the loop
        monkeypatch.setattr(worker, "tick", lambda: None)
    other = Queue(home, plugins=False, light=True)
    t2, _ = other.enqueue("shell", {"command": "true"})
    other.close()
    assert q.cancel(t1.id) == CANCEL_DONE
    assert [t.id for t in q.tasks()] == [t1.id, t2.id]
    saved = disk(home)
    assert saved[t1.id].status == "cancelled"
    assert saved[t2.id].status == "queued"
    monkeypatch.undo()


def test_disk_full_leaves_memory_as_the_file_says(home, q, monkeypatch):
    t, _ = q.enqueue("shell", {"command": "true"})

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(StoreError, match="^disk full"):
        q.cancel(t.id)
    with pytest.raises(StoreError, match="^disk full"):
        q.enqueue("shell", {"command": "true"}, dedupe_key="k")
    monkeypatch.undo()
    assert disk(home)[t.id].status == "queued"
    assert q.get(t.id).status == "queued"
    assert [x.id for x in q.tasks()] == [t.id]
    again, dup = q.enqueue("shell", {"command": "true"}, dedupe_key="k")
    assert not dup
    assert q.cancel(t.id) == CANCEL_DONE
    wait_until(lambda: disk(home)[t.id].status == "cancelled", 2, message="cancel on disk")


def test_a_light_enqueue_on_a_damaged_file_then_a_full_load(home, q):
    for _ in range(3):
        q.enqueue("shell", {"command": "true"})
    q.prune()  # everything in the snapshot now
    raw = (home / "tasks.json").read_bytes()
    damaged = raw[: raw.rfind(b'{"id": 3')]  # t3 torn off
    (home / "tasks.json").write_bytes(damaged)
    light = Queue(home, plugins=False, light=True)
    t4, _ = light.enqueue("shell", {"command": "true"})  # the header line is all `add` reads
    light.close()
    assert t4.id == 4
    full = Queue(home, plugins=False)
    assert len(full.warnings) == 1 and "moved it to" in full.warnings[0]
    assert [t.id for t in full.tasks()] == [1, 2, 4]
    t5, _ = full.enqueue("shell", {"command": "true"})
    full.close()
    assert t5.id == 5
    assert sorted(disk(home)) == [1, 2, 4, 5]
    [aside] = home.glob("tasks.json.corrupt-*")
    assert aside.read_bytes() == damaged
    again = Queue(home, plugins=False)
    assert again.warnings == []
    again.close()


def test_concurrent_enqueues_from_several_processes_lose_nothing(home, q):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = (
        "import sys\n"
        "from lazyqueue import Queue\n"
        "q = Queue(sys.argv[1], plugins=False, light=True)\n"
        "for i in range(40):\n"
        "    q.enqueue('shell', {'command': f'echo {sys.argv[2]}-{i}'}, dedupe_key=f'{sys.argv[2]}-{i % 30}')\n"
        "    if i % 10 == 0:\n"
        "        with q.taskfile.lock:\n"
        "            q.taskfile.load(); q.taskfile.compact()\n"
    )
    env = dict(os.environ, PYTHONPATH=str(root))
    procs = [subprocess.Popen([sys.executable, "-c", code, str(home), name], env=env, stderr=subprocess.PIPE)
             for name in ("a", "b", "c")]
    for p in procs:
        assert p.wait(timeout=60) == 0, p.stderr.read().decode()
    tasks = q.tasks()
    assert len(tasks) == 90  # 30 distinct keys per process; the other 10 adds were duplicates
    assert len({t.id for t in tasks}) == 90
    assert sorted(t.dedupe_key for t in tasks) == sorted(f"{n}-{i}" for n in "abc" for i in range(30))
    again = TaskFile(home)
    with again.lock:
        head = again.head()
    assert head.next_task_id == max(t.id for t in tasks) + 1
    assert len(head.active_keys) == 90


@pytest.mark.parametrize("priority", [True, 5.5, "7"])
def test_a_priority_that_is_not_a_whole_number_is_refused(home, q, priority):
    with pytest.raises(UsageError):
        q.enqueue("shell", {"command": "true"}, priority=priority)
    t, _ = q.enqueue("shell", {"command": "true"})
    with pytest.raises(UsageError):
        q.set_priority(t.id, priority)
    assert q.get(t.id).priority == 5
    reader = TaskFile(home)
    reader.load()
    assert reader.warnings == [] and list(reader.state.tasks) == [t.id]


@pytest.mark.parametrize("options", [
    {"max_attempts": True},
    {"timeout": True},
    {"timeout": float("nan")},
    {"delay": float("inf")},
    {"delay": 1e300},
    {"expires": float("nan")},
])
def test_odd_numbers_are_usage_errors_not_broken_records(home, q, options):
    with pytest.raises(UsageError):
        q.enqueue("shell", {"command": "true"}, **options)
    reader = TaskFile(home)
    reader.load()
    assert reader.warnings == [] and reader.state.tasks == {}


@pytest.mark.parametrize("options", [{"label": 5}, {"dedupe_key": 7}, {"title": ["x"]}, {"meta": "x"}])
def test_fields_of_the_wrong_type_are_usage_errors_not_broken_records(home, q, options):
    with pytest.raises(UsageError):
        q.enqueue("shell", {"command": "true"}, **options)
    reader = TaskFile(home)
    reader.load()
    assert reader.warnings == [] and reader.state.tasks == {} and reader.state.jobs == {}


def test_a_light_queue_tells_the_same_waits_reading_only_active_tasks(home):
    from lazyqueue.core.config import Config
    from lazyqueue.core.models import iso
    from tests.core.helpers import add_task

    store = TaskFile(home)
    store.load()
    done = add_task(store, kind="shell", status="completed")  # t1
    failed = add_task(store, kind="shell", status="failed")  # t2
    add_task(store, kind="shell", status="running")  # t3: one slot of two
    ids = [
        add_task(store, kind="shell", after=[done.id]).id,  # ready: next up
        add_task(store, kind="shell", after=[failed.id]).id,  # its dependency did not complete
        add_task(store, kind="shell", not_before=iso(9e9)).id,  # starts later
        add_task(store, kind="shell", not_before=iso(9e9), attempt=1).id,  # retry later
        add_task(store, kind="shell").id,  # ready too
    ]
    ids.append(add_task(store, kind="shell", after=[ids[-1]]).id)  # waiting on a queued task
    with store.lock:
        store.compact(retention=False)
    add_task(store, kind="shell", status="running")  # a journal line past the snapshot: 2 of 2 slots busy
    full = Queue(home, config=Config(concurrency=2))
    light = Queue(home, config=Config(concurrency=2), light=True)
    now = 1e9
    assert [light.why_waiting(i, now=now) for i in ids] == [full.why_waiting(i, now=now) for i in ids]
    assert [light.position(i) for i in ids] == [full.position(i) for i in ids]
    assert [t.id for t in light.tasks(status="queued")] == ids
    assert not light.taskfile.loaded  # only the queued and running records were read
    assert full.why_waiting(ids[1], now=now) == "dependency t2 did not complete"
    assert full.why_waiting(ids[0], now=now) == "all 2 slots busy"
