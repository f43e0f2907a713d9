"""Loading a test file: every problem located like a ruleset's, times resolved, tickets
seen at each instant as the ticket system knew them then."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from spm_rules.errors import RulesetError
from spm_rules.testing.suite import Suite, Timeline, TicketChange, load_suite, parse_suite
from tests.fixtures.processes import ROOT

ENTERPRISE = ROOT / "rulesets" / "enterprise-command-center.yaml"
START = datetime(2026, 11, 25, 0, 0, tzinfo=timezone.utc)  # 08:00 in Shanghai

GOOD = f"""\
ruleset: {ENTERPRISE}
start: 2026-11-25T08:00:00+08:00
tests:
  - name: one
    tickets:
      - id: EC-1
        tier: P2
        region: north
        stages: [{{hotline: +0m}}, {{dispatched: +15m}}]
    steps:
      - at: +0m
      - at: +1h45m
        update:
          EC-1: {{provider: partner-east}}
        expect:
          tickets:
            EC-1: {{levels: {{response: yellow}}}}
"""


def _load(tmp_path: Path, text: str) -> Suite:
    path = tmp_path / "case.test.yaml"
    path.write_text(text, encoding="utf-8")
    return load_suite(path)


def _problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(RulesetError) as caught:
        _load(tmp_path, text)
    return [str(problem).replace(str(tmp_path / "case.test.yaml"), "F") for problem in caught.value.problems]


def test_a_good_file_loads_with_its_times_resolved(tmp_path: Path) -> None:
    suite = _load(tmp_path, GOOD)
    (case,) = suite.cases
    assert suite.ruleset.name == "enterprise-command-center" and suite.ruleset_path == str(ENTERPRISE)
    assert case.start == START and [step.at for step in case.steps] == [START, START + timedelta(hours=1, minutes=45)]
    assert case.label(case.steps[1]) == "+1h45m (2026-11-25 09:45 +08:00)"
    assert case.steps[1].changes == (TicketChange("EC-1", START + timedelta(hours=1, minutes=45), fields={"provider": "partner-east"}),)
    assert (case.line, case.steps[1].line, case.steps[1].tickets[0].line) == (4, 12, 17)


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("tier: P2", "tier: P3", "F:7: tests.0.tickets.0.tier: unknown tier 'P3' (hint: declared: P2, P4, P6)"),
        ("{dispatched: +15m}", "{dispatchd: +15m}", "F:9: tests.0.tickets.0.stages.1.dispatchd: unknown stage 'dispatchd' (hint: did you mean 'dispatched'?)"),
        ("{dispatched: +15m}", "{dispatched: -15m}", "F:6: tests.0.tickets.0: ticket 'EC-1' is not a valid ticket at +0s: stages: entry 1 is earlier than entry 0: histories must be in time order"),
        ("EC-1: {provider", "EC-2: {provider", "F:14: tests.0.steps.1.update.EC-2: no ticket 'EC-2' in this test (by this step) (hint: did you mean 'EC-1'?)"),
        ("response: yellow", "respons: yellow", "F:17: tests.0.steps.1.expect.tickets.EC-1.levels.respons: unknown policy 'respons' (hint: did you mean 'response'?)"),
        ("response: yellow", "response: yelow", "F:17: tests.0.steps.1.expect.tickets.EC-1.levels.response: unknown level of policy 'response' 'yelow' (hint: did you mean 'yellow'?)"),
        ("at: +1h45m", "at: -1h", "F:12: tests.0.steps.1.at: steps must go forward in time: -1h is not after the step before"),
        ("at: +1h45m", "at: +1h45", "F:12: tests.0.steps.1.at: bad relative time '+1h45': bad duration '1h45': use a number and a unit w/d/h/m/s, e.g. '4h', '1h30m', '90s'"),
        ("start: 2026-11-25T08:00:00+08:00", "start: +0m", "F:2: start: start is the instant relative times count from: '+0m' is relative: write an ISO 8601 time here"),
        ("start: 2026-11-25T08:00:00+08:00\n", "", "F:3: tests.0: test 'one' has no start: give start (an ISO 8601 time) in the test or at the top of the file"),
        ("name: one", "name: one\n    start: +1h", "F:5: tests.0.start: start is the instant relative times count from: '+1h' is relative: write an ISO 8601 time here"),
        ("    steps:", "    colour: red\n    steps:", "F:10: tests.0.colour: unknown key 'colour'"),
        ("    steps:", "    tikets: []\n    steps:", "F:10: tests.0.tikets: unknown key 'tikets' (hint: did you mean 'tickets'?)"),
        ("EC-1: {levels", "EC-1: {decisions: [respons-red], levels", "F:17: tests.0.steps.1.expect.tickets.EC-1.decisions.0: unknown rule 'respons-red' (hint: did you mean 'response-red'?)"),
        ("        expect:\n", "        ack: EC-9\n        expect:\n", "F:15: tests.0.steps.1.ack.0: no ticket 'EC-9' in this test (by this step) (hint: did you mean 'EC-1'?)"),
        ("        expect:\n", "        expire: maintenance\n        expect:\n", "F:15: tests.0.steps.1.expire.0: no silence 'maintenance' was added before in this test"),
        ("        expect:\n", "        silence: {match: {level: ''}, for: 1h}\n        expect:\n", "F:15: tests.0.steps.1.silence.0: every matcher of this silence matches an empty label"),
        ("          tickets:\n            EC-1:", "          notifications: [{receiver: partner-dsk}]\n          tickets:\n            EC-1:", "F:16: tests.0.steps.1.expect.notifications.0.receiver: unknown receiver 'partner-dsk' (hint: did you mean 'partner-desk'?)"),
        ("    steps:", "    tickets_from: missing.jsonl\n    steps:", "F:10: tests.0.tickets_from.0: cannot read the tickets of missing.jsonl"),
        ("region: north", "region: north\n        created_at: +0m", "F:6: tests.0.tickets.0: write created here, not created_at"),
    ],
)
def test_every_problem_is_located_with_a_hint(tmp_path: Path, old: str, new: str, problem: str) -> None:
    assert old in GOOD
    found = _problems(tmp_path, GOOD.replace(old, new, 1))
    assert any(line.startswith(problem) for line in found), found


def test_all_problems_of_a_file_are_reported_at_once_in_line_order(tmp_path: Path) -> None:
    text = GOOD.replace("tier: P2", "tier: P3").replace("response: yellow", "respons: yellow")
    text += "  - name: one\n    steps: [{at: +0m}]\n"
    found = _problems(tmp_path, text)
    assert [line.split(":")[1] for line in found] == ["7", "17", "18"]
    assert found[-1] == "F:18: tests.1.name: a second test named 'one' (the first is tests.0)"


def test_an_invalid_ruleset_is_reported_where_the_file_names_it(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\n", encoding="utf-8")
    found = _problems(tmp_path, GOOD.replace(str(ENTERPRISE), "broken.yaml"))
    assert found[0] == "F:1: ruleset: the ruleset broken.yaml cannot be loaded"
    assert any(line.startswith(f"{broken}:") for line in found[1:])


@pytest.mark.parametrize(
    ("text", "problem"),
    [("", "F:1: the file is empty"), ("- a\n- b\n", "F:1: a ruleset test file is a mapping"), ("a: 1\na: 2\n", "F:2: a: duplicate key 'a'")],
)
def test_a_file_that_is_not_a_test_file_says_so(tmp_path: Path, text: str, problem: str) -> None:
    assert _problems(tmp_path, text)[0].startswith(problem)


def test_a_missing_file_is_a_located_error(tmp_path: Path) -> None:
    with pytest.raises(RulesetError, match="cannot read ruleset test file"):
        load_suite(tmp_path / "nowhere.test.yaml")


def _timeline() -> Timeline:
    at = lambda minutes: START + timedelta(minutes=minutes)  # noqa: E731
    return Timeline(
        "EC-1",
        {"region": "north"},
        at(0),
        tier="P4",
        stages=(("hotline", at(0)), ("dispatched", at(15))),
        statuses=(("open", at(0)), ("waiting_customer", at(60))),
        tiers=(("P4", at(0)), ("P2", at(90))),
    )


@pytest.mark.parametrize(
    ("minutes", "stage", "status", "tier", "history"),
    [
        (0, "hotline", "open", "P4", 1),
        (14, "hotline", "open", "P4", 1),
        (15, "dispatched", "open", "P4", 2),
        (60, "dispatched", "waiting_customer", "P4", 2),
        (120, "dispatched", "waiting_customer", "P2", 2),
    ],
)
def test_a_ticket_is_seen_as_known_at_the_instant(minutes: int, stage: str, status: str, tier: str, history: int) -> None:
    ticket = _timeline().view(START + timedelta(minutes=minutes))
    assert (ticket.stage, ticket.status, ticket.tier, len(ticket.stage_history)) == (stage, status, tier, history)
    assert all(entry.at <= START + timedelta(minutes=minutes) for entry in ticket.status_history)
    assert ticket.region == "north"


def test_a_change_adds_history_entries_and_sets_or_removes_fields() -> None:
    at = START + timedelta(hours=3)
    changed = _timeline().changed(TicketChange("EC-1", at, stage="onsite", status="resolved", tier="P6", fields={"region": None, "provider": "p"}))
    ticket = changed.view(at)
    assert (ticket.stage, ticket.status, ticket.tier, ticket.provider, ticket.region) == ("onsite", "resolved", "P6", "p", None)
    assert changed.view(at - timedelta(minutes=1)).stage == "dispatched"


def test_defaults_fill_tickets_and_tickets_from_reads_a_file_relative_to_the_test(tmp_path: Path) -> None:
    (tmp_path / "more.jsonl").write_text(
        '{"id": "X-1", "tier": "P6", "status": "open", "created_at": "2026-11-25T07:00:00+08:00", "region": "west"}\n', encoding="utf-8"
    )
    text = GOOD.replace("    tickets:\n", "    ticket_defaults: {customer: Grid, tier: P4}\n    tickets_from: more.jsonl\n    tickets:\n", 1)
    text = text.replace("        tier: P2\n", "")
    suite = _load(tmp_path, text)
    x1, ec1 = suite.cases[0].tickets
    assert (x1.id, x1.view(START).tier, x1.view(START).region) == ("X-1", "P6", "west")
    assert (ec1.view(START).tier, ec1.fields["customer"]) == ("P4", "Grid")


def test_parse_suite_reads_text_named_by_its_source(tmp_path: Path) -> None:
    suite = parse_suite(textwrap.dedent(GOOD), str(tmp_path / "named.test.yaml"))
    assert suite.path == str(tmp_path / "named.test.yaml") and len(suite.cases[0].steps) == 2
