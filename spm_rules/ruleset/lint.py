"""The ruleset linter: warnings about a valid ruleset that will not do what it says.

``load_ruleset`` refuses what cannot run; the linter flags what runs but is probably a
mistake, each warning located like an error (file, line, key path) with a hint:

* a receiver URL whose Apprise scheme nobody knows (``slak://``);
* a rule or policy whose condition can never hold (``eq: a`` and ``eq: b`` on one field
  in an ``all``, ``gt: 5`` and ``lt: 3``);
* a condition comparing a field with a value outside its known set: a level no policy
  defines (``sla.level eq: redd``), a policy, tier, stage or measured stage nobody
  declares, a terminal status (rules never see a terminal ticket);
* a target in days or weeks on a business calendar (``5d`` is 120 working hours there);
* two policies measuring the same stage of the same tickets;
* two route rules that can both hold for one ticket and name different providers;
* a route of the routing tree that an earlier sibling without ``continue`` shadows;
* receivers and templates that nothing uses;
* a schedule whose cron expression never fires, or sets both day-of-month and
  day-of-week (cron fires when either matches).

Adding a check is one function decorated with :func:`check`, which gets a
:class:`LintContext` and yields :class:`~spm_rules.errors.RulesetProblem` s, plus one row
in the table of ``tests/ruleset/test_lint.py``.  Checks are pure and read no clock and no
network; the only optional cost is asking Apprise about a URL scheme that the static list
:data:`KNOWN_SCHEMES` does not have, so linting a usual ruleset never imports Apprise.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from ..alerting.matchers import LabelMatcher
from ..alerting.routes import RouteSpec
from ..alerting.templates import DEFAULT_TEMPLATE_NAME, SCHEDULE_TEMPLATES
from ..clock.status import END_TO_END_STAGE
from ..durations import in_working_days, parse_duration
from ..errors import Location, RulesetProblem, did_you_mean
from ..schedules import first_tick_within
from .checks import policy_calendars, written_targets
from .conditions import All, AnyOf, Compare, Condition, Not, Present, fields_of
from .loader import LineMap, load_ruleset, origin_of
from .schema import TWENTY_FOUR_SEVEN_NAME, PolicySpec, Ruleset, TargetSpec

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
_VALUE_TESTS = ("eq", "ne", "in", "not_in")
#: A schedule that fires nowhere in this many years from 2000 never fires: cron has no
#: year field, and 28 years hold every combination of weekday and leap year (to 2099).
CRON_CYCLE_YEARS = 28


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


def _conditions(ruleset: Ruleset) -> Iterator[tuple[Path_, Condition, bool]]:
    """Every condition of the ruleset with its key path and whether a rule's (``when``,
    seeing ``sla.*``) or a policy's (``applies_to``, seeing the ticket's fields only)."""
    for p_index, policy in enumerate(ruleset.policies):
        if policy.applies_to is not None:
            yield ("policies", p_index, "applies_to"), policy.applies_to, False
    for r_index, rule in enumerate(ruleset.rules):
        if rule.when is not None:
            yield ("rules", r_index, "when"), rule.when, True


def _known_values(ruleset: Ruleset) -> dict[str, tuple[frozenset[str], str]]:
    """Per field with a closed set of values: the values, and how to say a value is not one."""
    measured = {stage for policy in ruleset.policies for stage in policy.targets}
    if any(policy.clock == "created" for policy in ruleset.policies):
        measured.add(END_TO_END_STAGE)
    return {
        "sla.level": (frozenset(level.name for policy in ruleset.policies for level in policy.levels), "which no policy defines as a level"),
        "sla.policy": (frozenset(policy.name for policy in ruleset.policies), "which names no policy"),
        "sla.stage": (frozenset(measured), "which no policy measures"),
        "tier": (frozenset(ruleset.tiers), "which is not one of the ruleset's tiers"),
        "stage": (frozenset(ruleset.stages), "which is not one of the ruleset's stages"),
    }


@check
def unknown_value(context: LintContext) -> Iterator[RulesetProblem]:
    """A condition comparing a field that has a closed set of values (``sla.level``,
    ``sla.policy``, ``sla.stage``, ``tier``, ``stage``) with a value outside it, or
    ``status`` with a terminal status: the test never holds (``eq``, ``in``) or always
    does (``ne``, ``not_in``), so the rule is not what it says."""
    known = _known_values(context.ruleset)
    terminal = frozenset(context.ruleset.terminal_statuses)
    for base, condition, is_rule in _conditions(context.ruleset):
        for path, test in _tests(condition, base):
            if not isinstance(test, Compare) or test.op not in _VALUE_TESTS or (not is_rule and test.field.startswith("sla.")):
                continue
            values = list(enumerate(test.value)) if isinstance(test.value, tuple) else [(None, test.value)]
            for index, value in values:
                if not isinstance(value, str):
                    continue
                where = path + (test.op,) + ((index,) if index is not None else ())
                if test.field == "status" and value in terminal:
                    message = f"status is compared with {value!r}, a terminal status: rules and policies never see a ticket in a terminal status"
                    yield context.problem(where, message, "compare with open statuses only: a closed ticket's escalations close by themselves")
                elif test.field in known and value not in known[test.field][0]:
                    names, why = known[test.field]
                    yield context.problem(where, f"{test.field} is compared with {value!r}, {why}", did_you_mean(value, names))


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


# --------------------------------------------------------------------------- what a condition requires


_KINDS = frozenset({"text", "number", "bool"})


def _kind(value: Any) -> str:
    """The kind a value compares as: rules compare only values of one kind."""
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, (int, float)) else "text"


@dataclass(frozen=True)
class _Bound:
    """An interval of values of one kind; an end of None is open."""

    low: Any = None
    low_in: bool = False
    high: Any = None
    high_in: bool = False

    def empty(self) -> bool:
        """No value lies inside."""
        if self.low is None or self.high is None:
            return False
        return self.low > self.high or (self.low == self.high and not (self.low_in and self.high_in))

    def holds(self, value: Any) -> bool:
        """``value`` (of the bound's kind) lies inside."""
        above = self.low is None or value > self.low or (self.low_in and value == self.low)
        return above and (self.high is None or value < self.high or (self.high_in and value == self.high))

    def both(self, other: "_Bound") -> "_Bound":
        """The values inside both: the intersection."""
        low, low_in = _tighter(self.low, self.low_in, other.low, other.low_in, max)
        high, high_in = _tighter(self.high, self.high_in, other.high, other.high_in, min)
        return _Bound(low, low_in, high, high_in)

    def either(self, other: "_Bound") -> "_Bound":
        """An interval holding the values inside either (the hull: conservative)."""
        low, low_in = _looser(self.low, self.low_in, other.low, other.low_in, min)
        high, high_in = _looser(self.high, self.high_in, other.high, other.high_in, max)
        return _Bound(low, low_in, high, high_in)


def _tighter(a: Any, a_in: bool, b: Any, b_in: bool, pick: Callable[[Any, Any], Any]) -> tuple[Any, bool]:
    """The stricter of two ends (``pick`` is max for lows, min for highs; None is open)."""
    if a is None or b is None:
        return (b, b_in) if a is None else (a, a_in)
    if a == b:
        return a, a_in and b_in
    return (a, a_in) if pick(a, b) == a else (b, b_in)


def _looser(a: Any, a_in: bool, b: Any, b_in: bool, pick: Callable[[Any, Any], Any]) -> tuple[Any, bool]:
    """The wider of two ends (``pick`` is min for lows, max for highs; open if either is)."""
    if a is None or b is None:
        return None, False
    if a == b:
        return a, a_in or b_in
    return (a, a_in) if pick(a, b) == a else (b, b_in)


_ORDER = {"lt": ("high", False), "lte": ("high", True), "gt": ("low", False), "gte": ("low", True)}


@dataclass(frozen=True)
class _Field:
    """What a condition requires of one field whenever it holds: if present, a value of
    one of ``kinds`` (None: any), inside the kind's bound in ``bounds`` (if any), among
    ``allowed`` (None: any) and none of ``excluded``; ``present`` True/False/None (either).
    Values are tagged with being a bool, since ``True == 1`` in Python but not in rules."""

    allowed: frozenset[tuple[bool, Any]] | None = None
    excluded: frozenset[tuple[bool, Any]] = frozenset()
    present: bool | None = None
    kinds: frozenset[str] | None = None
    bounds: Mapping[str, _Bound] = field(default_factory=dict)

    def admits(self, kind: str) -> bool:
        """A present value of ``kind`` may meet the requirement."""
        return self.kinds is None or kind in self.kinds


def _tag(values: Iterable[Any]) -> frozenset[tuple[bool, Any]]:
    return frozenset((isinstance(value, bool), value) for value in values)


def _settled(need: _Field) -> _Field | None:
    """``need`` with values no kind or bound admits dropped; a field no value can satisfy
    must be missing (None when it must also be present: nothing can hold)."""
    kinds, allowed = need.kinds, need.allowed
    if allowed is not None:
        allowed = frozenset(
            (flag, value)
            for flag, value in allowed
            if need.admits(_kind(value)) and (_kind(value) not in need.bounds or need.bounds[_kind(value)].holds(value))
        )
        kinds = frozenset(_kind(value) for _, value in allowed - need.excluded)
    if kinds is None or kinds:
        return _Field(allowed, need.excluded, need.present, kinds, need.bounds)
    return None if need.present else _Field(present=False)


def _both(a: _Field, b: _Field) -> _Field | None:
    """What holding both asks of the field; None when nothing can."""
    if a.present is not None and b.present is not None and a.present != b.present:
        return None
    present = a.present if a.present is not None else b.present
    if present is False:
        return _Field(present=False)
    allowed = a.allowed if b.allowed is None else b.allowed if a.allowed is None else a.allowed & b.allowed
    kinds = a.kinds if b.kinds is None else b.kinds if a.kinds is None else a.kinds & b.kinds
    bounds = dict(a.bounds)
    for kind, bound in b.bounds.items():
        bounds[kind] = bounds[kind].both(bound) if kind in bounds else bound
    empty = {kind for kind, bound in bounds.items() if bound.empty()}
    if empty:
        kinds = (kinds if kinds is not None else _KINDS) - empty
    return _settled(_Field(allowed, a.excluded | b.excluded, present, kinds, {k: v for k, v in bounds.items() if k not in empty}))


def _either(a: _Field, b: _Field) -> _Field:
    """What holding one or the other asks of the field, at least."""
    if a.present is False or b.present is False:
        # A field that must be missing on one side: when present, the other side's needs hold.
        other = b if a.present is False else a
        return replace(other, present=None if other.present is not False else False)
    allowed = None if a.allowed is None or b.allowed is None else a.allowed | b.allowed
    kinds = None if a.kinds is None or b.kinds is None else a.kinds | b.kinds
    bounds = {}
    for kind in _KINDS:
        sides = [side for side in (a, b) if side.admits(kind)]
        if sides and all(kind in side.bounds for side in sides):
            bounds[kind] = sides[0].bounds[kind] if len(sides) == 1 else a.bounds[kind].either(b.bounds[kind])
    return _Field(allowed, a.excluded & b.excluded, a.present if a.present == b.present else None, kinds, bounds)


Requirements = dict[str, _Field]


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


def _requirements(condition: Condition, negated: bool = False, *, sla: bool = False, only: str | None = None) -> Requirements | None:
    """What every fact for which ``condition`` (or its negation) holds has in common,
    conservatively: more facts may meet the requirements than hold the condition, never
    fewer.  None when no fact can hold it.  ``sla.*`` fields are left out unless ``sla``
    (two statuses of one ticket have different ones, one fact has one); with ``only``,
    every other field is left out too."""
    if isinstance(condition, Not):
        return _requirements(condition.item, not negated, sla=sla, only=only)
    if isinstance(condition, (All, AnyOf)):
        parts = (_requirements(item, negated, sla=sla, only=only) for item in condition.items)
        return _all(parts) if isinstance(condition, All) != negated else _any(parts)
    if (condition.field.startswith("sla.") and not sla) or only not in (None, condition.field):
        return {}
    if isinstance(condition, Present):
        return {condition.field: _Field(present=condition.present != negated)}
    values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
    if negated:
        return {condition.field: _Field(excluded=_tag(values))} if condition.op in ("eq", "in") else {}
    kinds = frozenset(_kind(value) for value in values)
    if condition.op in ("eq", "in"):
        need = _Field(allowed=_tag(values), present=True, kinds=kinds)
    elif condition.op in ("ne", "not_in"):
        need = _Field(excluded=_tag(values), present=True, kinds=kinds)
    else:
        value = condition.value
        if value != value:  # NaN: nothing is below or above it
            return None
        end, inclusive = _ORDER[condition.op]
        bound = _Bound(value, inclusive) if end == "low" else _Bound(high=value, high_in=inclusive)
        need = _Field(present=True, kinds=kinds, bounds={_kind(value): bound})
    settled = _settled(need)
    return {condition.field: settled} if settled is not None else None


# --------------------------------------------------------------------------- conditions that never hold


@check
def never_holds(context: LintContext) -> Iterator[RulesetProblem]:
    """A rule (or a policy's ``applies_to``) whose condition no ticket can meet: two
    tests on one field that exclude each other (``eq: a`` and ``eq: b`` in an ``all``,
    ``gt: 5`` and ``lt: 3``, a value and ``present: false``)."""
    for path, condition, is_rule in _conditions(context.ruleset):
        if _requirements(condition, sla=is_rule) is not None:
            continue
        owner = context.ruleset.rules[path[1]] if is_rule else context.ruleset.policies[path[1]]  # type: ignore[index]
        culprits = [name for name in dict.fromkeys(fields_of(condition)) if _requirements(condition, sla=is_rule, only=name) is None]
        tests = f"its tests on {', '.join(culprits)} exclude each other" if culprits else "its tests exclude each other"
        if is_rule:
            message = f"rule {owner.name!r} can never fire: no ticket meets its condition ({tests})"
        else:
            message = f"policy {owner.name!r} applies to no ticket: no ticket meets its applies_to ({tests})"
        yield context.problem(path, message, "an all: needs every test to hold at once; for alternatives use any:")


# --------------------------------------------------------------------------- policies


def _measured(policy: PolicySpec, needs: Requirements | None, ruleset: Ruleset) -> dict[str | None, tuple[Path_, set[str]]]:
    """Per stage the policy measures (None: end to end), where its target is written and
    the tiers it measures there: those it has a target for and its ``applies_to`` (whose
    requirements are ``needs``) admits."""
    tier = needs.get("tier") if needs is not None else None
    admitted = set(ruleset.tiers) if needs is not None else set()
    if tier is not None and tier.allowed is not None:
        admitted &= {value for flag, value in tier.allowed - tier.excluded if not flag}
    elif tier is not None:
        admitted -= {value for flag, value in tier.excluded if not flag}
    targets: dict[str | None, tuple[Path_, TargetSpec]] = {None: (("target",), policy.target)} if policy.target is not None else {}
    targets.update({stage: (("targets", stage), spec) for stage, spec in policy.targets.items()})
    return {stage: (path, {t for t in admitted if spec.for_tier(t, ruleset.tiers) is not None}) for stage, (path, spec) in targets.items()}


@check
def overlapping_policies(context: LintContext) -> Iterator[RulesetProblem]:
    """Two policies measuring the same stage (or both end to end) for the same tier, whose
    ``applies_to`` do not exclude each other: one ticket runs two clocks with their own
    levels and escalates twice.  Levels of one policy are the way to warn at several
    thresholds."""
    policies = []
    for index, policy in enumerate(context.ruleset.policies):
        needs = _requirements(policy.applies_to) if policy.applies_to is not None else {}
        policies.append((index, policy, needs, _measured(policy, needs, context.ruleset)))
    for later, (index, policy, needs, stages) in enumerate(policies):
        for _, earlier, e_needs, earlier_stages in policies[:later]:
            if _all([needs, e_needs]) is None:
                continue
            for stage, (path, tiers) in stages.items():
                shared = sorted(tiers & earlier_stages.get(stage, ((), set()))[1])
                if not shared:
                    continue
                what = "end to end" if stage is None else f"stage {stage!r}"
                message = (
                    f"policies {earlier.name!r} and {policy.name!r} both measure {what} for tier{'s' if len(shared) > 1 else ''} {', '.join(shared)}: "
                    "a ticket both apply to runs two clocks and escalates twice"
                )
                yield context.problem(("policies", index) + path, message, "give one policy more levels, or make their applies_to exclude each other")


# --------------------------------------------------------------------------- routes


@check
def conflicting_routes(context: LintContext) -> Iterator[RulesetProblem]:
    """Two route decisions for one ticket naming different providers: at run time the
    first in ruleset order wins and the conflict is reported.  Warned unless the two
    conditions provably exclude each other (different values of a field, a value versus
    the field missing).  A route that lets dispatch choose counts as naming ``dispatch``;
    a re-route is meant to override the others and is left out."""
    routes = []
    for r_index, rule in enumerate(context.ruleset.rules):
        needs = _requirements(rule.when) if rule.when is not None else {}
        if not rule.enabled or needs is None:
            continue
        for a_index, action in enumerate(rule.then):
            if action.route is not None and not action.route.reroute:
                routes.append((r_index, a_index, rule.name, action.route.provider or "dispatch", needs))
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


def _implies(matcher: LabelMatcher, other: LabelMatcher) -> bool:
    """Every label set ``matcher`` matches, ``other`` matches too (decided where it can be:
    a fixed value is simply tried; a regular expression only excludes the values it misses)."""
    if matcher.name != other.name:
        return False
    if (matcher.op, matcher.value) == (other.op, other.value):
        return True
    if matcher.op == "=":
        return other.matches({matcher.name: matcher.value})
    if matcher.op == "=~" and other.op == "!=":
        return not matcher.matches({matcher.name: other.value})
    return False


def _sibling_shadows(routes: Sequence[RouteSpec], base: Path_) -> Iterator[tuple[Path_, Path_]]:
    """(shadowed, shadowing) paths of routes an earlier sibling without ``continue``
    always takes first, in every level of the tree."""
    for index, route in enumerate(routes):
        mine = route.all_matchers()
        for e_index, earlier in enumerate(routes[:index]):
            if not earlier.continue_ and all(any(_implies(m, e) for m in mine) for e in earlier.all_matchers()):
                yield base + ("routes", index), base + ("routes", e_index)
                break
        yield from _sibling_shadows(route.routes, base + ("routes", index))


@check
def shadowed_routes(context: LintContext) -> Iterator[RulesetProblem]:
    """A route no notification can reach: an earlier sibling route without ``continue``
    matches everything it matches, and the search stops at the first match."""
    root = context.ruleset.route
    if root is None:
        return
    for path, by in _sibling_shadows(root.routes, ("route",)):
        where = ".".join(map(str, by))
        message = f"this route is never reached: the earlier sibling {where} (without continue) matches every notification it matches"
        yield context.problem(path, message, f"put the more specific route first, or add continue: true to {where}")


# --------------------------------------------------------------------------- receivers and templates


@check
def unused_receivers(context: LintContext) -> Iterator[RulesetProblem]:
    """A receiver no rule, route, schedule or the delivery fallback names: nothing is ever
    sent to it (``receivers test`` still can)."""
    ruleset = context.ruleset
    named = {name for rule in ruleset.rules for action in rule.then if action.notify is not None for name in action.notify.receivers}
    named |= {name for schedule in ruleset.schedules for name in schedule.receivers}
    routes = [ruleset.route] if ruleset.route is not None else []
    while routes:
        route = routes.pop()
        named.add(route.receiver or "")
        routes.extend(route.routes)
    named.add(ruleset.delivery.fallback_receiver or "")
    for name in ruleset.receivers:
        if name not in named:
            yield context.problem(("receivers", name), f"receiver {name!r} is never used: no rule, route, schedule or delivery.fallback_receiver names it", "name it in a rule's notify or a route, or remove it")


@check
def unused_templates(context: LintContext) -> Iterator[RulesetProblem]:
    """A template no receiver names (nor, for ``default``, a receiver without one; nor, for
    a schedule action's name, a schedule with that action): it never renders."""
    ruleset = context.ruleset
    used = {spec.template or DEFAULT_TEMPLATE_NAME for spec in ruleset.receivers.values()}
    used |= {schedule.action for schedule in ruleset.schedules}
    for name in ruleset.templates:
        if name not in used:
            nobody = "no receiver names it" + (f" and no schedule has action {name!r}" if name in SCHEDULE_TEMPLATES else "")
            yield context.problem(("templates", name), f"template {name!r} is never used: {nobody}", "name it in a receiver's template:, or remove it")


# --------------------------------------------------------------------------- schedules

_CRON_EPOCH = datetime(2000, 1, 1)


@check
def schedule_never_fires(context: LintContext) -> Iterator[RulesetProblem]:
    """A cron expression with no fire time at all (``0 0 30 2 *``: there is no 30 February):
    looked for over :data:`CRON_CYCLE_YEARS` years, every weekday-and-leap-year pattern."""
    for index, schedule in enumerate(context.ruleset.schedules):
        start = _CRON_EPOCH.replace(tzinfo=schedule.zone)
        if first_tick_within(schedule, start, CRON_CYCLE_YEARS) is None:
            message = f"schedule {schedule.name!r} never fires: cron {schedule.cron!r} names no date that exists"
            yield context.problem(("schedules", index, "cron"), message, "check day-of-month against the month (30 and 31 do not exist in every month)")


_WEEK_STARTS = {1: 1, 8: 2, 15: 3, 22: 4}


@check
def cron_days_or(context: LintContext) -> Iterator[RulesetProblem]:
    """A cron expression restricting both day-of-month and day-of-week: cron fires when
    *either* matches (``0 9 1-7 * 1`` fires every Monday and on days 1-7), rarely what was
    meant; ``1#1`` in day-of-week says "the first Monday"."""
    for index, schedule in enumerate(context.ruleset.schedules):
        minute, hour, days, month, weekdays = schedule.cron.split(" ")
        if days in ("*", "?") or weekdays in ("*", "?"):
            continue
        week = re.fullmatch(r"(\d+)-(\d+)", days)
        nth = _WEEK_STARTS.get(int(week.group(1))) if week and int(week.group(2)) - int(week.group(1)) == 6 else None
        if nth is not None and weekdays.isdigit():
            hint = f"for the {('first', 'second', 'third', 'fourth')[nth - 1]} such weekday of the month write '{minute} {hour} * {month} {weekdays}#{nth}'"
        else:
            hint = "write '*' in one of the two fields; for the n-th weekday of a month use day-of-week d#n (1#1: the first Monday)"
        message = (
            f"cron {schedule.cron!r} sets both day-of-month ({days}) and day-of-week ({weekdays}): "
            "cron fires on the days either one names, not only on days both name"
        )
        yield context.problem(("schedules", index, "cron"), message, hint)
