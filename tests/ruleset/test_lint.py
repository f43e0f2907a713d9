"""The ruleset linter: one table of (ruleset fragment, expected warnings) for every check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spm_rules.alerting.apprise_delivery import scheme_available
from spm_rules.errors import RulesetError
from spm_rules.ruleset.conditions import Condition, holds
from spm_rules.ruleset.lint import CHECKS, KNOWN_SCHEMES, _all, _requirements, conflicting_routes, lint_ruleset
from spm_rules.ruleset.loader import load_ruleset, parse_ruleset
from spm_rules.ruleset.schema import ActionSpec, RouteAction, RuleSpec, Ruleset
from tests.match.strategies import conditions, facts

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "rulesets").glob("*.yaml"))

BASE = """\
name: lint
tiers: {P2: {response: 2h}, P4: {response: 4h}}
stages: [dispatched, onsite]
terminal_statuses: [resolved]
calendars:
  office: {timezone: Asia/Shanghai, hours: {mon-fri: ["09:00-18:00"]}}
"""  # 6 lines: a fragment starts at line 7

POLICIES = """\
policies:
  - name: response
    targets: {dispatched: response}
    levels: [{name: yellow, at: 75%}, {name: red, at: 100%}]
"""  # lines 7-10

RECEIVERS = """\
receivers:
  ops: {urls: ["json://localhost/ops"]}
route: {receiver: ops}
"""


def route_rules(*conditions: tuple[str, str]) -> str:
    """A rules: section with one route rule per (condition, provider), one line each."""
    lines = ["rules:"]
    for index, (when, provider) in enumerate(conditions):
        lines.append(f"  - {{name: r{index}, when: {when}, then: [{{route: {{provider: {provider}}}}}]}}")
    return "\n".join(lines) + "\n"


NORTH = "{field: region, eq: north}"

ROUTE_RECEIVERS = """\
receivers:
  ops: {urls: ["json://localhost/ops"]}
  a: {urls: ["json://localhost/a"]}
  b: {urls: ["json://localhost/b"]}
"""  # lines 7-10


def rule_when(when: str) -> str:
    """A rules: section with one tagging rule (its when: on the second line of the section)."""
    return f"rules:\n  - {{name: r, when: {when}, then: [{{tag: x}}]}}\n"


def schedules(*crons: str) -> str:
    """A schedules: section with one digest to ops per cron expression, one line each."""
    lines = ["schedules:"]
    for index, cron in enumerate(crons):
        lines.append(f"  - {{name: s{index}, cron: '{cron}', timezone: Asia/Shanghai, action: digest, receivers: [ops]}}")
    return "\n".join(lines) + "\n"

CASES = [
    pytest.param(POLICIES + RECEIVERS, [], id="clean"),
    # receivers: Apprise schemes
    pytest.param(
        'receivers:\n  ops:\n    urls:\n      - "json://localhost/ops"\n      - "slak://T000/B000/s3cr3tt0ken"\nroute: {receiver: ops}\n',
        ["r.yaml:11: receivers.ops.urls.1: unknown Apprise scheme 'slak': notifications to this URL cannot be sent (hint: did you mean 'slack'?)"],
        id="unknown-scheme",
    ),
    pytest.param('receivers:\n  tv: {urls: ["kodi://living-room", {url_file: /run/secrets/wecom}]}\nroute: {receiver: tv}\n', [], id="scheme-known-to-apprise-and-url-file"),
    # rules: sla.level against the levels the policies define
    pytest.param(
        POLICIES + "rules:\n  - name: r\n    when: {all: [{field: sla.policy, eq: response}, {field: sla.level, eq: redd}]}\n    then: [{tag: x}]\n",
        ["r.yaml:13: rules.0.when.all.1.eq: sla.level is compared with 'redd', which no policy defines as a level (hint: did you mean 'red'?)"],
        id="unknown-level-eq",
    ),
    pytest.param(
        POLICIES + "rules:\n  - name: r\n    when:\n      any:\n        - {field: sla.level, in: [yellow, Red]}\n        - not: {field: sla.level, ne: late}\n    then: [{tag: x}]\n",
        [
            "r.yaml:15: rules.0.when.any.0.in.1: sla.level is compared with 'Red', which no policy defines as a level (hint: did you mean 'red'?)",
            "r.yaml:16: rules.0.when.any.1.not.ne: sla.level is compared with 'late', which no policy defines as a level (hint: declared: red, yellow)",
        ],
        id="unknown-level-in-and-ne",
    ),
    # policies: day units on a business calendar
    pytest.param(
        "policies:\n  - name: fix\n    calendar: office\n    clock: created\n    target: {P2: 2d, P4: 1d4h}\n    levels: [{name: late, at: 100%}]\n",
        [
            "r.yaml:11: policies.0.target.P2: target 2d on calendar 'office' is 48 hours of its working time (a d is 24 of them), not 2 working days (hint: write working days (2wd) or the hours meant (48h))",
            "r.yaml:11: policies.0.target.P4: target 1d4h on calendar 'office' is 28 hours of its working time (a d is 24 of them), not 1 working day (hint: write working days (1wd) or the hours meant (28h))",
        ],
        id="days-on-business-calendar",
    ),
    pytest.param(
        "policies:\n  - name: fix\n    calendar: {field: region, map: {east: office}}\n    targets: {dispatched: response, onsite: 1w}\n    levels: [{name: late, at: 100%}]\n",
        ["r.yaml:10: policies.0.targets.onsite: target 1w on calendar 'office' is 168 hours of its working time (a d is 24 of them), not 7 working days (hint: write working days (7wd) or the hours meant (168h))"],
        id="week-on-a-calendar-chosen-by-field",
    ),
    pytest.param(
        "policies:\n  - {name: a, applies_to: {field: region, ne: north}, targets: {dispatched: 2d}, levels: [{name: late, at: 100%}]}\n"
        "  - {name: b, applies_to: {field: region, eq: north}, calendar: office, targets: {dispatched: {P2: 16h, P4: 2wd}}, levels: [{name: late, at: 100%}]}\n",
        [],
        id="days-on-24x7-and-hours-or-working-days-on-business",
    ),
    # rules: route decisions that can conflict
    pytest.param(
        route_rules((NORTH, "partner-a"), (NORTH, "partner-b")),
        ["r.yaml:9: rules.1.then.0.route: rules 'r0' and 'r1' can both hold for one ticket and route it to different providers ('partner-a', 'partner-b'); the first in ruleset order wins (hint: make their conditions exclude each other, e.g. different values of one field, or route to the same provider)"],
        id="overlapping-routes",
    ),
    pytest.param(route_rules((NORTH, "partner-a"), ("{field: tier, eq: P2}", "partner-b")), ["r.yaml:9: rules.1.then.0.route: rules 'r0' and 'r1' can both"], id="routes-on-different-fields"),
    pytest.param(
        route_rules(
            ("{all: [{field: sla.policy, eq: response}, {field: region, eq: north}]}", "partner-a"),
            ("{all: [{field: sla.policy, eq: resolution}, {field: region, eq: north}]}", "partner-b"),
        )
        + "policies:\n  - {name: response, targets: {dispatched: 2h}, levels: [{name: late, at: 100%}]}\n"
        "  - {name: resolution, clock: created, target: 1d, levels: [{name: late, at: 100%}]}\n",
        ["r.yaml:9: rules.1.then.0.route: rules 'r0' and 'r1' can both"],
        id="sla-fields-do-not-separate-one-ticket",
    ),
    pytest.param(route_rules((NORTH, "partner-a"), (NORTH, "partner-a")), [], id="same-provider"),
    pytest.param(route_rules((NORTH, "partner-a"), ("{field: region, in: [south, east]}", "partner-b")), [], id="disjoint-values"),
    pytest.param(route_rules((NORTH, "partner-a"), ("{field: region, present: false}", "partner-b")), [], id="missing-versus-a-value"),
    pytest.param(route_rules((NORTH, "partner-a"), ("{all: [{field: region, ne: north}, {field: tier, eq: P2}]}", "partner-b")), [], id="ne-versus-eq"),
    pytest.param(
        route_rules(("{any: [{field: region, eq: north}, {field: region, eq: west}]}", "partner-a"), ("{not: {any: [{field: region, in: [north, west]}, {field: tier, eq: P2}]}}", "partner-b")),
        [],
        id="any-and-not-any",
    ),
    pytest.param(
        "rules:\n  - {name: twice, when: " + NORTH + ", then: [{route: {provider: a}}, {route: {provider: b}}]}\n",
        ["r.yaml:8: rules.0.then.1.route: rule 'twice' routes one ticket to two providers ('a', 'b'); the first wins"],
        id="one-rule-two-providers",
    ),
    pytest.param(
        route_rules((NORTH, "partner-a"), ("{all: [{field: region, eq: north}, {field: region, eq: south}]}", "partner-b")),
        ["r.yaml:9: rules.1.when: rule 'r1' can never fire"],
        id="a-rule-that-never-holds-conflicts-with-no-route",
    ),
    # rules and policies whose condition never holds
    pytest.param(rule_when("{all: [{field: region, eq: north}, {field: region, eq: south}]}"), ["r.yaml:8: rules.0.when: rule 'r' can never fire: no ticket meets its condition (its tests on region exclude each other) (hint: an all: needs every test to hold at once; for alternatives use any:)"], id="never-eq-a-and-eq-b"),
    pytest.param(POLICIES + rule_when("{all: [{field: sla.elapsed, gt: 5h}, {field: sla.elapsed, lt: 3h}]}"), ["r.yaml:12: rules.0.when: rule 'r' can never fire: no ticket meets its condition (its tests on sla.elapsed exclude each other) (hint: an all: needs every test to hold at once; for alternatives use any:)"], id="never-gt-5-and-lt-3"),
    pytest.param(POLICIES + rule_when("{all: [{field: sla.level, eq: red}, {not: {field: sla.level, in: [red, yellow]}}]}"), ["r.yaml:12: rules.0.when: rule 'r' can never fire: no ticket meets its condition (its tests on sla.level exclude each other) (hint: an all: needs every test to hold at once; for alternatives use any:)"], id="never-a-value-and-not-it"),
    pytest.param(rule_when("{all: [{field: provider, present: false}, {any: [{field: provider, eq: a}, {field: provider, eq: b}]}]}"), ["r.yaml:8: rules.0.when: rule 'r' can never fire: no ticket meets its condition (its tests on provider exclude each other) (hint: an all: needs every test to hold at once; for alternatives use any:)"], id="never-missing-and-a-value"),
    pytest.param(rule_when("{all: [{field: customer.vip, eq: yes}, {field: customer.vip, gte: 1}]}"), ["r.yaml:8: rules.0.when: rule 'r' can never fire: no ticket meets its condition (its tests on customer.vip exclude each other) (hint: an all: needs every test to hold at once; for alternatives use any:)"], id="never-text-and-a-number"),
    pytest.param(
        "policies:\n  - {name: p, applies_to: {all: [{field: tier, in: [P2]}, {field: tier, ne: P2}]}, targets: {dispatched: 2h}, levels: [{name: late, at: 100%}]}\n",
        ["r.yaml:8: policies.0.applies_to: policy 'p' applies to no ticket: no ticket meets its applies_to (its tests on tier exclude each other) (hint: an all: needs every test to hold at once; for alternatives use any:)"],
        id="never-applies",
    ),
    pytest.param(rule_when("{any: [{field: region, eq: north}, {field: region, eq: south}]}"), [], id="any-of-two-values-can-hold"),
    pytest.param(rule_when("{all: [{field: sla.elapsed, gte: 5h}, {field: sla.elapsed, lte: 5h}, {field: region, gt: m}, {field: region, lt: o}]}"), [], id="touching-bounds-can-hold"),
    pytest.param(rule_when("{all: [{any: [{field: provider, present: false}, {field: provider, eq: a}]}, {field: provider, ne: a}]}"), ["r.yaml:8: rules.0.when: rule 'r' can never fire: no ticket meets its condition (its tests on provider exclude each other)"], id="never-missing-or-a-and-not-a"),
    pytest.param(rule_when("{all: [{any: [{field: provider, present: false}, {field: provider, eq: a}]}, {not: {field: provider, eq: b}}]}"), [], id="missing-or-a-and-not-b-can-hold"),
    # values outside a field's known set
    pytest.param(rule_when("{field: tier, eq: P9}"), ["r.yaml:8: rules.0.when.eq: tier is compared with 'P9', which is not one of the ruleset's tiers (hint: declared: P2, P4)"], id="unknown-tier"),
    pytest.param(rule_when("{field: stage, in: [dispatched, onsit]}"), ["r.yaml:8: rules.0.when.in.1: stage is compared with 'onsit', which is not one of the ruleset's stages (hint: did you mean 'onsite'?)"], id="unknown-stage"),
    pytest.param(POLICIES + rule_when("{all: [{field: sla.policy, eq: respons}, {field: sla.stage, eq: onsite}]}"), [
            "r.yaml:12: rules.0.when.all.0.eq: sla.policy is compared with 'respons', which names no policy (hint: did you mean 'response'?)",
            "r.yaml:12: rules.0.when.all.1.eq: sla.stage is compared with 'onsite', which no policy measures (hint: declared: dispatched)",
        ], id="unknown-policy-and-unmeasured-stage"),
    pytest.param(rule_when("{field: status, in: [open, resolved]}"), ["r.yaml:8: rules.0.when.in.1: status is compared with 'resolved', a terminal status: rules and policies never see a ticket in a terminal status (hint: compare with open statuses only: a closed ticket's escalations close by themselves)"], id="terminal-status"),
    pytest.param(
        "policies:\n  - {name: p, applies_to: {field: tier, ne: P6}, targets: {dispatched: 2h}, levels: [{name: late, at: 100%}]}\n",
        ["r.yaml:8: policies.0.applies_to.ne: tier is compared with 'P6', which is not one of the ruleset's tiers (hint: declared: P2, P4)"],
        id="unknown-tier-in-applies-to",
    ),
    pytest.param(POLICIES + rule_when("{all: [{field: tier, in: [P2, P4]}, {field: stage, eq: onsite}, {field: status, ne: waiting}, {field: sla.stage, eq: dispatched}]}"), [], id="known-values"),
    # policies measuring the same stage of the same tickets
    pytest.param(POLICIES + "  - {name: contract, targets: {dispatched: {P4: 3h}, onsite: 8h}, levels: [{name: late, at: 100%}]}\n", ["r.yaml:11: policies.1.targets.dispatched: policies 'response' and 'contract' both measure stage 'dispatched' for tier P4: a ticket both apply to runs two clocks and escalates twice (hint: give one policy more levels, or make their applies_to exclude each other)"], id="overlapping-policies"),
    pytest.param(
        "policies:\n  - {name: a, clock: created, target: 1d, levels: [{name: late, at: 100%}]}\n"
        "  - {name: b, clock: created, applies_to: {field: region, eq: north}, target: 2d, levels: [{name: late, at: 100%}]}\n",
        ["r.yaml:9: policies.1.target: policies 'a' and 'b' both measure end to end for tiers P2, P4: a ticket both apply to runs two clocks and escalates twice (hint: give one policy more levels, or make their applies_to exclude each other)"],
        id="overlapping-end-to-end",
    ),
    pytest.param(
        "policies:\n  - {name: a, applies_to: {field: tier, eq: P2}, targets: {dispatched: 2h}, levels: [{name: late, at: 100%}]}\n"
        "  - {name: b, applies_to: {field: tier, eq: P4}, targets: {dispatched: 4h}, levels: [{name: late, at: 100%}]}\n"
        "  - {name: c, targets: {onsite: 4h}, levels: [{name: late, at: 100%}]}\n"
        "  - {name: d, targets: {dispatched: {P2: 1h}}, applies_to: {field: tier, eq: P4}, levels: [{name: late, at: 100%}]}\n",
        [],
        id="policies-on-other-tickets-stages-or-tiers",
    ),
    # the routing tree
    pytest.param(ROUTE_RECEIVERS + "route:\n  receiver: ops\n  routes:\n    - {receiver: a}\n    - {match: {level: red}, receiver: b}\n", ["r.yaml:15: route.routes.1: this route is never reached: the earlier sibling route.routes.0 (without continue) matches every notification it matches (hint: put the more specific route first, or add continue: true to route.routes.0)"], id="catch-all-route-shadows"),
    pytest.param(
        ROUTE_RECEIVERS + "route:\n  receiver: ops\n  routes:\n    - {match_re: {level: red|escalate}, receiver: a}\n    - {match: {level: red, provider: x}, receiver: b}\n",
        ["r.yaml:15: route.routes.1: this route is never reached: the earlier sibling route.routes.0 (without continue) matches every notification it matches (hint: put the more specific route first, or add continue: true to route.routes.0)"],
        id="regex-route-shadows-a-value",
    ),
    pytest.param(
        ROUTE_RECEIVERS + "route:\n  receiver: ops\n  routes:\n    - receiver: a\n      routes:\n        - {matchers: ['level!=\"yellow\"'], receiver: b}\n        - {match_re: {level: red|escalate}, receiver: ops}\n",
        ["r.yaml:17: route.routes.0.routes.1: this route is never reached: the earlier sibling route.routes.0.routes.0 (without continue) matches every notification it matches (hint: put the more specific route first, or add continue: true to route.routes.0.routes.0)"],
        id="nested-not-equal-shadows-a-regex-missing-it",
    ),
    pytest.param(
        ROUTE_RECEIVERS + "route:\n  receiver: ops\n  routes:\n    - {match: {level: red}, receiver: a, continue: true}\n    - {match: {level: red}, receiver: b}\n"
        "    - {match_re: {level: red|escalate}, receiver: a}\n    - {match: {provider: x}, receiver: ops}\n",
        [],
        id="continue-and-more-general-routes-do-not-shadow",
    ),
    # receivers and templates nothing uses
    pytest.param(
        ROUTE_RECEIVERS + "  spare: {urls: ['json://localhost/spare']}\nroute: {receiver: ops}\nrules:\n  - {name: r, then: [{notify: [a]}]}\n"
        "schedules:\n  - {name: s, cron: '0 8 * * *', timezone: Asia/Shanghai, action: digest, receivers: [b]}\n",
        ["r.yaml:11: receivers.spare: receiver 'spare' is never used: no rule, route, schedule or delivery.fallback_receiver names it (hint: name it in a rule's notify or a route, or remove it)"],
        id="unused-receiver",
    ),
    pytest.param(
        "receivers:\n  ops: {urls: ['json://localhost/ops'], template: short}\n  dead: {urls: ['json://localhost/dead']}\nroute: {receiver: ops}\ndelivery: {fallback_receiver: dead}\n"
        "templates:\n  short: {title: t, body: b}\n  long: {title: t, body: b}\n  default: {title: t, body: b}\n  digest: {title: t, body: b}\n  indicators: {title: t, body: b}\n"
        "schedules:\n  - {name: s, cron: '0 8 * * *', timezone: Asia/Shanghai, action: digest, receivers: [ops]}\n",
        [
            "r.yaml:14: templates.long: template 'long' is never used: no receiver names it (hint: name it in a receiver's template:, or remove it)",
            "r.yaml:17: templates.indicators: template 'indicators' is never used: no receiver names it and no schedule has action 'indicators' (hint: name it in a receiver's template:, or remove it)",
        ],
        id="unused-templates",
    ),
    # schedules
    pytest.param(RECEIVERS + schedules("0 0 30 2 *", "0 0 29 2 *", "0 0 * 2 1#5"), ["r.yaml:11: schedules.0.cron: schedule 's0' never fires: cron '0 0 30 2 *' names no date that exists (hint: check day-of-month against the month (30 and 31 do not exist in every month))"], id="schedule-never-fires"),
    pytest.param(RECEIVERS + schedules("0 9 1-7 * 1", "30 8 15 1,7 1-5", "0 9 * * 1#1", "0 9 1 * *"), [
            "r.yaml:11: schedules.0.cron: cron '0 9 1-7 * 1' sets both day-of-month (1-7) and day-of-week (1): cron fires on the days either one names, not only on days both name (hint: for the first such weekday of the month write '0 9 * * 1#1')",
            "r.yaml:12: schedules.1.cron: cron '30 8 15 1,7 1-5' sets both day-of-month (15) and day-of-week (1-5): cron fires on the days either one names, not only on days both name (hint: write '*' in one of the two fields; for the n-th weekday of a month use day-of-week d#n (1#1: the first Monday))",
        ], id="cron-day-of-month-and-week"),
]


@pytest.mark.parametrize("fragment, expected", CASES)
def test_lint(fragment: str, expected: list[str]) -> None:
    warnings = [str(w) for w in lint_ruleset(parse_ruleset(BASE + fragment, "r.yaml"))]
    assert len(warnings) == len(expected), warnings
    for found, wanted in zip(warnings, expected):
        assert found.startswith(wanted), found
    assert not any("s3cr3t" in w for w in warnings)


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_every_check_has_a_case_that_warns(check: object) -> None:
    rulesets = [parse_ruleset(BASE + fragment, "r.yaml") for fragment, _ in (case.values for case in CASES)]
    assert any(lint_ruleset(ruleset, checks=[check]) for ruleset in rulesets)  # type: ignore[list-item]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_shipped_rulesets_have_no_warnings(path: Path) -> None:
    assert lint_ruleset(path) == []


def test_the_enterprise_dispatch_is_one_route_and_an_overlapping_route_is_not() -> None:
    text = (ROOT / "rulesets" / "enterprise-command-center.yaml").read_text(encoding="utf-8")
    assert lint_ruleset(parse_ruleset(text, "ecc.yaml")) == []
    extra = "  - name: east-to-south\n    when: {field: region, eq: east}\n    then: [{route: {provider: partner-south}}]\n\n  - name: response-yellow\n"
    overlapping = text.replace("  - name: response-yellow\n", extra)
    assert overlapping != text
    [warning] = lint_ruleset(parse_ruleset(overlapping, "ecc.yaml"))
    assert warning.location.key == "rules.1.then.0.route"
    assert warning.message.startswith("rules 'dispatch-request' and 'east-to-south' can both hold for one ticket and route it to different providers ('dispatch', 'partner-south')")


def test_lint_takes_a_path_and_a_ruleset_built_in_code(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(BASE + route_rules((NORTH, "a"), (NORTH, "b")), encoding="utf-8")
    [located] = lint_ruleset(path)
    assert (located.location.file, located.location.line) == (str(path), 9)
    built = Ruleset.model_construct(**dict(load_ruleset(path)))
    [unlocated] = lint_ruleset(built)
    assert (unlocated.location.line, unlocated.location.key, unlocated.message) == (None, "rules.1.then.0.route", located.message)
    (tmp_path / "bad.yaml").write_text("name: [", encoding="utf-8")
    with pytest.raises(RulesetError):
        lint_ruleset(tmp_path / "bad.yaml")


def test_the_static_schemes_are_all_known_to_apprise() -> None:
    assert [scheme for scheme in KNOWN_SCHEMES if not scheme_available(scheme)] == []


def test_linting_the_shipped_rulesets_does_not_import_apprise() -> None:
    code = "import sys; from spm_rules.ruleset.lint import lint_ruleset; [lint_ruleset(p) for p in sys.argv[1:]]; assert 'apprise' not in sys.modules"
    subprocess.run([sys.executable, "-c", code, *map(str, SHIPPED)], check=True)


# --------------------------------------------------------------------------- the route check's reasoning, by property


def _meets(fact: dict[str, Any], requirements: dict[str, Any]) -> bool:
    for name, need in requirements.items():
        value = fact.get(name)
        if value is None:
            if need.present:
                return False
            continue
        tagged = (isinstance(value, bool), value)
        kind = "bool" if isinstance(value, bool) else "number" if isinstance(value, (int, float)) else "text"
        if need.present is False or (need.allowed is not None and tagged not in need.allowed) or tagged in need.excluded:
            return False
        if not need.admits(kind) or (kind in need.bounds and not need.bounds[kind].holds(value)):
            return False
    return True


@settings(max_examples=400, deadline=None)
@given(condition=conditions(3), sample=facts(), sla=st.booleans())
def test_every_fact_a_condition_holds_for_meets_its_requirements(condition: Condition, sample: list[dict[str, Any]], sla: bool) -> None:
    requirements = _requirements(condition, sla=sla)
    for fact in sample:
        if holds(condition, fact):
            assert requirements is not None and _meets(fact, requirements)


@settings(max_examples=300, deadline=None)
@given(first=conditions(3), second=conditions(3), sample=facts())
def test_conditions_found_exclusive_never_both_hold_whatever_their_order(first: Condition, second: Condition, sample: list[dict[str, Any]]) -> None:
    exclusive = _all([_requirements(first), _requirements(second)]) is None
    assert exclusive == (_all([_requirements(second), _requirements(first)]) is None)
    if exclusive:
        assert not any(holds(first, fact) and holds(second, fact) for fact in sample)


@settings(max_examples=100, deadline=None)
@given(routes=st.lists(st.tuples(conditions(2), st.sampled_from(["a", "b"])), min_size=2, max_size=5), data=st.data())
def test_whether_routes_conflict_does_not_depend_on_the_rule_order(routes: list[tuple[Condition, str]], data: st.DataObject) -> None:
    def ruleset(ordered: list[tuple[Condition, str]]) -> Ruleset:
        rules = [
            RuleSpec.model_construct(name=f"r{index}", enabled=True, when=when, then=[ActionSpec.model_construct(route=RouteAction(provider=provider))])
            for index, (when, provider) in enumerate(ordered)
        ]
        return Ruleset.model_construct(name="p", rules=rules, source="p.yaml")

    shuffled = data.draw(st.permutations(routes))
    assert bool(lint_ruleset(ruleset(routes), checks=[conflicting_routes])) == bool(lint_ruleset(ruleset(shuffled), checks=[conflicting_routes]))
