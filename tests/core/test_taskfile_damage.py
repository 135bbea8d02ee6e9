"""Damage the task file can meet: flipped bits, lost newlines, gaps, short writes, stale temp files."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from lazyqueue.core import models
from lazyqueue.core import taskfile as tf
from lazyqueue.core.errors import StoreError
from lazyqueue.core.models import _iso_ok
from lazyqueue.core.taskfile import RetentionPolicy, TaskFile, journal_entries
from tests.core.helpers import add_task, loaded


def _journal(home) -> list[bytes]:
    return (home / "tasks.journal").read_bytes().split(b"\n")[:-1]


def _write(home, lines: list[bytes]) -> None:
    (home / "tasks.journal").write_bytes(b"".join(line + b"\n" for line in lines))


def _copies(home, why="damaged"):
    return sorted(home.glob(f"tasks.journal.{why}-*"))


def test_every_journal_line_carries_a_checksum(home):
    add_task(TaskFile(home), payload={"a": 1})
    (line,) = _journal(home)
    body, crc = line.rsplit(b"\t", 1)
    assert int(crc, 16) == __import__("zlib").crc32(body) and json.loads(body)["seq"] == 1


def test_a_flipped_byte_in_a_middle_line_is_damage_not_a_silent_change(home):
    store = TaskFile(home)
    add_task(store, payload={"n": 1})
    add_task(store, payload={"n": 2}, status="completed")
    add_task(store, payload={"n": 3})
    lines = _journal(home)
    assert b'"status": "completed"' in lines[1]
    lines[1] = lines[1].replace(b'"status": "completed"', b'"status": "queued"   ')  # still valid JSON
    _write(home, lines)
    reader = loaded(home)
    assert 2 not in reader.state.tasks or reader.state.tasks[2].status == "completed"  # never runnable again
    assert len(reader.warnings) == 1 and "damaged" in reader.warnings[0]
    assert _copies(home)


def test_an_old_journal_without_checksums_still_reads(home):
    entries = [
        {"seq": 1, "tasks": [{"id": 1, "kind": "k", "status": "queued"}], "next_task_id": 2, "next_job_id": 1},
        {"seq": 2, "patches": [{"id": 1, "priority": 9}], "next_task_id": 2, "next_job_id": 1},
    ]
    home.mkdir(mode=0o700)
    _write(home, [json.dumps(e).encode() for e in entries])
    reader = loaded(home)
    assert reader.warnings == [] and reader.state.tasks[1].priority == 9


def test_a_seq_that_goes_back_or_skips_is_damage(home):
    home.mkdir(mode=0o700)
    def entry(seq, tid):
        return json.dumps({"seq": seq, "tasks": [{"id": tid, "kind": "k", "status": "queued"}],
                           "next_task_id": tid + 1, "next_job_id": 1}).encode()
    _write(home, [entry(1, 1), entry(2, 2), entry(1, 3)])  # a flipped digit makes line 3 look folded
    reader = loaded(home)
    assert len(reader.warnings) == 1 and "damaged" in reader.warnings[0]
    for name in list(home.glob("tasks.journal.damaged-*")):
        name.unlink()
    _write(home, [entry(1, 1), entry(3, 3)])  # line 2 is missing
    assert len(loaded(home).warnings) == 1


def test_a_whole_last_line_whose_newline_was_lost_is_kept(home):
    store = TaskFile(home)
    add_task(store)
    add_task(store, payload={"last": True})
    raw = (home / "tasks.journal").read_bytes()
    (home / "tasks.journal").write_bytes(raw[:-1] + b"\x0b")  # the final newline flipped
    reader = loaded(home)
    assert sorted(reader.state.tasks) == [1, 2] and reader.warnings == []
    add_task(reader)  # the next append ends that line instead of cutting it
    assert [e["seq"] for e in journal_entries(home / "tasks.journal")] == [1, 2, 3]
    assert sorted(loaded(home).state.tasks) == [1, 2, 3]
    assert _copies(home, "newline")


def test_a_torn_tail_is_copied_aside_before_it_is_cut(home):
    store = TaskFile(home)
    add_task(store)
    with open(home / "tasks.journal", "ab") as fh:
        fh.write(b'{"seq":2,"tasks":[{"id":2,"ki')
    add_task(TaskFile(home))
    (copy,) = _copies(home, "torn")
    assert copy.read_bytes().endswith(b'{"id":2,"ki')
    assert [e["seq"] for e in journal_entries(home / "tasks.journal")] == [1, 2]


def test_reading_one_damage_again_and_again_makes_one_copy_and_two_damages_make_two(home):
    store = TaskFile(home)
    add_task(store)
    with open(home / "tasks.journal", "ab") as fh:
        fh.write(b"garbage one\n")
    for _ in range(5):
        loaded(home)
    assert len(_copies(home)) == 1
    (home / "tasks.journal").write_bytes(b"garbage two\n")  # another damage in the same second
    loaded(home)
    copies = _copies(home)
    assert len(copies) == 2 and {c.read_bytes() for c in copies} >= {b"garbage two\n"}


def test_a_short_archive_write_is_continued_and_a_failed_one_cut_back(home, monkeypatch):
    store = loaded(home)
    store.retention = RetentionPolicy(keep=0, max_age_days=30)
    for _ in range(3):
        add_task(store, status="completed")
    real_write = os.write
    calls = {"n": 0}

    def short(fd, data):
        calls["n"] += 1
        return real_write(fd, bytes(data[: max(1, len(data) // 3)]))

    monkeypatch.setattr(tf.os, "write", short)
    with store.lock:
        assert store.compact() == 3
    monkeypatch.setattr(tf.os, "write", real_write)
    assert [json.loads(line)["record"]["id"] for line in (home / "archive.jsonl").read_bytes().splitlines()] == [1, 2, 3]  # oldest first

    for _ in range(2):
        add_task(store, status="completed")
    before = (home / "archive.jsonl").read_bytes()
    state = {"n": 0}

    def full(fd, data):
        state["n"] += 1
        if state["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, bytes(data[: len(data) // 2]))

    monkeypatch.setattr(tf.os, "write", full)
    with store.lock, pytest.raises(StoreError, match="disk full"):
        store.compact()
    monkeypatch.setattr(tf.os, "write", real_write)
    assert (home / "archive.jsonl").read_bytes() == before  # no partial line for the next batch to glue onto
    assert {4, 5} <= set(loaded(home).state.tasks)  # still live: nothing left the live file


def test_temp_files_of_dead_writers_are_removed_by_the_next_fold(home):
    store = loaded(home)
    add_task(store)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    for name in (f".tasks.json.tmp-{pid}", f".tasks.json.tmp-{pid}-0a1b2c"):
        (home / name).write_text("full task data")
    alive = home / f".tasks.json.tmp-{os.getppid()}-ffffff"
    alive.write_text("a live writer's")
    with store.lock:
        store.compact()
    assert sorted(p.name for p in home.glob(".tasks.json.tmp-*")) == [alive.name]


def _damaged_snapshot(home, n=30):
    store = loaded(home)
    for _ in range(n):
        add_task(store)
    with store.lock:
        store.compact()
    raw = (home / "tasks.json").read_bytes()
    lines = raw.split(b"\n")
    lines[5] = lines[5][:10]  # one record torn: the file no longer parses as a whole
    return b"\n".join(lines)


def test_a_recovery_is_written_before_anything_else_can_write(home):
    bad = _damaged_snapshot(home)
    worker = loaded(home)  # a running worker meets the damage on its next sync
    (home / "tasks.json").write_bytes(bad)
    with worker.lock:
        worker.sync()
    assert any("recovered" in w for w in worker.warnings)
    on_disk = json.loads((home / "tasks.json").read_text())  # the recovered state is the file now
    assert len(on_disk["tasks"]) == 29 and on_disk["next_task_id"] == 31
    assert list(home.glob("tasks.json.corrupt-*"))[0].read_bytes() == bad
    light = TaskFile(home)
    with light.lock:
        assert light.head().next_task_id == 31  # not t1 again


def test_an_interrupted_recovery_is_finished_from_the_set_aside_copy(home, cli_env):
    bad = _damaged_snapshot(home)
    (home / "tasks.json").unlink()  # killed between moving the damaged file aside and renaming the recovered one
    (home / "tasks.json.corrupt-20260101T000000").write_bytes(bad)
    (home / "logs").mkdir(mode=0o700, exist_ok=True)
    (home / "logs" / "40.log").write_text("a task whose record is gone\n")
    from tests.cli.helpers import add, lq

    new = add(cli_env, "shell", "--", "true")
    assert new["id"] == 41  # above the copy, and above every log
    proc = lq(cli_env, "ls", "--json")
    assert len(json.loads(proc.stdout)) == 30


def test_a_recovery_that_cannot_be_written_leaves_the_damaged_file_in_place(home, monkeypatch):
    bad = _damaged_snapshot(home)
    (home / "tasks.json").write_bytes(bad)

    def no_space(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tf.os, "write", no_space)
    reader = loaded(home)
    monkeypatch.undo()
    assert (home / "tasks.json").read_bytes() == bad and not list(home.glob("tasks.json.corrupt-*"))
    (warning,) = reader.warnings
    assert "could not write them (disk full" in warning and "left as it was" in warning and "intact" not in warning
    assert len(reader.state.tasks) == 29
    assert not list(home.glob(".tasks.json.tmp-*"))


def test_the_ids_of_a_damaged_line_are_not_handed_out_again(home):
    store = TaskFile(home)
    add_task(store)
    add_task(store, payload={"x": "y"})
    lines = _journal(home)
    lines[1] = lines[1].replace(b'"x": "y"', b'"x": "z"')  # checksum no longer matches
    _write(home, lines)
    light = TaskFile(home)
    with light.lock:
        assert light.head().next_task_id == 3


@pytest.mark.parametrize("poison", [{"not_before": "yesterday"}, {"expires_at": "2026-02-31T00:00:00.000Z"}, {"created_at": "x"}])
def test_a_malformed_time_is_damage_found_on_load_and_every_good_task_still_runs(home, cli_env, poison):
    from lazyqueue.core.journal_line import seal
    from tests.cli.helpers import add, lq, ok

    good = add(cli_env, "shell", "--", "true")["id"]
    rec = {"id": 50, "kind": "shell", "status": "queued", "label": "poison", "payload": {"command": "true"},
           "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z", **poison}
    with open(home / "tasks.journal", "ab") as fh:
        fh.write(seal(json.dumps({"seq": 2, "tasks": [rec], "next_task_id": 51, "next_job_id": 51}).encode()))
    proc = lq(cli_env, "ls")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr and "damaged" in proc.stderr
    ok(cli_env, "worker", "--exit-when-idle", "-q")
    assert json.loads(ok(cli_env, "show", str(good), "--json").stdout)["status"] == "completed"
    assert add(cli_env, "shell", "--", "true")["id"] == 51


def test_the_lock_holds_while_its_file_is_replaced_under_a_holder(tmp_path):
    import fcntl

    from lazyqueue.core.filelock_posix import ProcessLock

    path = tmp_path / "tasks.lock"
    holder, other = ProcessLock(path), ProcessLock(path)
    with holder:
        path.unlink()  # replaced while held: a newcomer locks the new file, then must still wait
        path.write_bytes(b"")
        got = []
        t = __import__("threading").Thread(target=lambda: (other.acquire(), got.append(1), other.release()))
        t.start()
        t.join(0.3)
        assert got == []  # waiting on the directory lock
    t.join(5)
    assert got == [1]
    holder.close()
    other.close()


def test_two_damages_within_one_second_each_keep_their_own_copy(home, monkeypatch):
    # one second for both (the stamp alone: time.strftime itself also makes every task's times)
    monkeypatch.setattr(tf, "aside_stamp", lambda: "20260101T000000")
    store = TaskFile(home)
    for n in range(3):
        add_task(store, payload={"n": n})
    lines = _journal(home)
    first = list(lines)
    first[0] = first[0].replace(b'"n": 0', b'"n": 7')  # checksum no longer matches
    _write(home, first)
    assert loaded(home).warnings
    second = list(lines)
    second[1] = second[1].replace(b'"n": 1', b'"n": 8')  # another damage, not the first one grown
    _write(home, second)
    assert loaded(home).warnings
    copies = _copies(home)
    assert [c.name for c in copies] == ["tasks.journal.damaged-20260101T000000", "tasks.journal.damaged-20260101T000000-2"]
    assert sorted(c.read_bytes() for c in copies) == sorted(b"".join(x + b"\n" for x in v) for v in (first, second))
    # the same for a snapshot that does not parse, met twice in that second
    for garbage in (b"{not json", b"{still not json"):
        (home / "tasks.json").write_bytes(garbage)
        loaded(home)
    aside = sorted(home.glob("tasks.json.corrupt-*"))
    assert sorted(p.read_bytes() for p in aside) == [b"{not json", b"{still not json"]
    # the names' second is its own: a task's times made meanwhile are still times (not the stamp)
    models._iso_seconds.clear()  # the second's text is made now, under the patch
    task = add_task(loaded(home), payload={"n": 9})
    assert _iso_ok(task.created_at) and task.created_at[4] == "-", task.created_at


def test_a_fold_whose_snapshot_cannot_be_written_takes_its_tasks_back_out_of_the_archive(home, monkeypatch):
    store = loaded(home)
    store.retention = RetentionPolicy(keep=0, max_age_days=30)
    for _ in range(3):
        add_task(store, status="completed")

    def no_space(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tf.os, "replace", no_space)
    with store.lock, pytest.raises(StoreError):
        store.compact()
    monkeypatch.undo()
    assert sorted(loaded(home).state.tasks) == [1, 2, 3]  # still live
    assert not (home / "archive.jsonl").exists() or (home / "archive.jsonl").read_bytes() == b""
    assert store.archived_task(1) is None  # so not held twice
    with store.lock:
        store.compact()  # the next fold archives them, once each
    archived = [json.loads(line)["record"]["id"] for line in (home / "archive.jsonl").read_bytes().splitlines()
                if json.loads(line)["type"] == "task"]
    assert archived == [1, 2, 3]
