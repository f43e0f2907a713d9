"""What a person reads: coverage gaps located in the ruleset, failures grouped by step."""

from __future__ import annotations

from spm_rules import load_ruleset
from spm_rules.testing import CaseResult, Coverage, Failure, coverage_items, coverage_to_json, format_coverage, format_failures
from tests.fixtures.processes import ROOT

STARTER = ROOT / "spm_rules" / "starter" / "service-desk.yaml"


def test_coverage_lists_what_no_test_exercised_with_its_line() -> None:
    ruleset = load_ruleset(STARTER)
    lines = STARTER.read_text(encoding="utf-8").splitlines()

    def line_of(text: str) -> int:
        return next(i for i, line in enumerate(lines, 1) if text in line)

    coverage = Coverage(str(STARTER), rules={"route-network", "route-service-desk", "response-warning", "response-breached"}, receivers={"team-chat", "duty-lead"})
    coverage.routes.add("route")
    coverage.levels.update({("response", "warning"), ("response", "breached")})
    assert format_coverage(ruleset, coverage_items(ruleset, coverage)).splitlines() == [
        f"coverage of {STARTER}: rules 4/6, receivers 2/3, routes 1/1, schedules 0/1, levels 2/4",
        f"  {STARTER}:{line_of('- name: response-escalate')}: rule response-escalate took no decision in any test",
        f"  {STARTER}:{line_of('- name: resolution-late')}: rule resolution-late took no decision in any test",
        f"  {STARTER}:{line_of('  service-manager:')}: receiver service-manager got no message in any test",
        f"  {STARTER}:{line_of('- name: morning-digest')}: schedule morning-digest never fired in any test",
        f"  {STARTER}:{line_of('{name: escalate, after_due')}: level response/escalate never reached in any test",
        f"  {STARTER}:{line_of('{name: late, at: 100%}')}: level resolution/late never reached in any test",
    ]
    document = coverage_to_json(ruleset, coverage_items(ruleset, coverage))
    assert document["rules"]["covered"] == 4 and document["rules"]["total"] == 6
    assert [item["name"] for item in document["rules"]["missing"]] == ["response-escalate", "resolution-late"]
    assert document["routes"] == {"covered": 1, "total": 1, "missing": []}


def test_merged_coverage_is_the_union() -> None:
    first = Coverage("r", rules={"a"}, levels={("p", "red")})
    first.add(Coverage("r", rules={"b"}, receivers={"x"}, schedules={"s"}, routes={"route"}))
    assert (first.rules, first.receivers, first.schedules, first.routes, first.levels) == ({"a", "b"}, {"x"}, {"s"}, {"route"}, {("p", "red")})


def test_failures_are_grouped_by_step_with_multi_line_values_aligned() -> None:
    failures = (
        Failure(0, "+1h (09:00)", 10, "ticket A", "levels.response", "red", "yellow"),
        Failure(0, "+1h (09:00)", 11, "ticket A", "decisions", "a decision of rule x", "y route\nz notify"),
        Failure(2, "+3h (11:00)", None, "ack A", "ack", "an open, unacknowledged escalation", "none to acknowledge", ("more",)),
    )
    result = CaseResult("f.test.yaml", "t", 5, 3, failures, Coverage("r"))
    assert format_failures(result).splitlines() == [
        "at +1h (09:00), step 1:",
        "  ticket A: levels.response (line 10)",
        "    expected: red",
        "    got:      yellow",
        "  ticket A: decisions (line 11)",
        "    expected: a decision of rule x",
        "    got:      y route",
        "              z notify",
        "at +3h (11:00), step 3:",
        "  ack A: ack",
        "    expected: an open, unacknowledged escalation",
        "    got:      none to acknowledge",
        "    more",
    ]
    errored = CaseResult("f.test.yaml", "t", 5, 1, (), Coverage("r"), error="StateError: disk full")
    assert format_failures(errored) == "error after 1 step(s): StateError: disk full" and not errored.passed
