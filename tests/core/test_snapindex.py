"""tasks.idx: a snapshot's records are parsed when used, copied unread by a fold, and the index is only a cache."""

from __future__ import annotations

import json

from lazyqueue import Queue
from lazyqueue.core import snapindex
from lazyqueue.core.models import iso
from lazyqueue.core.taskfile import RetentionPolicy, TaskFile

from .helpers import add_task, loaded

HOUR = 3600


def folded(home, n: int = 40, finished: int = 0) -> None:
    """`n` tasks (every third delayed an hour, some with dedupe keys), `finished` completed ones, folded."""
    store = TaskFile(home, retention=RetentionPolicy(keep=10_000))
    later = iso(__import__("time").time() + HOUR)
    for i in range(n):
        add_task(store, payload={"n": i}, not_before=later if i % 3 == 0 else None,
                 dedupe_key=f"key-{i}" if i % 5 == 0 else None, priority=i % 4)
    for i in range(finished):
        add_task(store, status="completed", payload={"done": i}, result={"i": i})
    with store.lock:
        store.compact()
    store.close()


def records(store: TaskFile) -> dict:
    return {tid: t.to_dict() for tid, t in store.state.tasks.items()}


def indexes(store: TaskFile) -> tuple:
    s = store.state
    return (sorted(s.queued_ids), sorted(s.running_ids), sorted(s.ready_heap), sorted(s.due_heap),
            dict(s.queued_kinds), dict(s.active_jobs), dict(s.head.active_keys), s.head.next_task_id)


def test_a_fold_writes_an_index_and_a_load_parses_no_record_until_one_is_used(home):
    folded(home)
    assert (home / "tasks.idx").is_file()
    store = loaded(home)
    tasks = store.state.tasks
    assert isinstance(tasks, snapindex.Records) and len(tasks) == 40
    assert tasks._held == {}  # nothing parsed, yet the indexes are whole
    assert len(store.state.queued_ids) == 40 and len(store.state.due_heap) == 14
    assert store.state.head.active_keys["key-5"] == 6
    assert tasks.get(7).payload == {"n": 6} and list(tasks._held) == [7]
    assert 7 in tasks and 999 not in tasks and tasks.get(999) is None


def test_what_an_indexed_load_holds_is_what_a_whole_read_holds(home, tmp_path):
    folded(home, finished=5)
    lazy = loaded(home)
    lazy_indexes = indexes(lazy)  # before anything is parsed
    (home / "tasks.idx").unlink()
    whole = loaded(home)
    assert not isinstance(whole.state.tasks, snapindex.Records)
    assert lazy_indexes == indexes(whole)
    assert records(lazy) == records(whole)
    assert list(lazy.state.tasks) == list(whole.state.tasks)  # the same order: oldest first


def test_a_fold_copies_unread_records_byte_for_byte_and_writes_changed_ones_anew(home):
    folded(home)
    before = (home / "tasks.json").read_bytes()
    store = loaded(home)
    with store.lock:
        task = store.state.tasks[4]
        task.priority = 9
        store.compact(retention=False)
    after = (home / "tasks.json").read_bytes()
    old_lines, new_lines = before.split(b"\n")[1:], after.split(b"\n")[1:]
    changed = [i for i, (a, b) in enumerate(zip(old_lines, new_lines)) if a != b]
    assert len(old_lines) == len(new_lines) and len(changed) == 1
    assert json.loads(new_lines[changed[0]].rstrip(b","))["priority"] == 9
    assert len(store.state.tasks._held) == 1  # the fold read nothing else
    again = loaded(home)
    assert again.state.tasks[4].priority == 9 and records(again) == records(store)


def test_a_stale_or_damaged_index_costs_a_whole_read_and_nothing_else(home):
    folded(home)
    truth = records(loaded(home))
    index = home / "tasks.idx"
    kept = index.read_bytes()
    for bad in (b"{not json", kept[: len(kept) // 2], kept.replace(b'"crc":', b'"crc":1', 1)):
        index.write_bytes(bad)
        store = loaded(home)
        assert not isinstance(store.state.tasks, snapindex.Records) and records(store) == truth
    index.write_bytes(kept)
    snap = home / "tasks.json"
    data = snap.read_bytes()
    snap.write_bytes(data.replace(b'"n": 7}', b'"n": 8}'))  # same size, other bytes: the CRC tells
    store = loaded(home)
    assert not isinstance(store.state.tasks, snapindex.Records) and store.state.tasks[8].payload == {"n": 8}


def test_another_process_fold_is_read_through_its_index_and_only_changes_are_told(home):
    folded(home)
    watcher = loaded(home)
    told = []
    watcher.listen(lambda prior_t, prior_j: told.append(sorted(prior_t)))
    other = loaded(home)
    with other.lock:
        other.state.tasks[3].priority = 7
        other.compact(retention=False)  # a new snapshot: the watcher reads it again
    changed, _jobs = watcher.sync()
    assert changed == {3} and told == [[3]]
    assert isinstance(watcher.state.tasks, snapindex.Records) and watcher.state.tasks[3].priority == 7


def test_a_snapshot_overwritten_in_place_is_read_again(home):
    folded(home)
    store = loaded(home)
    with store.lock:
        store.sync()
    (home / "tasks.idx").unlink()
    snap = home / "tasks.json"
    snap.write_bytes(snap.read_bytes().replace(b'"n": 7}', b'"n": 70}'))  # an editor writing in place
    with store.lock:
        changed, _ = store.sync()
    assert 8 in changed and store.state.tasks[8].payload == {"n": 70}


def test_retention_judges_unread_records_and_archives_only_the_old(home):
    folded(home, n=5, finished=12)
    store = TaskFile(home, retention=RetentionPolicy(keep=4))
    store.load()
    with store.lock:
        archived = store.compact()
    assert archived == 8
    kept = [t for t in loaded(home).state.tasks.values() if t.status == "completed"]
    assert [t.payload["done"] for t in kept] == [8, 9, 10, 11]
    assert sorted(r["payload"]["done"] for r in store.read_archive() if r.get("type", "task") == "task"
                  and "done" in r.get("payload", {})) == list(range(8))


def test_a_worker_started_on_an_indexed_snapshot_runs_the_ready_task_and_leaves_the_delayed_unread(home):
    q = Queue(home, plugins=False)
    q.kind("work")(lambda ctx: None)
    delayed = [q.enqueue("work", {"n": i}, delay=HOUR)[0].id for i in range(30)]
    ready = q.enqueue("work", {"n": 99})[0].id
    with q.taskfile.lock:
        q.taskfile.compact(retention=False)
    q.close()
    q = Queue(home, plugins=False)
    try:
        q.kind("work")(lambda ctx: {"twice": ctx.payload["n"] * 2})
        assert q.taskfile.state.tasks._held == {}
        q.start_worker()
        done = q.wait([ready], timeout=20, poll=0.01)[0]
        assert done.status == "completed" and done.result == {"twice": 198}
        held = set(q.taskfile.state.tasks._held)
        # of the delayed ones only the earliest is parsed (the worker's next wake is its start time)
        assert ready in held and held & set(delayed) == {delayed[0]}
        assert [t.id for t in q.tasks(status="queued")] == delayed
    finally:
        q.stop_worker(grace=0.5)
        q.close()


def test_a_copied_state_dir_keeps_using_its_index_once_its_crc_matches(home, tmp_path):
    import shutil

    folded(home)
    copy = tmp_path / "copy"
    shutil.copytree(home, copy)  # another inode and other times: the index is checked by size and CRC-32
    store = loaded(copy)
    assert isinstance(store.state.tasks, snapindex.Records) and store.state.tasks._held == {}
    assert records(store) == records(loaded(home))


def test_a_damaged_column_costs_a_whole_read(home):
    folded(home)
    truth = records(loaded(home))
    index = home / "tasks.idx"
    raw = bytearray(index.read_bytes())
    raw[-3] ^= 0xFF  # a byte of the last column: its CRC-32 no longer matches
    index.write_bytes(bytes(raw))
    snapindex._last.clear()
    store = loaded(home)
    assert not isinstance(store.state.tasks, snapindex.Records) and records(store) == truth


def test_a_page_through_the_index_is_the_page_a_read_of_every_line_gives(home):
    from lazyqueue.core import reader
    from lazyqueue.core.state import Change

    folded(home, n=30, finished=6)
    store = loaded(home)
    add_task(store, status="running", payload={"late": 1})  # only in the journal
    with store.lock:
        store.sync()
        store.commit(Change(patches=[{"id": 5, "status": "running"}], del_tasks=[7]))
    store.close()
    with reader.View(home) as view:
        assert view.index() is not None
        for limit, status, kind, job in ((5, None, None, None), (100, "queued", None, None),
                                         (3, "running", None, None), (4, "completed", "k", None),
                                         (10, None, None, 3), (1, None, None, None), (2, None, "nope", None)):
            want = lambda rec: ((status is None or rec["status"] == status) and (kind is None or rec["kind"] == kind)
                                and (job is None or rec["job_id"] == job))
            assert view.page(limit, status, kind, job) == view.tail(limit, want), (limit, status, kind, job)


def test_the_columns_a_view_reads_are_the_records_with_the_journal_applied(home):
    from lazyqueue.core import reader
    from lazyqueue.core.state import Change

    folded(home, n=30, finished=6)
    for changes in (3, 80):  # a few changes, then more than a row-by-row pass is worth
        store = loaded(home)
        for i in range(changes):
            add_task(store, status="running", payload={"late": i}, priority=i % 4)
        with store.lock:
            store.sync()
            store.commit(Change(patches=[{"id": 5, "status": "running", "priority": 9}], del_tasks=[7]))
        truth = {tid: t for tid, t in store.state.tasks.items()}
        store.close()
        names = ("status", "priority", "kind", "not_before", "after")
        with reader.View(home) as view:
            cols = view.columns(names)
        assert list(cols["id"]) == sorted(truth)
        for name in names:
            want = [snapindex.light_of(truth[tid])[snapindex.LIGHT.index(name)] for tid in cols["id"]]
            assert list(cols[name]) == want, name
