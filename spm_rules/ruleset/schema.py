"""The ruleset file as pydantic models: what a YAML ruleset may say, checked key by key.

Models are strict (unknown keys are errors) and parse durations (``4h``) and conditions
(``when:``) while validating, so a validated ``Ruleset`` is ready to run: the engine
never re-parses text.  Cross-references between sections (a rule naming a receiver, a
target naming a tier) are checked by ``spm_rules.ruleset.checks`` on the whole file.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic.json_schema import SkipJsonSchema
from pydantic import ConfigDict, Field, PlainSerializer, PlainValidator, PrivateAttr, WithJsonSchema, field_validator, model_validator

from ..alerting import InhibitRuleSpec, ReceiverSpec, RootRouteSpec, SilenceSpec, TemplateSpec, TicketUrl
from ..clock.calendar import CalendarSpec
from ..reports.board import BoardSpec
from ..reports.status import CustomerStatusSpec
from ..reports.spec import ReportsSpec
from ..schedules import ScheduleSpec
from ..sources.mapping import FieldMapping
from ..sources.spec import SourceSpec
from ..state.retention import RetentionSpec
from .conditions import Condition, parse_condition, render
from ..durations import WorkingDays
from ..dispatch.sinks import WriteBackSpec
from ..dispatch.spec import DispatchSpec, ProviderSpec, Strategy, TableSpec
from .types import NAME_PATTERN, TARGET_JSON_SCHEMA, Duration, StrictModel, Target, ZoneName, shorthand_schema

__all__ = [
    "ConditionField",
    "TierSpec",
    "LevelSpec",
    "TargetSpec",
    "CalendarByField",
    "PolicySpec",
    "EscalateAction",
    "RouteAction",
    "NotifyAction",
    "ActionSpec",
    "RuleSpec",
    "ReceiverSpec",
    "DeliverySpec",
    "Ruleset",
    "TWENTY_FOUR_SEVEN_NAME",
]

TWENTY_FOUR_SEVEN_NAME = "24x7"

_CONDITION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "all/any: [conditions]; not: condition; or field (with lookup: a table) + one of eq, ne, lt, lte, gt, gte, in, not_in, present",
}

ConditionField = Annotated[
    Condition,
    PlainValidator(lambda raw: parse_condition(raw)),
    PlainSerializer(render, return_type=str),
    WithJsonSchema(_CONDITION_SCHEMA),
]


class TierSpec(StrictModel):
    """A service tier (response level a customer bought), e.g. ``P4: {response: 4h}``."""

    response: Target | None = None
    description: str | None = None


class LevelSpec(StrictModel):
    """A named escalation level: reached at a share of the target or an offset from the due time."""

    name: str = Field(pattern=NAME_PATTERN)
    at: str | None = Field(default=None, description="share of the target, e.g. '75%'")
    before_due: Duration | None = None
    after_due: Duration | None = None
    urgent: bool = Field(default=False, description="delivered even outside a receiver's active hours")

    @field_validator("at")
    @classmethod
    def _share(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d+(\.\d+)?%", value.strip()):
            raise ValueError(f"level share {value!r} must be a percentage such as '75%'")
        return value

    @model_validator(mode="after")
    def _one_threshold(self) -> "LevelSpec":
        given = [k for k in ("at", "before_due", "after_due") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"level {self.name!r} needs exactly one of at, before_due, after_due (found {given or 'none'})")
        return self

    def threshold(self, target: timedelta) -> timedelta:
        """The business time after which this level is reached, for a given target (never negative)."""
        if self.at is not None:
            share = float(self.at.strip()[:-1])
            # Whole microseconds, rounded down, so 75% of 4h is exactly 3h.
            micros = int(target // timedelta(microseconds=1))
            value = timedelta(microseconds=(micros * round(share * 1000)) // 100_000)
        elif self.before_due is not None:
            value = target - self.before_due
        else:
            assert self.after_due is not None
            value = target + self.after_due
        return max(value, timedelta(0))


class TargetSpec(StrictModel):
    """A stage's target per tier: ``{P2: 2h, P4: 4h}``, with ``default`` for other tiers.

    Written in YAML as a plain target (every tier), a mapping tier → target, or the word
    ``response`` (each tier's declared response time).  A target is business time on the
    policy's calendar (``4h``) or working days of it (``2wd``).
    """

    model_config = ConfigDict(
        json_schema_extra=shorthand_schema(
            TARGET_JSON_SCHEMA, {"const": "response"}, {"type": "object", "additionalProperties": TARGET_JSON_SCHEMA}
        )
    )

    per_tier: dict[str, Target] = {}
    default: Target | None = None
    from_tier_response: bool = False

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if value == "response":
            return {"from_tier_response": True}
        if isinstance(value, str):
            return {"default": value}
        if isinstance(value, dict) and not {"per_tier", "from_tier_response"} & set(value):
            value = dict(value)
            default = value.pop("default", None)
            return {"per_tier": value, "default": default} if default is not None else {"per_tier": value}
        return value

    def for_tier(self, tier: str, tiers: dict[str, TierSpec]) -> timedelta | WorkingDays | None:
        """The target for ``tier``, or None when this stage has none for it."""
        if tier in self.per_tier:
            return self.per_tier[tier]
        if self.from_tier_response and tier in tiers:
            return tiers[tier].response
        return self.default


class CalendarByField(StrictModel):
    """Take the calendar from a ticket field: ``{field: region, map: {north: cn-north}, default: cn}``.

    Without ``map`` the field's value is the calendar's name.
    """

    field: str
    map: dict[str, str] = {}
    default: str = TWENTY_FOUR_SEVEN_NAME


class PolicySpec(StrictModel):
    """An SLA policy: which tickets, which clock and calendar, the targets and the levels."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    applies_to: ConditionField | None = None
    calendar: str | CalendarByField = TWENTY_FOUR_SEVEN_NAME
    clock: Literal["stage", "created"] = "stage"
    targets: dict[str, TargetSpec] = Field(default_factory=dict, description="stage -> target (clock: stage)")
    target: TargetSpec | None = Field(default=None, description="the end-to-end target (clock: created)")
    reopen: Literal["restart", "continue"] = "restart"
    levels: list[LevelSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _clock_has_targets(self) -> "PolicySpec":
        if self.clock == "stage":
            if not self.targets or self.target is not None:
                raise ValueError("a stage clock takes 'targets' (stage -> target), not 'target'")
        elif self.target is None or self.targets:
            raise ValueError("a 'created' clock takes one 'target', not per-stage 'targets'")
        names = [level.name for level in self.levels]
        if len(set(names)) != len(names):
            raise ValueError(f"level names repeat: {names}")
        return self


class EscalateAction(StrictModel):
    """Escalate to a role (``to``), optionally naming the escalation level."""

    to: str
    level: str | None = None


class RouteAction(StrictModel):
    """Assign the ticket to a provider: the one named, a lookup table's value for a ticket
    field, or the one a strategy picks among the declared providers (``route: dispatch``
    uses the ``dispatch:`` section's).  A ``reroute`` (an escalation moving the ticket,
    say to the in-house team) wins over every other route, with its ``reason`` in history."""

    model_config = ConfigDict(json_schema_extra=shorthand_schema({"const": "dispatch"}))

    provider: str | None = None
    table: str | None = None
    field: str | None = None
    strategy: Strategy | None = None
    record: dict[str, str] = Field(default_factory=dict, description="ticket field -> table column set on the ticket when it has none (table routes)")
    reroute: bool = False
    reason: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {} if value == "dispatch" else value

    @model_validator(mode="after")
    def _one_way(self) -> "RouteAction":
        if self.provider is not None and (self.table is not None or self.strategy not in (None, "rule")):
            raise ValueError("a route names a provider, or a table or strategy to choose one, not both")
        if (self.table is None) != (self.field is None):
            raise ValueError("table and field go together: the table is looked up with the ticket's field")
        if self.record and self.table is None:
            raise ValueError("record copies columns of the table's row: it needs table")
        if self.strategy == "rule" and self.provider is None:
            raise ValueError("strategy 'rule' routes to the provider the rule names: add provider")
        return self


class NotifyAction(StrictModel):
    """Notify named receivers; ``repeat`` re-sends while the condition still holds."""

    model_config = ConfigDict(json_schema_extra=shorthand_schema({"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}))

    receivers: list[str] = Field(min_length=1)
    repeat: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"receivers": [value]}
        if isinstance(value, list):
            return {"receivers": value}
        return value


class ActionSpec(StrictModel):
    """One action of a rule's ``then``: exactly one of escalate, route, notify, tag."""

    escalate: EscalateAction | None = None
    route: RouteAction | None = None
    notify: NotifyAction | None = None
    tag: Annotated[list[str] | None, WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})] = None

    @field_validator("tag", mode="before")
    @classmethod
    def _tag_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _exactly_one(self) -> "ActionSpec":
        given = [k for k in ("escalate", "route", "notify", "tag") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"an action is exactly one of escalate, route, notify, tag (found {given or 'none'})")
        return self

    @property
    def kind(self) -> str:
        """Which action this is: escalate, route, notify or tag."""
        return next(k for k in ("escalate", "route", "notify", "tag") if getattr(self, k) is not None)

    def arguments(self) -> dict[str, Any]:
        """The action's arguments as plain data (durations as text)."""
        value = getattr(self, self.kind)
        if isinstance(value, list):
            return {"tags": list(value)}
        return value.model_dump(mode="json", exclude_none=True, exclude_defaults=True)


class RuleSpec(StrictModel):
    """A rule: when its condition holds for a ticket's facts, its actions become decisions."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    enabled: bool = True
    when: ConditionField | None = None
    then: list[ActionSpec] = Field(min_length=1)


class DeliverySpec(StrictModel):
    """How the outbox retries: exponential backoff from ``backoff`` up to ``max_backoff``,
    dead-lettered after ``max_attempts`` with a meta-alert to ``fallback_receiver``."""

    max_attempts: int = Field(default=5, ge=1)
    backoff: Duration = timedelta(minutes=1)
    max_backoff: Duration = timedelta(hours=1)
    fallback_receiver: str | None = None
    timeout: Duration = timedelta(seconds=10)
    concurrency: int = Field(default=4, ge=1, le=64)


class Ruleset(StrictModel):
    """A whole ruleset file, validated.  ``source`` is the file it came from (set by the loader)."""

    version: Literal[1] = 1
    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    ticket_timezone: ZoneName | None = None
    tiers: dict[str, TierSpec] = Field(min_length=1)
    stages: list[str] = Field(min_length=1)
    terminal_statuses: list[str] = Field(min_length=1)
    pausing_statuses: list[str] = []
    calendars: dict[str, CalendarSpec] = {}
    policies: list[PolicySpec] = []
    rules: list[RuleSpec] = []
    receivers: dict[str, ReceiverSpec] = {}
    delivery: DeliverySpec = DeliverySpec()
    # Stateful runs (spm_rules.schedules owns the schedule model).
    schedules: list[ScheduleSpec] = []
    retention: RetentionSpec = RetentionSpec()
    # Alerting (spm_rules.alerting owns these models).
    ticket_url: TicketUrl | None = None
    route: RootRouteSpec | None = None
    inhibit_rules: list[InhibitRuleSpec] = []
    silences: list[SilenceSpec] = []
    templates: dict[str, TemplateSpec] = {}
    # Reports read from the state (spm_rules.reports owns these models).
    reports: ReportsSpec = ReportsSpec()
    customer_status: CustomerStatusSpec = CustomerStatusSpec()
    board: BoardSpec = BoardSpec()
    # Dispatch (spm_rules.dispatch owns these models).
    providers: dict[str, ProviderSpec] = {}
    tables: dict[str, TableSpec] = {}
    dispatch: DispatchSpec = DispatchSpec()
    write_back: dict[str, WriteBackSpec] = {}
    # Ticket sources (spm_rules.sources owns these models): the YAML key ``source:`` is the
    # database source; the attribute ``source`` is the file the ruleset came from.
    mapping: FieldMapping | None = None
    source: SkipJsonSchema[str | None] = Field(default=None, exclude=True, validation_alias="spm-rules-ruleset-file")
    ticket_source: SourceSpec | None = Field(default=None, alias="source")
    # The YAML data and line map the loader read this ruleset from, so that the linter
    # (spm_rules.ruleset.lint) can say where a warning stands and how a value was written.
    _origin: Any = PrivateAttr(default=None)
    # The lookup tables read from ``tables`` (spm_rules.dispatch.build.ruleset_tables).
    _tables: Any = PrivateAttr(default=None)
