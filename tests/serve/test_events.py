"""`GET /events`: every transition, in order, and a resume after a dropped connection."""

from __future__ import annotations

import json
import os

from ..conftest import wait_until
from .helpers import EventReader, shell

DONE = ("task-completed", "task-failed", "task-cancelled", "task-expired")


def _finished(reader: EventReader, ids: set[int]) -> bool:
    done = {e["data"]["task"]["id"] for e in reader.snapshot() if e["event"] in DONE}
    return ids <= done


def test_the_stream_carries_every_transition_of_50_tasks_in_order(served):
    reader = EventReader(served)
    try:
        ids = {served.client.post("/tasks", json=shell(["true"])).json()["id"] for _ in range(50)}
        wait_until(lambda: _finished(reader, ids), timeout=60, message="50 tasks completed on the stream")
        events = reader.snapshot()
    finally:
        reader.close()
    numbers = [int(e["id"]) for e in events]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    for tid in ids:
        seen = [e for e in events if e["data"]["task"]["id"] == tid]
        assert [e["event"] for e in seen] == ["task-queued", "task-started", "task-completed"], tid
        assert [e["data"]["task"]["status"] for e in seen] == ["queued", "running", "completed"]
        assert all(e["data"]["type"] == e["event"] for e in seen)


def test_last_event_id_resumes_without_loss_after_a_dropped_connection(served):
    whole = EventReader(served)
    first = EventReader(served)
    try:
        early = {served.client.post("/tasks", json=shell(["true"])).json()["id"] for _ in range(5)}
        wait_until(lambda: _finished(first, early), timeout=30, message="the first tasks on the stream")
        seen = first.snapshot()
        first.close()  # the connection drops; work goes on meanwhile
        late = {served.client.post("/tasks", json=shell(["true"])).json()["id"] for _ in range(5)}
        wait_until(lambda: _finished(whole, early | late), timeout=30, message="every task on the full stream")
        resumed = EventReader(served, last_event_id=seen[-1]["id"])
        try:
            wait_until(lambda: _finished(resumed, late), timeout=30, message="the resumed stream to catch up")
            rest = resumed.snapshot()
        finally:
            resumed.close()
        everything = whole.snapshot()
    finally:
        whole.close()
    assert [e["id"] for e in seen + rest] == [e["id"] for e in everything]
    assert [e["data"] for e in seen + rest] == [e["data"] for e in everything]


def test_an_id_outside_the_window_is_told_as_a_gap(served):
    reader = EventReader(served, last_event_id="999999")
    try:
        wait_until(lambda: reader.snapshot(), timeout=10, message="the gap notice")
        assert reader.snapshot()[0]["event"] == "stream-gap"
    finally:
        reader.close()


def test_progress_reaches_the_stream_at_most_about_ten_times_a_second(served):
    reader = EventReader(served)
    try:
        script = "for i in $(seq 1 200); do echo ::progress $((i / 2)); done; sleep 0.3"
        tid = served.client.post("/tasks", json=shell(["sh", "-c", script])).json()["id"]
        wait_until(lambda: _finished(reader, {tid}), timeout=30, message="the task to finish")
        events = reader.snapshot()
    finally:
        reader.close()
    progress = [e for e in events if e["event"] == "task-progress"]
    assert progress, "some progress went out"
    started = next(e for e in events if e["event"] == "task-started")["data"]["at"]
    finished = events[-1]["data"]["at"]
    from datetime import datetime

    span = (datetime.fromisoformat(finished.replace("Z", "+00:00")) - datetime.fromisoformat(started.replace("Z", "+00:00"))).total_seconds()
    assert len(progress) <= 10 * span + 2


def test_work_added_by_another_process_is_on_the_stream_too(served, cli_env):
    from ..cli.helpers import add

    reader = EventReader(served)
    try:
        record = add(cli_env, "shell", "--", "sh", "-c", "echo ::progress 50 half; sleep 0.3")
        wait_until(lambda: _finished(reader, {record["id"]}), timeout=30, message="the CLI's task on the stream")
        events = [e for e in reader.snapshot() if e["data"]["task"]["id"] == record["id"]]
    finally:
        reader.close()
    kinds = [e["event"] for e in events]
    assert kinds[0] == "task-queued" and kinds[-1] == "task-completed" and "task-started" in kinds
    assert kinds.index("task-started") < kinds.index("task-completed")
    assert len(kinds) == len(set(zip(kinds, [e["data"]["task"]["updated_at"] for e in events])))  # nothing twice


def test_transitions_the_background_worker_makes_are_on_the_stream(home, monkeypatch):
    from .helpers import start_serving, stop_background_workers

    monkeypatch.setenv("LAZYQUEUE_AUTOSTART", "1")  # the suite turns it off; this test is about it
    served = start_serving(home, run_worker=False)  # the end state: serve queues, another process runs
    reader = EventReader(served)
    try:
        ids = [served.client.post("/tasks", json=shell(["sh", "-c", "sleep 0.3"])).json()["id"] for _ in range(4)]
        wait_until(lambda: _finished(reader, set(ids)), timeout=60, message="the background worker's completions")
        events = reader.snapshot()
    finally:
        reader.close()
        served.stop()
        stop_background_workers(home)
    for tid in ids:
        seen = [e["event"] for e in events if e["data"]["task"]["id"] == tid]
        assert seen == ["task-queued", "task-started", "task-completed"], (tid, seen)
        pid = next(e for e in events if e["data"]["task"]["id"] == tid and e["event"] == "task-started")["data"]["task"]["owner"]["pid"]
        assert pid != os.getpid()


def test_a_task_whose_text_is_not_unicode_is_on_the_stream_with_its_json_escape(served):
    reader = EventReader(served)
    try:
        body = b'{"kind": "shell", "payload": {"argv": ["printf", "\\udcff-ok"]}}'
        tid = served.client.post("/tasks", content=body, headers={"Content-Type": "application/json"}).json()["id"]
        wait_until(lambda: _finished(reader, {tid}), timeout=30, message="the task completed on the stream")
        seen = [e for e in reader.snapshot() if e["data"]["task"]["id"] == tid]
    finally:
        reader.close()
    assert [e["event"] for e in seen] == ["task-queued", "task-started", "task-completed"]
    assert seen[-1]["data"]["task"]["payload"]["argv"] == ["printf", "\udcff-ok"]
