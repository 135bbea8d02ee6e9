"""The TUI benchmark still runs end to end (its figures are read by people, not asserted here)."""

from __future__ import annotations

import math

from lazyqueue.bench import tui


def test_tui_benchmark_measures_keys_events_and_paints():
    figures = tui.run(history=300, running=5, keys=10, settle_s=0.2)
    assert figures["running_seen"] == 5 and figures["keys"] == 10
    assert figures["events"] > 0 and figures["paints"] > 0
    for name in ("first_frame_ms", "key_p95_ms", "event_p95_ms", "rss_mb"):
        assert math.isfinite(figures[name]) and figures[name] > 0, name
    assert figures["key_p95_ms"] < 5000  # a key that was never seen painted counts as the 5 s timeout
