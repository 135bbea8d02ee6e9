"""The autostart benchmark still runs end to end on a small queue (its figures are read by people)."""

from __future__ import annotations

import math

from lazyqueue.bench import autostart
from lazyqueue.bench.shell import lazyqueue_cmd


def test_autostart_benchmark_times_adds_on_and_off_and_add_to_started(tmp_path):
    lq = lazyqueue_cmd()
    ratio = autostart.add_on_vs_off(lq, tmp_path, queued=50, runs=2)
    assert ratio.lazyqueue > 0 and ratio.other > 0 and len(ratio.samples) == len(ratio.other_samples) == 2
    started = autostart.add_to_started(lq, tmp_path, runs=1)
    assert math.isfinite(started.lazyqueue) and 0 < started.lazyqueue < 30_000
    assert not list(tmp_path.glob("*/workers/*.json")), "every background worker it started was stopped"
