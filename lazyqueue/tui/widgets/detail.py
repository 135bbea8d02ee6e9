"""DetailPane: everything about the selected job or task, with its live log tail."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

from rich.segment import Segment
from rich.text import Text
from textual import work
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...core.models import Job, Task, job_ref, parse_iso
from ..format import ago, countdown, first_line, progress_text, safe, short_duration, status_text
from ..view import QueueView
from .activity import stuck_line
from .look import CachedLook
from .scrolling import set_scroll_range

LOG_TAIL_LINES = 10
TAIL_EVERY_S = 0.25  # the selected task's log tail is read again at most this often
ARTIFACT_KEYS = ("path", "artifact", "output", "file", "download_url")


def read_tail(path: Path, lines: int = LOG_TAIL_LINES, limit: int = 8192) -> list[str]:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            data = fh.read().decode("utf-8", "replace")
    except OSError:
        return []
    return data.splitlines()[-lines:]


def artifact_of(task: Task) -> str | None:
    if isinstance(task.result, dict):
        for key in ARTIFACT_KEYS:
            if task.result.get(key):
                return str(task.result[key])
    return None


def clock_text(stamp: str | None, now: float) -> str:
    when = parse_iso(stamp)
    if when is None:
        return "—"
    return f"{datetime.fromtimestamp(when).strftime('%H:%M:%S')} ({ago(now - when)})"


class DetailPane(CachedLook, ScrollView, can_focus=True):
    """Lines of text drawn by the pane itself.

    A pane of Static widgets is laid out again whenever its text changes
    length, and a layout of the whole screen cost more than anything else a
    key press did. Here the text is wrapped to the pane's width once per
    change and the lines are painted as they are; only the scroll range moves.
    """

    DEFAULT_CSS = """
    DetailPane { padding: 0 1; overflow-x: hidden; overflow-y: auto; }
    DetailPane > .detail--log { color: $text-muted; }
    """
    COMPONENT_CLASSES = {"detail--log"}
    LOOK_CLASSES = ("detail--log",)

    def __init__(self, view: QueueView, log_path: Callable[[int], Path | None], **kwargs) -> None:
        super().__init__(**kwargs)
        self.view = view
        self.log_path = log_path
        self._tail: tuple[int, list[str]] | None = None  # (task id, its last lines) as last read
        self._tail_pending: int | None = None  # a read of this task's tail is under way
        self._tail_at = 0.0  # when the tail was last read (monotonic)
        self.why: dict[int, str] = {}
        self.positions: dict[int, int] = {}
        # what the pane says with nothing selected (the app knows why nothing is)
        self.empty_words: Callable[[], str] = lambda: "Nothing queued yet. Add work with a."
        self._body = Text("")
        self._log = Text("")
        self._strips: list[Strip] | None = None
        self._selection: tuple[str, int] | None = None
        self._shown: tuple[str, int] | None = None

    @property
    def text(self) -> str:
        """What the pane says, as plain text."""
        log = self._log.plain
        return self._body.plain + ("\n\n" + log if log else "")

    def show(self, selection: tuple[str, int] | None, now: float) -> None:
        self._shown = selection
        text, task = Text(), None
        if selection is None:
            text.append(self.empty_words())
        elif selection[0] == "job" and selection[1] in self.view.jobs:
            job = self.view.jobs[selection[1]]
            self._job_fields(text, job, now)
            task = self.view.primary_task(job.id)
            if task is not None:
                text.append("\n")
                self._task_fields(text, task, now)
        elif selection[0] == "task" and selection[1] in self.view.tasks:
            task = self.view.tasks[selection[1]]
            self._task_fields(text, task, now)
        else:
            text.append("That item is gone (deleted or archived).")
        if task is not None:
            tail = self._tail[1] if self._tail is not None and self._tail[0] == task.id else []
            self._read_tail_later(task.id)
            head = Text(f"log of {task.ref}" + (" (l opens it, following)" if task.status == "running" else " (l opens it)"), style="bold")
            log = Text("\n").join([head] + [Text(line) for line in tail]) if tail else Text(f"no log output for {task.ref}", style="dim")
        else:
            log = Text("")
        if text == self._body and log == self._log:
            return
        if selection != self._selection:
            self._selection = selection
            self.scroll_to(y=0, animate=False, immediate=True)
        self._body, self._log = text, log
        old, self._strips = self._strips, None
        new = self._wrap()
        if old is None or len(old) != len(new) or not new:
            self.refresh()
            return
        top, height, width = int(self.scroll_y), self.scrollable_content_region.height, new[0].cell_length
        regions = [Region(0, i - top, width, 1) for i, (a, b) in enumerate(zip(old, new)) if a != b and 0 <= i - top < height]
        if regions:
            self.refresh(*regions)  # only the lines that read differently

    # --------------------------------------------------------------- the log tail, read off the UI thread
    def _read_tail_later(self, tid: int) -> None:
        fresh = self._tail is not None and self._tail[0] == tid and time.monotonic() - self._tail_at < TAIL_EVERY_S
        if self._tail_pending != tid and not fresh:
            self._tail_pending = tid
            self._read_tail(tid, self.log_path(tid))

    @work(thread=True, exclusive=True, group="detail-tail")
    def _read_tail(self, tid: int, path: Path | None) -> None:
        self.post_message(self.TailRead(tid, read_tail(path) if path is not None else []))  # post_message is safe from any thread

    class TailRead(Message):
        def __init__(self, tid: int, lines: list[str]) -> None:
            super().__init__()
            self.tid, self.lines = tid, lines

    def on_detail_pane_tail_read(self, message: "DetailPane.TailRead") -> None:
        message.stop()
        self._tail_read(message.tid, message.lines)

    def _tail_read(self, tid: int, lines: list[str]) -> None:
        if self._tail_pending == tid:
            self._tail_pending = None
        self._tail_at = time.monotonic()
        if self._tail == (tid, lines):
            return
        self._tail = (tid, lines)
        if self._selection is not None and self.is_attached:
            self.show(self._shown, self.app.now())  # the same selection, with the lines just read

    def _wrap(self) -> list[Strip]:
        """The text wrapped to the pane's width, one strip a line (kept until the text or width changes)."""
        width = self.scrollable_content_region.width
        if self._strips is None or (self._strips and self._strips[0].cell_length != width):
            if width <= 0:
                return []
            console = self.app.console
            options = console.options.update_width(width)
            base, log_look = self.look()
            lines = console.render_lines(safe(self._body), options, style=base, pad=True, new_lines=False)
            if self._log.plain:
                log_style = base + log_look
                lines.append([Segment(" " * width, base)])
                lines.extend(console.render_lines(safe(self._log), options, style=log_style, pad=True, new_lines=False))
            self._strips = [Strip(line, width) for line in lines]
            set_scroll_range(self, Size(width, len(self._strips)))
        return self._strips

    def on_resize(self) -> None:
        self._strips = None
        self._wrap()

    def look_changed(self) -> None:
        self._strips = None  # a new theme: the lines are wrapped and drawn again in its colours

    def render_line(self, y: int) -> Strip:
        base = self.look()[0]
        strips = self._wrap()
        index = y + int(self.scroll_y)
        width = self.scrollable_content_region.width
        if 0 <= index < len(strips):
            return strips[index]
        return Strip.blank(width, base)

    # --------------------------------------------------------------- pieces
    @staticmethod
    def _field(text: Text, name: str, value, style: str = "") -> None:
        text.append(f"{name:<10} ", style="bold")
        text.append_text(value if isinstance(value, Text) else Text(str(value), style=style))
        text.append("\n")

    def _job_fields(self, text: Text, job: Job, now: float) -> None:
        text.append(f"{job_ref(job.id)}  {job.title}\n", style="bold")
        self._field(text, "stage", job.stage)
        self._field(text, "created", clock_text(job.created_at, now))
        tasks = self.view.job_tasks(job.id)
        primary = self.view.primary_task(job.id)  # shown in full below: not listed twice
        active = [t for t in tasks if t.status in ("queued", "running") and (primary is None or t.id != primary.id)]
        done = [t for t in tasks if t.status == "completed"]
        failed = [t for t in tasks if t.status == "failed"]
        if active or done or failed or primary is None or not primary.active:
            text.append("other work of the job\n" if primary is not None and primary.active else "background work\n",
                        style="bold underline")
        if active:
            for t in active:
                line = Text(f"  {t.ref} {t.kind} ")
                line.append_text(status_text(t))
                if t.status == "running":
                    line.append(" ")
                    line.append_text(progress_text(t, 6))
                text.append_text(line)
                text.append("\n")
        elif primary is None or not primary.active:
            text.append("  nothing active\n")
        if done:
            last = max(done, key=lambda t: t.finished_at or "")
            text.append(f"  last completed: {last.ref} {last.kind} {ago(now - (parse_iso(last.finished_at) or now))}\n")
        if failed:
            last = max(failed, key=lambda t: t.finished_at or "")
            text.append(f"  last failed: {last.ref} {last.kind}: {first_line(last.error, 50)} · r retries\n", style="red")

    def _task_fields(self, text: Text, task: Task, now: float) -> None:
        head = Text(f"{task.ref}  {task.kind}  ", style="bold")
        head.append_text(status_text(task))
        text.append_text(head)
        text.append("\n")
        self._field(text, "task id", Text(task.ref + "  (y copies)"))
        if task.job_id is not None:
            job = self.view.jobs.get(task.job_id)
            self._field(text, "job", f"{job_ref(task.job_id)} {job.title if job else ''}")
        if task.label:
            self._field(text, "label", task.label)
        self._field(text, "priority", f"{task.priority}   attempt {task.attempt}/{task.max_attempts}")
        if task.status == "running":
            self._field(text, "progress", progress_text(task, 10))
            if task.progress_label:
                self._field(text, "", task.progress_label)
            started = parse_iso(task.started_at) or now
            self._field(text, "elapsed", short_duration(now - started))
            owner = task.owner if isinstance(task.owner, dict) else {}
            if self.view.show_hosts and owner.get("host"):
                pid = f" (pid {owner['pid']})" if owner.get("pid") else ""
                self._field(text, "host", f"{owner['host']}{pid}")
        if task.status == "queued":
            pos = self.positions.get(task.id, 0)
            why = self.why.get(task.id, "")
            self._field(text, "waiting", f"position {pos} · {why}" if why else f"position {pos}")
            stuck = stuck_line(self.view, task, pos, why, now)
            if stuck:
                style = "bold yellow" if stuck[0] == "warning" else "italic"
                self._field(text, "", Text(("⚠ " if stuck[0] == "warning" else "ⓘ ") + stuck[1], style=style))
        if task.cancel_requested and task.status == "running":
            self._field(text, "cancel", "cancelling… (waiting for the worker to confirm)", "yellow")
        self._field(text, "created", clock_text(task.created_at, now))
        if task.started_at:
            self._field(text, "started", clock_text(task.started_at, now))
        if task.finished_at:
            self._field(text, "finished", clock_text(task.finished_at, now))
        if task.expires_at and task.status in ("queued", "expired"):
            left = (parse_iso(task.expires_at) or now) - now
            self._field(text, "expiry", "expired" if task.status == "expired" else countdown(left))
        if task.error:
            kind = f"[{task.error_kind}] " if task.error_kind else ""
            label = "error" if task.status != "queued" else "last error"
            self._field(text, label, Text(kind + task.error.strip(), style="red"))
            if task.status == "failed":
                hint = "r retries it" if task.error_kind != "user" else "the input is wrong: fix it, then r retries"
                self._field(text, "", hint, "italic")
        meta = task.meta or {}
        for key in ("request_id", "queue_position", "banner"):
            if meta.get(key) is not None:
                self._field(text, key.replace("_", " ")[:10], str(meta[key]))
        artifact = artifact_of(task)
        if artifact:
            self._field(text, "artifact", artifact)
        result_expiry = task.result.get("expires_at") if isinstance(task.result, dict) else None
        if result_expiry:
            left = (parse_iso(str(result_expiry)) or now) - now
            self._field(text, "available", countdown(left), "yellow" if left <= 0 else "")
        if task.after:
            self._field(text, "after", ", ".join(f"t{a}" for a in task.after))
        self._field(text, "payload", _json(task.payload))
        if task.result is not None:
            self._field(text, "result", _json(task.result))


def _json(value) -> str:
    try:
        out = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        out = repr(value)
    return out if len(out) <= 400 else out[:399] + "…"
