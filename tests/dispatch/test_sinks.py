"""Write-back sinks: the ticket system learns each decision once, through the outbox."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from spm_rules.dispatch.sinks import register_write_back, unregister_write_back
from spm_rules.errors import RulesetError
from spm_rules.ruleset.loader import parse_ruleset
from spm_rules.run import run
from spm_rules.state.store import Store
from tests.fixtures.servers import HttpServer
from tests.state.helpers import RecordingDeliverer

from .helpers import dispatch_ruleset
from .test_decide import DAY, ticket


def with_sink(sink: str) -> str:
    return dispatch_ruleset() + "write_back:\n  itsm:\n" + "".join(f"    {line}\n" for line in sink.strip().splitlines())


def test_a_webhook_answering_500_then_200_gets_the_event_once_with_one_idempotency_key(store: Store, http_server: HttpServer) -> None:
    http_server.responses = [500, 200]
    ruleset = parse_ruleset(with_sink(f"kind: webhook\nurl: {http_server.url}/tickets/events\nevents: [route]"), "r.yaml")
    deliverer = RecordingDeliverer()
    first = run(store, ruleset, [ticket("T1")], DAY, deliverer)
    assert first.delivery["failed"] == 1
    second = run(store, ruleset, [ticket("T1")], DAY + timedelta(minutes=2), deliverer)   # after the 1-minute backoff
    assert second.delivery["sent"] == 1
    third = run(store, ruleset, [ticket("T1")], DAY + timedelta(minutes=10), deliverer)
    assert sum(third.delivery.values()) == 0
    assert len(http_server.requests) == 2
    keys = {request.headers["Idempotency-Key"] for request in http_server.requests}
    assert len(keys) == 1
    body = http_server.requests[1].json()
    assert body["key"] in keys
    assert http_server.requests[1].path == "/tickets/events"
    assert (body["event"], body["ticket"], body["provider"], body["rule"]) == ("route", "T1", "partner-north", "dispatch")
    assert body["detail"].startswith("to 'partner-north': rule 'dispatch'")
    assert deliverer.keys == []   # write-backs never reach the alerting pipeline


def test_a_sql_sink_updates_the_ticket_system_with_bound_parameters(state_url: str, tmp_path: Path) -> None:
    """The ticket system's own database: a SQLite file of its own, or a table beside the state on PostgreSQL."""
    itsm_url = f"sqlite:///{tmp_path / 'itsm.db'}" if state_url.startswith("sqlite") else state_url
    ticket_db = create_engine(itsm_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with ticket_db.begin() as conn:
        conn.execute(text("CREATE TABLE itsm_tickets (id TEXT PRIMARY KEY, assignee TEXT, note TEXT)"))
        conn.execute(text("INSERT INTO itsm_tickets (id) VALUES ('T1'), ('T2''; DROP TABLE itsm_tickets; --')"))
    statement = "UPDATE itsm_tickets SET assignee = :provider, note = :detail WHERE id = :ticket"
    ruleset = parse_ruleset(with_sink(f'kind: sql\nurl: "{itsm_url}"\nstatement: "{statement}"\nevents: [route]'), "r.yaml")
    store = Store(state_url)
    report = run(store, ruleset, [ticket("T1", product_line="core-server"), ticket("T2'; DROP TABLE itsm_tickets; --")], DAY, RecordingDeliverer())
    assert report.delivery["sent"] == 2, [entry.error for entry in store.outbox_entries()]
    with ticket_db.connect() as conn:
        rows = dict(conn.execute(text("SELECT id, assignee FROM itsm_tickets ORDER BY id")).all())
    assert rows == {"T1": "maker-engineers", "T2'; DROP TABLE itsm_tickets; --": "partner-north"}
    ticket_db.dispose()


def test_a_callable_sink_gets_route_and_level_events(store: Store) -> None:
    events: list[dict] = []
    register_write_back("collect", events.append)
    try:
        ruleset = parse_ruleset(with_sink("kind: callable\ncallable: collect\nevents: [route, level]"), "r.yaml")
        run(store, ruleset, [ticket("T1", at=DAY)], DAY, RecordingDeliverer())
        run(store, ruleset, [ticket("T1", at=DAY)], DAY + timedelta(hours=4, minutes=30), RecordingDeliverer())
    finally:
        unregister_write_back("collect")
    assert [(e["event"], e["provider"], e["level"]) for e in events] == [("route", "partner-north", None), ("level", "partner-north", "red")]


def test_a_statement_naming_an_unknown_field_is_located() -> None:
    text_ = with_sink('kind: sql\nurl: "sqlite:///itsm.db"\nstatement: "UPDATE t SET a = :assignee WHERE id = :ticket"')
    with pytest.raises(RulesetError) as info:
        parse_ruleset(text_, "r.yaml")
    (problem,) = info.value.problems
    assert "write_back.itsm" in str(problem) and "statement parameters ['assignee'] are not event fields" in str(problem)
