from typing import Any

import pytest
from hypothesis import given, settings

from spm_rules.ruleset.conditions import (
    All,
    AnyOf,
    Compare,
    Condition,
    ConditionSyntaxError,
    Not,
    Present,
    explain,
    fields_of,
    holds,
    parse_condition,
    trace,
)
from tests.match.strategies import conditions, facts


def test_parses_nested_tree() -> None:
    tree = parse_condition(
        {"all": [{"field": "sla.level", "eq": "red"}, {"any": [{"field": "tier", "in": ["P2", "P4"]}]}, {"not": {"field": "provider", "present": True}}]}
    )
    assert tree == All(
        (Compare("sla.level", "eq", "red"), AnyOf((Compare("tier", "in", ("P2", "P4")),)), Not(Present("provider", True)))
    )
    assert list(fields_of(tree)) == ["sla.level", "tier", "provider"]


def test_duration_fields_take_durations() -> None:
    assert parse_condition({"field": "sla.elapsed", "gte": "2h"}) == Compare("sla.elapsed", "gte", 7200)
    assert parse_condition({"field": "sla.remaining", "lt": "-30m"}) == Compare("sla.remaining", "lt", -1800)


@pytest.mark.parametrize(
    "raw, path, fragment",
    [
        ({"field": "tier", "eqq": "P2"}, ("eqq",), "unknown operator"),
        ({"field": "tier"}, (), "exactly one operator"),
        ({"field": "tier", "eq": 1, "ne": 2}, (), "exactly one operator"),
        ({"all": [{"field": "x", "eq": 1}], "field": "y"}, (), "stands alone"),
        ({"all": {"field": "x", "eq": 1}}, ("all",), "list"),
        ({"all": [{"field": "x", "in": []}]}, ("all", 0, "in"), "non-empty list"),
        ({"field": "x", "in": ["a", 1]}, ("in",), "must all be text"),
        ({"field": "sla.levle", "eq": "red"}, ("field",), "unknown SLA field"),
        ({"field": "sla.elapsed", "gt": "two hours"}, ("gt",), "bad duration"),
        ({"field": "x", "gt": True}, ("gt",), "cannot be ordered"),
        ({"field": "x", "eq": [1]}, ("eq",), "compares with"),
        ({"any": [{"not": {"field": "x", "present": "yes"}}]}, ("any", 0, "not", "present"), "true or false"),
        ("tier == P2", (), "mapping"),
    ],
)
def test_syntax_errors_carry_their_path(raw: object, path: tuple, fragment: str) -> None:
    with pytest.raises(ConditionSyntaxError) as info:
        parse_condition(raw)
    assert info.value.path == path
    assert fragment in info.value.message


@pytest.mark.parametrize(
    "condition, fact, expected",
    [
        ({"field": "tier", "eq": "P2"}, {"tier": "P2"}, True),
        ({"field": "tier", "eq": "P2"}, {}, False),
        ({"field": "tier", "ne": "P2"}, {}, False),
        ({"field": "tier", "ne": "P2"}, {"tier": None}, False),
        ({"field": "tier", "ne": "P2"}, {"tier": "P4"}, True),
        ({"not": {"field": "tier", "eq": "P2"}}, {}, True),
        ({"field": "n", "eq": 1}, {"n": "1"}, False),
        ({"field": "n", "eq": 1}, {"n": 1.0}, True),
        ({"field": "n", "eq": 1}, {"n": True}, False),
        ({"field": "b", "eq": True}, {"b": 1}, False),
        ({"field": "n", "gte": 3}, {"n": 3}, True),
        ({"field": "n", "gt": 3}, {"n": 3}, False),
        ({"field": "s", "lt": "b"}, {"s": "a"}, True),
        ({"field": "s", "lt": 5}, {"s": "a"}, False),
        ({"field": "s", "in": ["a", "b"]}, {"s": "b"}, True),
        ({"field": "s", "not_in": ["a", "b"]}, {"s": "c"}, True),
        ({"field": "s", "not_in": ["a", "b"]}, {"s": 3}, False),
        ({"field": "s", "not_in": ["a", "b"]}, {}, False),
        ({"field": "s", "present": True}, {"s": ""}, True),
        ({"field": "s", "present": False}, {"s": None}, True),
        ({"all": []}, {}, True),
        ({"any": []}, {}, False),
        ({"field": "customer", "eq": "李雷"}, {"customer": "李雷"}, True),
    ],
)
def test_reference_semantics(condition: dict, fact: dict, expected: bool) -> None:
    assert holds(parse_condition(condition), fact) is expected


def test_explain_shows_each_value_seen() -> None:
    tree = parse_condition({"all": [{"field": "sla.level", "eq": "red"}, {"field": "provider", "present": False}]})
    text = explain(tree, {"sla.level": "red"})
    assert "sla.level == 'red' [sla.level='red': yes]" in text
    assert "provider is missing [provider=missing: yes]" in text


def test_trace_gives_each_test_its_verdict_and_the_value_seen() -> None:
    tree = parse_condition({"all": [{"field": "sla.level", "eq": "red"}, {"not": {"field": "provider", "present": True}}]})
    found = trace(tree, {"sla.level": "yellow", "provider": "p"})
    assert found.to_json() == {
        "all": [
            {"test": "sla.level == 'red'", "field": "sla.level", "seen": "yellow", "held": False},
            {"not": [{"test": "provider is present", "field": "provider", "seen": "p", "held": True}], "held": False},
        ],
        "held": False,
    }


@settings(max_examples=300, deadline=None)
@given(condition=conditions(3), sample=facts())
def test_a_traces_verdict_is_the_reference_semantics(condition: Condition, sample: list[dict[str, Any]]) -> None:
    for fact in sample:
        assert trace(condition, fact).held is holds(condition, fact)
