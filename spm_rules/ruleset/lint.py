"""The ruleset linter: warnings about a valid ruleset that will not do what it says.

``load_ruleset`` refuses what cannot run; the linter flags what runs but is probably a
mistake, each warning located like an error (file, line, key path) with a hint:

* a receiver URL whose Apprise scheme nobody knows (``slak://``);
* a rule comparing ``sla.level`` with a level no policy defines (``eq: redd``);
* a target in days or weeks on a business calendar (``5d`` is 120 working hours there);
* two route rules that can both hold for one ticket and name different providers.

Adding a check is one function decorated with :func:`check`, which gets a
:class:`LintContext` and yields :class:`~spm_rules.errors.RulesetProblem` s, plus one row
in the table of ``tests/ruleset/test_lint.py``.  Checks are pure and read no clock and no
network; the only optional cost is asking Apprise about a URL scheme that the static list
:data:`KNOWN_SCHEMES` does not have, so linting a usual ruleset never imports Apprise.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from ..durations import in_working_days, parse_duration
from ..errors import Location, RulesetProblem, did_you_mean
from .checks import policy_calendars, written_targets
from .conditions import All, AnyOf, Compare, Condition, Not, Present
from .loader import LineMap, load_ruleset, origin_of
from .schema import TWENTY_FOUR_SEVEN_NAME, Ruleset

__all__ = ["LintContext", "LintCheck", "CHECKS", "KNOWN_SCHEMES", "check", "lint_ruleset"]

Path_ = tuple[str | int, ...]

#: Schemes known without asking Apprise: spm-rules' own and Apprise's most used ones.
KNOWN_SCHEMES = frozenset(
    "console spmfile json jsons xml xmls form forms mailto mailtos apprise apprises dingtalk discord feishu gchat "
    "gotify gotifys lark line matrix matrixs mmost mmosts ntfy ntfys opsgenie pagerduty pbul pover rocket rockets "
    "rsyslog ses signal signals slack sns syslog tgram twilio webex wecom wecombot wechat whatsapp workflow workflows "
    "wxteams zulip".split()
)
_DAY_UNITS = re.compile(r"\d+[dw]")
_SLA_LEVEL_TESTS = ("eq", "ne", "in", "not_in")


@dataclass(frozen=True)
class LintContext:
    """What a check reads: the ruleset, the YAML data as written (empty for a ruleset built
    in code) and where each key stands."""

    ruleset: Ruleset
    data: Mapping[str, Any] = field(default_factory=dict)
    lines: LineMap | None = None

    def problem(self, path: Path_, message: str, hint: str | None = None) -> RulesetProblem:
        """A warning at ``path`` (a key path as written in the file)."""
        line = self.lines.line(path) if self.lines is not None else None
        return RulesetProblem(Location(self.ruleset.source or "<ruleset>", line, ".".join(map(str, path)) or None), message, hint)


LintCheck = Callable[[LintContext], Iterable[RulesetProblem]]

#: Every check, in the order they run.
CHECKS: list[LintCheck] = []


def check(function: LintCheck) -> LintCheck:
    """Register ``function`` as a lint check."""
    CHECKS.append(function)
    return function


def lint_ruleset(ruleset: Ruleset | str | Path, checks: Sequence[LintCheck] | None = None) -> list[RulesetProblem]:
    """The warnings for a ruleset (or the ruleset file at a path, loaded first: RulesetError
    if it is invalid), in file order.  Located to the line when the ruleset came from a
    file; a ruleset built in code gets key paths only and no checks of how values were written."""
    loaded = ruleset if isinstance(ruleset, Ruleset) else load_ruleset(ruleset)
    origin = origin_of(loaded)
    context = LintContext(loaded, *origin) if origin is not None else LintContext(loaded)
    found = [problem for lint in (CHECKS if checks is None else checks) for problem in lint(context)]
    return sorted(found, key=lambda p: (p.location.line or 0, p.location.key or ""))


# --------------------------------------------------------------------------- receivers


@check
def unknown_apprise_scheme(context: LintContext) -> Iterator[RulesetProblem]:
    """A receiver URL whose scheme Apprise does not know: every notification to it fails.
    URLs read from ``url_file`` cannot be checked; only the scheme is ever shown."""
    for name, receiver in context.ruleset.receivers.items():
        for index, entry in enumerate(receiver.urls):
            if entry.url is None:
                continue
            scheme = entry.url.split("://", 1)[0].lower()
            if scheme in KNOWN_SCHEMES or _apprise_knows(scheme):
                continue
            close = difflib.get_close_matches(scheme, sorted(KNOWN_SCHEMES), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "Apprise's schemes are listed at https://github.com/caronc/apprise/wiki"
            yield context.problem(("receivers", name, "urls", index), f"unknown Apprise scheme {scheme!r}: notifications to this URL cannot be sent", hint)


def _apprise_knows(scheme: str) -> bool:
    from ..alerting.apprise_delivery import scheme_available  # Apprise loads only for an unusual scheme

    return scheme_available(scheme)


# --------------------------------------------------------------------------- rules and levels


def _tests(condition: Condition, path: Path_) -> Iterator[tuple[Path_, Compare | Present]]:
    """Every field test of a condition with its key path as written (``all.1.eq``)."""
    if isinstance(condition, (Compare, Present)):
        yield path, condition
    elif isinstance(condition, (All, AnyOf)):
        group = "all" if isinstance(condition, All) else "any"
        for index, item in enumerate(condition.items):
            yield from _tests(item, path + (group, index))
    else:
        yield from _tests(condition.item, path + ("not",))


@check
def unknown_level(context: LintContext) -> Iterator[RulesetProblem]:
    """A rule comparing ``sla.level`` with a name no policy gives a level: it never holds
    (``eq``, ``in``) or always does (``ne``, ``not_in``)."""
    levels = {level.name for policy in context.ruleset.policies for level in policy.levels}
    for r_index, rule in enumerate(context.ruleset.rules):
        if rule.when is None:
            continue
        for path, test in _tests(rule.when, ("rules", r_index, "when")):
            if not isinstance(test, Compare) or test.field != "sla.level" or test.op not in _SLA_LEVEL_TESTS:
                continue
            values = list(enumerate(test.value)) if isinstance(test.value, tuple) else [(None, test.value)]
            for index, value in values:
                if isinstance(value, str) and value not in levels:
                    where = path + (test.op,) + ((index,) if index is not None else ())
                    yield context.problem(where, f"sla.level is compared with {value!r}, which no policy defines as a level", did_you_mean(value, levels))


# --------------------------------------------------------------------------- targets


@check
def days_on_business_calendar(context: LintContext) -> Iterator[RulesetProblem]:
    """A target written in ``d`` or ``w`` on a business calendar: a day there is 24 hours of
    working time (``5d``: 120 of them), rarely what was meant; ``Nwd`` counts working days.
    Reads the targets as written, so a ruleset built in code is not checked."""
    tiers = context.data.get("tiers") if isinstance(context.data.get("tiers"), dict) else {}
    for p_index, policy in enumerate(context.data.get("policies") or []):
        if not isinstance(policy, dict):
            continue
        calendars = policy_calendars(policy, context.ruleset.calendars)
        business = [name for name in calendars if isinstance(name, str) and name != TWENTY_FOUR_SEVEN_NAME]
        if not business:
            continue
        for path, text, tier in written_targets(policy, tiers):
            if in_working_days(text) or not _DAY_UNITS.search(text):
                continue
            seconds = parse_duration(text).total_seconds()
            hours, days = seconds / 3600, int(seconds // 86400)
            written = f"target {text}" + (f" (tier {tier}'s response)" if tier else "")
            message = (
                f"{written} on calendar {business[0]!r} is {hours:g} hours of its working time (a d is 24 of them), "
                f"not {days} working day{'s' if days != 1 else ''}"
            )
            yield context.problem(("policies", p_index) + path, message, f"write working days ({days}wd) or the hours meant ({hours:g}h)")


# --------------------------------------------------------------------------- routes


@dataclass(frozen=True)
class _Field:
    """What a condition requires of one field whenever it holds: if present, a value among
    ``allowed`` (None: any) and none of ``excluded``; ``present`` True/False/None (either).
    Values are tagged with being a bool, since ``True == 1`` in Python but not in rules."""

    allowed: frozenset[tuple[bool, Any]] | None = None
    excluded: frozenset[tuple[bool, Any]] = frozenset()
    present: bool | None = None


Requirements = dict[str, _Field]


def _tag(values: Iterable[Any]) -> frozenset[tuple[bool, Any]]:
    return frozenset((isinstance(value, bool), value) for value in values)


def _both(a: _Field, b: _Field) -> _Field | None:
    """What holding both asks of the field; None when nothing can."""
    if a.present is not None and b.present is not None and a.present != b.present:
        return None
    present = a.present if a.present is not None else b.present
    allowed = a.allowed if b.allowed is None else b.allowed if a.allowed is None else a.allowed & b.allowed
    excluded = a.excluded | b.excluded
    if present and allowed is not None and not allowed - excluded:
        return None
    return _Field(allowed, excluded, present)


def _either(a: _Field, b: _Field) -> _Field:
    """What holding one or the other asks of the field, at least."""
    allowed = None if a.allowed is None or b.allowed is None else a.allowed | b.allowed
    return _Field(allowed, a.excluded & b.excluded, a.present if a.present == b.present else None)


def _all(parts: Iterable[Requirements | None]) -> Requirements | None:
    result: Requirements = {}
    for part in parts:
        if part is None:
            return None
        for name, need in part.items():
            merged = _both(result[name], need) if name in result else need
            if merged is None:
                return None
            result[name] = merged
    return result


def _any(parts: Iterable[Requirements | None]) -> Requirements | None:
    possible = [part for part in parts if part is not None]
    if not possible:
        return None
    shared = set(possible[0]).intersection(*possible[1:])
    result: Requirements = {}
    for name in shared:
        need = possible[0][name]
        for part in possible[1:]:
            need = _either(need, part[name])
        result[name] = need
    return result


def _requirements(condition: Condition, negated: bool = False) -> Requirements | None:
    """What every fact for which ``condition`` (or its negation) holds has in common,
    conservatively: more facts may meet the requirements than hold the condition, never
    fewer.  None when no fact can hold it.  ``sla.*`` fields are left out: two statuses
    of one ticket have different ones."""
    if isinstance(condition, Not):
        return _requirements(condition.item, not negated)
    if isinstance(condition, (All, AnyOf)):
        parts = (_requirements(item, negated) for item in condition.items)
        return _all(parts) if isinstance(condition, All) != negated else _any(parts)
    if condition.field.startswith("sla."):
        return {}
    if isinstance(condition, Present):
        return {condition.field: _Field(present=condition.present != negated)}
    values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
    if not negated and condition.op in ("eq", "in"):
        return {condition.field: _Field(allowed=_tag(values), present=True)}
    if not negated and condition.op in ("ne", "not_in"):
        return {condition.field: _Field(excluded=_tag(values), present=True)}
    if negated and condition.op in ("eq", "in"):
        return {condition.field: _Field(excluded=_tag(values))}
    return {condition.field: _Field(present=True)} if not negated else {}


@check
def conflicting_routes(context: LintContext) -> Iterator[RulesetProblem]:
    """Two route decisions for one ticket naming different providers: at run time the
    first in ruleset order wins and the conflict is reported.  Warned unless the two
    conditions provably exclude each other (different values of a field, a value versus
    the field missing)."""
    routes = []
    for r_index, rule in enumerate(context.ruleset.rules):
        needs = _requirements(rule.when) if rule.when is not None else {}
        if not rule.enabled or needs is None:
            continue
        for a_index, action in enumerate(rule.then):
            if action.route is not None:
                routes.append((r_index, a_index, rule.name, action.route.provider, needs))
    for later, (r_index, a_index, name, provider, needs) in enumerate(routes):
        for e_index, _, e_name, e_provider, e_needs in routes[:later]:
            if e_provider == provider or _all([e_needs, needs]) is None:
                continue
            where = ("rules", r_index, "then", a_index, "route")
            if e_index == r_index:
                message = f"rule {name!r} routes one ticket to two providers ({e_provider!r}, {provider!r}); the first wins"
                yield context.problem(where, message, "keep one route action per rule")
            else:
                message = (
                    f"rules {e_name!r} and {name!r} can both hold for one ticket and route it to different providers "
                    f"({e_provider!r}, {provider!r}); the first in ruleset order wins"
                )
                yield context.problem(where, message, "make their conditions exclude each other, e.g. different values of one field, or route to the same provider")
            break
