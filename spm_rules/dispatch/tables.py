"""Lookup tables: postal-code prefix → station, city → region, product → product line.

A table is read once, when its ruleset loads, from a CSV file next to the ruleset or from
an inline mapping, and validated there: a missing file or column, a repeated key, a
value naming no provider come back as located problems (file, row, column), all at once.
:func:`lookup` is the one way a table is read, by conditions, route actions and anything
else that needs a mapping (a ticket source's field mapping, for instance).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import Location, RulesetProblem, did_you_mean
from .spec import TableSpec

__all__ = ["LookupTable", "lookup", "load_tables"]

@dataclass(frozen=True)
class LookupTable:
    """A validated table: each key's row (column → text), matched exactly or by the longest prefix."""

    name: str
    rows: Mapping[str, Mapping[str, str]]
    value: str = "value"
    match: str = "exact"
    _longest: int = field(default=0, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_longest", max(map(len, self.rows), default=0))

    def row(self, key: Any) -> Mapping[str, str] | None:
        """The row for ``key`` (text, or a number read as text); None when no key matches.
        A prefix table tries the key's own prefixes from the longest down."""
        if key is None or isinstance(key, bool):
            return None
        text = str(key).strip()
        if self.match == "exact":
            return self.rows.get(text)
        for length in range(min(len(text), self._longest), 0, -1):
            found = self.rows.get(text[:length])
            if found is not None:
                return found
        return None


def lookup(table: LookupTable, key: Any, column: str | None = None) -> str | None:
    """The table's value for ``key`` (``column`` of its row, the table's value column by
    default); None when no key matches (longest prefix for a ``match: prefix`` table)."""
    found = table.row(key)
    return None if found is None else found.get(column or table.value)


def load_tables(
    specs: Mapping[str, TableSpec], base: Path, source: str, line_of: Any, providers: Iterable[str] | None
) -> tuple[dict[str, LookupTable], list[RulesetProblem]]:
    """Read and validate every table; ``line_of(path)`` gives the ruleset line of a key
    path, ``providers`` the declared provider names (None: the ruleset declares none, and
    a table naming providers is an error)."""
    tables: dict[str, LookupTable] = {}
    problems: list[RulesetProblem] = []
    known = set(providers or ())
    for name, spec in specs.items():
        if spec.rows is not None:
            rows = {key: {spec.key: key, spec.value: value} for key, value in spec.rows.items()}
            for key, value in spec.rows.items():
                if spec.providers and value not in known:
                    path = ("tables", name, "rows", key)
                    problems.append(RulesetProblem(Location(source, line_of(path), ".".join(path)), f"unknown provider {value!r}", did_you_mean(value, known)))
            tables[name] = LookupTable(name, rows, spec.value, spec.match)
            continue
        assert spec.file is not None
        path = base / spec.file
        read, found = _read_csv(name, spec, path, known)
        if read is None:
            where = ("tables", name, "file")
            problems.extend(RulesetProblem(Location(source, line_of(where), ".".join(where)), p.message, p.hint) for p in found)
            continue
        problems.extend(found)
        tables[name] = LookupTable(name, read, spec.value, spec.match)
    return tables, problems


def _read_csv(name: str, spec: TableSpec, path: Path, providers: set[str]) -> tuple[dict[str, dict[str, str]] | None, list[RulesetProblem]]:
    """The rows of a CSV table by key, and the problems of its rows (located in the CSV).
    None for the rows when the file cannot be read at all (the problem is then about the
    ruleset's ``file:`` key)."""
    where = str(path)
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            missing = [column for column in dict.fromkeys((spec.key, spec.value, *spec.providers)) if column not in header]
            if missing:
                return {}, [RulesetProblem(Location(where, 1, ", ".join(missing)), f"table {name!r}: no column {', '.join(map(repr, missing))} (columns: {', '.join(header) or 'none'})")]
            rows: dict[str, dict[str, str]] = {}
            first_row: dict[str, int] = {}
            problems: list[RulesetProblem] = []
            for row_number, raw in enumerate(reader, start=1):
                line = reader.line_num
                row = {column: (value or "").strip() for column, value in raw.items() if isinstance(column, str)}
                key = row.get(spec.key, "")
                if not key:
                    problems.append(RulesetProblem(Location(where, line, spec.key), f"table {name!r}: row {row_number} has no key"))
                    continue
                if key in rows:
                    problems.append(RulesetProblem(Location(where, line, spec.key), f"table {name!r}: row {row_number} repeats key {key!r} (first in row {first_row[key]})"))
                    continue
                for column in spec.providers:
                    value = row.get(column, "")
                    if value and value not in providers:
                        problems.append(RulesetProblem(Location(where, line, column), f"table {name!r}: row {row_number}: unknown provider {value!r}", did_you_mean(value, providers)))
                rows[key] = row
                first_row[key] = row_number
            return rows, problems
    except FileNotFoundError:
        return None, [RulesetProblem(Location(where), f"table {name!r}: no such file {where}")]
    except OSError as exc:
        return None, [RulesetProblem(Location(where), f"table {name!r}: cannot read {where}: {exc.strerror or exc}")]
    except (UnicodeDecodeError, csv.Error) as exc:
        return None, [RulesetProblem(Location(where), f"table {name!r}: not a UTF-8 CSV file: {exc}")]
