"""QuitScreen: tasks are running — keep them running in the background, wait for them, re-queue them, or cancel them."""

from __future__ import annotations

from typing import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from ..widgets.key_bar import KeyBar

COUNT_EVERY_S = 0.25


class QuitScreen(ModalScreen[str | None]):
    """Dismisses with "keep" (the default), "wait", "requeue", "cancel" or None (stay). The count is live."""

    BINDINGS = [
        Binding("k", "choose('keep')", "Keep running", id="quit.keep"),
        Binding("w", "choose('wait')", "Wait", id="quit.wait"),
        Binding("r", "choose('requeue')", "Re-queue and quit", id="quit.requeue"),
        Binding("c", "choose('cancel')", "Cancel them", id="quit.cancel"),
        Binding("q", "choose('requeue')", "Quit", id="quit.again", show=False),
        Binding("escape", "choose(None)", "Stay", id="quit.stay"),
    ]

    def __init__(self, running: Callable[[], int] | int, waiting: bool = False) -> None:
        super().__init__()
        self.running = running if callable(running) else (lambda: running)
        self.waiting = waiting  # asked again while waiting: escape keeps waiting

    @property
    def question_text(self) -> str:
        count = self.running()
        if not count:
            return "Nothing is running any more — q quits, escape stays"
        lead = f"Still waiting for {count} running" if self.waiting else f"{count} running"
        choices = "[k]eep them running in the background and quit, [r]e-queue them and quit, [c]ancel them" \
            if self.waiting else \
            "[k]eep them running in the background and quit, [w]ait for them, [r]e-queue them and quit, [c]ancel them"
        return f"{lead} — {choices}"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog quit"):
            yield Label(Text(self.question_text), classes="question", id="quit-question")
            yield Label(
                "Nothing is lost whichever you choose: kept commands go on and a background worker takes them "
                "over; waiting starts nothing new; re-queued tasks keep their attempt and start again; "
                "cancelled ones stay listed and can be retried. "
                + ("Escape goes on waiting." if self.waiting else "Escape stays."),
                classes="hint",
            )
            with Horizontal(classes="buttons"):
                yield Button(Text("Keep [k]"), id="keep", variant="primary")
                if not self.waiting:
                    yield Button(Text("Wait [w]"), id="wait")
                yield Button(Text("Re-queue [r]"), id="requeue")
                yield Button(Text("Cancel [c]"), id="cancel", variant="error")
                yield Button(Text("Keep waiting [esc]" if self.waiting else "Stay [esc]"), id="stay")
        yield KeyBar()

    def on_mount(self) -> None:
        self.set_interval(COUNT_EVERY_S, self._recount)

    def _recount(self) -> None:
        self.query_one("#quit-question", Label).update(Text(self.question_text))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "stay" else event.button.id)

    def action_choose(self, choice: str | None) -> None:
        if choice == "wait" and self.waiting:
            return
        self.dismiss(choice)
