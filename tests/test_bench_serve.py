"""The serve/run benchmark still measures what it says on a small run (its figures are read by people)."""

from __future__ import annotations

import math

import pytest

from lazyqueue.bench import serve

def test_sse_lag_through_the_background_worker_sees_every_completion(tmp_path):
    rows = serve.bench_sse(tmp_path, 5, worker=False)
    median = rows[0]
    assert "5/5 completions seen" in median.note
    assert math.isfinite(median.lazyqueue) and median.lazyqueue > 0

def test_run_of_true_is_timed_as_a_foreground_run(tmp_path):
    (row,) = serve.bench_run(tmp_path, 1)
    assert 0 < row.lazyqueue < 2000, "run's `true` finished in the foreground, not after the 2 s move"
    assert not list(tmp_path.glob("*/workers/*.json")), "the background worker it started was stopped"
