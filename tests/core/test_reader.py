"""Reading the task file record by record gives what a full load gives."""

from __future__ import annotations

import io
import json

import pytest

from lazyqueue.core import reader
from lazyqueue.core.config import Config
from lazyqueue import Queue
from lazyqueue.core.queue import TaskSpec
from lazyqueue.core.taskfile import journal_entries


def full(home):
    """What a full load says: {id: record}, {id: job record}."""
    q = Queue(home, config=Config())
    try:
        return {t.id: t.to_dict() for t in q.tasks()}, {j.id: j.to_dict() for j in q.jobs()}
    finally:
        q.close()


def streamed(home):
    with reader.View(home) as view:
        return [rec if rec is not None else json.loads(line) for rec, line in view.task_lines()]


def build(home):
    q = Queue(home, config=Config())
    try:
        for b in range(3):
            q.enqueue_many([TaskSpec("shell", {"command": f"echo {b}-{i}"}, priority=1 + i % 3) for i in range(10)])
        q.prune()  # folds the journal into the snapshot
        q.enqueue_many([TaskSpec("shell", {"command": f"echo late {i}"}) for i in range(10)])
        for tid in (2, 5, 33):
            q.cancel(tid)
        q.set_priority(7, 9)
        q.set_priority(35, 8)
        q.retry([5])
        q.delete_job(q.get(12).job_id)
    finally:
        q.close()


def last_seq(home) -> int:
    seqs = [e["seq"] for e in journal_entries(home / "tasks.journal")] if (home / "tasks.journal").exists() else []
    head = json.loads((home / "tasks.json").read_bytes().split(b"\n", 1)[0].rstrip(b",") + b"}")
    return max(seqs + [head["seq"]])


def test_the_stream_and_single_reads_match_a_full_load(home):
    build(home)
    tasks, jobs = full(home)
    assert [r["id"] for r in streamed(home)] == sorted(tasks)
    assert {r["id"]: r for r in streamed(home)} == tasks
    with reader.View(home) as view:
        for tid, rec in tasks.items():
            assert view.task(tid).to_dict() == rec
        assert view.task(12) is None  # its job was deleted
        assert view.task(10_000) is None
        for jid, rec in jobs.items():
            assert view.job(jid).to_dict() == rec
        assert view.job(10_000) is None


def test_hand_written_patches_and_deletions_are_applied_in_order(home):
    build(home)
    seq = last_seq(home)
    entries = [
        {"seq": seq + 1, "patches": [{"id": 3, "priority": 4, "label": "relabelled"}, {"id": 38, "status": "cancelled"}]},
        {"seq": seq + 2, "del_tasks": [4], "patches": [{"id": 4, "priority": 1}]},
    ]
    with open(home / "tasks.journal", "ab") as fh:
        fh.write(b"".join(json.dumps(e).encode() + b"\n" for e in entries))
        fh.write(b'{"seq": 99999, "del_tas')  # a torn tail
    tasks, _jobs = full(home)
    assert 4 not in tasks and tasks[3]["priority"] == 4
    assert {r["id"]: r for r in streamed(home)} == tasks


def test_json_stream_is_the_array_of_records(home):
    build(home)
    tasks, _ = full(home)
    out = io.StringIO()
    with reader.View(home) as view:
        n = reader.stream_json(view, out, want=lambda r: r["status"] == "cancelled")
    got = json.loads(out.getvalue())
    assert n == len(got) and got == [r for r in tasks.values() if r["status"] == "cancelled"]
    assert got and out.getvalue().count("\n") == len(got) + 2  # "[", one record a line, "]"
    empty = io.StringIO()
    with reader.View(home / "none") as view:
        assert reader.stream_json(view, empty) == 0
    assert json.loads(empty.getvalue()) == []


def test_a_damaged_journal_or_an_unknown_header_is_left_to_the_full_load(home):
    build(home)
    with open(home / "tasks.journal", "ab") as fh:
        fh.write(b"this is not json\n")
    with pytest.raises(reader.Unreadable):
        reader.View(home)
    (home / "tasks.journal").write_text(json.dumps({"seq": 10_000, "patches": [{"id": 3, "colour": "red"}]}) + "\n")
    with pytest.raises(reader.Unreadable):
        reader.View(home)
    (home / "tasks.journal").unlink()
    raw = (home / "tasks.json").read_bytes()
    (home / "tasks.json").write_bytes(raw.replace(b'"version": 1', b'"version": 7', 1))
    with pytest.raises(reader.Unreadable):
        reader.View(home)


def test_the_schema_version_is_the_stores():
    from lazyqueue.core import taskfile

    assert reader.SCHEMA_VERSION == taskfile.SCHEMA_VERSION


def test_a_light_queue_reads_one_task_a_job_and_the_archive_without_loading(home):
    from lazyqueue.core.errors import NotFound
    from lazyqueue.core.taskfile import RetentionPolicy

    q = Queue(home, config=Config(retention=RetentionPolicy(keep=0, max_age_days=30)))
    try:
        first = q.enqueue("shell", {"command": "echo old"}).task
        q.cancel(first.id)
        q.prune()  # keep=0: the cancelled task goes to the archive
        live = q.enqueue("shell", {"command": "echo new"}).task
    finally:
        q.close()
    light = Queue(home, config=Config(), light=True)
    try:
        assert light.get(live.id).to_dict() == live.to_dict()
        assert light.job(live.job_id).id == live.job_id
        assert light.get(first.id).status == "cancelled"  # from the archive
        with pytest.raises(NotFound):
            light.get(999)
        with pytest.raises(NotFound):
            light.job(999)
        assert not light.taskfile.loaded  # none of it loaded the live file
    finally:
        light.close()


def test_a_seq_that_goes_back_is_left_to_the_full_load_which_reports_it(home):
    build(home)
    seq = last_seq(home)
    with open(home / "tasks.journal", "ab") as fh:
        for e in ({"seq": seq + 1, "patches": [{"id": 3, "priority": 4}]}, {"seq": seq - 5, "del_tasks": [3]}):
            fh.write(json.dumps(e).encode() + b"\n")  # a flipped digit makes the second look already folded
    with pytest.raises(reader.Unreadable):
        streamed(home)
    from lazyqueue.core.taskfile import TaskFile

    store = TaskFile(home)
    store.load()
    assert any("damaged" in w for w in store.warnings)


def test_the_waits_of_every_queued_task_are_read_in_one_pass_not_one_per_task(home, monkeypatch):
    """`ls` asks why each queued task waits: a light queue reads the queued tasks once, not once each."""
    q = Queue(home, config=Config())
    q.enqueue_many([TaskSpec("shell", {"command": f"echo {i}"}, delay=3600) for i in range(50)])
    q.close()
    light = Queue(home, config=Config(), light=True)  # as `lazyqueue ls` opens it
    opened = []
    real = reader.View.__init__

    def counting(self, *args, **kwargs):
        opened.append(1)
        real(self, *args, **kwargs)

    monkeypatch.setattr(reader.View, "__init__", counting)
    queued = light.tasks(status="queued")
    reasons = [light.why_waiting(t.id) for t in queued]
    assert len(queued) == 50 and all(r.startswith("starts at ") for r in reasons), reasons[:3]
    assert len(opened) <= 2, len(opened)
    light.close()
