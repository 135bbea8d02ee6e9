"""ToastLimiter under a dialog: nothing is shown while it is open; what came meanwhile is shown after, bounded."""

from __future__ import annotations

from lazyqueue.tui.toasts import DEFERRED_KEPT, ToastLimiter


def limiter(covered: list):
    shown: list[tuple[str, str]] = []
    toasts = ToastLimiter(lambda text, severity, timeout, **extra: shown.append((text, severity)), lambda: None,
                          lambda: 3, lambda wait, callback: None, clock=lambda: 0.0,
                          covering=lambda: covered[0] if covered else None)
    return toasts, shown


def test_a_long_open_log_keeps_a_bounded_list_and_shows_the_latest_error_and_a_count_after():
    covered = ["the log"]
    toasts, shown = limiter(covered)
    toasts.offer("✗ t1 failed: first", "error")
    for n in range(DEFERRED_KEPT * 3):
        toasts.offer(f"✓ t{n + 2} completed")
    toasts.offer("✗ t999 failed: latest", "error")
    assert shown == [] and len(toasts.deferred) <= DEFERRED_KEPT + 1
    covered.clear()
    toasts.uncovered()
    assert shown == [("✗ t999 failed: latest", "error"),
                     (f"{DEFERRED_KEPT * 3 + 1} changes while the log was open (see Activity)", "warning")]
    assert toasts.deferred == []


def test_one_toast_that_came_under_a_dialog_is_shown_as_it_was():
    covered = ["the dialog"]
    toasts, shown = limiter(covered)
    toasts.offer("✓ t2 completed · backup")
    covered.clear()
    toasts.uncovered()
    assert shown == [("✓ t2 completed · backup", "information")]
    toasts.uncovered()  # nothing more came: nothing more is said
    assert len(shown) == 1
