"""TopN keeps the same leaders a full sort would find, whatever order keys change in."""

from __future__ import annotations

import heapq
import random

from lazyqueue.tui.ranking import TopN


def test_topn_matches_a_full_sort_through_random_changes():
    rng = random.Random(7)
    keys: dict[int, float] = {i: rng.random() for i in range(300)}
    top = TopN(20, key=lambda i: keys[i], universe=lambda: keys.keys())
    for step in range(3000):
        op = rng.random()
        if op < 0.6:  # a key rises (the common case: new activity)
            i = rng.choice(list(keys))
            keys[i] += rng.random()
            top.update(i)
        elif op < 0.7:  # a key falls
            i = rng.choice(list(keys))
            keys[i] -= rng.random()
            top.update(i)
        elif op < 0.85 and len(keys) > 5:  # an id leaves
            i = rng.choice(list(keys))
            del keys[i]
            top.remove(i)
        else:  # an id joins
            i = max(keys, default=0) + 1
            keys[i] = rng.random() * 3
            top.update(i)
        n = rng.choice((1, 5, 20))
        expected = heapq.nlargest(n, keys, key=lambda i: (keys[i], i))
        assert top.top(n) == expected, f"step {step}"


def test_topn_with_fewer_ids_than_its_size():
    keys = {1: 1.0, 2: 3.0}
    top = TopN(10, key=lambda i: keys[i], universe=lambda: keys.keys())
    assert top.top(10) == [2, 1]
    keys[3] = 2.0
    top.update(3)
    assert top.top(10) == [2, 3, 1]
    del keys[2]
    top.remove(2)
    assert top.top(10) == [3, 1]
    assert top.top(50) == [3, 1]  # more than it keeps: sorted in full
