"""A record is encoded once, in its journal line; the fold copies those bytes, never stale ones."""

from __future__ import annotations

import json

from lazyqueue.core.models import Job, RetentionPolicy, Task, iso
from lazyqueue.core.taskfile import Change, TaskFile
from tests.core.helpers import add_task, loaded, snapshot_json


def _finish(store: TaskFile, tid: int, **fields) -> None:
    with store.lock:
        store.sync()
        done = store.state.tasks[tid].copy()
        done.status, done.finished_at, done.updated_at = "completed", iso(), iso()
        for name, value in fields.items():
            setattr(done, name, value)
        store.commit(Change(tasks=[done]))


def _patch(store: TaskFile, tid: int, **fields) -> None:
    with store.lock:
        store.sync()
        store.commit(Change(patches=[{"id": tid, **fields}]))


def _fold(store: TaskFile) -> None:
    with store.lock:
        store.sync()
        store.compact()


def _archived(home) -> dict[int, dict]:
    out = {}
    for line in (home / "archive.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry["type"] == "task":
            out[entry["record"]["id"]] = entry["record"]
    return out


def test_the_snapshot_a_fold_writes_holds_each_record_as_it_is_in_memory(home):
    store = loaded(home)
    tasks = [add_task(store, payload={"n": n, "text": "é ✓ \n"}) for n in range(6)]
    for task in tasks[:4]:
        _finish(store, task.id, result={"n": task.id, "ok": True})
    _fold(store)
    records = {rec["id"]: rec for rec in snapshot_json(home)["tasks"]}
    assert {tid: records[tid]["status"] for tid in records} == {1: "completed", 2: "completed", 3: "completed",
                                                                  4: "completed", 5: "queued", 6: "queued"}
    assert records[2]["result"] == {"n": 2, "ok": True} and records[2]["payload"]["text"] == "é ✓ \n"
    again = loaded(home)  # read back from the new snapshot and its index
    assert {t.id: t.to_dict() for t in again.state.tasks.values()} == records


def test_a_patch_after_the_finish_line_is_in_the_snapshot(home):
    store = loaded(home)
    task = add_task(store)
    _finish(store, task.id, result="first")
    _patch(store, task.id, meta={"note": "patched later"})
    _fold(store)
    (rec,) = snapshot_json(home)["tasks"]
    assert rec["result"] == "first" and rec["meta"] == {"note": "patched later"}


def test_a_patch_another_process_wrote_is_in_the_snapshot_this_one_folds(home):
    store = loaded(home)
    task = add_task(store)
    _finish(store, task.id)
    other = loaded(home)
    _patch(other, task.id, meta={"from": "elsewhere"})
    _fold(store)  # catches up with the other's line, then folds
    (rec,) = snapshot_json(home)["tasks"]
    assert rec["meta"] == {"from": "elsewhere"}


def test_archived_records_and_jobs_are_whole_and_current(home):
    store = TaskFile(home, retention=RetentionPolicy(keep=1))
    store.load()
    with store.lock:
        store.sync()
        job = Job(id=store.next_job_id(), title="batch", stage="Pending", created_at=iso(), updated_at=iso())
        first = Task(id=store.next_task_id(), kind="k", job_id=job.id, created_at=iso(), updated_at=iso())
        second = Task(id=store.next_task_id(), kind="k", created_at=iso(), updated_at=iso())
        store.commit(Change(tasks=[first, second], jobs=[job]))
    _finish(store, first.id, result=[1, 2])
    with store.lock:
        store.sync()
        done_job = store.state.jobs[job.id]
        store.commit(Change(jobs=[Job(id=job.id, title="batch", stage="Done", created_at=done_job.created_at,
                                      updated_at=iso())]))
    _patch(store, first.id, meta={"kept": "after the finish"})
    _finish(store, second.id)  # the newest finished task stays live (keep=1): the first is archived
    _fold(store)
    archived = _archived(home)
    assert list(archived) == [first.id]
    assert archived[first.id]["result"] == [1, 2] and archived[first.id]["meta"] == {"kept": "after the finish"}
    jobs = [json.loads(line)["record"] for line in (home / "archive.jsonl").read_text().splitlines()
            if json.loads(line)["type"] == "job"]
    assert [(j["id"], j["stage"]) for j in jobs] == [(job.id, "Done")]
    assert [rec["id"] for rec in snapshot_json(home)["tasks"]] == [second.id]


def test_a_record_is_the_text_json_dumps_makes_and_a_bad_one_fails_as_it_does():
    from lazyqueue.core.encoded import snapshot_bytes

    odd = Task(id=7, kind="k", payload={"f": 0.1, "big": 10**30, "inf": float("inf"), "text": "é \"q\" \n\ud800",
                                         "nested": [{"a": None}, [True, False]], "": {}})
    want = json.dumps(odd.to_dict(), ensure_ascii=False).encode("utf-8", "backslashreplace")
    assert snapshot_bytes(odd) == want
    assert json.loads(want.decode("utf-8"))["payload"]["f"] == 0.1
    loop: list = []
    loop.append(loop)
    for bad, error in (({"x": loop}, ValueError), ({"x": object()}, TypeError)):
        try:
            snapshot_bytes(bad)
        except error:
            pass
        else:
            raise AssertionError(f"{bad!r} was encoded")
    assert snapshot_bytes({"after": "fine"}) == b'{"after": "fine"}'  # a failed record leaves nothing behind
