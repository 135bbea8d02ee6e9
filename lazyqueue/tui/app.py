"""The lazyqueue TUI: jobs, activity and details of one queue, with its worker in-process.

Threads: the worker publishes events in its own thread; `EventBridge` buffers
them and posts one `QueueChanged` message. Everything else — the view, every
widget, every toast — runs on the UI thread.
"""

from __future__ import annotations

import gc
import time
from typing import Callable

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from ..core.errors import LazyQueueError
from ..core.models import RETRYABLE_STATUSES, Task, job_ref
from ..core.queue import CANCEL_DONE, CANCEL_NOTHING, CANCEL_SIGNALLED, CANCEL_TOO_LATE, Queue
from .commands import QueueCommands
from ..core.safe_text import shown
from .format import first_line
from .messages import EventBridge, QueueChanged
from .screens.add import AddTaskScreen
from .screens.confirm import ConfirmScreen
from .screens.help import HelpScreen
from .screens.log import LogScreen
from .screens.main import MainScreen
from .screens.quit import QuitScreen
from .view import Changes, QueueView
from .widgets.activity import ActivityPanel
from .widgets.detail import DetailPane
from .widgets.job_table import JobTable
from .widgets.key_bar import KeyBar
from .widgets.keyed_table import KeyedTable
from .widgets.status_line import StatusLine

TOO_LATE = "Cancel arrived too late — the task completed"
TOASTS_ON_SCREEN = 3  # toasts at once; a burst is summarised
TOAST_WINDOW_S = 2.0  # at most that many toasts of changes in this long; the rest are summed up after it
TOAST_RANK = {"error": 0, "warning": 1}  # what is shown first when not everything can be
TOASTS_NARROW = 2  # below NARROW_BELOW columns the detail pane is 7 rows: fewer toasts over it
NARROW_BELOW = 110
QUIT_GRACE = {"wait": 10**9, "requeue": 0.0, "cancel": 30.0}
KEY_BAR_ACTIONS = [("retry", ()), ("cancel", ()), ("priority", (1,)), ("log", ()), ("copy_id", ()),
                  ("dismiss", ()), ("delete", ()), ("retry_all", ()), ("pause", ())]
LOAD_IN_BACKGROUND = 2000  # tasks; fewer are read before the first frame


class LazyQueueApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "lazyqueue"
    COMMANDS = App.COMMANDS | {QueueCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (NARROW_BELOW, "-normal"), (150, "-wide")]
    BINDINGS = [
        Binding("a", "add", "Add", id="add", tooltip="Queue new work"),
        Binding("r", "retry", "Retry", id="retry", tooltip="Retry the selected failed task"),
        Binding("R", "retry_all", "All", id="retry_all", tooltip="Retry every failed task"),
        Binding("c", "cancel", "Cancel", id="cancel", tooltip="Cancel the selected task"),
        Binding("d", "delete", "Del", id="delete", tooltip="Delete the selected job"),
        Binding("plus,equals_sign", "priority(1)", "Prio", id="priority_up", key_display="+/-", tooltip="Raise priority (- lowers)"),
        Binding("minus", "priority(-1)", "Prio-", id="priority_down", show=False, tooltip="Lower priority"),
        Binding("p", "pause", "Pause", id="pause", tooltip="Pause or resume the worker"),
        Binding("l", "log", "Log", id="log", show=False, tooltip="Open the full log (enter too)"),
        Binding("y", "copy_id", "Copy", id="copy_id", show=False, tooltip="Copy the task id"),
        Binding("x", "dismiss", "Dismiss", id="dismiss", show=False, tooltip="Dismiss a failed task"),
        Binding("slash", "filter", "Filter", id="filter", key_display="/", show=False, tooltip="Filter jobs"),
        Binding("question_mark", "help", "Help", id="help", key_display="?", tooltip="Every key"),
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit lazyqueue"),
        Binding("ctrl+q", "quit", "Quit", id="quit_ctrl", show=False),
    ]

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
        self.loaded = False
        self.first_frame_at: float | None = None  # perf_counter of the first paint (the benchmark reads it)
        self._key_bar_state: tuple | None = None
        self._toast_times: list[float] = []  # when change toasts were shown (monotonic)
        self._held_toasts = 0  # changes not toasted yet: summed up when the window ends
        self._held_timer = None

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
        self.detail = DetailPane(self.view, self.queue.log_path, id="detail")
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

    def on_mount(self) -> None:
        self.jobs.clock = self.activity.clock = self.now
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
        self.set_interval(self.tick_s, self.tick)
        self.flush_now()  # events that arrived while reading

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def notify(self, message: str, *, title: str = "", severity="information", timeout=None, markup: bool = False) -> None:
        """Toasts carry labels and error text verbatim: markup off unless asked, controls shown."""
        super().notify(shown(message), title=title, severity=severity, timeout=timeout, markup=markup)

    def _on_notify(self, event) -> None:
        """At most `toast_limit()` toasts are on screen: a new one retires the oldest,
        so a burst never buries the detail pane (what they said is in Activity)."""
        super()._on_notify(event)
        held = list(self._notifications)
        extra = len(held) - self.toast_limit()
        if extra > 0:
            for old in held[:extra]:
                self._unnotify(old, refresh=False)
            self._refresh_notifications()

    def push_screen(self, screen, callback=None, wait_for_dismiss: bool = False, *, mode: str | None = None):
        """A dialog or the log opens clear of toasts: they would cover its buttons (Activity keeps what they said)."""
        self.clear_notifications()
        return super().push_screen(screen, callback, wait_for_dismiss, mode=mode)

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
            self.show_status()
            if ch.order or full:
                activity.sync(now, None if full else ch.tasks)
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
            if self.selection is not None and not self._exists(self.selection):
                self._select_from_focus()
            detail_stale = full or ch.order or ch.worker or self._touches_selection(ch)
            if detail_stale:
                detail.show(self.selection, now)
        if detail_stale:
            self.update_key_bar()

    def show_status(self) -> None:
        status = self.status_line
        status.show(self.view, self.worker_running)
        if self.quitting:
            status.update(Text(f"lazyqueue  Quitting: {self.quitting}"), layout=False)

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
        why = {tid: self.queue.why_waiting(tid, now=now) for tid in ids}
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
            if self._ticks % 2 == 0 or self.tick_s >= 1:
                self.refresh_why(now)
                activity.tick(now)
                jobs.tick(now)
                self.show_status()
            else:
                activity.update_tasks(self.view.ids("running"), now)  # spinners, elapsed
            self.detail.show(self.selection, now)

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
        if not toasts:
            return
        # at most toast_limit() toasts in a TOAST_WINDOW_S; failures and warnings go first, the rest are counted
        now = time.monotonic()
        self._toast_times = [t for t in self._toast_times if now - t < TOAST_WINDOW_S]
        room = max(0, self.toast_limit() - len(self._toast_times))
        ranked = sorted(toasts, key=lambda toast: TOAST_RANK.get(toast[1], 2))
        for text, severity, timeout in ranked[:room]:
            self.notify(text, severity=severity, timeout=timeout)
            self._toast_times.append(now)
        if len(ranked) > room:
            self._held_toasts += len(ranked) - room
            if self._held_timer is None:
                self._held_timer = self.set_timer(TOAST_WINDOW_S, self._summarise_held_toasts)

    def _summarise_held_toasts(self) -> None:
        self._held_timer = None
        held, self._held_toasts = self._held_toasts, 0
        if held:
            noun = "change" if held == 1 else "changes"
            self.notify(f"…and {held} more {noun} (see Activity)", timeout=4)
            self._toast_times.append(time.monotonic())

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

    def update_key_bar(self) -> None:
        """Tell the key bar to look again only when one of its keys turned on or off (a look asks every key)."""
        state = tuple(self.check_action(name, params) for name, params in KEY_BAR_ACTIONS)
        if state != self._key_bar_state:
            self._key_bar_state = state
            self.refresh_bindings()

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

    def _select_from_focus(self) -> None:
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
        self.action_log()

    def on_descendant_focus(self, event) -> None:
        if isinstance(event.widget, (JobTable, ActivityPanel)):
            self._select_from_focus()
            self.detail.show(self.selection, self.now())
            self.update_key_bar()

    # ------------------------------------------------------------------ key bar
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """None greys a key in the key bar: it exists but does not apply to the selection now."""
        task = self.selected_task()
        if action == "retry":
            return True if task is not None and task.status in RETRYABLE_STATUSES else None
        if action == "cancel":
            return True if task is not None and task.active and not task.cancel_requested else None
        if action == "priority":
            return True if task is not None and task.status == "queued" else None
        if action in ("log", "copy_id"):
            return True if task is not None else None
        if action == "dismiss":
            return True if task is not None and task.status == "failed" else None
        if action == "delete":
            return True if self.selected_job_id() is not None else None
        if action == "retry_all":
            return True if self.view.ids("failed") else None
        if action == "pause":
            return True if self.worker_running else None
        return True

    # ------------------------------------------------------------------ actions
    def _fail(self, exc: Exception) -> None:
        self.notify(str(exc) or exc.__class__.__name__, severity="error", timeout=6)

    def action_add(self) -> None:
        self.push_screen(AddTaskScreen(list(self.queue.registry)), self._added)

    def _added(self, spec: dict | None) -> None:
        if not spec:
            return
        try:
            done = self.queue.enqueue(
                spec["kind"], spec["payload"], title=spec.get("title"), priority=spec.get("priority"),
                dedupe_key=spec.get("dedupe_key"), delay=spec.get("delay"),
            )
        except LazyQueueError as exc:
            self._fail(exc)
            return
        task = done.task
        if done.deduplicated:
            self.notify(f"already queued as {task.ref}", severity="warning", timeout=6)
        else:
            self.notify(f"queued {task.ref} · {first_line(task.label, 40)}", timeout=3)
        self.flush_now()
        self.select_task(task.id)

    def flush_now(self) -> None:
        """Apply what the bridge holds now, so an action's effect shows at once."""
        self.on_queue_changed(QueueChanged())

    def action_retry(self) -> None:
        task = self.selected_task()
        if task is None or task.status not in RETRYABLE_STATUSES:
            return
        try:
            result = self.queue.retry([task.id])
        except LazyQueueError as exc:
            self._fail(exc)
            return
        for done in result:
            if done.deduplicated:
                self.notify(f"already queued as {done.task.ref}", severity="warning")
            else:
                self.notify(f"{done.task.ref} queued again", timeout=3)
        self.flush_now()

    def action_retry_all(self) -> None:
        count = len(self.view.ids("failed"))
        if not count:
            return
        noun = "task" if count == 1 else "tasks"
        self.push_screen(ConfirmScreen(f"Retry {count} failed {noun}?", yes="Retry all"), self._retry_all_answer)

    def _retry_all_answer(self, yes: bool | None) -> None:
        if yes:
            self._retry_all_worker()

    @work(thread=True, exclusive=True, group="bulk")
    def _retry_all_worker(self) -> None:
        try:
            result = self.queue.retry_failed()
        except LazyQueueError as exc:
            self.call_from_thread(self._fail, exc)
            return
        fresh = sum(1 for r in result if not r.deduplicated)
        self.call_from_thread(self.notify, f"{fresh} failed tasks queued again", timeout=4)

    def action_cancel(self) -> None:
        task = self.selected_task()
        if task is None or not task.active:
            return
        try:
            answer = self.queue.cancel(task.id)
        except LazyQueueError as exc:
            self._fail(exc)
            return
        if answer == CANCEL_SIGNALLED:
            self.cancel_asked.add(task.id)
            self.notify(f"cancelling {task.ref}…", timeout=3)
        elif answer == CANCEL_DONE:
            pass  # the cancelled event toasts
        elif answer == CANCEL_TOO_LATE:
            self.notify(f"{TOO_LATE} ({task.ref}).", severity="warning", timeout=8)
        elif answer == CANCEL_NOTHING:
            self.notify(f"{task.ref} had already finished", timeout=4)
        self.flush_now()

    def action_delete(self) -> None:
        jid = self.selected_job_id()
        if jid is None:
            return
        job = self.view.jobs[jid]
        tasks = self.view.job_tasks(jid)
        active = sum(1 for t in tasks if t.active)
        extra = f" Its {active} queued/running tasks are cancelled first." if active else ""
        self.push_screen(
            ConfirmScreen(f"Delete job {job_ref(jid)} “{first_line(job.title, 40)}” and its {len(tasks)} tasks?{extra}", yes="Delete"),
            lambda yes: self._delete(jid) if yes else None,
        )

    def _delete(self, jid: int) -> None:
        try:
            count = self.queue.delete_job(jid)
        except LazyQueueError as exc:
            self._fail(exc)
            return
        self.notify(f"deleted job {job_ref(jid)} ({count} tasks moved to the archive)", timeout=4)
        self.flush_now()

    def action_priority(self, delta: int) -> None:
        task = self.selected_task()
        if task is None or task.status != "queued":
            return
        new = max(1, min(10, task.priority + delta))
        if new == task.priority:
            self.notify(f"{task.ref} is already at priority {new}", timeout=3)
            return
        try:
            self.queue.set_priority(task.id, new)
        except LazyQueueError as exc:
            self._fail(exc)
            return
        self.flush_now()
        self.view.tasks[task.id].priority = new  # the event carries it too; this keeps the order exact now
        self.render_changes(Changes(order=True, tasks={task.id}, jobs={task.job_id}))

    def action_pause(self) -> None:
        worker = self.queue.worker
        if worker is None:
            return
        # the status line says it (no toast: it would repeat the status line over the details)
        if worker.paused:
            worker.resume()
        else:
            worker.pause()
        self.flush_now()

    def action_log(self) -> None:
        task = self.selected_task()
        if task is None:
            return
        path = self.queue.log_path(task.id)
        tid = task.id

        def running() -> bool:
            current = self.view.tasks.get(tid)
            return current is not None and current.status == "running"

        self.push_screen(LogScreen(path, f"log of {task.ref} · {first_line(task.label, 60)}", running))

    def action_copy_id(self) -> None:
        task = self.selected_task()
        if task is None:
            return
        self.copy_to_clipboard(task.ref)
        self.notify(f"copied {task.ref} to the clipboard", timeout=3)

    def action_dismiss(self) -> None:
        task = self.selected_task()
        if task is None or task.status != "failed":
            return
        self.view.dismissed.add(task.id)
        self.notify(f"{task.ref} dismissed from Failed (it stays failed; r retries)", timeout=3)
        self.render_changes(Changes(order=True, tasks={task.id}, jobs={task.job_id}))

    def action_filter(self) -> None:
        box = self.filter_box
        box.add_class("shown")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        with self.batch_update():
            self.jobs.set_filter(event.value.strip(), self.now())  # rows already shown stay as they are
            self.show_caption()

    @on(JobTable.MoreShown)
    def _more_jobs(self) -> None:
        self.show_caption()

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            event.input.remove_class("shown")
        self.jobs.focus()

    def on_key(self, event) -> None:
        box = self.filter_box
        if event.key == "escape" and self.focused is box:
            box.value = ""
            box.remove_class("shown")
            self.jobs.focus()
            event.stop()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        if self.quitting:
            return
        running = len(self.view.ids("running"))
        if running and self.worker_running:
            self.push_screen(QuitScreen(running), self._quit_choice)
        else:
            self.quitting = "stopping the worker"
            self._stop_and_exit("requeue")

    def _quit_choice(self, choice: str | None) -> None:
        if choice is None:
            return
        running = sorted(self.view.ids("running"))
        if choice == "cancel":
            for tid in running:
                try:
                    if self.queue.cancel(tid) == CANCEL_SIGNALLED:
                        self.cancel_asked.add(tid)
                except LazyQueueError as exc:
                    self._fail(exc)
            self.quitting = f"cancelling {len(running)} running tasks…"
        elif choice == "wait":
            self.quitting = f"waiting for {len(running)} running tasks to finish (nothing new starts)…"
        else:
            self.quitting = f"re-queueing {len(running)} running tasks…"
        self.show_status()
        self.notify(self.quitting, timeout=4)
        self._stop_and_exit(choice)

    @work(thread=True, exclusive=True, group="quit")
    def _stop_and_exit(self, choice: str) -> None:
        self.queue.stop_worker(grace=QUIT_GRACE[choice])
        self.call_from_thread(self.exit, 0)


def run(queue: Queue) -> int:
    """Open the TUI on an open Queue, with its worker in this process; returns the exit code."""
    app = LazyQueueApp(queue)
    try:
        code = app.run()
    finally:
        if queue.worker is not None:  # left some other way than q: put running work back
            queue.stop_worker(grace=0)
    return code if isinstance(code, int) else (app.return_code or 0)


def run_demo() -> int:
    """Open the TUI on a throw-away demo queue (the user's real queue is untouched)."""
    from ..demo import open_demo_queue

    queue = open_demo_queue()
    try:
        return run(queue)
    finally:
        queue.close()


__all__ = ["LazyQueueApp", "run", "run_demo"]
