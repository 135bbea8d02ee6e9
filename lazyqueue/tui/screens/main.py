"""MainScreen: the screen the app composes its jobs, activity and details into."""

from __future__ import annotations

from textual.reactive import Reactive
from textual.screen import Screen
from textual.widget import Widget


class MainScreen(Screen):
    """The app's first screen (its widgets come from `LazyQueueApp.compose`).

    A Textual screen repaints all of itself when the focus moves. Here only
    what looks different repaints: the widget that took the focus and the one
    that lost it (their styles change and they refresh themselves). On a busy
    screen the whole-screen repaint was most of what a tab cost.
    """

    focused: Reactive[Widget | None] = Reactive(None, repaint=False)
