"""AddTaskScreen: pick a kind, fill its fields, and queue it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select


class AddTaskScreen(ModalScreen[dict | None]):
    """Dismisses with {kind, payload, title, priority, dedupe_key, delay} or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="add.cancel"),
        Binding("ctrl+s", "submit", "Queue it", id="add.submit"),
    ]

    def __init__(self, kinds: list, default: str | None = None) -> None:
        super().__init__()
        self.kinds = {k.name: k for k in kinds}
        names = list(self.kinds)
        self.kind_name = default if default in self.kinds else ("shell" if "shell" in self.kinds else names[0])

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog add"):
            yield Label("Add a task", classes="question")
            yield Label("Kind", classes="field-label")
            yield Select([(f"{k.name} — {k.description}" if k.description else k.name, k.name) for k in self.kinds.values()],
                         value=self.kind_name, allow_blank=False, id="kind")
            yield Vertical(id="fields")
            yield Label("Title (the job's name; empty = the task's label)", classes="field-label")
            yield Input(id="title", placeholder="e.g. nightly backup")
            with Horizontal(classes="row"):
                with Vertical():
                    yield Label("Priority 1..10", classes="field-label")
                    yield Input(id="priority", placeholder="default", type="integer")
                with Vertical():
                    yield Label("Delay (s)", classes="field-label")
                    yield Input(id="delay", placeholder="0", type="number")
            yield Label("Dedupe key (one active task per key)", classes="field-label")
            yield Input(id="dedupe", placeholder="none")
            yield Label("", id="add-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button(Text("Queue it [ctrl+s]"), id="submit", variant="primary")
                yield Button(Text("Cancel [esc]"), id="cancel")

    async def on_mount(self) -> None:
        await self._show_fields()

    async def _show_fields(self) -> None:
        box = self.query_one("#fields", Vertical)
        await box.remove_children()
        kind = self.kinds[self.kind_name]
        widgets = []
        for field in kind.fields:
            if kind.name == "shell" and field.name == "command":
                label = "Command line (run by sh -c)"
            else:
                label = f"{field.name}{'' if field.required else ' (optional)'}" + (f" — {field.help}" if field.help else "")
            widgets.append(Label(Text(label), classes="field-label"))
            default = "" if field.default is None else str(field.default)
            widgets.append(Input(value=default, id=f"field-{field.name}", placeholder=field.help or field.name))
        if not kind.fields:
            widgets.append(Label(f"{kind.name} takes no fields", classes="hint"))
        await box.mount_all(widgets)

    async def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "kind" and event.value in self.kinds and event.value != self.kind_name:
            self.kind_name = str(event.value)
            await self._show_fields()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "submit":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        kind = self.kinds[self.kind_name]
        payload = {}
        for field in kind.fields:
            value = self.query_one(f"#field-{field.name}", Input).value.strip()
            if value:
                payload[field.name] = value
        error = self.query_one("#add-error", Label)
        missing = [f.name for f in kind.fields if f.required and f.name not in payload and f.default is None]
        if kind.name == "shell" and "command" not in payload:
            missing = ["command"]
        if missing:
            error.update(Text(f"{self.kind_name} needs: {', '.join(missing)}"))
            return
        priority = self.query_one("#priority", Input).value.strip()
        delay = self.query_one("#delay", Input).value.strip()
        try:
            spec = {
                "kind": self.kind_name,
                "payload": payload,
                "title": self.query_one("#title", Input).value.strip() or None,
                "priority": int(priority) if priority else None,
                "dedupe_key": self.query_one("#dedupe", Input).value.strip() or None,
                "delay": float(delay) if delay else None,
            }
        except ValueError as exc:
            error.update(Text(f"not a number: {exc}"))
            return
        self.dismiss(spec)
