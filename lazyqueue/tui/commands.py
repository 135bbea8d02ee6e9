"""Command palette (ctrl+p): every action of the main screen, with whether it applies now."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .actions import ACTIONS


class QueueCommands(Provider):
    def _available(self):
        main = self.app.main_screen
        for a in ACTIONS:
            why = main.why_not(a.name)
            title = a.title if why is None else f"{a.title} (not now: {why})"
            yield a.action, title, a.help

    def _runner(self, action: str):
        return partial(self.app.run_main_action, action)

    async def discover(self) -> Hits:
        for action, title, help_text in self._available():
            yield DiscoveryHit(title, self._runner(action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for action, title, help_text in self._available():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), self._runner(action), help=help_text)
