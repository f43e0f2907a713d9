"""A ticket id listed more than once counts once, by its last row, across the whole input
(issue 13 item 2): before, the rule held only within one 500-ticket batch, so two rows of
one id further apart were both acted on (a red notification for a ticket whose last row
was resolved).  Every superseded row is a located warning.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spm_rules.match.durable_adapter import DurableMatcher, durable_available
from spm_rules.match.python_matcher import PythonMatcher
from spm_rules.ruleset.conditions import Compare
from spm_rules.run import BATCH_SIZE, run
from spm_rules.sources.files import TicketReader
from spm_rules.state.store import Store
from tests.fixtures.processes import ROOT, python
from tests.state.helpers import at, ruleset, snapshot, ticket

SUPERSEDED = "superseded by row {}: a ticket listed more than once counts once, by its last row"


def _row(ticket_id: str, status: str = "open", **fields: Any) -> dict[str, Any]:
    return json.loads(ticket(ticket_id, status=status, **fields).model_dump_json(exclude_none=True))


def _fillers(count: int) -> list[dict[str, Any]]:
    return [_row(f"F{number}", status="resolved") for number in range(count)]


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif path.suffix == ".csv":
        columns = ["id", "tier", "status", "created_at", "stage_history", "provider"]
        lines = [",".join(columns)] + [",".join(f'"{json.dumps(row[c]).replace(chr(34), chr(34) * 2)}"' if c == "stage_history" else row[c] for c in columns) for row in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["t.jsonl", "t.json", "t.csv"])
def test_rows_of_one_id_more_than_a_batch_apart_count_once_by_the_last(tmp_path: Path, name: str) -> None:
    rows = [_row("X"), *_fillers(BATCH_SIZE + 100), _row("X", status="resolved"), _row("Y")]
    reader = TicketReader(_write(tmp_path / name, rows))
    tickets = list(reader)
    assert [t.id for t in tickets].count("X") == 1
    assert next(t for t in tickets if t.id == "X").status == "resolved"
    assert len(tickets) == len(rows) - 1
    first, last = (2, len(rows)) if name.endswith(".csv") else (1, len(rows) - 1)  # a CSV's rows count its header line
    assert [(w.row, w.field, w.ticket_id, w.message) for w in reader.warnings] == [(first, "id", "X", SUPERSEDED.format(last))]
    assert reader.problems == []


def test_standard_input_is_spooled_so_the_rule_holds_there_too(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [_row("X"), *_fillers(BATCH_SIZE + 1), _row("X", status="resolved")]
    data = "".join(json.dumps(row) + "\n" for row in rows).encode("utf-8")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    reader = TicketReader("-")
    assert [(t.id, t.status) for t in reader if t.id == "X"] == [("X", "resolved")]
    assert [(w.row, w.ticket_id) for w in reader.warnings] == [(1, "X")]


def test_a_rejected_last_row_still_supersedes_the_earlier_ones(tmp_path: Path) -> None:
    """The last row is the ticket system's latest word: the stale rows before it are not acted on."""
    rows = [_row("X"), _row("X") | {"created_at": "not a time"}]
    reader = TicketReader(_write(tmp_path / "t.jsonl", rows))
    assert list(reader) == []
    assert [(p.row, p.field) for p in reader.problems] == [(2, "created_at")]
    assert [(w.row, w.field) for w in reader.warnings] == [(1, "id")]


def test_an_integer_id_and_its_text_are_one_ticket(tmp_path: Path) -> None:
    rows = [_row("7") | {"id": 7}, _row("7", status="resolved")]
    reader = TicketReader(_write(tmp_path / "t.jsonl", rows))
    assert [(t.id, t.status) for t in reader] == [("7", "resolved")]
    assert [w.row for w in reader.warnings] == [1]


#: Each row: (ticket id, hours since it entered dispatched, status).
ROWS = st.lists(st.tuples(st.sampled_from("ABCDE"), st.sampled_from([0, 3, 5]), st.sampled_from(["open", "resolved"])), min_size=1, max_size=12)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS, batch_size=st.integers(1, 4))
def test_where_duplicates_sit_never_changes_the_outcome(tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, int, str]], batch_size: int) -> None:
    """A run over rows with duplicates anywhere (and batches of any size) ends in the same
    state, audit included, as a run over only each id's last row."""
    folder = tmp_path_factory.mktemp("dup")
    data = [_row(ticket_id, status=status, dispatched=at(-hours)) for ticket_id, hours, status in rows]
    last = {row["id"]: index for index, row in enumerate(data)}
    deduplicated = [row for index, row in enumerate(data) if last[row["id"]] == index]
    states = []
    for name, chosen in (("all.jsonl", data), ("last.jsonl", deduplicated)):
        reader = TicketReader(_write(folder / name, chosen))
        with Store(f"sqlite:///{folder / name}.db") as store:
            run(store, ruleset(), reader, at(0), batch_size=batch_size)
            states.append(snapshot(store))
        superseded = [w.row for w in reader.warnings if w.field == "id"]
        expected = [index + 1 for index, row in enumerate(chosen) if last[row["id"]] != index] if chosen is data else []
        assert superseded == expected
    assert states[0] == states[1]


@pytest.mark.skipif(not durable_available(), reason="durable_rules does not import here")
def test_the_durable_adapter_keeps_identical_facts_apart_across_its_batches() -> None:
    """One ticket's facts repeated past durable_rules' batch are each matched (issue 13 saw
    ``durable_rules saw 0 of 1000 facts in a batch`` on a million rows with repeated ids)."""
    rules = [("red", Compare("sla.level", "eq", "red"))]
    facts = [{"id": "X", "sla.level": "red"}, {"id": "X", "sla.level": "yellow"}] * 1_500
    assert DurableMatcher(rules).match(facts) == PythonMatcher(rules).match(facts)


def test_the_command_center_tells_the_last_rows_state_across_batches(tmp_path: Path) -> None:
    """End to end through the shipped command-center ruleset: EC-1002 is open and red at
    14:00 in the examples; listed again 600 rows later as resolved, it gets no red message,
    and its earlier row is named as superseded.  Listed the other way round, it does."""
    examples = [json.loads(line) for line in (ROOT / "examples" / "enterprise-tickets.jsonl").read_text(encoding="utf-8").splitlines()]
    ec1002 = next(row for row in examples if row["id"] == "EC-1002")
    resolved = ec1002 | {"status": "resolved", "status_history": [{"status": "resolved", "at": "2026-11-25T13:00:00+08:00"}]}
    fillers = [row | {"id": f"{row['id']}-{number}", "status": "resolved"} for number in range(60) for row in examples]
    others = [row for row in examples if row["id"] != "EC-1002"]
    for name, first, last in (("resolved-last", ec1002, resolved), ("open-last", resolved, ec1002)):
        tickets = _write(tmp_path / f"{name}.jsonl", [first, *fillers, *others, last])
        args = ["-m", "spm_rules", "run", "--ruleset", str(ROOT / "rulesets" / "enterprise-command-center.yaml"), "--tickets", str(tickets)]
        done = python(*args, "--state", f"sqlite:///{tmp_path / name}.db", "--at", "2026-11-25T14:00:00+08:00", "--quiet", check=False)
        assert done.returncode == 3, done.stderr
        assert f"{tickets}: row 1 ticket EC-1002: id: {SUPERSEDED.format(len(fillers) + len(others) + 2)}" in done.stderr
        red = "EC-1002 [red] P4 Eastern Bank: PSU failure"
        assert (red in done.stderr) == (name == "open-last"), done.stderr
        assert "EC-1011 [red] P4 Hangzhou Logistics: RAID controller offline" in done.stderr  # the other requests are told as before


def test_a_row_that_opens_with_an_id_is_still_told_by_its_parsed_id(tmp_path: Path) -> None:
    """Rows opening with ``{"id": ...`` are not parsed until needed: a malformed one never
    supersedes, one whose key repeats counts under its last ``id``, and one that names an
    id again further in is read as a whole."""
    good = json.dumps(_row("X"))
    repeated = json.dumps(_row("B", status="resolved"))[:-1] + ', "id": "A"}'
    nested = json.dumps(_row("C") | {"custom": {"id": "A"}})
    lines = [good, good[:40], json.dumps(_row("A")), repeated, nested]
    path = tmp_path / "t.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    reader = TicketReader(path)
    assert sorted((t.id, t.status) for t in reader) == [("A", "resolved"), ("C", "open"), ("X", "open")]
    assert [(p.row, p.field) for p in reader.problems] == [(2, "json")]
    assert [(w.row, w.ticket_id, w.message) for w in reader.warnings] == [(3, "A", SUPERSEDED.format(4))]


def test_a_run_parses_a_row_no_stored_digest_vouches_for(tmp_path: Path) -> None:
    """A steady run leaves rows identical to the stored ones unread; a row opening with a
    known id but other text is parsed, and its problem reported as in a full read."""
    rows = [_row("X"), _row("Y")]
    path = _write(tmp_path / "t.jsonl", rows)
    with Store(f"sqlite:///{tmp_path / 's.db'}") as store:
        run(store, ruleset(), TicketReader(path), at(0))
        path.write_text(path.read_text(encoding="utf-8") + json.dumps(rows[0])[:30] + "\n", encoding="utf-8")
        reader = TicketReader(path)
        report = run(store, ruleset(), reader, at(0))
    assert (report.unchanged, report.evaluated) == (2, 2)
    assert [(p.row, p.field) for p in reader.problems] == [(3, "json")]
    assert reader.warnings == []
