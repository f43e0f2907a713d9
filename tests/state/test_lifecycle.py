"""The pure escalation lifecycle, without a database: its own output diffs to nothing, the
less common decisions (receiver repeats, notify below every level) follow the rules, the
assigned provider flows into what it records and sends, resolved notifications go once to
those who take them, and nothing but the route tie-break depends on rule order."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from random import Random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spm_rules.engine import Engine
from spm_rules.ruleset.loader import parse_ruleset
from spm_rules.state.lifecycle import Lifecycle, TicketPlan, ticket_labels
from spm_rules.state.records import Escalation, EscalationKey, TicketState
from spm_rules.tickets import Ticket
from tests.state.helpers import RULESET_YAML, at, ticket
from tests.strategies import ORDER_NOW, order_rulesets, order_tickets

#: cc-test plus a rule that pages half-way to the target, below every level.
PAGER = RULESET_YAML.replace(
    "receivers:\n",
    """\
  - name: half-way
    when: {all: [{field: sla.share, gte: 50}, {field: sla.share, lt: 75}]}
    then: [{notify: [pager]}]
receivers:
  pager: {urls: ["json://127.0.0.1:9/pager"]}
""",
)


class Memory:
    """A ticket's state and escalation records kept in memory, written the way the store writes them."""

    def __init__(self, text: str = RULESET_YAML) -> None:
        self.ruleset = parse_ruleset(text, "memory.yaml")
        self.engine = Engine(self.ruleset)
        self.lifecycle = Lifecycle(self.ruleset)
        self.state: TicketState | None = None
        self.records: dict[EscalationKey, Escalation] = {}

    def step(self, item: Ticket, now: datetime, *, sent: bool = True) -> TicketPlan:
        (result,) = self.engine.evaluate([item], now)
        plan = self.lifecycle.plan(result, self.state, self.records, now)
        self.state = plan.ticket
        self.records.update({esc.key: esc for esc in plan.escalations})
        if sent:
            for out in plan.outgoing:
                if out.notification.kind == "resolved":
                    continue
                key = (out.policy or "", out.level or "")
                esc = self.records[key]
                told = esc.notified_to + tuple(name for name in out.notification.receivers if name not in esc.notified_to)
                self.records[key] = replace(
                    esc, pending_key=None, repeat_from=now, last_notified_at=now, notified_at=esc.notified_at or now, notified_to=told
                )
        return plan


def test_a_plan_applied_to_its_own_output_is_empty() -> None:
    memory = Memory()
    for now in (at(1), at(3), at(4), at(6), at(6, 10)):
        first = memory.step(ticket("A"), now)
        again = memory.step(ticket("A"), now)
        assert (again.ticket_changed, again.escalations, again.transitions, again.outgoing) == (False, (), (), ()), now
        # The row keeps the instant of the last run that changed it.
        assert first.ticket.last_seen_at == (now if first.ticket_changed else at(6)), now
    assert not first.ticket_changed, "nothing changes between 6:00 and 6:10"


def test_the_next_change_is_the_next_level_and_none_once_closed() -> None:
    memory = Memory()
    assert memory.step(ticket("A"), at(1)).ticket.next_change_at == at(3)  # yellow at 75 % of 4 h
    assert memory.step(ticket("A"), at(3, 30)).ticket.next_change_at == at(4)  # red at 100 %
    assert memory.step(ticket("A", status="resolved"), at(5)).ticket.next_change_at is None


def test_a_notify_rule_below_every_level_is_tracked_as_its_own_escalation() -> None:
    memory = Memory(PAGER)
    plan = memory.step(ticket("A"), at(2, 30))  # 62.5 % of 4h, below yellow
    assert [(o.policy, o.level, o.notification.key, o.notification.receivers) for o in plan.outgoing] == [
        ("response", "rule:half-way", "A|response|rule:half-way|1", ("pager",))
    ]
    assert [(t.kind, t.level) for t in plan.transitions if t.kind in ("entered", "left")] == [("entered", "rule:half-way")]
    later = memory.step(ticket("A"), at(3))  # yellow: the rule stops firing
    assert ("left", "rule:half-way", "the rule no longer fires") in [(t.kind, t.level, t.detail) for t in later.transitions]


def test_a_receivers_own_repeat_applies_even_when_the_rule_declares_none() -> None:
    memory = Memory(PAGER.replace('  desk: {urls: ["json://127.0.0.1:9/desk"]}', '  desk: {urls: ["json://127.0.0.1:9/desk"], repeat: 20m}'))
    got = []
    for minutes in (180, 190, 200, 210, 220):
        got += [(minutes - 180, o.notification.key, o.notification.kind, o.notification.receivers) for o in memory.step(ticket("A"), at(minutes=minutes)).outgoing]
    assert got == [
        (0, "A|response|yellow|1", "escalation", ("desk",)),
        (20, "A|response|yellow|2", "repeat", ("desk",)),
        (40, "A|response|yellow|3", "repeat", ("desk",)),
    ]


def test_escalate_decisions_are_recorded_once_per_episode_and_notifications_carry_labels() -> None:
    memory = Memory()
    plan = memory.step(ticket("A", region="north", customer="Grid"), at(6))
    escalated = [t for t in plan.transitions if t.kind == "escalated"]
    assert [(t.level, t.rule, t.detail) for t in escalated] == [("escalate", "escalate-duty", "to partner-manager (level L2)")]
    (out,) = plan.outgoing
    labels = out.notification.labels
    assert (labels["level"], labels["policy"], labels["rule"], labels["region"], labels["customer"], labels["stage"]) == ("escalate", "response", "escalate-duty", "north", "Grid", "dispatched")
    assert out.notification.payload["urgent"] is True and out.notification.payload["escalated_to"] == "partner-manager"
    assert memory.step(ticket("A", region="north", customer="Grid"), at(6, 30)).transitions == ()
    assert ticket_labels(ticket("A", vip=True).fact())["vip"] == "true"



def _routed(plan: TicketPlan) -> list[tuple[str | None, str]]:
    return [(t.rule, t.detail.split(": ")[0]) for t in plan.transitions if t.kind == "routed"]


def test_routing_is_recorded_when_the_assignment_changes_and_notifications_carry_the_assigned_provider() -> None:
    memory = Memory()
    unassigned = dict(provider=None, region="north", customer="Grid")
    red = memory.step(ticket("D", **unassigned), at(4))
    assert _routed(red) == [("route-north", "to 'partner-north'")]
    state = memory.state
    assert (state.provider, state.routed_to, state.assigned_provider) == (None, "partner-north", "partner-north")
    (out,) = red.outgoing
    assert out.notification.labels["provider"] == "partner-north" and "provider_reported" not in out.notification.labels
    assert (out.notification.payload["ticket"]["provider"], out.notification.payload["ticket"]["provider_reported"]) == ("partner-north", None)
    assert _routed(memory.step(ticket("D", **unassigned), at(4, 10))) == []  # the dispatch rule keeps firing: nothing new

    # The ticket system takes the assignment over: recorded on the reported provider; no route applies any more.
    taken = memory.step(ticket("D", **dict(unassigned, provider="partner-north")), at(4, 20))
    assert _routed(taken) == [(None, "provider 'partner-north' set in the ticket system")]
    assert (memory.state.provider, memory.state.routed_to, memory.state.assigned_provider) == ("partner-north", None, "partner-north")
    moved = memory.step(ticket("D", **dict(unassigned, provider="partner-east")), at(4, 30))
    assert _routed(moved) == [(None, "provider 'partner-east' set in the ticket system")]

    # Unassigned again and routed; then no route rule applies (the region changed): the reported provider is back.
    assert _routed(memory.step(ticket("D", **unassigned), at(4, 40))) == [("route-north", "to 'partner-north'")]
    south = memory.step(ticket("D", **dict(unassigned, region="south")), at(4, 50))
    assert _routed(south) == [(None, "no route rule assigns it any more")]
    assert memory.state.assigned_provider is None


def test_the_state_keeps_the_ticket_as_its_source_reported_it() -> None:
    """``facts`` is the reported ticket (histories, extra fields, no provider when the
    ticket system had none), not the routed one: reports re-read it from the state alone."""
    memory = Memory()
    reported = ticket("D", provider=None, region="north", customer="Grid", fault="fan alarm")
    memory.step(reported, at(4))
    state = memory.state
    assert state.routed_to == "partner-north" and state.facts is not None
    assert state.facts["provider"] is None and state.facts["fault"] == "fan alarm"
    assert Ticket.model_validate(state.facts) == reported


SEND_RESOLVED = RULESET_YAML.replace('  center: {urls: ["json://127.0.0.1:9/center"]}', '  center: {urls: ["json://127.0.0.1:9/center"], send_resolved: true}')


def test_a_closing_escalation_tells_once_the_receivers_that_take_resolved_and_were_told() -> None:
    memory = Memory(SEND_RESOLVED)
    unassigned = dict(provider=None, region="north")
    memory.step(ticket("D", **unassigned), at(3))  # yellow: desk only, which takes no resolved notifications
    red = memory.step(ticket("D", **unassigned), at(4))  # red: center and desk
    assert [o.notification.kind for o in red.outgoing] == ["escalation"]
    assert [o.notification.key for o in memory.step(ticket("D", **unassigned), at(4, 5)).outgoing] == []
    closed = memory.step(ticket("D", status="resolved", **unassigned), at(4, 10))
    (resolved,) = [o.notification for o in closed.outgoing]
    assert (resolved.key, resolved.kind, resolved.receivers) == ("D|response|red|1|resolved", "resolved", ("center",))
    # Labelled as the firing notifications were (the closed ticket keeps its assigned provider), never urgent.
    firing = {"id": "D", "policy": "response", "level": "red", "stage": "dispatched", "provider": "partner-north"}
    assert {name: resolved.labels.get(name) for name in firing} == firing
    assert resolved.payload["why"] == ["red is over: ticket closed (status 'resolved')"] and resolved.payload["urgent"] is False
    assert ("notify", "resolved to center") in [(t.kind, t.detail) for t in closed.transitions]
    assert memory.step(ticket("D", status="resolved", **unassigned), at(4, 20)).outgoing == ()


@pytest.mark.parametrize(
    ("sent", "later", "expected"),
    [
        (True, at(6), ["A|response|red|1|resolved"]),  # red → escalate: red is over
        (False, at(6), []),  # the red notification never reached anyone
        (True, at(4, 30), []),  # still red
    ],
)
def test_only_an_escalation_that_notified_someone_resolves(sent: bool, later: datetime, expected: list[str]) -> None:
    memory = Memory(SEND_RESOLVED)
    memory.step(ticket("A"), at(4), sent=sent)
    plan = memory.step(ticket("A"), later)
    assert [o.notification.key for o in plan.outgoing if o.notification.kind == "resolved"] == expected


def _plans_without_route_tie_break(text: str, tickets: list[Ticket]) -> list[tuple[object, ...]]:
    """Every plan of two steps (an hour apart) per ticket, with the routed entries' rule and reason left out."""
    found: list[tuple[object, ...]] = []
    for item in tickets:
        memory = Memory(text)
        for now in (ORDER_NOW, ORDER_NOW + timedelta(hours=1)):
            plan = memory.step(item, now)
            transitions = [replace(t, rule=None, detail="") if t.kind == "routed" else t for t in plan.transitions]
            found.append((plan.ticket, plan.escalations, transitions, [o.notification for o in plan.outgoing]))
    return found


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(data=order_rulesets(conflicts=False), tickets=order_tickets(), shuffle=st.randoms(use_true_random=False))
def test_plans_do_not_depend_on_rule_order(data: dict, tickets: list[Ticket], shuffle: Random) -> None:
    permuted = dict(data, rules=shuffle.sample(data["rules"], len(data["rules"])))
    assert _plans_without_route_tie_break(json.dumps(data), tickets) == _plans_without_route_tie_break(json.dumps(permuted), tickets)
