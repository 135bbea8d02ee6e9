"""HelpScreen: every key, what it does, and when it applies."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = [
    ("a", "Add a task: kind, its fields, title, priority, dedupe key, delay"),
    ("r", "Retry the selected failed, cancelled or expired task"),
    ("R", "Retry every failed task (asks first, with the count)"),
    ("c", "Cancel the selected queued or running task"),
    ("d", "Delete the selected job (asks first; cancels its active tasks)"),
    ("+ / -", "Raise / lower the priority of a queued task (1..10)"),
    ("p", "Pause / resume the worker (running tasks finish)"),
    ("l / enter", "Open the full log (follows while running)"),
    ("y", "Copy the task id (OSC-52 clipboard)"),
    ("x", "Dismiss a failed task from the Failed list"),
    ("/", "Filter jobs by id, title, stage, kind or label; escape clears"),
    ("tab / shift+tab", "Move between jobs, activity and details"),
    ("↑ ↓ pgup pgdn", "Move the selection (Jobs reads older jobs as you near the end)"),
    ("home / end", "First / last row (in Jobs, end reads the whole history)"),
    ("ctrl+p", "Command palette: every action"),
    ("?", "This help"),
    ("q", "Quit (asks what to do with running tasks)"),
]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="help.close")]

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key, what in KEYS:
            table.add_row(key, what)
        with VerticalScroll(classes="dialog help"):
            yield Static("lazyqueue keys", classes="question")
            yield Static(table)
            yield Static("States read as a word and a symbol: ○ queued  ▶ running  ✓ completed  ✗ failed  "
                         "⊘ cancelled  ⌛ expired.  Keys that do not apply now are greyed in the bar at the bottom; "
                         "click a key there to run it.",
                         classes="hint")
            yield Static("escape closes", classes="hint")

    def action_dismiss(self, result=None) -> None:
        self.dismiss(None)
