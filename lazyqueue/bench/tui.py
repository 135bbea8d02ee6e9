"""TUI benchmark: a headless Pilot run on a queue with a big history and many running tasks.

    python -m lazyqueue.bench.tui [--history 10000] [--running 100] [--keys 100]

Figures (`run()` returns them as a dict):
- first_frame_ms: app start (history already on disk) to the first painted screen
- history_shown_ms: app start to the jobs and activity filled from the whole history
- key_p95_ms: a key press to the screen painted with its effect, 95th percentile
  (measured while every running task reports progress ~10 times a second)
- event_p95_ms: a worker event published to the screen painted with it, 95th percentile
- rss_mb / peak_rss_mb: resident memory of the whole process at the end / at peak

With `--other-process` another process adds tasks to the task file (~20 a
second) and its worker finishes them beside the app's own, as a second
shell and a background worker would, while keys are pressed:
- key_p95_ms: as above, under that load
- other_visible_p95_ms: a task written by the other process (its created_at)
  to the app holding it, 95th percentile (DESIGN: ≤ 1 s)
- cli_add_ms / cli_add_p95_ms: `lazyqueue add shell -- true` run meanwhile,
  process start to exit (DESIGN: < 100 ms); cli_add_cpu_ms: its CPU time (median)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Callable

from ..core.config import Config
from ..core.models import Job, Task, iso
from ..core.queue import TaskSpec
from ..local import Queue
from ..core.taskfile import Change, RetentionPolicy


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(pct / 100 * (len(ordered) - 1)))))
    return ordered[index]


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _seed_history(q: Queue, count: int) -> None:
    """`count` finished tasks, one job each, written in one commit."""
    now = time.time()
    kinds = ("fetch", "evaluate", "generate")
    tasks, jobs = [], []
    with q.taskfile.lock:
        q.taskfile.sync()
        for i in range(count):
            stamp = iso(now - 86400 + i * 5)
            jid, tid = q.taskfile.next_job_id(), q.taskfile.next_task_id()
            jobs.append(Job(id=jid, title=f"history item {i}", stage="Done", created_at=stamp, updated_at=stamp))
            failed = i % 97 == 0
            tasks.append(Task(
                id=tid, kind=kinds[i % 3], status="failed" if failed else "completed", job_id=jid,
                label=f"{kinds[i % 3]} item {i}", created_at=stamp, updated_at=stamp, started_at=stamp,
                finished_at=stamp, attempt=1, progress=None if failed else 100.0,
                error="remote answered 503" if failed else None, error_kind="retryable" if failed else None,
                result=None if failed else {"ok": True},
            ))
        q.taskfile.commit(Change(tasks=tasks, jobs=jobs))


def _register(q: Queue, hz: float) -> None:
    for name in ("fetch", "evaluate", "generate"):
        q.kind(name)(lambda ctx: None)

    @q.kind("spin")
    def spin(ctx):
        """Reports progress `hz` times a second until stopped (or, given `reports`, that many times)."""
        n, reports = 0, ctx.payload.get("reports")
        while not ctx.wait_cancelled(1.0 / hz):
            n += 1
            if reports is not None and n >= reports:
                return {"reports": n}
            ctx.progress(n * 100 / reports if reports else n % 100, f"step {n}")
        ctx.check_cancelled()


# moving in a table, between tables, and an action that reaches the worker (pause, then resume)
KEYS = ("down", "down", "up", "tab", "down", "up", "shift+tab", "p", "down", "p")


class PaintLog:
    """When each widget of the main screen last asked to be repainted, and when it was.

    The headless driver skips turning a screen update into terminal output;
    here it is done anyway (and thrown away), so a figure includes what a real
    terminal costs. A paint covers a widget when the widget was among the
    screen's dirty widgets for that update, when the update was a whole-screen
    one, or when the update crossed the widget's region with the widget's
    change already handed over (a reflow paints widgets it was not told of).
    """

    def __init__(self, app) -> None:
        from textual._compositor import LayoutUpdate

        self.app = app
        self.paints = 0
        self.tracked = (app.status_line, app.jobs, app.activity, app.detail, app.key_bar)
        self.requested = {w: 0.0 for w in self.tracked}  # last refresh() asking for a repaint
        self.painted = {w: 0.0 for w in self.tracked}  # last paint that covered the widget
        self._waiters: list[tuple[dict, Callable[[float], None]]] = []
        for widget in self.tracked:
            self._watch_refresh(widget)
        original, console = app._display, app.console

        def display(screen, renderable) -> None:
            if renderable is None or app._batch_count:
                return original(screen, renderable)
            dirty = set(screen._dirty_widgets)
            original(screen, renderable)
            renderable.render_segments(console)
            done = time.perf_counter()
            self.paints += 1
            whole = isinstance(renderable, LayoutUpdate) or screen in dirty
            for w in self.tracked:
                if whole or w in dirty or (not w._repaint_required and _crosses(w, renderable.spans)):
                    self.painted[w] = done
            waiting, self._waiters = self._waiters, []
            for targets, callback in waiting:
                if all(self.painted[w] >= asked for w, asked in targets.items()):
                    callback(done)
                else:
                    self._waiters.append((targets, callback))

        app._display = display

    def _watch_refresh(self, widget) -> None:
        original = widget.refresh

        def refresh(*regions, repaint: bool = True, layout: bool = False, recompose: bool = False):
            if repaint or layout or recompose:
                self.requested[widget] = time.perf_counter()
            return original(*regions, repaint=repaint, layout=layout, recompose=recompose)

        widget.refresh = refresh

    def unpainted(self, widgets=None) -> dict:
        """The widgets (of those given) holding a change not yet painted, with when they asked."""
        return {w: self.requested[w] for w in (widgets or self.tracked) if self.requested[w] > self.painted[w]}

    def when_painted(self, targets: dict, callback: Callable[[float], None]) -> None:
        """Call `callback(perf_counter)` at the first paint by which every widget was painted since it asked."""
        self._waiters.append((targets, callback))


def _crosses(widget, spans) -> bool:
    """Does a screen update's spans (y, x1, x2) touch the widget's region?"""
    region = widget.region
    top, bottom, left, right = region.y, region.bottom, region.x, region.right
    return any(top <= y < bottom and x1 < right and x2 > left for y, x1, x2 in spans)


async def _key_to_screen(app, paints: PaintLog, key: str, timeout: float = 5.0) -> float:
    """Milliseconds from a key arriving to the screen painted with its effect.

    The key goes in as the terminal driver would send it (Pilot.press also
    waits for the whole process to go idle, which never happens while a
    hundred handlers run). The effect is polled for: the cursor moved and the
    detail pane took the new row, the focus moved, or the status line says
    the worker is paused (resumed). The key is answered at
    the paint that put the last of the changed widgets on screen: a widget
    that asked for a repaint not yet done is waited for, one already painted
    counts from the paint that covered it.
    """
    from textual import events

    from ..tui.widgets.activity import ActivityPanel

    focused = app.focused
    table = focused if hasattr(focused, "cursor_row") else None
    before = table.cursor_row if table is not None else None
    selection = app.selection

    def selected() -> bool:
        key = table.selected_key
        if table is app.activity:
            tid = ActivityPanel.task_id(key)
            return tid is None or app.selection == ("task", tid)
        return app.selection == ("job", int(key))

    worker = app.queue.worker
    paused = worker.paused if worker is not None else None
    if key == "p":  # pause or resume: the status line says so
        done = lambda: worker.paused != paused and ("Paused" in str(app.status_line.render())) == worker.paused  # noqa: E731
        changed = lambda: (app.status_line,)  # noqa: E731
    elif key in ("tab", "shift+tab"):
        done = lambda: app.focused is not focused  # noqa: E731
        changed = lambda: (focused, app.focused)  # noqa: E731
    elif table is not None and (key == "down" and before < table.row_count - 1 or key == "up" and before > 0):
        done = lambda: table.cursor_row != before and selected()  # noqa: E731
        # the detail pane changes only when the row names another job or task (not on a group heading)
        changed = lambda: (table, app.detail) if app.selection != selection else (table,)  # noqa: E731
    else:
        done, changed = None, lambda: ()  # noqa: E731 - nothing to move: nothing to wait for
    t0 = time.perf_counter()
    event = events.Key(key, None)
    event.set_sender(app)
    app._driver.send_message(event)
    deadline = t0 + timeout
    while done is not None and not done() and time.perf_counter() < deadline:
        await asyncio.sleep(0.0005)
    widgets = changed()
    waiting = paints.unpainted(widgets)
    # a widget changed by the key and already painted counts from that paint; one never changed, from the key
    shown = [max(t0, paints.painted[w]) if paints.requested[w] > t0 else t0 for w in widgets if w not in waiting]
    if waiting:
        ready = asyncio.Event()
        paints.when_painted(waiting, lambda t: (shown.append(t), ready.set()))
        try:
            await asyncio.wait_for(ready.wait(), max(0.0, deadline - time.perf_counter()))
        except asyncio.TimeoutError:
            return timeout * 1000
    return (max(shown, default=t0) - t0) * 1000


async def _measure(q: Queue, running: int, keys: int, settle_s: float) -> dict:
    from ..tui.app import LazyQueueApp

    app = LazyQueueApp(q)
    start = time.perf_counter()
    out: dict = {}
    async with app.run_test(size=(120, 36)) as pilot:
        deadline_load = time.monotonic() + 30
        await pilot.pause()
        painted = asyncio.Event()
        app.call_after_refresh(painted.set)
        await asyncio.wait_for(painted.wait(), 30)
        out["first_frame_ms"] = ((app.first_frame_at or time.perf_counter()) - start) * 1000
        while not app.loaded and time.monotonic() < deadline_load:
            await pilot.pause(0.01)
        out["history_shown_ms"] = (time.perf_counter() - start) * 1000
        deadline = time.monotonic() + 30
        while len(app.view.ids("running")) < running and time.monotonic() < deadline:
            await pilot.pause(0.05)
        out["running_seen"] = len(app.view.ids("running"))
        await pilot.pause(settle_s)
        paints = PaintLog(app)
        events: list[float] = []

        def painted_events(stamps: list[float]) -> None:
            # called once the app has applied these events to its widgets: they are on screen once every
            # widget holding a change has been painted (a change to rows scrolled out of sight paints nothing)
            now = time.perf_counter()
            waiting = paints.unpainted()
            if waiting:
                paints.when_painted(waiting, lambda t: events.extend((t - s) * 1000 for s in stamps))
            else:
                events.extend((now - s) * 1000 for s in stamps)

        app.latency_probe = painted_events
        key_ms = []
        app.jobs.focus()
        await pilot.pause()
        for i in range(keys):
            key = KEYS[i % len(KEYS)]
            key_ms.append(await _key_to_screen(app, paints, key))
            await asyncio.sleep(0.02)  # progress keeps flowing between keys
        app.latency_probe = None
        out["keys"] = len(key_ms)
        out["key_p50_ms"] = _percentile(key_ms, 50)
        out["key_p95_ms"] = _percentile(key_ms, 95)
        out["events"] = len(events)
        out["event_p50_ms"] = _percentile(events, 50)
        out["event_p95_ms"] = _percentile(events, 95)
        out["paints"] = paints.paints
        out["rss_mb"] = _rss_mb()
        await pilot.pause()
        app.exit(0)
    q.stop_worker(grace=0)  # running tasks go back to queued: nothing is lost
    return out


# moving only (the other process's tasks would wait through a pause)
MOVING_KEYS = ("down", "down", "up", "tab", "down", "up", "shift+tab", "down", "up")
FEED_RATE = 20.0  # tasks a second the other process adds (and its worker finishes)


def feed(home: str, rate: float, seconds: float) -> None:
    """The other process: add `rate` tasks a second for `seconds` (or until HOME/stop-feed appears) and
    finish them with a worker of its own."""
    from pathlib import Path

    q = Queue(home, config=Config(concurrency=8, grace_s=0.0), plugins=False)
    q.kind("outside")(lambda ctx: ctx.wait_cancelled(0.3) and None)
    q.start_worker()
    stop, until, n = Path(home) / "stop-feed", time.monotonic() + seconds, 0
    try:
        while time.monotonic() < until and not stop.exists():
            q.enqueue("outside", {"n": n}, title=f"from another process {n}")
            n += 1
            time.sleep(1.0 / rate)
    finally:
        q.stop_worker(grace=1.0)
        q.close()


async def _measure_other_process(q: Queue, home: str, keys: int, cli_adds: int) -> dict:
    from ..core.models import parse_iso
    from ..tui.app import LazyQueueApp
    from .cli_add import CPU, bytecode_env, time_runs
    from .shell import lazyqueue_cmd

    app = LazyQueueApp(q)
    out: dict = {}
    feeder = subprocess.Popen([sys.executable, "-m", "lazyqueue.bench.tui", "--feed", home,
                               "--rate", str(FEED_RATE), "--seconds", "120"])
    seen: list[float] = []
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            while not app.loaded:
                await pilot.pause(0.01)
            known = set(app.view.tasks)
            stop_watch = asyncio.Event()

            async def watch() -> None:  # when each task the other process wrote reached the app
                while not stop_watch.is_set():
                    now = time.time()
                    for tid in app.view.tasks.keys() - known:
                        known.add(tid)
                        task = app.view.tasks[tid]
                        if task.kind == "outside":
                            seen.append((now - (parse_iso(task.created_at) or now)) * 1000)
                    await asyncio.sleep(0.005)

            watcher = asyncio.create_task(watch())
            deadline = time.monotonic() + 30
            while len(seen) < 20 and time.monotonic() < deadline:  # the other process is going
                await pilot.pause(0.05)
            paints = PaintLog(app)
            app.jobs.focus()
            await pilot.pause()
            key_ms = []
            for i in range(keys):
                key_ms.append(await _key_to_screen(app, paints, MOVING_KEYS[i % len(MOVING_KEYS)]))
                await asyncio.sleep(0.02)
            # as a user's add: bytecode cached (an installed package has it), the worker check on (this app's
            # worker is alive, so it starts none)
            env = bytecode_env(dict(__import__("os").environ, LAZYQUEUE_HOME=home, LAZYQUEUE_AUTOSTART="1"))
            env.pop("LAZYQUEUE_CONFIG", None)
            loop = asyncio.get_running_loop()
            adds = await loop.run_in_executor(None, time_runs, lazyqueue_cmd() + ["add", "shell", "--", "true"],
                                              env, cli_adds)
            add_cpu = list(CPU)
            await pilot.pause(0.5)
            stop_watch.set()
            await watcher
            out["keys"] = len(key_ms)
            out["key_p50_ms"] = _percentile(key_ms, 50)
            out["key_p95_ms"] = _percentile(key_ms, 95)
            out["other_added"] = len(seen)
            out["other_visible_p50_ms"] = _percentile(seen, 50)
            out["other_visible_p95_ms"] = _percentile(seen, 95)
            out["cli_add_ms"] = _percentile(adds, 50)
            out["cli_add_p95_ms"] = _percentile(adds, 95)
            out["cli_add_cpu_ms"] = _percentile(add_cpu, 50)  # user + system: less sensitive to a busy machine
            out["rss_mb"] = _rss_mb()
            app.exit(0)
    finally:
        open(f"{home}/stop-feed", "w").close()
        try:
            feeder.wait(timeout=15)
        except subprocess.TimeoutExpired:
            feeder.kill()
    return out


def run_other_process(history: int = 2000, keys: int = 100, cli_adds: int = 15) -> dict:
    """The other-process scenario on a throw-away queue with `history` finished tasks."""
    home = tempfile.mkdtemp(prefix="lazyqueue-bench-tui-other-")
    try:
        subprocess.run([sys.executable, "-m", "lazyqueue.bench.tui", "--seed", home, "--history", str(history),
                        "--running", "0"], check=True)
        q = Queue(home, config=_config(history, 0), plugins=False)
        _register(q, 10.0)
        q.kind("outside")(lambda ctx: ctx.wait_cancelled(0.3) and None)  # this process finishes some too
        out = asyncio.run(_measure_other_process(q, home, keys, cli_adds))
        q.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    out.update(history=history)
    return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in out.items()}


def run(history: int = 10_000, running: int = 100, keys: int = 100, hz: float = 10.0, settle_s: float = 1.0,
        churn: bool = False) -> dict:
    """Run the benchmark on a throw-away queue; returns its figures.

    With `churn`, each live task finishes after 3 to 8 seconds and a backlog
    keeps `running` of them going: about 20 starts and 20 finishes a second
    on top of the progress.
    """
    home = tempfile.mkdtemp(prefix="lazyqueue-bench-tui-")
    config = _config(history, running, churn)
    try:
        t0 = time.perf_counter()
        # seeded by another process, so this one's memory holds only what the app needs
        subprocess.run([sys.executable, "-m", "lazyqueue.bench.tui", "--seed", home, "--history", str(history),
                        "--running", str(running)] + (["--churn"] if churn else []), check=True)
        seeded = time.perf_counter() - t0
        # the app starts on a file holding the whole history, as a user's would
        q = Queue(home, config=config, plugins=False)
        _register(q, hz)
        out = asyncio.run(_measure(q, running, keys, settle_s))
        q.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    out.update(history=history, running=running, seed_s=round(seeded, 2),
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in out.items()}


def _config(history: int, running: int, churn: bool = False) -> Config:
    # with churn exactly `running` run at once and the backlog waits its turn
    return Config(concurrency=running if churn else running + 4, grace_s=0.0,
                  retention=RetentionPolicy(keep=history * 2, max_age_days=3650))


def seed(home: str, history: int, running: int, churn: bool = False) -> None:
    q = Queue(home, config=_config(history, running, churn), plugins=False)
    _register(q, 10.0)
    _seed_history(q, history)
    if churn:
        rng = random.Random(1)
        live = [TaskSpec("spin", {"reports": rng.randint(30, 80)}, title=f"live {i}") for i in range(running * 20)]
    else:
        live = [TaskSpec("spin", {}, title=f"live {i}") for i in range(running)]
    q.enqueue_many(live)
    q.taskfile.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lazyqueue.bench.tui", description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--running", type=int, default=100)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--churn", action="store_true", help="tasks finish after 3-8 s; a backlog keeps --running going")
    parser.add_argument("--other-process", action="store_true",
                        help="another process adds and finishes tasks through the task file meanwhile")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seed", metavar="HOME", help=argparse.SUPPRESS)
    parser.add_argument("--feed", metavar="HOME", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=FEED_RATE, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=60.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed:
        seed(args.seed, args.history, args.running, args.churn)
        return 0
    if args.feed:
        feed(args.feed, args.rate, args.seconds)
        return 0
    if args.other_process:
        figures = run_other_process(history=min(args.history, 2000) if args.history == 10_000 else args.history,
                                    keys=args.keys)
    else:
        figures = run(history=args.history, running=args.running, keys=args.keys, churn=args.churn)
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>16}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
