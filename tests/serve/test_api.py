"""The HTTP API through a real client on 127.0.0.1."""

from __future__ import annotations

import httpx

from .helpers import shell, wait_status


def test_create_then_poll_until_completed_with_its_result(served):
    created = served.client.post("/tasks", json=shell(["sh", "-c", 'echo working; echo \'::result {"answer": 42}\''], title="answer"))
    assert created.status_code == 201
    body = created.json()
    assert body["deduplicated"] is False and body["kind"] == "shell" and body["label"].startswith("sh -c")
    done = wait_status(served, body["id"], "completed")
    assert done["result"] == {"answer": 42}
    assert served.queue.job(done["job_id"]).title == "answer"
    assert "deduplicated" not in done  # a plain read is the record as `show --json` prints it
    assert set(done) == set(served.queue.get(body["id"]).to_dict())


def test_a_second_create_with_the_same_dedupe_key_answers_the_first(served):
    first = served.client.post("/tasks", json=shell(["sleep", "5"], dedupe_key="nightly"))
    again = served.client.post("/tasks", json=shell(["sleep", "5"], dedupe_key="nightly"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["deduplicated"] is True and again.json()["id"] == first.json()["id"]
    assert len(served.queue.tasks()) == 1
    served.client.post(f"/tasks/{first.json()['id']}/cancel")


def test_without_the_token_or_with_a_wrong_one_the_answer_is_401(served):
    bare = httpx.get(served.url + "/tasks", timeout=5)
    wrong = httpx.get(served.url + "/tasks", headers={"Authorization": "Bearer nope"}, timeout=5)
    for response in (bare, wrong):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/json"
        assert "token" in response.json()["error"]
    assert "access-control-allow-origin" not in bare.headers
    assert not served.queue.tasks()


def test_error_bodies_name_what_is_wrong(served):
    c = served.client
    missing = c.get("/tasks/99")
    assert missing.status_code == 404 and missing.json() == {"error": "no task t99"}
    cases = [
        (b"{not json", "not valid JSON"),
        (b'{"kind": "nosuch"}', "unknown kind 'nosuch'"),
        (b'{"kind": "shell", "payload": {"argv": []}}', "argv must be a non-empty list"),
        (b'{"kind": "shell", "payload": {"argv": ["true"]}, "priority": 11}', "priority must be a whole number 1..10"),
        (b'{"kind": "shell", "payload": {"argv": ["true"]}, "delay_s": "soon"}', "delay_s must be a number"),
        (b'{"kind": "shell", "payload": {"argv": ["true"]}, "colour": "red"}', "unknown field 'colour'"),
        (b'{"kind": "shell", "payload": {"argv": ["true"]}, "after": [99]}', "no task t99"),
        (b'[1, 2]', "must be a JSON object"),
    ]
    for body, words in cases:
        response = c.post("/tasks", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, body
        assert words in response.json()["error"], (body, response.json())
        assert "Traceback" not in response.text
    too_big = c.post("/tasks", json=shell(["echo", "x" * (1 << 20)]))
    assert too_big.status_code == 413 and "too large" in too_big.json()["error"]
    assert not served.queue.tasks()


def test_cancel_and_retry_answer_the_record_or_409(served):
    c = served.client
    tid = c.post("/tasks", json=shell(["sh", "-c", "echo started; sleep 30"])).json()["id"]
    wait_status(served, tid, "running")
    assert c.post(f"/tasks/{tid}/retry").status_code == 409
    assert "running" in c.post(f"/tasks/{tid}/retry").json()["error"]
    cancelling = c.post(f"/tasks/{tid}/cancel")
    assert cancelling.status_code == 200
    assert cancelling.json()["cancel_requested"] is True or cancelling.json()["status"] == "cancelled"
    wait_status(served, tid, "cancelled")
    again = c.post(f"/tasks/{tid}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["error"]
    retried = c.post(f"/tasks/{tid}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "queued"
    c.post(f"/tasks/{tid}/cancel")
    assert c.post("/tasks/77/cancel").status_code == 404


def test_the_log_pages_by_byte_offset(served):
    c = served.client
    tid = c.post("/tasks", json=shell(["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done"])).json()["id"]
    wait_status(served, tid, "completed")
    first = c.get(f"/tasks/{tid}/log", params={"limit": 10})
    assert first.status_code == 200 and len(first.content) == 10
    offset, text = int(first.headers["x-next-offset"]), first.content
    while True:
        page = c.get(f"/tasks/{tid}/log", params={"offset": offset})
        if not page.content:
            break
        text += page.content
        offset = int(page.headers["x-next-offset"])
    assert [line for line in text.decode().splitlines() if line.startswith("line")] == [f"line{i}" for i in range(1, 6)]
    assert int(page.headers["x-next-offset"]) == len(text)
    assert c.get(f"/tasks/{tid}/log", params={"offset": -1}).status_code == 400


def test_the_list_filters_and_pages(served):
    c = served.client
    ids = [c.post("/tasks", json=shell(["true"], delay_s=60)).json()["id"] for _ in range(5)]
    page = c.get("/tasks", params={"limit": 2})
    assert [t["id"] for t in page.json()] == ids[:2]
    rest = c.get("/tasks", params={"after_id": page.headers["x-next-after-id"]})
    assert [t["id"] for t in rest.json()] == ids[2:]
    assert c.get("/tasks", params={"status": "running"}).json() == []
    assert len(c.get("/tasks", params={"status": "queued", "kind": "shell"}).json()) == 5
    assert c.get("/tasks", params={"status": "bogus"}).status_code == 400


def test_status_speaks_the_protocol_track_reads(served):
    c = served.client
    tid = c.post("/tasks", json=shell(["true"], delay_s=60)).json()["id"]
    status = c.get(f"/tasks/{tid}/status").json()
    assert status["state"] == "queued" and status["request_id"] == f"t{tid}" and status["queue_position"] == 1
    c.post(f"/tasks/{tid}/cancel")
    assert c.get(f"/tasks/{tid}/status").json()["state"] == "cancelled"


def test_kinds_and_health(served):
    names = [k["name"] for k in served.client.get("/kinds").json()]
    assert {"shell", "download", "track"} <= set(names)
    health = served.client.get("/health").json()
    assert health["ok"] is True and health["home"] == str(served.queue.home)
    assert served.client.get("/nowhere").json() == {"error": "no such endpoint"}
    assert served.client.delete("/tasks/1").status_code == 405


def test_text_that_is_not_unicode_goes_in_and_comes_out_as_its_json_escape(served):
    body = b'{"kind": "shell", "payload": {"argv": ["printf", "\\udcff-ok"]}, "title": "odd \\udcff"}'
    created = served.client.post("/tasks", content=body, headers={"Content-Type": "application/json"})
    assert created.status_code == 201 and b"\\udcff" in created.content
    done = wait_status(served, created.json()["id"], "completed")
    assert done["payload"]["argv"] == ["printf", "\udcff-ok"]
    listed = served.client.get("/tasks")
    assert listed.status_code == 200 and b"\\udcff" in listed.content
