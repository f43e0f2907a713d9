"""What a ruleset may say about dispatch: its providers, lookup tables and strategy.

The models are strict like every other section's; names they share with other sections
(a provider's calendar and receivers, a table's provider values, a route's provider) are
cross-checked by ``spm_rules.ruleset.checks`` on the whole file, and tables are read and
validated by :mod:`spm_rules.dispatch.tables` when the ruleset loads.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ..ruleset.types import Duration, StrictModel

__all__ = ["ProviderSpec", "TableSpec", "FallbackSpec", "DispatchSpec", "STRATEGIES", "Strategy"]

Strategy = Literal["rule", "table", "least_open", "best_on_time"]
#: How a provider is chosen: the route's own provider (``rule``), a lookup table's value
#: (``table``), the eligible provider with the fewest open tickets (``least_open``) or the
#: best on-time rate over the recent closed tickets (``best_on_time``).
STRATEGIES: tuple[str, ...] = ("rule", "table", "least_open", "best_on_time")


class ProviderSpec(StrictModel):
    """A service provider tickets are dispatched to: where and what it serves, when it
    works, how many open tickets it takes at most, and who hears about its tickets.

    An empty ``regions``/``postal_prefixes``/``product_lines``/``tiers`` list means any.
    """

    description: str | None = None
    regions: list[str] = []
    postal_prefixes: list[str] = []
    product_lines: list[str] = []
    tiers: list[str] = []
    calendar: str = Field(default="24x7", description="the provider's working hours (a declared calendar)")
    capacity: int | None = Field(default=None, ge=1, description="maximum open tickets; none: unlimited")
    receivers: list[str] = []
    in_house: bool = Field(default=False, description="the organisation's own engineers")


class TableSpec(StrictModel):
    """A lookup table: a CSV file (relative to the ruleset) or an inline ``rows`` mapping.

    ``key``/``value`` name the CSV columns (inline rows are key → value); ``match: prefix``
    finds the longest key that starts the looked-up text (postal codes).  ``providers``
    names the columns whose values must be declared providers (``value`` when the table
    says ``values: provider``).
    """

    file: str | None = None
    rows: dict[str, str] | None = None
    key: str = "key"
    value: str = "value"
    match: Literal["exact", "prefix"] = "exact"
    providers: list[str] = Field(default_factory=list, description="columns whose values name providers")
    description: str | None = None

    @field_validator("rows", mode="before")
    @classmethod
    def _rows_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _one_source(self) -> "TableSpec":
        if (self.file is None) == (self.rows is None):
            raise ValueError("a table is exactly one of file (a CSV next to the ruleset) or rows (an inline mapping)")
        return self


class FallbackSpec(StrictModel):
    """When the chosen provider is passed over for the next eligible one."""

    capacity: bool = Field(default=True, description="skip a provider at its capacity")
    urgent_tiers: list[str] = Field(default_factory=list, description="tiers that skip a provider outside its working calendar")
    max_red: int | None = Field(default=None, ge=0, description="skip a provider with more open escalations at red_levels")
    red_levels: list[str] = ["red"]
    to: str | None = Field(default=None, description="the provider of last resort when no eligible one is left")


class DispatchSpec(StrictModel):
    """How a ``route: dispatch`` action (or a route with ``strategy:``) picks a provider."""

    strategy: Strategy = "least_open"
    table: str | None = None
    field: str | None = Field(default=None, description="the ticket field looked up in the table")
    region_field: str = "region"
    postal_field: str = "postal_code"
    product_line_field: str = "product_line"
    on_time_window: Duration = timedelta(days=30)
    fallback: FallbackSpec = FallbackSpec()

    @model_validator(mode="after")
    def _table_needs_field(self) -> "DispatchSpec":
        if (self.table is None) != (self.field is None):
            raise ValueError("table and field go together: the table is looked up with the ticket's field")
        if self.strategy == "table" and self.table is None:
            raise ValueError("strategy 'table' needs table and field")
        return self
