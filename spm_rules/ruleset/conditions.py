"""Rule conditions: the small boolean language of ``when:`` and ``applies_to:``.

A condition is written in YAML as nested mappings::

    all:
      - {field: sla.level, eq: red}
      - {field: tier, in: [gold, platinum]}
      - not: {field: provider, present: true}
      - any: [{field: region, eq: north}, {field: sla.elapsed, gte: 6h}]

It is parsed once into an immutable tree (``Compare``, ``Present``, ``All``, ``AnyOf``,
``Not``) that both matchers (durable_rules and pure Python) run.  This module also holds
the reference semantics, :func:`holds`, and :func:`explain`, which says why a condition
held for a fact, value by value.

Semantics, the same in every matcher:

* A fact is a flat mapping from field name (``tier``, ``sla.level``, ``customer.vip``)
  to a scalar: ``str``, ``int``, ``float``, ``bool`` or ``None``.
* A field that is absent or ``None`` is *missing*.  Every comparison on a missing field
  is false (``ne`` and ``not_in`` too); only ``present: false`` is true for it.
* Comparisons only hold between values of the same kind: text with text, numbers with
  numbers (``bool`` is its own kind, never a number).  ``tier eq 1`` is false for
  ``tier: "1"``; the ruleset linter, not the matcher, is where such slips are caught.
* ``in`` is ``eq`` against any listed value; ``not_in`` is ``ne`` against every one (so
  it too is false for a missing field or a value of another kind).  One list holds
  values of one kind.
* ``not`` is plain boolean negation of its operand, so ``not: {field: x, eq: 1}`` is
  true for a missing ``x``.
* Duration fields (``sla.elapsed``, ``sla.remaining``, ``sla.target``) are seconds in
  the fact; the ruleset writes them as durations (``2h``) and they are converted here.
* ``{field: postal_code, lookup: stations, present: true}`` tests the value the lookup
  table ``stations`` gives for the ticket's ``postal_code``: it reads the fact field
  ``stations[postal_code]`` (:func:`lookup_field`), which the engine fills in before
  matching (:mod:`spm_rules.dispatch.tables`), so both matchers see a plain field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Union

from ..durations import parse_duration

__all__ = [
    "Scalar",
    "Fact",
    "Compare",
    "Present",
    "All",
    "AnyOf",
    "Not",
    "Condition",
    "ConditionSyntaxError",
    "COMPARISONS",
    "SLA_FIELDS",
    "DURATION_FIELDS",
    "parse_condition",
    "holds",
    "explain",
    "Trace",
    "trace",
    "fields_of",
    "render",
    "lookup_field",
    "looked_up",
]

Scalar = Union[str, int, float, bool]
Fact = Mapping[str, Any]

COMPARISONS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in")
_ORDERED = ("lt", "lte", "gt", "gte")
_SYMBOL = {"eq": "==", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "in": "in", "not_in": "not in"}

#: The fields the SLA clock adds to every fact, and what each holds.
SLA_FIELDS: dict[str, str] = {
    "sla.policy": "name of the SLA policy this status belongs to",
    "sla.stage": "stage the clock measures (or 'resolution' for an end-to-end clock)",
    "sla.level": "name of the current level (missing while below the first level)",
    "sla.level_rank": "1-based position of the current level among the policy's levels in threshold order, 0 below the first",
    "sla.elapsed": "business time used, in seconds (write durations: 2h)",
    "sla.remaining": "business time left before the target, in seconds (negative when overdue)",
    "sla.target": "the target for this stage and tier, in seconds",
    "sla.share": "elapsed as a percentage of the target",
    "sla.paused": "true while the ticket is in a pausing status",
    "sla.overdue": "true once the target is used up",
}
DURATION_FIELDS = frozenset({"sla.elapsed", "sla.remaining", "sla.target"})


@dataclass(frozen=True)
class Compare:
    """``field <op> value``; for ``in``/``not_in`` the value is a tuple."""

    field: str
    op: str
    value: Scalar | tuple[Scalar, ...]


@dataclass(frozen=True)
class Present:
    """``field`` is present (not absent, not null) when ``present`` is true; missing otherwise."""

    field: str
    present: bool


@dataclass(frozen=True)
class All:
    """Every item holds (true when empty)."""

    items: tuple["Condition", ...]


@dataclass(frozen=True)
class AnyOf:
    """At least one item holds (false when empty)."""

    items: tuple["Condition", ...]


@dataclass(frozen=True)
class Not:
    """The item does not hold."""

    item: "Condition"


Condition = Union[Compare, Present, All, AnyOf, Not]


class ConditionSyntaxError(ValueError):
    """A condition that cannot be parsed; ``path`` is the key path inside the condition."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        self.path = path
        self.message = message
        where = ".".join(str(p) for p in path)
        super().__init__(f"{where}: {message}" if where else message)


def lookup_field(table: str, field: str) -> str:
    """The fact field holding the value table ``table`` gives for the ticket's ``field``."""
    return f"{table}[{field}]"


def looked_up(name: str) -> tuple[str, str] | None:
    """(table, field) of a lookup field ``table[field]``; None for any other field."""
    if name.endswith("]") and "[" in name:
        table, _, field = name[:-1].partition("[")
        return table, field
    return None


def parse_condition(raw: Any, path: tuple[str | int, ...] = ()) -> Condition:
    """Parse the YAML form of a condition into its tree; raise ConditionSyntaxError with the path."""
    if not isinstance(raw, Mapping):
        raise ConditionSyntaxError(path, f"a condition is a mapping (all/any/not or field + operator), not {type(raw).__name__}")
    keys = set(raw)
    for group, cls in (("all", All), ("any", AnyOf)):
        if group in raw:
            if keys != {group}:
                raise ConditionSyntaxError(path, f"'{group}' stands alone; put other tests inside its list (found {sorted(keys - {group})})")
            items = raw[group]
            if not isinstance(items, list):
                raise ConditionSyntaxError(path + (group,), "takes a list of conditions")
            return cls(tuple(parse_condition(item, path + (group, i)) for i, item in enumerate(items)))
    if "not" in raw:
        if keys != {"not"}:
            raise ConditionSyntaxError(path, f"'not' stands alone (found {sorted(keys - {'not'})})")
        return Not(parse_condition(raw["not"], path + ("not",)))
    if "field" not in raw:
        raise ConditionSyntaxError(path, f"unknown condition keys {sorted(map(str, keys))}: use all, any, not, or field with one operator")
    field = raw["field"]
    if not isinstance(field, str) or not field:
        raise ConditionSyntaxError(path + ("field",), "names a ticket or sla field, as text")
    if field.startswith("sla.") and field not in SLA_FIELDS:
        raise ConditionSyntaxError(path + ("field",), f"unknown SLA field {field!r}; known: {', '.join(SLA_FIELDS)}")
    if "lookup" in raw:
        table = raw["lookup"]
        if not isinstance(table, str) or not table or "[" in table:
            raise ConditionSyntaxError(path + ("lookup",), "names a lookup table (tables:), as text")
        field = lookup_field(table, field)
    ops = keys - {"field", "lookup"}
    if len(ops) != 1:
        raise ConditionSyntaxError(path, f"needs exactly one operator of {', '.join(COMPARISONS + ('present',))}; found {sorted(map(str, ops)) or 'none'}")
    (op,) = ops
    value = raw[op]
    if op == "present":
        if not isinstance(value, bool):
            raise ConditionSyntaxError(path + (op,), "takes true or false")
        return Present(field, value)
    if op not in COMPARISONS:
        raise ConditionSyntaxError(path + (str(op),), f"unknown operator; use one of {', '.join(COMPARISONS + ('present',))}")
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise ConditionSyntaxError(path + (op,), "takes a non-empty list of values")
        values = tuple(_scalar(field, v, path + (op, i)) for i, v in enumerate(value))
        if len({_kind(v) for v in values}) > 1:
            raise ConditionSyntaxError(path + (op,), "values in one list must all be text, all numbers or all true/false")
        return Compare(field, op, values)
    scalar = _scalar(field, value, path + (op,))
    if op in _ORDERED and isinstance(scalar, bool):
        raise ConditionSyntaxError(path + (op,), "true/false cannot be ordered; use eq or ne")
    return Compare(field, op, scalar)


def _scalar(field: str, value: Any, path: tuple[str | int, ...]) -> Scalar:
    if field in DURATION_FIELDS:
        if isinstance(value, str) and value.startswith("-"):
            return -parse_duration_at(value[1:], path)
        return parse_duration_at(value, path)
    if isinstance(value, (str, bool, int, float)):
        return value
    raise ConditionSyntaxError(path, f"compares with text, a number or true/false, not {type(value).__name__}")


def parse_duration_at(value: Any, path: tuple[str | int, ...]) -> int:
    """A duration for a duration field, in whole seconds; located error otherwise."""
    try:
        return int(parse_duration(value).total_seconds())
    except ValueError as exc:
        raise ConditionSyntaxError(path, str(exc)) from None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "text"


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if actual is None:
        return False
    if op == "in":
        return any(_compare(actual, "eq", v) for v in expected)
    if op == "not_in":
        return all(_compare(actual, "ne", v) for v in expected)
    if _kind(actual) != _kind(expected):
        return False
    if op == "eq":
        return actual == expected
    if op == "ne":
        return actual != expected
    if op == "lt":
        return actual < expected
    if op == "lte":
        return actual <= expected
    if op == "gt":
        return actual > expected
    return actual >= expected


def holds(condition: Condition, fact: Fact) -> bool:
    """The reference semantics: does ``condition`` hold for ``fact``?"""
    if isinstance(condition, Compare):
        return _compare(fact.get(condition.field), condition.op, condition.value)
    if isinstance(condition, Present):
        return (fact.get(condition.field) is not None) == condition.present
    if isinstance(condition, All):
        return all(holds(item, fact) for item in condition.items)
    if isinstance(condition, AnyOf):
        return any(holds(item, fact) for item in condition.items)
    return not holds(condition.item, fact)


def render(condition: Condition) -> str:
    """The condition as one readable line, e.g. ``sla.level == 'red' and tier in ('gold',)``."""
    if isinstance(condition, Compare):
        return f"{condition.field} {_SYMBOL[condition.op]} {condition.value!r}"
    if isinstance(condition, Present):
        return f"{condition.field} is {'present' if condition.present else 'missing'}"
    if isinstance(condition, (All, AnyOf)):
        joiner = " and " if isinstance(condition, All) else " or "
        if not condition.items:
            return "true" if isinstance(condition, All) else "false"
        return "(" + joiner.join(render(item) for item in condition.items) + ")"
    return f"not {render(condition.item)}"


def explain(condition: Condition, fact: Fact) -> str:
    """Why the condition holds (or not) for this fact: each test with the value it saw."""
    if isinstance(condition, (Compare, Present)):
        seen = fact.get(condition.field)
        verdict = "yes" if holds(condition, fact) else "no"
        shown = "missing" if seen is None else repr(seen)
        return f"{render(condition)} [{condition.field}={shown}: {verdict}]"
    if isinstance(condition, (All, AnyOf)):
        joiner = " and " if isinstance(condition, All) else " or "
        if not condition.items:
            return render(condition)
        return "(" + joiner.join(explain(item, fact) for item in condition.items) + ")"
    return f"not {explain(condition.item, fact)}"


@dataclass(frozen=True)
class Trace:
    """Whether a condition held for a fact, node by node: what :func:`explain` says in one
    line, as data (``spm-rules explain`` shows it as a tree and in JSON).

    ``kind`` is ``test`` (a comparison or presence test: ``text`` is the test as written,
    ``field`` the field it read and ``seen`` the value it saw, None when missing), or
    ``all``, ``any``, ``not`` (``items`` are the operands)."""

    kind: str
    held: bool
    text: str
    field: str | None = None
    seen: Any = None
    items: tuple["Trace", ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        if self.kind == "test":
            return {"test": self.text, "field": self.field, "seen": self.seen, "held": self.held}
        return {self.kind: [item.to_json() for item in self.items], "held": self.held}


def trace(condition: Condition, fact: Fact) -> Trace:
    """The condition's verdict for ``fact``, with every test's and group's own."""
    if isinstance(condition, (Compare, Present)):
        return Trace("test", holds(condition, fact), render(condition), condition.field, fact.get(condition.field))
    if isinstance(condition, (All, AnyOf)):
        items = tuple(trace(item, fact) for item in condition.items)
        held = all(i.held for i in items) if isinstance(condition, All) else any(i.held for i in items)
        return Trace("all" if isinstance(condition, All) else "any", held, render(condition), items=items)
    inner = trace(condition.item, fact)
    return Trace("not", not inner.held, render(condition), items=(inner,))


def fields_of(condition: Condition) -> Iterator[str]:
    """Every field name the condition reads, in order of appearance (repeats included)."""
    if isinstance(condition, (Compare, Present)):
        yield condition.field
    elif isinstance(condition, (All, AnyOf)):
        for item in condition.items:
            yield from fields_of(item)
    else:
        yield from fields_of(condition.item)
