"""``spm-rules explain`` as a person and a tool read it: the clock behind a status (weekend,
holiday, make-up day, pause, DST), every rule's verdict, the assignment, and what would be
sent to whom after routing, silences, inhibition and active hours, with and without the state."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from spm_rules.cli import EXIT_INVALID, EXIT_OK, main
from spm_rules.cli.explain import explanation_lines
from spm_rules.explain import StoredState, explain_ticket
from spm_rules.engine import Engine
from spm_rules.ruleset.loader import parse_ruleset
from tests.state.helpers import restore_spm_logger  # noqa: F401 (autouse fixture)
from tests.state.helpers import ROOT, RULESET_YAML, at, ticket, write_tickets

ENTERPRISE = str(ROOT / "rulesets" / "enterprise-command-center.yaml")
ENTERPRISE_TICKETS = str(ROOT / "examples" / "enterprise-tickets.jsonl")
REPAIR = str(ROOT / "rulesets" / "repair-network.yaml")
REPAIR_TICKETS = str(ROOT / "examples" / "repair-tickets.jsonl")

#: A workshop in Berlin: weekdays 09:00-17:00, a holiday on Monday 26 October 2026, a
#: make-up Saturday on 31 October; the clocks go back on Sunday 25 October.
WORKSHOP = """\
name: workshop
ticket_timezone: Europe/Berlin
tiers: {standard: {}}
stages: [repair]
terminal_statuses: [resolved]
pausing_statuses: [waiting_customer]
calendars:
  workshop:
    timezone: Europe/Berlin
    hours: {mon-fri: ["09:00-17:00"]}
    holidays: [2026-10-26]
    working_days: [2026-10-31]
policies:
  - name: repair
    calendar: workshop
    targets: {repair: 40h}
    levels: [{name: reminder, at: 75%}, {name: late, at: 100%}]
rules:
  - name: late-repair
    when: {all: [{field: sla.policy, eq: repair}, {field: sla.level, eq: late}]}
    then: [{notify: [workshop-lead]}]
receivers:
  workshop-lead: {urls: ["console://workshop-lead"]}
"""

BIKE = {
    "id": "W-1",
    "tier": "standard",
    "status": "open",
    "created_at": "2026-10-22T10:00:00+02:00",
    "stage_history": [{"stage": "repair", "entered_at": "2026-10-22T10:00:00+02:00"}],
    "status_history": [
        {"status": "open", "at": "2026-10-22T10:00:00+02:00"},
        {"status": "waiting_customer", "at": "2026-10-23T11:00:00+02:00"},
        {"status": "open", "at": "2026-10-23T14:00:00+02:00"},
    ],
    "customer": "Fahrradladen Mitte",
}


@pytest.fixture
def workshop(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "workshop.yaml").write_text(WORKSHOP, encoding="utf-8")
    (tmp_path / "tickets.jsonl").write_text(json.dumps(BIKE) + "\n", encoding="utf-8")
    return str(tmp_path / "workshop.yaml"), str(tmp_path / "tickets.jsonl")


def test_explain_shows_the_weekend_the_holiday_the_make_up_day_the_pause_and_the_dst_change(workshop: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    rules, tickets = workshop
    assert main(["explain", "W-1", "--ruleset", rules, "--tickets", tickets, "--at", "2026-11-02T12:00:00"]) == EXIT_OK
    out = capsys.readouterr().out
    clock = out[out.index("SLA CLOCKS") : out.index("RULES")].splitlines()
    assert clock == [
        "SLA CLOCKS",
        "  repair: stage 'repair', tier standard, calendar workshop",
        "    target       40h",
        "    clock runs   Thu 2026-10-22 10:00 → now",
        "    paused       waiting_customer Fri 2026-10-23 11:00 → 14:00: cut out",
        "    counted      Thu 2026-10-22 10:00 → Fri 2026-10-23 11:00: 9h in 2 windows",
        "                   Thu 2026-10-22  10:00-17:00  7h",
        "                   Fri 2026-10-23  09:00-11:00  2h",
        "                 Fri 2026-10-23 14:00 → Mon 2026-11-02 12:00: 46h in 7 windows",
        "                   Fri 2026-10-23  14:00-17:00  3h",
        "                   Tue 2026-10-27  09:00-17:00  8h",
        "                   Wed 2026-10-28  09:00-17:00  8h",
        "                   Thu 2026-10-29  09:00-17:00  8h",
        "                   Fri 2026-10-30  09:00-17:00  8h",
        "                   Sat 2026-10-31  09:00-17:00  8h  (make-up working day)",
        "                   Mon 2026-11-02  09:00-12:00  3h",
        "                   holidays skipped: Mon 2026-10-26",
        "                   make-up working days counted: Sat 2026-10-31",
        "                   days off (no working hours): Sat 2026-10-24, Sun 2026-10-25, Sun 2026-11-01",
        "                   clocks changed at Sun 2026-10-25 02:00: UTC+02:00 → UTC+01:00",
        "    elapsed      55h of 40h (138%), 15h over",
        "    levels       reminder  at 30h      reached Thu 2026-10-29 11:00",  # 9h by Friday's pause, 3h after it, 8h a day from Tuesday
        "                 late      at 40h      reached Fri 2026-10-30 13:00",
        "    level now    late",
        "    due          Fri 2026-10-30 13:00",
        "",
    ]
    rules_section = out[out.index("RULES") : out.index("A RUN NOW")].splitlines()
    assert rules_section[1:5] == [
        "  late-repair: FIRED → notify workshop-lead",
        "      all of:                                 yes",
        "        sla.policy == 'repair'  saw 'repair'  yes",
        "        sla.level == 'late'     saw 'late'    yes",
    ]
    assert out[out.index("NOTIFICATIONS") :].splitlines()[1:4] == [
        "  W-1|repair|late|1  (escalation; the rule names workshop-lead)",
        "      → workshop-lead      via rule (group_by: -)",
        "      message to workshop-lead: '[late] W-1'",
    ]
    assert out.rstrip().endswith("STATE  not given (--state URL): the notifications above are what a first run would send")


def test_explain_json_is_the_same_explanation_for_tools(workshop: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    rules, tickets = workshop
    assert main(["explain", "W-1", "--ruleset", rules, "--tickets", tickets, "--at", "2026-11-02T12:00:00+01:00", "--format", "json"]) == EXIT_OK
    document = json.loads(capsys.readouterr().out)
    assert (document["ruleset"], document["at"], document["state"], document["state_url"]) == ("workshop", "2026-11-02T11:00:00+00:00", None, None)
    [policy] = document["policies"]
    clock = policy["clock"]
    assert clock["pauses"] == [{"status": "waiting_customer", "start": "2026-10-23T09:00:00+00:00", "end": "2026-10-23T12:00:00+00:00"}]
    assert [s["counted"] for s in clock["stretches"]] == ["9h", "46h"]
    second = clock["stretches"][1]
    assert (second["holidays_skipped"], second["make_up_days"], second["days_off"]) == (["2026-10-26"], ["2026-10-31"], ["2026-10-24", "2026-10-25", "2026-11-01"])
    assert second["dst_transitions"] == [{"at": "2026-10-25T01:00:00+00:00", "offset_before": "2h", "offset_after": "1h"}]
    assert [(w["day"], w["make_up"]) for w in second["windows"]][-2:] == [("2026-10-31", True), ("2026-11-02", False)]
    assert clock["levels"] == [
        {"level": "reminder", "threshold": "30h", "threshold_seconds": 108000.0, "at": "2026-10-29T10:00:00+00:00", "reached": True},
        {"level": "late", "threshold": "40h", "threshold_seconds": 144000.0, "at": "2026-10-30T12:00:00+00:00", "reached": True},
    ]
    assert clock["status"]["elapsed_seconds"] == 55 * 3600
    [rule] = document["rules"]
    assert rule["fired"] and rule["sees"] == "assigned"
    assert rule["evaluations"] == [
        {
            "policy": "repair",
            "held": True,
            "condition": {
                "all": [
                    {"test": "sla.policy == 'repair'", "field": "sla.policy", "seen": "repair", "held": True},
                    {"test": "sla.level == 'late'", "field": "sla.level", "seen": "late", "held": True},
                ],
                "held": True,
            },
        }
    ]
    [note] = document["notifications"]
    assert (note["key"], note["kind"], note["outcome"], [m["receiver"] for m in note["messages"]]) == ("W-1|repair|late|1", "escalation", None, ["workshop-lead"])
    assert [entry["kind"] for entry in document["run_would_record"]] == ["new", "entered", "notify"]


def test_explain_a_shipped_ticket_against_the_state_shows_what_was_sent_and_a_silence(state_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--ruleset", ENTERPRISE, "--tickets", ENTERPRISE_TICKETS, "--state", state_url, "--at", "2026-11-25T14:00:00+08:00", "--quiet"]) == EXIT_OK
    args = ["--state", state_url, "--at", "2026-11-25T14:35:00+08:00"]
    assert main(["silences", "add", "provider=partner-east", "--duration", "1h", "--comment", "partner-east on a drill", *args]) == EXIT_OK
    silence = capsys.readouterr().out.strip()

    assert main(["explain", "EC-1002", "--ruleset", ENTERPRISE, "--tickets", ENTERPRISE_TICKETS, *args]) == EXIT_OK
    out = capsys.readouterr().out
    tail = out[out.index("A RUN NOW WOULD RECORD") :].splitlines()
    assert tail == [
        "A RUN NOW WOULD RECORD  (against the stored state)",
        "  notify     response/red [response-red]: repeat #2 to command-center, partner-desk",
        "",
        "NOTIFICATIONS  (routing, silences, inhibition, active hours and grouping as delivery would apply them now; nothing is sent)",
        "  EC-1002|response|red|2  (repeat; the rule names command-center, partner-desk)",
        "      → command-center     via rule (group_by: provider, level)",
        "      → partner-desk       via rule (group_by: provider, level)",
        f"      SILENCED: silenced by {silence}: partner-east on a drill",
        "",
        f"STATE  ({tail[-4][8:-1]})",
        "  last seen    Wed 2026-11-25 14:00; levels resolution=ok, response=red; provider partner-east",
        "  escalation   response/red: open since Wed 2026-11-25 14:00; 1 notification, last sent Wed 2026-11-25 14:00 (reached command-center, partner-desk); next repeat due Wed 2026-11-25 14:30 (every 30m)",
        "  notified     EC-1002|response|red|1 (escalation, queued Wed 2026-11-25 14:00): sent Wed 2026-11-25 14:00 to command-center, partner-desk",
    ]
    assert "secret" not in out and "password" not in out

    assert main(["explain", "EC-1002", "--ruleset", ENTERPRISE, "--tickets", ENTERPRISE_TICKETS, *args, "--format", "json"]) == EXIT_OK
    document = json.loads(capsys.readouterr().out)
    [note] = document["notifications"]
    assert note["outcome"] == {"status": "silenced", "detail": f"silenced by {silence}: partner-east on a drill", "retry_at": None}
    [escalation] = document["state"]["escalations"]
    assert (escalation["next_repeat_at"], escalation["last_sent_at"], escalation["notified_to"]) == ("2026-11-25T06:30:00+00:00", "2026-11-25T06:00:00+00:00", ["command-center", "partner-desk"])
    assert [(o["key"], o["status"], o["sent_at"]) for o in document["state"]["outbox"]] == [("EC-1002|response|red|1", "sent", "2026-11-25T06:00:00+00:00")]


def test_explain_shows_route_rules_seeing_the_reported_ticket_and_the_assignment(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "RP-2005", "--ruleset", REPAIR, "--tickets", REPAIR_TICKETS, "--at", "2026-11-25T14:00:00+08:00"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "  provider     regional-central-station (routed by rule 'route-unassigned'; reported: none)" in out
    route = out[out.index("  route-unassigned:") :].splitlines()[:5]
    assert route == [
        "  route-unassigned: FIRED → route → regional-central-station",
        "      all of:                                            yes",
        "        provider is missing               saw missing    yes",
        "        stations[postal_code] is missing  saw missing    yes",   # no postal code: no station found
        "        region is present                 saw 'central'  yes",
    ]
    assert "  routed     [route-unassigned]: to 'regional-central-station'" in out


def test_explain_holds_a_notification_outside_the_receivers_active_hours(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "RP-2003", "--ruleset", REPAIR, "--tickets", REPAIR_TICKETS, "--at", "2026-11-25T07:00:00+08:00"]) == EXIT_OK
    out = capsys.readouterr().out
    assert out[out.index("NOTIFICATIONS") :].splitlines()[1:4] == [
        "  RP-2003|parts-delivery|reminder|1  (escalation; the rule names station)",
        "      → station            via rule (group_by: provider)",
        "      HELD until Wed 2026-11-25 08:30: outside the active hours of station",
    ]
    assert main(["explain", "RP-2003", "--ruleset", REPAIR, "--tickets", REPAIR_TICKETS, "--at", "2026-11-25T20:00:00+08:00"]) == EXIT_OK
    out = capsys.readouterr().out
    assert out[out.index("NOTIFICATIONS") :].splitlines()[1:8] == [
        "  RP-2003|parts-delivery|overdue|1  (escalation; the rule names parts-warehouse, station, service-manager)",
        "      → parts-warehouse    via rule (group_by: provider)",
        "      → station            via rule (group_by: provider)",
        "      → service-manager    via rule (group_by: provider)",
        "      message to parts-warehouse: '维修提醒 station-shenzhen-07：1 张工单'  (group provider=station-shenzhen-07)",
        "      message to service-manager: '[overdue] RP-2003 · station-shenzhen-07'  (group provider=station-shenzhen-07)",
        "      held for station until Thu 2026-11-26 08:30 (outside their active hours)",
    ]


RESOLUTION = """\
  - name: resolution
    clock: created
    target: 5h
    levels: [{name: late, at: 100%}]
rules:
  - name: resolution-late
    when: {all: [{field: sla.policy, eq: resolution}, {field: sla.level, eq: late}]}
    then: [{notify: [desk]}]
"""


def test_explain_inhibition_within_the_ticket_and_by_stored_escalations(state_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = RULESET_YAML.replace("rules:\n", RESOLUTION, 1) + "inhibit_rules:\n  - {source_match: {policy: response, level: red}, target_match: {policy: resolution}, equal: [ticket]}\n"
    (tmp_path / "cc.yaml").write_text(text, encoding="utf-8")
    write_tickets(tmp_path / "t.jsonl", [ticket("A")])
    args = ["--ruleset", str(tmp_path / "cc.yaml"), "--tickets", str(tmp_path / "t.jsonl")]
    assert main(["explain", "A", *args, "--at", at(4, 30).isoformat(), "--format", "json"]) == EXIT_OK
    outcomes = {n["key"]: n["outcome"] for n in json.loads(capsys.readouterr().out)["notifications"]}
    assert outcomes["A|response|red|1"] is None
    assert (outcomes["A|resolution|late|1"]["status"], outcomes["A|resolution|late|1"]["detail"][:34]) == ("inhibited", "inhibit_rules[0] by an alert with ")

    assert main(["run", *args, "--state", state_url, "--at", at(4).isoformat(), "--no-deliver", "--quiet"]) == EXIT_OK
    assert main(["explain", "A", *args, "--state", state_url, "--at", at(4, 30).isoformat()]) == EXIT_OK
    out = capsys.readouterr().out
    notifications = out[out.index("NOTIFICATIONS") : out.index("STATE")].splitlines()
    assert notifications[1:3] == ["  A|resolution|late|1  (escalation; the rule names desk)", "      → desk               via rule (group_by: -)"]
    assert notifications[3] == "      INHIBITED: inhibit_rules[0] by an alert with kind=escalation, level=red, policy=response, provider=partner-east, ticket=A"
    assert "  escalation   response/red: open since Wed 2026-11-25 12:00; 1 notification, none sent yet; A|response|red|1 in flight" in out
    assert "  notified     A|response|red|1 (escalation, queued Wed 2026-11-25 12:00): pending, not attempted yet (due Wed 2026-11-25 12:00)" in out


def test_explain_a_ticket_only_the_state_knows_and_one_nobody_knows(state_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "cc.yaml"
    rules.write_text(RULESET_YAML, encoding="utf-8")
    write_tickets(tmp_path / "before.jsonl", [ticket("A"), ticket("B")])
    write_tickets(tmp_path / "after.jsonl", [ticket("B")])
    assert main(["run", "--ruleset", str(rules), "--tickets", str(tmp_path / "before.jsonl"), "--state", state_url, "--at", at(3).isoformat(), "--quiet", "--no-deliver"]) == EXIT_OK
    args = ["--ruleset", str(rules), "--tickets", str(tmp_path / "after.jsonl"), "--at", at(4).isoformat()]
    assert main(["explain", "A", *args, "--state", state_url]) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.err.startswith(f"note: A is not in {tmp_path / 'after.jsonl'}: explained as the state last saw it")
    assert "  notify     response/red [red-center]: escalation #1 to center, desk" in captured.out
    assert main(["explain", "Z", *args, "--state", state_url]) == EXIT_INVALID
    assert capsys.readouterr().err == f"error: ticket Z is not in {tmp_path / 'after.jsonl'} nor in the state\n"
    assert main(["explain", "A", *args]) == EXIT_INVALID


def test_explain_ticket_without_a_pipeline_for_a_closed_ticket_and_with_a_naive_instant() -> None:
    ruleset = parse_ruleset(RULESET_YAML, "cc.yaml")
    engine = Engine(ruleset, "python")
    first = explain_ticket(engine, ticket("A"), at(4))
    assert [t.kind for t in first.transitions] == ["new", "entered", "notify", "tagged"]
    assert first.notifications[0].messages == () and first.notifications[0].outcome is None  # no pipeline: no delivery plan
    closed = explain_ticket(engine, ticket("A", status="resolved"), at(4), state=StoredState(None))
    assert closed.terminal and closed.rules == () and all(p.no_clock and "terminal" in p.no_clock for p in closed.policies)
    with pytest.raises(ValueError):
        explain_ticket(engine, ticket("A"), datetime(2026, 11, 25, 12, 0))
    assert explain_ticket(engine, ticket("A"), datetime(2026, 11, 25, 20, 0, tzinfo=timezone(timedelta(hours=8)))).now == at(4)


def test_explain_names_the_route_conflict_and_a_paused_clocks_levels() -> None:
    text = RULESET_YAML.replace(
        "receivers:\n",
        "  - name: route-north-too\n    when: {all: [{field: provider, present: false}, {field: region, eq: north}]}\n    then: [{route: {provider: partner-b}}]\nreceivers:\n",
        1,
    )
    engine = Engine(parse_ruleset(text, "cc.yaml"), "python")
    paused = [{"status": "open", "at": at(-1).isoformat()}, {"status": "waiting_customer", "at": at(1).isoformat()}]
    found = explain_ticket(engine, ticket("C", provider=None, region="north", status="waiting_customer", status_history=paused), at(4))
    lines = list(explanation_lines(found, timezone.utc))
    assert lines[2:4] == [
        "  provider     partner-north (routed by rule 'route-north'; reported: none)",
        "  conflict     rule 'route-north-too' routes to 'partner-b', but rule 'route-north' (earlier in the ruleset) assigned 'partner-north'",
    ]
    clock = lines[lines.index("SLA CLOCKS") + 1 : lines.index("SLA CLOCKS") + 11]
    assert clock[3] == "    paused       waiting_customer Wed 2026-11-25 09:00 → now: cut out (still paused)"
    assert clock[5:] == [
        "    elapsed      1h of 4h (25%), 3h left (paused now)",
        "    levels       yellow    at 3h       due     when the clock resumes",
        "                 red       at 4h       due     when the clock resumes",
        "                 escalate  at 6h       due     when the clock resumes",
        "    level now    below the first level; next: yellow when the clock resumes",
    ]
    assert [rule.sees for rule in found.rules if rule.rule.startswith("route-")] == ["reported", "reported"]


def test_explain_with_the_state_keeps_the_provider_a_run_assigned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Least-open dispatch gave the second north request partner-north-2 (partner-north had
    one open); explained alone from empty loads it would get partner-north. With the state,
    explain shows the assignment the runs made and that it stands."""
    from tests.dispatch.helpers import dispatch_ruleset
    from tests.dispatch.test_decide import DAY
    from tests.dispatch.test_decide import ticket as north_ticket

    rules = tmp_path / "dispatch.yaml"
    rules.write_text(dispatch_ruleset(), encoding="utf-8")
    feed = tmp_path / "tickets.jsonl"
    feed.write_text("".join(north_ticket(name, at=DAY + timedelta(minutes=minute)).model_dump_json() + "\n" for minute, name in enumerate(("A", "B"))), encoding="utf-8")
    state = f"sqlite:///{tmp_path / 'state.db'}"
    moment = (DAY + timedelta(minutes=5)).isoformat()
    assert main(["run", "--ruleset", str(rules), "--tickets", str(feed), "--state", state, "--at", moment, "--no-deliver", "-q"]) == EXIT_OK
    capsys.readouterr()
    later = (DAY + timedelta(minutes=20)).isoformat()
    assert main(["explain", "B", "--ruleset", str(rules), "--tickets", str(feed), "--state", state, "--at", later, "--format", "json"]) == EXIT_OK
    explained = json.loads(capsys.readouterr().out)
    assert explained["ticket"]["provider"] == "partner-north-2"
    assert "assigned to 'partner-north-2' at an earlier run; its dispatch facts are unchanged" in json.dumps(explained)
    assert main(["explain", "B", "--ruleset", str(rules), "--tickets", str(feed), "--at", later, "--format", "json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["ticket"]["provider"] == "partner-north"
