"""LogScreen: the whole log of a task, following its end while it runs.

Scrolling up (↑, k, page up, home, the mouse wheel) stops following so what
is being read stays put; G or end goes back to the end and follows again,
as in less and k9s. The header says which, and "finished" once the task is.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import events
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
        Binding("G,end", "follow", "Follow (end)", id="log.follow", key_display="G", priority=True),
        Binding("up,k", "back(1)", "Up", id="log.up", show=False, priority=True),
        Binding("pageup", "back(-1)", "Page up", id="log.pageup", show=False, priority=True),
        Binding("home,g", "back(0)", "Top", id="log.home", show=False, priority=True),
        Binding("f", "toggle_follow", "Follow on/off", id="log.toggle"),
    ]

    def __init__(self, path: Path, title: str, running) -> None:
        super().__init__()
        self.path = path
        self.title_text = title
        self.task_running = running  # callable: is the task still running?
        self.read_offset = 0
        self.following = True
        self._said = ""

    def compose(self) -> ComposeResult:
        yield Static(Text(self.title_text), id="log-title")
        yield Log(id="log-view", highlight=False, auto_scroll=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.read_more()
        self.set_interval(FOLLOW_S, self.read_more)

    @property
    def state(self) -> str:
        """What the header says about following: following / paused / finished."""
        if not self.task_running():
            return "finished"
        return "following (scroll up pauses)" if self.following else "paused — G or end follows again"

    def read_more(self) -> None:
        log = self.query_one(Log)
        running = self.task_running()
        data = b""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.read_offset)
                data = fh.read()
        except OSError:
            if self.read_offset == 0 and not log.line_count:
                log.write_line("(no log output yet)")
        cut = (data.rfind(b"\n") + 1 if running else len(data)) if data else 0
        if cut > 0:
            self.read_offset += cut
            log.write(shown(data[:cut].decode("utf-8", "replace")), scroll_end=False)
            if self.following:
                log.scroll_end(animate=False, immediate=True)
        self._say()

    def _say(self) -> None:
        said = f"{self.title_text} · {self.state}"
        if said != self._said:
            self._said = said
            self.query_one("#log-title", Static).update(Text(said))

    def action_follow(self) -> None:
        self.following = True
        self.query_one(Log).scroll_end(animate=False, immediate=True)
        self._say()

    def action_back(self, how: int) -> None:
        """Scroll towards the start (1: a line, -1: a page, 0: the top); reading back pauses following."""
        log = self.query_one(Log)
        self.following = False
        if how == 1:
            log.scroll_up(animate=False, immediate=True)
        elif how == -1:
            log.scroll_page_up(animate=False)
        else:
            log.scroll_home(animate=False, immediate=True)
        self._say()

    def action_toggle_follow(self) -> None:
        if self.following:
            self.following = False
            self._say()
        else:
            self.action_follow()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.following = False
        self._say()
