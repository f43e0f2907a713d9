"""``retention:`` in a ruleset: how long the state keeps what it no longer needs, and what
becomes of a ticket that stops coming.

Closed tickets are archived, not deleted, so that scorecards can be computed over them;
the retention says when they (and old notifications and audit entries) are pruned.  A
missing entry keeps that kind of data forever.  A pruned ticket is remembered by one
short row (``pruned_tickets``): if it comes back, its notification keys go on after the
ones it used (never reused), and if it comes back still closed nothing happens (it is not
archived again under a new close time).

An open ticket the tickets no longer list (deleted or closed in a ticket system whose
export leaves closed tickets out) would keep its open escalations forever; with
``missing_tickets`` set, a run closes the ones no run has listed for that long
(``close_missing``, pure), counted from the first run that did not list them (kept in
``absent_tickets``; a run that finds a ticket unchanged does not rewrite its row, so the
row's ``last_seen_at`` cannot tell).  Only a run over the source's whole listing counts:
a sweep (event mode) reads the due tickets alone and closes nothing as missing.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from dataclasses import replace
from datetime import datetime, timedelta

from pydantic import Field

from ..durations import format_duration
from ..ruleset.types import Duration, StrictModel
from .records import Escalation, TicketState, Transition

__all__ = ["RetentionSpec", "SeenTickets", "close_missing"]


class RetentionSpec(StrictModel):
    """Retention periods, e.g. ``{closed_tickets: 90d, notifications: 30d, audit: 365d, missing_tickets: 2d}``."""

    closed_tickets: Duration | None = Field(default=None, description="archived tickets (and their escalations, audit, outbox) closed longer ago are deleted")
    notifications: Duration | None = Field(default=None, description="delivered, dead or suppressed notifications finished longer ago are deleted")
    audit: Duration | None = Field(default=None, description="audit log entries older than this are deleted")
    missing_tickets: Duration | None = Field(
        default=None,
        description="open tickets no run has listed for longer (from the first run without them) are closed: their escalations end and they are archived (default: they stay open)",
    )

    @property
    def declared(self) -> bool:
        """Any period is set (a run prunes only then)."""
        return any(value is not None for value in (self.closed_tickets, self.notifications, self.audit))


def close_missing(
    state: TicketState, escalations: list[Escalation], now: datetime, missing_for: timedelta, since: datetime
) -> tuple[TicketState, list[Escalation], list[Transition]]:
    """Close an open ticket the tickets stopped listing at the run at ``since``: its open
    escalations end (no resolved notification: how the ticket ended is unknown) and it is
    archived at ``now``.

    Returns the new ticket state, the escalations closed and the audit entries.  A ticket
    seen again later is reopened like any archived ticket.
    """
    reason = f"missing from the tickets for more than {format_duration(missing_for)} (not listed since {since.isoformat()})"
    ended = [replace(esc, closed_at=now) for esc in escalations if esc.is_open]
    audit = [Transition(now, "left", state.ticket_id, esc.policy, esc.level, None, reason, recorded_at=now) for esc in ended]
    audit.append(Transition(now, "closed", state.ticket_id, None, None, None, reason, recorded_at=now))
    return replace(state, levels={}, closed_at=now, archived=True), ended, audit


class SeenTickets:
    """The ticket ids a run read, in 8 bytes each (a 64-bit digest), so that a ticket in
    this run's tickets is never taken for missing, whether or not the run rewrote its row.

    Kept as a sorted array rather than a set of strings: a million tickets cost 8 MB.  The
    digest is the process's own string hash: it never leaves the run, and it costs a
    tenth of a cryptographic one, for every ticket of every run.  Two ids with one digest
    can only make a missing ticket look listed (closed a run later), never the reverse.
    """

    def __init__(self) -> None:
        self._digests = array("q")
        self._sorted = True

    @staticmethod
    def _digest(ticket_id: str) -> int:
        return hash(ticket_id)

    def add(self, ticket_id: str) -> None:
        """Note that the run read ``ticket_id``."""
        self._digests.append(self._digest(ticket_id))
        self._sorted = False

    def __contains__(self, ticket_id: object) -> bool:
        if not isinstance(ticket_id, str):
            return False
        if not self._sorted:
            self._digests = array("q", sorted(self._digests))
            self._sorted = True
        digest = self._digest(ticket_id)
        index = bisect_left(self._digests, digest)
        return index < len(self._digests) and self._digests[index] == digest
