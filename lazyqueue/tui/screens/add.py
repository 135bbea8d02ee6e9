"""AddTaskScreen: pick a kind, fill its fields, and queue it.

The focus starts in the kind's first field (the command line for shell).
Keys typed before the dialog is on screen are held by the app (`hold_key`)
and typed into that field once it is, in order; none of them reaches the
screen underneath. Enter queues what the fields show at that moment.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from ..widgets.key_bar import KeyBar


class AddTaskScreen(ModalScreen[dict | None]):
    """Dismisses with {kind, payload, title, priority, dedupe_key, delay} or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="add.cancel"),
        Binding("ctrl+s", "submit", "Queue it", id="add.submit"),
        Binding("tab", "app.focus_next", "Next field", id="add.next"),
    ]
    AUTO_FOCUS = None  # the first field takes the focus when the held keys are typed

    def __init__(self, kinds: list, default: str | None = None) -> None:
        super().__init__()
        self.kinds = {k.name: k for k in kinds}
        names = list(self.kinds)
        self.kind_name = default if default in self.kinds else ("shell" if "shell" in self.kinds else names[0])
        self.ready = False
        self._held: list[events.Key] = []

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog add"):
            yield Label("Add a task", classes="question")
            with Horizontal(classes="field"):
                yield Label("Kind", classes="field-label")
                yield Select([(f"{k.name} — {k.description}" if k.description else k.name, k.name) for k in self.kinds.values()],
                             value=self.kind_name, allow_blank=False, id="kind", compact=True)
            with Vertical(id="fields"):
                yield from self._field_widgets()
            yield from self._row("Title", Input(id="title", placeholder="the job's name (empty: the task's label)", compact=True))
            with Horizontal(classes="field"):
                yield Label("Priority", classes="field-label")
                yield Input(id="priority", placeholder="1..10 (5)", type="integer", compact=True)
                yield Label("Delay (s)", classes="field-label short")
                yield Input(id="delay", placeholder="0", type="number", compact=True)
            yield from self._row("Dedupe key", Input(id="dedupe", placeholder="one active task per key (none)", compact=True))
            yield Label("", id="add-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button(Text("Queue it (enter)"), id="submit", variant="primary", compact=True)
                yield Button(Text("Cancel (esc)"), id="cancel", compact=True)
        yield KeyBar()

    @staticmethod
    def _row(label: str, widget) -> ComposeResult:
        with Horizontal(classes="field"):
            yield Label(label, classes="field-label")
            yield widget

    def _field_widgets(self) -> list:
        kind = self.kinds[self.kind_name]
        rows = []
        for field in kind.fields:
            if kind.name == "shell" and field.name == "command":
                label, hint = "Command", "a command line, run by sh -c"
            else:
                label = field.name + ("" if field.required else " (opt.)")
                hint = field.help or field.name
            default = "" if field.default is None else str(field.default)
            rows.append(Horizontal(Label(Text(label), classes="field-label"),
                                   Input(value=default, id=f"field-{field.name}", placeholder=hint, compact=True),
                                   classes="field"))
        if not kind.fields:
            rows.append(Label(f"{kind.name} takes no fields", classes="hint"))
        return rows

    def first_field(self) -> Input:
        kind = self.kinds[self.kind_name]
        if kind.fields:
            return self.query_one(f"#field-{kind.fields[0].name}", Input)
        return self.query_one("#title", Input)

    # ------------------------------------------------------------------ keys typed before the dialog shows
    def hold_key(self, event: events.Key) -> bool:
        """The app asks before routing a key: True if the dialog keeps it to type it in when ready."""
        if self.ready:
            return False
        self._held.append(event)
        return True

    def on_mount(self) -> None:
        self.set_focus(self.first_field())
        held, self._held = self._held, []
        for event in held:  # in order, with nothing in between: the app waits for `ready`
            if not self._type(event):
                break
        self.ready = True

    def _type(self, event: events.Key) -> bool:
        """Apply one held key to the focused field; False once the dialog is closing."""
        box = self.focused
        if event.key == "enter":
            self.action_submit()
            return not self.is_dismissing
        if event.key == "escape":
            self.action_cancel()
            return False
        if event.key == "ctrl+s":
            self.action_submit()
            return not self.is_dismissing
        if event.key == "tab":
            self.focus_next()
        elif event.key == "shift+tab":
            self.focus_previous()
        elif isinstance(box, Input):
            if event.key == "backspace":
                box.action_delete_left()
            elif event.is_printable and event.character:
                box.insert_text_at_cursor(event.character)
        return True

    @property
    def is_dismissing(self) -> bool:
        return self.app.screen is not self

    # ------------------------------------------------------------------ answers
    async def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "kind" and event.value in self.kinds and event.value != self.kind_name:
            self.kind_name = str(event.value)
            box = self.query_one("#fields", Vertical)
            await box.remove_children()
            await box.mount_all(self._field_widgets())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit({event.input.id: event.value})

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "submit":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _value(self, widget_id: str, shown: dict) -> str:
        if widget_id in shown:
            return shown[widget_id].strip()  # what the field showed when enter was pressed
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def action_submit(self, shown: dict | None = None) -> None:
        shown = shown or {}
        kind = self.kinds[self.kind_name]
        payload = {}
        for field in kind.fields:
            value = self._value(f"field-{field.name}", shown)
            if value:
                payload[field.name] = value
        error = self.query_one("#add-error", Label)
        missing = [f.name for f in kind.fields if f.required and f.name not in payload and f.default is None]
        if kind.name == "shell" and "command" not in payload:
            missing = ["command"]
        if missing:
            error.update(Text(f"{self.kind_name} needs: {', '.join(missing)}"))
            return
        priority = self._value("priority", shown)
        delay = self._value("delay", shown)
        try:
            spec = {
                "kind": self.kind_name,
                "payload": payload,
                "title": self._value("title", shown) or None,
                "priority": int(priority) if priority else None,
                "dedupe_key": self._value("dedupe", shown) or None,
                "delay": float(delay) if delay else None,
            }
        except ValueError as exc:
            error.update(Text(f"not a number: {exc}"))
            return
        self.dismiss(spec)
