"""Running ruleset tests: real stateful runs at simulated instants over a temporary state,
delivery through the real alerting pipeline to a capturing hook (nothing leaves the
machine), and the shipped rulesets' tests passing and covering everything."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spm_rules import load_ruleset
from spm_rules.alerting.receivers import registered_hooks
from spm_rules.testing import Coverage, coverage_items, format_failures, load_suite, parse_suite, run_case, run_suite
from spm_rules.testing.runner import capturing_ruleset
from tests.fixtures.processes import ROOT
from tests.fixtures.servers import HttpServer

SHIPPED_TESTS = sorted((ROOT / "rulesets" / "tests").glob("*.test.yaml"))
STARTER_TESTS = ROOT / "spm_rules" / "starter" / "tests" / "service-desk.test.yaml"
CASES = [(path, case.name) for path in [*SHIPPED_TESTS, STARTER_TESTS] for case in load_suite(path).cases]

TINY = """\
version: 1
name: tiny
ticket_timezone: UTC
tiers: {{P1: {{response: 1h}}}}
stages: [new]
terminal_statuses: [done]
calendars:
  day: {{timezone: UTC, hours: {{mon-sun: ["09:00-17:00"]}}}}
policies:
  - name: response
    targets: {{new: response}}
    levels: [{{name: red, at: 100%}}]
rules:
  - name: red
    when: {{field: sla.level, eq: red}}
    then: [{{notify: {{receivers: [desk, web], repeat: 30m}}}}]
receivers:
  desk: {{urls: ["console://desk"], active: day}}
  web: {{urls: ["{web}/${{SPM_TEST_TOKEN_NEVER_SET}}"]}}
"""

TINY_TESTS = """\
ruleset: tiny.yaml
start: 2026-11-25T16:30:00Z
tests:
  - name: held until the desk opens
    tickets: [{id: T1, tier: P1, stages: [{new: +0m}]}]
    steps:
      - at: +0m
      - at: +1h            # 17:30: red; the web hook gets it, the desk is closed
        expect:
          notifications: [{receiver: web, kind: escalation, tickets: [T1]}]
          exactly: true
      - at: +16h35m        # 09:05: the desk opens and gets what was held
        expect:
          notifications: [{receiver: desk, kind: escalation, title: "[red] T1", tickets: [T1]}]
          exactly: true
      - at: +16h40m
        ack: T1
        expect: {notifications: []}
"""


def _tiny(tmp_path: Path, web: str, more: str = "") -> Path:
    (tmp_path / "tiny.yaml").write_text(TINY.format(web=web), encoding="utf-8")
    path = tmp_path / "tiny.test.yaml"
    path.write_text(TINY_TESTS + more, encoding="utf-8")
    return path


@pytest.mark.parametrize(("path", "name"), CASES, ids=[f"{path.stem}: {name}" for path, name in CASES])
def test_the_shipped_tests_pass_and_print_nothing(path: Path, name: str, capfd: pytest.CaptureFixture[str]) -> None:
    suite = load_suite(path)
    (case,) = [case for case in suite.cases if case.name == name]
    result = run_case(suite, case)
    assert result.passed, format_failures(result)
    assert result.steps == len(case.steps)
    captured = capfd.readouterr()
    assert captured.out == "" and "console" not in captured.err and "RED" not in captured.err


@pytest.mark.parametrize("path", [*SHIPPED_TESTS, STARTER_TESTS], ids=lambda path: path.stem)
def test_the_shipped_tests_exercise_every_rule_receiver_route_schedule_and_level(path: Path) -> None:
    suite = load_suite(path)
    coverage = Coverage(suite.ruleset_path)
    for result in run_suite(suite, matcher="python"):
        coverage.add(result.coverage)
    items = coverage_items(suite.ruleset, coverage)
    assert [f"{item.kind} {item.name}" for item in items if not item.covered] == []
    assert {item.kind for item in items} >= {"rule", "receiver", "route", "schedule", "level"}
    assert len([item for item in items if item.kind == "rule"]) == len(suite.ruleset.rules)


def test_every_shipped_ruleset_has_a_test_file() -> None:
    tested = sorted(Path(load_suite(path).ruleset_path).resolve() for path in SHIPPED_TESTS)
    assert tested == sorted(path.resolve() for path in (ROOT / "rulesets").glob("*.yaml"))


def test_a_broken_expectation_fails_with_a_readable_diff() -> None:
    path = ROOT / "rulesets" / "tests" / "enterprise-command-center.test.yaml"
    text = path.read_text(encoding="utf-8")
    broken = text.replace("title: RED EC-1 Northern Grid, body: [used 2h of 2h]}", "title: RED EC-1 Northern Grid, body: [used 2h10m of 2h]}", 1)
    broken = broken.replace("EC-1: {levels: {response: yellow}, decisions: [response-yellow]}", "EC-1: {levels: {response: red}, decisions: [response-red]}", 1)
    suite = parse_suite(broken, str(path))
    (case,) = [case for case in suite.cases if case.name.startswith("a P2 request")]
    result = run_case(suite, case)
    assert not result.passed
    line_level = next(i for i, line in enumerate(broken.splitlines(), 1) if "EC-1: {levels: {response: red}, decisions: [response-red]}" in line)
    line_note = next(i for i, line in enumerate(broken.splitlines(), 1) if "used 2h10m of 2h" in line)
    red = "command-center · escalation · 'RED EC-1 Northern Grid' · group provider=partner-north, level=red · tickets EC-1"
    assert format_failures(result).splitlines() == [
        "at +1h45m (2026-11-25 09:45 +08:00), step 3:",
        f"  ticket EC-1: levels.response (line {line_level})",
        "    expected: red",
        "    got:      yellow",
        f"  ticket EC-1: decisions (line {line_level})",
        "    expected: a decision of rule response-red",
        "    got:      dispatch-request route provider=partner-north strategy=kept reason=assigned to 'partner-north' at an earlier run; its dispatch facts are unchanged",
        '              response-yellow notify receivers=["partner-desk"]',
        "at +2h15m (2026-11-25 10:15 +08:00), step 4:",
        f"  notifications: expected notification 1 (line {line_note})",
        "    expected: receiver command-center, kind escalation, title 'RED EC-1 Northern Grid', body with 'used 2h10m of 2h'",
        "    got:      no message matches",
        f"    closest: {red}",
        "      body:",
        "        expected: a body with 'used 2h10m of 2h'",
        "        got:      a body without it",
        "    sent at this step:",
        f"      {red}",
        "      partner-desk · escalation · 'RED EC-1 Northern Grid' · group provider=partner-north, level=red · tickets EC-1",
    ]


def test_held_messages_go_out_when_the_receiver_opens_and_no_url_is_contacted(tmp_path: Path, http_server: HttpServer) -> None:
    hooks = registered_hooks()
    suite = load_suite(_tiny(tmp_path, http_server.json_url("web")))
    (result,) = run_suite(suite)
    assert result.passed, format_failures(result)
    assert http_server.requests == []
    assert registered_hooks() == hooks


def test_an_ack_or_expiry_that_finds_nothing_is_a_failure(tmp_path: Path, http_server: HttpServer) -> None:
    more = """\
      - at: +16h45m
        silence: {id: short, matchers: ['ticket="T1"'], for: 1m}
      - at: +16h50m
        ack: T1
        expire: short
"""
    (result,) = run_suite(load_suite(_tiny(tmp_path, http_server.json_url("web"), more)))
    assert [(f.subject, f.what, f.expected, f.got) for f in result.failures] == [
        ("ack T1", "ack", "an open, unacknowledged escalation", "none to acknowledge"),
        ("expire short", "expire", "a silence in force or pending", "it had already ended"),
    ]
    assert {f.at for f in result.failures} == {"+16h50m (2026-11-26 09:20 +00:00)"} and result.steps == 6


def test_the_capturing_ruleset_keeps_everything_but_the_destinations() -> None:
    ruleset = load_ruleset(ROOT / "rulesets" / "repair-network.yaml")
    captured = capturing_ruleset(ruleset)
    assert {name: (spec.urls, spec.hook) for name, spec in captured.receivers.items()} == {name: ([], "spm-rules-test-capture") for name in ruleset.receivers}
    station = captured.receivers["station"]
    assert (station.template, station.active) == ("station", "station-hours")
    assert captured.route == ruleset.route and captured.rules == ruleset.rules
    assert [e.url for e in ruleset.receivers["station"].urls] == ["console://station"]


@settings(max_examples=6, deadline=None)
@given(st.randoms(use_true_random=False))
def test_the_order_tickets_are_written_in_changes_nothing(rnd: random.Random) -> None:
    path = ROOT / "rulesets" / "tests" / "enterprise-command-center.test.yaml"
    suite = load_suite(path)
    case = next(case for case in suite.cases if case.name.startswith("each region's requests"))
    tickets = list(case.tickets)
    rnd.shuffle(tickets)
    grouped = next(case for case in suite.cases if case.name.startswith("requests of one partner"))
    pair = list(grouped.tickets)
    rnd.shuffle(pair)
    for shuffled in (case.__class__(**{**case.__dict__, "tickets": tuple(tickets)}), grouped.__class__(**{**grouped.__dict__, "tickets": tuple(pair)})):
        result = run_case(suite, shuffled)
        assert result.passed, format_failures(result)
