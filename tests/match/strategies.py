"""Hypothesis strategies for rule conditions, rulesets and facts.

Values come from small pools so that rules share tests and facts hit the constants
exactly, just beside them, or with a value of another kind; the pools hold the values
matchers get wrong: int/float equality, large ints, negative zero, NaN, empty text,
text that looks like a number, Chinese text, a NUL inside text.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from spm_rules.ruleset.conditions import All, AnyOf, Compare, Condition, Not, Present

__all__ = ["FIELDS", "texts", "numbers", "scalars", "conditions", "rulesets", "facts"]

FIELDS = ("tier", "sla.level", "sla.elapsed", "customer.vip", "region")

_TEXTS = ("", "gold", "silver", "1", "1.0", "-2", "True", "中文", "中", "a", "b", "a\x00b", "Z", "ü")
_NUMBERS = (0, 1, -1, 1.0, -0.0, 0.5, 2, 2.5, -3, 7200, 2**53, 2**53 + 1, 2**63, -(2**70), 1e300, float("inf"))

texts = st.one_of(st.sampled_from(_TEXTS), st.text(max_size=4))
numbers = st.one_of(
    st.sampled_from(_NUMBERS),
    st.integers(min_value=-(2**65), max_value=2**65),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(texts, numbers, st.booleans())


@st.composite
def _compares(draw: Any) -> Compare:
    field = draw(st.sampled_from(FIELDS))
    op = draw(st.sampled_from(("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in")))
    if op in ("in", "not_in"):
        kind = draw(st.sampled_from((texts, numbers, st.booleans())))
        return Compare(field, op, tuple(draw(st.lists(kind, min_size=1, max_size=4))))
    # The parser refuses to order true/false, so neither do the generated rules.
    value = draw(scalars if op in ("eq", "ne") else st.one_of(texts, numbers))
    return Compare(field, op, value)


_leaves = st.one_of(_compares(), st.builds(Present, st.sampled_from(FIELDS), st.booleans()))


def conditions(max_depth: int = 4) -> st.SearchStrategy[Condition]:
    """Condition trees up to ``max_depth`` levels of all/any/not above the comparisons."""
    if max_depth == 0:
        return _leaves
    inner = conditions(max_depth - 1)
    return st.one_of(
        _leaves,
        st.builds(All, st.lists(inner, max_size=3).map(tuple)),
        st.builds(AnyOf, st.lists(inner, max_size=3).map(tuple)),
        st.builds(Not, inner),
    )


def rulesets(max_rules: int = 6, max_depth: int = 4) -> st.SearchStrategy[list[tuple[str, Condition]]]:
    """Lists of uniquely named rules."""
    return st.lists(conditions(max_depth), min_size=1, max_size=max_rules).map(
        lambda items: [(f"rule-{i}", condition) for i, condition in enumerate(items)]
    )


def facts(max_size: int = 12) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Lists of facts; each field is absent, null or a scalar, plus a field no rule reads."""
    value = st.one_of(st.none(), scalars)
    fact = st.dictionaries(st.sampled_from(FIELDS + ("unrelated",)), value, max_size=len(FIELDS) + 1)
    return st.lists(fact, max_size=max_size)
