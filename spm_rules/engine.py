"""Evaluation: tickets and an instant in, SLA statuses and rule decisions out.

``Engine(ruleset).evaluate(tickets, now)`` is the pure core of spm-rules: it reads no
clock and does no I/O.  It streams: tickets are consumed and results yielded in bounded
batches, so a million open tickets never sit in memory at once.

For each open ticket the engine computes one SLA status per applicable policy, builds one
fact per status (the ticket's fields plus ``sla.*``; a ticket with no status gives one
fact of its own fields), runs every enabled rule over the facts, and turns each match into
decisions that carry their reason.  A rule that reads no ``sla.*`` field decides once per
ticket.  A ticket in a terminal status has left the loop: no clock, no decisions (closing
its escalations is the stateful run's job).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

from .batches import batched
from .clock.calendar import Calendar, compile_calendars
from .clock.status import SlaStatus, explain_status, sla_status
from .match import Matcher, build_matcher
from .ruleset.conditions import All, Condition, explain, fields_of, holds
from .ruleset.schema import CalendarByField, PolicySpec, RuleSpec, Ruleset
from .tickets import Ticket

__all__ = ["Decision", "TicketResult", "Engine", "evaluate", "BATCH_SIZE"]

#: How many tickets one matcher call sees; bounds memory while keeping durable_rules busy.
BATCH_SIZE = 1000


@dataclass(frozen=True)
class Decision:
    """One action a rule decided for one ticket, with the reason it fired."""

    ticket_id: str
    rule: str
    action: str
    arguments: dict[str, Any]
    policy: str | None
    stage: str | None
    level: str | None
    why: str

    def to_json(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "ticket": self.ticket_id,
            "rule": self.rule,
            "action": self.action,
            "arguments": self.arguments,
            "policy": self.policy,
            "stage": self.stage,
            "level": self.level,
            "why": self.why,
        }


@dataclass(frozen=True)
class TicketResult:
    """A ticket, its SLA statuses (one per applicable policy) and the decisions that fired."""

    ticket: Ticket
    statuses: tuple[SlaStatus, ...] = ()
    decisions: tuple[Decision, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "ticket": self.ticket.id,
            "tier": self.ticket.tier,
            "stage": self.ticket.stage,
            "status": self.ticket.status,
            "provider": self.ticket.provider,
            "region": self.ticket.region,
            "sla": [status.to_json() for status in self.statuses],
            "decisions": [decision.to_json() for decision in self.decisions],
        }


class Engine:
    """A ruleset compiled once (calendars, matcher) and ready to evaluate tickets."""

    def __init__(self, ruleset: Ruleset, matcher: str = "auto") -> None:
        self.ruleset = ruleset
        self.calendars: dict[str, Calendar] = compile_calendars(ruleset.calendars)
        self.rules: dict[str, RuleSpec] = {rule.name: rule for rule in ruleset.rules if rule.enabled}
        self._actions = {name: [(action.kind, action.arguments()) for action in rule.then] for name, rule in self.rules.items()}
        # A rule that reads no sla.* field decides once per ticket, not once per SLA status.
        self._per_ticket = frozenset(
            name for name, rule in self.rules.items() if rule.when is None or not any(f.startswith("sla.") for f in fields_of(rule.when))
        )
        self.matcher: Matcher = build_matcher([(rule.name, _condition(rule)) for rule in self.rules.values()], matcher)
        self._terminal = frozenset(ruleset.terminal_statuses)

    def calendar_for(self, policy: PolicySpec, fact: dict[str, Any]) -> Calendar:
        """The calendar the policy uses for a ticket (fixed, or chosen by a ticket field)."""
        choice = policy.calendar
        if isinstance(choice, CalendarByField):
            value = fact.get(choice.field)
            if choice.map:
                name = choice.map.get(str(value), choice.default) if value is not None else choice.default
            else:
                name = str(value) if value is not None and str(value) in self.calendars else choice.default
        else:
            name = choice
        return self.calendars[name]

    def policies_for(self, fact: dict[str, Any]) -> Iterator[PolicySpec]:
        """The policies whose ``applies_to`` holds for a ticket's fact, in ruleset order."""
        return (policy for policy in self.ruleset.policies if policy.applies_to is None or holds(policy.applies_to, fact))

    def statuses(self, ticket: Ticket, now: datetime, fact: dict[str, Any] | None = None) -> tuple[SlaStatus, ...]:
        """The ticket's SLA status under each policy that applies to it (none once terminal)."""
        if ticket.status in self._terminal:
            return ()
        fact = fact if fact is not None else ticket.fact()
        found = []
        for policy in self.policies_for(fact):
            status = sla_status(ticket, policy, self.ruleset, self.calendar_for(policy, fact), now)
            if status is not None:
                found.append(status)
        return tuple(found)

    def explain(self, ticket: Ticket, now: datetime) -> dict[str, tuple[str, ...]]:
        """Per applicable policy, how the ticket's SLA numbers came about (calendar detail included)."""
        fact = ticket.fact()
        return {
            policy.name: explain_status(ticket, policy, self.ruleset, self.calendar_for(policy, fact), now)
            for policy in self.policies_for(fact)
        }

    def evaluate(self, tickets: Iterable[Ticket], now: datetime) -> Iterator[TicketResult]:
        """Yield one result per ticket, in input order; ``now`` must be timezone-aware."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        now = now.astimezone(timezone.utc)
        for batch in batched(tickets, BATCH_SIZE):
            yield from self._evaluate_batch(batch, now)

    def _evaluate_batch(self, batch: list[Ticket], now: datetime) -> Iterator[TicketResult]:
        owners: list[tuple[int, SlaStatus | None]] = []
        facts: list[dict[str, Any]] = []
        statuses: list[tuple[SlaStatus, ...]] = []
        for index, ticket in enumerate(batch):
            statuses.append(())
            if ticket.status in self._terminal:
                continue
            base = ticket.fact()
            found = statuses[index] = self.statuses(ticket, now, base)
            for status in found or (None,):
                facts.append(base | status.fact() if status is not None else base)
                owners.append((index, status))
        matches = self.matcher.match(facts) if self.rules else [[] for _ in facts]
        decisions: list[list[Decision]] = [[] for _ in batch]
        decided: set[tuple[int, str]] = set()
        for (index, status), fact, names in zip(owners, facts, matches):
            for name in names:
                if name in self._per_ticket:
                    if (index, name) in decided:
                        continue
                    decided.add((index, name))
                    status = None
                decisions[index].extend(self._decisions(batch[index], status, fact, self.rules[name]))
        for index, ticket in enumerate(batch):
            yield TicketResult(ticket, statuses[index], tuple(decisions[index]))

    def _decisions(self, ticket: Ticket, status: SlaStatus | None, fact: dict[str, Any], rule: RuleSpec) -> Iterator[Decision]:
        why = f"rule {rule.name!r}: " + (explain(rule.when, fact) if rule.when is not None else "always")
        for kind, arguments in self._actions[rule.name]:
            yield Decision(
                ticket_id=ticket.id,
                rule=rule.name,
                action=kind,
                arguments=dict(arguments),
                policy=status.policy if status else None,
                stage=status.stage if status else ticket.stage,
                level=status.level if status else None,
                why=why,
            )


def _condition(rule: RuleSpec) -> Condition:
    return rule.when if rule.when is not None else All(())


def evaluate(ruleset: Ruleset, tickets: Iterable[Ticket], now: datetime, matcher: str = "auto") -> list[TicketResult]:
    """Evaluate ``tickets`` against ``ruleset`` at ``now``; a list for convenience (see Engine.evaluate to stream)."""
    return list(Engine(ruleset, matcher).evaluate(tickets, now))
