"""A ruleset's dispatch pieces put together: its tables (read once) and its dispatcher."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ..clock.calendar import Calendar
from ..errors import RulesetError
from ..ruleset.conditions import fields_of, looked_up
from .decide import Dispatcher
from .tables import LookupTable, load_tables

if TYPE_CHECKING:
    from ..ruleset.schema import RuleSpec, Ruleset

__all__ = ["ruleset_tables", "build_dispatcher", "FactLookups"]


def ruleset_tables(ruleset: "Ruleset") -> dict[str, LookupTable]:
    """The ruleset's lookup tables: those the loader read (files relative to the ruleset),
    or, for a ruleset built in code, read now relative to the working directory."""
    tables = ruleset._tables
    if tables is None:
        tables, problems = load_tables(ruleset.tables, Path.cwd(), ruleset.source or "<ruleset>", lambda _path: None, ruleset.providers or None)
        if problems:
            raise RulesetError(problems)
        ruleset._tables = tables
    return tables


class FactLookups:
    """The lookup fields a ruleset's conditions read (``stations[postal_code]``), filled
    into a ticket's fact before it is matched, so every matcher sees plain fields."""

    def __init__(self, tables: Mapping[str, LookupTable], names: Iterable[str]) -> None:
        self.fields = [(name, tables[found[0]], found[1]) for name in dict.fromkeys(names) if (found := looked_up(name)) is not None and found[0] in tables]

    def fill(self, fact: dict[str, Any]) -> dict[str, Any]:
        """``fact`` with each lookup field set (None when the table has no row for the key)."""
        for name, table, field in self.fields:
            found = table.row(fact.get(field))
            fact[name] = None if found is None else found.get(table.value)
        return fact


def build_dispatcher(ruleset: "Ruleset", calendars: Mapping[str, Calendar], routing: Iterable["RuleSpec"]) -> Dispatcher:
    """The dispatcher of ``ruleset``; an assignment depends on the fields its route rules read."""
    fields = [name for rule in routing if rule.when is not None for name in fields_of(rule.when) if not name.startswith("sla.") and name not in ("provider", "provider_reported")]
    fields = [looked_up(name)[1] if looked_up(name) else name for name in fields]  # type: ignore[index]
    return Dispatcher(ruleset.providers, ruleset.dispatch, ruleset_tables(ruleset), calendars, fields)
