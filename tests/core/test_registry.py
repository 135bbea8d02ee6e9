"""Kinds: decorator registration, payload checks, dedupe templates, back-off."""

from __future__ import annotations

import random

import pytest

from lazyqueue.core.errors import ConfigError, UsageError
from lazyqueue.core.registry import Backoff, Field, Kind, Registry, fill_template, placeholders


def test_decorator_registers_a_kind_with_its_options():
    reg = Registry()

    @reg.kind("thumbnail", concurrency=2, max_attempts=3, backoff={"base": 1, "factor": 3, "max": 9},
              fields=["input"], then=["notify"], dedupe="thumb:{input}")
    def thumb(ctx):
        """Make a thumbnail.

        More words."""
        return 1

    @reg.kind()
    def notify(ctx):
        return None

    kind = reg.get("thumbnail")
    assert kind.handler is thumb and thumb(None) == 1  # the decorator returns the function
    assert kind.concurrency == 2 and kind.max_attempts == 3
    assert kind.backoff == Backoff(base=1, factor=3, max=9)
    assert kind.fields == (Field("input"),)
    assert kind.then == ("notify",)
    assert kind.description == "Make a thumbnail."
    assert "notify" in reg and reg.names() == ["notify", "thumbnail"]
    assert kind.policy_text() == "cap 2, attempts 3"


def test_unknown_kind_names_the_known_ones():
    reg = Registry()
    reg.register(Kind("a"))
    with pytest.raises(UsageError, match=r"unknown kind 'b' \(known kinds: a\)"):
        reg.get("b")
    assert reg.find("b") is None


@pytest.mark.parametrize("name", ["", "has space", "semi;colon"])
def test_bad_kind_names_are_refused(name):
    with pytest.raises(ConfigError):
        Registry().register(Kind(name))


def test_priority_out_of_range_is_refused():
    with pytest.raises(ConfigError):
        Registry().register(Kind("x", priority=11))


def test_dedupe_template_is_filled_from_the_payload():
    kind = Kind("encode", dedupe="encode:{input}:{size}")
    assert kind.dedupe_key({"input": "a.mov", "size": 720}) == "encode:a.mov:720"
    assert Kind("x").dedupe_key({"input": 1}) is None
    assert Kind("x", dedupe=lambda p: p.get("url")).dedupe_key({"url": "u"}) == "u"
    assert Kind("x", dedupe=lambda p: None).dedupe_key({}) is None


def test_dedupe_template_with_a_missing_field_names_it():
    with pytest.raises(UsageError, match=r"size=…"):
        Kind("encode", dedupe="encode:{input}:{size}").dedupe_key({"input": "a"})


def test_fill_template_never_evaluates_values():
    values = {"a": "{b}", "b": "x"}
    assert fill_template("{a}-{b}", values) == "{b}-x"
    assert fill_template("$(rm -rf /) {a}", {"a": "`id`"}) == "$(rm -rf /) `id`"
    assert fill_template("{{literal}} {a}", {"a": 1}) == "{literal} 1"
    assert placeholders("{{no}} {yes} {also_yes}") == ["yes", "also_yes"]


def test_missing_payload_field_is_a_usage_error_naming_it():
    kind = Kind("encode", fields=(Field("input"), Field("output"), Field("preset", default="fast"),
                                  Field("note", required=False)))
    with pytest.raises(UsageError) as info:
        kind.check_payload({"input": "a.mov"})
    assert "output=…" in str(info.value) and "input" not in str(info.value).replace("'encode'", "")
    assert kind.check_payload({"input": "a", "output": "b"}) == {"input": "a", "output": "b", "preset": "fast"}


def test_validate_errors_become_usage_errors():
    def validate(p):
        if p["n"] < 0:
            raise ValueError("n must be ≥ 0")
        return {**p, "checked": True}

    kind = Kind("x", validate=validate)
    assert kind.check_payload({"n": 1}) == {"n": 1, "checked": True}
    with pytest.raises(UsageError, match="n must be ≥ 0"):
        kind.check_payload({"n": -1})


def test_label_template_falls_back_when_a_field_is_missing():
    kind = Kind("encode", label="encode {input}")
    assert kind.make_label({"input": "a.mov"}) == "encode a.mov"
    assert kind.make_label({"other": 1}) == "encode other=1"


def test_backoff_grows_then_caps():
    b = Backoff(base=1, factor=2, max=10, jitter=0)
    assert [b.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert b.delay(0) == 1


def test_backoff_jitter_stays_within_bounds():
    b = Backoff(base=4, factor=2, max=20, jitter=0.25)
    rng = random.Random(7)
    for attempt, raw in ((1, 4), (2, 8), (3, 16)):
        seen = [b.delay(attempt, rng) for _ in range(300)]
        assert min(seen) >= raw * 0.75 and max(seen) <= raw * 1.25
        assert max(seen) - min(seen) > raw * 0.3  # it does vary
    capped = [b.delay(10, rng) for _ in range(300)]
    assert max(capped) <= 20 and min(capped) >= 15


def test_override_changes_policies_only():
    reg = Registry()
    reg.register(Kind("shell", handler=print, concurrency=None, source="built-in"))
    reg.override("shell", concurrency=1)
    assert reg.get("shell").concurrency == 1 and reg.get("shell").handler is print


def test_lazy_kinds_load_on_first_use():
    reg = Registry()
    loads = []

    def loader(r):
        loads.append(1)
        r.register(Kind("net-a"))
        r.register(Kind("net-b"))

    reg.lazy(("net-a", "net-b"), loader)
    assert loads == []
    assert reg.find("net-b") is not None
    assert reg.get("net-a").name == "net-a"
    assert loads == [1]


def test_backoff_after_very_many_attempts_is_the_cap():
    b = Backoff(base=1.0, factor=2.0, max=10.0, jitter=0)
    assert b.delay(1100) == 10.0
    assert b.delay(10**6) == 10.0


def test_python_rules_that_miss_a_field_are_usage_errors_naming_it():
    kind = Kind("get", dedupe=lambda p: "get:" + p["url"], label=lambda p: p["url"],
                validate=lambda p: {**p, "host": p["url"].split("/")[2]})
    with pytest.raises(UsageError, match=r"needs url=…"):
        kind.dedupe_key({})
    with pytest.raises(UsageError, match=r"needs url=…"):
        kind.check_payload({})
    assert kind.make_label({"n": 1}) == "get n=1"
    assert kind.make_label({"url": "u"}) == "u"
