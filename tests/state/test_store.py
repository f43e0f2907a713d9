"""The state store on SQLite and PostgreSQL: migrations, file mode, errors without secrets,
the run lease, silences, and the unique keys that make writes happen once."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import Connection, MetaData, Table, create_engine, insert, inspect, select

from spm_rules.errors import StateError
from spm_rules.notifications import Notification
from spm_rules.state import tables
from spm_rules.state.records import Escalation, Outgoing, Settlement, Transition
from spm_rules.state.store import StateTx, Store, mask_secrets, mask_url
from tests.state.helpers import at

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)


def test_a_new_store_is_migrated_once_in_the_same_transaction_as_its_record(state_url: str) -> None:
    with Store(state_url) as store:
        assert store.migrate(NOW) == []
        with store.engine.connect() as conn:
            rows = conn.execute(select(tables.schema_migrations)).all()
            assert [(row.version, row.name) for row in rows] == [
                (1, "initial tables"),
                (2, "outbox receivers already delivered to"),
                (3, "receivers notified per escalation episode; audit record times"),
                (4, "the ticket's reported facts"),
                (5, "input row digests, next change instants and run marks for incremental runs"),
                (6, "delivery claims on outbox rows"),
                (7, "pruned tickets remembered"),
                (8, "missing tickets counted from the first run without them"),
            ]
            assert tables.current_version(conn) == tables.LATEST_VERSION
            for table in tables.metadata.sorted_tables:
                assert conn.dialect.has_table(conn, table.name), table.name


def test_concurrent_first_opens_migrate_exactly_once(state_url: str) -> None:
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            Store(state_url).close()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Store(state_url) as store, store.engine.connect() as conn:
        assert conn.execute(select(tables.schema_migrations.c.version)).scalars().all() == list(range(1, tables.LATEST_VERSION + 1))


@contextmanager
def _database_at(url: str, version: int) -> Iterator[Connection]:
    """A database migrated up to ``version`` only, as an older spm-rules left it; the
    block adds rows in the same transaction."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            tables.schema_migrations.create(conn)
            for number, name, step in tables.MIGRATIONS[:version]:
                step(conn)
                conn.execute(tables.schema_migrations.insert().values(version=number, name=name, applied_at=NOW))
            yield conn
    finally:
        engine.dispose()


def test_a_version_4_database_gets_row_digests_and_its_tickets_are_evaluated_again(state_url: str) -> None:
    """Version 5 adds ``tickets.row_hash`` and ``tickets.next_change_at`` (unknown for rows
    written before, so the next run evaluates them in full) and ``run_marks``."""
    with _database_at(state_url, 4) as conn:
        old = Table("tickets", MetaData(), autoload_with=conn)
        assert "row_hash" not in old.c
        conn.execute(old.insert().values(ticket_id="A", status="open", levels="{}", tags="[]", archived=False))
    with Store(state_url) as store:
        with store.engine.connect() as conn:
            upgraded = {column["name"]: column["nullable"] for column in inspect(conn).get_columns("tickets")}
            assert upgraded == {column.name: column.nullable for column in tables.tickets.c}
            assert conn.dialect.has_table(conn, "run_marks")
        (mark,) = store.ticket_marks(["A"], NOW).values()
        assert (mark.row_hash, mark.settled, mark.levels) == (None, True, "{}")
        assert store.last_run_at() is None
        store.mark_run(NOW)
        store.mark_run(NOW - timedelta(hours=1))
        assert store.last_run_at() == NOW


def test_a_version_2_database_gets_record_times_and_notified_receivers(state_url: str) -> None:
    """Version 3 adds ``transitions.recorded_at`` (the run's instant, which version 2 kept
    in ``at``) and ``escalations.notified_to`` (nobody, for episodes opened before)."""
    with _database_at(state_url, 2) as conn:
        old = {name: Table(name, MetaData(), autoload_with=conn) for name in ("transitions", "escalations")}
        assert "recorded_at" not in old["transitions"].c and "notified_to" not in old["escalations"].c
        conn.execute(old["transitions"].insert().values(at=NOW, kind="entered", ticket_id="A", policy="response", level="red", detail=""))
        conn.execute(old["escalations"].insert().values(ticket_id="A", policy="response", level="red", level_rank=2, opened_at=NOW, occurrences=1, receivers="[]"))
    with Store(state_url) as store:
        with store.engine.connect() as conn:
            assert conn.execute(select(tables.schema_migrations.c.version)).scalars().all() == list(range(1, tables.LATEST_VERSION + 1))
            for name in ("transitions", "escalations"):
                upgraded = {column["name"]: column["nullable"] for column in inspect(conn).get_columns(name)}
                assert upgraded == {column.name: column.nullable for column in tables.metadata.tables[name].c}, name
        (entry,) = store.history("A")
        assert (entry.kind, entry.at, entry.recorded_at) == ("entered", NOW, NOW)
        (esc,) = store.escalations_of("A")
        assert (esc.level, esc.notified_to) == ("red", ())


def test_a_version_3_database_keeps_its_tickets_and_learns_their_facts_at_the_next_run(state_url: str) -> None:
    """Version 4 adds ``tickets.facts``: unknown (None) for rows written before, filled with
    the ticket as reported the next time a run sees it."""
    with _database_at(state_url, 3) as conn:
        old = Table("tickets", MetaData(), autoload_with=conn)
        assert "facts" not in old.c
        conn.execute(old.insert().values(ticket_id="A", status="open", stage="dispatched", tier="P4", levels="{}", tags="[]", archived=False))
    with Store(state_url) as store:
        with store.engine.connect() as conn:
            upgraded = {column["name"]: column["nullable"] for column in inspect(conn).get_columns("tickets")}
        assert upgraded == {column.name: column.nullable for column in tables.tickets.c}
        stored = store.ticket("A")
        assert stored is not None and (stored.status, stored.facts) == ("open", None)


def test_a_state_newer_than_the_code_is_refused_with_its_url(state_url: str) -> None:
    with Store(state_url) as store, store.engine.begin() as conn:
        conn.execute(insert(tables.schema_migrations).values(version=99, name="from the future", applied_at=NOW))
    with pytest.raises(StateError, match="version 99, newer than this spm-rules knows"):
        Store(state_url)


def test_a_new_sqlite_file_is_private(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        Store(f"sqlite:///{tmp_path / 'state.db'}").close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "state.db").stat().st_mode) == 0o600


def test_urls_and_errors_never_show_passwords() -> None:
    assert mask_url("postgresql://spm:t0p-secret@db.example:5432/state") == "postgresql://spm:***@db.example:5432/state"
    assert mask_secrets("failed: https://bot:abc123@hooks.example/x password=hunter2") == "failed: https://bot:***@hooks.example/x password=***"
    with pytest.raises(StateError) as caught:
        Store("postgresql://spm:t0p-secret@127.0.0.1:1/state", busy_timeout=2)
    assert "t0p-secret" not in str(caught.value)
    assert "postgresql://spm:***@127.0.0.1:1/state" in str(caught.value)


@pytest.mark.parametrize(
    "url, message",
    [
        ("not a url", "is not a database URL"),
        ("mysql://user:pw@host/db", "only sqlite:/// and postgresql:// are supported"),
        ("sqlite:////no/such/directory/state.db", "cannot create the database file"),
    ],
)
def test_bad_state_urls_are_clear_errors(url: str, message: str) -> None:
    with pytest.raises(StateError, match=message) as caught:
        Store(url)
    assert "pw@" not in str(caught.value)


def test_naive_times_are_refused_not_guessed(store: Store) -> None:
    with pytest.raises(StateError, match="naive time"):
        store.add_silence([{"name": "provider", "value": "x"}], datetime(2026, 1, 1), datetime(2026, 1, 2), now=NOW)


def test_the_run_lease_excludes_a_second_holder_until_released(store: Store) -> None:
    lease = store.acquire_lease(wait=0)
    with pytest.raises(StateError, match=r"another run holds the run lock \(.+:\d+:\w+ since .+\); gave up after waiting 0.3s"):
        store.acquire_lease(wait=0.3, poll=0.05)
    lease.renew()
    lease.release()
    store.acquire_lease(wait=0).release()


def test_a_lease_whose_holder_died_or_expired_is_taken_over(store: Store) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    dead_pid = int(finished.stdout)
    with store.engine.begin() as conn:
        conn.execute(
            insert(tables.leases).values(name="run", holder="ghost", host=socket.gethostname(), pid=dead_pid, acquired_at=NOW, expires_at=NOW + timedelta(days=3650))
        )
    store.acquire_lease(wait=0).release()
    with store.engine.begin() as conn:
        conn.execute(insert(tables.leases).values(name="run", holder="far", host="another-host", pid=1, acquired_at=NOW, expires_at=NOW))
    lease = store.acquire_lease(wait=0)
    with store.engine.begin() as conn:
        conn.execute(tables.leases.update().values(holder="thief"))
    with pytest.raises(StateError, match="lost the run lock"):
        lease.renew()


def test_silences_are_stored_listed_and_expired(store: Store) -> None:
    matchers = [{"name": "provider", "value": "partner-east", "op": "="}]
    silence = store.add_silence(matchers, at(1), at(3), now=NOW, comment="maintenance", created_by="ops")
    later = store.add_silence(matchers, at(5), at(6), now=NOW, silence_id="later")
    assert store.active_silences(at(0, 59)) == []
    assert [s.id for s in store.active_silences(at(2))] == [silence.id]
    assert store.active_silences(at(2))[0].matchers == matchers
    assert store.expire_silence(silence.id, at(2)) is True
    assert store.expire_silence(silence.id, at(2)) is False
    assert store.active_silences(at(2)) == []
    assert store.expire_silence(later.id, at(2, 30)) is True
    assert [(s.id, s.starts_at, s.ends_at) for s in store.silences(include_expired=True)] == [(silence.id, at(1), at(2)), ("later", at(2, 30), at(2, 30))]
    assert store.silences(now=at(2, 30)) == []
    with pytest.raises(StateError, match="is not after starts_at"):
        store.add_silence(matchers, at(3), at(3), now=NOW)


def test_an_outbox_key_is_enqueued_once(store: Store) -> None:
    note = Notification("T|p|red|1", "escalation", "T", ("center",), {"level": "red"}, {"why": "test"}, NOW)
    first = store.transaction("enqueue", lambda tx: tx.enqueue([Outgoing(note, "p", "red", 1)], NOW))
    second = store.transaction("enqueue", lambda tx: tx.enqueue([Outgoing(note, "p", "red", 1)], NOW))
    assert (first, second) == (["T|p|red|1"], [])
    (entry,) = store.outbox_entries()
    assert (entry.status, entry.attempts, entry.notification["receivers"], entry.created_at) == ("pending", 0, ["center"], NOW)


def test_reserving_ticket_rows_is_idempotent(store: Store) -> None:
    assert store.reserve_tickets(["b", "a", "a"]) == 2
    assert store.reserve_tickets(["a", "b", "c"]) == 1
    assert store.ticket("c") is not None and store.ticket("c").is_new  # type: ignore[union-attr]
    assert store.ticket("zzz") is None


def test_receivers_reached_are_kept_per_episode_of_an_escalation(store: Store) -> None:
    """Each receiver a notification reached (even one attempt of several) is added to its
    escalation's ``notified_to``; a notification of an earlier episode adds nobody."""
    esc = Escalation("T", "response", "red", 2, opened_at=at(5))
    earlier = Notification("T|response|red|1", "escalation", "T", ("pager",), {}, {}, at(4))
    current = Notification("T|response|red|2", "repeat", "T", ("center", "desk"), {}, {}, at(5))
    resolved = Notification("T|response|red|2|resolved", "resolved", "T", ("duty",), {}, {}, at(5))

    def setup(tx: StateTx) -> None:
        tx.save_escalations([esc])
        tx.enqueue([Outgoing(earlier, "response", "red", 1)], at(4))
        tx.enqueue([Outgoing(current, "response", "red", 2), Outgoing(resolved, "response", "red")], at(5))

    store.transaction("setup", setup)
    entries = {entry.key: entry for entry in store.outbox_entries()}

    def settle(tx: StateTx) -> None:
        tx.settle(
            [
                Settlement(entries[earlier.key], "sent", 1, delivered_to=("pager",)),
                Settlement(entries[current.key], "failed", 1, at(5, 1), "desk: 500", delivered_to=("center",)),
                Settlement(entries[resolved.key], "sent", 1, delivered_to=("duty",)),
            ],
            at(5),
        )

    store.transaction("settle", settle)
    (after,) = store.escalations_of("T")
    assert after.notified_to == ("center",)


def test_the_audit_retention_goes_by_record_time(store: Store) -> None:
    created = Transition(at(-24 * 30), "new", "T", detail="created a month before it was first seen", recorded_at=at(0))
    store.transaction("record", lambda tx: tx.record([created]))
    assert store.prune(at(1), audit=timedelta(days=1)) == {}
    assert [entry.kind for entry in store.history("T")] == ["new"]
    assert store.prune(at(25), audit=timedelta(days=1)) == {"transitions": 1}
    assert store.history("T") == []


def test_claimed_rows_are_left_to_their_holder_until_it_dies_or_the_claim_expires(store: Store) -> None:
    notes = [Notification(f"T{n}|response|red|1", "escalation", f"T{n}", ("desk",), {}, {}, NOW) for n in range(3)]
    store.transaction("enqueue", lambda tx: tx.enqueue([Outgoing(note, "response", "red", 1) for note in notes], NOW))
    alive, other = store.claim_holder(), store.claim_holder()
    dead = f"{socket.gethostname()}:{2**22 + 12345}:gone"  # above any pid this host hands out
    assert [entry.key for entry in store.claim_due(NOW, 1, alive)] == [notes[0].key]
    assert [entry.key for entry in store.claim_due(NOW, 1, dead)] == [notes[1].key]
    assert [entry.key for entry in store.claim_due(NOW, 5, other)] == [notes[2].key]  # the others are claimed
    assert store.release_claims() == 1  # the dead process's claim only
    assert [entry.key for entry in store.claim_due(NOW, 5, other)] == [notes[1].key]
    assert store.claim_due(NOW, 5, alive, ttl=timedelta(0)) == []  # nothing left unclaimed
    assert store.transaction("check", lambda tx: tx.claimed(alive, [note.key for note in notes])) == {notes[0].key}
    store.release_claims(alive)
    expired = store.claim_holder()
    assert [entry.key for entry in store.claim_due(NOW, 5, expired, ttl=timedelta(0))] == [notes[0].key]
    assert [entry.key for entry in store.claim_due(NOW, 5, alive)] == [notes[0].key]  # an expired claim is free
