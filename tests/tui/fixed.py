"""A queue in a fixed state at a fixed instant, for snapshots and clock-driven tests."""

from __future__ import annotations

from datetime import datetime, timezone

from lazyqueue import Job, Queue, Task
from lazyqueue.core import background
from lazyqueue.core.config import Config
from lazyqueue.core.models import iso
from lazyqueue.core.taskfile import Change
from lazyqueue.demo import register_demo_kinds

NOW = datetime(2026, 1, 15, 12, 0, 0, tzinfo=timezone.utc).timestamp()


def clock() -> float:
    return NOW


def at(offset: float) -> str:
    return iso(NOW + offset)


def put(q: Queue, tasks: list[Task], jobs: list[Job]) -> None:
    """Write records as they are (ids and times chosen by the test)."""
    with q.taskfile.lock:
        q.taskfile.sync()
        while q.state.head.next_task_id <= max([t.id for t in tasks] or [0]):
            q.taskfile.next_task_id()
        while q.state.head.next_job_id <= max([j.id for j in jobs] or [0]):
            q.taskfile.next_job_id()
        q.taskfile.commit(Change(tasks=tasks, jobs=jobs))


def job(jid: int, title: str, stage: str, offset: float) -> Job:
    return Job(id=jid, title=title, stage=stage, created_at=at(offset), updated_at=at(offset))


def task(tid: int, kind: str, status: str, jid: int, label: str, created: float, **fields) -> Task:
    return Task(id=tid, kind=kind, status=status, job_id=jid, label=label, created_at=at(created),
                updated_at=fields.pop("updated_at", at(created)), max_attempts=fields.pop("max_attempts", 1), **fields)


OWNER = {"pid": 1, "host": "elsewhere", "worker": "snapshot", "lease_until": at(30)}


def run_here(q: Queue) -> None:
    """Record this process as the queue's worker, as the app's own worker does when it starts (the status
    line then says "run by this window" without a worker changing the fixed state)."""
    background.register(q.home, background.FOREGROUND)


def busy_queue(home) -> Queue:
    q = Queue(home, config=Config(concurrency=4), plugins=False)
    register_demo_kinds(q)
    run_here(q)
    jobs = [
        job(1, "Acme · sre", "Generated", -900),
        job(2, "Globex · platform", "Fetched", -600),
        job(3, "Initech · backend", "Evaluated", -500),
        job(4, "Partner API sync", "Pending", -400),
        job(5, "Search index rebuild", "Pending", -300),
        job(6, "Umbrella · data", "Fetched", -450),
        job(7, "Weekly report", "Pending", -200),
        job(8, "Webhook delivery", "Pending", -100),
    ]
    tasks = [
        task(1, "fetch", "completed", 1, "fetch acme.example/sre", -900, started_at=at(-890), finished_at=at(-880),
             attempt=1, progress=100.0, result={"bytes": 48213}),
        task(2, "generate", "completed", 1, "generate CV for acme.example/sre", -700, started_at=at(-690),
             finished_at=at(-660), attempt=1, progress=100.0,
             result={"path": "/tmp/lazyqueue-demo/out/cv-1.pdf", "expires_at": at(600)}),
        task(3, "evaluate", "running", 2, "evaluate globex.example/platform", -60, started_at=at(-20), attempt=1,
             progress=40.0, progress_label="scoring 2/5", owner=OWNER),
        task(4, "generate", "running", 3, "generate CV for initech.example/backend", -90, started_at=at(-45),
             attempt=1, progress=100.0, progress_label="writing 6/6", owner=OWNER),
        task(5, "crunch", "running", 5, "crunch index", -120, started_at=at(-75), attempt=1, owner=OWNER),
        task(6, "evaluate", "queued", 6, "evaluate umbrella.example/data", -95, updated_at=at(-95)),
        task(7, "crunch", "queued", 7, "crunch report", -200, not_before=at(300)),
        task(8, "flaky", "failed", 4, "flaky partner API", -400, started_at=at(-390), finished_at=at(-388), attempt=1,
             error="remote answered 503 Service Unavailable\n<html>…</html>", error_kind="fatal",
             meta={"request_id": "req_demo_0008"}),
        task(9, "bounce", "queued", 8, "bounce webhook", -100, attempt=1, max_attempts=2, not_before=at(8),
             error="connection reset", error_kind="retryable"),
        task(10, "fetch", "queued", 6, "fetch umbrella.example/data", -450, updated_at=at(-400), after=[3]),
    ]
    put(q, tasks, jobs)
    return q


def empty_queue(home) -> Queue:
    q = Queue(home, config=Config(concurrency=4), plugins=False)
    register_demo_kinds(q)
    run_here(q)
    return q
