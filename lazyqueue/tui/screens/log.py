"""LogScreen: the whole log of a task, following while it runs."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Log, Static

from ...core.safe_text import shown
from ..widgets.key_bar import KeyBar

FOLLOW_S = 0.25


class LogScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q,l", "app.pop_screen", "Back", id="log.back"),
        Binding("f", "toggle_follow", "Follow", id="log.follow"),
    ]

    def __init__(self, path: Path, title: str, running) -> None:
        super().__init__()
        self.path = path
        self.title_text = title
        self.task_running = running  # callable: is the task still running?
        self.read_offset = 0
        self.following = True

    def compose(self) -> ComposeResult:
        yield Static(Text(self.title_text), id="log-title")
        yield Log(id="log-view", highlight=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.read_more()
        self.set_interval(FOLLOW_S, self.read_more)

    def read_more(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.read_offset)
                data = fh.read()
        except OSError:
            if self.read_offset == 0:
                log = self.query_one(Log)
                if not log.line_count:
                    log.write_line("(no log output yet)")
            return
        if not data:
            return
        cut = data.rfind(b"\n") + 1 if self.task_running() else len(data)
        if cut <= 0:
            return
        self.read_offset += cut
        log = self.query_one(Log)
        log.write(shown(data[:cut].decode("utf-8", "replace")), scroll_end=self.following)
        state = "following" if self.following and self.task_running() else "finished" if not self.task_running() else "paused"
        self.query_one("#log-title", Static).update(Text(f"{self.title_text} · {state}"))

    def action_toggle_follow(self) -> None:
        self.following = not self.following
        if self.following:
            self.query_one(Log).scroll_end(animate=False)
