"""Hostile and unusual ticket input (issue 13 items 1 and 11): every bad row is a located
rejection (row, field), never a traceback, and the rows around it are read, evaluated and
delivered.  Each case here failed on main before issue 13 (a RecursionError, an
OverflowError, or a row accepted silently), except the undecodable byte, which was
already rejected per row and is kept here so that the guarantee stays proven end to end.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spm_rules.sources.files import MAX_ROW_CHARS, TicketReader
from tests.fixtures.processes import ROOT, python

GOOD = {"id": "A", "tier": "P4", "status": "open", "created_at": "2026-11-25T09:00:00+08:00"}
DEEP = "[" * 10_000 + "]" * 10_000

#: (name, JSONL row, (field, start of the message)) for each kind of hostile row.
HOSTILE_ROWS = [
    ("deep-nesting", '{"id": "H", "x": ' + DEEP + "}", ("json", "nested deeper than 64 levels")),
    ("time-before-utc-start", json.dumps(GOOD | {"id": "H", "created_at": "0001-01-01T00:00:00+08:00"}), ("created_at", "0001-01-01T00:00:00+08:00 is outside the years 1900-8999")),
    ("time-past-utc-end", json.dumps(GOOD | {"id": "H", "created_at": "9999-12-31T23:00:00-08:00"}), ("created_at", "9999-12-31T23:00:00-08:00 is outside")),
    ("history-time-overflow", json.dumps(GOOD | {"id": "H", "stage_history": [{"stage": "s", "entered_at": "0001-01-01T00:00:00+08:00"}]}), ("stage_history.0.entered_at", "0001-01-01")),
    ("nan", json.dumps(GOOD | {"id": "H", "score": float("nan")}), ("score", "NaN is not a number a ticket may hold")),
    ("infinity-nested", json.dumps(GOOD | {"id": "H", "account": {"credit": float("-inf")}}), ("account.credit", "-Infinity is not a number")),
    ("float-overflow", json.dumps(GOOD | {"id": "H"})[:-1] + ', "units": 1e999}', ("units", "1e999 is not a number")),
    ("huge-integer", json.dumps(GOOD | {"id": "H"})[:-1] + ', "units": ' + "9" * 5000 + "}", ("json", "a number cannot be read")),
    ("nul-in-value", json.dumps(GOOD | {"id": "H", "note": "a\u0000b"}), ("note", "holds a NUL character")),
    ("nul-in-key", json.dumps(GOOD | {"id": "H", "no\u0000te": "x"}), ("no\u0000te", "holds a NUL character")),
    ("huge-row", json.dumps(GOOD | {"id": "H", "note": "x" * (MAX_ROW_CHARS + 10)}), ("row", f"longer than {MAX_ROW_CHARS:,} characters")),
]


def _check(problems: list, row: int, expected: tuple[str, str]) -> None:
    assert [(p.row, p.field) for p in problems] == [(row, expected[0])]
    assert problems[0].message.startswith(expected[1])


@pytest.mark.parametrize(("line", "expected"), [case[1:] for case in HOSTILE_ROWS], ids=[case[0] for case in HOSTILE_ROWS])
def test_a_hostile_jsonl_row_is_rejected_where_it_stands_and_its_neighbours_read(tmp_path: Path, line: str, expected: tuple[str, str]) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join([json.dumps(GOOD), line, json.dumps(GOOD | {"id": "B"})]) + "\n", encoding="utf-8")
    reader = TicketReader(path)
    assert [t.id for t in reader] == ["A", "B"]
    _check(reader.problems, 2, expected)


@pytest.mark.parametrize(("line", "expected"), [case[1:] for case in HOSTILE_ROWS], ids=[case[0] for case in HOSTILE_ROWS])
def test_a_hostile_json_array_element_is_rejected_by_its_index_and_the_others_read(tmp_path: Path, line: str, expected: tuple[str, str]) -> None:
    path = tmp_path / "t.json"
    path.write_text(f"[{json.dumps(GOOD)},\n {line},\n {json.dumps(GOOD | {'id': 'B'})}]", encoding="utf-8")
    reader = TicketReader(path)
    assert [t.id for t in reader] == ["A", "B"]
    _check(reader.problems, 2, expected)


def _csv_history(entries: str) -> str:
    return '"' + entries.replace('"', '""') + '"'


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        ("H,P4,open,0001-01-01T00:00:00+08:00,,", ("created_at", "0001-01-01T00:00:00+08:00 is outside")),
        ("H,P4,open,2026-11-25T09:00:00+08:00,,a\u0000b", ("note", "holds a NUL character")),
        ("H,P4,open,2026-11-25T09:00:00+08:00," + _csv_history('[{"stage": "s", "entered_at": "2026-11-25T09:00:00+08:00", "x": NaN}]') + ",", ("stage_history.0.x", "NaN is not a number")),
        ("H,P4,open,2026-11-25T09:00:00+08:00," + _csv_history(DEEP) + ",", ("stage_history", "nested deeper than 64 levels")),
        ("H,P4,open,2026-11-25T09:00:00+08:00,," + "y" * 200_000, ("csv", "malformed CSV: field larger than field limit")),
        ("H,P4,open,2026-11-25T09:00:00+08:00,," + "y" * (MAX_ROW_CHARS + 10), ("row", f"longer than {MAX_ROW_CHARS:,} characters")),
    ],
    ids=["time-overflow", "nul", "nan-in-history", "deep-history", "huge-field", "huge-row"],
)
def test_a_hostile_csv_record_is_rejected_at_its_line_and_the_others_read(tmp_path: Path, cells: str, expected: tuple[str, str]) -> None:
    path = tmp_path / "t.csv"
    header = "id,tier,status,created_at,stage_history,note"
    good = "{},P4,open,2026-11-25T09:00:00+08:00,,fine"
    path.write_text("\n".join([header, good.format("A"), cells, good.format("B")]) + "\n", encoding="utf-8")
    reader = TicketReader(path)
    assert [t.id for t in reader] == ["A", "B"]
    _check(reader.problems, 3, expected)


def test_a_json_array_cut_short_keeps_the_elements_before_the_cut(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(f'[{json.dumps(GOOD)},\n{{"id": "B", "tier": ', encoding="utf-8")
    reader = TicketReader(path)
    assert [t.id for t in reader] == ["A"]
    assert [(p.row, p.field) for p in reader.problems] == [(2, "json")]
    assert reader.problems[0].message.startswith("malformed JSON")


# -- end to end: the shipped command-center ruleset, its example tickets and the hostile rows


def test_hostile_rows_cost_only_themselves_and_the_rest_is_evaluated_and_delivered(tmp_path: Path) -> None:
    """Through the real CLI: exit 3, one located line per hostile row, and the example
    tickets' notifications delivered (on the shipped console receivers) in the same run."""
    examples = (ROOT / "examples" / "enterprise-tickets.jsonl").read_text(encoding="utf-8").splitlines()
    hostile = [case[1].replace('"id": "H"', f'"id": "H{number}"') for number, case in enumerate(HOSTILE_ROWS)]  # one id each: no duplicates
    undecodable = json.dumps(GOOD | {"id": "H"}).encode("utf-8").replace(b'"H"', b'"H\xff"')
    tickets = tmp_path / "tickets.jsonl"
    tickets.write_bytes(b"\n".join([examples[0].encode(), *(line.encode() for line in hostile), undecodable, *(line.encode() for line in examples[1:])]) + b"\n")
    args = ["-m", "spm_rules", "run", "--ruleset", str(ROOT / "rulesets" / "enterprise-command-center.yaml"), "--tickets", str(tickets)]
    done = python(*args, "--state", f"sqlite:///{tmp_path / 'state.db'}", "--at", "2026-11-25T14:00:00+08:00", "--format", "json", check=False)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    document = json.loads(done.stdout)
    rejected = sorted((problem["row"], problem["field"]) for problem in document["rejected"])
    assert rejected == sorted([(row, case[2][0]) for row, case in enumerate(HOSTILE_ROWS, 2)] + [(len(hostile) + 2, "encoding")])
    assert document["tickets"]["evaluated"] == len(examples)
    assert document["notifications"]["sent"] == document["notifications"]["enqueued"] > 0
    assert "tickets.jsonl: row 2: json: nested deeper than 64 levels" in done.stderr
    assert "EC-1002 [red] P4 Eastern Bank: PSU failure" in done.stderr  # the command center hears of the red request


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+08:00", "9999-12-31T23:00:00-08:00"])
def test_an_at_outside_the_accepted_years_is_refused_before_anything_is_written(tmp_path: Path, instant: str) -> None:
    """On main ``--at 0001-…`` committed the run and then crashed in prune (OverflowError)."""
    args = ["-m", "spm_rules", "run", "--ruleset", str(ROOT / "rulesets" / "enterprise-command-center.yaml"), "--tickets", str(ROOT / "examples" / "enterprise-tickets.jsonl")]
    done = python(*args, "--state", f"sqlite:///{tmp_path / 'state.db'}", "--at", instant, check=False)
    assert done.returncode == 2
    assert f"Invalid value for --at: {instant} is outside the years 1900-8999 (UTC) spm-rules accepts" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "state.db").exists()
