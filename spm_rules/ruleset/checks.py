"""Whole-file checks of a ruleset: every name one section uses, another declares.

Pydantic checks each section alone; these checks read the file as a whole (like
Alertmanager's config cross-reference pass) and say where the dangling name stands and,
when a declared name is close, which one was probably meant.  They read the raw YAML
data defensively, so they run even when some section failed validation: an operator
sees a typo, a bad duration and an unknown receiver in one pass.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Iterator, Protocol

from ..durations import in_working_days
from ..errors import Location, RulesetProblem, did_you_mean
from .schema import TWENTY_FOUR_SEVEN_NAME

__all__ = ["check_references", "policy_calendars", "written_targets"]

_Path = tuple[str | int, ...]


class _Lines(Protocol):
    def line(self, path: Iterable[str | int]) -> int | None: ...


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[tuple[int, Any]]:
    return list(enumerate(value)) if isinstance(value, list) else []


def _named(section: Any) -> list[tuple[int, Any]]:
    return [(i, item) for i, item in _items(section) if isinstance(item, dict)]


def policy_calendars(policy: dict[str, Any], declared: Iterable[str]) -> list[Any]:
    """The calendar names a policy (raw data) may run on: its own, or those a ticket field
    chooses (through ``map``, or any ``declared`` one by name), and the default."""
    calendar = policy.get("calendar", TWENTY_FOUR_SEVEN_NAME)
    if isinstance(calendar, dict):
        chosen = list(_mapping(calendar["map"]).values()) if "map" in calendar else list(declared)
        return [*chosen, calendar.get("default", TWENTY_FOUR_SEVEN_NAME)]
    return [calendar]


def _targets(policy: dict[str, Any]) -> list[tuple[_Path, Any]]:
    """A policy's target specs (raw data) with their paths within the policy."""
    targets: list[tuple[_Path, Any]] = [(("targets", stage), spec) for stage, spec in _mapping(policy.get("targets")).items()]
    if "target" in policy:
        targets.append((("target",), policy["target"]))
    return targets


def written_targets(policy: dict[str, Any], tiers: dict[str, Any]) -> Iterator[tuple[_Path, str, str | None]]:
    """Every target of a policy (raw data) as written: (path within the policy, text, and
    for ``response`` the tier whose response time it stands for, at the target's path)."""
    for path, spec in _targets(policy):
        if spec == "response":
            for tier, tier_spec in tiers.items():
                response = _mapping(tier_spec).get("response")
                if isinstance(response, str):
                    yield path, response.strip(), str(tier)
        elif isinstance(spec, str):
            yield path, spec.strip(), None
        for tier, value in _mapping(spec).items():
            if isinstance(value, str):
                yield path + (tier,), value.strip(), None


def check_references(data: dict[str, Any], lines: _Lines, source: str) -> Iterator[RulesetProblem]:
    """Yield a located problem for each dangling or repeated name in the ruleset data."""

    def problem(path: _Path, message: str, hint: str | None = None) -> RulesetProblem:
        return RulesetProblem(Location(source, lines.line(path), ".".join(map(str, path))), message, hint)

    def dangling(path: _Path, name: Any, kind: str, known: Iterable[str]) -> Iterator[RulesetProblem]:
        """A problem when ``name`` (if text) is not among the ``known`` names of its kind."""
        known = set(known)
        if isinstance(name, str) and name not in known:
            yield problem(path, f"unknown {kind} {name!r}", did_you_mean(name, known))

    tiers = _mapping(data.get("tiers"))
    stages = [s for _, s in _items(data.get("stages")) if isinstance(s, str)]
    receivers = _mapping(data.get("receivers"))
    calendars = set(_mapping(data.get("calendars"))) | {TWENTY_FOUR_SEVEN_NAME}
    policies = _named(data.get("policies"))
    rules = _named(data.get("rules"))

    if TWENTY_FOUR_SEVEN_NAME in _mapping(data.get("calendars")):
        yield problem(("calendars", TWENTY_FOUR_SEVEN_NAME), f"the calendar name {TWENTY_FOUR_SEVEN_NAME!r} is built in (real elapsed time); choose another name")

    schedules = _named(data.get("schedules"))
    for kind, section, entries in (("policy", "policies", policies), ("rule", "rules", rules), ("schedule", "schedules", schedules)):
        counts = Counter(entry.get("name") for _, entry in entries if isinstance(entry.get("name"), str))
        seen: set[str] = set()
        for index, entry in entries:
            name = entry.get("name")
            if not isinstance(name, str):
                continue  # not a name at all: the model's validation says so, at its line
            if name in seen:
                yield problem((section, index, "name"), f"{kind} name {name!r} is used {counts[name]} times; names must be unique")
            seen.add(name)

    terminal = {s for _, s in _items(data.get("terminal_statuses")) if isinstance(s, str)}
    for index, status in _items(data.get("pausing_statuses")):
        if isinstance(status, str) and status in terminal:
            yield problem(("pausing_statuses", index), f"status {status!r} is both terminal and pausing")
    for index, status in _items(_mapping(data.get("reports")).get("first_call_statuses")):
        if isinstance(status, str) and status not in terminal:
            yield problem(("reports", "first_call_statuses", index), f"first-call status {status!r} is not one of the terminal_statuses", did_you_mean(status, terminal))

    for p_index, policy in policies:
        base: _Path = ("policies", p_index)
        calendar = policy.get("calendar", TWENTY_FOUR_SEVEN_NAME)
        if isinstance(calendar, dict):
            named = [(("calendar", "map", key), value) for key, value in _mapping(calendar.get("map")).items()]
            if "default" in calendar:
                named.append((("calendar", "default"), calendar["default"]))
        else:
            named = [(("calendar",), calendar)]
        for path, name in named:
            yield from dangling(base + path, name, "calendar", calendars)
        if TWENTY_FOUR_SEVEN_NAME in policy_calendars(policy, _mapping(data.get("calendars"))):
            runs = "can run" if isinstance(policy.get("calendar"), dict) else "runs"
            for path, text, tier in written_targets(policy, tiers):
                if in_working_days(text):
                    written = f"{text}, tier {tier}'s response" if tier else text
                    yield problem(
                        base + path,
                        f"a working-day target ({written}) needs a business calendar, and this policy's clock {runs} on {TWENTY_FOUR_SEVEN_NAME!r} (real time)",
                        "name a business calendar in calendar:, or write the target in hours",
                    )
        for path, spec in _targets(policy):
            stage = path[1] if path[0] == "targets" else None
            if stage is not None and stages:
                yield from dangling(base + path, stage, "stage", stages)
            for tier in _mapping(spec):
                if tier != "default" and tiers:
                    yield from dangling(base + path + (tier,), tier, "tier", tiers)
            if spec == "response":
                for tier, tier_spec in tiers.items():
                    if not _mapping(tier_spec).get("response"):
                        yield problem(base + path, f"target 'response' but tier {tier!r} declares no response time")

    for r_index, rule in rules:
        for a_index, action in _items(rule.get("then")):
            notify = _mapping(action).get("notify")
            if isinstance(notify, dict):
                notify = notify.get("receivers")
            names = [notify] if isinstance(notify, str) else notify
            for n_index, receiver in _items(names):
                yield from dangling(("rules", r_index, "then", a_index, "notify", n_index), receiver, "receiver", receivers)

    # Alerting (spm_rules.alerting): receivers the routing tree and the delivery fallback
    # name, and the templates and calendars receivers name.
    routes: list[tuple[_Path, Any]] = [(("route",), data.get("route"))]
    while routes:
        path, route = routes.pop(0)
        yield from dangling(path + ("receiver",), _mapping(route).get("receiver"), "receiver", receivers)
        routes.extend((path + ("routes", index), child) for index, child in _items(_mapping(route).get("routes")))
    fallback = _mapping(data.get("delivery")).get("fallback_receiver")
    yield from dangling(("delivery", "fallback_receiver"), fallback, "receiver", receivers)
    templates = set(_mapping(data.get("templates"))) | {"default"}
    for name, spec in receivers.items():
        yield from dangling(("receivers", name, "template"), _mapping(spec).get("template"), "template", templates)
        yield from dangling(("receivers", name, "active"), _mapping(spec).get("active"), "calendar", calendars)

    # Reports (spm_rules.reports): the stages customers see labelled, the levels the board colours.
    for stage in _mapping(_mapping(data.get("customer_status")).get("stages")):
        if stages:
            yield from dangling(("customer_status", "stages", stage), stage, "stage", stages)
    levels = {level.get("name") for _, policy in policies for _, level in _named(policy.get("levels"))}
    for level in _mapping(_mapping(data.get("board")).get("colors")):
        yield from dangling(("board", "colors", level), level, "level", (name for name in levels if isinstance(name, str)))

    yield from _dispatch_references(data, dangling, receivers, calendars, rules, tiers)

    for s_index, schedule in schedules:
        for n_index, receiver in _items(schedule.get("receivers")):
            yield from dangling(("schedules", s_index, "receivers", n_index), receiver, "receiver", receivers)
        for t_index, tier in _items(schedule.get("tiers") if tiers else None):
            yield from dangling(("schedules", s_index, "tiers", t_index), tier, "tier", tiers)


def _conditions(rule: dict[str, Any], base: _Path) -> Iterator[tuple[_Path, dict[str, Any]]]:
    """Every field test of a rule's ``when`` (raw data), with its path."""
    stack: list[tuple[_Path, Any]] = [(base + ("when",), rule.get("when"))]
    while stack:
        path, node = stack.pop()
        if not isinstance(node, dict):
            continue
        if "field" in node:
            yield path, node
        for group in ("all", "any"):
            stack.extend((path + (group, index), item) for index, item in _items(node.get(group)))
        if "not" in node:
            stack.append((path + ("not",), node["not"]))


def _dispatch_references(data: dict[str, Any], dangling: Any, receivers: dict[Any, Any], calendars: set[Any], rules: list[tuple[int, Any]], tiers: dict[Any, Any]) -> Iterator[RulesetProblem]:
    """Dispatch (spm_rules.dispatch): the providers, tables, calendars, receivers and tiers
    that providers, route actions, lookup conditions and the dispatch section name.  Once
    a ruleset declares providers, every provider it names anywhere must be one of them."""
    providers = _mapping(data.get("providers"))
    tables = _mapping(data.get("tables"))
    for name, spec in providers.items():
        spec = _mapping(spec)
        yield from dangling(("providers", name, "calendar"), spec.get("calendar"), "calendar", calendars)
        for index, receiver in _items(spec.get("receivers")):
            yield from dangling(("providers", name, "receivers", index), receiver, "receiver", receivers)
        for index, tier in _items(spec.get("tiers") if tiers else None):
            yield from dangling(("providers", name, "tiers", index), tier, "tier", tiers)
    dispatch = _mapping(data.get("dispatch"))
    yield from dangling(("dispatch", "table"), dispatch.get("table"), "table", tables)
    fallback = _mapping(dispatch.get("fallback"))
    if providers:
        yield from dangling(("dispatch", "fallback", "to"), fallback.get("to"), "provider", providers)
    for index, tier in _items(fallback.get("urgent_tiers") if tiers else None):
        yield from dangling(("dispatch", "fallback", "urgent_tiers", index), tier, "tier", tiers)
    for r_index, rule in rules:
        base: _Path = ("rules", r_index)
        for a_index, action in _items(rule.get("then")):
            route = _mapping(_mapping(action).get("route"))
            path = base + ("then", a_index, "route")
            yield from dangling(path + ("table",), route.get("table"), "table", tables)
            if providers:
                yield from dangling(path + ("provider",), route.get("provider"), "provider", providers)
        for path, test in _conditions(rule, base):
            yield from dangling(path + ("lookup",), test.get("lookup"), "table", tables)
            if providers and test.get("field") in ("provider", "provider_reported") and "lookup" not in test:
                for op in ("eq", "ne"):
                    yield from dangling(path + (op,), test.get(op), "provider", providers)
                for op in ("in", "not_in"):
                    for index, value in _items(test.get(op)):
                        yield from dangling(path + (op, index), value, "provider", providers)
