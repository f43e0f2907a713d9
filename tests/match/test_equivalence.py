"""Property: the durable_rules matcher, the Python matcher and ``holds()`` decide alike, always.

Generated rulesets hold condition trees up to four levels deep over every operator and
kind; generated facts leave fields out, set them to null, or give them a value of another
kind (see ``strategies.py``).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from spm_rules.dispatch import LookupTable
from spm_rules.dispatch.build import FactLookups

from spm_rules.match import durable_available
from spm_rules.match.durable_adapter import DurableLimitError, DurableMatcher
from spm_rules.match.python_matcher import PythonMatcher
from spm_rules.ruleset.conditions import Condition, fields_of, holds, parse_condition

from .strategies import facts, rulesets

_SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_needs_durable = pytest.mark.skipif(not durable_available(), reason="durable_rules does not import on this Python")


def _durable(rules: list[tuple[str, Condition]]) -> DurableMatcher:
    """The durable matcher of ``rules``; a ruleset past durable_rules' own limits is not a
    case for this property (``build_matcher`` falls back to Python for it, tested apart)."""
    try:
        return DurableMatcher(rules)
    except DurableLimitError:
        reject()


def _reference(rules: list[tuple[str, Condition]], batch: list[dict[str, Any]]) -> list[list[str]]:
    return [[name for name, condition in rules if holds(condition, fact)] for fact in batch]


@settings(_SETTINGS, max_examples=1000)
@given(rules=rulesets(), batch=facts())
def test_python_matcher_decides_as_holds(rules: list[tuple[str, Condition]], batch: list[dict[str, Any]]) -> None:
    assert PythonMatcher(rules).match(batch) == _reference(rules, batch)


@_needs_durable
@settings(_SETTINGS, max_examples=1500)
@given(rules=rulesets(), batch=facts())
def test_durable_matcher_decides_as_holds(rules: list[tuple[str, Condition]], batch: list[dict[str, Any]]) -> None:
    expected = _reference(rules, batch)
    matcher = _durable(rules)
    assert matcher.match(batch) == expected
    assert matcher.match(batch) == expected
    assert PythonMatcher(rules).match(batch) == expected


@_needs_durable
@settings(_SETTINGS, max_examples=150)
@given(rules=rulesets(max_rules=40, max_depth=3), batch=facts(max_size=40))
def test_large_rulesets_decide_alike(rules: list[tuple[str, Condition]], batch: list[dict[str, Any]]) -> None:
    assert _durable(rules).match(batch) == PythonMatcher(rules).match(batch) == _reference(rules, batch)


_LOOKUP_RULES = [
    {"field": "postal_code", "lookup": "stations", "present": True},
    {"field": "postal_code", "lookup": "stations", "eq": "beijing-haidian"},
    {"not": {"field": "postal_code", "lookup": "stations", "in": ["beijing-central", "shanghai-central"]}},
    {"all": [{"field": "postal_code", "lookup": "stations", "present": False}, {"field": "postal_code", "present": True}]},
]


@_needs_durable
@settings(_SETTINGS, max_examples=200)
@given(codes=st.lists(st.one_of(st.none(), st.text(alphabet="0123456789", max_size=7)), max_size=12))
def test_lookup_conditions_decide_alike(codes: list[str | None]) -> None:
    """A lookup condition reads the looked-up value as a plain fact field, filled in
    before matching: both matchers and ``holds()`` decide alike on it."""
    rows = {"10": "beijing-central", "10008": "beijing-haidian", "20": "shanghai-central"}
    stations = LookupTable("stations", {key: {"value": value} for key, value in rows.items()}, "value", "prefix")
    rules = [(f"r{index}", parse_condition(raw)) for index, raw in enumerate(_LOOKUP_RULES)]
    lookups = FactLookups({"stations": stations}, (name for _, condition in rules for name in fields_of(condition)))
    batch = [lookups.fill({"postal_code": code}) for code in codes]
    assert _durable(rules).match(batch) == PythonMatcher(rules).match(batch) == _reference(rules, batch)
