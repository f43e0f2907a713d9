"""The pure-Python matcher: rule conditions compiled once into nested closures.

It runs wherever Python runs (durable_rules does not import on CPython 3.13+) and is the
second implementation the durable_rules adapter is tested against.  Its decisions are
exactly those of :func:`spm_rules.ruleset.conditions.holds`; it is only faster, because
each condition is turned into closures once instead of being walked for every fact.

This module also holds the value classification both matchers share: which kind a fact
value is, and the error for a value that is not a scalar.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..errors import SpmError
from ..ruleset.conditions import All, AnyOf, Compare, Condition, Not, Present, fields_of

__all__ = [
    "PythonMatcher",
    "TEXT",
    "NUMBER",
    "BOOL",
    "SCALAR_KINDS",
    "value_kind",
    "is_nan",
    "check_fact",
    "compile_condition",
]

TEXT = "text"
NUMBER = "number"
BOOL = "bool"

Test = Callable[[Mapping[str, Any]], bool]

#: The kind of each exact scalar type (subclasses go through :func:`value_kind`).
SCALAR_KINDS: dict[type, str] = {str: TEXT, int: NUMBER, float: NUMBER, bool: BOOL}
_ORDER = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "lte": operator.le, "gt": operator.gt, "gte": operator.ge}


def value_kind(value: Any) -> str | None:
    """The kind of a fact value (``None`` when missing); raise SpmError for a non-scalar.

    ``holds()`` would quietly treat e.g. a datetime or a Decimal as text and then never
    match it; a matcher refuses such a fact instead, so the slip shows where it is made.
    """
    if value is None:
        return None
    kind = SCALAR_KINDS.get(type(value))
    if kind is not None:
        return kind
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, (int, float)):
        return NUMBER
    if isinstance(value, str):
        return TEXT
    raise SpmError(f"a fact value must be text, a number, true/false or null, not {type(value).__name__}")


def check_fact(fact: Mapping[str, Any], fields: Iterable[str], index: int) -> None:
    """Raise SpmError naming the fact and field when a field rules read holds a non-scalar."""
    for field in fields:
        value = fact.get(field)
        if value is not None and type(value) not in SCALAR_KINDS:
            try:
                value_kind(value)
            except SpmError as exc:
                raise SpmError(f"fact {index}: field {field!r}: {exc}") from None


def is_nan(value: Any) -> bool:
    """Whether ``value`` is a float NaN, which equals nothing, itself included."""
    return isinstance(value, float) and math.isnan(value)


def _compare_test(field: str, op: str, expected: Any) -> Test:
    kind = value_kind(expected)
    compare = _ORDER[op]

    def test(fact: Mapping[str, Any]) -> bool:
        actual = fact.get(field)
        if actual is None:
            return False
        return (SCALAR_KINDS.get(type(actual)) or value_kind(actual)) == kind and compare(actual, expected)

    return test


def _in_test(field: str, values: tuple[Any, ...], negate: bool) -> Test:
    """``in`` (any value equal) or ``not_in`` (every value unequal, so of one kind only)."""
    by_kind: dict[str, set[Any]] = {}
    for value in values:
        # NaN equals nothing, but a set would find the very same NaN object by identity.
        members = by_kind.setdefault(value_kind(value), set())
        if not is_nan(value):
            members.add(value)
    if negate and not by_kind:
        return lambda fact: fact.get(field) is not None
    if negate and len(by_kind) > 1:
        return lambda fact: False
    frozen = {kind: frozenset(members) for kind, members in by_kind.items()}

    if negate:
        ((kind, members),) = frozen.items()

        def not_in(fact: Mapping[str, Any]) -> bool:
            actual = fact.get(field)
            if actual is None:
                return False
            return (SCALAR_KINDS.get(type(actual)) or value_kind(actual)) == kind and actual not in members

        return not_in

    def in_(fact: Mapping[str, Any]) -> bool:
        actual = fact.get(field)
        if actual is None:
            return False
        members = frozen.get(SCALAR_KINDS.get(type(actual)) or value_kind(actual))
        return members is not None and actual in members

    return in_


def _all_test(tests: list[Test]) -> Test:
    if not tests:
        return lambda fact: True
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda fact: first(fact) and second(fact)
    return lambda fact: all(test(fact) for test in tests)


def _any_test(tests: list[Test]) -> Test:
    if not tests:
        return lambda fact: False
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda fact: first(fact) or second(fact)
    return lambda fact: any(test(fact) for test in tests)


def compile_condition(condition: Condition) -> Test:
    """A function of one fact that returns ``holds(condition, fact)``."""
    if isinstance(condition, Compare):
        if condition.op in ("in", "not_in"):
            return _in_test(condition.field, tuple(condition.value), condition.op == "not_in")  # type: ignore[arg-type]
        return _compare_test(condition.field, condition.op, condition.value)
    if isinstance(condition, Present):
        field, wanted = condition.field, condition.present
        return lambda fact: (fact.get(field) is not None) == wanted
    if isinstance(condition, All):
        return _all_test([compile_condition(item) for item in condition.items])
    if isinstance(condition, AnyOf):
        return _any_test([compile_condition(item) for item in condition.items])
    if isinstance(condition, Not):
        inner = compile_condition(condition.item)
        return lambda fact: not inner(fact)
    raise TypeError(f"not a condition: {condition!r}")


class PythonMatcher:
    """Matches facts against rules with closures compiled from each condition."""

    engine = "python"

    def __init__(self, rules: Sequence[tuple[str, Condition]]) -> None:
        self._rules = [(name, compile_condition(condition)) for name, condition in rules]
        self._fields = sorted({field for _, condition in rules for field in fields_of(condition)})

    def match(self, facts: Sequence[Mapping[str, Any]]) -> list[list[str]]:
        """For each fact, the names of the rules whose condition holds, in declaration order."""
        rules, fields = self._rules, self._fields
        result = []
        for index, fact in enumerate(facts):
            check_fact(fact, fields, index)
            result.append([name for name, test in rules if test(fact)])
        return result
