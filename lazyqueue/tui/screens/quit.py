"""QuitScreen: tasks are running — wait for them, re-queue them, or cancel them."""

from __future__ import annotations

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
        noun = "task is" if self.running == 1 else "tasks are"
        with Vertical(classes="dialog"):
            yield Label(f"{self.running} running — {self.running} {noun} still working.", classes="question")
            yield Label(
                "[w]ait for them, then quit · [r]e-queue them and quit (they run again next time) · "
                "[c]ancel them and quit · escape stays. Nothing is lost whichever you choose.",
                classes="hint",
            )
            with Horizontal(classes="buttons"):
                yield Button("Wait [w]", id="wait", variant="primary")
                yield Button("Re-queue [r]", id="requeue")
                yield Button("Cancel them [c]", id="cancel", variant="error")
                yield Button("Stay [esc]", id="stay")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "stay" else event.button.id)

    def action_choose(self, choice: str | None) -> None:
        self.dismiss(choice)
