"""The outbox remembers which receivers already have a notification, across runs.

Real runs on SQLite and PostgreSQL (same code), delivering through the alerting pipeline
over loopback HTTP: a receiver that got a notification is never sent it again when
another receiver of the same key is retried (after a failure) or released (when its
active window opens).  And a version-1 state database, made by the first migration,
is upgraded in place with its pending notifications kept.

The receivers post to paths of one recording server, except ``center`` where a test
scripts a 500: each receiver has its own concurrency slots, so sends to ``center`` and
``desk`` run at once and only a server of its own answers ``center`` predictably.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import MetaData, Table, create_engine, inspect, select

from spm_rules import alerting
from spm_rules.notifications import DeliveryOutcome
from spm_rules.ruleset.loader import parse_ruleset
from spm_rules.ruleset.schema import Ruleset
from spm_rules.run import active_alert_labels, deliver_pending, run, settle_outcomes
from spm_rules.state import tables
from spm_rules.state.records import OutboxEntry
from spm_rules.state.store import Store, notification_to_json
from tests.alerting.helpers import note
from tests.fixtures.servers import HttpServer, serve_http
from tests.state.helpers import RULESET_YAML, T0, at, ruleset, ticket

KEY = "A|response|red|1"


def _ruleset(server: HttpServer, *, desk_hours: str | None = None, center: HttpServer | None = None) -> Ruleset:
    """``cc-test`` with its receivers on ``server`` (``center`` on a server of its own, if
    given); ``desk_hours`` (UTC) gives the desk an active window."""
    text = RULESET_YAML.replace("json://127.0.0.1:9/center", (center or server).json_url("center"))
    text = text.replace("json://127.0.0.1:9/", server.json_url(""))
    if desk_hours is not None:
        text = text.replace("desk: {urls: [", f"desk: {{active: {{timezone: UTC, hours: {{mon-fri: [\"{desk_hours}\"]}}}}, urls: [")
    assert "127.0.0.1:9/" not in text and (desk_hours is None or desk_hours in text)
    return parse_ruleset(text, "cc-test.yaml")


def _run(url: str, rules: Ruleset, now: datetime) -> None:
    """One cron run with a fresh store, delivering as the CLI does."""
    with Store(url) as store:
        pipeline = alerting.AlertPipeline(rules, silences=store.active_silences, active_alerts=active_alert_labels(store))
        run(store, rules, [ticket("A")], now, pipeline)


def _entry(url: str) -> OutboxEntry:
    with Store(url) as store:
        (entry,) = [e for e in store.outbox_entries() if e.key == KEY]
    return entry


def _paths(server: HttpServer) -> list[str]:
    return [request.path for request in server.requests]


def test_a_retry_after_a_500_reaches_only_the_receiver_that_failed(state_url: str, http_server: HttpServer) -> None:
    with serve_http() as center:
        center.responses = [500, 200]
        rules = _ruleset(http_server, center=center)

        _run(state_url, rules, at(4))  # A enters red: notify center (500) and desk (200)
        entry = _entry(state_url)
        assert (entry.status, entry.attempts, entry.delivered_to, entry.next_attempt_at) == ("failed", 1, ("desk",), at(4, 1))
        assert entry.last_error is not None and entry.last_error.startswith("center json://") and entry.last_error.endswith("; sent to desk")
        assert (_paths(center), _paths(http_server)) == (["/center"], ["/desk"])

        _run(state_url, rules, at(4, 1))  # the retry
        entry = _entry(state_url)
        assert (entry.status, entry.attempts, entry.delivered_to) == ("sent", 2, ("desk", "center"))
        _run(state_url, rules, at(4, 2))  # nothing left to send, and the repeat is not due
        assert (_paths(center), _paths(http_server)) == (["/center", "/center"], ["/desk"])
    with Store(state_url) as store:
        told = [(e.kind, e.detail) for e in store.history("A") if e.key == KEY and e.kind in ("failed", "sent")]
    (failed, sent) = told
    assert failed[0] == "failed" and failed[1].endswith("; sent to desk")
    assert sent == ("sent", "sent to center; already sent to desk")


def test_a_held_receiver_gets_it_when_its_window_opens_and_the_open_one_only_once(state_url: str, http_server: HttpServer) -> None:
    rules = _ruleset(http_server, desk_hours="13:00-18:00")  # at(4) is 12:00 UTC, at(5) 13:00

    _run(state_url, rules, at(4))
    entry = _entry(state_url)
    assert (entry.status, entry.attempts, entry.delivered_to, entry.next_attempt_at) == ("pending", 0, ("center",), at(5))
    assert _paths(http_server) == ["/center"]

    _run(state_url, rules, at(4, 30))  # not due yet, and the held key blocks the repeat
    assert _paths(http_server) == ["/center"]

    _run(state_url, rules, at(5))
    entry = _entry(state_url)
    assert (entry.status, entry.attempts, entry.delivered_to) == ("sent", 1, ("center", "desk"))
    _run(state_url, rules, at(5, 10))
    assert _paths(http_server) == ["/center", "/desk"]


def _create_v1_database(url: str, now: datetime) -> None:
    """What spm-rules' first release left behind: the version-1 schema, one notification pending."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            tables.schema_migrations.create(conn)
            number, name, step = tables.MIGRATIONS[0]
            step(conn)
            conn.execute(tables.schema_migrations.insert().values(version=number, name=name, applied_at=now))
            outbox = Table("outbox", MetaData(), autoload_with=conn)
            assert "delivered_to" not in outbox.c
            pending = note("A", receivers=("center", "desk"))
            row = {"key": pending.key, "kind": pending.kind, "ticket_id": "A", "policy": "response", "level": "red", "occurrence": 1}
            state = {"notification": json.dumps(notification_to_json(pending)), "status": "pending", "attempts": 0, "created_at": now, "next_attempt_at": now}
            conn.execute(outbox.insert().values(**row, **state))
    finally:
        engine.dispose()


def test_a_version_1_database_is_upgraded_and_its_pending_notification_delivered_once_per_receiver(state_url: str, http_server: HttpServer) -> None:
    _create_v1_database(state_url, T0)
    with serve_http() as center, Store(state_url) as store:
        center.responses = [500, 200]
        rules = _ruleset(http_server, center=center)
        with store.engine.connect() as conn:
            assert conn.execute(select(tables.schema_migrations.c.version)).scalars().all() == list(range(1, tables.LATEST_VERSION + 1))
            upgraded = {column["name"]: column["nullable"] for column in inspect(conn).get_columns("outbox")}
        assert upgraded == {column.name: column.nullable for column in tables.outbox.c}
        (entry,) = store.outbox_entries()
        assert (entry.key, entry.status, entry.delivered_to) == (KEY, "pending", ())

        assert deliver_pending(store, alerting.AlertPipeline(rules), rules.delivery, at(4)) == {"failed": 1}
        assert deliver_pending(store, alerting.AlertPipeline(rules), rules.delivery, at(4, 1)) == {"sent": 1}
        (entry,) = store.outbox_entries()
        assert (entry.status, entry.delivered_to) == ("sent", ("desk", "center"))
        assert (_paths(center), _paths(http_server)) == (["/center", "/center"], ["/desk"])


def test_receivers_once_recorded_are_never_forgotten() -> None:
    """A deliverer that reports no ``delivered_to`` (a plug-in, or one that crashed) drops nobody."""
    entry = OutboxEntry(KEY, "escalation", "A", "response", "red", "failed", 1, T0, T0, {}, delivered_to=("desk",))
    outcomes = [
        DeliveryOutcome(KEY, "failed", "center: 500"),
        DeliveryOutcome(KEY, "held", "center closed", at(5), ("center",)),
        DeliveryOutcome(KEY, "sent", "sent to center", delivered_to=("desk", "center")),
    ]
    settled = [settle_outcomes([entry], [outcome], ruleset().delivery, at(4))[0][0] for outcome in outcomes]
    assert [(s.status, s.delivered_to) for s in settled] == [
        ("failed", ("desk",)),
        ("pending", ("desk", "center")),
        ("sent", ("desk", "center")),
    ]
