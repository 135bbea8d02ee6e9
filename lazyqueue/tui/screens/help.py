"""HelpScreen: every key, what it does, and when it applies (from the actions' catalogue)."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..actions import ACTIONS, MOVING_KEYS
from ..widgets.key_bar import KeyBar


def help_rows() -> list[tuple[str, str]]:
    """(keys, what they do): the screen's actions (+ and - share a row), then moving around."""
    rows: list[tuple[str, str]] = []
    for a in ACTIONS:
        if a.id == "priority_down":
            continue
        if a.id == "priority_up":
            rows.append(("+ / -", "Raise / lower a queued task's priority (1..10)"))
            continue
        rows.append((a.shown, a.help))
    return rows + list(MOVING_KEYS)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="help.close")]

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key, what in help_rows():
            table.add_row(key, what)
        with VerticalScroll(classes="dialog help"):
            yield Static("lazyqueue keys", classes="question")
            yield Static(table, id="help-keys")
            yield Static("○ queued  ▶ running  ✓ completed  ✗ failed  ⊘ cancelled  ⌛ expired\n"
                         "Greyed keys do not apply now; pressed, they say why.", classes="hint")
        yield KeyBar()

    def action_dismiss(self, result=None) -> None:
        self.dismiss(None)
