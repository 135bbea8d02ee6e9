"""Scheduling rules: order, delays, dependencies, caps, why a task waits."""

from __future__ import annotations

import time

from lazyqueue.core.models import iso
from lazyqueue.core.scheduling import Caps, due_scan, plan_claims, queue_position, wait_reason
from lazyqueue.core.taskfile import Change, TaskFile
from tests.core.helpers import add_task


def store_for(home) -> TaskFile:
    store = TaskFile(home)
    store.load()
    return store


def caps(total=10, exempt=(), **per_kind):
    kinds = {"a": None, "b": None, "k": None, **per_kind}
    return Caps(total=total, per_kind=kinds, exempt=frozenset(exempt))


def ids(plan):
    return [t.id for t in plan.start]


def test_priority_first_then_fifo(home):
    s = store_for(home)
    add_task(s, priority=5)  # t1
    add_task(s, priority=9)  # t2
    add_task(s, priority=5)  # t3
    add_task(s, priority=1)  # t4
    add_task(s, priority=9)  # t5
    assert ids(plan_claims(s.state, caps(), iso())) == [2, 5, 1, 3, 4]
    assert [queue_position(s.state, s.state.tasks[i]) for i in (2, 5, 1, 3, 4)] == [1, 2, 3, 4, 5]


def test_limit_and_global_cap_take_the_first_in_order(home):
    s = store_for(home)
    for p in (3, 8, 5):
        add_task(s, priority=p)
    assert ids(plan_claims(s.state, caps(total=2), iso())) == [2, 3]
    s2 = store_for(home)
    assert ids(plan_claims(s2.state, caps(), iso(), limit=1)) == [2]


def test_a_task_not_before_the_future_is_skipped(home):
    s = store_for(home)
    now = time.time()
    add_task(s, not_before=iso(now + 60), priority=9)
    add_task(s, not_before=iso(now - 1))
    assert ids(plan_claims(s.state, caps(), iso(now))) == [2]
    assert ids(plan_claims(s.state, caps(), iso(now + 61))) == [1]


def test_delayed_tasks_start_in_priority_order_once_due(home):
    s = store_for(home)
    now = time.time()
    for i in range(200):
        add_task(s, not_before=iso(now + 60 + i))  # t1..t200, due one a second from a minute on
    add_task(s, not_before=iso(now + 30), priority=2)  # t201
    add_task(s, not_before=iso(now + 30), priority=9)  # t202
    add_task(s)  # t203: ready now
    assert ids(plan_claims(s.state, caps(total=5), iso(now))) == [203]
    assert ids(plan_claims(store_for(home).state, caps(total=1), iso(now + 31))) == [202]
    assert ids(plan_claims(store_for(home).state, caps(total=6), iso(now + 62))) == [202, 1, 2, 3, 203, 201]  # priority, then id


def test_a_new_start_time_replaces_the_old_one(home):
    s = store_for(home)
    now = time.time()
    task = add_task(s, not_before=iso(now + 10))
    later = task.copy()
    later.not_before = iso(now + 100)  # a retry back-off, an edit
    with s.lock:
        s.sync()
        s.commit(Change(tasks=[later]))
    assert ids(plan_claims(s.state, caps(), iso(now + 11))) == []
    assert due_scan(s.state, iso(now + 11)) == ([], iso(now + 100))
    assert ids(plan_claims(s.state, caps(), iso(now + 101))) == [1]


def test_a_removed_delayed_task_is_never_due(home):
    s = store_for(home)
    now = time.time()
    add_task(s, not_before=iso(now + 10), expires_at=iso(now + 20))
    add_task(s, not_before=iso(now + 30))
    with s.lock:
        s.sync()
        s.commit(Change(del_tasks=[1]))
    assert due_scan(s.state, iso(now)) == ([], iso(now + 30))
    assert due_scan(s.state, iso(now + 25))[0] == []
    assert ids(plan_claims(s.state, caps(), iso(now + 31))) == [2]


def test_an_exempt_kind_queued_behind_a_full_cap_still_starts(home):
    s = store_for(home)
    add_task(s, kind="a", status="running")
    for _ in range(50):
        add_task(s, kind="a")
    add_task(s, kind="track", priority=1)  # t52, last in run order
    plan = plan_claims(s.state, caps(total=1, exempt=("track",), track=None), iso())
    assert ids(plan) == [52]


def test_after_waits_until_the_dependency_completes(home):
    s = store_for(home)
    dep = add_task(s)
    add_task(s, after=[dep.id], priority=9)
    assert ids(plan_claims(s.state, caps(), iso())) == [1]
    s.state.tasks[1].status = "running"
    s.state.reindex(s.state.tasks[1])
    assert ids(plan_claims(s.state, caps(), iso())) == []
    s.state.tasks[1].status = "completed"
    s.state.reindex(s.state.tasks[1])
    assert ids(plan_claims(s.state, caps(), iso())) == [2]


def test_a_failed_dependency_fails_the_dependent(home):
    s = store_for(home)
    add_task(s, status="failed")
    add_task(s, status="cancelled")
    add_task(s, after=[1])
    add_task(s, after=[2])
    plan = plan_claims(s.state, caps(), iso())
    assert ids(plan) == []
    assert [(t.id, why) for t, why in plan.dependency_failed] == [
        (3, "dependency t1 did not complete"),
        (4, "dependency t2 did not complete"),
    ]


def test_per_kind_cap_counts_running_tasks_in_the_file(home):
    s = store_for(home)
    add_task(s, kind="a", status="running")  # run by anyone: another process counts too
    add_task(s, kind="a")
    add_task(s, kind="b")
    add_task(s, kind="a")
    plan = plan_claims(s.state, caps(a=1), iso())
    assert ids(plan) == [3]
    plan = plan_claims(store_for(home).state, caps(a=2), iso())
    assert ids(plan) == [2, 3]


def test_global_cap_counts_running_tasks_in_the_file(home):
    s = store_for(home)
    add_task(s, status="running")
    add_task(s, status="running")
    add_task(s)
    assert ids(plan_claims(s.state, caps(total=2), iso())) == []
    assert ids(plan_claims(store_for(home).state, caps(total=3), iso())) == [3]


def test_exempt_kinds_are_not_held_to_the_global_cap(home):
    s = store_for(home)
    add_task(s, kind="a", status="running")
    add_task(s, kind="track", status="running")
    add_task(s, kind="track")
    add_task(s, kind="a")
    add_task(s, kind="track")
    c = caps(total=1, exempt=("track",), track=None)
    plan = plan_claims(s.state, c, iso())
    assert ids(plan) == [3, 5]  # t4 waits for the one global slot
    # an exempt kind is still held to its own cap
    plan = plan_claims(store_for(home).state, caps(total=1, exempt=("track",), track=2), iso())
    assert ids(plan) == [3]


def test_kinds_without_a_handler_here_are_left_alone(home):
    s = store_for(home)
    add_task(s, kind="elsewhere")
    add_task(s, kind="a")
    assert ids(plan_claims(s.state, caps(), iso())) == [2]


def test_due_scan_finds_expired_tasks_and_the_next_due_time(home):
    s = store_for(home)
    now = time.time()
    add_task(s, expires_at=iso(now - 1))
    add_task(s, not_before=iso(now + 30))
    add_task(s, expires_at=iso(now + 20))
    expired, next_due = due_scan(s.state, iso(now))
    assert [t.id for t in expired] == [1]
    assert next_due == iso(now + 20)
    assert ids(plan_claims(s.state, caps(), iso(now))) == [3]


def test_wait_reasons(home):
    s = store_for(home)
    now = time.time()
    add_task(s, kind="k", status="running")  # t1
    add_task(s, kind="k")  # t2: cap full
    add_task(s, kind="a", after=[3 + 1])  # t3 waits on t4
    add_task(s, kind="a")  # t4
    add_task(s, kind="a", not_before=iso(now + 90), attempt=1)  # t5 retry back-off
    add_task(s, kind="a", not_before=iso(now + 3600))  # t6 delayed
    add_task(s, kind="a", status="failed")  # t7
    add_task(s, kind="a", after=[7])  # t8
    c = caps(k=1)
    assert wait_reason(s.state, s.state.tasks[2], c, now=now) == "cap full: k 1/1"
    assert wait_reason(s.state, s.state.tasks[3], c, now=now) == "waiting on t4"
    assert wait_reason(s.state, s.state.tasks[5], c, now=now) == "retry in 1 min 30 s"
    assert wait_reason(s.state, s.state.tasks[6], c, now=now, clock_fmt=lambda ts: "CLOCK") == "starts at CLOCK"
    assert wait_reason(s.state, s.state.tasks[6], c, now=now).startswith("starts at ")
    assert wait_reason(s.state, s.state.tasks[8], c, now=now) == "dependency t7 did not complete"
    assert wait_reason(s.state, s.state.tasks[4], c, paused=True, now=now) == "paused"
    assert wait_reason(s.state, s.state.tasks[4], c, now=now) == "next up"
    assert wait_reason(s.state, s.state.tasks[4], caps(total=1), now=now) == "all 1 slots busy"
    assert wait_reason(s.state, s.state.tasks[1], c, now=now) == ""  # running: not waiting


def test_retry_in_short_forms(home):
    s = store_for(home)
    now = time.time()
    add_task(s, not_before=iso(now + 4.2), attempt=2)
    assert wait_reason(s.state, s.state.tasks[1], caps(), now=now) == "retry in 4 s"


def test_a_stale_heap_entry_is_not_started_twice(home):
    s = store_for(home)
    add_task(s, priority=5)
    s.state.tasks[1].priority = 9  # re-prioritised: a second entry goes on the heap
    s.state.reindex(s.state.tasks[1])
    assert ids(plan_claims(s.state, caps(), iso())) == [1]


def test_dependencies_moved_to_the_archive_still_count(home):
    from lazyqueue.core.taskfile import RetentionPolicy

    s = TaskFile(home, RetentionPolicy(keep=0, max_age_days=36500))
    s.load()
    add_task(s, status="completed")
    add_task(s, status="failed")
    with s.lock:
        assert s.compact() == 2
    assert sorted(s.state.tasks) == []
    add_task(s, after=[1])
    add_task(s, after=[2])
    add_task(s, after=[99])  # never existed
    plan = plan_claims(s.state, caps(), iso(), archived=s.archived_task)
    assert ids(plan) == [3]
    assert [(t.id, why) for t, why in plan.dependency_failed] == [
        (4, "dependency t2 did not complete"),
        (5, "dependency t99 did not complete"),
    ]
