"""The small value classes: construction as a dataclass would have it."""

from __future__ import annotations

import pytest

from lazyqueue.core.record import Factory, Record


class Point(Record):
    x: int
    y: int = 0
    tags: list = Factory(list)
    name: str  # required after fields with defaults, as keyword or position


def test_fields_come_by_position_or_keyword_with_fresh_factory_defaults():
    a, b = Point(1, name="a"), Point(x=2, y=3, name="b")
    assert (a.x, a.y, a.name, b.x, b.y) == (1, 0, "a", 2, 3)
    assert a.tags == [] and a.tags is not b.tags
    assert Point(1, 2, ["t"], "c").tags == ["t"]
    assert a == Point(1, name="a") and a != b
    assert a.replace(y=9) == Point(1, 9, name="a")


def test_a_missing_or_unknown_field_is_a_type_error():
    with pytest.raises(TypeError, match="Point needs 'name'"):
        Point(1)
    with pytest.raises(TypeError, match="needs 'x'"):
        Point(name="a")
    with pytest.raises(TypeError):
        Point(1, name="a", z=3)


def test_a_class_with_its_own_init_keeps_it():
    class Scaled(Record):
        value: int = 0

        def __init__(self, raw: int):
            super().__init__(value=raw * 10)

    assert Scaled(2).value == 20
    assert Scaled(3).value == 30
