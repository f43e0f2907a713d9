"""Field mapping: a ticket system's names and values onto spm-rules' ticket facts.

A ticket system seldom says ``tier: P4``; it says ``priority_code: 2``.  The ruleset's
``mapping:`` section translates each source row before it is validated as a ticket, for
every source alike (JSON Lines, JSON, CSV and SQL)::

    mapping:
      timezone: Asia/Shanghai              # naive times of this source are local times here
      fields:
        id: ticket_no                      # ticket field: source column
        created_at: opened_at
        tier: {from: priority_code, values: {1: P2, 2: P4, 3: P6}}
        region: {from: site_city, values: {Beijing: north, Shanghai: east}, default: other}

A mapped column is renamed (it no longer appears under its source name); every other
column is kept as it is, for conditions and templates.  A value map compares values as
text (``1`` in the YAML and ``"1"`` from a CSV cell are the same key); a value that is not
in the map takes ``default`` when there is one and is otherwise a problem naming the source
column, so an unexpected priority code is never measured against the wrong target.

Pure: :meth:`FieldMapping.apply` maps one row; :class:`MappingProblem` says which column
went wrong, and the reader adds the source and row.
"""

from __future__ import annotations

from typing import Any, Mapping

from pydantic import Field, field_validator, model_validator

from ..ruleset.types import StrictModel, ZoneName

__all__ = ["FieldMap", "FieldMapping", "MappingProblem", "value_text"]


class MappingProblem(ValueError):
    """A source value the mapping cannot translate: the source ``column`` and what is wrong."""

    def __init__(self, column: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.column = column
        self.message = message
        self.hint = hint


def value_text(value: Any) -> str:
    """A value as a value map's key: booleans as ``true``/``false`` (as YAML writes them), the rest as ``str``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class FieldMap(StrictModel):
    """One ticket field read from a source column, its values optionally translated."""

    source: str = Field(alias="from", min_length=1, description="the source's column (or key) holding the value")
    values: dict[str, Any] | None = Field(default=None, description="source value -> ticket value, compared as text")
    default: Any = Field(default=None, description="the ticket value for a source value not in `values` (absent: a problem)")

    @field_validator("values", mode="before")
    @classmethod
    def _keys_as_text(cls, raw: Any) -> Any:
        return {value_text(key): value for key, value in raw.items()} if isinstance(raw, dict) else raw

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, raw: Any) -> Any:
        return {"from": raw} if isinstance(raw, str) else raw

    def translate(self, value: Any) -> Any:
        """The ticket value for a source value (MappingProblem naming the column when unmapped)."""
        if self.values is None or value is None:
            return value
        found = self.values.get(value_text(value), _MISSING)
        if found is not _MISSING:
            return found
        if self.default is not None:
            return self.default
        known = ", ".join(self.values)
        raise MappingProblem(self.source, f"value {value!r} is not in the value map ({known})", "add it to the mapping's values, or give a default")


_MISSING = object()


class FieldMapping(StrictModel):
    """The ruleset's ``mapping:`` section: ticket field → source column (with a value map),
    and the timezone of the source's naive times."""

    timezone: ZoneName | None = Field(default=None, description="IANA zone of the source's times written without an offset")
    fields: dict[str, FieldMap] = Field(default_factory=dict, description="ticket field -> source column, or {from, values, default}")

    @field_validator("fields")
    @classmethod
    def _one_target_per_column(cls, fields: dict[str, FieldMap]) -> dict[str, FieldMap]:
        seen: dict[str, str] = {}
        for target, spec in fields.items():
            if spec.source in seen:
                raise ValueError(f"column {spec.source!r} is mapped to both {seen[spec.source]!r} and {target!r}")
            seen[spec.source] = target
        return fields

    def column_of(self, field: str) -> str:
        """The source column a ticket field is read from (the field's own name when unmapped)."""
        head, _, rest = field.partition(".")
        spec = self.fields.get(head)
        return field if spec is None else spec.source + (f".{rest}" if rest else "")

    def apply(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The ticket data of one source row: mapped columns renamed and translated, the rest kept."""
        data = {key: value for key, value in row.items() if key not in self._sources}
        for target, spec in self.fields.items():
            if spec.source in row:
                value = spec.translate(row[spec.source])
                if value is not None:
                    data[target] = value
        return data

    @property
    def _sources(self) -> frozenset[str]:
        return frozenset(spec.source for spec in self.fields.values())
