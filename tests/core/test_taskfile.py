"""The task file: journal, snapshot, header, damage, versions, modes, retention, disk full."""

from __future__ import annotations

import errno
import json
import os
import stat

import pytest

from lazyqueue.core.errors import StoreError
from lazyqueue.core.models import Task, iso
from lazyqueue.core.taskfile import Change, RetentionPolicy, TaskFile, journal_entries
from tests.core.helpers import add_task, loaded, snapshot_json


def test_commit_is_seen_by_a_new_store_through_the_journal(home):
    store = TaskFile(home)
    t1 = add_task(store, payload={"a": 1}, dedupe_key="key-1")
    t2 = add_task(store)
    assert not (home / "tasks.json").exists()
    lines = journal_entries(home / "tasks.journal")
    assert len(lines) == 2 and all(line["tasks"] for line in lines)
    other = loaded(home)
    assert sorted(other.state.tasks) == [t1.id, t2.id] == [1, 2]
    assert other.state.tasks[1].payload == {"a": 1}
    assert other.state.head.active_keys == {"key-1": 1}
    assert other.state.head.next_task_id == 3


def test_compact_folds_the_journal_into_the_snapshot(home):
    store = loaded(home)
    add_task(store, dedupe_key="a")
    add_task(store, status="completed", dedupe_key="b")
    with store.lock:
        store.compact()
    assert os.path.getsize(home / "tasks.journal") == 0
    data = snapshot_json(home)
    assert data["version"] == 1
    assert [t["id"] for t in data["tasks"]] == [1, 2]
    assert data["next_task_id"] == 3
    assert data["active_keys"] == {"a": 1}  # a finished task's key is free
    again = loaded(home)
    assert {t.id: t.status for t in again.state.tasks.values()} == {1: "queued", 2: "completed"}


def test_sync_sees_another_stores_change(home):
    a, b = loaded(home), loaded(home)
    add_task(a)
    with b.lock:
        changed, _ = b.sync()
    assert changed == {1}
    assert 1 in b.state.tasks
    with a.lock:
        a.compact()
    add_task(a)
    with b.lock:
        changed, _ = b.sync()
    assert 2 in changed and sorted(b.state.tasks) == [1, 2]


def test_snapshot_first_line_alone_gives_the_head(home):
    store = loaded(home)
    for i in range(5):
        add_task(store, dedupe_key=f"key-{i}", status="completed" if i % 2 else "queued")
    with store.lock:
        store.compact()
    add_task(store, dedupe_key="after-snapshot")  # in the journal only
    full = loaded(home)
    light = TaskFile(home)
    with light.lock:
        head = light.head()
    assert not light.loaded
    assert head.next_task_id == full.state.head.next_task_id == 7
    assert head.next_job_id == full.state.head.next_job_id
    assert head.active_keys == full.state.head.active_keys == {"key-0": 1, "key-2": 3, "key-4": 5, "after-snapshot": 6}

    # only the first line is read: the records after it do not matter to head()
    raw = (home / "tasks.json").read_bytes()
    first = raw.split(b"\n", 1)[0]
    header = json.loads(first.decode().rstrip(",") + "}")
    assert header["version"] == 1 and header["next_task_id"] == 6
    (home / "tasks.json").write_bytes(first + b"\nthis is not read by head()\n")
    light2 = TaskFile(home)
    with light2.lock:
        head2 = light2.head()
    assert head2.next_task_id == 7
    assert head2.active_keys == head.active_keys


def test_torn_journal_tail_is_ignored_and_cut_before_the_next_append(home):
    store = TaskFile(home)
    add_task(store)
    with open(home / "tasks.journal", "ab") as fh:
        fh.write(b'{"seq": 2, "tasks": [{"id": 2, "kind"')  # a writer died mid-line
    reader = loaded(home)
    assert sorted(reader.state.tasks) == [1]
    assert reader.warnings == []
    add_task(reader)
    assert (home / "tasks.journal").read_bytes().endswith(b"\n")
    assert len(journal_entries(home / "tasks.journal")) == 2
    assert sorted(loaded(home).state.tasks) == [1, 2]


def test_damaged_mid_journal_line_is_skipped_with_a_warning_and_a_copy(home):
    store = TaskFile(home)
    add_task(store)
    with open(home / "tasks.journal", "ab") as fh:
        fh.write(b"\x00\x01 garbage not json\n")
    add_task(store)
    reader = loaded(home)
    assert sorted(reader.state.tasks) == [1, 2]
    assert len(reader.warnings) == 1
    warning = reader.warnings[0]
    assert "damaged" in warning and str(home / "tasks.journal") in warning
    copies = list(home.glob("tasks.journal.damaged-*"))
    assert len(copies) == 1 and b"garbage not json" in copies[0].read_bytes()
    assert (home / "tasks.journal").exists()  # the live journal stays in use
    assert str(copies[0]) in warning


def test_a_damaged_journal_line_is_folded_away_by_the_next_full_write(home):
    store = TaskFile(home)
    add_task(store)
    with open(home / "tasks.journal", "ab") as fh:
        fh.write(b"garbage not json\n")
    writer = loaded(home)
    assert len(writer.warnings) == 1
    add_task(writer)  # a loaded store's next write folds the journal into the snapshot
    assert b"garbage" not in (home / "tasks.journal").read_bytes()
    again = loaded(home)
    assert again.warnings == []  # told once, not on every load
    assert sorted(again.state.tasks) == [1, 2]
    assert len(list(home.glob("tasks.journal.damaged-*"))) == 1  # the copy stays


def _write_snapshot_then(home, mangle):
    store = loaded(home)
    add_task(store, dedupe_key="k1")
    add_task(store, status="completed")
    add_task(store)
    with store.lock:
        store.compact()
    add_task(store)  # t4, in the journal only
    raw = (home / "tasks.json").read_bytes()
    bad = mangle(raw)
    (home / "tasks.json").write_bytes(bad)
    return bad


@pytest.mark.parametrize(
    "name,mangle,recoverable",
    [
        ("garbage", lambda raw: b"\x89PNG not json at all \xff\xfe", {4}),
        ("truncated", lambda raw: raw[: raw.rfind(b'{"id": 3')], {1, 2, 4}),
        ("list", lambda raw: b"[1, 2, 3]\n", {4}),
        ("wrong-type", lambda raw: raw.replace(b'"attempt": 0', b'"attempt": "zero"', 1), {2, 3, 4}),
    ],
)
def test_corrupt_snapshot_is_moved_aside_and_what_can_be_is_recovered(home, name, mangle, recoverable):
    bad = _write_snapshot_then(home, mangle)
    store = loaded(home)
    aside = list(home.glob("tasks.json.corrupt-*"))
    assert len(aside) == 1, name
    assert aside[0].read_bytes() == bad
    assert len(store.warnings) == 1
    warning = store.warnings[0]
    assert "\n" not in warning and str(aside[0]) in warning
    assert set(store.state.tasks) == recoverable
    # ids never go backwards, even for records that could not be read
    assert store.state.head.next_task_id >= 5
    new = add_task(store)
    assert new.id >= 5


def test_corrupt_snapshot_is_never_overwritten_by_the_queue(home):
    from lazyqueue import Queue

    bad = _write_snapshot_then(home, lambda raw: raw[:-60])
    q = Queue(home, plugins=False)
    assert any("moved it to" in w for w in q.warnings)
    task, _ = q.enqueue("shell", {"command": "true"})
    assert task.id >= 5
    aside = list(home.glob("tasks.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == bad
    q.close()


def test_future_version_is_moved_aside_never_overwritten(home):
    store = loaded(home)
    add_task(store)
    add_task(store)
    with store.lock:
        store.compact()
    data = snapshot_json(home)
    data["version"] = 99
    raw = json.dumps(data).encode()
    (home / "tasks.json").write_bytes(raw)
    reader = loaded(home)
    aside = list(home.glob("tasks.json.unknown-version-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == raw
    assert len(reader.warnings) == 1 and "99" in reader.warnings[0] and str(aside[0]) in reader.warnings[0]
    assert reader.state.tasks == {}
    assert add_task(reader).id == 3  # ids keep climbing past the file set aside
    assert aside[0].read_bytes() == raw
    with reader.lock:
        reader.compact()
    assert aside[0].read_bytes() == raw


def test_files_are_private(home):
    store = TaskFile(home)
    add_task(store)
    with store.lock:
        store.load()
        store.compact()
    add_task(store)
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    for name in ("tasks.json", "tasks.journal", "tasks.lock"):
        assert stat.S_IMODE(os.stat(home / name).st_mode) == 0o600, name


def test_retention_archives_the_oldest_finished_tasks(home):
    store = TaskFile(home, RetentionPolicy(keep=2, max_age_days=36500))
    store.load()
    base = 1_700_000_000.0
    done = [add_task(store, status="completed", stamp=iso(base + i)) for i in range(5)]  # t1..t5
    waited = add_task(store, status="completed", stamp=iso(base - 100))  # t6, oldest of all
    waiting = add_task(store, after=[waited.id])  # t7 waits on t6
    running = add_task(store, status="running")  # t8
    with store.lock:
        archived = store.compact()
    assert archived == 3
    live = loaded(home)
    assert sorted(live.state.tasks) == [4, 5, 6, 7, 8]
    assert live.state.tasks[7].status == "queued" and live.state.tasks[8].status == "running"
    lines = [json.loads(line) for line in (home / "archive.jsonl").read_text().splitlines()]
    assert sorted(e["record"]["id"] for e in lines if e["type"] == "task") == [1, 2, 3]
    assert stat.S_IMODE(os.stat(home / "archive.jsonl").st_mode) == 0o600
    assert done[0].id == 1 and running.id == 8 and waiting.after == [6]
    assert add_task(live).id == 9


def test_retention_by_age(home):
    store = TaskFile(home, RetentionPolicy(keep=100, max_age_days=1))
    store.load()
    add_task(store, status="failed", stamp=iso(1_000_000_000))
    add_task(store, status="failed")
    with store.lock:
        assert store.compact() == 1
    assert sorted(loaded(home).state.tasks) == [2]


def test_ids_are_never_reused_after_archive_or_delete(home):
    from lazyqueue import Queue

    q = Queue(home, plugins=False)
    q.taskfile.retention = RetentionPolicy(keep=0, max_age_days=365)
    a, _ = q.enqueue("shell", {"command": "true"})
    b, _ = q.enqueue("shell", {"command": "true"})
    q.cancel(a.id)
    q.cancel(b.id)
    assert q.prune().tasks == 2
    assert q.tasks() == []
    assert q.get(a.id).status == "cancelled"  # from the archive
    c, _ = q.enqueue("shell", {"command": "true"})
    assert c.id == 3
    q.delete_job(c.job_id)
    q.close()
    q2 = Queue(home, plugins=False)
    d, _ = q2.enqueue("shell", {"command": "true"})
    assert d.id == 4
    assert d.job_id > c.job_id
    q2.close()


def _fail_writes_with_enospc(monkeypatch, after: int = 0):
    real_write = os.write
    calls = {"n": 0}

    def write(fd, data):
        calls["n"] += 1
        if calls["n"] > after:
            real_write(fd, bytes(data)[: max(1, len(data) // 2)])  # a partial write, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)


def test_disk_full_during_a_journal_append(home, monkeypatch):
    store = loaded(home)
    add_task(store)
    before = (home / "tasks.journal").read_bytes()
    _fail_writes_with_enospc(monkeypatch)
    with pytest.raises(StoreError) as info:
        add_task(store)
    monkeypatch.undo()
    assert str(info.value).startswith("disk full")
    assert (home / "tasks.journal").read_bytes() == before
    assert sorted(loaded(home).state.tasks) == [1]


def test_a_journal_line_whose_sync_fails_is_not_acknowledged(home, monkeypatch):
    store = loaded(home)
    add_task(store)

    def sync_fails(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", sync_fails, raising=False)
    monkeypatch.setattr(os, "fsync", sync_fails)
    with pytest.raises(StoreError) as info:
        add_task(store)
    monkeypatch.undo()
    assert "Input/output error" in str(info.value)


def test_disk_full_during_a_snapshot_rewrite(home, monkeypatch):
    store = loaded(home)
    add_task(store)
    with store.lock:
        store.compact()
    add_task(store)
    before = (home / "tasks.json").read_bytes()
    journal = (home / "tasks.journal").read_bytes()
    _fail_writes_with_enospc(monkeypatch)
    with pytest.raises(StoreError) as info:
        with store.lock:
            store.compact()
    monkeypatch.undo()
    assert str(info.value).startswith("disk full")
    assert (home / "tasks.json").read_bytes() == before
    assert (home / "tasks.journal").read_bytes() == journal
    assert [p.name for p in home.iterdir() if "tmp" in p.name] == []
    assert sorted(loaded(home).state.tasks) == [1, 2]


def test_a_refused_snapshot_leaves_memory_as_the_file_says(home, monkeypatch):
    store = TaskFile(home, RetentionPolicy(keep=0, max_age_days=36500))
    store.load()
    add_task(store, status="completed")
    add_task(store)
    _fail_writes_with_enospc(monkeypatch, after=1)  # the archive append succeeds, the snapshot does not
    with pytest.raises(StoreError):
        with store.lock:
            store.compact()
    monkeypatch.undo()
    assert sorted(store.state.tasks) == [1, 2]
    add_task(store)
    assert sorted(loaded(home).state.tasks) == [1, 2, 3]
    assert sorted(store.state.tasks) == [1, 2, 3]


def test_future_version_with_a_journal_keeps_ids_past_both(home):
    store = loaded(home)
    add_task(store)
    add_task(store)
    with store.lock:
        store.compact()
    add_task(store)  # t3 lives only in the journal
    data = snapshot_json(home)
    data["version"] = 99
    (home / "tasks.json").write_text(json.dumps(data))
    journal = (home / "tasks.journal").read_bytes()
    reader = loaded(home)
    kept = list(home.glob("tasks.journal.unknown-version-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == journal
    assert str(kept[0]) in reader.warnings[0]
    assert add_task(reader).id == 4


def test_ids_stay_past_the_archive_when_the_snapshot_is_garbage(home):
    store = TaskFile(home, RetentionPolicy(keep=0, max_age_days=36500))
    store.load()
    add_task(store, status="completed", job_id=None)
    add_task(store, status="failed")
    with store.lock:
        assert store.compact() == 2
    (home / "tasks.json").write_bytes(b"\x00garbage")
    reader = loaded(home)
    assert len(reader.warnings) == 1
    assert add_task(reader).id == 3  # t1 and t2 are in the archive: never handed out again


def test_salvage_keeps_records_holding_unicode_line_separators(home):
    store = loaded(home)
    add_task(store, payload={"note": "one\u2028two\x85three\x1cfour"})
    add_task(store)
    with store.lock:
        store.compact()
    raw = (home / "tasks.json").read_bytes()
    (home / "tasks.json").write_bytes(raw[: raw.rfind(b'{"id": 2')])
    reader = loaded(home)
    assert len(reader.warnings) == 1
    assert sorted(reader.state.tasks) == [1]
    assert reader.state.tasks[1].payload == {"note": "one\u2028two\x85three\x1cfour"}


def test_automatic_compaction_keeps_every_reader_in_step(home, monkeypatch):
    from lazyqueue.core import taskfile as store_mod

    monkeypatch.setattr(store_mod, "COMPACT_BYTES", 3000)
    monkeypatch.setattr(store_mod, "LIGHT_COMPACT_BYTES", 3000)
    writer = loaded(home)
    light = TaskFile(home)
    reader = loaded(home)
    seen: set[int] = set()
    for i in range(40):
        add_task(writer if i % 2 else light, dedupe_key=f"k{i}", status="completed" if i % 3 == 0 else "queued")
        if i % 7 == 0:
            with reader.lock:
                changed, _ = reader.sync()
            seen |= changed
    assert (home / "tasks.json").exists()
    assert os.path.getsize(home / "tasks.journal") < 3000
    with reader.lock:
        changed, _ = reader.sync()
    seen |= changed
    assert sorted(reader.state.tasks) == list(range(1, 41)) and seen == set(range(1, 41))
    assert {k: v.status for k, v in reader.state.tasks.items()} == {k: v.status for k, v in loaded(home).state.tasks.items()}
    assert reader.state.head.active_keys == {f"k{i}": i + 1 for i in range(40) if i % 3}


@pytest.mark.parametrize("bad", [
    b'{"seq": 2, "tasks": [{"id": "two", "kind": "k"}]}\n',
    b'{"seq": 2, "tasks": [{"id": 2, "kind": "k", "attempt": "x"}]}\n',
    b'{"seq": 2, "patches": [{"progress": 5}]}\n',
    b'{"seq": 2, "tasks": {"id": 2}}\n',
    b'{"seq": "2", "tasks": []}\n',
    b'{"seq": 2, "jobs": [{"id": null}]}\n',
])
def test_a_journal_line_that_parses_but_is_malformed_counts_as_damaged(home, bad):
    store = TaskFile(home)
    add_task(store)
    with open(home / "tasks.journal", "ab") as fh:
        fh.write(bad)
    add_task(store)  # a light writer only needs the head; it must not trip either
    reader = loaded(home)
    assert sorted(reader.state.tasks) == [1, 2] or sorted(reader.state.tasks) == [1, 3]
    assert len(reader.warnings) == 1 and "damaged" in reader.warnings[0]
    assert list(home.glob("tasks.journal.damaged-*"))
    highest = max(reader.state.tasks)
    assert add_task(reader).id > highest


def test_a_head_only_batch_past_the_journal_limit_is_written_as_one_snapshot(home, monkeypatch):
    from lazyqueue.core import taskfile as store_mod

    monkeypatch.setattr(store_mod, "LIGHT_COMPACT_BYTES", 3000)
    other = loaded(home)
    add_task(other, dedupe_key="first")  # t1, a journal line of another process
    light = TaskFile(home)
    with light.lock:
        light.head()
        batch = [Task(id=light.next_task_id(), kind="k", dedupe_key=f"b{i}") for i in range(30)]
        light.commit(Change(tasks=batch))
    assert os.path.getsize(home / "tasks.journal") == 0
    data = snapshot_json(home)
    assert [t["id"] for t in data["tasks"]] == list(range(1, 32))
    assert data["next_task_id"] == 32 and data["active_keys"]["b29"] == 31
    with other.lock:
        changed, _ = other.sync()
    assert changed == set(range(2, 32))
    assert add_task(TaskFile(home)).id == 32  # ids go on from the batch


def test_a_journal_replaced_under_a_live_store_gets_the_next_line(home):
    """The store keeps the journal open for appends; a file put in its place (a restore) still gets them."""
    store = loaded(home)
    first = add_task(store, payload={"n": 1})
    journal = home / "tasks.journal"
    restored = home / "tasks.journal.restored"
    restored.write_bytes(journal.read_bytes())
    os.replace(restored, journal)  # a new inode under the same name
    second = add_task(store, payload={"n": 2})
    assert [t["id"] for line in journal_entries(journal) for t in line["tasks"]] == [first.id, second.id]
    assert sorted(loaded(home).state.tasks) == [first.id, second.id]


def test_finished_tasks_are_let_go_after_a_fold_and_archived_as_the_snapshot_holds_them(home):
    store = TaskFile(home, retention=RetentionPolicy(keep=2))
    store.load()
    made = [add_task(store, status="completed", payload={"n": i, "text": "é\n"}) for i in range(5)]
    with store.lock:
        store.sync()
        store.compact(retention=False)
    held = getattr(store.state.tasks, "_held", None)
    assert held == {}, "finished records stay held after the snapshot holds them"
    with store.lock:  # their bytes go to the archive without being read back
        store.sync()
        assert store.compact() == 3
    archived = {rec["id"]: rec for rec in store.read_archive()}
    assert sorted(archived) == [t.id for t in made[:3]]
    assert all(archived[t.id] == t.to_dict() for t in made[:3])
    assert store.state.tasks[made[4].id].payload == {"n": 4, "text": "é\n"}  # read from the file when asked
