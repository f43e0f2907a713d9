"""``reports:`` in a ruleset: what scorecards and indicators need to know beyond the SLA policies.

Kept apart from the reports themselves (like ``retention:``) so that loading a ruleset
imports nothing the reports need.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from ..ruleset.types import StrictModel

__all__ = ["ReportsSpec"]


class ReportsSpec(StrictModel):
    """Report settings, e.g. ``{first_call_statuses: [first_call_resolved], first_call_target: 78%}``.

    * ``first_call_statuses``: terminal statuses that mean the ticket was solved on the
      first call (the hotline), for the first-call resolution rate;
    * ``first_call_target``: the share of tickets the process aims to solve on the first
      call, shown beside the rate.
    """

    first_call_statuses: list[str] = Field(default_factory=list, description="terminal statuses of tickets solved on the first call")
    first_call_target: str | None = Field(default=None, description="the first-call resolution rate aimed at, e.g. '78%'")

    @field_validator("first_call_target", mode="before")
    @classmethod
    def _share(cls, value: object) -> object:
        if value is None:
            return None
        if not isinstance(value, str) or not re.fullmatch(r"\d+(\.\d+)?%", value.strip()) or float(value.strip()[:-1]) > 100:
            raise ValueError(f"first_call_target {value} must be a percentage from 0% to 100%, such as '78%'")
        return value

    @property
    def first_call_share(self) -> float | None:
        """``first_call_target`` as a fraction (0.78), or None."""
        return float(self.first_call_target.strip()[:-1]) / 100 if self.first_call_target is not None else None
