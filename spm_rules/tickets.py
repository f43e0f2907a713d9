"""Ticket facts: what the ticket system knows about one service request.

A ticket carries the fields every process needs (tier, stage, status, region, provider,
…), its stage history (which stage, entered when, in order) and, optionally, its status
and tier histories for pauses and tier changes.  Any other field the ticket system has is
kept as-is and can be used in rule conditions (``customer.vip``, ``fault_code``).

Times must be timezone-aware.  A naive time is a validation error that names the field,
unless the ruleset declares ``ticket_timezone``, in which case naive times are read in
that zone (pass it as ``default_timezone`` in the validation context).  A time outside
:data:`TIME_RANGE` (which keeps every clock computation inside what ``datetime`` can
hold, whatever the offset) is a validation error too, never an ``OverflowError``.

A valid ticket may still not fit the ruleset: :func:`ticket_warnings` says which facts
keep its SLA clock from running as the ruleset says (an undeclared tier or stage, a
pausing status without the history that says since when).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterator
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from .errors import did_you_mean

if TYPE_CHECKING:
    from .ruleset.schema import Ruleset

__all__ = [
    "StageEntry",
    "StatusEntry",
    "TierEntry",
    "Ticket",
    "TICKET_FIELDS",
    "TicketWarning",
    "ticket_warnings",
    "TICKET_WARNING_FIELDS",
    "TIME_RANGE",
    "out_of_range",
]

#: The instants spm-rules accepts, in UTC: far enough from datetime's own limits (years
#: 1 and 9999) that offsets, targets and calendars added to them cannot overflow.
TIME_RANGE = (datetime(1900, 1, 1, tzinfo=timezone.utc), datetime(9000, 1, 1, tzinfo=timezone.utc))


def out_of_range(value: datetime) -> str | None:
    """Why the aware ``value`` is not an instant spm-rules accepts, or None when it is."""
    try:
        instant = value.astimezone(timezone.utc)
    except OverflowError:
        instant = None
    if instant is None or not TIME_RANGE[0] <= instant < TIME_RANGE[1]:
        return f"{value.isoformat()} is outside the years {TIME_RANGE[0].year}-{TIME_RANGE[1].year - 1} (UTC) spm-rules accepts"
    return None


def _aware(value: Any, info: ValidationInfo) -> Any:
    """Accept aware datetimes; read naive ones in the declared default timezone, or refuse them."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        except ValueError:
            raise ValueError(f"not an ISO 8601 time: {value!r}") from None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            zone = (info.context or {}).get("default_timezone") if info.context else None
            if zone is None:
                raise ValueError(
                    "time has no timezone; write it with an offset (2026-11-25T09:00:00+08:00) "
                    "or declare ticket_timezone in the ruleset"
                )
            value = value.replace(tzinfo=ZoneInfo(zone) if isinstance(zone, str) else zone)
        problem = out_of_range(value)
        if problem is not None:
            raise ValueError(problem)
        return value.astimezone(timezone.utc)
    return value


class StageEntry(BaseModel):
    """The ticket entered ``stage`` at ``entered_at``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: str = Field(min_length=1)
    entered_at: datetime

    _aware_time = field_validator("entered_at", mode="before")(_aware)


class StatusEntry(BaseModel):
    """The ticket's status became ``status`` at ``at`` (used for pauses)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: str = Field(min_length=1)
    at: datetime

    _aware_time = field_validator("at", mode="before")(_aware)


class TierEntry(BaseModel):
    """The ticket's tier became ``tier`` at ``at`` (a customer upgraded their response level)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tier: str = Field(min_length=1)
    at: datetime

    _aware_time = field_validator("at", mode="before")(_aware)


TICKET_FIELDS = ("id", "tier", "stage", "status", "region", "provider", "product", "customer", "created_at")


class Ticket(BaseModel):
    """One service ticket as facts.  Unknown fields are kept (``extra='allow'``)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(min_length=1)
    tier: str = Field(min_length=1)
    status: str = Field(min_length=1)
    stage: str | None = None
    region: str | None = None
    provider: str | None = None
    product: str | None = None
    customer: str | None = None
    created_at: datetime
    stage_history: tuple[StageEntry, ...] = ()
    status_history: tuple[StatusEntry, ...] = ()
    tier_history: tuple[TierEntry, ...] = ()

    _aware_time = field_validator("created_at", mode="before")(_aware)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("stage_history", "status_history", "tier_history")
    @classmethod
    def _in_time_order(cls, entries: tuple[Any, ...]) -> tuple[Any, ...]:
        times = [e.entered_at if isinstance(e, StageEntry) else e.at for e in entries]
        for index, (earlier, later) in enumerate(zip(times, times[1:]), 1):
            if later < earlier:
                raise ValueError(f"entry {index} is earlier than entry {index - 1}: histories must be in time order")
        return entries

    @model_validator(mode="after")
    def _stage_matches_history(self) -> "Ticket":
        if self.stage_history:
            last = self.stage_history[-1].stage
            if self.stage is None:
                object.__setattr__(self, "stage", last)
            elif self.stage != last:
                raise ValueError(f"stage {self.stage!r} differs from the last stage_history entry {last!r}")
        return self

    @property
    def extra_fields(self) -> dict[str, Any]:
        """The fields the ticket system sent beyond the known ones."""
        return dict(self.__pydantic_extra__ or {})

    def fact(self) -> dict[str, Any]:
        """The ticket as a flat fact for rule conditions: scalars only, nested mappings dotted."""
        fact: dict[str, Any] = {}
        for name in TICKET_FIELDS:
            value = getattr(self, name)
            fact[name] = value.isoformat() if isinstance(value, datetime) else value
        for name, value in _flatten(self.extra_fields, ""):
            fact.setdefault(name, value)
        return fact


def _flatten(values: dict[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, name + ".")
        elif isinstance(value, datetime):
            yield name, value.isoformat()
        elif value is None or isinstance(value, (str, int, float, bool)):
            yield name, value



#: The fields :func:`ticket_warnings` may name.
TICKET_WARNING_FIELDS = ("tier", "stage", "status_history")


@dataclass(frozen=True)
class TicketWarning:
    """A fact of a valid ticket that keeps the ruleset from measuring it as written: the
    field, what goes wrong, and how to fix it.  The reader adds the source and row."""

    field: str
    message: str
    hint: str | None = None


def ticket_warnings(ticket: Ticket, ruleset: "Ruleset") -> list[TicketWarning]:
    """What in ``ticket`` its SLA clocks cannot use: a tier the ruleset does not declare (no
    per-tier target applies), a stage it does not list (no stage clock runs), a pausing
    status that ``status_history`` does not date (the pause is lost and the clock runs on).

    A ticket in a terminal status is not measured, so it has no warnings.  Pure.
    """
    if ticket.status in ruleset.terminal_statuses:
        return []
    found = []
    if ticket.tier not in ruleset.tiers:
        declared = ", ".join(ruleset.tiers)
        message = f"tier {ticket.tier!r} is not one of the ruleset's tiers ({declared}): no per-tier target applies to it"
        found.append(TicketWarning("tier", message, did_you_mean(ticket.tier, ruleset.tiers)))
    if ticket.stage is not None and ticket.stage not in ruleset.stages:
        listed = ", ".join(ruleset.stages)
        message = f"stage {ticket.stage!r} is not one of the ruleset's stages ({listed}): no stage clock runs for it"
        found.append(TicketWarning("stage", message, did_you_mean(ticket.stage, ruleset.stages)))
    history = ticket.status_history
    if ticket.status in ruleset.pausing_statuses and (not history or history[-1].status != ticket.status):
        message = f"status {ticket.status!r} pauses the clock, but status_history does not say since when, so the clock keeps running"
        found.append(TicketWarning("status_history", message, f"add {{status: {ticket.status}, at: …}} to status_history"))
    return found
