"""CachedLook: for a widget that keeps the lines it drew, when its colours really changed."""

from __future__ import annotations


class CachedLook:
    """Mix in before the Widget class; implement `look_changed` to drop the cached lines.

    Textual tells a widget its styles were updated on every focus move as well
    as on a new theme. Working out `rich_style` on every line painted is costly,
    and redrawing every cached line on a focus move is wasted: the look is
    worked out once after an update and the cache dropped only when it differs.
    """

    LOOK_CLASSES: tuple[str, ...] = ()  # component classes whose styles the cached lines use
    _look: tuple | None = None
    _look_stale = True

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._look_stale = True  # worked out again before the next line is drawn

    def look(self) -> tuple:
        """(the widget's own style, then one per LOOK_CLASSES), as of the last style update."""
        if self._look_stale:
            self._look_stale = False
            look = (self.rich_style,) + tuple(self.get_component_rich_style(name) for name in self.LOOK_CLASSES)
            if look != self._look:
                self._look = look
                self.look_changed()
        return self._look

    def look_changed(self) -> None:
        """The colours changed (a new theme): lines drawn before must be drawn again."""
