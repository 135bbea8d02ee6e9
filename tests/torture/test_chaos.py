"""Random operations (add, dedupe, after, cancel, retry, prune) racing a worker that is killed and restarted.

CI: 1 trial of 8 s. Long: LAZYQUEUE_TORTURE_TRIALS=20 pytest -m slow tests/torture -s
"""

from __future__ import annotations

import os
import random

import pytest

from lazyqueue.bench.torture import Summary, run_chaos

from .test_kill import SEED


def chaos(count: int, seconds: float, tmp_path) -> Summary:
    total = Summary()
    for i in range(count):
        workdir = tmp_path / f"chaos-{i}"
        workdir.mkdir()
        total.add(run_chaos(workdir, seconds, random.Random(SEED + 10_000 + i)))
    print(f"\nchaos {total.line()} (seed {SEED})")
    assert total.ok, f"{total.line()} (LAZYQUEUE_TORTURE_SEED={SEED})\n" + "\n".join(total.problems[:30])
    return total


def test_chaos_short(tmp_path):
    chaos(1, 8.0, tmp_path)


@pytest.mark.slow
@pytest.mark.skipif("LAZYQUEUE_TORTURE_TRIALS" not in os.environ, reason="long run: set LAZYQUEUE_TORTURE_TRIALS")
def test_chaos_long(tmp_path):
    chaos(int(os.environ["LAZYQUEUE_TORTURE_TRIALS"]), 12.0, tmp_path)
