"""Why a ticket stands where it does: the clock, the rules and the notifications, for one
ticket at one instant (``spm-rules explain``).

:func:`explain_ticket` puts together what every stage of the pipeline decided for the
ticket, with the reasons each stage already keeps:

* **clocks**: per policy, whether its ``applies_to`` holds (test by test), and the clock
  behind the status (:func:`~spm_rules.clock.status.clock_detail`: intervals, pauses cut
  out, the calendar's windows, holidays, make-up days, days off and DST changes, each
  level's threshold and instant);
* **rules**: per rule, on each fact it saw (the ticket, or the ticket with one SLA
  status), whether its condition held, test by test with the values seen.  Route rules
  see the ticket as reported, every other rule the assigned provider (as the engine
  runs them); the decisions are the engine's own;
* **assignment**: the provider reported, the one assigned and by which rule, conflicts;
* **notifications**: what a run at this instant would record and enqueue
  (:meth:`~spm_rules.state.lifecycle.Lifecycle.plan` against the stored state, or as a
  new ticket without one), and what delivery would make of it
  (:meth:`~spm_rules.alerting.AlertPipeline.plan`: routing, silences, inhibition,
  active hours, grouping, the rendered titles) without sending anything;
* **state** (when given): the escalations kept for the ticket (when each opened, was
  last notified, when the next repeat is due) and its outbox rows (what was sent, when,
  to whom).

Pure: ``now`` is a parameter; the state is read by the caller and passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Sequence

from .clock.status import ClockDetail, SlaStatus, clock_detail
from .durations import format_duration
from .engine import Decision, Engine, TicketResult, ticket_fact
from .notifications import DeliveryOutcome, Notification
from .ruleset.conditions import Trace, fields_of, trace
from .ruleset.schema import RuleSpec
from .state.lifecycle import Lifecycle
from .state.records import Escalation, EscalationKey, OutboxEntry, TicketState, Transition
from .tickets import Ticket

if TYPE_CHECKING:
    from .alerting import AlertPipeline
    from .alerting.receivers import AlertMessage
    from .alerting.routes import RouteMatch
    from .dispatch.decide import DispatchState

__all__ = [
    "PolicyExplanation",
    "RuleEvaluation",
    "RuleExplanation",
    "NotificationExplanation",
    "StoredState",
    "TicketExplanation",
    "explain_ticket",
]


def _when(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if value is not None else None


@dataclass(frozen=True)
class PolicyExplanation:
    """One policy for the ticket: whether it applies, and its clock (None: it sets none:
    ``no_clock`` says why)."""

    policy: str
    clock_kind: str
    applies: bool
    applies_to: Trace | None
    calendar: str | None
    clock: ClockDetail | None
    no_clock: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        clock = self.clock
        document: dict[str, Any] = {
            "policy": self.policy,
            "clock_kind": self.clock_kind,
            "applies": self.applies,
            "applies_to": self.applies_to.to_json() if self.applies_to is not None else None,
            "calendar": self.calendar,
            "no_clock": self.no_clock,
            "clock": None,
        }
        if clock is not None:
            document["clock"] = {
                "status": clock.status.to_json(),
                "target_written": clock.target_written,
                "working_days_close": _when(clock.working_days_close),
                "intervals": [{"start": _when(start), "end": _when(end)} for start, end in clock.intervals],
                "pauses": [{"status": p.status, "start": _when(p.start), "end": _when(p.end)} for p in clock.pauses],
                "stretches": [
                    {
                        "start": _when(s.start),
                        "end": _when(s.end),
                        "counted": format_duration(s.total, days=False),
                        "counted_seconds": s.total.total_seconds(),
                        "windows": [{"day": w.day.isoformat(), "start": _when(w.start), "end": _when(w.end), "make_up": w.make_up} for w in s.windows],
                        "holidays_skipped": [day.isoformat() for day in s.holidays_skipped],
                        "make_up_days": [day.isoformat() for day in s.make_up_days],
                        "days_off": [day.isoformat() for day in s.days_off],
                        "dst_transitions": [
                            {"at": _when(c.at), "offset_before": format_duration(c.offset_before), "offset_after": format_duration(c.offset_after)} for c in s.dst_transitions
                        ],
                    }
                    for s in clock.stretches
                ],
                "levels": [
                    {"level": level.name, "threshold": format_duration(level.threshold, days=False), "threshold_seconds": level.threshold.total_seconds(), "at": _when(level.at), "reached": level.reached}
                    for level in clock.levels
                ],
            }
        return document


@dataclass(frozen=True)
class RuleEvaluation:
    """A rule's condition on one fact: the ticket alone (``policy`` None) or the ticket
    with one SLA status.  ``condition`` is None for a rule without ``when`` (it always holds)."""

    policy: str | None
    held: bool
    condition: Trace | None

    def to_json(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {"policy": self.policy, "held": self.held, "condition": self.condition.to_json() if self.condition is not None else None}


@dataclass(frozen=True)
class RuleExplanation:
    """One rule for the ticket: the facts it saw (as reported, or with the assigned
    provider), its verdict on each, and the decisions it took."""

    rule: str
    enabled: bool
    sees: str
    evaluations: tuple[RuleEvaluation, ...]
    decisions: tuple[Decision, ...]

    @property
    def fired(self) -> bool:
        """It took at least one decision."""
        return bool(self.decisions)

    def to_json(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "rule": self.rule,
            "enabled": self.enabled,
            "sees": self.sees,
            "fired": self.fired,
            "evaluations": [e.to_json() for e in self.evaluations],
            "decisions": [d.to_json() for d in self.decisions],
        }


@dataclass(frozen=True)
class NotificationExplanation:
    """One notification a run would enqueue now and what delivery would make of it: the
    receivers routing gives it (``targets``), an outcome settled without a send
    (silenced, inhibited, held for every receiver, failed), or the messages it would be
    part of (and the receivers held until their active hours, ``held_for``)."""

    notification: Notification
    targets: tuple["RouteMatch", ...]
    outcome: DeliveryOutcome | None
    messages: tuple["AlertMessage", ...]
    held_until: datetime | None = None
    held_for: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        note, outcome = self.notification, self.outcome
        return {
            "key": note.key,
            "kind": note.kind,
            "receivers_named": list(note.receivers),
            "labels": dict(note.labels),
            "targets": [{"receiver": t.receiver, "via": t.path, "group_by": list(t.settings.group_by)} for t in self.targets],
            "outcome": {"status": outcome.status, "detail": outcome.detail, "retry_at": _when(outcome.retry_at)} if outcome is not None else None,
            "messages": [{"receiver": m.receiver, "title": m.title, "group": dict(m.group), "notifications": len(m.notifications)} for m in self.messages],
            "held_until": _when(self.held_until),
            "held_for": list(self.held_for),
        }


@dataclass(frozen=True)
class StoredState:
    """What the state store keeps of the ticket: its row (None: no run has seen it), its
    escalation records and its outbox rows."""

    ticket: TicketState | None
    escalations: tuple[Escalation, ...] = ()
    outbox: tuple[OutboxEntry, ...] = ()

    @property
    def records(self) -> dict[EscalationKey, Escalation]:
        """The escalation records by (policy, level), as the lifecycle takes them."""
        return {esc.key: esc for esc in self.escalations}

    def to_json(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        state = self.ticket
        return {
            "seen": state is not None and not state.is_new,
            "last_seen_at": _when(state.last_seen_at) if state is not None else None,
            "levels": dict(state.levels) if state is not None else {},
            "provider": state.assigned_provider if state is not None else None,
            "escalations": [
                {
                    "policy": e.policy,
                    "level": e.level,
                    "open": e.is_open,
                    "opened_at": _when(e.opened_at),
                    "closed_at": _when(e.closed_at),
                    "acknowledged_at": _when(e.acknowledged_at),
                    "acknowledged_by": e.acknowledged_by,
                    "notifications": e.occurrences,
                    "last_sent_at": _when(e.last_notified_at),
                    "notified_to": list(e.notified_to),
                    "repeat_every": format_duration(e.repeat_every) if e.repeat_every is not None else None,
                    "next_repeat_at": _when(e.next_repeat_at),
                    "in_flight": e.pending_key,
                }
                for e in self.escalations
            ],
            "outbox": [
                {
                    "key": o.key,
                    "kind": o.kind,
                    "status": o.status,
                    "created_at": _when(o.created_at),
                    "sent_at": _when(o.sent_at),
                    "attempts": o.attempts,
                    "delivered_to": list(o.delivered_to),
                    "last_error": o.last_error,
                    "next_attempt_at": _when(o.next_attempt_at) if o.status in ("pending", "failed") else None,
                }
                for o in self.outbox
            ],
        }


@dataclass(frozen=True)
class TicketExplanation:
    """Everything :func:`explain_ticket` found, section by section."""

    ruleset: str
    now: datetime
    result: TicketResult
    terminal: bool
    policies: tuple[PolicyExplanation, ...]
    rules: tuple[RuleExplanation, ...]
    transitions: tuple[Transition, ...]
    notifications: tuple[NotificationExplanation, ...]
    state: StoredState | None

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--format json``: times in ISO 8601 UTC, durations as text and seconds."""
        result = self.result
        return {
            "ruleset": self.ruleset,
            "at": _when(self.now),
            "ticket": result.to_json() | {"terminal": self.terminal},
            "policies": [p.to_json() for p in self.policies],
            "rules": [r.to_json() for r in self.rules],
            "run_would_record": [t.to_json() for t in self.transitions],
            "notifications": [n.to_json() for n in self.notifications],
            "state": self.state.to_json() if self.state is not None else None,
        }


def _routes(rule: RuleSpec) -> bool:
    """The rule decides the assignment, so the engine shows it the ticket as reported."""
    return any(action.kind == "route" for action in rule.then)


def _per_ticket(rule: RuleSpec) -> bool:
    """The rule reads no ``sla.*`` field, so the engine decides it once per ticket."""
    return rule.when is None or not any(name.startswith("sla.") for name in fields_of(rule.when))


def _evaluate(rule: RuleSpec, fact: dict[str, Any], statuses: Sequence[SlaStatus]) -> tuple[RuleEvaluation, ...]:
    """The rule's verdict on each fact the engine shows it: the ticket alone, or with each status."""
    owners: list[SlaStatus | None] = [None] if _per_ticket(rule) or not statuses else list(statuses)
    found = []
    for status in owners:
        seen = fact | status.fact() if status is not None else fact
        condition = trace(rule.when, seen) if rule.when is not None else None
        found.append(RuleEvaluation(status.policy if status is not None else None, condition.held if condition is not None else True, condition))
    return tuple(found)


def explain_ticket(
    engine: Engine,
    ticket: Ticket,
    now: datetime,
    *,
    pipeline: "AlertPipeline | None" = None,
    state: StoredState | None = None,
    dispatch_state: "DispatchState | None" = None,
) -> TicketExplanation:
    """Explain ``ticket`` (as its source reports it) at ``now`` under the engine's ruleset.

    ``pipeline`` is the alerting pipeline delivery would use (with the stored silences and
    open escalations when there is a state); without one, notifications are listed with
    no delivery plan.  ``state`` is what the store keeps of the ticket (None: explain it
    as a new ticket, as a first run would see it); ``dispatch_state`` the providers' loads
    and the ticket's standing assignment, so that the explanation keeps the provider a run
    assigned instead of choosing afresh from empty loads.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(timezone.utc)
    ruleset = engine.ruleset
    (result,) = engine.evaluate([ticket], now, dispatch_state)
    terminal = ticket.status in ruleset.terminal_statuses
    reported_fact = ticket_fact(ticket, ticket.provider)
    effective_fact = result.fact()

    policies = []
    for policy in ruleset.policies:
        applies_to = trace(policy.applies_to, effective_fact) if policy.applies_to is not None else None
        applies = applies_to is None or applies_to.held
        calendar = engine.calendar_for(policy, effective_fact)
        detail = clock_detail(result.ticket, policy, ruleset, calendar, now) if applies and not terminal else None
        why = None
        if terminal:
            why = f"status {ticket.status!r} is terminal: the ticket has left the loop"
        elif not applies:
            why = "applies_to does not hold"
        elif detail is None:
            spec = policy.target if policy.clock == "created" else policy.targets.get(result.ticket.stage or "")
            if spec is None or spec.for_tier(result.ticket.tier, ruleset.tiers) is None:
                stage = "end to end" if policy.clock == "created" else f"stage {result.ticket.stage!r}"
                why = f"it sets no target for {stage} and tier {result.ticket.tier!r}"
            else:
                why = "its clock has not started at this instant"
        policies.append(PolicyExplanation(policy.name, policy.clock, applies, applies_to, calendar.name, detail, why))

    rules = []
    if not terminal:
        reported_statuses = engine.statuses(ticket, now, reported_fact) if result.reported is not None else result.statuses
        for rule in ruleset.rules:
            routing = _routes(rule)
            fact, statuses = (reported_fact, reported_statuses) if routing else (effective_fact, result.statuses)
            evaluations = _evaluate(rule, fact, statuses) if rule.enabled else ()
            decisions = tuple(d for d in result.decisions if d.rule == rule.name)
            rules.append(RuleExplanation(rule.name, rule.enabled, "reported" if routing else "assigned", evaluations, decisions))

    stored = state.ticket if state is not None else None
    plan = Lifecycle(ruleset).plan(result, stored, state.records if state is not None else {}, now)
    notes = [item.notification for item in plan.outgoing]
    notifications = _delivery(pipeline, notes, now) if notes else ()
    return TicketExplanation(ruleset.name, now, result, terminal, tuple(policies), tuple(rules), plan.transitions, notifications, state)


def _delivery(pipeline: "AlertPipeline | None", notes: Sequence[Notification], now: datetime) -> tuple[NotificationExplanation, ...]:
    """Each notification with what delivery would do with it at ``now`` (nothing is sent)."""
    if pipeline is None:
        return tuple(NotificationExplanation(note, (), None, ()) for note in notes)
    from .alerting.pipeline import notification_labels

    decided = pipeline.plan(notes, now)
    found = []
    for note in notes:
        targets = tuple(pipeline.tree.targets(notification_labels(note), note.receivers))
        messages = tuple(m for m in decided.messages if any(member.key == note.key for member in m.notifications))
        held = decided.partly_held.get(note.key)
        found.append(NotificationExplanation(note, targets, decided.decided.get(note.key), messages, held[0] if held else None, held[1] if held else ()))
    return tuple(found)
