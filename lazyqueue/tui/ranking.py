"""TopN: the ids with the largest keys, kept in order as keys change.

The job list shows the most recently active jobs and the activity panel the
most recently finished tasks. Sorting a 10,000-task history for each start
or finish took tens of milliseconds a time; here the leaders are kept in a
short sorted list. Keys only grow in practice (a job's latest activity, a
task's finish time), so a change moves an id up the list. Whatever the list
cannot answer alone (a key going down, a leader leaving while others wait
outside the list) drops it, and the next read sorts once more.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from typing import Callable, Collection


class TopN:
    def __init__(self, size: int, key: Callable[[int], tuple], universe: Callable[[], Collection[int]]) -> None:
        self.size = size
        self.key = key  # id -> sortable key; larger comes first
        self.universe = universe  # every id that may be ranked now
        self._entries: list[tuple[tuple, int]] | None = None  # the leaders, ascending
        self._members: dict[int, tuple[tuple, int]] = {}  # id -> its entry
        self._complete = False  # the list holds every id of the universe

    def invalidate(self) -> None:
        self._entries = None
        self._members = {}

    def top(self, n: int) -> list[int]:
        """The `n` ids with the largest keys, largest first."""
        if n > self.size:
            return heapq.nlargest(n, self.universe(), key=lambda i: (self.key(i), i))
        if self._entries is None:
            self._rebuild()
        return [ident for _, ident in reversed(self._entries[-n:])] if n else []

    def update(self, ident: int) -> None:
        """`ident` joined the universe or its key changed."""
        if self._entries is None:
            return
        new = (self.key(ident), ident)
        old = self._members.pop(ident, None)
        if old is not None:
            if old == new:
                self._members[ident] = old
                return
            del self._entries[bisect_left(self._entries, old)]
            if new < old and not self._complete:
                self.invalidate()  # something outside the list may now outrank it
                return
        # a leader that rose stays a leader; a newcomer must beat the last leader
        if self._complete or old is not None or (self._entries and new > self._entries[0]):
            insort(self._entries, new)
            self._members[ident] = new
            if len(self._entries) > self.size:
                _, out = self._entries.pop(0)
                del self._members[out]
                self._complete = False

    def remove(self, ident: int) -> None:
        """`ident` left the universe."""
        if self._entries is None:
            return
        old = self._members.pop(ident, None)
        if old is None:
            return
        del self._entries[bisect_left(self._entries, old)]
        if not self._complete:
            self.invalidate()  # the next in line is outside the list

    def _rebuild(self) -> None:
        ids = self.universe()
        leaders = heapq.nlargest(self.size, ids, key=lambda i: (self.key(i), i))
        self._entries = sorted((self.key(i), i) for i in leaders)
        self._members = {entry[1]: entry for entry in self._entries}
        self._complete = len(ids) <= self.size
