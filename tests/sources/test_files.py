"""Reading tickets from JSONL, JSON and CSV: bad rows are located and the rest still read."""

import json
from pathlib import Path

import pytest

from spm_rules.errors import TicketError
from spm_rules.ruleset.loader import parse_ruleset
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


# --------------------------------------------------------------------------- encodings and headers

HEADER = "id,tier,status,created_at,fault\n"
ROW = "{id},P4,open,2026-11-25T09:00:00+08:00,{fault}\n"
REPAIR_GBK = "维修".encode("gbk")  # b"\xce\xac\xd0\xde": not UTF-8 (0xd0 0xde is no UTF-8 sequence)


@pytest.mark.parametrize(
    "name, text",
    [
        ("t.csv", HEADER + ROW.format(id="A", fault="disk")),
        ("t.jsonl", json.dumps(GOOD) + "\n"),
        ("t.json", json.dumps([GOOD])),
        ("t.txt", HEADER + ROW.format(id="A", fault="disk")),  # sniffed
    ],
)
def test_a_utf8_byte_order_mark_is_read_transparently(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    reader = TicketReader(path)
    assert [t.id for t in reader] == ["A"]
    assert reader.problems == []


def test_a_gbk_csv_read_as_utf8_rejects_the_bad_rows_with_their_column_and_reads_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes((HEADER + ROW.format(id="A", fault="disk")).encode() + b"B,P4,open,2026-11-25T09:00:00+08:00,fan " + REPAIR_GBK + b"\n" + ROW.format(id="C", fault="psu").encode())
    reader = TicketReader(path)
    assert [t.id for t in reader] == ["A", "C"]
    [problem] = reader.problems
    assert (problem.row, problem.field, problem.ticket_id) == (3, "fault", "B")
    assert "not valid UTF-8 text at byte 6 of the cell (0xd0)" in problem.message
    assert problem.hint is not None and "--encoding gbk" in problem.hint
    assert str(problem).startswith(f"{path}: row 3 ticket B: fault: not valid UTF-8")


def test_the_same_gbk_csv_read_with_its_encoding(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes((HEADER + ROW.format(id="A", fault="维修")).encode("gbk"))
    reader = TicketReader(path, encoding="gbk")
    [ticket] = list(reader)
    assert ticket.fact()["fault"] == "维修" and reader.problems == []


def test_a_jsonl_line_that_does_not_decode_is_rejected_and_the_others_read(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    bad = json.dumps(GOOD | {"id": "B", "fault": "@"}).encode().replace(b"@", REPAIR_GBK)
    path.write_bytes(b"\n".join([json.dumps(GOOD).encode(), bad, json.dumps(GOOD | {"id": "C"}).encode()]) + b"\n")
    reader = TicketReader(path)
    assert [t.id for t in reader] == ["A", "C"]
    [problem] = reader.problems
    assert (problem.row, problem.field) == (2, "encoding")
    assert f"not valid UTF-8 text at byte {bad.index(REPAIR_GBK) + 2} of the row (0xd0)" in problem.message
    assert "--encoding gbk" in (problem.hint or "")


def test_a_json_array_element_that_does_not_decode_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_bytes(json.dumps([GOOD, GOOD | {"id": "B", "fault": "@"}, GOOD | {"id": "C"}]).encode().replace(b"@", REPAIR_GBK))
    reader = TicketReader(path)
    assert [t.id for t in reader] == ["A", "C"]
    assert [(p.row, p.field) for p in reader.problems] == [(2, "fault")]


def test_a_gbk_header_is_one_problem_for_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(("工单号,等级,状态,创建时间\n" + "A,P4,open,2026-11-25T09:00:00+08:00\n" * 3).encode("gbk"))
    reader = TicketReader(path)
    assert list(reader) == []
    [problem] = reader.problems
    assert (problem.row, problem.field) == (1, "columns")
    assert "not valid UTF-8" in problem.message and "--encoding gbk" in (problem.hint or "")


@pytest.mark.parametrize(
    "header, missing, hint",
    [
        ("工单号,等级,状态,创建时间", "id, tier, status, created_at", None),
        ("ID,Tier,status,created", "id, tier, created_at", "'ID' for id, 'Tier' for tier, 'created' for created_at"),
    ],
)
def test_a_csv_header_without_the_required_columns_is_named_once(tmp_path: Path, header: str, missing: str, hint: str | None) -> None:
    path = tmp_path / "t.csv"
    path.write_text(header + "\n" + "A,P4,open,2026-11-25T09:00:00+08:00\n" * 5, encoding="utf-8")
    reader = TicketReader(path)
    assert list(reader) == []
    [problem] = reader.problems
    assert (problem.row, problem.field) == (1, "columns")
    assert problem.message == f"the header lacks the required column(s) {missing}; it has: {header.replace(',', ', ')}"
    assert problem.hint == (f"did you mean {hint}?" if hint else "a tickets CSV starts with a header naming id, tier, status, created_at (and any other fields)")


def test_an_unknown_encoding_name_is_refused_up_front(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown encoding 'gbkk'"):
        TicketReader(tmp_path / "t.csv", encoding="gbkk")


def test_given_the_ruleset_the_reader_locates_tickets_it_cannot_measure(tmp_path: Path) -> None:
    ruleset = parse_ruleset((ROOT / "rulesets" / "enterprise-command-center.yaml").read_text(encoding="utf-8"), "enterprise.yaml")
    path = tmp_path / "t.jsonl"
    rows = [GOOD, GOOD | {"id": "B", "tier": "P9"}, GOOD | {"id": "C", "stage": "dispached"}, GOOD | {"id": "D", "status": "waiting_customer"}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    reader = TicketReader(path, ruleset=ruleset)
    assert [t.id for t in reader] == ["A", "B", "C", "D"]  # still read: their other rules run
    assert reader.problems == []
    assert [(w.row, w.ticket_id, w.field, w.hint) for w in reader.warnings] == [
        (2, "B", "tier", "declared: P2, P4, P6"),
        (3, "C", "stage", "did you mean 'dispatched'?"),
        (4, "D", "status_history", "add {status: waiting_customer, at: …} to status_history"),
    ]
    assert str(reader.warnings[1]).startswith(f"{path}: row 3 ticket C: stage: stage 'dispached' is not one of the ruleset's stages")
    without = TicketReader(path)
    assert len(list(without)) == 4 and without.warnings == []
