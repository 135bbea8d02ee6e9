"""Command palette (ctrl+p): every lazyqueue action, with whether it applies now."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

# (action, title, help)
ACTIONS = [
    ("add", "Add task", "Queue new work: kind, fields, title, priority, dedupe key, delay"),
    ("retry", "Retry selected task", "Queue the selected failed, cancelled or expired task again"),
    ("retry_all", "Retry all failed", "Queue every failed task again (asks first)"),
    ("cancel", "Cancel selected task", "Cancel the selected queued or running task"),
    ("delete", "Delete selected job", "Delete the job; its active tasks are cancelled first"),
    ("priority(1)", "Raise priority", "Raise the selected queued task's priority"),
    ("priority(-1)", "Lower priority", "Lower the selected queued task's priority"),
    ("pause", "Pause / resume worker", "Stop or restart claiming new tasks"),
    ("log", "Open log", "Full log of the selected task, following while it runs"),
    ("copy_id", "Copy task id", "Copy the selected task id to the clipboard"),
    ("dismiss", "Dismiss failed task", "Remove the selected failed task from the Failed list"),
    ("filter", "Filter jobs", "Filter the job list by text"),
    ("help", "Help", "Every key"),
    ("quit", "Quit", "Quit lazyqueue (asks about running tasks)"),
]


class QueueCommands(Provider):
    def _available(self):
        app = self.app
        for action, title, help_text in ACTIONS:
            name = action.split("(")[0]
            params = (int(action[action.index("(") + 1:-1]),) if "(" in action else ()
            if app.check_action(name, params) is False:
                continue
            enabled = app.check_action(name, params) is not None
            yield action, title if enabled else f"{title} (not now)", help_text

    def _runner(self, action: str):
        return partial(self.app.run_action, action)

    async def discover(self) -> Hits:
        for action, title, help_text in self._available():
            yield DiscoveryHit(title, self._runner(action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for action, title, help_text in self._available():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), self._runner(action), help=help_text)
