"""The lazyqueue TUI: jobs, activity and details of one queue, with its worker in-process.

Threads: the worker publishes events in its own thread; `EventBridge` buffers
them and posts one `QueueChanged` message. Everything else — the view, every
widget, every toast — runs on the UI thread.
"""

from __future__ import annotations

import gc
import os
import time
from typing import Callable

from pathlib import Path

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from ..core.errors import LazyQueueError
from ..core.models import Task, parse_iso
from ..core.queue import CANCEL_SIGNALLED, Queue
from ..core.safe_text import shown
from . import settings
from .commands import QueueCommands
from .format import first_line, plural, soon_words
from .messages import EventBridge, QueueChanged, WorkersSeen
from .screens.main import TOO_LATE, MainScreen
from .screens.log import LogScreen
from .screens.quit import QuitScreen
from .toasts import ToastLimiter
from .view import Changes, QueueView
from .widgets.activity import ActivityPanel
from .widgets.detail import DetailPane
from .widgets.job_table import JobTable
from .widgets.key_bar import KeyBar
from .widgets.keyed_table import KeyedTable
from .widgets.status_line import StatusLine, workers_words

TOASTS_ON_SCREEN = 3  # toasts at once over the detail pane; more in a burst are summed up
TOASTS_NARROW = 1  # below NARROW_BELOW columns the detail pane is 7 rows under the tables
NARROW_BELOW = 110
QUIT_GRACE = {"keep": 0.0, "wait": 10**9, "requeue": 0.0, "cancel": 30.0}
LOAD_IN_BACKGROUND = 2000  # tasks; fewer are read before the first frame
WORKERS_EVERY_S = 1.0  # how often the status line asks who runs the work (a background worker starts, exits)


class LazyQueueApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "lazyqueue"
    COMMANDS = App.COMMANDS | {QueueCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (NARROW_BELOW, "-normal"), (150, "-wide")]
    # ctrl+q is Textual's own (it quits from anywhere); the main screen holds every other key

    def __init__(
        self,
        queue: Queue,
        *,
        clock: Callable[[], float] = time.time,
        start_worker: bool = True,
        tick_s: float = 0.5,
    ) -> None:
        super().__init__()
        self.queue = queue
        self.clock = clock
        self.start_worker = start_worker
        self.tick_s = tick_s
        self.view = QueueView(clock, job_loader=queue.job)
        self.bridge = EventBridge(self)
        self.selection: tuple[str, int] | None = None
        self.cancel_asked: set[int] = set()
        self.quitting: str | None = None
        self.latency_probe: Callable[[list[float]], None] | None = None  # the benchmark sets it
        self._unsubscribe = None
        self._ticks = 0
        self._workers_looked = 0.0
        self._workers_seen: list | None = None
        self.loaded = False
        self.first_frame_at: float | None = None  # perf_counter of the first paint (the benchmark reads it)
        self._key_bar_state: tuple | None = None
        self.toasts = ToastLimiter(self._toast, self.clear_notifications, self.toast_limit, self.set_timer,
                                   covering=self.toast_would_cover)
        saved = settings.saved_theme()
        if saved and saved in self.available_themes:
            self.theme = saved

    # ------------------------------------------------------------------ layout
    def get_default_screen(self) -> MainScreen:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        # kept as attributes: the main screen's widgets are updated while a modal is on top
        self.status_line = StatusLine(id="status")
        self.filter_box = Input(id="filter", placeholder="filter jobs: id, title, stage, kind… (enter keeps, escape clears)")
        self.jobs_caption = Static("", id="jobs-caption", classes="caption")
        self.jobs = JobTable(self.view, id="jobs")
        self.activity = ActivityPanel(self.view, id="activity")
        self.detail = DetailPane(self.view, self.log_path, id="detail")
        self.key_bar = KeyBar()
        yield self.status_line
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield self.filter_box
                yield self.jobs_caption
                yield self.jobs
                yield Static("Activity", id="activity-caption", classes="caption")
                yield self.activity
            yield self.detail
        yield self.key_bar

    def empty_words(self) -> str:
        """What the detail pane says when nothing is selected, and why nothing is."""
        if self.jobs.filter_text and not self.jobs.row_count:
            return f"No job matches “{self.jobs.filter_text}”. Escape in the filter box clears it."
        if self.view.jobs or self.view.tasks:
            return "Select a job (↑ ↓) or a task in Activity (tab) to see it here."
        if not self.loaded:
            return "Reading the queue…"  # a big history is read in the background: not empty yet
        return "Nothing queued yet. Add work with a."

    def on_mount(self) -> None:
        self.jobs.clock = self.activity.clock = self.now
        self.detail.empty_words = self.empty_words
        # subscribe before the snapshot: nothing between the two is missed
        self._unsubscribe = self.queue.subscribe(self.bridge)
        self.call_after_refresh(self._mark_first_frame)
        self.jobs.focus()
        for warning in self.queue.warnings:
            self.notify(warning, title="lazyqueue", severity="warning", timeout=10)
        if self.queue.task_count() > LOAD_IN_BACKGROUND:
            # copying a big history takes a while: paint first, fill in when it is read
            self.status_line.update(Text(f"lazyqueue  reading {self.queue.task_count():,} tasks…"))
            self.call_after_refresh(self._load_in_background)
        else:
            self._loaded(*self.queue.snapshot())

    def _mark_first_frame(self) -> None:
        if self.first_frame_at is None:
            self.first_frame_at = time.perf_counter()

    @work(thread=True, exclusive=True, group="load")
    def _load_in_background(self) -> None:
        tasks, jobs = self.queue.snapshot()
        self.call_from_thread(self._loaded, tasks, jobs)

    def _loaded(self, tasks: dict, jobs: dict) -> None:
        first = not self.loaded
        self.view.load(tasks, jobs)
        self.loaded = True
        # The history just read lives as long as the app. Out of the collector's sight, a full
        # collection no longer walks tens of thousands of tasks (a pause of ~80 ms mid-frame).
        # What an earlier load froze is let go first, so a reload leaks nothing.
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        if not first:
            self.render_all()
            return
        if self.queue.worker is not None:
            self.view.paused = self.queue.worker.paused
        if self.start_worker and self.queue.worker is None:
            self.queue.start_worker()
        self.render_all()
        if self.jobs.row_count and self.selection is None:
            self._select(("job", int(self.jobs.selected_key)) if self.jobs.selected_key else None)
        self.look_at_workers()
        self.set_interval(self.tick_s, self.tick)
        self.flush_now()  # events that arrived while reading

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def notify(self, message: str, *, title: str = "", severity="information", timeout=None, markup: bool = False) -> None:
        """A toast for what the user just did: always shown (the oldest make room).
        Toasts carry labels and error text verbatim: markup off unless asked."""
        if self.toasts.on_screen() >= self.toast_limit():
            self.toasts.cleared()
            self.clear_notifications()
        self.toasts.offer(message, severity, timeout, title=title, markup=markup)

    def toast_change(self, message: str, severity: str = "information", timeout: float | None = None) -> None:
        """A toast for a change the user did not ask for just now: held back if the screen has enough."""
        self.toasts.offer(message, severity, timeout)

    def _toast(self, message: str, severity: str, timeout, *, title: str = "", markup: bool = False) -> None:
        super().notify(shown(message), title=title, severity=severity, timeout=timeout, markup=markup)

    async def on_event(self, event) -> None:
        """A dialog still opening keeps the keys typed meanwhile (to type them in once it can)."""
        if isinstance(event, events.Key) and not event.is_forwarded:
            hold = getattr(self.screen, "hold_key", None)
            if hold is not None and hold(event):
                return
        await super().on_event(event)

    def action_help_quit(self) -> None:
        """ctrl+c: say how to quit (Textual's own text carries markup the toasts would show raw)."""
        self.notify("ctrl+c does not quit: press q (asks about running tasks) or ctrl+q", timeout=4)

    def toast_would_cover(self) -> str | None:
        """What is open over the main screen, that a toast would cover (None: only the main screen)."""
        stack = self.screen_stack
        if len(stack) <= 1:
            return None
        return "the log" if isinstance(stack[-1], LogScreen) else "the dialog"

    def push_screen(self, screen, callback=None, wait_for_dismiss: bool = False, *, mode: str | None = None):
        """A dialog or the log opens clear of toasts: they would cover its buttons (Activity keeps what they said)."""
        self.toasts.cleared()
        self.clear_notifications()
        return super().push_screen(screen, callback, wait_for_dismiss, mode=mode)

    def get_system_commands(self, screen):
        """Textual's palette entries, less its Quit (ours asks about running tasks)."""
        for command in super().get_system_commands(screen):
            if command.title.lower() != "quit":
                yield command

    def watch_theme(self, theme: str) -> None:
        if self.is_mounted:
            settings.save_theme(theme)

    def log_path(self, task_id: int) -> Path:
        """Where a task's log is (the engine says; one that keeps no local file: where it would be)."""
        path = self.queue.log_path(task_id)
        return path if path is not None else Path(self.queue.home) / "logs" / f"{task_id}.log"

    def toast_limit(self) -> int:
        return TOASTS_NARROW if self.size.width < NARROW_BELOW else TOASTS_ON_SCREEN

    # ------------------------------------------------------------------ rendering
    def now(self) -> float:
        return self.clock()

    @property
    def worker_running(self) -> bool:
        return self.queue.worker is not None

    def render_all(self) -> None:
        self.render_changes(Changes(order=True), full=True)

    def render_changes(self, ch: Changes, full: bool = False) -> None:
        now = self.now()
        frame = int(now * 4)
        jobs, activity, detail = self.jobs, self.activity, self.detail
        jobs.frame = activity.frame = frame
        with self.batch_update():
            if ch.worker:
                self.name_workers()  # this window's worker paused or resumed
            self.show_status()
            if ch.order or full:
                rebuilt = self.choose_host_column()
                activity.sync(now, None if full or rebuilt else ch.tasks)
                self.refresh_why(now)
                activity.update_tasks(activity.queued_shown, now)
                jobs.sync(None if full else ch.jobs, True, now)
                self.show_caption()
            elif ch.worker:  # paused or resumed: queued rows say why they wait
                self.refresh_why(now)
                activity.update_tasks(set(ch.tasks) | set(activity.queued_shown), now)
                jobs.sync(ch.jobs, False, now)
            else:
                activity.update_tasks(ch.tasks, now)
                jobs.sync(ch.jobs, False, now)
            if (self.selection is not None and not self._exists(self.selection)) or \
                    (self.selection is None and self.jobs.row_count):
                self.select_from_focus()
            detail_stale = full or ch.order or ch.worker or self._touches_selection(ch)
            if detail_stale:
                detail.show(self.selection, now)
        if detail_stale:
            self.update_key_bar()

    def show_status(self) -> None:
        status = self.status_line
        status.show(self.view, self.worker_running)
        if self.quitting == "wait":
            count = plural(len(self.view.ids("running")), "running task")
            status.show_text(f"Quitting: waiting for {count} to finish (nothing new starts) · q asks again")
        elif self.quitting:
            status.show_text(f"Quitting: {self.quitting}")

    def show_caption(self) -> None:
        jobs = self.jobs
        shown = len(jobs._order)
        text = f"Jobs {jobs.total}"
        if jobs.filter_text:
            text += f" matching “{jobs.filter_text}”"
        if jobs.total > shown:
            text += f" · most recent {shown} read — scroll or end for more, / filters all"
        else:
            text += " · / filters"
        self.jobs_caption.update(Text(text), layout=False)

    def refresh_why(self, now: float) -> None:
        """Why queued tasks wait, asked of the core only for rows on screen (once a tick)."""
        activity = self.activity
        ids = list(activity.queued_shown)
        sel = self.selected_task()
        if sel is not None and sel.status == "queued":
            ids.append(sel.id)
        tasks = self.view.tasks
        why = {tid: soon_words(self.queue.why_waiting(tid, now=now), parse_iso(tasks[tid].not_before), now)
               for tid in ids if tid in tasks}
        activity.why = self.detail.why = why
        self.detail.positions = activity.positions

    def _touches_selection(self, ch: Changes) -> bool:
        if self.selection is None:
            return False
        kind, ident = self.selection
        if kind == "task":
            return ident in ch.tasks
        return ident in ch.jobs

    def tick(self) -> None:
        """Elapsed times, countdowns, spinners and ages move on; nothing is rebuilt."""
        self._ticks += 1
        if not self.jobs.is_attached:
            return
        now = self.now()
        frame = int(now * 4)
        jobs, activity = self.jobs, self.activity
        with self.batch_update():
            if frame != activity.frame:
                activity.frame = jobs.frame = frame
            if time.monotonic() - self._workers_looked >= WORKERS_EVERY_S:
                self.look_at_workers()
            if self._ticks % 2 == 0 or self.tick_s >= 1:
                self.refresh_why(now)
                activity.tick(now)
                jobs.tick(now)
                self.show_status()
            else:
                activity.update_tasks(self.view.ids("running"), now)  # spinners, elapsed
            self.detail.show(self.selection, now)

    # ------------------------------------------------------------------ who runs the work
    def look_at_workers(self) -> None:
        """Ask the engine which workers are alive (a directory listing, or a query: off the UI thread)."""
        self._workers_looked = time.monotonic()
        self._workers_worker()

    @work(thread=True, exclusive=True, group="workers", exit_on_error=False)
    def _workers_worker(self) -> None:
        try:
            found = self.queue.workers()
        except Exception:  # noqa: BLE001 - a database that does not answer: keep saying what was seen
            return
        self.post_message(WorkersSeen(found))

    def on_workers_seen(self, message: WorkersSeen) -> None:
        self._workers_seen = message.workers
        if self.name_workers():
            self.show_status()
        if self.choose_host_column():
            self.activity.sync(self.now())
            self.detail.show(self.selection, self.now())

    def choose_host_column(self) -> bool:
        """Which host runs each task is shown when tasks run on more than one host, or on the cluster
        engine; True if that changed."""
        cluster = any(getattr(w, "where", None) == "cluster" for w in self._workers_seen or ())
        show = cluster or len(self.view.running_hosts()) > 1
        self.view.show_hosts = show
        return self.activity.set_show_host(show)

    def name_workers(self) -> bool:
        """Put what runs the work (this window, a background worker, none) in the view; True if it changed."""
        if self._workers_seen is None:
            return False
        paused_here = self.queue.worker is not None and self.view.paused
        forms = workers_words(self._workers_seen, os.getpid(), paused_here)
        changed = forms != self.view.workers_forms
        self.view.workers_note, self.view.workers_forms = forms[0], forms
        return changed

    # ------------------------------------------------------------------ events from the queue
    def on_queue_changed(self, message: QueueChanged) -> None:
        if not self.loaded or not self.jobs.is_attached:
            return  # events wait in the bridge until the snapshot is in
        events, stamps = self.bridge.drain()
        if not events:
            return
        ch = self.view.apply(events)
        if ch.reload:
            self._load_in_background()
        # widgets are updated now; Textual paints what changed on its next frame (at most 60 a second),
        # which is all the coalescing a burst of progress needs
        self.render_changes(ch)
        self.announce(ch.transitions)
        self._quit_if_done_waiting()
        if self.latency_probe is not None:
            self.latency_probe(stamps)  # arrival times of the events just put on screen

    def announce(self, transitions: list) -> None:
        """One toast per transition (never per refresh); a burst is summarised."""
        toasts: list[tuple[str, str, float]] = []
        for tr in transitions:
            task: Task = tr.task
            label = first_line(task.label, 40)
            if tr.new == "completed":
                if tr.data.get("cancel_too_late") or task.id in self.cancel_asked:
                    toasts.append((f"{TOO_LATE} ({task.ref}).", "warning", 8))
                else:
                    toasts.append((f"✓ {task.ref} completed · {label}", "information", 4))
            elif tr.new == "failed":
                toasts.append((f"✗ {task.ref} failed: {first_line(task.error, 60)} · r retries", "error", 10))
            elif tr.new == "queued" and tr.data.get("retry_in") is not None:
                toasts.append((f"{task.ref} attempt {task.attempt}/{task.max_attempts} failed: "
                               f"{first_line(task.error, 50)} — retry in {tr.data['retry_in']:.0f} s", "warning", 6))
            elif tr.new == "cancelled":
                toasts.append((f"⊘ {task.ref} cancelled", "information", 4))
            elif tr.new == "expired":
                toasts.append((f"⌛ {task.ref} expired before it started", "warning", 6))
            if tr.new in ("completed", "failed", "cancelled", "expired", "queued"):
                self.cancel_asked.discard(task.id)
        ranked = sorted(toasts, key=lambda toast: {"error": 0, "warning": 1}.get(toast[1], 2))
        for text, severity, timeout in ranked:  # failures and warnings first; a burst is summed up
            self.toast_change(text, severity, timeout)

    # ------------------------------------------------------------------ selection
    def _exists(self, selection: tuple[str, int]) -> bool:
        kind, ident = selection
        return ident in (self.view.tasks if kind == "task" else self.view.jobs)

    def selected_task(self) -> Task | None:
        if self.selection is None:
            return None
        kind, ident = self.selection
        if kind == "task":
            return self.view.tasks.get(ident)
        return self.view.primary_task(ident) if ident in self.view.jobs else None

    def selected_job_id(self) -> int | None:
        if self.selection is None:
            return None
        kind, ident = self.selection
        if kind == "job":
            return ident if ident in self.view.jobs else None
        task = self.view.tasks.get(ident)
        return task.job_id if task is not None and task.job_id in self.view.jobs else None

    def update_key_bar(self, force: bool = False) -> None:
        """Tell the key bar to look again only when one of its keys turned on or off."""
        if not self.key_bar.is_attached:
            return
        main = self.main_screen
        state = tuple(main.key_bar_items())
        if force or state != self._key_bar_state:
            self._key_bar_state = state
            self.key_bar.collect()

    @property
    def main_screen(self) -> MainScreen:
        return self.screen_stack[0]

    def _select(self, selection: tuple[str, int] | None) -> None:
        if selection == self.selection:
            return
        self.selection = selection
        self.detail.show(selection, self.now())
        self.update_key_bar()

    def _focused(self):
        try:
            return self.focused
        except Exception:  # no screen (shutting down)
            return None

    def select_from_focus(self) -> None:
        focused = self._focused()
        if isinstance(focused, ActivityPanel):
            tid = ActivityPanel.task_id(focused.selected_key)
            self.selection = ("task", tid) if tid is not None else None
        else:
            key = self.jobs.selected_key
            self.selection = ("job", int(key)) if key else None

    def select_task(self, tid: int) -> None:
        """Show a task: highlight it in Activity (if listed) and in the detail pane."""
        activity = self.activity
        if activity.select_key(f"t{tid}"):
            activity.focus()
        self._select(("task", tid))

    @on(KeyedTable.RowHighlighted)
    def _highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key is not None else None
        if key is None or not self.jobs.is_attached:
            return
        focused = self._focused()
        if event.data_table.id == "jobs":
            if focused is event.data_table or focused is None or self.selection is None or self.selection[0] == "job":
                self._select(("job", int(key)))
        elif event.data_table.id == "activity":
            tid = ActivityPanel.task_id(key)
            if tid is not None and (focused is event.data_table or self.selection is None):
                self._select(("task", tid))

    @on(KeyedTable.RowSelected)
    def _row_selected(self, event: KeyedTable.RowSelected) -> None:
        key = event.row_key.value if event.row_key is not None else None
        if event.data_table.id == "activity" and ActivityPanel.task_id(key) is None:
            return
        self.run_main_action("log")  # a double click: the row's log, as enter opens it

    def on_descendant_focus(self, event) -> None:
        if isinstance(event.widget, (JobTable, ActivityPanel)):
            self.select_from_focus()
            self.detail.show(self.selection, self.now())
            self.update_key_bar()

    # ------------------------------------------------------------------ what the screen's actions ask for
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """The main screen's actions asked of the app (the palette, tests): does it apply now?"""
        main = self.main_screen
        if hasattr(main, f"action_{action}") and main.why_not(action) is not None:
            return None
        return True

    def run_main_action(self, action: str) -> None:
        """Run one of the main screen's actions (the palette uses it)."""
        self.call_later(self.run_action, action, self.main_screen)

    def flush_now(self) -> None:
        """Apply what the bridge holds now, so an action's effect shows at once."""
        self.on_queue_changed(QueueChanged())

    def retry_all_in_background(self) -> None:
        self._retry_all_worker()

    @work(thread=True, exclusive=True, group="bulk")
    def _retry_all_worker(self) -> None:
        try:
            result = self.queue.retry_failed()
        except LazyQueueError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error", timeout=6)
            return
        fresh = sum(1 for r in result if not r.deduplicated)
        self.call_from_thread(self.notify, f"{plural(fresh, 'failed task')} queued again", timeout=4)

    # ------------------------------------------------------------------ quitting
    def quit_choice(self, choice: str | None) -> None:
        """The answer to the quit question: keep, wait, requeue, cancel, or None (stay)."""
        if choice is None:
            return
        running = sorted(self.view.ids("running"))
        if choice == "wait":
            # nothing new starts; once nothing runs the app quits (q asks again meanwhile)
            self.quitting = "wait"
            if self.queue.worker is not None:
                self.queue.worker.pause()
            self.flush_now()
            self.show_status()
            self.notify(f"waiting for {plural(len(running), 'running task')} to finish · q asks again", timeout=4)
            self._quit_if_done_waiting()
            return
        if choice == "cancel":
            for tid in running:
                try:
                    if self.queue.cancel(tid) == CANCEL_SIGNALLED:
                        self.cancel_asked.add(tid)
                except LazyQueueError as exc:
                    self.notify(str(exc), severity="error", timeout=6)
        self.stop_and_exit(choice)

    def _quit_if_done_waiting(self) -> None:
        if self.quitting == "wait" and not self.view.ids("running"):
            self.stop_and_exit("requeue")

    def stop_and_exit(self, choice: str) -> None:
        """Stop the worker (running tasks: re-queued, cancelled or waited for) and leave."""
        words = {"requeue": "re-queueing {n}…", "cancel": "cancelling {n}…", "wait": "waiting for {n}…",
                 "keep": "leaving {n} to a background worker…"}
        count = len(self.view.ids("running"))
        self.quitting = words[choice].format(n=plural(count, "running task")) if count else "stopping the worker"
        self.show_status()
        self._stop_worker_and_exit(choice)

    @work(thread=True, exclusive=True, group="quit")
    def _stop_worker_and_exit(self, choice: str) -> None:
        if choice == "keep":
            from .hangup import leave_running

            leave_running(self.queue)
        else:
            self.queue.stop_worker(grace=QUIT_GRACE[choice])
        self.call_from_thread(self.exit, 0)

    async def action_quit(self) -> None:
        """ctrl+q, from anywhere: the main screen's quit (it asks about running tasks)."""
        if self.screen is not self.main_screen:
            if isinstance(self.screen, QuitScreen):
                return
            self.pop_screen()
        self.main_screen.action_quit()


_THROWAWAY: set[int] = set()  # ids of demo queues: nothing is handed to a background worker


def run(queue: Queue, autostart: bool | None = None) -> int:
    """Open the TUI on an open Queue, with its worker in this process; returns the exit code.

    `autostart`: work left queued or kept running at the quit goes to a background worker,
    and a closed window (SIGHUP) leaves running commands to it.
    """
    from . import hangup

    if autostart is None:
        autostart = id(queue) not in _THROWAWAY
    app = LazyQueueApp(queue)
    if autostart:
        hangup.install(queue)
    try:
        code = app.run()
    finally:
        hangup.after_run(queue)  # a closed window: the hangup thread ends the process
        if queue.worker is not None:  # left some other way than q: put running work back
            queue.stop_worker(grace=0)
    code = code if isinstance(code, int) else (app.return_code or 0)
    if autostart:
        hangup.hand_over(queue, code)
    return code


def run_demo(home: str | None = None, config: str | None = None) -> int:
    """Open the TUI on a demo queue: a throw-away one (removed on exit) unless `home` names one."""
    from ..demo import Trickle, open_demo_queue, remove_demo_home

    queue = open_demo_queue(home=home, config=config)
    trickle = Trickle(queue).start()
    try:
        _THROWAWAY.add(id(queue))  # its throw-away queue runs only while it is open: no background worker
        return run(queue)
    finally:
        trickle.stop()
        queue.close()
        remove_demo_home(queue)


__all__ = ["LazyQueueApp", "run", "run_demo"]
