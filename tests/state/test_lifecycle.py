"""The pure escalation lifecycle, without a database: its own output diffs to nothing, and
the less common decisions (receiver repeats, notify below every level) follow the rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from spm_rules.engine import Engine
from spm_rules.ruleset.loader import parse_ruleset
from spm_rules.state.lifecycle import Lifecycle, TicketPlan, ticket_labels
from spm_rules.state.records import Escalation, EscalationKey, TicketState
from spm_rules.tickets import Ticket
from tests.state.helpers import RULESET_YAML, at, ticket

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
                key = (out.policy or "", out.level or "")
                esc = self.records[key]
                self.records[key] = replace(esc, pending_key=None, repeat_from=now, last_notified_at=now, notified_at=esc.notified_at or now)
        return plan


def test_a_plan_applied_to_its_own_output_is_empty() -> None:
    memory = Memory()
    for now in (at(1), at(3), at(4), at(6), at(6, 10)):
        first = memory.step(ticket("A"), now)
        again = memory.step(ticket("A"), now)
        assert (again.ticket_changed, again.escalations, again.transitions, again.outgoing) == (False, (), (), ()), now
        assert first.ticket.last_seen_at == now


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
    assert ticket_labels(ticket("A", vip=True))["vip"] == "true"

