"""QuitScreen: tasks are running — wait for them, re-queue them, or cancel them."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class QuitScreen(ModalScreen[str | None]):
    """Dismisses with "wait", "requeue", "cancel" or None (stay)."""

    BINDINGS = [
        Binding("w", "choose('wait')", "Wait", id="quit.wait"),
        Binding("r", "choose('requeue')", "Re-queue and quit", id="quit.requeue"),
        Binding("c", "choose('cancel')", "Cancel them", id="quit.cancel"),
        Binding("escape", "choose(None)", "Stay", id="quit.stay"),
    ]

    def __init__(self, running: int) -> None:
        super().__init__()
        self.running = running

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(f"{self.running} running — [w]ait for them, [r]e-queue them and quit, [c]ancel them"),
                        classes="question")
            yield Label(
                "Nothing is lost whichever you choose: waiting starts nothing new; re-queued tasks keep their "
                "attempt and run again next time; cancelled ones stay listed and can be retried. Escape stays.",
                classes="hint",
            )
            with Horizontal(classes="buttons"):
                yield Button(Text("Wait [w]"), id="wait", variant="primary")
                yield Button(Text("Re-queue [r]"), id="requeue")
                yield Button(Text("Cancel them [c]"), id="cancel", variant="error")
                yield Button(Text("Stay [esc]"), id="stay")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "stay" else event.button.id)

    def action_choose(self, choice: str | None) -> None:
        self.dismiss(choice)
