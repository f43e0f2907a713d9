"""The pure-Python matcher: every operator, kind and missing value, as ``holds()`` decides."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from spm_rules.errors import SpmError
from spm_rules.match import build_matcher, durable_adapter
from spm_rules.match.python_matcher import PythonMatcher
from spm_rules.ruleset.conditions import All, AnyOf, Compare, Condition, Not, Present, holds

C = Compare
NAN = math.nan

#: (condition, fact, expected): shared with the durable_rules adapter's tests.
CASES: list[tuple[Condition, dict[str, Any], bool]] = [
    # eq / ne, per kind, against missing, null and other kinds
    (C("tier", "eq", "gold"), {"tier": "gold"}, True),
    (C("tier", "eq", "gold"), {"tier": "Gold"}, False),
    (C("tier", "eq", "gold"), {}, False),
    (C("tier", "eq", "gold"), {"tier": None}, False),
    (C("tier", "ne", "gold"), {"tier": "silver"}, True),
    (C("tier", "ne", "gold"), {"tier": "gold"}, False),
    (C("tier", "ne", "gold"), {}, False),
    (C("tier", "ne", "gold"), {"tier": None}, False),
    (C("tier", "ne", "gold"), {"tier": 1}, False),
    (C("tier", "eq", ""), {"tier": ""}, True),
    (C("tier", "eq", ""), {}, False),
    (C("tier", "ne", ""), {"tier": "x"}, True),
    (C("tier", "eq", "1"), {"tier": 1}, False),
    (C("tier", "eq", 1), {"tier": "1"}, False),
    (C("tier", "eq", "1.0"), {"tier": 1.0}, False),
    (C("tier", "ne", 1), {"tier": "1"}, False),
    (C("tier", "eq", "中文"), {"tier": "中文"}, True),
    (C("tier", "eq", "中文"), {"tier": "中"}, False),
    (C("tier", "eq", "a"), {"tier": "a\x00b"}, False),
    (C("n", "eq", 1), {"n": 1.0}, True),
    (C("n", "eq", 1.0), {"n": 1}, True),
    (C("n", "eq", 0), {"n": -0.0}, True),
    (C("n", "eq", 1), {"n": True}, False),
    (C("n", "eq", True), {"n": 1}, False),
    (C("n", "ne", 1), {"n": True}, False),
    (C("n", "eq", 2**53), {"n": 2**53 + 1}, False),
    (C("n", "eq", float(2**53)), {"n": 2**53 + 1}, False),
    (C("n", "eq", 2**63), {"n": 2**63}, True),
    (C("n", "eq", -(2**70)), {"n": -(2**70)}, True),
    (C("n", "eq", NAN), {"n": NAN}, False),
    (C("n", "ne", NAN), {"n": 1}, True),
    (C("n", "ne", NAN), {"n": "x"}, False),
    (C("n", "ne", 1), {"n": NAN}, True),
    (C("n", "eq", 1), {"n": NAN}, False),
    (C("flag", "eq", True), {"flag": True}, True),
    (C("flag", "eq", False), {"flag": False}, True),
    (C("flag", "eq", False), {}, False),
    (C("flag", "eq", False), {"flag": 0}, False),
    (C("flag", "ne", True), {"flag": False}, True),
    (C("flag", "ne", True), {"flag": "false"}, False),
    # ordered comparisons
    (C("n", "lt", 5), {"n": 4.5}, True),
    (C("n", "lt", 5), {"n": 5}, False),
    (C("n", "lte", 5), {"n": 5.0}, True),
    (C("n", "gt", -3), {"n": -2}, True),
    (C("n", "gt", -3), {"n": -3}, False),
    (C("n", "gte", -3), {"n": -3}, True),
    (C("n", "lt", 5), {}, False),
    (C("n", "lt", 5), {"n": None}, False),
    (C("n", "lt", 5), {"n": "4"}, False),
    (C("n", "lt", 10), {"n": "5"}, False),
    (C("n", "gt", 0), {"n": True}, False),
    (C("n", "gt", 2**53), {"n": 2**53 + 1}, True),
    (C("n", "lt", float(2**53)), {"n": 2**53 + 1}, False),
    (C("n", "gt", 1e300), {"n": math.inf}, True),
    (C("n", "lt", 0), {"n": -math.inf}, True),
    (C("n", "lt", 5), {"n": NAN}, False),
    (C("n", "gte", 5), {"n": NAN}, False),
    (C("tier", "lt", "b"), {"tier": "a"}, True),
    (C("tier", "lt", "b"), {"tier": "b"}, False),
    (C("tier", "lt", "b"), {"tier": ""}, True),
    (C("tier", "gt", "a"), {"tier": "中"}, True),
    (C("tier", "gt", "中"), {"tier": "中文"}, True),
    (C("tier", "lt", "a"), {"tier": "a\x00b"}, False),
    (C("tier", "gt", "a"), {"tier": "a\x00b"}, True),
    (C("tier", "lt", "10"), {"tier": "5"}, False),
    (C("tier", "lt", "a"), {"tier": 1}, False),
    (C("tier", "gte", ""), {}, False),
    # in / not_in
    (C("tier", "in", ("gold", "silver")), {"tier": "silver"}, True),
    (C("tier", "in", ("gold", "silver")), {"tier": "bronze"}, False),
    (C("tier", "in", ("gold", "silver")), {}, False),
    (C("n", "in", (1, 2)), {"n": 2.0}, True),
    (C("n", "in", (1, 2)), {"n": True}, False),
    (C("flag", "in", (True,)), {"flag": True}, True),
    (C("flag", "in", (True,)), {"flag": 1}, False),
    (C("n", "in", (NAN,)), {"n": NAN}, False),
    (C("tier", "not_in", ("gold", "silver")), {"tier": "bronze"}, True),
    (C("tier", "not_in", ("gold", "silver")), {"tier": "gold"}, False),
    (C("tier", "not_in", ("gold", "silver")), {}, False),
    (C("tier", "not_in", ("gold", "silver")), {"tier": None}, False),
    (C("tier", "not_in", ("gold", "silver")), {"tier": 3}, False),
    (C("n", "not_in", (1, 2)), {"n": NAN}, True),
    (C("n", "not_in", (NAN,)), {"n": 1}, True),
    (C("tier", "in", ("a", 1)), {"tier": 1}, True),
    (C("tier", "not_in", ("a", 1)), {"tier": "b"}, False),
    (C("tier", "in", ()), {"tier": "a"}, False),
    (C("tier", "not_in", ()), {"tier": "a"}, True),
    (C("tier", "not_in", ()), {}, False),
    # present
    (Present("provider", True), {"provider": "p1"}, True),
    (Present("provider", True), {"provider": ""}, True),
    (Present("provider", True), {"provider": False}, True),
    (Present("provider", True), {"provider": None}, False),
    (Present("provider", True), {}, False),
    (Present("provider", False), {}, True),
    (Present("provider", False), {"provider": None}, True),
    (Present("provider", False), {"provider": 0}, False),
    # not is plain negation: true for a missing field
    (Not(C("tier", "eq", "gold")), {}, True),
    (Not(C("tier", "eq", "gold")), {"tier": 1}, True),
    (Not(C("tier", "eq", "gold")), {"tier": "gold"}, False),
    (Not(C("tier", "ne", "gold")), {}, True),
    (Not(C("tier", "ne", "gold")), {"tier": "gold"}, True),
    (Not(C("tier", "ne", "gold")), {"tier": "silver"}, False),
    (Not(C("n", "ne", 1)), {"n": NAN}, False),
    (Not(C("n", "lt", 5)), {"n": NAN}, True),
    (Not(C("n", "lt", 5)), {"n": "1"}, True),
    (Not(C("n", "lt", 5)), {"n": 7}, True),
    (Not(C("n", "lt", 5)), {"n": 1}, False),
    (Not(C("tier", "in", ("gold",))), {}, True),
    (Not(C("tier", "not_in", ("gold",))), {}, True),
    (Not(C("tier", "not_in", ("gold",))), {"tier": "silver"}, False),
    (Not(Present("provider", True)), {}, True),
    (Not(Not(C("tier", "eq", "gold"))), {"tier": "gold"}, True),
    # all / any, empty and nested, with negation pushed through them
    (All(()), {}, True),
    (AnyOf(()), {"tier": "gold"}, False),
    (Not(All(())), {}, False),
    (Not(AnyOf(())), {}, True),
    (All((C("tier", "eq", "gold"), C("n", "gt", 1))), {"tier": "gold", "n": 2}, True),
    (All((C("tier", "eq", "gold"), C("n", "gt", 1))), {"tier": "gold"}, False),
    (AnyOf((C("tier", "eq", "gold"), C("n", "gt", 1))), {"n": 2}, True),
    (Not(All((C("tier", "eq", "gold"), C("n", "gt", 1)))), {"tier": "gold"}, True),
    (Not(AnyOf((C("tier", "eq", "gold"), Present("n", True)))), {"tier": "x"}, True),
    (Not(AnyOf((C("tier", "eq", "gold"), Present("n", True)))), {"n": 0}, False),
    (All((Not(C("sla.level", "eq", "red")), AnyOf((C("region", "in", ("n", "s")), Not(Present("region", True)))))), {"sla.level": "yellow"}, True),
    (All((Not(C("sla.level", "eq", "red")), AnyOf((C("region", "in", ("n", "s")), Not(Present("region", True)))))), {"sla.level": "red"}, False),
]


def case_id(case: tuple[Condition, dict[str, Any], bool]) -> str:
    """A readable test id for one case."""
    condition, fact, expected = case
    return f"{condition}|{fact}|{expected}"


def test_the_table_states_holds() -> None:
    wrong = [(c, f, e) for c, f, e in CASES if holds(c, f) != e]
    assert wrong == []


@pytest.mark.parametrize("condition, fact, expected", CASES, ids=[case_id(c) for c in CASES])
def test_operator(condition: Condition, fact: dict[str, Any], expected: bool) -> None:
    matcher = PythonMatcher([("rule", condition)])
    assert matcher.match([fact]) == [["rule"] if expected else []]


def test_all_cases_as_one_ruleset_keep_declaration_order() -> None:
    rules = [(f"rule-{i}", condition) for i, (condition, _, _) in enumerate(CASES)]
    facts = [fact for _, fact, _ in CASES]
    expected = [[name for name, condition in rules if holds(condition, fact)] for fact in facts]
    assert PythonMatcher(rules).match(facts) == expected


def test_dotted_field_names_and_unrelated_fields() -> None:
    matcher = PythonMatcher([("red", C("sla.level", "eq", "red")), ("vip", C("customer.vip", "eq", True))])
    facts = [{"sla.level": "red", "customer.vip": True, "anything": [1, 2]}, {"sla": {"level": "red"}}]
    assert matcher.match(facts) == [["red", "vip"], []]


def test_always_true_rule_matches_every_fact() -> None:
    matcher = PythonMatcher([("never", AnyOf(())), ("always", All(()))])
    assert matcher.match([{}, {"tier": "gold"}]) == [["always"], ["always"]]


def test_no_facts_and_no_rules() -> None:
    assert PythonMatcher([("r", All(()))]).match([]) == []
    assert PythonMatcher([]).match([{"tier": "gold"}]) == [[]]


def test_keeps_no_state_between_calls() -> None:
    matcher = PythonMatcher([("gold", C("tier", "eq", "gold"))])
    assert matcher.match([{"tier": "gold"}]) == [["gold"]]
    assert matcher.match([{"tier": "silver"}]) == [[]]
    assert matcher.match([{"tier": "gold"}]) == [["gold"]]


@pytest.mark.parametrize("value", [datetime(2024, 1, 1, tzinfo=timezone.utc), Decimal("1.5"), [1], {"a": 1}, b"gold"])
def test_a_non_scalar_value_in_a_field_rules_read_is_refused(value: Any) -> None:
    matcher = PythonMatcher([("gold", C("tier", "eq", "gold"))])
    with pytest.raises(SpmError, match=r"fact 1: field 'tier': a fact value must be text, a number"):
        matcher.match([{"tier": "gold"}, {"tier": value}])


def test_a_non_scalar_value_in_a_field_no_rule_reads_is_ignored() -> None:
    matcher = PythonMatcher([("gold", C("tier", "eq", "gold"))])
    assert matcher.match([{"tier": "gold", "created_at": datetime(2024, 1, 1, tzinfo=timezone.utc)}]) == [["gold"]]


def test_build_matcher_python_engine() -> None:
    matcher = build_matcher([("gold", C("tier", "eq", "gold"))], engine="python")
    assert matcher.engine == "python"
    assert matcher.match([{"tier": "gold"}]) == [["gold"]]


def test_build_matcher_refuses_an_unknown_engine() -> None:
    with pytest.raises(SpmError, match="unknown matcher engine 'rete'"):
        build_matcher([], engine="rete")


def test_auto_uses_python_where_durable_rules_does_not_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(durable_adapter, "_IMPORT_ERROR", ImportError("undefined symbol: PyEval_CallObject"))
    matcher = build_matcher([("gold", C("tier", "eq", "gold"))])
    assert matcher.engine == "python"
    assert matcher.match([{"tier": "gold"}]) == [["gold"]]
    with pytest.raises(SpmError, match=r"durable_rules is not available on Python 3\.\d+.*PyEval_CallObject.*engine='python'"):
        build_matcher([("gold", C("tier", "eq", "gold"))], engine="durable")
