"""kill -9 the worker and a CLI writer at random moments; recover; check what the file holds.

CI runs 5 trials of 200 tasks. The long run: LAZYQUEUE_TORTURE_TRIALS=50 pytest -m slow tests/torture -s
(or `python -m lazyqueue.bench.torture --trials 50`).
"""

from __future__ import annotations

import os
import random

import pytest

from lazyqueue.bench.torture import Summary, run_trial

SEED = int(os.environ.get("LAZYQUEUE_TORTURE_SEED", random.randrange(1 << 30)))


def trials(count: int, tmp_path) -> Summary:
    total = Summary()
    for i in range(count):
        workdir = tmp_path / f"trial-{i}"
        workdir.mkdir()
        total.add(run_trial(workdir, n_tasks=200, rng=random.Random(SEED + i)))
    print(f"\n{total.line()} (seed {SEED})")
    return total


def check(total: Summary) -> None:
    assert total.ok, f"{total.line()} (LAZYQUEUE_TORTURE_SEED={SEED})\n" + "\n".join(total.problems[:30])


def test_kill9_short(tmp_path):
    check(trials(5, tmp_path))


@pytest.mark.slow
@pytest.mark.skipif("LAZYQUEUE_TORTURE_TRIALS" not in os.environ, reason="long run: set LAZYQUEUE_TORTURE_TRIALS=50")
def test_kill9_long(tmp_path):
    check(trials(int(os.environ["LAZYQUEUE_TORTURE_TRIALS"]), tmp_path))
