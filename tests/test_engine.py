"""The engine: statuses and decisions per ticket, on both shipped rulesets, pure and streaming."""

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from random import Random
from typing import Iterable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spm_rules.engine import BATCH_SIZE, Decision, Engine, RouteConflict, TicketResult, evaluate
from spm_rules.match import durable_available
from spm_rules.ruleset.loader import load_ruleset, parse_ruleset
from spm_rules.sources.files import read_tickets
from spm_rules.tickets import Ticket
from tests.strategies import ORDER_NOW, order_rulesets, order_tickets

ROOT = Path(__file__).resolve().parents[1]
AT = datetime(2026, 11, 25, 14, 0, tzinfo=timezone(timedelta(hours=8)))
MATCHERS = ["python"] + (["durable"] if durable_available() else [])


def enterprise():
    ruleset = load_ruleset(ROOT / "rulesets" / "enterprise-command-center.yaml")
    tickets, problems = read_tickets([ROOT / "examples" / "enterprise-tickets.jsonl"], ruleset.ticket_timezone)
    assert problems == []
    return ruleset, tickets


@pytest.mark.parametrize("matcher", MATCHERS)
def test_enterprise_example_at_fixed_instant(matcher: str) -> None:
    ruleset, tickets = enterprise()
    results = {r.ticket.id: r for r in Engine(ruleset, matcher).evaluate(tickets, AT)}
    response = {tid: next((s for s in r.statuses if s.policy == "response"), None) for tid, r in results.items()}
    # EC-1002: P4 dispatched 10:00, at 14:00 exactly 4h used: red.
    assert response["EC-1002"].level == "red" and response["EC-1002"].remaining == timedelta(0)
    # EC-1001: P2 dispatched 08:20, 5h40m used: 3h40m past due, beyond escalate (after_due 2h).
    assert response["EC-1001"].level == "escalate"
    # EC-1004: P6 dispatched 12:10: 1h50m of 6h, below yellow; yellow at 4h30m = 16:40 local.
    assert response["EC-1004"].level is None
    assert response["EC-1004"].next_change_at == datetime(2026, 11, 25, 8, 40, tzinfo=timezone.utc)
    # EC-1007 has waited for the customer since 09:00 (50 minutes used): paused, below yellow.
    assert response["EC-1007"].paused and response["EC-1007"].elapsed == timedelta(minutes=50)
    # EC-1008 is on site and EC-1009 was solved on the first call: no response clock.
    assert response["EC-1008"] is None and results["EC-1009"].statuses == ()

    actions = {tid: {(d.rule, d.action) for d in r.decisions} for tid, r in results.items()}
    assert ("response-red", "notify") in actions["EC-1002"] and ("response-red", "tag") in actions["EC-1002"]
    assert ("response-escalate", "escalate") in actions["EC-1001"]
    assert ("dispatch-request", "route") in actions["EC-1005"] and results["EC-1005"].ticket.provider == "maker-engineers"
    assert ("dispatch-request", "route") in actions["EC-1006"] and results["EC-1006"].ticket.provider == "partner-north"
    assert actions["EC-1009"] == set()
    red = next(d for d in results["EC-1002"].decisions if d.action == "notify")
    assert red.arguments == {"receivers": ["command-center", "partner-desk"], "repeat": "30m"}
    assert red.policy == "response" and red.level == "red"
    assert "sla.level == 'red' [sla.level='red': yes]" in red.why


def test_both_matchers_decide_the_same_on_shipped_rulesets() -> None:
    if len(MATCHERS) < 2:
        pytest.skip("durable_rules is not importable on this Python")
    for name, examples in (("enterprise-command-center", "enterprise-tickets"), ("repair-network", "repair-tickets")):
        ruleset = load_ruleset(ROOT / "rulesets" / f"{name}.yaml")
        tickets, _ = read_tickets([ROOT / "examples" / f"{examples}.jsonl"], ruleset.ticket_timezone)
        for hours in range(0, 72, 3):
            now = AT + timedelta(hours=hours)
            by = {m: [[d.to_json() for d in r.decisions] for r in Engine(ruleset, m).evaluate(tickets, now)] for m in MATCHERS}
            assert by["python"] == by["durable"], (name, hours)


def test_repair_network_stages_and_reopen() -> None:
    ruleset = load_ruleset(ROOT / "rulesets" / "repair-network.yaml")
    tickets, _ = read_tickets([ROOT / "examples" / "repair-tickets.jsonl"], ruleset.ticket_timezone)
    results = {r.ticket.id: r for r in evaluate(ruleset, tickets, AT, matcher="python")}
    stage = {tid: next((s for s in r.statuses if s.policy == "stage-targets"), None) for tid, r in results.items()}
    # RP-2002: key account in request since 08:00 (2h target): 6h used = 300 %, escalate.
    assert stage["RP-2002"].level == "escalate"
    assert ("stage-escalate", "escalate") in {(d.rule, d.action) for d in results["RP-2002"].decisions}
    # RP-2007 re-entered repair; reopen: continue adds its first repair visit (6h) to today's 5h.
    assert stage["RP-2007"].stage == "repair" and stage["RP-2007"].elapsed == timedelta(hours=11)
    # RP-2005 has no station yet: routed to its region's central station.
    assert ("route-unassigned", "route") in {(d.rule, d.action) for d in results["RP-2005"].decisions}
    # RP-2008 is resolved: closed loop, no clock.
    assert results["RP-2008"].statuses == ()


def test_evaluate_is_pure_and_repeatable() -> None:
    ruleset, tickets = enterprise()
    engine = Engine(ruleset, "python")
    first = [r.to_json() for r in engine.evaluate(tickets, AT)]
    second = [r.to_json() for r in engine.evaluate(iter(tickets), AT)]
    assert first == second


def test_streams_in_bounded_batches() -> None:
    ruleset, tickets = enterprise()
    template = tickets[0]
    consumed = 0

    def generate():
        nonlocal consumed
        for index in range(BATCH_SIZE * 3):
            consumed += 1
            yield template.model_copy(update={"id": f"G-{index}"})

    stream = Engine(ruleset, "python").evaluate(generate(), AT)
    first = next(stream)
    assert first.ticket.id == "G-0"
    assert consumed == BATCH_SIZE  # only the first batch was read
    assert sum(1 for _ in stream) == BATCH_SIZE * 3 - 1


def test_naive_now_is_refused() -> None:
    ruleset, tickets = enterprise()
    with pytest.raises(ValueError):
        list(Engine(ruleset, "python").evaluate(tickets, datetime(2026, 11, 25, 14)))


def test_calendar_chosen_by_ticket_field() -> None:
    ruleset = parse_ruleset(
        """
name: by-region
tiers: {std: {}}
stages: [open]
terminal_statuses: [done]
calendars:
  office: {timezone: UTC, hours: {mon-fri: ["09:00-17:00"]}}
policies:
  - name: p
    calendar: {field: region, map: {emea: office}, default: 24x7}
    targets: {open: 8h}
    levels: [{name: red, at: 100%}]
""",
        "by-region.yaml",
    )
    start = datetime(2026, 11, 27, 16, 0, tzinfo=timezone.utc)  # a Friday
    tickets = [
        Ticket(id=region, tier="std", status="new", region=region, created_at=start, stage_history=[{"stage": "open", "entered_at": start}])
        for region in ("emea", "apac")
    ]
    results = {r.ticket.id: r.statuses[0] for r in Engine(ruleset, "python").evaluate(tickets, start + timedelta(hours=2))}
    assert results["emea"].calendar == "office" and results["emea"].elapsed == timedelta(hours=1)
    # Friday 16-17 counts 1h; the other 7h run Monday 09:00-16:00.
    assert results["emea"].due_at == datetime(2026, 11, 30, 16, 0, tzinfo=timezone.utc)
    assert results["apac"].calendar == "24x7" and results["apac"].elapsed == timedelta(hours=2)


def test_explain_names_windows_holidays_make_up_days_and_pauses() -> None:
    ruleset = parse_ruleset(
        """
name: explained
tiers: {std: {}}
stages: [repair]
terminal_statuses: [done]
pausing_statuses: [waiting_customer]
calendars:
  cn-station:
    timezone: Asia/Shanghai
    hours: {mon-fri: ["09:00-18:00"]}
    holidays: [{from: 2026-10-01, to: 2026-10-07}]
    working_days: [2026-10-10]
policies:
  - name: p
    calendar: cn-station
    targets: {repair: 2d}
    levels: [{name: red, at: 100%}]
""",
        "explained.yaml",
    )
    start = datetime(2026, 9, 30, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    ticket = Ticket(
        id="X",
        tier="std",
        status="open",
        created_at=start,
        stage_history=[{"stage": "repair", "entered_at": start}],
        status_history=[{"status": "open", "at": start}, {"status": "waiting_customer", "at": start + timedelta(hours=2)}, {"status": "open", "at": start + timedelta(hours=4)}],
    )
    now = datetime(2026, 10, 12, 12, 0, tzinfo=timezone(timedelta(hours=8)))
    lines = Engine(ruleset, "python").explain(ticket, now)["p"]
    text = "\n".join(lines)
    assert "paused in 'waiting_customer'" in text
    assert "holidays skipped: 2026-10-01" in text and "2026-10-07" in text
    assert "make-up working days: 2026-10-10" in text
    # 30 Sep: 9h less the 2h pause; 1-7 Oct skipped; 8 and 9 Oct: 9h each; the make-up
    # Saturday 10 Oct: 9h; Sunday nothing; Monday 12 Oct 09:00-12:00: 3h.
    status = next(iter(Engine(ruleset, "python").evaluate([ticket], now))).statuses[0]
    assert status.elapsed == timedelta(hours=37)


#: A small ruleset's head: one tier with a 4 h response, one stage, the response policy
#: (its levels follow).
SMALL_HEAD = """
name: small
tiers: {P4: {response: 4h}}
stages: [dispatched]
terminal_statuses: [resolved]
policies:
  - name: response
    targets: {dispatched: response}
"""


def _five_hours_in(text: str, **fields: object) -> TicketResult:
    """The result of one P4 ticket, dispatched five hours ago (one hour past its target)."""
    start = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)
    item = Ticket(id="R", tier="P4", status="open", created_at=start, stage_history=[{"stage": "dispatched", "entered_at": start}], **fields)
    (result,) = Engine(parse_ruleset(text, "small.yaml"), "python").evaluate([item], start + timedelta(hours=5))
    return result


ORDER_YAML = SMALL_HEAD + """\
    levels: [{name: breach, at: 100%}]
rules:
  - {name: vip, when: {field: vip, eq: true}, then: [{tag: vip}]}
  - {name: breach, when: {field: sla.level, eq: breach}, then: [{tag: late}]}
"""


@pytest.mark.parametrize("swap", [False, True], ids=["ticket-rule-first", "sla-rule-first"])
def test_a_rule_reading_no_sla_field_leaves_later_rules_their_policy_and_level(swap: bool) -> None:
    text = ORDER_YAML
    if swap:
        vip, breach = (line for line in text.splitlines() if line.startswith("  - {name:"))
        text = text.replace(vip + "\n" + breach, breach + "\n" + vip)
    by_rule = {d.rule: (d.policy, d.level) for d in _five_hours_in(text, vip=True).decisions}
    assert by_rule == {"vip": (None, None), "breach": ("response", "breach")}


# -- rule order: only the route tie-break may depend on it -------------------------------

def _decision_multiset(decisions: Iterable[Decision]) -> Counter:
    return Counter((d.rule, d.action, d.policy, d.stage, d.level, json.dumps(d.arguments, sort_keys=True), d.why) for d in decisions)


@settings(deadline=None, max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(data=order_rulesets(), tickets=order_tickets(), shuffle=st.randoms(use_true_random=False))
def test_decisions_do_not_depend_on_rule_order_except_which_route_wins(data: dict, tickets: list[Ticket], shuffle: Random) -> None:
    permuted = dict(data, rules=shuffle.sample(data["rules"], len(data["rules"])))
    before = evaluate(parse_ruleset(json.dumps(data), "order.yaml"), tickets, ORDER_NOW, matcher="python")
    after = evaluate(parse_ruleset(json.dumps(permuted), "order.yaml"), tickets, ORDER_NOW, matcher="python")
    routing = {rule["name"] for rule in data["rules"] if any("route" in action for action in rule["then"])}
    position = {rule["name"]: index for index, rule in enumerate(permuted["rules"])}
    for one, other in zip(before, after):
        # Route rules see the ticket as reported: their decisions never depend on the winner.
        assert _decision_multiset(d for d in one.decisions if d.rule in routing) == _decision_multiset(d for d in other.decisions if d.rule in routing)
        candidates = {(d.rule, d.arguments["provider"]) for d in one.decisions if d.action == "route"}
        routes = [d for d in other.decisions if d.action == "route"]
        if routes:
            # The first route decision in ruleset order wins; every route elsewhere is a reported conflict.
            winner = min(routes, key=lambda d: position[d.rule])
            assert (other.route.rule, other.route.arguments) == (winner.rule, winner.arguments)
            assert other.ticket.provider == winner.arguments["provider"]
            lost = {(c.rule, c.provider) for c in other.route_conflicts}
            assert lost == {(rule, provider) for rule, provider in candidates if provider != other.ticket.provider}
        else:
            assert other.route is None and other.route_conflicts == () and other.ticket.provider == other.provider_reported
        assert other.provider_reported == next(t.provider for t in tickets if t.id == other.ticket.id)
        if one.ticket.provider == other.ticket.provider:
            # The same assignment: every decision and status is the same, whatever the order.
            assert _decision_multiset(one.decisions) == _decision_multiset(other.decisions)
            assert one.statuses == other.statuses and one.ticket == other.ticket


# -- routing: the decision is what every later rule and policy sees ----------------------

ROUTING_YAML = SMALL_HEAD + """\
    levels: [{name: red, at: 100%}]
  - name: partner-a-care
    applies_to: {field: provider, eq: partner-a}
    targets: {dispatched: 1h}
    levels: [{name: late, at: 100%}]
rules:
  - name: dispatch-a
    when: {field: provider, present: false}
    then: [{route: {provider: partner-a}}]
  - name: east-to-b
    when: {field: region, eq: east}
    then: [{route: {provider: partner-b}}]
  - name: tell-partner-a
    when: {all: [{field: provider, eq: partner-a}, {field: sla.level, eq: red}]}
    then: [{notify: [desk]}]
receivers:
  desk: {urls: ["console://desk"]}
"""


def test_the_first_route_in_ruleset_order_assigns_the_provider_every_other_rule_and_policy_sees() -> None:
    result = _five_hours_in(ROUTING_YAML, region="east")
    assert (result.ticket.provider, result.provider_reported, result.route.rule) == ("partner-a", None, "dispatch-a")
    assert result.fact()["provider_reported"] is None and result.reported.provider is None
    # The losing route is kept as a decision and reported, not dropped.
    assert result.route_conflicts == (RouteConflict("east-to-b", "partner-b", "dispatch-a", "partner-a"),)
    assert [d.rule for d in result.decisions] == ["dispatch-a", "east-to-b", "tell-partner-a"]
    # partner-a's own policy measures the routed ticket; the notify rule sees partner-a.
    assert {s.policy: s.level for s in result.statuses} == {"response": "red", "partner-a-care": "late"}
    json_form = result.to_json()
    assert (json_form["provider"], json_form["provider_reported"], json_form["routed_by"]) == ("partner-a", None, "dispatch-a")
    assert json_form["route_conflicts"] == [{"rule": "east-to-b", "provider": "partner-b", "assigned_by": "dispatch-a", "assigned": "partner-a"}]


def test_the_route_tie_break_follows_rule_order_and_so_does_what_depends_on_it() -> None:
    dispatch = "  - name: dispatch-a\n    when: {field: provider, present: false}\n    then: [{route: {provider: partner-a}}]\n"
    east = "  - name: east-to-b\n    when: {field: region, eq: east}\n    then: [{route: {provider: partner-b}}]\n"
    text = ROUTING_YAML.replace(dispatch + east, east + dispatch)
    assert text != ROUTING_YAML
    result = _five_hours_in(text, region="east")
    assert (result.ticket.provider, result.route.rule) == ("partner-b", "east-to-b")
    assert result.route_conflicts == (RouteConflict("dispatch-a", "partner-a", "east-to-b", "partner-b"),)
    assert {s.policy for s in result.statuses} == {"response"} and "tell-partner-a" not in {d.rule for d in result.decisions}


@pytest.mark.parametrize(
    ("fields", "assigned", "routed_by"),
    [
        ({"region": "west"}, "partner-a", "dispatch-a"),  # unassigned: dispatched
        ({"region": "west", "provider": "partner-a"}, "partner-a", None),  # assigned in the ticket system: no route fires
        ({"region": "east", "provider": "partner-a"}, "partner-b", "east-to-b"),  # a route decision wins over the reported provider
    ],
)
def test_route_rules_see_the_ticket_as_reported(fields: dict, assigned: str, routed_by: str | None) -> None:
    result = _five_hours_in(ROUTING_YAML, **fields)
    assert result.ticket.provider == assigned and result.provider_reported == fields.get("provider")
    assert (result.route.rule if result.route else None) == routed_by
    assert ("tell-partner-a" in {d.rule for d in result.decisions}) is (assigned == "partner-a")
