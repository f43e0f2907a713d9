"""Field types every section of a ruleset shares: strict models, names, durations, zones.

One definition each, so that a duration or a timezone means the same and fails with the
same message in policies, calendars, schedules, receivers and retention.  Kept free of
the other ruleset modules so that any section's model can import it without a cycle.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer, PlainValidator, WithJsonSchema

from ..durations import WorkingDays, format_duration, format_target, parse_duration, parse_target

__all__ = [
    "StrictModel",
    "NAME_PATTERN",
    "Duration",
    "DURATION_JSON_SCHEMA",
    "Target",
    "TARGET_JSON_SCHEMA",
    "ZoneName",
    "check_zone",
    "shorthand_schema",
]

#: What a ruleset may call its policies, rules, levels, receivers, templates and hooks.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class StrictModel(BaseModel):
    """Unknown keys are errors and validated values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


DURATION_JSON_SCHEMA: dict[str, Any] = {"type": "string", "pattern": r"^(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?$", "examples": ["30m", "4h", "1h30m"]}

Duration = Annotated[
    timedelta,
    PlainValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(DURATION_JSON_SCHEMA),
]
"""A duration written ``4h``, ``1h30m``, ``2d`` (see :func:`spm_rules.durations.parse_duration`)."""

TARGET_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [DURATION_JSON_SCHEMA, {"type": "string", "pattern": r"^[1-9]\d*wd$", "description": "working days of the policy's business calendar"}],
    "examples": ["4h", "2wd"],
}

Target = Annotated[
    timedelta | WorkingDays,
    PlainValidator(parse_target),
    PlainSerializer(format_target, return_type=str),
    WithJsonSchema(TARGET_JSON_SCHEMA),
]
"""An SLA target: a duration of business time (``4h``) or working days (``2wd``), see
:func:`spm_rules.durations.parse_target`."""


def check_zone(value: str) -> str:
    """``value`` if it names an IANA timezone; a ValueError with examples otherwise."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown IANA timezone {value!r} (e.g. Asia/Shanghai, Europe/Berlin, UTC)") from None
    return value


ZoneName = Annotated[str, AfterValidator(check_zone)]
"""The name of an IANA timezone, checked against the zone database."""


def shorthand_schema(*alternatives: dict[str, Any]) -> Callable[[dict[str, Any], type], None]:
    """A ``json_schema_extra`` for a model whose before-validator also accepts short forms
    (``notify: [ops]``, ``target: 4h``): the exported schema accepts them too, so editors
    do not flag what the loader takes."""

    def extend(schema: dict[str, Any], _model: type) -> None:
        full = dict(schema)
        schema.clear()
        schema["anyOf"] = [*alternatives, full]

    return extend
