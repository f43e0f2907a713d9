"""What travels from a run's outbox to alerting, and what comes back.

The run (``spm_rules.run``) writes one ``Notification`` per thing to tell, in the same
transaction as the state change that caused it; alerting (``spm_rules.alerting``) routes,
groups, silences, renders and delivers a batch of them and answers with one
``DeliveryOutcome`` per notification key.  The outbox marks a notification sent only
when its outcome says ``sent``.

One key can reach several receivers, and delivery to them can succeed at different
attempts.  So the receivers that already have a key travel with it both ways
(``delivered_to``, Alertmanager's notification log keyed by group and receiver): the
outbox hands them to the deliverer, which skips them, and the deliverer reports every
receiver that has the key after the attempt, which the outbox keeps for the next one.
Each receiver gets each key at most once, except after a crash between a send and
the commit of its outcome (the accepted at-least-once window).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, Sequence

__all__ = ["Notification", "DeliveryOutcome", "OutcomeStatus", "Deliverer", "notification_key", "resolved_key"]

OutcomeStatus = Literal["sent", "failed", "held", "silenced", "inhibited"]


def notification_key(ticket_id: str, policy: str, level: str, occurrence: int) -> str:
    """The stable idempotency key of the ``occurrence``-th notification of a (ticket, policy, level)."""
    return f"{ticket_id}|{policy}|{level}|{occurrence}"


def resolved_key(ticket_id: str, policy: str, level: str, occurrence: int) -> str:
    """The key of the resolved notification of the episode whose last notification was
    the ``occurrence``-th: one per episode, never equal to a firing key (it has a fifth part)."""
    return f"{notification_key(ticket_id, policy, level, occurrence)}|resolved"


@dataclass(frozen=True)
class Notification:
    """One thing to tell someone, as stored in the outbox.

    ``receivers`` are those the rule named (empty: the routing tree decides alone);
    ``labels`` are what routes, silences, inhibition and grouping match on (tier, level,
    region, provider, policy, rule, stage and any scalar ticket field, as text);
    ``payload`` is JSON-serialisable data for templates: the ticket fact, the SLA status,
    the decision's reason, whether the level is urgent.  ``delivered_to`` names the
    receivers an earlier attempt already delivered it to: delivery skips them.  It is
    delivery state, not content: the outbox keeps it beside the row, not in the
    notification's JSON.
    """

    key: str
    kind: Literal["escalation", "repeat", "resolved", "schedule", "test", "meta", "writeback"]
    ticket_id: str | None
    receivers: tuple[str, ...]
    labels: dict[str, str]
    payload: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    delivered_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeliveryOutcome:
    """What became of one notification: ``detail`` is safe to log (secrets masked).

    ``retry_at`` is set for ``held`` (the receiver's active window opens then) and may be
    set for ``failed`` when the receiver asked for a later retry.  ``delivered_to`` is
    every receiver that has the notification after this attempt (the ones it came with
    and the ones it reached now), so that a retry skips them; a deliverer that leaves it
    empty loses nothing, as the outbox only ever adds to what it keeps.
    """

    key: str
    status: OutcomeStatus
    detail: str = ""
    retry_at: datetime | None = None
    delivered_to: tuple[str, ...] = ()


class Deliverer(Protocol):
    """Anything that can deliver a batch of notifications at an instant."""

    def deliver(self, notifications: Sequence[Notification], now: datetime) -> list[DeliveryOutcome]: ...
