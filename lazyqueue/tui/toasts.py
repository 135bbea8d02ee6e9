"""ToastLimiter: how many toasts may be on screen, and what happens to the rest.

A toast that would make more than `room()` of them visible at once is held
back; when one leaves, the held ones are summed up in a single toast (what
they said is in Activity anyway). An error is never held: it clears the
others and shows at once.
"""

from __future__ import annotations

import time
from typing import Callable

DEFAULT_TIMEOUT = 5.0


class ToastLimiter:
    """Decides which toasts are shown; `show(text, severity, timeout)` shows one."""

    def __init__(self, show: Callable[..., None], clear: Callable[[], None],
                 room: Callable[[], int], later: Callable[[float, Callable[[], None]], object],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._show, self._clear, self.room, self._later, self.clock = show, clear, room, later, clock
        self._until: list[float] = []  # when each toast on screen goes away
        self.held = 0  # toasts not shown yet: summed up when there is room
        self._timer = None

    def on_screen(self) -> int:
        now = self.clock()
        self._until = [t for t in self._until if t > now]
        return len(self._until)

    def offer(self, text: str, severity: str = "information", timeout: float | None = None, **extra) -> bool:
        """Show the toast if there is room (an error always); True if shown, False if held."""
        timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        if severity == "error" and self.on_screen() >= self.room():
            self.cleared()
            self._clear()
        if self.on_screen() >= self.room():
            self.held += 1
            self._summary_later()
            return False
        self._until.append(self.clock() + timeout)
        self._show(text, severity, timeout, **extra)
        return True

    def cleared(self) -> None:
        """The toasts on screen were taken away (a dialog opened)."""
        self._until.clear()

    def _summary_later(self) -> None:
        if self._timer is None:
            wait = max(0.05, min(self._until, default=self.clock()) - self.clock())
            self._timer = self._later(wait, self._summarise)

    def _summarise(self) -> None:
        self._timer = None
        if not self.held:
            return
        if self.on_screen() >= self.room():
            self._summary_later()
            return
        held, self.held = self.held, 0
        noun = "change" if held == 1 else "changes"
        self.offer(f"…and {held} more {noun} (see Activity)", timeout=4)
