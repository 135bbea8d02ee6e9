"""Where queued tasks stand in line, in the words `ls` and `show` print ("3rd in line").

Above the seam: an engine answers `queued_line()` with a Line, and the CLI
words each task's place from it. The rule of who is next lives in
`scheduling` (wait_reason, slot_order); this is only the telling.
"""

from __future__ import annotations

from .record import Factory, Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .models import Task

SLOT_WAITS = ("next up", "all ", "cap full")  # how wait_reason() words a wait for a slot alone


class Line(Record):
    """What `ls` and `show` need to say where queued tasks stand."""
    reasons: dict = Factory(dict)  # task id → why it waits, in words (wait_reason)
    # the tasks waiting for a slot alone, held to the global cap: priority → how many,
    # and priority → their ids, ascending (for the priorities of the tasks asked about)
    counts: dict = Factory(dict)
    order: dict = Factory(dict)
    free: int = 0  # slots of the global cap not taken
    exempt: frozenset = frozenset()  # kinds not held to the global cap (no place in line)


def waits_for_slot(reason: str) -> bool:
    return reason.startswith(SLOT_WAITS)


def line_words(task: "Task", reason: str, line: Line) -> str:
    """A queued task's wait with its place in line ("3rd in line"); "next up" only for as many
    tasks as there are free slots, highest priority then oldest first."""
    if not waits_for_slot(reason) or task.kind in line.exempt:
        return reason
    from bisect import bisect_left

    ahead = sum(n for priority, n in line.counts.items() if priority > task.priority)
    place = ahead + bisect_left(line.order.get(task.priority, ()), task.id) + 1
    if reason == "next up":
        return reason if place <= line.free else f"{ordinal(place)} in line"
    return f"{reason} · {ordinal(place)} in line"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
