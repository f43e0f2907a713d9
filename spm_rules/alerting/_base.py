"""What every alerting model shares: strict frozen pydantic models and ruleset durations.

Kept apart from ``spm_rules.ruleset.schema`` on purpose: the schema imports the alerting
models, so the alerting models must not import the schema back.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator, WithJsonSchema

from ..durations import format_duration, parse_duration

__all__ = ["StrictModel", "Duration", "NAME_PATTERN"]

#: Names of receivers, templates and hooks: what a ruleset may call them.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class StrictModel(BaseModel):
    """Unknown keys are errors and validated values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Duration = Annotated[
    timedelta,
    PlainValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?$", "examples": ["30m", "4h"]}),
]
