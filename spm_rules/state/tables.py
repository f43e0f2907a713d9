"""The state schema as SQLAlchemy Core tables, its column types, and its migrations.

One schema serves SQLite and PostgreSQL.  Times are stored in UTC (``timestamptz`` on
PostgreSQL, ISO text on SQLite, which sorts and compares correctly) and always come back
timezone-aware; JSON is stored as text so both databases keep exactly what was written.

Migrations are numbered functions applied in order, each in the same transaction as its
row in ``schema_migrations`` (the sqlite-utils way): a crash leaves either both or
neither.  PostgreSQL serialises concurrent migrators with a transaction-level advisory
lock, SQLite with ``BEGIN IMMEDIATE``.  To change the schema, append a migration; never
edit one that has shipped (when a later migration alters a table, freeze the version-1
definition of that table inside ``_v1`` first).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    TypeDecorator,
    select,
    text,
)

from .. import jsontext

__all__ = [
    "metadata",
    "schema_migrations",
    "tickets",
    "escalations",
    "transitions",
    "outbox",
    "schedule_fires",
    "schedule_state",
    "leases",
    "silences",
    "run_marks",
    "pruned_tickets",
    "MIGRATIONS",
    "LATEST_VERSION",
    "current_version",
    "schema_behind",
    "migrate",
    "UtcDateTime",
    "JsonText",
]


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant, stored in UTC; naive values are refused, not guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not timezone.utc:  # most instants are already UTC: no conversion
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"refusing to store a naive time {value.isoformat()}: times must be timezone-aware")
            value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class JsonText(TypeDecorator[Any]):
    """JSON kept as text (sorted keys, UTF-8 as is), identical on both databases."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not value and isinstance(value, (dict, list, tuple)):  # the empty levels, tags and receivers of most rows
            return "{}" if isinstance(value, dict) else "[]"
        return jsontext.canonical(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else jsontext.parse(value)


_Id = BigInteger().with_variant(Integer, "sqlite")

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("applied_at", UtcDateTime, nullable=False),
)

#: The tickets as version 1 created them, frozen in a metadata of their own: never edit it.
_TICKETS_V1 = Table(
    "tickets",
    MetaData(),
    Column("ticket_id", Text, primary_key=True),
    Column("status", Text),
    Column("stage", Text),
    Column("tier", Text),
    Column("provider", Text),
    Column("region", Text),
    Column("customer", Text),
    Column("levels", JsonText, nullable=False, default=dict),
    Column("routed_to", Text),
    Column("tags", JsonText, nullable=False, default=list),
    Column("first_seen_at", UtcDateTime),
    Column("last_seen_at", UtcDateTime),
    Column("closed_at", UtcDateTime),
    Column("archived", Boolean, nullable=False, default=False),
    Index("ix_tickets_archived_closed", "archived", "closed_at"),
)

#: One row per ticket: version 1's columns, and ``facts`` (version 4), the ticket as its
#: source last reported it (its JSON form), so that reports, customer status and explain
#: can re-read a ticket's histories from the state alone.
tickets = _TICKETS_V1.to_metadata(metadata)
tickets.append_column(Column("facts", JsonText))
#: Version 5: ``row_hash``, a digest of the ticket's input row (with the ruleset it was
#: evaluated under), and ``next_change_at``, the earliest instant its evaluation may change
#: while the row stays the same (None: only a change of the row changes it), so that a run
#: evaluates in full only the tickets that are new, changed or due.
tickets.append_column(Column("row_hash", Text))
tickets.append_column(Column("next_change_at", UtcDateTime))

#: The escalations and the audit log as version 1 created them, frozen in a metadata of
#: their own: never edit them.
_ESCALATIONS_V1 = Table(
    "escalations",
    MetaData(),
    Column("ticket_id", Text, primary_key=True),
    Column("policy", Text, primary_key=True),
    Column("level", Text, primary_key=True),
    Column("level_rank", Integer, nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime),
    Column("acknowledged_at", UtcDateTime),
    Column("acknowledged_by", Text),
    Column("notified_at", UtcDateTime),
    Column("last_notified_at", UtcDateTime),
    Column("occurrences", Integer, nullable=False, default=0),
    Column("first_key", Text),
    Column("pending_key", Text),
    Column("repeat_from", UtcDateTime),
    Column("repeat_every_seconds", Integer),
    Column("receivers", JsonText, nullable=False, default=list),
    Column("escalated_to", Text),
    Index("ix_escalations_closed", "closed_at"),
)

_TRANSITIONS_V1 = Table(
    "transitions",
    MetaData(),
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("kind", Text, nullable=False),
    Column("ticket_id", Text),
    Column("policy", Text),
    Column("level", Text),
    Column("rule", Text),
    Column("detail", Text, nullable=False, default=""),
    Column("key", Text),
    Index("ix_transitions_ticket", "ticket_id", "id"),
    Index("ix_transitions_at", "at"),
)

#: One row per (ticket, policy, level): version 1's columns, and ``notified_to`` (version
#: 3), the receivers that have a notification of the current episode.
escalations = _ESCALATIONS_V1.to_metadata(metadata)
escalations.append_column(Column("notified_to", JsonText, nullable=False, server_default="[]"))

#: The audit log: version 1's columns, and ``recorded_at`` (version 3), the run's instant
#: beside ``at``, the event's own time.
transitions = _TRANSITIONS_V1.to_metadata(metadata)
transitions.append_column(Column("recorded_at", UtcDateTime))
Index("ix_transitions_recorded", transitions.c.recorded_at)

#: The outbox as version 1 created it, frozen in a metadata of its own: never edit it.
_OUTBOX_V1 = Table(
    "outbox",
    MetaData(),
    Column("key", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("ticket_id", Text),
    Column("policy", Text),
    Column("level", Text),
    Column("occurrence", Integer),
    Column("notification", JsonText, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UtcDateTime, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("last_attempt_at", UtcDateTime),
    Column("last_error", Text),
    Column("sent_at", UtcDateTime),
    Column("done_at", UtcDateTime),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_ticket", "ticket_id"),
)

#: One row per notification key: version 1's columns, ``delivered_to`` (version 2), the
#: receivers that already have the key, so that a retry skips them (the notification
#: log), and the claim of the process delivering it (version 6): ``claimed_by`` (its
#: ``host:pid:token``) until ``claimed_until`` (wall time), so that no transaction stays
#: open while receivers are called and no other process sends the row meanwhile.
outbox = _OUTBOX_V1.to_metadata(metadata)
outbox.append_column(Column("delivered_to", JsonText, nullable=False, server_default="[]"))
outbox.append_column(Column("claimed_by", Text))
outbox.append_column(Column("claimed_until", UtcDateTime))
Index("ix_outbox_claimed", outbox.c.claimed_by)
Index("ix_outbox_status_key", outbox.c.status, outbox.c.key)

schedule_fires = Table(
    "schedule_fires",
    metadata,
    Column("schedule", Text, primary_key=True),
    Column("scheduled_at", UtcDateTime, primary_key=True),
    Column("fired_at", UtcDateTime, nullable=False),
    Column("key", Text, nullable=False),
)

schedule_state = Table(
    "schedule_state",
    metadata,
    Column("schedule", Text, primary_key=True),
    Column("checked_until", UtcDateTime, nullable=False),
)

leases = Table(
    "leases",
    metadata,
    Column("name", Text, primary_key=True),
    Column("holder", Text, nullable=False),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("acquired_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)

#: Version 5: when runs last happened (``name`` is the run lock's, ``at`` the latest run's
#: instant): a run that finds every ticket unchanged writes no ticket row, only this one.
run_marks = Table(
    "run_marks",
    metadata,
    Column("name", Text, primary_key=True),
    Column("at", UtcDateTime, nullable=False),
)

silences = Table(
    "silences",
    metadata,
    Column("id", Text, primary_key=True),
    Column("matchers", JsonText, nullable=False),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime, nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("created_by", Text, nullable=False, default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_silences_ends", "ends_at"),
)

#: run_marks as version 5 created it, frozen: never edit it.
_RUN_MARKS_V5 = run_marks.to_metadata(MetaData())

#: One row per ticket the retention pruned (version 7): the highest notification
#: occurrence its pruned past used, so that the keys of a ticket seen again go on after
#: it (an idempotency key is never reused), and when it closed and was pruned.
pruned_tickets = Table(
    "pruned_tickets",
    metadata,
    Column("ticket_id", Text, primary_key=True),
    Column("occurrences", Integer, nullable=False),
    Column("closed_at", UtcDateTime),
    Column("pruned_at", UtcDateTime, nullable=False),
)

#: pruned_tickets as version 7 created it, frozen: never edit it.
_PRUNED_TICKETS_V7 = pruned_tickets.to_metadata(MetaData())

#: One row per open ticket the runs stopped finding in their tickets (version 8): the first
#: run that did not list it, so that ``retention.missing_tickets`` counts from then (a
#: ticket's ``last_seen_at`` is only the last run that rewrote its row).
absent_tickets = Table(
    "absent_tickets",
    metadata,
    Column("ticket_id", Text, primary_key=True),
    Column("since", UtcDateTime, nullable=False),
)

#: absent_tickets as version 8 created it, frozen: never edit it.
_ABSENT_TICKETS_V8 = absent_tickets.to_metadata(MetaData())

_V1_TABLES = (_TICKETS_V1, _ESCALATIONS_V1, _TRANSITIONS_V1, _OUTBOX_V1, schedule_fires, schedule_state, leases, silences)


def _v1(conn: Connection) -> None:
    """Version 1: every table of the first release."""
    for table in _V1_TABLES:
        table.create(conn)


def _v2(conn: Connection) -> None:
    """Version 2: ``outbox.delivered_to``, the receivers that already have a key (none for existing rows)."""
    conn.execute(text("ALTER TABLE outbox ADD COLUMN delivered_to TEXT NOT NULL DEFAULT '[]'"))


def _v3(conn: Connection) -> None:
    """Version 3: ``escalations.notified_to`` (empty for existing rows: no resolved
    notification for episodes opened before) and ``transitions.recorded_at`` (for existing
    rows the run's instant was ``at`` itself)."""
    conn.execute(text("ALTER TABLE escalations ADD COLUMN notified_to TEXT NOT NULL DEFAULT '[]'"))
    conn.execute(text(f"ALTER TABLE transitions ADD COLUMN recorded_at {UtcDateTime().compile(dialect=conn.dialect)}"))
    conn.execute(text("UPDATE transitions SET recorded_at = at"))
    conn.execute(text("CREATE INDEX ix_transitions_recorded ON transitions (recorded_at)"))


def _v4(conn: Connection) -> None:
    """Version 4: ``tickets.facts``, the ticket as reported (unknown for existing rows until
    their next run sees them)."""
    conn.execute(text("ALTER TABLE tickets ADD COLUMN facts TEXT"))


def _v5(conn: Connection) -> None:
    """Version 5: ``tickets.row_hash`` and ``tickets.next_change_at`` (unknown for existing
    rows: their next run evaluates them in full) and the ``run_marks`` table."""
    conn.execute(text("ALTER TABLE tickets ADD COLUMN row_hash TEXT"))
    conn.execute(text(f"ALTER TABLE tickets ADD COLUMN next_change_at {UtcDateTime().compile(dialect=conn.dialect)}"))
    _RUN_MARKS_V5.create(conn)


def _v6(conn: Connection) -> None:
    """Version 6: ``outbox.claimed_by`` and ``claimed_until``, the claim of the process
    delivering a row (none for existing rows), and an index to claim due rows in key order."""
    conn.execute(text("ALTER TABLE outbox ADD COLUMN claimed_by TEXT"))
    conn.execute(text(f"ALTER TABLE outbox ADD COLUMN claimed_until {UtcDateTime().compile(dialect=conn.dialect)}"))
    conn.execute(text("CREATE INDEX ix_outbox_claimed ON outbox (claimed_by)"))
    conn.execute(text("CREATE INDEX ix_outbox_status_key ON outbox (status, key)"))


def _v7(conn: Connection) -> None:
    """Version 7: ``pruned_tickets``, what the retention remembers of a ticket it pruned."""
    _PRUNED_TICKETS_V7.create(conn)


def _v8(conn: Connection) -> None:
    """Version 8: ``absent_tickets``, when each missing ticket was first not listed (none
    for existing states: a ticket missing now counts from the next run)."""
    _ABSENT_TICKETS_V8.create(conn)


Migration = tuple[int, str, Callable[[Connection], None]]

MIGRATIONS: tuple[Migration, ...] = (
    (1, "initial tables", _v1),
    (2, "outbox receivers already delivered to", _v2),
    (3, "receivers notified per escalation episode; audit record times", _v3),
    (4, "the ticket's reported facts", _v4),
    (5, "input row digests, next change instants and run marks for incremental runs", _v5),
    (6, "delivery claims on outbox rows", _v6),
    (7, "pruned tickets remembered", _v7),
    (8, "missing tickets counted from the first run without them", _v8),
)
LATEST_VERSION = MIGRATIONS[-1][0]

#: Any constant shared by every spm-rules process: the key of the migration advisory lock.
_MIGRATION_LOCK = 0x5370_6D52


def current_version(conn: Connection) -> int:
    """The highest applied migration, 0 for an empty database."""
    if not conn.dialect.has_table(conn, schema_migrations.name):
        return 0
    found = conn.execute(select(schema_migrations.c.version).order_by(schema_migrations.c.version.desc()).limit(1)).scalar()
    return int(found or 0)


def _refuse_newer(version: int) -> None:
    if version > LATEST_VERSION:
        raise RuntimeError(f"the state schema is at version {version}, newer than this spm-rules knows ({LATEST_VERSION}); upgrade spm-rules")


def schema_behind(conn: Connection) -> bool:
    """The database needs migrations (read only: a state already current needs no write access).

    Raises ``RuntimeError`` when the database is newer than this code.
    """
    version = current_version(conn)
    _refuse_newer(version)
    return version < LATEST_VERSION


def migrate(conn: Connection, now: datetime) -> list[int]:
    """Apply the missing migrations inside the caller's transaction; return the versions applied.

    Raises ``RuntimeError`` when the database is newer than this code (the store turns it
    into a ``StateError`` naming the URL).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    schema_migrations.create(conn, checkfirst=True)
    version = current_version(conn)
    _refuse_newer(version)
    applied = []
    for number, name, step in MIGRATIONS:
        if number <= version:
            continue
        step(conn)
        conn.execute(schema_migrations.insert().values(version=number, name=name, applied_at=now))
        applied.append(number)
    return applied
