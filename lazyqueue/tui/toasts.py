"""ToastLimiter: how many toasts may be on screen, and what happens to the rest.

A toast that would make more than `room()` of them visible at once is held
back; when one leaves, the held ones are summed up in a single toast (what
they said is in Activity anyway). An error is never held: it clears the
others and shows at once.

While a dialog (or the log) is open no toast is shown: it would cover the
dialog. What came meanwhile waits, and when the main screen is back it is
shown: the latest error as it was, one toast as it was, more summed up.
"""

from __future__ import annotations

import time
from typing import Callable

DEFAULT_TIMEOUT = 5.0
DEFERRED_KEPT = 100  # toasts kept while a dialog is open; more are only counted


class ToastLimiter:
    """Decides which toasts are shown; `show(text, severity, timeout)` shows one."""

    def __init__(self, show: Callable[..., None], clear: Callable[[], None],
                 room: Callable[[], int], later: Callable[[float, Callable[[], None]], object],
                 clock: Callable[[], float] = time.monotonic,
                 covering: Callable[[], str | None] = lambda: None) -> None:
        self._show, self._clear, self.room, self._later, self.clock = show, clear, room, later, clock
        self.covering = covering  # what a toast would cover now ("the dialog"), None when nothing would be
        self._until: list[float] = []  # when each toast on screen goes away
        self.held = 0  # toasts not shown yet: summed up when there is room
        self._timer = None
        self.deferred: list[tuple[str, str, float, dict]] = []  # offered while a dialog was open
        self._deferred_more = 0  # held toasts whose summary came due while a dialog was open
        self._deferred_under: str | None = None

    def on_screen(self) -> int:
        now = self.clock()
        self._until = [t for t in self._until if t > now]
        return len(self._until)

    def offer(self, text: str, severity: str = "information", timeout: float | None = None, **extra) -> bool:
        """Show the toast if there is room (an error always); True if shown, False if held."""
        timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        under = self.covering()
        if under is not None:
            self.deferred.append((text, severity, timeout, extra))
            self._deferred_under = under
            if len(self.deferred) > DEFERRED_KEPT:  # a log open for an hour: what it said is counted, not kept
                dropped = next((i for i, d in enumerate(self.deferred) if d[1] != "error"), 0)
                del self.deferred[dropped]
                self._deferred_more += 1
            return False
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

    def uncovered(self) -> None:
        """The dialog closed: what came while it was open is shown (the latest error as it was, the rest
        as it was when it is one toast, else summed up)."""
        deferred, self.deferred = self.deferred, []
        more, self._deferred_more = self._deferred_more, 0
        under, self._deferred_under = self._deferred_under or "the dialog", None
        errors = [d for d in deferred if d[1] == "error"]
        rest = [d for d in deferred if d is not (errors[-1] if errors else None)]
        if errors:
            text, severity, timeout, extra = errors[-1]
            self.offer(text, severity, timeout, **extra)
        count = len(rest) + more
        if count == 1 and rest:
            text, severity, timeout, extra = rest[0]
            self.offer(text, severity, timeout, **extra)
        elif count:
            warn = any(d[1] in ("warning", "error") for d in rest)
            noun = "change" if count == 1 else "changes"
            self.offer(f"{count} {noun} while {under} was open (see Activity)", "warning" if warn else "information",
                       timeout=6)

    def _summary_later(self) -> None:
        if self._timer is None:
            wait = max(0.05, min(self._until, default=self.clock()) - self.clock())
            self._timer = self._later(wait, self._summarise)

    def _summarise(self) -> None:
        self._timer = None
        if not self.held:
            return
        if self.covering() is not None:  # summed up with the rest once the dialog closes
            self._deferred_more += self.held
            self.held = 0
            return
        if self.on_screen() >= self.room():
            self._summary_later()
            return
        held, self.held = self.held, 0
        noun = "change" if held == 1 else "changes"
        self.offer(f"…and {held} more {noun} (see Activity)", timeout=4)
