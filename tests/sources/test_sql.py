"""Tickets from a database: the help-desk example's 10,000 tickets read in place from
PostgreSQL and SQLite through the ruleset's source: and mapping:, histories from an
events table, per-stage columns or a JSON column, bad rows located, passwords masked."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from spm_rules.errors import TicketError
from spm_rules.ruleset.loader import load_ruleset, parse_ruleset
from spm_rules.sources.spec import SourceSpec
from spm_rules.sources.sql import SqlTicketReader
from tests.fixtures.database import fresh_postgres_schema, postgres_base_url
from tests.fixtures.helpdesk import HELPDESK_RULESET, UNTIL, helpdesk_generator
from tests.fixtures.processes import python

SHANGHAI = ZoneInfo("Asia/Shanghai")
COUNT = 10_000
CODES = {1: "P2", 2: "P4", 3: "P6"}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def helpdesk(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A help-desk database with the example's 10,000 seeded tickets."""
    generator = helpdesk_generator()
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('helpdesk') / 'helpdesk.db'}"
        generator.create(url, COUNT, UNTIL, 14)
        yield url
        return
    with fresh_postgres_schema(postgres_base_url()) as url:
        generator.create(url, COUNT, UNTIL, 14)
        yield url


def _utc(naive: datetime) -> datetime:
    return naive.replace(tzinfo=SHANGHAI).astimezone(timezone.utc)


def test_every_ticket_is_read_with_its_mapped_facts_and_event_histories(helpdesk: str) -> None:
    rows, events = helpdesk_generator().generate(COUNT, UNTIL, 14)
    reader = SqlTicketReader(helpdesk, ruleset=load_ruleset(HELPDESK_RULESET))
    tickets = {ticket.id: ticket for ticket in reader}
    assert (reader.problems, reader.warnings, len(tickets)) == ([], [], COUNT)
    assert Counter(ticket.tier for ticket in tickets.values()) == Counter(CODES[row["priority_code"]] for row in rows)
    for row in rows[:: COUNT // 50]:
        ticket = tickets[str(row["ticket_no"])]
        mine = [event for event in events if event["ticket_no"] == row["ticket_no"]]
        assert ticket.created_at == _utc(row["opened_at"])
        assert (ticket.status, ticket.customer, ticket.extra_fields["subject"]) == (row["state"], row["customer_name"], row["subject"])
        assert [(entry.stage, entry.entered_at) for entry in ticket.stage_history] == [
            (event["new_value"], _utc(event["changed_at"])) for event in mine if event["field"] == "stage"
        ]
        assert [entry.status for entry in ticket.status_history] == [event["new_value"] for event in mine if event["field"] == "status"]
    assert {tickets[str(row["ticket_no"])].region for row in rows if row["site_city"] == "Lhasa"} == {"remote"}
    assert {tickets[str(row["ticket_no"])].region for row in rows if row["site_city"] == "Beijing"} == {"north"}


def test_since_reads_open_tickets_and_those_closed_since(helpdesk: str) -> None:
    rows, _events = helpdesk_generator().generate(COUNT, UNTIL, 14)
    since = datetime(2026, 11, 24, 14, 0, tzinfo=SHANGHAI)
    reader = SqlTicketReader(helpdesk, ruleset=load_ruleset(HELPDESK_RULESET), since=since)
    expected = {str(row["ticket_no"]) for row in rows if row["closed_at"] is None or row["closed_at"] >= since.replace(tzinfo=None)}
    assert {ticket.id for ticket in reader} == expected
    assert 0 < len(expected) < COUNT


def test_small_fetches_keep_each_tickets_events(helpdesk: str) -> None:
    ruleset = load_ruleset(HELPDESK_RULESET)
    spec = ruleset.ticket_source.model_copy(update={"batch_size": 7})
    query = "SELECT ticket_no, priority_code, site_city, state, opened_at FROM tickets WHERE ticket_no <= 100050 ORDER BY ticket_no"
    small = {t.id: t for t in SqlTicketReader(helpdesk, ruleset=ruleset, spec=spec, query=query)}
    whole = {t.id: t for t in SqlTicketReader(helpdesk, ruleset=ruleset, query=query)}
    assert len(small) == 50
    assert {i: (t.stage_history, t.status_history) for i, t in small.items()} == {i: (t.stage_history, t.status_history) for i, t in whole.items()}


def test_a_query_error_names_the_database_with_its_password_masked(helpdesk: str) -> None:
    url = helpdesk.replace("postgresql://postgres@", "postgresql://postgres:hunter2@", 1) if helpdesk.startswith("postgresql") else helpdesk
    reader = SqlTicketReader(url, ruleset=load_ruleset(HELPDESK_RULESET), query="SELECT * FROM no_such_table")
    with pytest.raises(TicketError) as caught:
        list(reader)
    message = str(caught.value)
    assert "no_such_table" in message and "cannot read tickets" in message
    assert "hunter2" not in message
    if url.startswith("postgresql"):
        assert "postgres:***@" in message


def test_an_unreachable_database_is_one_error_without_the_password() -> None:
    reader = SqlTicketReader("postgresql://alice:s3cret@127.0.0.1:1/helpdesk", query="SELECT 1")
    with pytest.raises(TicketError) as caught:
        list(reader)
    assert "s3cret" not in str(caught.value)
    assert str(caught.value).startswith("postgresql://alice:***@127.0.0.1:1/helpdesk: row 0: query: cannot read tickets: ")


RULESET = """
name: columns
tiers: {P2: {}, P4: {}}
stages: [hotline, dispatched, onsite]
terminal_statuses: [resolved]
source:
  query: SELECT * FROM requests ORDER BY no
  stage_columns: {hotline: called_at, dispatched: dispatched_at, onsite: arrived_at}
mapping:
  timezone: Europe/Berlin
  fields:
    id: no
    tier: {from: level, values: {gold: P2, silver: P4}}
    status_history: changes
"""


def _requests(path: Path, rows: list[dict[str, Any]]) -> str:
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE requests (no INTEGER, level TEXT, status TEXT, created_at TEXT, called_at TEXT, dispatched_at TEXT, arrived_at TEXT, changes TEXT)"))
        conn.execute(text("INSERT INTO requests VALUES (:no, :level, :status, :created_at, :called_at, :dispatched_at, :arrived_at, :changes)"), rows)
    engine.dispose()
    return url


def test_stage_columns_and_a_json_history_column_with_bad_rows_located(tmp_path: Path) -> None:
    base = {"status": "open", "created_at": "2026-03-01 08:00:00", "called_at": "2026-03-01 08:00:00", "dispatched_at": None, "arrived_at": None, "changes": None}
    rows = [
        base | {"no": 1, "level": "gold", "dispatched_at": "2026-03-01 09:00:00", "changes": json.dumps([{"status": "open", "at": "2026-03-01 08:00:00"}])},
        base | {"no": 2, "level": "bronze"},
        base | {"no": 3, "level": "silver", "changes": "[not json"},
        base | {"no": 4, "level": "silver", "dispatched_at": "2026-03-01 07:00:00"},
        base | {"no": 5, "level": "silver", "dispatched_at": "2026-03-01 09:00:00", "arrived_at": "2026-03-01 10:30:00"},
    ]
    url = _requests(tmp_path / "requests.db", rows)
    reader = SqlTicketReader(url, ruleset=parse_ruleset(RULESET))
    tickets = {ticket.id: ticket for ticket in reader}
    assert sorted(tickets) == ["1", "5"]
    one = tickets["1"]
    assert (one.tier, one.stage, one.created_at) == ("P2", "dispatched", datetime(2026, 3, 1, 7, 0, tzinfo=timezone.utc))
    assert [(e.status, e.at.hour) for e in one.status_history] == [("open", 7)]
    assert [e.stage for e in tickets["5"].stage_history] == ["hotline", "dispatched", "onsite"]
    assert [(p.row, p.ticket_id, p.field, p.message) for p in reader.problems] == [
        (2, "2", "level", "value 'bronze' is not in the value map (gold, silver)"),
        (3, "3", "changes", "history column is not a JSON array: Expecting value"),
        (4, "4", "stage_history", "entry 1 is earlier than entry 0: histories must be in time order"),
    ]


def test_a_query_without_since_and_the_query_option_override(tmp_path: Path) -> None:
    url = _requests(tmp_path / "r.db", [{"no": 1, "level": "gold", "status": "open", "created_at": "2026-03-01 08:00:00", "called_at": None, "dispatched_at": None, "arrived_at": None, "changes": None}])
    ruleset = parse_ruleset(RULESET)
    assert [t.id for t in SqlTicketReader(url, ruleset=ruleset, query="SELECT no, level, status, created_at FROM requests WHERE no > 5")] == []
    assert SourceSpec().query is None
    with pytest.raises(TicketError, match="a database source needs a query"):
        SqlTicketReader(url)


def test_spm_rules_run_reads_the_helpdesk_database(tmp_path: Path) -> None:
    database = tmp_path / "helpdesk.db"
    helpdesk_generator().create(f"sqlite:///{database}", 300, UNTIL, 14)
    common = ["-m", "spm_rules", "run", "--ruleset", str(HELPDESK_RULESET), "--tickets", f"sqlite:///{database}", "--state", f"sqlite:///{tmp_path / 'state.db'}"]
    first = python(*common, "--at", "2026-11-25T14:00:00+08:00", "--no-deliver", "--format", "json")
    report = json.loads(first.stdout)
    assert report["tickets"]["evaluated"] == 300 and report["rejected"] == []
    assert report["levels"]["response"]["escalate"] > 0
    later = json.loads(python(*common, "--at", "2026-11-25T14:05:00+08:00", "--no-deliver", "--format", "json").stdout)
    # the second run reads only the open tickets and those closed since the first run's instant
    rows = helpdesk_generator().generate(300, UNTIL, 14)[0]
    assert later["tickets"]["evaluated"] == sum(1 for row in rows if row["closed_at"] is None or row["closed_at"] >= UNTIL) < 300
    refused = python(*common, "--query", "SELECT 1", "--tickets", "examples/enterprise-tickets.jsonl", check=False)
    assert refused.returncode == 2 and "--query reads a database" in refused.stderr
