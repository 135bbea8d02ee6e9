"""The main screen's actions, listed once: the bindings, the key bar, the palette and `?` help are made from this.

Each entry says which key runs it, how the key bar and the palette name it
and what help says about it. Whether an action applies now (and why not)
is the main screen's `why_not`.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Action:
    """One thing the user can do on the main screen."""

    id: str  # binding id (also what a keymap names)
    action: str  # what it runs: "priority(1)"
    keys: str  # Textual key names, comma-separated
    shown: str  # the keys as help and the bar show them
    bar: str  # the key bar's word ("" = not in the bar)
    title: str  # the palette's entry
    help: str  # what help and the palette say it does

    @property
    def name(self) -> str:
        """The action's name without its parameters ("priority")."""
        return self.action.split("(")[0]

    @property
    def params(self) -> tuple:
        if "(" not in self.action:
            return ()
        return (int(self.action[self.action.index("(") + 1:-1]),)


ACTIONS: tuple[Action, ...] = (
    Action("add", "add", "a", "a", "Add", "Add task", "Queue new work: kind, fields, title, priority…"),
    Action("retry", "retry", "r", "r", "Retry", "Retry selected task", "Retry the selected failed/cancelled/expired task"),
    Action("retry_all", "retry_all", "R", "R", "All", "Retry all failed", "Retry every failed task (asks first)"),
    Action("cancel", "cancel", "c", "c", "Cancel", "Cancel selected task", "Cancel the selected queued or running task"),
    Action("delete", "delete", "d", "d", "Del", "Delete selected job", "Delete the selected job (asks; cancels its tasks)"),
    Action("priority_up", "priority(1)", "plus,equals_sign", "+", "Prio", "Raise priority", "Raise a queued task's priority (1..10)"),
    Action("priority_down", "priority(-1)", "minus", "-", "", "Lower priority", "Lower a queued task's priority"),
    Action("pause", "pause", "p", "p", "Pause", "Pause / resume worker", "Pause / resume the worker (running tasks finish)"),
    Action("log", "log", "l,enter", "l / enter", "", "Open log", "The task's full log, following while it runs"),
    Action("copy_id", "copy_id", "y", "y", "", "Copy task id", "Send the task id to the clipboard (OSC 52)"),
    Action("dismiss", "dismiss", "x", "x", "", "Dismiss failed task", "Take a failed task off the Failed list"),
    Action("filter", "filter", "slash", "/", "", "Filter jobs", "Filter jobs by id, title, stage, kind or label"),
    Action("help", "help", "question_mark", "?", "Help", "Help", "This help: every key"),
    Action("quit", "quit", "q", "q", "Quit", "Quit", "Quit (asks about running tasks); ctrl+q too"),
)

# Keys help lists that are not actions of the screen (the tables and panes handle them).
MOVING_KEYS: tuple[tuple[str, str], ...] = (
    ("tab / shift+tab", "Move between jobs, activity and details"),
    ("↑ ↓ pgup pgdn", "Move the selection (older jobs load as you go)"),
    ("home / end", "Jobs: the most recent / the oldest job"),
    ("ctrl+p", "Command palette: every action"),
)


def bindings() -> list[Binding]:
    """The main screen's bindings. They are priority bindings: a key is acted on as it arrives, before the
    next one is read, so `a` opens the Add dialog before the keys typed after it are routed anywhere."""
    return [Binding(a.keys, a.action, a.bar or a.title, id=a.id, key_display=a.shown, show=bool(a.bar),
                    tooltip=a.help, priority=True) for a in ACTIONS]


def by_name(name: str) -> Action:
    return next(a for a in ACTIONS if a.name == name)
