"""Fuzzing the ticket readers (issue 13 item 11): whatever the bytes of a JSONL, JSON or
CSV file, reading yields valid tickets and located problems (row, field), never raises,
the tickets read evaluate under the shipped command-center ruleset, and a 100 MB field
is skipped fast without being held in memory."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spm_rules.engine import Engine
from spm_rules.ruleset.loader import load_ruleset
from spm_rules.sources.files import TicketReader
from spm_rules.tickets import Ticket

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
GOOD = {"id": "A", "tier": "P4", "status": "open", "created_at": "2026-11-25T09:00:00+08:00"}
TIMES = st.sampled_from(["2026-11-25T09:00:00+08:00", "0001-01-01T00:00:00+08:00", "9999-12-31T23:00:00-08:00", "2026-11-25T09:00:00", "2026-13-40", "Z"])
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10), TIMES)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=12)
#: Rows near a ticket: the required fields, some of them replaced by anything, some extra fields.
ROWS = st.builds(
    lambda base, changes: {**base, **changes},
    st.just(GOOD),
    st.dictionaries(st.sampled_from(["id", "tier", "status", "created_at", "stage_history", "status_history", "tier_history", "stage", "x", "x.y"]), JSON_VALUES, max_size=4),
)
#: Bytes that break formats: quotes, brackets, separators, line breaks, NUL, invalid UTF-8.
NOISE = st.binary(max_size=60) | st.lists(st.sampled_from([b'"', b"[", b"{", b"}", b"]", b",", b"\n", b"\r", b"\x00", b"\xff", b"\xe9", b"NaN", b"1e999", b"\\u0000", b":"]), max_size=30).map(b"".join)


ROOT = Path(__file__).resolve().parents[2]
ENGINE = Engine(load_ruleset(ROOT / "rulesets" / "enterprise-command-center.yaml"), "python")
NOW = datetime(2026, 11, 25, 14, 0, tzinfo=timezone.utc)


def _read(path: Path) -> tuple[list[Ticket], list[Any]]:
    reader = TicketReader(path)
    tickets = list(reader)
    assert all(isinstance(ticket, Ticket) for ticket in tickets)
    assert [result.ticket.id for result in ENGINE.evaluate(tickets, NOW)] == [ticket.id for ticket in tickets]
    for problem in reader.problems + reader.warnings:
        assert problem.source == str(path) and problem.row >= 0 and problem.field and problem.message
    return tickets, reader.problems


@FUZZ
@given(rows=st.lists(ROWS, max_size=6), noise=NOISE, at=st.integers(0, 6))
def test_any_jsonl_file_reads_to_tickets_and_located_problems(tmp_path: Path, rows: list[dict[str, Any]], noise: bytes, at: int) -> None:
    lines = [json.dumps(row).encode("utf-8") for row in rows]
    lines.insert(min(at, len(lines)), noise)
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    _read(path)


@FUZZ
@given(rows=st.lists(ROWS, max_size=6), noise=NOISE, at=st.integers(0, 400))
def test_any_json_file_reads_to_tickets_and_located_problems(tmp_path: Path, rows: list[dict[str, Any]], noise: bytes, at: int) -> None:
    text = json.dumps(rows).encode("utf-8")
    path = tmp_path / "t.json"
    path.write_bytes(text[:at] + noise + text[at:])
    _read(path)


@FUZZ
@given(cells=st.lists(st.lists(st.text(max_size=12) | TIMES, min_size=0, max_size=7), max_size=6), noise=NOISE)
def test_any_csv_file_reads_to_tickets_and_located_problems(tmp_path: Path, cells: list[list[str]], noise: bytes) -> None:
    lines = ["id,tier,status,created_at,stage_history,extra.field"] + [",".join(json.dumps(cell) if index % 2 else cell for index, cell in enumerate(row)) for row in cells]
    path = tmp_path / "t.csv"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + noise + b"\n")
    _read(path)


@pytest.mark.parametrize("name", ["t.jsonl", "t.csv"])
def test_a_100_mb_field_is_skipped_and_the_next_row_read(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    huge = "x" * 100_000_000
    with path.open("w", encoding="utf-8") as out:
        if name.endswith(".csv"):
            out.write("id,tier,status,created_at,note\n")
            out.write(f"H,P4,open,2026-11-25T09:00:00+08:00,{huge}\n")
            out.write("B,P4,open,2026-11-25T09:00:00+08:00,fine\n")
        else:
            out.write(json.dumps(GOOD | {"id": "H", "note": huge}) + "\n")
            out.write(json.dumps(GOOD | {"id": "B"}) + "\n")
    del huge
    tickets, problems = _read(path)
    assert [ticket.id for ticket in tickets] == ["B"]
    assert [(problem.row, problem.field) for problem in problems] == [(2 if name.endswith(".csv") else 1, "row")]
