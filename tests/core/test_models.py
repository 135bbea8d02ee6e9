"""Task and Job records: times, ids, the JSON contract."""

from __future__ import annotations

import json

import pytest

from lazyqueue.core.models import Job, Task, iso, normalise_iso, parse_id, parse_iso

CONTRACT_FIELDS = (
    "id kind status job_id label priority dedupe_key payload result error error_kind attempt "
    "max_attempts progress progress_label created_at updated_at started_at finished_at not_before "
    "expires_at timeout_s after owner meta"
).split()


def test_iso_round_trips_to_the_millisecond():
    for ts in (0.0, 1_700_000_000.123, 1_700_000_000.999, 4_102_444_800.5):
        text = iso(ts)
        assert text.endswith("Z")
        assert parse_iso(text) == pytest.approx(ts, abs=0.001)


def test_iso_is_fixed_width_so_string_order_is_time_order():
    stamps = [0.0, 0.5, 9.999, 10.0, 86_399.001, 1_000_000_000.0, 1_700_000_000.25, 1_700_000_001.0]
    texts = [iso(ts) for ts in stamps]
    assert len({len(t) for t in texts}) == 1
    assert texts == sorted(texts)
    assert sorted(reversed(texts)) == texts


def test_parse_iso_accepts_offsets_and_none():
    assert parse_iso(None) is None
    assert parse_iso("") is None
    assert parse_iso("1970-01-01T01:00:00+01:00") == 0.0
    assert parse_iso("1970-01-01T00:00:10") == 10.0  # naive means UTC
    assert normalise_iso("1970-01-01T01:00:00+01:00") == "1970-01-01T00:00:00.000Z"


@pytest.mark.parametrize("value", [12, "12", "t12", " t12 ", "T12"])
def test_parse_id_accepts_the_forms_people_type(value):
    assert parse_id(value) == 12


@pytest.mark.parametrize("value", ["x12", "", "t", "t-1", "0", 0, -3, True, "12.5", None])
def test_parse_id_rejects_other_text(value):
    with pytest.raises(ValueError):
        parse_id(value)


def test_parse_id_for_jobs_accepts_hash():
    assert parse_id("#014", prefix="#") == 14


def _record(**over):
    rec = Task(id=3, kind="shell", payload={"argv": ["true"]}, created_at=iso(0), updated_at=iso(0)).to_dict()
    rec.update(over)
    return rec


def test_to_dict_holds_every_contract_field_and_is_json():
    rec = _record()
    for name in CONTRACT_FIELDS:
        assert name in rec, name
    assert json.loads(json.dumps(rec)) == rec
    assert rec["status"] == "queued" and rec["priority"] == 5 and rec["after"] == []


def test_from_dict_round_trips_and_ignores_unknown_fields():
    rec = _record(status="failed", error="boom", error_kind="fatal", after=[1, 2], meta={"k": 1}, future_field=1)
    task = Task.from_dict(rec)
    back = task.to_dict()
    rec.pop("future_field")
    assert back == rec


@pytest.mark.parametrize(
    "record",
    [
        [1, 2],
        "task",
        {"kind": "shell"},
        {"id": "3", "kind": "shell"},
        {"id": True, "kind": "shell"},
        {"id": 3},
        {"id": 3, "kind": 7},
        {"id": 3, "kind": "shell", "status": "done"},
        {"id": 3, "kind": "shell", "payload": [1]},
        {"id": 3, "kind": "shell", "after": "t1"},
        {"id": 3, "kind": "shell", "after": [True]},
        {"id": 3, "kind": "shell", "after": ["1"]},
        {"id": 3, "kind": "shell", "priority": "high"},
    ],
)
def test_from_dict_rejects_malformed_records(record):
    with pytest.raises(ValueError):
        Task.from_dict(record)


def test_job_round_trip_and_rejects_malformed():
    job = Job(id=14, title="trip.mov", stage="Fetched", created_at=iso(0), updated_at=iso(0))
    assert job.ref == "#014"
    from lazyqueue.core.models import JOB_FIELDS

    assert tuple(job.to_dict()) == JOB_FIELDS  # the record's fields, in the contract's order
    assert Job.from_dict(job.to_dict()) == job
    for bad in ([], {"title": "x"}, {"id": "1"}):
        with pytest.raises(ValueError):
            Job.from_dict(bad)


@pytest.mark.parametrize(
    "field,value",
    [
        ("attempt", "2"),
        ("max_attempts", None),
        ("max_attempts", 2.5),
        ("job_id", "1"),
        ("progress", "40%"),
        ("timeout_s", "10"),
        ("label", 5),
        ("dedupe_key", ["k"]),
        ("error", {"x": 1}),
        ("created_at", 1700000000),
        ("not_before", 5),
        ("owner", ["pid", 1]),
    ],
)
def test_from_dict_rejects_a_field_of_the_wrong_type(field, value):
    # a record like this would crash the worker loop later (attempt += 1, string compares)
    with pytest.raises(ValueError):
        Task.from_dict(_record(**{field: value}))


def test_from_dict_accepts_nullable_fields_as_null():
    task = Task.from_dict(_record(job_id=None, progress=None, timeout_s=None, not_before=None, owner=None, error=None))
    assert task.job_id is None and task.progress is None
    task = Task.from_dict(_record(job_id=4, progress=40, timeout_s=1.5, owner={"pid": 1}))
    assert task.progress == 40 and task.timeout_s == 1.5


def test_a_copy_is_equal_and_shares_no_container_with_the_original():
    import inspect

    from lazyqueue.core.models import TASK_FIELDS

    # copy() hands the fields to __init__ by position: the two orders must agree
    assert tuple(inspect.signature(Task.__init__).parameters)[1:] == TASK_FIELDS
    task = Task(id=3, kind="shell", payload={"argv": ["true"]}, result={"exit_code": 0}, after=[1, 2],
                owner={"pid": 7}, meta={"m": 1}, label="x", priority=2, attempt=1, progress=50.0)
    clone = task.copy()
    assert clone == task and clone is not task
    for name in ("payload", "result", "after", "owner", "meta"):
        assert getattr(clone, name) == getattr(task, name) and getattr(clone, name) is not getattr(task, name)
    clone.payload["argv"] = ["false"]
    assert task.payload == {"argv": ["true"]}
    listed = Task(id=4, kind="k", result=[1, 2]).copy()
    assert listed.result == [1, 2]
    job = Job(id=4, title="t", stage="Done", created_at="a", updated_at="b", meta={"k": 1})
    twin = job.copy()
    assert twin == job and twin.meta is not job.meta
