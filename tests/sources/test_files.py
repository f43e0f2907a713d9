"""Reading tickets from JSONL, JSON and CSV: bad rows are located and the rest still read."""

import json
from pathlib import Path

import pytest

from spm_rules.errors import TicketError
from spm_rules.sources.files import TicketReader, read_tickets

ROOT = Path(__file__).resolve().parents[2]
GOOD = {"id": "A", "tier": "P4", "status": "open", "created_at": "2026-11-25T09:00:00+08:00"}


def test_jsonl_bad_rows_are_reported_and_the_rest_read(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    lines = [
        json.dumps(GOOD),
        "{not json",
        json.dumps(GOOD | {"id": "B", "created_at": "2026-11-25T09:00:00"}),
        "",
        json.dumps(GOOD | {"id": "C"}),
        json.dumps(["a list"]),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    reader = TicketReader(path)
    assert [t.id for t in reader] == ["A", "C"]
    assert [(p.row, p.field, p.ticket_id) for p in reader.problems] == [(2, "json", None), (3, "created_at", "B"), (6, "ticket", None)]
    assert "no timezone" in reader.problems[1].message
    assert str(reader.problems[1]).startswith(f"{path}: row 3 ticket B: created_at:")


def test_json_array(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps([GOOD, GOOD | {"id": "B", "tier": None}]), encoding="utf-8")
    reader = TicketReader(path)
    assert [t.id for t in reader] == ["A"]
    assert [(p.row, p.field) for p in reader.problems] == [(2, "tier")]


def test_csv_nested_columns_history_and_types(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    history = json.dumps([{"stage": "request", "entered_at": "2026-11-25T09:00:00+08:00"}]).replace('"', '""')
    path.write_text(
        "id,tier,status,created_at,stage_history,account.vip,units,code,provider\n"
        f'007,P4,open,2026-11-25T09:00:00+08:00,"{history}",true,3,0042,\n'
        "8,P4,open,2026-11-25T09:00:00+08:00,[broken,false,1,x,p\n",
        encoding="utf-8",
    )
    reader = TicketReader(path)
    tickets = list(reader)
    assert [t.id for t in tickets] == ["007"]
    fact = tickets[0].fact()
    assert fact["stage"] == "request" and fact["account.vip"] is True and fact["units"] == 3 and fact["code"] == "0042"
    assert fact["provider"] is None
    assert [(p.row, p.field) for p in reader.problems] == [(3, "stage_history")]


def test_declared_timezone_reads_naive_times(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(GOOD | {"created_at": "2026-11-25T09:00:00"}) + "\n", encoding="utf-8")
    tickets, problems = read_tickets([path], default_timezone="Asia/Shanghai")
    assert problems == [] and tickets[0].created_at.hour == 1


def test_missing_file_is_a_ticket_error(tmp_path: Path) -> None:
    with pytest.raises(TicketError) as info:
        list(TicketReader(tmp_path / "none.jsonl"))
    assert "cannot read tickets" in str(info.value)


@pytest.mark.parametrize("name", ["enterprise-tickets.jsonl", "repair-tickets.jsonl"])
def test_shipped_examples_are_valid(name: str) -> None:
    reader = TicketReader(ROOT / "examples" / name, "Asia/Shanghai")
    assert len(list(reader)) >= 8
    assert reader.problems == []
