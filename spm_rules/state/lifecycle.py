"""The escalation lifecycle: one ticket's evaluation against its stored state → what changed.

Pure: ``Lifecycle.plan(result, stored, escalations, now)`` reads no clock and touches no
database.  It returns the new ticket state, the escalation records to write, the audit
entries and the notifications to put in the outbox, which the run writes in one
transaction.  Running it again on its own output with the same ``now`` yields nothing:
that is what makes a repeated run idempotent.

The rules it follows:

* An escalation is a (ticket, policy, level).  It opens when the ticket's SLA status for
  the policy reaches the level (``entered``) and closes when the status leaves it, the
  policy stops measuring the ticket, or the ticket closes (``left``).  A notify or
  escalate decision that fired below every level is tracked the same way under the
  pseudo-level ``rule:<name>`` (policy ``-`` when no policy measured the ticket), open
  while the rule fires.
* The first notify decision of an episode enqueues one notification (kind
  ``escalation``) to the union of the receivers named; while the escalation stays open,
  is not acknowledged and nothing of it is in flight, a ``repeat`` enqueues a ``repeat``
  notification once the interval has passed since the last notification became final
  (sent, or suppressed, or dead-lettered).  The interval is the shortest ``repeat`` of
  the notify rules and of the receivers they name (a receiver may declare its own); the
  repeat goes to the receivers of the repeating rules and those with their own repeat.
* ``occurrence`` counts every notification of the (ticket, policy, level), across
  episodes, so each idempotency key is used once.
* When an episode that notified someone closes, the receivers that take resolved
  notifications (``send_resolved: true``) and have a notification of it get one
  ``resolved`` notification, under the key ``resolved_key(ticket, policy, level,
  occurrence)`` of the episode's last occurrence: once, never colliding with a firing key.
* Notifications carry the ticket as the engine's decisions left it (``provider`` = the
  assigned provider, ``provider_reported`` = the ticket system's); a closed ticket, which
  the engine no longer routes, keeps the provider it was assigned.
* A route decision that assigns another provider than the last evaluation's, a provider
  change in the ticket system (on the reported provider), a route rule that stops firing
  (the reported provider applies again), escalate decisions, new tags, stage changes,
  closing and reopening are recorded once each, when they happen: at the ticket's own
  time where it gives one (a stage change at the stage's ``entered_at``, closing and
  reopening at the status history's time, a new ticket at its ``created_at``).
* Where several rules act on one escalation, they are taken in rule-name order, so the
  notification's receivers, its ``rule`` label and the escalation's targets do not depend
  on where the rules sit in the ruleset.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Iterable, Mapping

from ..durations import format_duration, parse_duration
from ..clock.status import SlaStatus
from ..engine import Decision, TicketResult, ticket_fact
from ..notifications import Notification, notification_key, resolved_key
from ..ruleset.conditions import fields_of
from ..ruleset.schema import Ruleset
from ..tickets import Ticket
from .records import Escalation, EscalationKey, Outgoing, TicketState, Transition

__all__ = ["Lifecycle", "TicketPlan", "NO_POLICY", "RULE_LEVEL_PREFIX", "ticket_labels"]

#: The policy name of a decision no SLA policy measured.
NO_POLICY = "-"
#: The ``sla.*`` fields that change while the ticket does not: continuously with running clock, and at the due time.
_CONTINUOUS_FIELDS = ("sla.elapsed", "sla.remaining", "sla.share")
_TIME_FIELDS = (*_CONTINUOUS_FIELDS, "sla.overdue")
#: Prefix of the pseudo-level of a notify/escalate decision that fired below every level.
RULE_LEVEL_PREFIX = "rule:"


@dataclass(frozen=True)
class TicketPlan:
    """What one ticket's evaluation changes: the new state and what to write with it."""

    ticket: TicketState
    ticket_changed: bool
    escalations: tuple[Escalation, ...] = ()
    transitions: tuple[Transition, ...] = ()
    outgoing: tuple[Outgoing, ...] = ()


def ticket_labels(fact: Mapping[str, Any]) -> dict[str, str]:
    """A ticket fact's scalar fields as text labels (what routes, silences and grouping match on)."""
    labels: dict[str, str] = {}
    for name, value in fact.items():
        if isinstance(value, bool):
            labels[name] = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            labels[name] = str(value)
    return labels


def _union(groups: Iterable[Iterable[str]]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for group in groups:
        for item in group:
            seen.setdefault(item, None)
    return tuple(seen)


def _escalation_key(decision: Decision) -> EscalationKey:
    if decision.policy is not None and decision.level is not None:
        return (decision.policy, decision.level)
    return (decision.policy or NO_POLICY, RULE_LEVEL_PREFIX + decision.rule)


class Lifecycle:
    """The lifecycle rules compiled for one ruleset (terminal statuses, level ranks and urgency)."""

    def __init__(self, ruleset: Ruleset) -> None:
        self.terminal = frozenset(ruleset.terminal_statuses)
        read = {field: any(field in fields_of(rule.when) for rule in ruleset.rules if rule.enabled and rule.when is not None) for field in _TIME_FIELDS}
        # Fields that change with every instant of running clock, and the one that changes at the due time.
        self.continuous = any(read[field] for field in _CONTINUOUS_FIELDS)
        self.overdue = read["sla.overdue"]
        routing = [rule for rule in ruleset.rules if rule.enabled and rule.when is not None and any(action.kind == "route" for action in rule.then)]
        self.routes_by_clock = any(field.startswith("sla.") for rule in routing for field in fields_of(rule.when))  # type: ignore[arg-type]
        self.urgent = {(policy.name, level.name): level.urgent for policy in ruleset.policies for level in policy.levels}
        self.receiver_repeat: dict[str, timedelta] = {name: spec.repeat for name, spec in ruleset.receivers.items() if spec.repeat is not None}
        self.send_resolved = frozenset(name for name, spec in ruleset.receivers.items() if spec.send_resolved)

    def plan(
        self,
        result: TicketResult,
        stored: TicketState | None,
        records: Mapping[EscalationKey, Escalation],
        now: datetime,
        *,
        row_hash: str | None = None,
        pruned: int | None = None,
    ) -> TicketPlan:
        """Diff ``result`` (the ticket evaluated at ``now``) against its stored state and escalation records.

        ``row_hash`` is the digest of the input row the ticket was read from, kept with its
        state; the row is to be written only when something but ``last_seen_at`` changed.
        ``pruned``: for a ticket the retention pruned, the highest notification occurrence
        it had used (None: never pruned).  Seen again open, it is reopened, and the keys of
        every escalation it opens from then on go on after that occurrence; seen again
        closed, nothing changes (it stays pruned).
        """
        ticket = result.ticket
        prev = stored if stored is not None and not stored.is_new else None
        closing = ticket.status in self.terminal
        if prev is None and pruned is not None and closing:
            return TicketPlan(ticket=stored or TicketState(ticket.id), ticket_changed=False)
        if closing and prev is not None and prev.routed_to is not None:
            ticket = ticket.model_copy(update={"provider": prev.routed_to})
        work = _Work(ticket, now, dict(records), result.as_reported, prev, pruned)
        # Built as seen by the last run that changed it, so that equality means "nothing to write".
        work.kept = {"row_hash": row_hash, "next_change_at": self.next_change(result, now), "last_seen_at": stored.last_seen_at if stored is not None else now}
        state = self._close(work) if closing else self._open(work, result)
        changed = state != stored
        return TicketPlan(
            ticket=replace(state, last_seen_at=now) if changed else state,
            ticket_changed=changed,
            escalations=tuple(work.records[key] for key in sorted(work.changed)),
            transitions=tuple(work.transitions),
            outgoing=tuple(work.outgoing),
        )

    def next_change(self, result: TicketResult, now: datetime) -> datetime | None:
        """The earliest instant after ``now`` at which evaluating the same ticket may give
        another result (None: never, until the ticket changes).

        A level is reached at its ``next_change_at``; ``sla.overdue`` turns at the due time;
        a time the ticket gives that is still ahead (a stage entered later) starts to count
        when it passes.  A running clock read by ``sla.elapsed``, ``sla.remaining`` or
        ``sla.share``, or route rules reading the clock of a ticket they moved, change at
        any instant: the ticket's creation is returned, so every run evaluates it.
        Repeats are not here: delivery decides when they fall due (``Store.repeats_due``).
        """
        ticket = result.as_reported
        found = [when for when in _ticket_times(ticket) if when > now]
        if self.routes_by_clock and result.reported is not None:
            found.append(ticket.created_at)
        for status in result.statuses:
            if status.paused:
                continue
            if self.continuous:
                found.append(ticket.created_at)
            if status.next_change_at is not None:
                found.append(status.next_change_at)
            if self.overdue and status.due_at is not None and status.due_at > now:
                found.append(status.due_at)
        return min(found, default=None)

    # -- closed tickets ----------------------------------------------------------------

    def _close(self, work: _Work) -> TicketState:
        ticket, prev = work.ticket, work.prev
        if prev is not None and not prev.archived:
            work.note("closed", detail=f"status {ticket.status!r}", at=_status_time(ticket))
        for _key, esc in sorted(work.records.items()):
            if esc.is_open:
                self._end(work, esc, f"ticket closed (status {ticket.status!r})", None)
        closed_at = prev.closed_at if prev is not None and prev.archived else work.now
        return work.state(levels={}, routed_to=prev.routed_to if prev else None, tags=prev.tags if prev else (), closed_at=closed_at)

    # -- open tickets --------------------------------------------------------------------

    def _open(self, work: _Work, result: TicketResult) -> TicketState:
        ticket, prev = work.ticket, work.prev
        if prev is None and work.pruned is not None:
            work.note("reopened", detail=f"seen again after its closed state was pruned, with status {ticket.status!r}", at=_status_time(ticket))
        elif prev is None:
            work.note("new", detail=f"first seen with status {ticket.status!r}, stage {ticket.stage!r}, tier {ticket.tier!r}", at=ticket.created_at)
        else:
            if prev.archived:
                work.note("reopened", detail=f"status {prev.status!r} → {ticket.status!r}", at=_status_time(ticket))
            if prev.stage != ticket.stage:
                work.note("stage", detail=f"{prev.stage!r} → {ticket.stage!r}", at=_stage_time(ticket))
            if work.reported is not None and prev.provider != work.reported:
                work.note("routed", detail=f"provider {work.reported!r} set in the ticket system")
        route = result.route
        routed_to = route.arguments["provider"] if route is not None else None
        before = prev.routed_to if prev is not None else None
        if route is not None and routed_to != before:
            work.note("routed", rule=route.rule, detail=f"to {routed_to!r}: {route.why}")
        elif route is None and before is not None and before != work.reported:
            work.note("routed", detail=f"no route rule assigns it any more: provider {work.reported or 'none'} as reported (was routed to {before!r})")

        statuses = {status.policy: status for status in result.statuses}
        active: dict[EscalationKey, tuple[int, SlaStatus | None]] = {
            (status.policy, status.level): (status.level_rank, status) for status in result.statuses if status.level is not None
        }
        groups: dict[EscalationKey, list[Decision]] = {}
        for decision in sorted(result.decisions, key=lambda d: d.rule):
            if decision.action in ("notify", "escalate"):
                key = _escalation_key(decision)
                groups.setdefault(key, []).append(decision)
                active.setdefault(key, (0, statuses.get(decision.policy or "")))

        previous_levels = prev.levels if prev is not None else {}
        for key, esc in sorted(work.records.items()):
            if esc.is_open and key not in active:
                self._end(work, esc, _left_reason(key, statuses, ticket), statuses.get(esc.policy))
        for key, (rank, status) in sorted(active.items()):
            found = work.records.get(key)
            if found is None or not found.is_open:
                work.put(_new_episode(ticket.id, key, rank, work.now, found, work.pruned or 0))
                came_from = previous_levels.get(key[0]) if not key[1].startswith(RULE_LEVEL_PREFIX) else None
                reason = status.explanation[-1] if status is not None and status.explanation else "rule fired"
                work.note("entered", key, detail=f"from {came_from or 'no level'}: {reason}")
        for key, decisions in sorted(groups.items()):
            self._act(work, key, decisions, active[key][1])

        tagging = sorted((d for d in result.decisions if d.action == "tag"), key=lambda d: d.rule)
        tags = tuple(sorted({tag for d in tagging for tag in d.arguments.get("tags", ())}))
        added = [tag for tag in tags if prev is None or tag not in prev.tags]
        if added:
            rule = next((d.rule for d in tagging if set(d.arguments.get("tags", ())) & set(added)), None)
            work.note("tagged", rule=rule, detail=", ".join(added))
        levels = {status.policy: status.level for status in result.statuses}
        return work.state(levels=levels, routed_to=routed_to, tags=tags, closed_at=None)

    def _end(self, work: _Work, esc: Escalation, reason: str, status: SlaStatus | None) -> None:
        """Close ``esc``'s episode; tell the receivers that take it that it is resolved."""
        work.put(replace(esc, closed_at=work.now))
        work.note("left", esc.key, detail=reason)
        told = tuple(name for name in esc.notified_to if name in self.send_resolved)
        if not told:
            return
        ticket, now, fact = work.ticket, work.now, work.fact
        key = resolved_key(ticket.id, esc.policy, esc.level, esc.occurrences)
        stage = work.prev.stage if work.prev is not None else ticket.stage
        labels = ticket_labels(fact) | {"policy": esc.policy, "level": esc.level, "stage": stage or ""}
        payload: dict[str, Any] = {
            "ticket": fact,
            "sla": status.to_json() if status is not None else None,
            "why": [f"{esc.level} is over: {reason}"],
            "urgent": False,
            "occurrence": esc.occurrences,
            "opened_at": esc.opened_at.isoformat(),
            "closed_at": now.isoformat(),
            "firing_receivers": list(esc.receivers),
        }
        note = Notification(key=key, kind="resolved", ticket_id=ticket.id, receivers=told, labels=labels, payload=payload, created_at=now)
        work.outgoing.append(Outgoing(note, esc.policy, esc.level))
        work.note("notify", esc.key, detail=f"resolved to {', '.join(told)}", key=key)

    def _act(self, work: _Work, key: EscalationKey, decisions: list[Decision], status: SlaStatus | None) -> None:
        esc = work.records[key]
        targets = _union([d.arguments["to"]] for d in decisions if d.action == "escalate")
        if targets and esc.escalated_to != ", ".join(targets):
            esc = replace(esc, escalated_to=", ".join(targets))
            work.put(esc)
            first = next(d for d in decisions if d.action == "escalate")
            level = first.arguments.get("level")
            work.note("escalated", key, rule=first.rule, detail=f"to {esc.escalated_to}" + (f" (level {level})" if level else ""))
        notify = [d for d in decisions if d.action == "notify"]
        if not notify:
            return
        receivers = _union(d.arguments.get("receivers", ()) for d in notify)
        repeating = [d for d in notify if d.arguments.get("repeat")]
        own = {name: self.receiver_repeat[name] for name in receivers if name in self.receiver_repeat}
        every = min([*(parse_duration(d.arguments["repeat"]) for d in repeating), *own.values()], default=None)
        repeat_to = _union([*(d.arguments.get("receivers", ()) for d in repeating), list(own)])
        if esc.repeat_every != every or esc.receivers != receivers:
            esc = replace(esc, repeat_every=every, receivers=receivers)
            work.put(esc)
        if esc.first_key is None:
            self._send(work, esc, "escalation", notify, receivers, status)
        elif (
            every is not None
            and esc.acknowledged_at is None
            and esc.pending_key is None
            and esc.repeat_from is not None
            and work.now >= esc.repeat_from + every
        ):
            self._send(work, esc, "repeat", repeating or notify, repeat_to, status)

    def _send(
        self, work: _Work, esc: Escalation, kind: str, decisions: list[Decision], receivers: tuple[str, ...], status: SlaStatus | None
    ) -> None:
        ticket, now, fact = work.ticket, work.now, work.fact
        occurrence = esc.occurrences + 1
        key = notification_key(ticket.id, esc.policy, esc.level, occurrence)
        rule = decisions[0].rule
        labels = ticket_labels(fact) | {"policy": esc.policy, "level": esc.level, "rule": rule, "stage": (status.stage if status else ticket.stage) or ""}
        payload: dict[str, Any] = {
            "ticket": fact,
            "sla": status.to_json() if status is not None else None,
            "rules": list(_union([d.rule] for d in decisions)),
            "why": [d.why for d in decisions],
            "urgent": self.urgent.get(esc.key, False),
            "occurrence": occurrence,
            "opened_at": esc.opened_at.isoformat(),
            "repeat": format_duration(esc.repeat_every) if esc.repeat_every else None,
            "escalated_to": esc.escalated_to,
        }
        note = Notification(key=key, kind=kind, ticket_id=ticket.id, receivers=receivers, labels=labels, payload=payload, created_at=now)  # type: ignore[arg-type]
        work.outgoing.append(Outgoing(note, esc.policy, esc.level, occurrence))
        work.put(replace(esc, occurrences=occurrence, pending_key=key, first_key=esc.first_key or key))
        work.note("notify", esc.key, rule=rule, detail=f"{kind} #{occurrence} to {', '.join(receivers)}", key=key)


class _Work:
    """The mutable scratch of one plan: records as they change, audit entries, notifications.

    ``ticket`` is the ticket as the decisions left it (provider = assigned), ``source`` the
    ticket as the ticket system reported it, ``prev`` the stored state (None: new).
    """

    def __init__(
        self,
        ticket: Ticket,
        now: datetime,
        records: dict[EscalationKey, Escalation],
        source: Ticket,
        prev: TicketState | None,
        pruned: int | None = None,
    ) -> None:
        self.ticket = ticket
        self.pruned = pruned
        self.now = now
        self.records = records
        self.source = source
        self.reported = source.provider
        self.prev = prev
        self.changed: set[EscalationKey] = set()
        #: What the state carries besides the evaluation: row digest, next change, last seen.
        self.kept: dict[str, Any] = {"last_seen_at": now}
        self.transitions: list[Transition] = []
        self.outgoing: list[Outgoing] = []

    def put(self, esc: Escalation) -> None:
        self.records[esc.key] = esc
        self.changed.add(esc.key)

    @cached_property
    def fact(self) -> dict[str, Any]:
        """The ticket's fact as notifications carry it: the assigned provider and the reported
        one (built once per plan, shared by its notifications)."""
        return ticket_fact(self.ticket, self.reported)

    def note(
        self,
        kind: str,
        scope: EscalationKey | None = None,
        *,
        rule: str | None = None,
        detail: str = "",
        key: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Add an audit entry for the ticket (``scope``: the escalation's policy and level;
        ``at``: when it happened, if the ticket says, else now)."""
        policy, level = scope if scope is not None else (None, None)
        self.transitions.append(Transition(at or self.now, kind, self.ticket.id, policy, level, rule, detail, key, recorded_at=self.now))

    def state(self, *, levels: dict[str, str | None], routed_to: str | None, tags: tuple[str, ...], closed_at: datetime | None) -> TicketState:
        """The ticket's new state: the reported provider, and the one a route decision assigned."""
        ticket, prev = self.ticket, self.prev
        return TicketState(
            ticket_id=ticket.id,
            status=ticket.status,
            stage=ticket.stage,
            tier=ticket.tier,
            provider=self.reported,
            region=ticket.region,
            customer=ticket.customer,
            levels=levels,
            routed_to=routed_to,
            tags=tags,
            first_seen_at=prev.first_seen_at if prev is not None and prev.first_seen_at else self.now,
            closed_at=closed_at,
            archived=closed_at is not None,
            facts=self.source.model_dump(mode="json"),
            **self.kept,
        )


def _ticket_times(ticket: Ticket) -> Iterable[datetime]:
    """Every instant the ticket gives: creation and each history entry."""
    yield ticket.created_at
    yield from (entry.entered_at for entry in ticket.stage_history)
    yield from (entry.at for entry in ticket.status_history)
    yield from (entry.at for entry in ticket.tier_history)


def _new_episode(ticket_id: str, key: EscalationKey, rank: int, now: datetime, old: Escalation | None, base: int = 0) -> Escalation:
    """A fresh episode; the occurrence count (and a notification still in flight) carry
    over, or start after ``base`` (the occurrences a pruned past used)."""
    return Escalation(
        ticket_id=ticket_id,
        policy=key[0],
        level=key[1],
        level_rank=rank,
        opened_at=now,
        occurrences=old.occurrences if old else base,
        pending_key=old.pending_key if old else None,
        last_notified_at=old.last_notified_at if old else None,
    )


def _stage_time(ticket: Ticket) -> datetime | None:
    """When the ticket entered its current stage, if its stage history says."""
    last = ticket.stage_history[-1] if ticket.stage_history else None
    return last.entered_at if last is not None and last.stage == ticket.stage else None


def _status_time(ticket: Ticket) -> datetime | None:
    """When the ticket took its current status, if its status history says."""
    last = ticket.status_history[-1] if ticket.status_history else None
    return last.at if last is not None and last.status == ticket.status else None


def _left_reason(key: EscalationKey, statuses: Mapping[str, SlaStatus], ticket: Ticket) -> str:
    if key[1].startswith(RULE_LEVEL_PREFIX):
        return "the rule no longer fires"
    status = statuses.get(key[0])
    if status is None:
        return f"policy no longer measures the ticket (stage {ticket.stage!r})"
    return f"now at {status.level}" if status.level else "now below the first level"
