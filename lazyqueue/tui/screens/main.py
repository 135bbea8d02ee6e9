"""MainScreen: jobs, activity and details — its keys, and what each of them does.

The app keeps the queue, the view and the widgets current; this screen owns
the bindings (made from `actions.ACTIONS`) and the actions they run. A key
that does not apply now is greyed in the key bar and, pressed anyway, says why.
"""

from __future__ import annotations

from textual import on
from textual.reactive import Reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input

from ...core.errors import LazyQueueError
from ...core.models import RETRYABLE_STATUSES, job_ref
from ...core.queue import CANCEL_DONE, CANCEL_NOTHING, CANCEL_SIGNALLED, CANCEL_TOO_LATE
from ..actions import ACTIONS, bindings
from ..format import first_line, plural
from ..view import Changes
from ..widgets.job_table import JobTable
from .add import AddTaskScreen
from .confirm import ConfirmScreen
from .help import HelpScreen
from .log import LogScreen
from .quit import QuitScreen

TOO_LATE = "Cancel arrived too late — the task completed"
ACTION_NAMES = {a.name for a in ACTIONS}


class MainScreen(Screen):
    """The app's first screen (its widgets come from `LazyQueueApp.compose`).

    A Textual screen repaints all of itself when the focus moves. Here only
    what looks different repaints: the widget that took the focus and the one
    that lost it (their styles change and they refresh themselves). On a busy
    screen the whole-screen repaint was most of what a tab cost.
    """

    BINDINGS = bindings()
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)

    # ------------------------------------------------------------------ what applies
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """Keys are the filter box's while it has the focus, and nothing acts under a dialog."""
        if action in ACTION_NAMES:
            if isinstance(self.focused, Input) or self.app.screen is not self:
                return False
        return True

    def why_not(self, name: str) -> str | None:
        """Why the action `name` does not apply now (None: it does)."""
        app = self.app
        task = app.selected_task()
        if name in ("retry", "cancel", "priority", "log", "copy_id", "dismiss") and task is None:
            return "select a task first"
        if name == "retry" and task.status not in RETRYABLE_STATUSES:
            return f"{task.ref} is {task.status}: only a failed, cancelled or expired task can be retried"
        if name == "cancel":
            if not task.active:
                return f"{task.ref} is {task.status}: nothing to cancel"
            if task.cancel_requested:
                return f"{task.ref} is already being cancelled"
        if name == "priority" and task.status != "queued":
            return f"{task.ref} is {task.status}: only a queued task's priority can change"
        if name == "dismiss" and task.status != "failed":
            return f"{task.ref} is {task.status}: only a failed task can be dismissed"
        if name == "delete" and app.selected_job_id() is None:
            return "select a job first"
        if name == "retry_all" and not app.view.ids("failed"):
            return "nothing has failed"
        if name == "pause" and not app.worker_running:
            return "no worker runs in this process"
        return None

    def applies(self, name: str) -> bool:
        return self.why_not(name) is None

    def _refused(self, name: str) -> bool:
        """Say why `name` does not apply (a toast) and answer True; False when it applies."""
        why = self.why_not(name)
        if why is not None:
            self.app.notify(why, timeout=3)
        return why is not None

    def key_bar_items(self) -> list[tuple[str, str, str, bool, str]]:
        """(key, key as shown, word, applies, tooltip) for the key bar, in catalogue order."""
        paused = self.app.view.paused
        items = []
        for a in ACTIONS:
            if not a.bar:
                continue
            word = "Resume" if a.name == "pause" and paused else a.bar
            shown = "+/-" if a.name == "priority" else a.shown
            items.append((a.keys.split(",")[0], shown, word, self.applies(a.name), a.help))
        return items

    # ------------------------------------------------------------------ actions
    def _fail(self, exc: Exception) -> None:
        self.app.notify(str(exc) or exc.__class__.__name__, severity="error", timeout=6)

    def action_add(self) -> None:
        app = self.app
        app.push_screen(AddTaskScreen(list(app.queue.registry)), self._added)

    def _added(self, spec: dict | None) -> None:
        if not spec:
            return
        app = self.app
        try:
            done = app.queue.enqueue(
                spec["kind"], spec["payload"], title=spec.get("title"), priority=spec.get("priority"),
                dedupe_key=spec.get("dedupe_key"), delay=spec.get("delay"),
            )
        except LazyQueueError as exc:
            self._fail(exc)
            return
        task = done.task
        if done.deduplicated:
            app.notify(f"already queued as {task.ref}", severity="warning", timeout=6)
        else:
            app.notify(f"queued {task.ref} · {first_line(task.label, 40)}", timeout=3)
        app.flush_now()
        app.select_task(task.id)

    def action_retry(self) -> None:
        if self._refused("retry"):
            return
        app = self.app
        task = app.selected_task()
        try:
            result = app.queue.retry([task.id])
        except LazyQueueError as exc:
            self._fail(exc)
            return
        for done in result:
            if done.deduplicated:
                app.notify(f"already queued as {done.task.ref}", severity="warning")
            else:
                app.notify(f"{done.task.ref} queued again", timeout=3)
        app.flush_now()

    def action_retry_all(self) -> None:
        if self._refused("retry_all"):
            return
        count = len(self.app.view.ids("failed"))
        self.app.push_screen(ConfirmScreen(f"Retry {plural(count, 'failed task')}?", yes="Retry all"),
                             self._retry_all_answer)

    def _retry_all_answer(self, yes: bool | None) -> None:
        if yes:
            self.app.retry_all_in_background()

    def action_cancel(self) -> None:
        if self._refused("cancel"):
            return
        app = self.app
        task = app.selected_task()
        try:
            answer = app.queue.cancel(task.id)
        except LazyQueueError as exc:
            self._fail(exc)
            return
        if answer == CANCEL_SIGNALLED:
            app.cancel_asked.add(task.id)
            app.notify(f"cancelling {task.ref}…", timeout=3)
        elif answer == CANCEL_DONE:
            pass  # the cancelled event toasts
        elif answer == CANCEL_TOO_LATE:
            app.notify(f"{TOO_LATE} ({task.ref}).", severity="warning", timeout=8)
        elif answer == CANCEL_NOTHING:
            app.notify(f"{task.ref} had already finished", timeout=4)
        app.flush_now()

    def action_delete(self) -> None:
        if self._refused("delete"):
            return
        app = self.app
        jid = app.selected_job_id()
        job = app.view.jobs[jid]
        tasks = app.view.job_tasks(jid)
        active = sum(1 for t in tasks if t.active)
        extra = ""
        if active:
            extra = " Its running task is cancelled first." if active == 1 and len(tasks) == 1 else \
                f" {plural(active, 'queued or running task')} of it {'is' if active == 1 else 'are'} cancelled first."
        question = f"Delete job {job_ref(jid)} “{first_line(job.title, 40)}” and {plural(len(tasks), 'task')}?{extra}"
        if len(tasks) == 1:
            question = f"Delete job {job_ref(jid)} “{first_line(job.title, 40)}” and its task?{extra}"
        app.push_screen(ConfirmScreen(question, yes="Delete"), lambda yes: self._delete(jid) if yes else None)

    def _delete(self, jid: int) -> None:
        app = self.app
        try:
            count = app.queue.delete_job(jid)
        except LazyQueueError as exc:
            self._fail(exc)
            return
        app.notify(f"deleted job {job_ref(jid)} ({plural(count, 'task')} moved to the archive)", timeout=4)
        app.flush_now()

    def action_priority(self, delta: int) -> None:
        if self._refused("priority"):
            return
        app = self.app
        task = app.selected_task()
        new = max(1, min(10, task.priority + delta))
        if new == task.priority:
            app.notify(f"{task.ref} is already at priority {new}", timeout=3)
            return
        try:
            app.queue.set_priority(task.id, new)
        except LazyQueueError as exc:
            self._fail(exc)
            return
        app.flush_now()
        app.view.tasks[task.id].priority = new  # the event carries it too; this keeps the order exact now
        app.render_changes(Changes(order=True, tasks={task.id}, jobs={task.job_id}))

    def action_pause(self) -> None:
        if self._refused("pause"):
            return
        app = self.app
        worker = app.queue.worker
        # the status line says it (no toast: it would repeat the status line over the details)
        if worker.paused:
            worker.resume()
        else:
            worker.pause()
        app.flush_now()
        app.update_key_bar(force=True)  # Pause ↔ Resume

    def action_log(self) -> None:
        if self._refused("log"):
            return
        app = self.app
        task = app.selected_task()
        tid = task.id

        def running() -> bool:
            current = app.view.tasks.get(tid)
            return current is not None and current.status == "running"

        app.push_screen(LogScreen(app.log_path(tid), f"log of {task.ref} · {first_line(task.label, 60)}", running))

    def action_copy_id(self) -> None:
        if self._refused("copy_id"):
            return
        app = self.app
        task = app.selected_task()
        app.copy_to_clipboard(task.ref)
        # OSC 52 has no answer: whether the terminal took it cannot be seen from here
        app.notify(f"{task.ref} sent to the terminal's clipboard (OSC 52)", timeout=3)

    def action_dismiss(self) -> None:
        if self._refused("dismiss"):
            return
        app = self.app
        task = app.selected_task()
        app.view.dismissed.add(task.id)
        app.notify(f"{task.ref} dismissed from Failed (it stays failed; r retries)", timeout=3)
        app.render_changes(Changes(order=True, tasks={task.id}, jobs={task.job_id}))

    def action_filter(self) -> None:
        box = self.app.filter_box
        box.add_class("shown")
        box.focus()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def action_quit(self) -> None:
        app = self.app
        running = len(app.view.ids("running"))
        if running and app.worker_running:
            app.push_screen(QuitScreen(lambda: len(app.view.ids("running")), waiting=app.quitting == "wait"),
                            app.quit_choice)
        elif not app.quitting or app.quitting == "wait":
            app.stop_and_exit("requeue")

    # ------------------------------------------------------------------ the filter box
    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        app = self.app
        with app.batch_update():
            app.jobs.set_filter(event.value.strip(), app.now())  # rows already shown stay as they are
            app.show_caption()
            app.select_from_focus()

    @on(JobTable.MoreShown)
    def _more_jobs(self) -> None:
        self.app.show_caption()

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            event.input.remove_class("shown")
        self.app.jobs.focus()

    def on_screen_resume(self) -> None:
        """Back from a dialog or the log: what the toasts held back while it was open is shown now."""
        self.app.toasts.uncovered()

    def on_key(self, event) -> None:
        app = self.app
        box = app.filter_box
        if event.key == "escape" and self.focused is box:
            box.value = ""
            box.remove_class("shown")
            app.jobs.focus()
            event.stop()
