"""KeyBar: the keys that apply now, on one line; a key that does not apply is greyed.

Textual's Footer mounts a widget per key and rebuilds them all whenever the
focus moves or a key's state changes; on a busy screen that re-layout cost
more than everything else a key press did. This bar is one line of text,
painted again only when what it says changed. Keys can be clicked, and
hovering one shows what it does.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widget import Widget


DROP_FIRST = ("All", "Del", "Prio", "Retry")  # when the bar is too narrow (help and the palette have them)


class KeyBar(Widget):
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    KeyBar > .key-bar--key {
        color: $footer-key-foreground;
        background: $footer-key-background;
        text-style: bold;
    }
    KeyBar > .key-bar--description {
        color: $footer-description-foreground;
        background: $footer-description-background;
    }
    KeyBar > .key-bar--disabled {
        color: $text-disabled;
    }
    """
    COMPONENT_CLASSES = {"key-bar--key", "key-bar--description", "key-bar--disabled"}

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        # (key to press, key as shown, description, enabled, tooltip); the command palette comes last
        self.items: tuple[tuple[str, str, str, bool, str], ...] = ()
        self.palette: tuple[str, str, str, bool, str] | None = None
        self._spans: list[tuple[int, int, int]] = []  # (first cell, end cell, index of the item)

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self.collect()

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen) -> None:
        if self.is_attached and screen is self.screen:
            self.collect()

    def collect(self) -> None:
        """Read the screen's keys (its `key_bar_items()` if it has them, else its active bindings);
        repaint only if the bar would read differently."""
        items: list[tuple[str, str, str, bool, str]] = []
        palette = None
        seen: set[str] = set()
        app = self.app
        screen = self.screen
        for _node, binding, enabled, tooltip in screen.active_bindings.values():
            item = (binding.key.split(",")[0], app.get_key_display(binding), binding.description, bool(enabled),
                    tooltip or binding.tooltip or binding.description)
            if binding.key == app.COMMAND_PALETTE_BINDING and app.ENABLE_COMMAND_PALETTE:
                palette = item
            elif binding.show and binding.action not in seen:
                seen.add(binding.action)
                items.append(item)
        own = getattr(screen, "key_bar_items", None)
        if own is not None:
            items = own()
        if (tuple(items), palette) != (self.items, self.palette):
            self.items, self.palette = tuple(items), palette
            self.refresh()

    @property
    def text(self) -> str:
        """The bar as plain text (what a reader of the screen sees)."""
        return self.render().plain

    def fitting(self) -> tuple:
        """The items that fit beside the palette key: when the bar is too narrow, those that help and the
        palette also offer go first (DROP_FIRST), then the last ones."""
        items = list(self.items)
        palette = (len(self.palette[1]) + len(self.palette[2]) + 4) if self.palette is not None else 0

        def width() -> int:
            return sum(len(shown) + len(word) + 3 for _k, shown, word, _e, _t in items) + palette

        for word in DROP_FIRST:
            if width() <= self.size.width:
                break
            items = [item for item in items if item[2] != word]
        while items and width() > self.size.width:
            items.pop(-2 if len(items) > 1 else -1)  # keep the last (Quit) as long as there is room
        return tuple(items)

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-bar--key")
        description_style = self.get_component_rich_style("key-bar--description")
        disabled_style = self.get_component_rich_style("key-bar--disabled")
        line = Text(no_wrap=True, overflow="crop", end="")
        spans: list[tuple[int, int, int]] = []
        items = self.fitting() if self.size.width else self.items
        for index, (_key, shown, description, enabled, _tip) in enumerate(items):
            start = line.cell_len
            line.append(f" {shown} ", style=key_style if enabled else disabled_style)
            line.append(f"{description} ", style=description_style if enabled else disabled_style)
            spans.append((start, line.cell_len, index))
        if self.palette is not None:
            _key, shown, description, enabled, _tip = self.palette
            tail = Text(no_wrap=True, end="")
            tail.append(f" {shown} ", style=key_style)
            tail.append(f"{description} ", style=description_style)
            start = max(line.cell_len + 1, self.size.width - tail.cell_len)
            if start + tail.cell_len <= self.size.width:
                line.append(" " * (start - line.cell_len))
                line.append_text(tail)
                spans.append((start, line.cell_len, len(items)))
        self._spans = spans
        self._shown_items = items
        return line

    def _item_at(self, x: int) -> tuple[str, str, str, bool, str] | None:
        everything = tuple(getattr(self, "_shown_items", self.items)) + ((self.palette,) if self.palette is not None else ())
        for start, end, index in self._spans:
            if start <= x < end:
                return everything[index]
        return None

    def on_click(self, event: events.Click) -> None:
        item = self._item_at(event.x)
        if item is not None and item[3]:
            event.stop()
            self.app.simulate_key(item[0])

    def on_mouse_move(self, event: events.MouseMove) -> None:
        item = self._item_at(event.x)
        self.tooltip = None if item is None else (item[4] if item[3] else f"{item[4]} (does not apply now)")
