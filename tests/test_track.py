"""The built-in `track` kind: the poll loop under a fake clock, the task glue, and end to end."""

from __future__ import annotations

import asyncio
import http.server
import json
import shlex
import sys
import threading
from pathlib import Path

import pytest

from lazyqueue import Cancelled, FatalError, Queue, UsageError
from lazyqueue.core import events as ev
from lazyqueue.core.context import TaskContext
from lazyqueue.core.models import Task
from lazyqueue.kinds import track as tr
from tests.conftest import wait_until


# ---------------------------------------------------------------- fakes
class FakeClock:
    """`clock()` and `await sleep(s)`: time moves only when the poller sleeps."""

    def __init__(self, start: float = 0.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class Script:
    """A fetch that answers from a list (or a function of the poll number) and records poll times."""

    def __init__(self, clock: FakeClock, answers):
        self.clock = clock
        self.answers = answers
        self.times: list[float] = []
        self.hook = None

    async def __call__(self):
        n = len(self.times)
        self.times.append(self.clock())
        if self.hook is not None:
            self.hook(n)
        answer = self.answers(n, self.clock()) if callable(self.answers) else self.answers[n]
        if isinstance(answer, Exception):
            raise answer
        return answer


class Recorder(tr.PollListener):
    def __init__(self):
        self.transitions = []
        self.errors = []
        self.banners = []

    def on_transition(self, previous, status):
        self.transitions.append((previous, status.state))

    def on_poll_error(self, error, consecutive):
        self.errors.append((error, consecutive))

    def on_banner(self, shown, error):
        self.banners.append(shown)


def make_poller(answers, *, interval=2.0, listener=None, gate=None):
    clock = FakeClock()
    fetch = Script(clock, answers)
    poller = tr.Poller(fetch, interval=interval, clock=clock, sleep=clock.sleep,
                       gate=gate or tr.PollGate(3, tick=0), listener=listener or Recorder())
    return poller, fetch, clock


def st(state, **kw):
    return dict(state=state, **kw)


# ---------------------------------------------------------------- cadence
def test_first_poll_at_once_and_none_after_terminal():
    answers = [st("queued", queue_position=3), st("queued", queue_position=2), st("running", progress=10),
               st("running", progress=50), st("ready", download_url="https://x/a.zip")]
    poller, fetch, clock = make_poller(answers)
    status = asyncio.run(poller.run())
    assert status.state == "ready" and status.download_url == "https://x/a.zip"
    assert fetch.times == [0, 2, 4, 6, 8]
    assert poller.polls == 5  # nothing after ready
    assert poller.listener.transitions == [(None, "queued"), ("queued", "running"), ("running", "ready")]


def test_backs_off_after_60_s_to_5_10_30():
    poller, fetch, _ = make_poller(lambda n, t: st("running") if t < 200 else st("ready"))
    asyncio.run(poller.run())
    assert fetch.times == [float(t) for t in range(0, 61, 2)] + [65, 75, 105, 135, 165, 195, 225]
    assert poller.listener.transitions == [(None, "running"), ("running", "ready")]


def test_interval_is_clamped_to_one_second_and_a_longer_one_is_kept():
    poller, fetch, _ = make_poller([st("running"), st("running"), st("failed")], interval=0.1)
    asyncio.run(poller.run())
    assert fetch.times == [0, 1, 2]
    poller, fetch, _ = make_poller(lambda n, t: st("running") if t < 100 else st("expired"), interval=20)
    asyncio.run(poller.run())
    assert fetch.times == [0, 20, 40, 60, 80, 100]  # back-off steps below the interval keep the interval


def test_three_failed_polls_show_the_banner_then_30_s_until_a_success_clears_it():
    boom = tr.PollError("HTTP 503 from status.example")
    answers = [st("running"), boom, boom, boom, boom, st("running"), st("running"), st("ready")]
    rec = Recorder()
    poller, fetch, _ = make_poller(answers, listener=rec)
    asyncio.run(poller.run())
    # ok at 0; fails at 2, 4, 6 (banner); 36 fails; 66 answers, banner cleared; the
    # normal cadence resumes — by now past 60 s, so the back-off steps 5, 10
    assert fetch.times == [0, 2, 4, 6, 36, 66, 71, 81]
    assert rec.banners == [True, False]
    assert [n for _, n in rec.errors] == [1, 2, 3, 4]
    assert rec.errors[0][0] == "HTTP 503 from status.example"


def test_bad_answers_count_as_failed_polls():
    answers = [{"state": "weird"}, "not a dict", ValueError("boom"), st("ready")]
    rec = Recorder()
    poller, fetch, _ = make_poller(answers, listener=rec)
    status = asyncio.run(poller.run())
    assert status.state == "ready" and len(rec.errors) == 3 and rec.banners == [True, False]
    assert "no known state" in rec.errors[0][0]


def test_stop_ends_the_loop():
    poller, fetch, _ = make_poller(lambda n, t: st("running"))
    fetch.hook = lambda n: poller.stop("shutdown") if n == 3 else None
    with pytest.raises(tr.PollStopped) as info:
        asyncio.run(poller.run())
    assert info.value.reason == "shutdown" and poller.polls == 4


def test_cancel_then_ready_returns_ready():
    # the cancel goes out during the second poll; the poll right after it says ready
    poller, fetch, _ = make_poller([st("running"), st("running"), st("ready", download_url="u")])
    fetch.hook = lambda n: poller.cancel_sent() if n == 1 else None
    status = asyncio.run(poller.run())
    assert status.state == "ready" and poller.polls == 3
    assert fetch.times == [0, 2, 2]  # poked: polled again at once


def test_cancel_not_confirmed_gives_up():
    poller, fetch, _ = make_poller(lambda n, t: st("running"))
    fetch.hook = lambda n: poller.cancel_sent() if n == 40 else None  # during the backed-off stretch
    with pytest.raises(tr.CancelNotConfirmed):
        asyncio.run(poller.run())
    sent = fetch.times[40]
    after = [t for t in fetch.times if t >= sent]
    # one poll at once, then the base cadence while waiting for the source to confirm, for 30 s
    assert after == [sent] + [sent + 2 * i for i in range(16)]


# ---------------------------------------------------------------- the gate
def test_gate_keeps_three_polls_in_flight_at_most():
    gate = tr.PollGate(3, tick=0)
    release = threading.Event()
    lock = threading.Lock()
    state = {"now": 0, "peak": 0, "done": 0}

    def fetch():  # a blocking request, run in a thread by the poller
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        release.wait(10)
        with lock:
            state["now"] -= 1
            state["done"] += 1
        return {"state": "ready", "download_url": "u"}

    async def main():
        pollers = [tr.Poller(fetch, gate=gate) for _ in range(20)]
        return await asyncio.gather(*(p.run() for p in pollers))

    results = {}
    runner = threading.Thread(target=lambda: results.setdefault("out", asyncio.run(main())))
    runner.start()
    try:
        wait_until(lambda: state["now"] == 3 and len(gate._waiters) == 17, message="a full gate")
        assert gate.in_flight == 3
    finally:
        release.set()
        runner.join(10)
    assert len(results["out"]) == 20 and state["done"] == 20
    assert state["peak"] == 3 and gate.peak == 3 and gate.in_flight == 0


def test_gate_waiter_that_gives_up_passes_no_slot_on_twice():
    gate = tr.PollGate(1, tick=0)

    async def main():
        await gate.acquire()
        waiter = asyncio.ensure_future(gate.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        gate.release()
        assert gate.in_flight == 0
        async with gate.slot():
            assert gate.in_flight == 1
        assert gate.in_flight == 0

    asyncio.run(main())


def test_polls_after_the_first_land_on_the_gate_tick_grid():
    clock = FakeClock(start=100.1)
    fetch = Script(clock, [st("queued"), st("running"), st("running"), st("ready")])
    poller = tr.Poller(fetch, clock=clock, sleep=clock.sleep, gate=tr.PollGate(3, tick=0.25))
    asyncio.run(poller.run())
    assert fetch.times == [100.1, 102.25, 104.25, 106.25]  # trackers on one cadence share ticks


def test_gate_aligns_due_times_to_its_tick():
    gate = tr.PollGate(3, tick=0.25)
    assert gate.align(2.0) == 2.0
    assert gate.align(2.01) == 2.25
    assert tr.PollGate(3, tick=0).align(2.01) == 2.01


# ---------------------------------------------------------------- the task glue
class Reporter:
    def __init__(self):
        self.progress: list[tuple] = []
        self.meta_calls: list[dict] = []
        self.meta: dict = {}

    def report_progress(self, tid, value, label):
        self.progress.append((value, label))

    def report_meta(self, tid, values):
        self.meta_calls.append(values)
        self.meta.update(values)

    def set_stage(self, tid, stage):
        pass

    def note_child(self, tid, pid):
        pass


def bridge_for(tmp_path, answers, payload=None):
    payload = payload or {"url": "http://status.example/job/1"}
    task = Task(id=7, kind="track", payload=payload, attempt=1, max_attempts=3)
    rep = Reporter()
    ctx = TaskContext(task, None, tmp_path / "7.log", rep)
    clock = FakeClock()
    bridge = tr.TaskBridge(ctx, payload, clock=clock)
    fetch = Script(clock, answers)
    poller = tr.Poller(fetch, clock=clock, sleep=clock.sleep, gate=tr.PollGate(3, tick=0), listener=bridge)
    bridge.poller = poller
    return bridge, poller, rep, ctx


def run_bridge(bridge, poller):
    return bridge.outcome(asyncio.run(poller.run()))


def test_one_meta_update_per_transition_and_a_log_line_each(tmp_path):
    answers = [st("queued", queue_position=2, request_id="r1")] * 3 + [st("running", progress=20, request_id="r1")] * 5
    answers += [st("ready", download_url="https://x/a.zip", expires_at="2030-01-01T00:00:00Z", request_id="r1")]
    bridge, poller, rep, ctx = bridge_for(tmp_path, answers)
    result = run_bridge(bridge, poller)
    ctx.close()
    states = [m["remote_state"] for m in rep.meta_calls if "remote_state" in m]
    assert states == ["queued", "running", "ready"]
    assert len(rep.meta_calls) == 3  # nothing changed between transitions
    assert rep.meta["request_id"] == "r1" and rep.meta["download_url"] == "https://x/a.zip"
    assert result == {"remote_state": "ready", "download_url": "https://x/a.zip", "expires_at": "2030-01-01T00:00:00Z",
                      "request_id": "r1", "source": "http://status.example/job/1"}
    lines = [line for line in (tmp_path / "7.log").read_text().splitlines() if line.startswith("remote state")]
    assert lines == ["remote state: queued (position 2; request id r1)", "remote state: queued → running (request id r1)",
                     "remote state: running → ready (request id r1)"]
    assert (None, "queued · position 2") in rep.progress and (20.0, "running") in rep.progress


def test_queue_position_changes_reach_the_record(tmp_path):
    answers = [st("queued", queue_position=3), st("queued", queue_position=3), st("queued", queue_position=2), st("ready", download_url="u")]
    bridge, poller, rep, _ = bridge_for(tmp_path, answers)
    run_bridge(bridge, poller)
    positions = [m["queue_position"] for m in rep.meta_calls if "queue_position" in m]
    assert positions == [3, 2, None]
    assert [label for _, label in rep.progress][:2] == ["queued · position 3", "queued · position 2"]


def test_progress_never_100_before_ready(tmp_path):
    bridge, poller, rep, _ = bridge_for(tmp_path, [st("running", progress=100), st("running", progress=100), st("ready", download_url="u")])
    run_bridge(bridge, poller)
    assert rep.progress == [(99.0, "finalizing")]


def test_banner_in_meta_and_label_then_cleared(tmp_path):
    boom = tr.PollError("timed out after 30 s (status.example)")
    answers = [st("running", progress=40), boom, boom, boom, st("running", progress=45), st("ready", download_url="u")]
    bridge, poller, rep, _ = bridge_for(tmp_path, answers)
    run_bridge(bridge, poller)
    banner_calls = [m for m in rep.meta_calls if "poll_error" in m]
    assert [m["poll_error"] for m in banner_calls] == [tr.BANNER, None]
    assert [m["banner"] for m in banner_calls] == [tr.BANNER, None]
    assert banner_calls[0]["last_poll_error"] == "timed out after 30 s (status.example)"
    assert rep.progress == [(40.0, "running"), (40.0, "couldn't refresh status — retrying every 30 s"), (45.0, "running")]


def test_ready_without_download_url_offers_a_retry(tmp_path):
    bridge, poller, rep, _ = bridge_for(tmp_path, [st("running"), st("ready", request_id="r9")])
    result = run_bridge(bridge, poller)
    assert result["artifact_unavailable"] is True and result["download_url"] is None
    assert rep.meta["retry_offered"] is True and rep.meta["artifact_unavailable"] is True
    assert len([m for m in rep.meta_calls if m.get("remote_state") == "ready"]) == 1


def test_failed_keeps_the_request_id(tmp_path):
    bridge, poller, rep, _ = bridge_for(tmp_path, [st("running", request_id="req_abc"), st("failed", error="out of memory", request_id="req_abc")])
    with pytest.raises(FatalError) as info:
        run_bridge(bridge, poller)
    assert str(info.value) == "remote job failed: out of memory (request id req_abc)"
    assert rep.meta["request_id"] == "req_abc" and rep.meta["remote_error"] == "out of memory"
    assert rep.meta["remote_state"] == "failed"


def test_expired_and_cancelled_remotely(tmp_path):
    bridge, poller, rep, _ = bridge_for(tmp_path, [st("queued"), st("expired", request_id="r2")])
    with pytest.raises(FatalError, match="expired remotely"):
        run_bridge(bridge, poller)
    assert rep.meta["remote_state"] == "expired"
    bridge, poller, rep, _ = bridge_for(tmp_path, [st("cancelled")])
    with pytest.raises(Cancelled):
        run_bridge(bridge, poller)
    assert rep.meta["remote_state"] == "cancelled"


def test_long_queue_gets_a_notice(tmp_path):
    bridge, poller, rep, _ = bridge_for(tmp_path, lambda n, t: st("queued", queue_position=4, request_id="r5") if t < 400 else st("ready", download_url="u"))
    run_bridge(bridge, poller)
    notices = [m["queue_notice"] for m in rep.meta_calls if "queue_notice" in m]
    assert notices == ["taking longer than expected — position 4", "stuck in queue — contact support with request id r5", None]
    assert rep.meta_calls[-1]["remote_state"] == "ready"  # cleared with the transition, in one update


def test_parse_status_and_expiry_text():
    s = tr.parse_status('noise\n{"state": "RUNNING", "progress": "42", "queuePosition": 3, "requestId": 7}\n')
    assert (s.state, s.progress, s.queue_position, s.request_id) == ("running", 42.0, 3, "7")
    with pytest.raises(tr.PollError):
        tr.parse_status("")
    with pytest.raises(tr.PollError):
        tr.parse_status('{"progress": 3}')
    assert tr.expires_in_text("2030-01-01T00:04:10Z", now=1893456000) == "expires in 4m 10s"
    assert tr.expires_in_text("2030-01-01T00:00:00Z", now=1893456000 + 3) == "expired"
    assert tr.expires_in_text(None) is None


def test_payload_validation(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = tr.TRACK.check_payload({"command": "cat status.json", "interval": "0.2"})
    assert p["interval"] == 1.0 and p["cwd"] == str(tmp_path)
    assert tr.TRACK.dedupe_key(p) == "track:cat status.json"
    assert tr.TRACK.check_payload({"url": "http://h/s", "interval": "5"})["interval"] == 5.0
    for bad in ({}, {"command": "x", "url": "http://h/"}, {"url": "file:///etc/passwd"},
                {"url": "http://h/", "interval": "soon"}, {"url": "http://h/", "cancel_url": "x", "cancel_command": "y"}):
        with pytest.raises(UsageError):
            tr.TRACK.check_payload(bad)
    assert tr.TRACK.uses_slot is False and tr.TRACK.concurrency == 50 and tr.TRACK.timeout is None


# ---------------------------------------------------------------- through the real worker
STATUS_SCRIPT = r"""
import json, pathlib, sys
here = pathlib.Path(sys.argv[1])
count = here / "count"
n = int(count.read_text()) if count.exists() else 0
count.write_text(str(n + 1))
plan = json.loads((here / "plan.json").read_text())
override = here / "state"
if override.exists():
    print(json.dumps({"state": override.read_text().strip(), "request_id": "r-e2e", "download_url": "https://files.example/out.zip"}))
else:
    print(json.dumps(plan[min(n, len(plan) - 1)]))
"""


@pytest.fixture
def remote(tmp_path):
    """A status command over files: plan.json answers in order, a `state` file overrides it."""
    here = tmp_path / "remote"
    here.mkdir()
    script = here / "status.py"
    script.write_text(STATUS_SCRIPT)

    class Remote:
        dir = here
        command = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {shlex.quote(str(here))}"

        def plan(self, answers):
            (here / "plan.json").write_text(json.dumps(answers))

        def polls(self):
            p = here / "count"
            return int(p.read_text()) if p.exists() else 0

        def set_state_command(self, state):
            return f"echo {state} > {shlex.quote(str(here / 'state'))}; touch {shlex.quote(str(here / 'cancel-called'))}"

    return Remote()


@pytest.fixture
def queue(home):
    q = Queue(home)
    yield q
    q.stop_worker(grace=1.0)
    q.close()


def finished(q, tid):
    task = q.get(tid)
    return task if task.finished else None


def test_e2e_queued_running_ready(queue, remote):
    remote.plan([st("queued", queue_position=1, request_id="r-e2e"), st("running", progress=50, request_id="r-e2e"),
                 st("ready", download_url="https://files.example/out.zip", expires_at="2030-01-01T00:00:00Z", request_id="r-e2e")])
    seen = []
    queue.subscribe(lambda e: seen.append(e))
    queue.start_worker()
    task, _ = queue.enqueue("track", {"command": remote.command, "interval": "1"})
    done = wait_until(lambda: finished(queue, task.id), timeout=20, message="tracking to finish")
    assert done.status == "completed", done.error
    assert done.result["download_url"] == "https://files.example/out.zip"
    assert done.result["request_id"] == "r-e2e"
    assert done.meta["remote_state"] == "ready" and done.meta["expires_at"] == "2030-01-01T00:00:00Z"
    assert remote.polls() == 3  # queued, running, ready — nothing after
    log = Path(queue.log_path(task.id)).read_text()
    assert "remote state: queued → running" in log and "remote state: running → ready" in log


def test_e2e_url_source_failed(queue, tmp_path):
    hits = []

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            body = json.dumps({"state": "failed", "error": "render crashed", "request_id": "req_abc"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        queue.start_worker()
        task, _ = queue.enqueue("track", {"url": f"http://127.0.0.1:{srv.server_address[1]}/jobs/1"})
        done = wait_until(lambda: finished(queue, task.id), timeout=20, message="tracking to finish")
    finally:
        srv.shutdown()
        srv.server_close()
    assert done.status == "failed" and done.error_kind == "fatal" and done.attempt == 1
    assert done.error == "remote job failed: render crashed (request id req_abc)"
    assert done.meta["request_id"] == "req_abc"
    assert hits == ["/jobs/1"]


def test_a_failed_url_poll_reads_as_a_download_error_would():
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):  # noqa: N802
            self.send_error(503)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        with pytest.raises(tr.PollError) as info:
            tr.url_fetcher(f"http://127.0.0.1:{srv.server_address[1]}/jobs/1", timeout=10)()
    finally:
        srv.shutdown()
        srv.server_close()
    assert str(info.value) == "HTTP 503 from 127.0.0.1 (Service Unavailable)"


def test_e2e_cancel_loses_the_race_to_ready(queue, remote):
    remote.plan([st("running", progress=10, request_id="r-e2e")])
    completed = []
    queue.subscribe(lambda e: completed.append(e), (ev.TASK_COMPLETED,))
    queue.start_worker()
    task, _ = queue.enqueue("track", {"command": remote.command, "cancel_command": remote.set_state_command("ready")})
    wait_until(lambda: queue.get(task.id).meta.get("remote_state") == "running", message="the running state")
    queue.cancel(task.id)
    done = wait_until(lambda: finished(queue, task.id), timeout=20, message="tracking to finish")
    assert (remote.dir / "cancel-called").exists()
    assert done.status == "completed"
    assert done.result["cancel_too_late"] is True and done.result["download_url"] == "https://files.example/out.zip"
    assert done.meta["cancel_too_late"] is True
    wait_until(lambda: completed, message="the completed event")
    assert completed[0].data.get("cancel_too_late") is True


def test_e2e_cancel_confirmed(queue, remote):
    remote.plan([st("queued", queue_position=5)])
    queue.start_worker()
    task, _ = queue.enqueue("track", {"command": remote.command, "cancel_command": remote.set_state_command("cancelled")})
    wait_until(lambda: queue.get(task.id).meta.get("remote_state") == "queued", message="the queued state")
    queue.cancel(task.id)
    done = wait_until(lambda: finished(queue, task.id), timeout=20, message="tracking to finish")
    assert done.status == "cancelled"
    assert (remote.dir / "cancel-called").exists()
    assert done.meta["cancel"] == "sent"


def test_e2e_cancel_without_endpoint_stops_at_once(queue, remote):
    remote.plan([st("running")])
    queue.start_worker()
    task, _ = queue.enqueue("track", {"command": remote.command, "interval": "30"})
    wait_until(lambda: queue.get(task.id).meta.get("remote_state") == "running", message="the running state")
    queue.cancel(task.id)
    done = wait_until(lambda: finished(queue, task.id), timeout=10, message="the cancel")
    assert done.status == "cancelled" and remote.polls() == 1


def test_e2e_shutdown_leaves_the_remote_job_alone(queue, remote):
    remote.plan([st("running")])
    queue.start_worker()
    task, _ = queue.enqueue("track", {"command": remote.command, "cancel_command": remote.set_state_command("cancelled"), "interval": "30"})
    wait_until(lambda: queue.get(task.id).meta.get("remote_state") == "running", message="the running state")
    queue.stop_worker(grace=0.1)
    again = queue.get(task.id)
    assert again.status == "queued" and again.attempt == 0  # back in line, no attempt spent
    assert not (remote.dir / "cancel-called").exists()


def test_e2e_tracks_do_not_take_global_slots(queue, remote):
    remote.plan([st("running")])
    queue.start_worker(concurrency=1)
    tracks = [queue.enqueue("track", {"command": remote.command + f" # {i}", "interval": "30"})[0] for i in range(3)]
    shell, _ = queue.enqueue("shell", {"command": "echo hi"})
    done = wait_until(lambda: finished(queue, shell.id), timeout=20, message="the shell task")
    assert done.status == "completed"
    assert all(queue.get(t.id).status == "running" for t in tracks)


def test_e2e_ready_without_artifact_then_retry(queue, remote):
    remote.plan([st("ready", request_id="r-e2e")])
    queue.start_worker()
    task, _ = queue.enqueue("track", {"command": remote.command})
    done = wait_until(lambda: finished(queue, task.id), timeout=20, message="tracking to finish")
    assert done.status == "completed"
    assert done.result["artifact_unavailable"] is True and done.result["download_url"] is None
    assert done.meta["retry_offered"] is True and done.meta["artifact_unavailable"] is True
    (remote.dir / "state").write_text("ready")  # the source has the file now
    queue.retry([task.id])
    again = wait_until(lambda: finished(queue, task.id), timeout=20, message="the retry to finish")
    assert again.status == "completed"
    assert again.result["download_url"] == "https://files.example/out.zip"
    assert "artifact_unavailable" not in again.result
    assert again.meta["artifact_unavailable"] is None and not again.meta.get("retry_offered")


def test_e2e_many_tracked_tasks_keep_three_requests_in_flight(queue):
    lock = threading.Lock()
    release = threading.Event()
    seen = {"now": 0, "peak": 0, "total": 0}

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):  # noqa: N802
            with lock:
                seen["now"] += 1
                seen["total"] += 1
                seen["peak"] = max(seen["peak"], seen["now"])
            release.wait(20)
            body = json.dumps({"state": "ready", "download_url": "https://files.example" + self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            with lock:
                seen["now"] -= 1

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        queue.start_worker()
        tasks = [queue.enqueue("track", {"url": f"{base}/jobs/{i}"})[0] for i in range(12)]
        wait_until(lambda: seen["now"] == 3 and len(tr.GATE._waiters) == 9, message="three polls out, nine waiting")
        assert seen["peak"] == 3
        release.set()
        done = [wait_until(lambda t=t: finished(queue, t.id), timeout=20, message="tracking to finish") for t in tasks]
    finally:
        release.set()
        srv.shutdown()
        srv.server_close()
    assert all(t.status == "completed" for t in done)
    assert seen["peak"] == 3 and seen["total"] == 12
    assert tr.GATE.in_flight == 0


# ---------------------------------------------------------------- from the command line
def test_cli_track_command_until_ready(cli_env, tmp_path):
    import subprocess

    where = tmp_path / "here"
    where.mkdir()
    (where / "status.json").write_text(json.dumps({"state": "ready", "download_url": "https://files.example/a.zip", "request_id": "r1",
                                                   "result": {"frames": 240, "codec": "av1"}}))

    def lq(*args):
        return subprocess.run([sys.executable, "-m", "lazyqueue", *args], env=cli_env, cwd=where,
                              capture_output=True, text=True, timeout=60)

    added = lq("add", "track", "command=cat status.json", "interval=0.2", "--json")
    assert added.returncode == 0, added.stderr
    record = json.loads(added.stdout)
    assert record["payload"] == {"command": "cat status.json", "interval": 1.0, "cwd": str(where)}
    missing = lq("add", "track")
    assert missing.returncode == 2 and "command=" in missing.stderr and missing.stderr.count("\n") == 1
    worker = lq("worker", "--exit-when-idle")
    assert worker.returncode == 0, worker.stderr
    shown = json.loads(lq("show", str(record["id"]), "--json").stdout)
    assert shown["status"] == "completed"
    assert shown["result"]["download_url"] == "https://files.example/a.zip" and shown["meta"]["request_id"] == "r1"
    assert shown["result"]["result"] == {"frames": 240, "codec": "av1"}  # the remote job's own result is kept


def test_e2e_a_task_timeout_stops_tracking(queue, remote):
    remote.plan([st("running")])
    queue.start_worker()
    task, _ = queue.enqueue("track", {"command": remote.command, "interval": "30"}, timeout=0.5, max_attempts=1)
    done = wait_until(lambda: finished(queue, task.id), timeout=20, message="the timeout")
    assert done.status == "failed" and done.error.startswith("timed out after 0.5 s")
    assert remote.polls() == 1
    assert not (remote.dir / "cancel-called").exists()


def test_exit_when_idle_leave_tracked_exits_with_tracked_work_left_queued(cli_env, tmp_path):
    import subprocess

    where = tmp_path / "here"
    where.mkdir()
    (where / "status.json").write_text(json.dumps({"state": "running", "progress": 10}))

    def lq(*args):
        return subprocess.run([sys.executable, "-m", "lazyqueue", *args], env=cli_env, cwd=where,
                              capture_output=True, text=True, timeout=90)

    tracked = json.loads(lq("add", "track", "command=cat status.json", "--json").stdout)
    plain = json.loads(lq("add", "shell", "--json", "--", "true").stdout)
    alone = lq("worker", "--leave-tracked")
    assert alone.returncode == 2 and alone.stderr == "lazyqueue: --leave-tracked goes with --exit-when-idle\n"
    worker = lq("worker", "--exit-when-idle", "--leave-tracked", "-q")
    assert worker.returncode == 0 and "Traceback" not in worker.stderr, worker.stderr
    assert json.loads(lq("show", str(plain["id"]), "--json").stdout)["status"] == "completed"
    left = json.loads(lq("show", str(tracked["id"]), "--json").stdout)
    assert left["status"] == "queued" and left["attempt"] <= 1, left  # back for the next worker, no attempt spent
    assert "--leave-tracked" in " ".join(lq("worker", "--help").stdout.split())
