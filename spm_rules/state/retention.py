"""``retention:`` in a ruleset: how long the state keeps what it no longer needs.

Closed tickets are archived, not deleted, so that scorecards can be computed over them;
the retention says when they (and old notifications and audit entries) are pruned.  A
missing entry keeps that kind of data forever.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator

from ..durations import format_duration, parse_duration

__all__ = ["RetentionSpec"]

_Duration = Annotated[timedelta, PlainValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]


class RetentionSpec(BaseModel):
    """Retention periods, e.g. ``{closed_tickets: 90d, notifications: 30d, audit: 365d}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    closed_tickets: _Duration | None = Field(default=None, description="archived tickets (and their escalations, audit, outbox) closed longer ago are deleted")
    notifications: _Duration | None = Field(default=None, description="delivered, dead or suppressed notifications finished longer ago are deleted")
    audit: _Duration | None = Field(default=None, description="audit log entries older than this are deleted")

    @property
    def declared(self) -> bool:
        """Any period is set (a run prunes only then)."""
        return any(value is not None for value in (self.closed_tickets, self.notifications, self.audit))
