"""``retention:`` in a ruleset: how long the state keeps what it no longer needs.

Closed tickets are archived, not deleted, so that scorecards can be computed over them;
the retention says when they (and old notifications and audit entries) are pruned.  A
missing entry keeps that kind of data forever.
"""

from __future__ import annotations

from pydantic import Field

from ..ruleset.types import Duration, StrictModel

__all__ = ["RetentionSpec"]


class RetentionSpec(StrictModel):
    """Retention periods, e.g. ``{closed_tickets: 90d, notifications: 30d, audit: 365d}``."""

    closed_tickets: Duration | None = Field(default=None, description="archived tickets (and their escalations, audit, outbox) closed longer ago are deleted")
    notifications: Duration | None = Field(default=None, description="delivered, dead or suppressed notifications finished longer ago are deleted")
    audit: Duration | None = Field(default=None, description="audit log entries older than this are deleted")

    @property
    def declared(self) -> bool:
        """Any period is set (a run prunes only then)."""
        return any(value is not None for value in (self.closed_tickets, self.notifications, self.audit))
