"""`lazyqueue demo`: a throw-away queue where every state shows within ~10 s.

A temporary state directory (never the user's queue; removed on exit) or the
one `--home` names (kept), demo kinds — a fetch → evaluate → generate
pipeline chained with `then` and reporting progress, a task that fails once
so Retry can be tried, one that is retried with back-off, one with no known
progress, one that expires — a seed of tasks including a dedupe collision
and a delayed start, and for a few minutes a trickle of long renders, so
cancel, priority and pause always have something to act on. Each handler
sets its job's stage as it goes (Fetching → Fetched …).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

from .core.config import Config
from .core.errors import FatalError, RetryableError
from .local import Queue
from .core.registry import Field

SPEED = 1.0  # tests shrink it


def _steps(ctx, seconds: float, label: str, steps: int = 10, finalize: float = 0.0) -> bool:
    """Report progress in `steps`; True if cancelled."""
    for i in range(1, steps + 1):
        if ctx.wait_cancelled(seconds * SPEED / steps):
            return True
        ctx.progress(i * 100 / steps, f"{label} {i}/{steps}")
        ctx.log(f"{label}: step {i}/{steps}")
    if finalize:  # the work reports 100 % a moment before it is really done
        return ctx.wait_cancelled(finalize * SPEED)
    return False


def register_demo_kinds(queue: Queue) -> None:
    home = Path(queue.home)

    @queue.kind("fetch", concurrency=2, then=["evaluate"], fields=[Field("url", help="a page to fetch")],
                dedupe="fetch:{url}", label="fetch {url}", description="download a posting (demo)")
    def fetch(ctx):
        ctx.set_stage("Fetching")
        ctx.log(f"GET {ctx.payload['url']}")
        if _steps(ctx, 2.5, "downloading"):
            ctx.check_cancelled()
        ctx.set_stage("Fetched")
        return {"bytes": 48_213}

    @queue.kind("evaluate", concurrency=1, then=["generate"], fields=[Field("url")],
                label="evaluate {url}", description="score a posting (demo; one at a time)")
    def evaluate(ctx):
        ctx.set_stage("Evaluating")
        if _steps(ctx, 2.0, "scoring", steps=5):
            ctx.check_cancelled()
        ctx.set_stage("Evaluated")
        return {"score": 4.2}

    @queue.kind("generate", concurrency=2, fields=[Field("url")], label="generate CV for {url}",
                description="write a CV (demo; shows 99% finalizing)")
    def generate(ctx):
        ctx.set_stage("Writing CV")
        if _steps(ctx, 3.0, "writing", steps=6, finalize=1.2):
            ctx.check_cancelled()
        out = home / "out" / f"cv-{ctx.task.job_id or ctx.task.id}.pdf"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("demo artifact\n")
        ctx.set_stage("CV ready")
        return {"path": str(out), "expires_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 90))}

    @queue.kind("flaky", fields=[Field("what", help="anything")], label="flaky {what}",
                description="fails the first time, works after a retry (demo)")
    def flaky(ctx):
        ctx.set_stage("Syncing")
        marker = home / f"flaky-{ctx.task.id}.tried"
        ctx.log("calling the remote service…")
        if ctx.wait_cancelled(1.5 * SPEED):
            ctx.check_cancelled()
        if not marker.exists():
            marker.write_text("1")
            ctx.update_meta(request_id=f"req_demo_{ctx.task.id:04d}")
            ctx.log("remote answered 503")
            raise FatalError("remote answered 503 Service Unavailable (demo: press r to retry)")
        ctx.log("remote answered 200")
        ctx.set_stage("Synced")
        return {"ok": True}

    @queue.kind("bounce", max_attempts=2, backoff={"base": 4, "factor": 1, "max": 4, "jitter": 0},
                fields=[Field("what")], label="bounce {what}",
                description="fails once and is retried automatically with back-off (demo)")
    def bounce(ctx):
        ctx.set_stage(f"Delivering (attempt {ctx.attempt})")
        if ctx.wait_cancelled(1.0 * SPEED):
            ctx.check_cancelled()
        if ctx.attempt == 1:
            raise RetryableError("connection reset (demo: retried automatically)")
        ctx.set_stage("Delivered")
        return {"ok": True}

    @queue.kind("crunch", fields=[Field("what")], label="crunch {what}",
                description="works with no known progress: a spinner (demo)")
    def crunch(ctx):
        ctx.set_stage("Crunching")
        ctx.log("crunching without knowing how long it takes")
        if ctx.wait_cancelled(6.0 * SPEED):
            ctx.check_cancelled()
        ctx.set_stage("Crunched")
        return {"ok": True}

    @queue.kind("render", concurrency=2, fields=[Field("scene", help="what to render")], label="render {scene}",
                description="a long render, 30-60 s (demo: try c, + / - and p on it)")
    def render(ctx):
        ctx.set_stage("Rendering")
        frames = 12
        for i in range(1, frames + 1):
            if ctx.wait_cancelled(float(ctx.payload.get("seconds", 36)) * SPEED / frames):
                ctx.check_cancelled()
            ctx.progress(i * 100 / frames, f"frame {i}/{frames}")
            ctx.log(f"rendered frame {i}/{frames}")
        ctx.set_stage("Rendered")
        return {"frames": frames}


def seed_demo_tasks(queue: Queue) -> None:
    urls = ["acme.example/sre", "globex.example/platform", "initech.example/backend", "umbrella.example/data"]
    for url in urls:
        queue.enqueue("fetch", {"url": url}, title=url.split("/")[0].split(".")[0].title() + " · " + url.split("/")[1])
    dup = queue.enqueue("fetch", {"url": urls[0]})
    if dup.deduplicated:
        queue.warnings.append(f"demo: a second fetch of {urls[0]} was refused — already queued as {dup.task.ref}")
    queue.enqueue("flaky", {"what": "partner API"}, title="Partner API sync")
    queue.enqueue("bounce", {"what": "webhook"}, title="Webhook delivery")
    crunch = queue.enqueue("crunch", {"what": "index"}, title="Search index rebuild", priority=7).task
    queue.enqueue("crunch", {"what": "report"}, title="Weekly report", delay=8)
    queue.enqueue("fetch", {"url": "hooli.example/ml"}, title="Hooli · ml (expires unless started in 4 s)",
                  after=[crunch.id], expires=4)


SCENES = ("lobby", "atrium", "rooftop", "garage", "harbour", "canyon", "orchard", "library")
TRICKLE_EVERY_S = 12.0
TRICKLE_FOR_S = 300.0  # a few minutes of new work, then the demo settles


class Trickle:
    """Adds a long render every TRICKLE_EVERY_S seconds for TRICKLE_FOR_S, on a thread of its own."""

    def __init__(self, queue: Queue, every: float = TRICKLE_EVERY_S, lasting: float = TRICKLE_FOR_S) -> None:
        self.queue, self.every, self.lasting = queue, every, lasting
        self.stopped = threading.Event()
        self.added = 0
        self._thread = threading.Thread(target=self._run, name="lazyqueue-demo-trickle", daemon=True)

    def start(self) -> "Trickle":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        until = time.monotonic() + self.lasting
        while not self.stopped.wait(self.every * SPEED) and time.monotonic() < until:
            scene = SCENES[self.added % len(SCENES)]
            try:
                self.queue.enqueue("render", {"scene": scene, "seconds": 30 + 6 * (self.added % 6)},
                                   title=f"Render · {scene}", priority=3 + self.added % 5)
            except Exception:  # the queue was closed under us: the demo is ending
                return
            self.added += 1


def open_demo_queue(speed: float = 1.0, home: str | Path | None = None, config: str | Path | None = None) -> Queue:
    """A Queue with the demo kinds and seed tasks: on `home` if given, else on a fresh temporary
    state dir (`remove_demo_home` takes it away). `config` is a config file to read instead of the
    demo's own settings."""
    global SPEED
    SPEED = speed
    temporary = home is None
    path = Path(tempfile.mkdtemp(prefix="lazyqueue-demo-")) if temporary else Path(home).expanduser()
    queue = Queue(path, config=config if config is not None else Config(concurrency=4, grace_s=2.0), plugins=False)
    queue.demo_temporary = temporary  # type: ignore[attr-defined]
    register_demo_kinds(queue)
    seed_demo_tasks(queue)
    return queue


def remove_demo_home(queue: Queue) -> None:
    """Take away the temporary state dir of a closed demo queue (never a --home the user named)."""
    if getattr(queue, "demo_temporary", False):
        shutil.rmtree(queue.home, ignore_errors=True)


__all__ = ["Trickle", "open_demo_queue", "register_demo_kinds", "remove_demo_home", "seed_demo_tasks"]
