"""Lookup tables: longest-prefix and exact matches, and every table mistake located at load."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from spm_rules.dispatch import LookupTable, lookup
from spm_rules.errors import RulesetError
from spm_rules.ruleset.loader import load_ruleset

STATIONS = {"10": "beijing-central", "1000": "beijing-dongcheng", "10008": "beijing-haidian", "20": "shanghai-central"}


def table(rows: dict[str, str], match: str = "prefix") -> LookupTable:
    return LookupTable("stations", {key: {"value": value} for key, value in rows.items()}, "value", match)


@pytest.mark.parametrize(
    ("code", "station"),
    [
        ("100080", "beijing-haidian"),   # 10008 beats 1000 and 10
        ("100010", "beijing-dongcheng"),
        ("101300", "beijing-central"),
        ("200001", "shanghai-central"),
        ("300000", None),
        ("1", None),                     # shorter than every key
        (100080, "beijing-haidian"),     # a number is read as its text
        ("", None),
        (None, None),
    ],
)
def test_longest_prefix_wins(code: object, station: str | None) -> None:
    assert lookup(table(STATIONS), code) == station


def test_exact_tables_match_whole_keys_only() -> None:
    cities = table({"Wuhan": "central", "Chengdu": "west"}, match="exact")
    assert lookup(cities, "Wuhan") == "central"
    assert lookup(cities, "Wuhan-East") is None


@given(st.text(alphabet="0123456789", min_size=0, max_size=8))
def test_the_longest_matching_key_is_found_for_any_code(code: str) -> None:
    prefixes = [key for key in STATIONS if code.startswith(key)]
    expected = STATIONS[max(prefixes, key=len)] if prefixes else None
    assert lookup(table(STATIONS), code) == expected


RULESET = """\
name: t
tiers: {P4: {}}
stages: [request]
terminal_statuses: [resolved]
providers:
  station-bj: {}
  station-sh: {}
tables:
  stations: {file: stations.csv, key: prefix, value: station, match: prefix, providers: [station]}
"""


def problems(tmp_path: Path, csv_text: str | None, ruleset: str = RULESET) -> list[str]:
    if csv_text is not None:
        (tmp_path / "stations.csv").write_text(csv_text, encoding="utf-8")
    (tmp_path / "r.yaml").write_text(ruleset, encoding="utf-8")
    with pytest.raises(RulesetError) as info:
        load_ruleset(tmp_path / "r.yaml")
    return [str(p) for p in info.value.problems]


def test_a_csv_table_loads_relative_to_the_ruleset(tmp_path: Path) -> None:
    (tmp_path / "stations.csv").write_text("prefix,station\n10,station-bj\n20,station-sh\n", encoding="utf-8")
    (tmp_path / "r.yaml").write_text(RULESET, encoding="utf-8")
    from spm_rules.dispatch.build import ruleset_tables

    tables = ruleset_tables(load_ruleset(tmp_path / "r.yaml"))
    assert lookup(tables["stations"], "100080") == "station-bj"


def test_a_missing_file_is_located_at_the_file_key(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, None)
    assert found.startswith(f"{tmp_path / 'r.yaml'}:9: tables.stations.file: table 'stations': no such file")


def test_duplicate_keys_and_unknown_providers_name_file_row_and_column(tmp_path: Path) -> None:
    found = problems(tmp_path, "prefix,station\n10,station-bj\n20,station-sh\n10,station-sh\n21,station-gz\n")
    csv_path = tmp_path / "stations.csv"
    assert found == [
        f"{csv_path}:4: prefix: table 'stations': row 3 repeats key '10' (first in row 1)",
        f"{csv_path}:5: station: table 'stations': row 4: unknown provider 'station-gz' (hint: did you mean 'station-sh'?)",
    ]


def test_a_missing_column_is_named_with_the_columns_there_are(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, "prefix,stat\n10,station-bj\n")
    assert found == f"{tmp_path / 'stations.csv'}:1: station: table 'stations': no column 'station' (columns: prefix, stat)"


def test_inline_rows_naming_no_provider_are_located_in_the_ruleset(tmp_path: Path) -> None:
    text = RULESET.replace("{file: stations.csv, key: prefix, value: station, match: prefix, providers: [station]}", "\n    rows: {'10': station-bj, '20': station-xh}\n    providers: [value]")
    (found,) = problems(tmp_path, None, text)
    assert found.endswith("tables.stations.rows.20: unknown provider 'station-xh' (hint: did you mean 'station-sh'?)")
