"""What a ruleset test file may contain, as written: pydantic models and time references.

A test file names a ruleset and holds tests; each test has tickets (their histories
written compactly, times relative to the test's start) and steps, one per evaluation
instant, with what happens before the run at that instant (ticket updates, new tickets,
acknowledgements, silences) and what is expected after it (levels, decisions, the
assigned provider, notifications).  The format is documented in ``docs/testing.md``;
this module only says what is well formed.  Names are checked against the ruleset, and
times resolved, by :mod:`spm_rules.testing.suite`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, model_validator

from ..alerting.matchers import Matcher, Regex
from ..durations import format_duration, parse_duration
from ..ruleset.types import Duration, StrictModel, ZoneName

__all__ = [
    "TimeRef",
    "parse_time_ref",
    "format_offset",
    "History",
    "TicketSpec",
    "TicketUpdate",
    "AckSpec",
    "StepSilence",
    "LevelExpectation",
    "DecisionExpectation",
    "TicketExpectation",
    "NotificationExpectation",
    "Expectation",
    "StepSpec",
    "CaseSpec",
    "SuiteSpec",
    "NOTIFICATION_KINDS",
    "HISTORY_KEYS",
]

#: The kinds of notification a message can stand for (``kind:`` in an expectation).
NOTIFICATION_KINDS = ("escalation", "repeat", "resolved", "schedule", "meta")
#: The compact history keys of a ticket and the Ticket fields they become.
HISTORY_KEYS = {"stages": "stage_history", "statuses": "status_history", "tiers": "tier_history"}
_TICKET_TIME_FIELDS = {"created_at": "created", **{field: key for key, field in HISTORY_KEYS.items()}}


@dataclass(frozen=True)
class TimeRef:
    """A time as written in a test file: ``+30m`` / ``-1h`` from the test's start (real
    elapsed time), or an ISO 8601 instant (without an offset: in the file's timezone)."""

    text: str
    offset: timedelta | None = None
    instant: datetime | None = None

    def resolve(self, start: datetime, zone: tzinfo | None) -> datetime:
        """The instant in UTC; ValueError for a time without offset when there is no zone."""
        if self.offset is not None:
            return (start + self.offset).astimezone(timezone.utc)
        return self.absolute(zone)

    def absolute(self, zone: tzinfo | None) -> datetime:
        """The instant of a time written as one, in UTC (ValueError for a relative time, or
        for a time without offset when there is no zone)."""
        if self.instant is None:
            raise ValueError(f"{self.text!r} is relative: write an ISO 8601 time here")
        value = self.instant
        if value.tzinfo is None or value.utcoffset() is None:
            if zone is None:
                raise ValueError(f"{self.text!r} has no offset, and neither the test file nor the ruleset names a timezone: write +08:00 or set timezone")
            value = value.replace(tzinfo=zone)
        return value.astimezone(timezone.utc)

    @property
    def relative(self) -> bool:
        """Written relative to the test's start."""
        return self.offset is not None


def parse_time_ref(value: Any) -> TimeRef:
    """``+30m``, ``-1h``, ``+1d2h`` or an ISO 8601 time (text or a YAML timestamp)."""
    if isinstance(value, TimeRef):
        return value
    if isinstance(value, datetime):
        return TimeRef(value.isoformat(), instant=value)
    if isinstance(value, date):
        raise ValueError(f"{value.isoformat()} is a date: give a time, e.g. {value.isoformat()}T09:00:00")
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a time: {value!r}; write +30m (from the test's start) or an ISO 8601 time such as 2026-11-25T09:00:00+08:00")
    text = value.strip()
    if text[0] in "+-":
        try:
            span = parse_duration(text[1:].strip())
        except ValueError as exc:
            raise ValueError(f"bad relative time {text!r}: {exc}") from None
        return TimeRef(text, offset=span if text[0] == "+" else -span)
    try:
        instant = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise ValueError(f"not a time: {text!r}; write +30m (from the test's start) or an ISO 8601 time such as 2026-11-25T09:00:00+08:00") from None
    return TimeRef(text, instant=instant)


def format_offset(span: timedelta) -> str:
    """``+2h15m`` / ``-30m``: a span from the start as a relative time is written."""
    return ("-" if span < timedelta(0) else "+") + format_duration(abs(span))


Time = Annotated[TimeRef, PlainValidator(parse_time_ref)]

_ENTRY_HINT = "write each entry as a one-key mapping {name: time}, e.g. {dispatched: +15m}"


@dataclass(frozen=True)
class History:
    """One compact history entry: ``{dispatched: +15m}``."""

    name: str
    at: TimeRef


def _history_entry(value: Any) -> History:
    if isinstance(value, History):
        return value
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(f"not a history entry: {value!r}; {_ENTRY_HINT}")
    ((name, when),) = value.items()
    if not isinstance(name, str) or not name:
        raise ValueError(f"not a history entry: {value!r}; {_ENTRY_HINT}")
    return History(name, parse_time_ref(when))


HistoryEntry = Annotated[History, PlainValidator(_history_entry)]


class _Loose(BaseModel):
    """Known keys are checked, other keys are ticket fields kept as written."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @property
    def fields(self) -> dict[str, Any]:
        """The ticket fields written besides the known keys."""
        return dict(self.__pydantic_extra__ or {})


class TicketSpec(_Loose):
    """A ticket of a test: its id, its histories written compactly, and any ticket field."""

    id: str = Field(min_length=1)
    tier: str | None = None
    status: str | None = None
    stage: str | None = None
    created: Time | None = None
    stages: list[HistoryEntry] = []
    statuses: list[HistoryEntry] = []
    tiers: list[HistoryEntry] = []

    @model_validator(mode="before")
    @classmethod
    def _compact_keys(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            if isinstance(raw.get("id"), int) and not isinstance(raw.get("id"), bool):
                raw = {**raw, "id": str(raw["id"])}
            for field, key in _TICKET_TIME_FIELDS.items():
                if field in raw:
                    raise ValueError(f"write {key} here, not {field}: times in a test are relative (+30m) or ISO 8601 (see docs/testing.md)")
        return raw

    @model_validator(mode="after")
    def _one_stage_form(self) -> "TicketSpec":
        if self.stage is not None and self.stages:
            raise ValueError("give stage or stages, not both: the current stage is the last entry of stages")
        return self


class TicketUpdate(_Loose):
    """What changes in a ticket before a step's run: a stage, status or tier entered (a
    history entry at the step's instant, or at ``at``), ``close`` (a terminal status;
    ``true``: the ruleset's first), and any other field set (``null`` removes it)."""

    stage: str | None = None
    status: str | None = None
    tier: str | None = None
    close: Union[bool, str, None] = None
    at: Time | None = None

    @model_validator(mode="after")
    def _one_status(self) -> "TicketUpdate":
        if self.close not in (None, False) and self.status is not None:
            raise ValueError("give status or close, not both")
        for field in ("id", *_TICKET_TIME_FIELDS, *HISTORY_KEYS, "created"):
            if field in self.fields:
                raise ValueError(f"{field} cannot be updated: add a stage, status or tier (stage: onsite), or set another field")
        return self


class AckSpec(StrictModel):
    """Acknowledge a ticket's open escalations (optionally one policy and level)."""

    ticket: str
    policy: str | None = None
    level: str | None = None
    by: str = "ruleset test"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, raw: Any) -> Any:
        return {"ticket": raw} if isinstance(raw, str) else raw


class StepSilence(StrictModel):
    """A silence added to the state at a step's instant, for ``for`` or until ``ends``."""

    id: str | None = None
    match: dict[str, str] = {}
    match_re: dict[str, Regex] = {}
    matchers: list[Matcher] = []
    for_: Duration | None = Field(default=None, alias="for")
    ends: Time | None = None
    comment: str = "ruleset test"
    by: str = ""

    @model_validator(mode="after")
    def _one_end(self) -> "StepSilence":
        if (self.for_ is None) == (self.ends is None):
            raise ValueError("give exactly one of for (a duration) and ends (a time)")
        return self


class LevelExpectation(StrictModel):
    """A policy's expected level (``ok``: measured, no level reached), and optionally its
    due time and whether the clock is paused."""

    level: str
    due: Time | None = None
    paused: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, raw: Any) -> Any:
        return {"level": raw} if isinstance(raw, str) else raw


class DecisionExpectation(StrictModel):
    """A decision expected to be taken: by rule (text), or by rule, action and arguments."""

    rule: str
    action: Literal["notify", "route", "escalate", "tag"] | None = None
    arguments: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, raw: Any) -> Any:
        return {"rule": raw} if isinstance(raw, str) else raw


class TicketExpectation(StrictModel):
    """What is expected of one ticket after a step's run; only what is written is checked.
    A level of ``null`` means the policy does not measure the ticket."""

    levels: dict[str, Union[LevelExpectation, None]] = {}
    provider: str | None = None
    decisions: list[DecisionExpectation] | None = None


class NotificationExpectation(StrictModel):
    """A message expected to be sent at a step's instant; only what is written is checked
    (``body``: lines that must appear in the body; ``tickets``: the tickets it lists)."""

    receiver: str | None = None
    kind: Union[str, list[str], None] = None
    group: dict[str, str] | None = None
    title: str | None = None
    body: Union[str, list[str], None] = None
    tickets: list[str] | None = None

    @model_validator(mode="after")
    def _something(self) -> "NotificationExpectation":
        if not self.model_fields_set:
            raise ValueError("an expected notification needs at least one of receiver, kind, group, title, body, tickets")
        kinds = [self.kind] if isinstance(self.kind, str) else (self.kind or [])
        unknown = [kind for kind in kinds if kind not in NOTIFICATION_KINDS]
        if unknown:
            raise ValueError(f"unknown notification kind {unknown[0]!r} (kinds: {', '.join(NOTIFICATION_KINDS)})")
        return self

    @property
    def body_lines(self) -> list[str]:
        """The texts the body must contain."""
        return [self.body] if isinstance(self.body, str) else list(self.body or [])


class Expectation(StrictModel):
    """What a step expects after its run.  ``notifications`` are partial (other messages
    may be sent) unless ``exactly``; an empty list means nothing is sent."""

    tickets: dict[str, TicketExpectation] = {}
    notifications: list[NotificationExpectation] | None = None
    exactly: bool | None = None


def _listed(raw: Any) -> Any:
    return raw if isinstance(raw, list) or raw is None else [raw]


class StepSpec(StrictModel):
    """One evaluation instant: what happens before the run, and what is expected after it."""

    at: Time
    update: dict[str, TicketUpdate] = {}
    add: list[TicketSpec] = []
    ack: list[AckSpec] = []
    silence: list[StepSilence] = []
    expire: list[str] = []
    expect: Expectation | None = None

    @model_validator(mode="before")
    @classmethod
    def _single_items(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            raw = {**raw, **{key: _listed(raw[key]) for key in ("ack", "silence", "expire") if key in raw}}
        return raw


class CaseSpec(StrictModel):
    """One test: tickets and the steps that run them through time."""

    name: str = Field(min_length=1)
    description: str | None = None
    start: Time | None = None
    timezone: ZoneName | None = None
    ticket_defaults: dict[str, Any] = {}
    exactly: bool | None = None
    tickets_from: list[str] = []
    tickets: list[TicketSpec] = []
    steps: list[StepSpec] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _single_file(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "tickets_from" in raw:
            raw = {**raw, "tickets_from": _listed(raw["tickets_from"])}
        return raw


class SuiteSpec(StrictModel):
    """A test file: the ruleset it tests (relative to the file), defaults, and the tests."""

    ruleset: str = Field(min_length=1)
    description: str | None = None
    start: Time | None = None
    timezone: ZoneName | None = None
    ticket_defaults: dict[str, Any] = {}
    exactly: bool = False
    tests: list[CaseSpec] = Field(min_length=1)
