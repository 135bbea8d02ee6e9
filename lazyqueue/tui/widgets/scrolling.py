"""Changing a scroll view's range without laying out the whole screen."""

from __future__ import annotations

from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.widget import Widget


def set_scroll_range(view: ScrollView, size: Size) -> None:
    """Set `view.virtual_size` for a view whose own size does not depend on it.

    Assigning `virtual_size` asks for a layout of the screen, which on a busy
    screen costs more than the rest of a frame. A table or pane sized by CSS
    (`1fr`, a fixed width) only needs its scroll bars and scroll limits moved
    on; a scroll bar that appears or goes still lays out, as it must.
    """
    if size == view.virtual_size:
        return
    if view.styles.auto_dimensions or not view.is_mounted:
        view.virtual_size = size
        return
    view.set_reactive(Widget.virtual_size, size)
    view._scroll_update(size)
    view.refresh()
