"""What the state store keeps, as plain immutable records (no SQL here).

The run's pure diffing (``spm_rules.state.lifecycle``) reads and produces these records;
the store (``spm_rules.state.store``) turns them into rows and back.  Keeping them free of
SQLAlchemy lets the lifecycle be tested without a database and keeps one boundary per
dependency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from ..notifications import Notification

__all__ = [
    "TicketState",
    "Escalation",
    "Transition",
    "OutboxEntry",
    "OutboxStatus",
    "Silence",
    "ScheduleFire",
    "EscalationKey",
    "Outgoing",
    "Settlement",
    "TicketMark",
]

OutboxStatus = Literal["pending", "failed", "sent", "dead", "suppressed"]
"""pending: never attempted (or held); failed: attempted, will be retried; the rest are final."""

EscalationKey = tuple[str, str]
"""(policy, level) of one escalation of a ticket."""


@dataclass(frozen=True)
class TicketState:
    """What the last run saw of one ticket.

    ``status`` is None for a row that was reserved but never processed (a run that died
    between reserving and committing); the lifecycle treats it as a new ticket.
    ``levels`` maps each policy that measured the ticket to its level (None: below the
    first level).  ``provider`` is the provider the ticket system reported, ``routed_to``
    the one a route decision assigned at the last evaluation (None: no route rule fired);
    the decision wins (``assigned_provider``).  A closed ticket keeps the assignment it
    had.  ``archived`` tickets are closed and kept for scorecards until the retention
    prunes them.  ``facts`` is the ticket as its source last reported it (its JSON form,
    histories included; None for rows written before version 4 until a run sees them
    again): reports, customer status and explain read a ticket from the state alone.

    ``last_seen_at`` is the instant of the last run that changed the row: a run that finds
    the ticket as it was leaves the row alone.  ``row_hash`` is the digest of the input row
    (and the ruleset) it was last evaluated from, ``next_change_at`` the earliest instant
    its evaluation may change while that row stays the same (a level reached, a repeat
    measured elsewhere; None: only a new row changes it): a run evaluates in full only
    the tickets whose row changed or whose ``next_change_at`` has passed.
    """

    ticket_id: str
    status: str | None = None
    stage: str | None = None
    tier: str | None = None
    provider: str | None = None
    region: str | None = None
    customer: str | None = None
    levels: dict[str, str | None] = field(default_factory=dict)
    routed_to: str | None = None
    tags: tuple[str, ...] = ()
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    closed_at: datetime | None = None
    archived: bool = False
    facts: dict[str, Any] | None = None
    row_hash: str | None = None
    next_change_at: datetime | None = None

    @property
    def is_new(self) -> bool:
        """Never processed by a committed run."""
        return self.status is None

    @property
    def assigned_provider(self) -> str | None:
        """The provider the ticket is assigned to: the route decision's, else the reported one."""
        return self.routed_to if self.routed_to is not None else self.provider


class TicketMark(NamedTuple):
    """What a run reads of a stored ticket to tell whether it must evaluate it again: the
    row digest, whether it is settled at the run's instant (its ``next_change_at`` is still
    ahead and no later run wrote it), and its levels as stored (JSON text: a run counts
    them without parsing each), and whether it is open and unwritten since before the
    run's instant: one of the tickets ``Store.close_missing`` looks for when unlisted.

    A named tuple: a steady run reads one per ticket listed, a million per run at scale."""

    row_hash: str | None
    settled: bool
    levels: str
    awaited: bool = False


@dataclass(frozen=True)
class Escalation:
    """One (ticket, policy, level) and its current episode.

    An episode runs from ``opened_at`` (the ticket entered the level) to ``closed_at`` (it
    left it, or the ticket closed); re-entering the level opens a new episode on the same
    record.  ``occurrences`` counts every notification ever enqueued for the triple, so
    ``notification_key(ticket, policy, level, occurrence)`` never repeats across
    episodes.  ``pending_key`` is the notification in flight (enqueued, not yet final);
    ``repeat_from`` is when the last one became final (sent, suppressed or dead), the
    instant the next repeat is measured from.  ``notified_to`` names the receivers that
    have a notification of the current episode (they are told when it closes, if they
    take resolved notifications).
    """

    ticket_id: str
    policy: str
    level: str
    level_rank: int
    opened_at: datetime
    closed_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    notified_at: datetime | None = None
    last_notified_at: datetime | None = None
    occurrences: int = 0
    first_key: str | None = None
    pending_key: str | None = None
    repeat_from: datetime | None = None
    repeat_every: timedelta | None = None
    receivers: tuple[str, ...] = ()
    escalated_to: str | None = None
    notified_to: tuple[str, ...] = ()

    @property
    def key(self) -> EscalationKey:
        """(policy, level)."""
        return (self.policy, self.level)

    @property
    def is_open(self) -> bool:
        """The ticket is at this level now."""
        return self.closed_at is None

    @property
    def next_repeat_at(self) -> datetime | None:
        """When the next repeat is due: ``repeat_every`` after the last notification became
        final, for an open, unacknowledged escalation with nothing in flight (the first run
        at or after it sends the repeat if the ticket is still at the level); None when no
        repeat is coming (no interval, acknowledged, closed, or one still in flight)."""
        if self.repeat_every is None or self.repeat_from is None or self.acknowledged_at is not None or self.pending_key is not None or not self.is_open:
            return None
        return self.repeat_from + self.repeat_every


@dataclass(frozen=True)
class Transition:
    """One line of the audit log: what happened to a ticket (or a schedule), when and why.

    Kinds: new, stage, entered, left, routed, escalated, tagged, closed, reopened,
    acknowledged (state); notify (enqueued), sent, failed, held, dead, suppressed,
    requeued (a dead letter put back by ``spm-rules outbox retry``) (notifications);
    schedule (a schedule fired).

    ``at`` is when it happened: the ticket's own time where the ticket gives one (a stage
    change at the new stage's ``entered_at``, closing and reopening at the status
    history's time of the new status, a new ticket at its ``created_at``), else the run's
    instant.  ``recorded_at`` is the run's instant (None: the same as ``at``).
    """

    at: datetime
    kind: str
    ticket_id: str | None = None
    policy: str | None = None
    level: str | None = None
    rule: str | None = None
    detail: str = ""
    key: str | None = None
    recorded_at: datetime | None = None

    @property
    def recorded(self) -> datetime:
        """When a run recorded it."""
        return self.recorded_at if self.recorded_at is not None else self.at

    def to_json(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "at": self.at.isoformat(),
            "recorded_at": self.recorded.isoformat(),
            "kind": self.kind,
            "ticket": self.ticket_id,
            "policy": self.policy,
            "level": self.level,
            "rule": self.rule,
            "detail": self.detail,
            "key": self.key,
        }


@dataclass(frozen=True)
class OutboxEntry:
    """One outbox row: a notification and where its delivery stands.

    ``delivered_to`` names the receivers that already have the notification (an attempt
    reached them while others failed or were held): the next attempt skips them.
    """

    key: str
    kind: str
    ticket_id: str | None
    policy: str | None
    level: str | None
    status: OutboxStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    notification: dict[str, Any]
    last_error: str | None = None
    sent_at: datetime | None = None
    done_at: datetime | None = None
    delivered_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class Silence:
    """A time-bounded set of label matchers (their meaning belongs to alerting)."""

    id: str
    matchers: list[dict[str, Any]]
    starts_at: datetime
    ends_at: datetime
    comment: str = ""
    created_by: str = ""
    created_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        """In force at ``now``: started and not yet ended."""
        return self.starts_at <= now < self.ends_at


@dataclass(frozen=True)
class ScheduleFire:
    """A schedule tick that fired (unique per schedule and scheduled time)."""

    schedule: str
    scheduled_at: datetime
    fired_at: datetime
    key: str


@dataclass(frozen=True)
class Outgoing:
    """A notification to put in the outbox, with the escalation it belongs to (if any)."""

    notification: Notification
    policy: str | None = None
    level: str | None = None
    occurrence: int | None = None


@dataclass(frozen=True)
class Settlement:
    """What delivery decided for one outbox row (computed by the run, written by the store).

    ``status`` pending (held) or failed keep the row due at ``next_attempt_at``; sent,
    dead and suppressed are final and free the escalation for its next repeat.
    ``delivered_to`` is what the row keeps: the receivers that have the notification.
    """

    entry: OutboxEntry
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime | None = None
    error: str | None = None
    delivered_to: tuple[str, ...] = ()
