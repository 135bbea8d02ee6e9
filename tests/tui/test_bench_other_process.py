"""The TUI benchmark's other-process scenario runs end to end on a small queue."""

from __future__ import annotations

from lazyqueue.bench import tui


def test_other_process_scenario_measures_keys_visibility_and_cli_adds():
    figures = tui.run_other_process(history=100, keys=5, cli_adds=2)
    assert figures["keys"] == 5 and figures["key_p95_ms"] > 0
    assert figures["other_added"] > 0 and figures["other_visible_p95_ms"] > 0  # the app saw the other's tasks
    assert figures["cli_add_ms"] > 0
