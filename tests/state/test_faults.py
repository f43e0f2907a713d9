"""Faults in what a run depends on, as tests: the state database locked, unreachable, full
or corrupt, its PostgreSQL backend killed mid-run; a receiver that resets the connection
or is down for simulated hours.  Each ends in a clear error or a retry, never in a
traceback, a silent reset, a lost escalation or a key sent twice outside the batch in
flight.  (Read-only state: ``test_read_only.py``; SIGKILL: ``test_crash.py``; SIGTERM and
SIGINT: ``tests/cli/test_signals.py``; a receiver answering 500 or hanging past its
timeout: ``tests/alerting/test_delivery.py``.)
"""

from __future__ import annotations

import socket
import sqlite3
import struct
import threading
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import psycopg
import pytest
from sqlalchemy import event

from spm_rules.alerting import AlertPipeline
from spm_rules.cli import EXIT_INVALID, main
from spm_rules.errors import StateError
from spm_rules.notifications import DeliveryOutcome, Notification
from spm_rules.ruleset.loader import parse_ruleset
from spm_rules.run import active_alert_labels, run
from spm_rules.state.store import Store
from spm_rules.tickets import Ticket
from tests.fixtures.servers import HttpServer, serve_http
from tests.state.helpers import restore_spm_logger  # noqa: F401 (autouse fixture)
from tests.state.helpers import RULESET_YAML, RecordingDeliverer, at, ruleset, snapshot, ticket, write_ruleset, write_tickets

TICKETS = [ticket(f"F{n:02d}", dispatched=at(minutes=-10 * n)) for n in range(12)]


def run_at(url: str, now: datetime, deliverer: Any, rules: Any = None, tickets: list[Ticket] = TICKETS, **kwargs: Any) -> Any:
    with Store(url) as store:
        return run(store, rules or ruleset(), tickets, now, deliverer, batch_size=4, delivery_batch=4, **kwargs)


# -- the state database ---------------------------------------------------------------------


def test_a_state_locked_longer_than_the_timeout_is_a_clear_error_and_nothing_is_half_written(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    run_at(url, at(4), RecordingDeliverer())
    with Store(url) as store:
        before = snapshot(store)
    holder = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with Store(url, busy_timeout=0.3) as store, pytest.raises(StateError) as caught:
            run(store, ruleset(), TICKETS, at(4, 30), RecordingDeliverer())
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "database is locked (another process kept it busy for more than 0.3s)" in str(caught.value)
    with Store(url) as store:
        assert snapshot(store) == before


@pytest.mark.parametrize(
    "url, message",
    [
        ("postgresql://spm:s3cret@127.0.0.1:1/spm", "cannot read the state schema version"),
        ("sqlite:////nonexistent-spm-dir/state.db", "cannot create the database file"),
    ],
    ids=["postgresql-down", "sqlite-no-directory"],
)
def test_an_unreachable_state_is_a_clear_error_without_the_password(
    url: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = write_ruleset(tmp_path / "cc.yaml")
    tickets = write_tickets(tmp_path / "t.jsonl", TICKETS)
    assert main(["run", "--ruleset", str(rules), "--tickets", str(tickets), "--state", url, "--at", at(4).isoformat(), "-q", "--lock-timeout", "1"]) == EXIT_INVALID
    err = capsys.readouterr().err
    assert message in err and "s3cret" not in err and "Traceback" not in err


def test_a_full_disk_fails_the_batch_whole_and_the_next_run_catches_up(tmp_path: Path) -> None:
    """SQLite ``max_page_count`` stands for a full disk: a batch that cannot be written is not written at all."""
    url, reference = f"sqlite:///{tmp_path / 'state.db'}", f"sqlite:///{tmp_path / 'reference.db'}"
    for target in (url, reference):
        run_at(target, at(3), RecordingDeliverer())
    with Store(url) as store:
        before = snapshot(store)
        pages = store.engine.connect().exec_driver_sql("PRAGMA page_count").scalar()

        @event.listens_for(store.engine, "connect")
        def _full(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

        store.engine.dispose()
        big = [ticket(f"F{n:02d}", dispatched=at(minutes=-10 * n), description="x" * 20_000) for n in range(12)]
        with pytest.raises(StateError) as caught:
            run(store, ruleset(), big, at(4), RecordingDeliverer(), batch_size=4)
    assert "database or disk is full" in str(caught.value)
    with Store(url) as store:
        assert snapshot(store) == before, "a batch that did not fit left nothing half-written"
    later, expected = RecordingDeliverer(), RecordingDeliverer()
    run_at(url, at(4), later)
    run_at(reference, at(4), expected)
    assert later.keys == expected.keys and expected.keys
    with Store(url) as store, Store(reference) as ref:
        assert snapshot(store) == snapshot(ref)


@pytest.mark.parametrize("damage", ["garbage", "truncated-page"])
def test_a_corrupt_state_is_a_clear_error_never_a_silent_reset(damage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "state.db"
    run_at(f"sqlite:///{path}", at(4), RecordingDeliverer())
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = path.read_bytes()
    path.write_bytes(b"this is not an SQLite file" * 200 if damage == "garbage" else data[:100] + b"\xff" * 4000 + data[4100:])
    damaged = path.read_bytes()
    rules = write_ruleset(tmp_path / "cc.yaml")
    tickets = write_tickets(tmp_path / "t.jsonl", TICKETS)
    for command in (["run", "--ruleset", str(rules), "--tickets", str(tickets), "--at", at(5).isoformat(), "-q"], ["history", "F01"]):
        assert main([*command, "--state", f"sqlite:///{path}"]) == EXIT_INVALID
        err = capsys.readouterr().err
        assert "error: state sqlite:///" in err and ("not a database" in err or "malformed" in err) and "Traceback" not in err
    assert path.read_bytes() == damaged, "the damaged file is left as it was for recovery"


@pytest.mark.postgres
def test_the_postgresql_backend_killed_mid_run_loses_nothing(postgres_url: str, tmp_path: Path) -> None:
    """``pg_terminate_backend`` of the run's session while it delivers: no transaction is open
    while receivers are called, so the run settles on a fresh connection and finishes;
    nothing is lost, nothing but the batch in flight could be sent twice, and the state is
    the one an undisturbed run leaves."""
    reference_url = f"sqlite:///{tmp_path / 'reference.db'}"
    for target in (postgres_url, reference_url):
        run_at(target, at(4), RecordingDeliverer())
    reference = RecordingDeliverer()
    run_at(reference_url, at(4, 30), reference)
    name = dict(parse_qsl(urlsplit(postgres_url).query))["application_name"]
    admin_url = urlunsplit(urlsplit(postgres_url)._replace(scheme="postgresql", query=""))
    calls = Counter[str]()

    def kill_the_backend(note: Notification, now: datetime) -> DeliveryOutcome:
        calls["n"] += 1
        if calls["n"] == 2:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                killed = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s AND pid <> pg_backend_pid()", (name,)
                ).fetchone()
                assert killed is not None and killed[0] >= 1
        return DeliveryOutcome(note.key, "sent")

    killed_run = RecordingDeliverer(kill_the_backend)
    run_at(postgres_url, at(4, 30), killed_run)
    assert calls["n"] >= 2, "the backend was never killed"
    recovery = RecordingDeliverer()
    run_at(postgres_url, at(4, 30), recovery)
    everything = Counter(killed_run.keys + recovery.keys)
    assert set(everything) == set(reference.keys), "a notification was lost or invented"
    twice = {key for key, count in everything.items() if count > 1}
    assert twice <= set(killed_run.keys[:4]), "only the delivery batch in flight is sent again"
    with Store(postgres_url) as store, Store(reference_url) as ref:
        assert snapshot(store) == snapshot(ref)


# -- receivers ------------------------------------------------------------------------------


@pytest.fixture
def resetting_server() -> Iterator[int]:
    """A TCP port whose server accepts each connection and resets it (RST) at once."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def receivers_at(desk: str, center: str, delivery: str) -> Any:
    """The cc-test ruleset with the desk and duty on ``desk``, the center (the fallback) on ``center``."""
    text = RULESET_YAML.replace("json://127.0.0.1:9/desk", f"{desk}/desk").replace("json://127.0.0.1:9/duty", f"{desk}/duty")
    text = text.replace("json://127.0.0.1:9/center", f"{center}/center")
    text = text.replace("delivery: {max_attempts: 3, backoff: 1m, max_backoff: 10m, fallback_receiver: center}", f"delivery: {delivery}")
    return parse_ruleset(text, "cc-faults.yaml")


def deliver_with(url: str, rules: Any, now: datetime, tickets: list[Ticket]) -> Any:
    with Store(url) as store:
        pipeline = AlertPipeline(rules, silences=store.active_silences, active_alerts=active_alert_labels(store))
        return run(store, rules, tickets, now, pipeline)


def test_a_receiver_that_resets_the_connection_is_retried_then_dead_lettered_to_the_fallback(
    state_url: str, resetting_server: int, http_server: HttpServer
) -> None:
    rules = receivers_at(f"json://127.0.0.1:{resetting_server}", http_server.json_url("").rstrip("/"), "{max_attempts: 2, backoff: 1m, fallback_receiver: center}")
    tickets = [ticket("A")]
    first = deliver_with(state_url, rules, at(3), tickets)  # yellow: the desk only
    assert dict(first.delivery) == {"failed": 1}
    second = deliver_with(state_url, rules, at(3, 1), tickets)
    assert dict(second.delivery) == {"dead": 1, "sent": 1}
    with Store(state_url) as store:
        entries = {entry.key: entry for entry in store.outbox_entries("A")}
    assert entries["A|response|yellow|1"].status == "dead" and "desk" in (entries["A|response|yellow|1"].last_error or "")
    assert entries["meta|A|response|yellow|1"].status == "sent"
    (meta,) = http_server.requests
    assert meta.path == "/center" and "A|response|yellow|1" in meta.body.decode("utf-8")


def test_a_receiver_down_for_hours_gets_its_backlog_once_when_it_returns(state_url: str) -> None:
    """Runs every 15 minutes for five hours; the receivers answer 503 for the first three.
    The backlog is retried with backoff (never dead within ``max_attempts``) and, once they
    answer, each notification arrives exactly once; nothing is lost."""
    with serve_http() as server:
        rules = receivers_at(server.url.replace("http://", "json://"), server.url.replace("http://", "json://"), "{max_attempts: 20, backoff: 5m, max_backoff: 30m, fallback_receiver: center}")
        tickets = [ticket("A"), ticket("B", dispatched=at(1)), ticket("C", dispatched=at(2))]
        server.responses = [503]
        results: Counter[str] = Counter()
        back = 0
        for quarter in range(12, 33):
            now = at(minutes=15 * quarter)
            if now == at(6):
                server.responses, back = [200], len(server.requests)
            results.update(deliver_with(state_url, rules, now, tickets).delivery)
        assert results["dead"] == 0 and results["failed"] > 0 and results["sent"] > 0
        with Store(state_url) as store:
            entries = store.outbox_entries()
        assert {entry.status for entry in entries} == {"sent"}, [(e.key, e.status) for e in entries]
        assert {entry.key for entry in entries} >= {"A|response|yellow|1", "A|response|red|1", "B|response|red|1", "C|response|yellow|1"}
        received = [(request.path, request.body) for request in server.requests[back:]]
        assert received and len(received) == len(set(received)), "after the outage each receiver gets each message once"
