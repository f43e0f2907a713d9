"""What a person reads after ruleset tests ran: failures as expected-versus-got per test,
per step and per ticket; and coverage, the rules, receivers, routes, schedules and levels
no test exercised, each located in the ruleset file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from ..errors import Location
from ..ruleset.loader import origin_of
from ..ruleset.schema import Ruleset
from .expect import Failure
from .runner import CaseResult, Coverage

__all__ = ["CoverageItem", "coverage_items", "format_failures", "format_coverage", "coverage_to_json"]

Path_ = tuple[str | int, ...]


def _value_lines(label: str, value: str, indent: str) -> list[str]:
    """``label value``, continuation lines aligned under the value."""
    first, *rest = value.splitlines() or [""]
    pad = " " * len(label)
    return [f"{indent}{label}{first}", *(f"{indent}{pad}{line}" for line in rest)]


def format_failures(result: CaseResult) -> str:
    """The failures of one test, grouped by step: each subject's expected and got value,
    with the test file's line of the expectation."""
    lines: list[str] = []
    if result.error is not None:
        lines.append(f"error after {result.steps} step(s): {result.error}")
    current: int | None = None
    for failure in result.failures:
        if failure.step != current:
            current = failure.step
            lines.append(f"at {failure.at}, step {failure.step + 1}:")
        lines += _failure_lines(failure)
    return "\n".join(lines)


def _failure_lines(failure: Failure) -> list[str]:
    where = f" (line {failure.line})" if failure.line is not None else ""
    lines = [f"  {failure.subject}: {failure.what}{where}"]
    lines += _value_lines("expected: ", failure.expected, "    ")
    lines += _value_lines("got:      ", failure.got, "    ")
    lines += [f"    {line}" for line in failure.detail]
    return lines


@dataclass(frozen=True)
class CoverageItem:
    """One thing a ruleset declares that tests can exercise, where it is, and whether any did."""

    kind: str
    name: str
    location: Location
    covered: bool

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--format json``."""
        return {"kind": self.kind, "name": self.name, "file": self.location.file, "line": self.location.line, "covered": self.covered}


def _routes(route: Any, path: Path_) -> Iterator[Path_]:
    yield path
    for index, child in enumerate(route.routes):
        yield from _routes(child, path + ("routes", index))


def coverage_items(ruleset: Ruleset, coverage: Coverage) -> list[CoverageItem]:
    """Every enabled rule, receiver, route, schedule and policy level of ``ruleset``, in file
    order within each kind, marked covered or not."""
    origin = origin_of(ruleset)
    source = ruleset.source or "<ruleset>"

    def item(kind: str, name: str, path: Path_, covered: bool) -> CoverageItem:
        line = origin[1].line(path) if origin is not None else None
        return CoverageItem(kind, name, Location(source, line), covered)

    items = [item("rule", rule.name, ("rules", i), rule.name in coverage.rules) for i, rule in enumerate(ruleset.rules) if rule.enabled]
    items += [item("receiver", name, ("receivers", name), name in coverage.receivers) for name in ruleset.receivers]
    if ruleset.route is not None:
        for path in _routes(ruleset.route, ("route",)):
            dotted = ".".join(map(str, path))
            items.append(item("route", dotted, path, dotted in coverage.routes))
    items += [item("schedule", spec.name, ("schedules", i), spec.name in coverage.schedules) for i, spec in enumerate(ruleset.schedules)]
    for i, policy in enumerate(ruleset.policies):
        for j, level in enumerate(policy.levels):
            covered = (policy.name, level.name) in coverage.levels
            items.append(item("level", f"{policy.name}/{level.name}", ("policies", i, "levels", j), covered))
    return items


_KINDS = ("rule", "receiver", "route", "schedule", "level")
_PLURAL = {"rule": "rules", "receiver": "receivers", "route": "routes", "schedule": "schedules", "level": "levels"}


def format_coverage(ruleset: Ruleset, items: Sequence[CoverageItem]) -> str:
    """A summary line per ruleset and one located line per item no test exercised."""
    counts = []
    for kind in _KINDS:
        of_kind = [i for i in items if i.kind == kind]
        if of_kind:
            counts.append(f"{_PLURAL[kind]} {sum(i.covered for i in of_kind)}/{len(of_kind)}")
    lines = [f"coverage of {ruleset.source or ruleset.name}: " + ", ".join(counts)]
    verbs = {"rule": "took no decision", "receiver": "got no message", "route": "matched no notification", "schedule": "never fired", "level": "never reached"}
    lines += [f"  {i.location}: {i.kind} {i.name} {verbs[i.kind]} in any test" for i in items if not i.covered]
    return "\n".join(lines)


def coverage_to_json(ruleset: Ruleset, items: Sequence[CoverageItem]) -> dict[str, Any]:
    """Per kind: how many are covered, of how many, and the ones not covered."""
    document: dict[str, Any] = {"ruleset": ruleset.source or ruleset.name}
    for kind in _KINDS:
        of_kind = [i for i in items if i.kind == kind]
        document[_PLURAL[kind]] = {
            "covered": sum(i.covered for i in of_kind),
            "total": len(of_kind),
            "missing": [i.to_json() for i in of_kind if not i.covered],
        }
    return document
