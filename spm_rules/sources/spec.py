"""The ruleset's ``source:`` section: how tickets are read from a database (see
:mod:`spm_rules.sources.sql`).  Kept apart from the reader so that loading a ruleset does
not import SQLAlchemy."""

from __future__ import annotations

from pydantic import Field

from ..ruleset.types import StrictModel

__all__ = ["SourceSpec", "EventsSpec"]


class EventsSpec(StrictModel):
    """Histories from an events table: a query taking ``:ids`` and returning ``ticket_id, kind, value, at``."""

    query: str = Field(min_length=1, description="SELECT ticket_id, kind, value, at … WHERE ticket_id IN :ids ORDER BY ticket_id, at")


class SourceSpec(StrictModel):
    """The ruleset's ``source:`` section: how tickets are read from a database."""

    query: str | None = Field(default=None, description="the tickets query; may use :since (the last run's instant)")
    events: EventsSpec | None = None
    stage_columns: dict[str, str] = Field(default_factory=dict, description="stage -> the column holding when the ticket entered it")
    batch_size: int = Field(default=1000, ge=1, le=100_000, description="rows fetched from the server-side cursor at a time")
