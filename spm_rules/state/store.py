"""The state store: one SQL layer (SQLAlchemy Core) for SQLite and PostgreSQL.

``Store(url)`` opens (and migrates) the database; everything the stateful run, the ack
and history commands, schedules and alerting's silences keep between runs goes through
it.  It is the only module that talks SQL.

Concurrency, per database:

* **SQLite** (the default, one host): write transactions start with ``BEGIN IMMEDIATE``
  so a read-then-write never fails half-way; the file is in WAL mode so readers never
  wait for a writer; overlapping runs are kept apart by a lease row (``acquire_lease``).
* **PostgreSQL** (many workers): a run locks the ticket rows of a batch with
  ``FOR UPDATE SKIP LOCKED``, so a ticket is processed by one worker at a time and
  another worker skips it instead of waiting; its escalation rows are locked in key
  order; outbox rows are claimed with ``SKIP LOCKED`` for delivery; unique keys
  (escalation, outbox key, schedule tick) make every insert happen once.

Errors become ``StateError`` naming what the store was doing and the URL with its
password masked.  Times are parameters: nothing here reads the clock except the lease,
whose expiry is about process liveness (wall time), not ticket time.
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import time
import uuid
import zlib
from collections import Counter
from contextlib import contextmanager
from dataclasses import fields, replace
from functools import lru_cache
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Container, Iterable, Iterator, Mapping, NamedTuple, Sequence, TypeVar

from sqlalchemy import Connection, Engine, Integer, Row, Text, and_, bindparam, create_engine, delete, event, func, insert, or_, select, text, type_coerce, update
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from ..batches import batched
from ..errors import StateError
from ..notifications import Notification
from . import DEFAULT_STATE_URL
from .records import Escalation, EscalationKey, OutboxEntry, Outgoing, ScheduleFire, Settlement, Silence, TicketMark, TicketState, Transition
from .retention import close_missing
from .tables import UtcDateTime, absent_tickets, escalations, leases, migrate, outbox, pruned_tickets, run_marks, schedule_fires, schema_behind, schedule_state, silences, tickets, transitions

__all__ = [
    "DEFAULT_STATE_URL",
    "Store",
    "StateTx",
    "Lease",
    "mask_url",
    "mask_secrets",
    "notification_to_json",
    "notification_from_json",
]

T = TypeVar("T")

_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<secret>[^@/\s]+)@")
_KEYWORD_SECRET = re.compile(r"(?i)\b(password|passwd|token|secret)=(\S+)")
#: Outbox kinds that belong to an escalation's episode (repeats and receivers notified).
_ESCALATION_KINDS = ("escalation", "repeat")
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock detected
#: How long a delivery claim on outbox rows lasts (wall time) unless its process settles
#: them first; a process of this host that died frees its claims at once.
CLAIM_TTL = timedelta(minutes=15)


def mask_secrets(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` URL and every ``password=…`` hidden."""
    text = _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _KEYWORD_SECRET.sub(lambda m: f"{m[1]}=***", text)


def _normalize(url: str) -> str:
    """Plain ``postgresql://`` (and ``postgres://``) URLs use psycopg 3, the driver of the ``postgres`` extra."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def mask_url(url: str) -> str:
    """The state URL safe to print: the password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return mask_secrets(url)


def notification_to_json(notification: Notification) -> dict[str, Any]:
    """The outbox's JSON form of a notification: its content.  ``delivered_to`` is
    delivery state and lives in the row's own column (see ``OutboxEntry``)."""
    return {
        "key": notification.key,
        "kind": notification.kind,
        "ticket_id": notification.ticket_id,
        "receivers": list(notification.receivers),
        "labels": dict(notification.labels),
        "payload": notification.payload,
        "created_at": notification.created_at.isoformat() if notification.created_at else None,
    }


def notification_from_json(data: Mapping[str, Any], delivered_to: Sequence[str] = ()) -> Notification:
    """A notification back from its outbox JSON form, with the receivers that already have it."""
    created = data.get("created_at")
    return Notification(
        key=data["key"],
        kind=data["kind"],
        ticket_id=data.get("ticket_id"),
        receivers=tuple(data.get("receivers") or ()),
        labels=dict(data.get("labels") or {}),
        payload=dict(data.get("payload") or {}),
        created_at=datetime.fromisoformat(created) if created else None,
        delivered_to=tuple(delivered_to),
    )


R = TypeVar("R")


@lru_cache(maxsize=None)
def _field_names(record: type) -> tuple[str, ...]:
    return tuple(field.name for field in fields(record))


def _from_row(record: type[R], row: Row[Any], **converted: Any) -> R:
    """A record from a row whose columns carry the record's field names (``converted`` overrides some)."""
    names = _field_names(record)
    mapping = row._mapping
    return record(**{name: converted[name] if name in converted else mapping[name] for name in names})


def _values(record: Any, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The columns of a record whose field names are its column names."""
    return {name: getattr(record, name) for name in _field_names(type(record)) if name not in skip}


def _ticket_from_row(row: Row[Any]) -> TicketState:
    return _from_row(TicketState, row, levels=dict(row.levels or {}), tags=tuple(row.tags or ()), archived=bool(row.archived))


def _outbox_from_row(row: Row[Any]) -> OutboxEntry:
    return _from_row(OutboxEntry, row, delivered_to=tuple(row.delivered_to or ()))


def _escalation_from_row(row: Row[Any]) -> Escalation:
    seconds = row.repeat_every_seconds
    return _from_row(
        Escalation,
        row,
        repeat_every=timedelta(seconds=seconds) if seconds is not None else None,
        receivers=tuple(row.receivers or ()),
        notified_to=tuple(row.notified_to or ()),
    )


def _silence_from_row(row: Row[Any]) -> Silence:
    return _from_row(Silence, row, matchers=list(row.matchers))


def _escalation_values(esc: Escalation) -> dict[str, Any]:
    every = esc.repeat_every
    return _values(esc, skip=("repeat_every",)) | {"repeat_every_seconds": int(every.total_seconds()) if every is not None else None}


#: The first key of PostgreSQL's two-key advisory locks that dispatch takes (one per provider).
_DISPATCH_LOCK = 0x5370_6D44


def _lock_key(name: str) -> int:
    """A provider's advisory lock key: a stable signed 32-bit hash of its name."""
    value = zlib.crc32(name.encode("utf-8"))
    return value - (1 << 32) if value >= 1 << 31 else value


def _provider() -> Any:
    """A ticket's provider in reports: the one a route decision assigned, else the one the
    ticket system reported (``TicketState.assigned_provider``: the decision wins)."""
    return func.coalesce(tickets.c.routed_to, tickets.c.provider)


class _RetryableStateError(StateError):
    """A PostgreSQL deadlock or serialization failure: the transaction may simply be run again."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ensure_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Put the SQLite file in WAL mode (readers never wait for the writer), once per file.

    Switching needs the file to itself, and SQLite answers "locked" at once instead of
    waiting when another connection is busy (several processes opening a new state
    together), so the switch is retried for up to ``timeout`` seconds.  A file that cannot
    switch (read-only, or opened ``immutable``) is read in the mode it has.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")  # answers the mode it could set
            return
        except sqlite3.OperationalError as exc:
            if "readonly" in str(exc):
                return
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


def _wall_clock() -> datetime:
    return datetime.now(timezone.utc)


class _Compiled(NamedTuple):
    """A statement compiled for the driver: its SQL, its bind names in the driver's order,
    each one's conversion (None: the value goes as is), and whether the driver takes
    positional parameters."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    positional: bool


def _awaited(now: Any) -> Any:
    """The tickets open and unwritten since before ``now``: those a run at ``now`` that
    does not list them leaves out (``Store.close_missing``)."""
    return and_(tickets.c.archived.is_(False), tickets.c.status.is_not(None), or_(tickets.c.last_seen_at.is_(None), tickets.c.last_seen_at < now))


class _Statements:
    """The bulk statements of runs and delivery, built once per store and executed with a
    list of rows (one compiled statement reused for every batch instead of one per row)."""

    def __init__(self, insert: Callable[[Any], Any], sorted_: Callable[[Any], Any]) -> None:
        keys = ("ticket_id", "policy", "level")
        upsert = insert(escalations)
        self.upsert_escalation = upsert.on_conflict_do_update(
            index_elements=list(keys), set_={column.name: upsert.excluded[column.name] for column in escalations.c if column.name not in keys}
        )
        self.enqueue = insert(outbox).on_conflict_do_nothing(index_elements=["key"]).returning(outbox.c.key)
        self.save_ticket = update(tickets).where(tickets.c.ticket_id == bindparam("b_ticket_id"))
        self.record = transitions.insert()
        self.settle_outbox = update(outbox).where(outbox.c.key == bindparam("b_key"))
        self.settle_escalation = (
            update(escalations)
            .where(escalations.c.ticket_id == bindparam("b_ticket_id"), escalations.c.policy == bindparam("b_policy"), escalations.c.level == bindparam("b_level"))
            .values(
                notified_to=bindparam("b_notified_to", type_=escalations.c.notified_to.type),
                pending_key=bindparam("b_pending_key"),
                notified_at=func.coalesce(escalations.c.notified_at, bindparam("b_notified_at", type_=escalations.c.notified_at.type)),
                last_notified_at=func.coalesce(bindparam("b_last", type_=escalations.c.last_notified_at.type), escalations.c.last_notified_at),
                repeat_from=func.coalesce(bindparam("b_repeat", type_=escalations.c.repeat_from.type), escalations.c.repeat_from),
            )
        )
        # The due outbox rows of a status (pending or failed) unclaimed at the wall time, in
        # key order from the first or after a key: an outbox entry's columns, in its order.
        # The offset (0) is a parameter because SQLite's compiler writes one with any limit.
        key = sorted_(outbox.c.key)
        unclaimed = or_(outbox.c.claimed_by.is_(None), outbox.c.claimed_until <= bindparam("wall", type_=outbox.c.claimed_until.type))
        due = select(*(outbox.c[name] for name in _field_names(OutboxEntry)))
        due = due.where(outbox.c.status == bindparam("status"), outbox.c.next_attempt_at <= bindparam("now", type_=outbox.c.next_attempt_at.type), unclaimed)
        self.due, self.due_after = (
            stmt.order_by(key).limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer)).with_for_update(skip_locked=True)
            for stmt in (due, due.where(key > bindparam("after")))
        )
        # Every open escalation's key with the ticket columns alerting labels it by (text columns: no conversions).
        ticket_columns = (tickets.c.tier, tickets.c.stage, tickets.c.status, tickets.c.region, tickets.c.provider, tickets.c.routed_to)
        self.open_labels = (
            select(escalations.c.ticket_id, escalations.c.policy, escalations.c.level, *ticket_columns)
            .join(tickets, tickets.c.ticket_id == escalations.c.ticket_id)
            .where(escalations.c.closed_at.is_(None))
        )
        self._compiled: dict[tuple[int, tuple[str, ...]], _Compiled | None] = {}
        self._marks: dict[int, Any] = {}
        # Per query, its columns' conversions: (index, conversion, whether it reads an instant).
        self._results: dict[int, tuple[tuple[int, Callable[[Any], Any], bool], ...]] = {}

    def marks(self, count: int) -> tuple[Any, int]:
        """The statement reading the marks of ``count`` tickets (``Store.ticket_marks``),
        and how many ids it takes: ``count`` rounded up to a power of two, the list padded
        with its last id, so that a few statements serve every batch."""
        size = 1 << max(count - 1, 0).bit_length()
        if size not in self._marks:
            settled = and_(
                or_(tickets.c.next_change_at.is_(None), tickets.c.next_change_at > bindparam("now", type_=tickets.c.next_change_at.type)),
                or_(tickets.c.last_seen_at.is_(None), tickets.c.last_seen_at <= bindparam("now", type_=tickets.c.last_seen_at.type)),
            )
            levels = type_coerce(tickets.c.levels, Text).label("levels")
            awaited = _awaited(bindparam("now", type_=tickets.c.last_seen_at.type)).label("awaited")
            columns = (tickets.c.ticket_id, tickets.c.row_hash, settled.label("settled"), levels, awaited)
            self._marks[size] = select(*columns).where(tickets.c.ticket_id.in_([bindparam(f"i{index}") for index in range(size)]))
        return self._marks[size], size

    def _compiled_for(self, stmt: Any, keys: tuple[str, ...], dialect: Any) -> _Compiled | None:
        """``stmt`` (one of these) compiled for parameters with ``keys``, once per store."""
        cache = (id(stmt), keys)
        if cache not in self._compiled:
            self._compiled[cache] = _compile_many(stmt, keys, dialect)
        return self._compiled[cache]

    def rows(self, conn: Connection, stmt: Any, params: Mapping[str, Any]) -> list[Any]:
        """The rows of a query (one of these), as the driver returns them: no per-row
        conversion, which costs more than the lookup itself for a thousand rows."""
        compiled = self._compiled_for(stmt, tuple(params), conn.dialect)
        if compiled is None:
            return list(conn.execute(stmt, dict(params)))
        values = tuple(params[name] if process is None else process(params[name]) for name, process in zip(compiled.names, compiled.processors))
        result = conn.exec_driver_sql(compiled.sql, values if compiled.positional else dict(zip(compiled.names, values)))
        rows = result.cursor.fetchall()  # the driver's own rows: SQLAlchemy's row objects cost more than the lookup
        result.close()
        return rows

    def converted(self, conn: Connection, stmt: Any, params: Mapping[str, Any]) -> list[list[Any]]:
        """The rows of a query (one of these), each column converted by its type as
        SQLAlchemy would, without its row objects (which cost more than the conversions)."""
        if self._compiled_for(stmt, tuple(params), conn.dialect) is None:
            return [list(row) for row in conn.execute(stmt, dict(params))]
        rows = self.rows(conn, stmt, params)
        if id(stmt) not in self._results:
            dialect = conn.dialect
            found = [(index, column.type.dialect_impl(dialect).result_processor(dialect, None), isinstance(column.type, UtcDateTime)) for index, column in enumerate(stmt.selected_columns)]
            self._results[id(stmt)] = tuple(item for item in found if item[1] is not None)
        processors = self._results[id(stmt)]
        # A batch's instants repeat (the run that enqueued its rows): each read once per
        # column.  Other values are converted for each row: they may be mutable (JSON).
        instants: dict[tuple[int, Any], datetime] = {}
        converted = []
        for row in rows:
            values = list(row)
            for index, process, instant in processors:
                value = values[index]
                if value is None:
                    continue
                if instant:
                    key = (index, value)
                    if key not in instants:
                        instants[key] = process(value)
                    values[index] = instants[key]
                else:
                    values[index] = process(value)
            converted.append(values)
        return converted

    def many(self, conn: Connection, stmt: Any, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute ``stmt`` (one of these) once per row; the rows have the same keys.

        SQLAlchemy builds and converts each row's parameters in Python, which cost a
        first run more than the database's own work: here the statement is compiled once
        for the keys, and each value goes through its column type's conversion alone.  A
        statement whose columns need defaults SQLAlchemy fills goes the usual way."""
        if not rows:
            return
        compiled = self._compiled_for(stmt, tuple(rows[0]), conn.dialect)
        if compiled is None:
            conn.execute(stmt, list(rows))
            return
        pairs = tuple(zip(compiled.names, compiled.processors))
        # A batch's instants are mostly the one ``now``, and its tuples (the receivers of
        # notifications and escalations, as strings) a few: each converted once per column.
        repeated: dict[tuple[str, Any], Any] = {}
        values = []
        for row in rows:
            converted = []
            for name, process in pairs:
                value = row[name]
                if process is not None and value is not None:
                    if type(value) is datetime or type(value) is tuple:
                        key = (name, value)
                        if key not in repeated:
                            repeated[key] = process(value)
                        value = repeated[key]
                    else:
                        value = process(value)
                converted.append(value)
            values.append(tuple(converted))
        conn.exec_driver_sql(compiled.sql, values if compiled.positional else [dict(zip(compiled.names, row)) for row in values])


def _compile_many(stmt: Any, keys: tuple[str, ...], dialect: Any) -> _Compiled | None:
    """``stmt`` compiled for rows with ``keys``, or None when some bind is not among them
    (a default SQLAlchemy fills) or needs escaping."""
    compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
    names = tuple(compiled.positiontup) if compiled.positional else tuple(compiled.binds)
    if not set(names) <= set(keys) or compiled.escaped_bind_names:
        return None
    processors = tuple(compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
    return _Compiled(compiled.string, names, processors, bool(compiled.positional))


def _holder_alive(holder: str) -> bool:
    """Whether the process of a ``host:pid:token`` holder may still run (one of another
    host is assumed to: only its claim's expiry frees what it holds)."""
    parts = holder.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    return parts[0] != socket.gethostname() or _pid_alive(int(parts[1]))


class StateTx:
    """One open transaction of the store: the reads and writes a run batch or a delivery batch makes."""

    def __init__(self, store: "Store", conn: Connection) -> None:
        self.store = store
        self.conn = conn

    def lock_tickets(self, ids: Iterable[str], *, skip_locked: bool = True) -> dict[str, TicketState]:
        """Lock and read the ticket rows of ``ids`` (reserved beforehand), in id order.

        With ``skip_locked`` (PostgreSQL) rows another worker holds are left out of the
        result: that worker processes them.  SQLite has no row locks; its write
        transaction already excludes every other writer.
        """
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        stmt = select(tickets).where(tickets.c.ticket_id.in_(wanted)).order_by(self.store._sorted(tickets.c.ticket_id)).with_for_update(skip_locked=skip_locked)
        return {row.ticket_id: _ticket_from_row(row) for row in self.conn.execute(stmt)}

    def lock_providers(self, names: Iterable[str]) -> None:
        """Hold each provider's dispatch lock until the transaction ends (PostgreSQL: a
        transaction advisory lock per name, taken in name order so two workers never wait
        on each other in a cycle).  SQLite's write transaction already excludes every
        other writer.  A worker that counts a provider's open tickets under its lock sees
        every assignment committed before it, so two workers never both take its last slot."""
        if self.store.dialect != "postgresql":
            return
        for name in sorted(set(names)):
            self.conn.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": _DISPATCH_LOCK, "key": _lock_key(name)})

    def open_counts(self, names: Iterable[str]) -> dict[str, int]:
        """Open tickets per assigned provider, for ``names`` (0 for a provider with none)."""
        wanted = sorted(set(names))
        provider = _provider()
        stmt = (
            select(provider, func.count())
            .where(tickets.c.closed_at.is_(None), tickets.c.status.is_not(None), provider.in_(wanted))
            .group_by(provider)
        )
        found = dict.fromkeys(wanted, 0)
        found.update({name: count for name, count in self.conn.execute(stmt)})
        return found

    def escalations(self, ids: Iterable[str], *, lock: bool = True) -> dict[str, dict[EscalationKey, Escalation]]:
        """Every escalation record of the tickets ``ids``, open and closed, locked in key order."""
        wanted = sorted(set(ids))
        found: dict[str, dict[EscalationKey, Escalation]] = {ticket_id: {} for ticket_id in wanted}
        if not wanted:
            return found
        stmt = (
            select(escalations)
            .where(escalations.c.ticket_id.in_(wanted))
            .order_by(*(self.store._sorted(column) for column in (escalations.c.ticket_id, escalations.c.policy, escalations.c.level)))
        )
        if lock:
            stmt = stmt.with_for_update()
        for row in self.conn.execute(stmt):
            esc = _escalation_from_row(row)
            found[esc.ticket_id][esc.key] = esc
        return found

    def pruned_occurrences(self, ids: Iterable[str]) -> dict[str, int]:
        """For each ticket among ``ids`` the retention pruned, the highest notification
        occurrence its pruned past used (its keys go on after it)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        stmt = select(pruned_tickets.c.ticket_id, pruned_tickets.c.occurrences).where(pruned_tickets.c.ticket_id.in_(wanted))
        return {ticket_id: occurrences for ticket_id, occurrences in self.conn.execute(stmt)}

    def save_tickets(self, states: Sequence[TicketState]) -> None:
        """Write the ticket rows (reserved beforehand), in one statement executed for each."""
        if states:
            rows = [{"b_ticket_id": state.ticket_id, **_values(state, skip=("ticket_id",))} for state in sorted(states, key=lambda s: s.ticket_id)]
            self.store._statements.many(self.conn, self.store._statements.save_ticket, rows)

    def save_escalations(self, records: Iterable[Escalation]) -> None:
        """Insert or update escalation records in one statement executed for each, in key
        order (so concurrent writers never deadlock)."""
        rows = [_escalation_values(esc) for esc in sorted(records, key=lambda e: (e.ticket_id, e.policy, e.level))]
        self.store._statements.many(self.conn, self.store._statements.upsert_escalation, rows)

    def record(self, entries: Sequence[Transition]) -> None:
        """Append audit log entries (``recorded_at`` defaults to ``at``)."""
        if entries:
            self.store._statements.many(self.conn, self.store._statements.record, [_values(entry) | {"recorded_at": entry.recorded} for entry in entries])

    def enqueue(self, items: Sequence[Outgoing], now: datetime) -> list[str]:
        """Put notifications in the outbox, each key at most once, in one statement executed
        for each; return the keys actually inserted, in the order given."""
        rows: dict[str, dict[str, Any]] = {}
        for item in items:
            note = item.notification
            rows.setdefault(note.key, {
                "key": note.key,
                "kind": note.kind,
                "ticket_id": note.ticket_id,
                "policy": item.policy,
                "level": item.level,
                "occurrence": item.occurrence,
                "notification": notification_to_json(note),
                "delivered_to": list(note.delivered_to),
                "status": "pending",
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
            })
        if not rows:
            return []
        inserted = set(self.conn.execute(self.store._statements.enqueue, list(rows.values())).scalars())
        return [key for key in rows if key in inserted]

    def claim_due(self, now: datetime, limit: int, after_key: str | None = None) -> list[OutboxEntry]:
        """Lock up to ``limit`` due outbox rows (pending or failed, due by ``now``) in key order after ``after_key``.

        Rows another process is delivering are skipped: those it holds a live claim on,
        and (PostgreSQL ``SKIP LOCKED``) those it is claiming right now.
        """
        statements = self.store._statements
        stmt = statements.due if after_key is None else statements.due_after
        params = {"now": now, "wall": _wall_clock(), "limit": limit, "offset": 0} | ({} if after_key is None else {"after": after_key})
        found: list[OutboxEntry] = []
        # One query per status, each walking the (status, key) index from the cursor, so a
        # batch costs its own rows, not a sort of every due row; merged in key order.
        for status in ("failed", "pending"):
            for *columns, delivered_to in statements.converted(self.conn, stmt, params | {"status": status}):
                found.append(OutboxEntry(*columns, delivered_to=tuple(delivered_to or ())))
        return sorted(found, key=lambda entry: entry.key)[:limit]

    def claimed(self, holder: str, keys: Iterable[str]) -> set[str]:
        """Lock the outbox rows of ``keys`` that ``holder`` still claims, and say which they are
        (a claim that expired may have gone to another process, which settles the row)."""
        wanted = sorted(set(keys))
        if not wanted:
            return set()
        stmt = select(outbox.c.key).where(outbox.c.key.in_(wanted), outbox.c.claimed_by == holder).order_by(outbox.c.key).with_for_update()
        return set(self.conn.execute(stmt).scalars())

    def settle(self, settlements: Sequence[Settlement], now: datetime) -> None:
        """Write delivery results, releasing the rows' claims: outbox rows first (one
        statement for the batch), then the escalations they free and the receivers they
        reached (read once, written in one statement, in key order)."""
        if not settlements:
            return
        final = ("sent", "dead", "suppressed")
        self.store._statements.many(
            self.conn,
            self.store._statements.settle_outbox,
            [
                {
                    "b_key": item.entry.key,
                    "status": item.status,
                    "attempts": item.attempts,
                    "next_attempt_at": item.next_attempt_at or item.entry.next_attempt_at,
                    "last_attempt_at": now,
                    "last_error": item.error,
                    "delivered_to": item.delivered_to,
                    "sent_at": now if item.status == "sent" else None,
                    "done_at": now if item.status in final else None,
                    "claimed_by": None,
                    "claimed_until": None,
                }
                for item in settlements
            ],
        )
        freed = [
            item
            for item in settlements
            if item.entry.kind in _ESCALATION_KINDS and None not in (item.entry.ticket_id, item.entry.policy, item.entry.level)
        ]
        if not freed:
            return
        stmt = select(escalations.c.ticket_id, escalations.c.policy, escalations.c.level, escalations.c.notified_to, escalations.c.opened_at, escalations.c.pending_key)
        stmt = stmt.where(escalations.c.ticket_id.in_(sorted({item.entry.ticket_id for item in freed})))
        # Per escalation: its receivers and pending key as they end up, and the instants to
        # set (None keeps the stored one: the update coalesces them, so none is read).
        current: dict[tuple[str, str, str], dict[str, Any]] = {}
        opened: dict[tuple[str, str, str], datetime] = {}
        for row in self.conn.execute(stmt):
            escalation = (row.ticket_id, row.policy, row.level)
            opened[escalation] = row.opened_at
            current[escalation] = {"b_notified_to": tuple(row.notified_to or ()), "b_pending_key": row.pending_key, "b_notified_at": None, "b_last": None, "b_repeat": None}
        changed: set[tuple[str, str, str]] = set()
        for item in sorted(freed, key=lambda s: (s.entry.ticket_id, s.entry.policy, s.entry.level, s.entry.key)):
            entry = item.entry
            escalation = (entry.ticket_id, entry.policy, entry.level)
            values = current.get(escalation)  # type: ignore[arg-type]
            if values is None:
                continue
            known = values["b_notified_to"]
            added = [name for name in item.delivered_to if name not in known]
            # Only a notification of the current episode adds receivers (not one enqueued
            # before the ticket left and re-entered the level).
            if added and entry.created_at >= opened[escalation]:  # type: ignore[index]
                values["b_notified_to"] = (*known, *added)
                changed.add(escalation)  # type: ignore[arg-type]
            if item.status not in final:
                continue
            if item.status == "sent":
                values["b_last"] = now
                changed.add(escalation)  # type: ignore[arg-type]
            if values["b_pending_key"] == entry.key:
                values["b_pending_key"], values["b_repeat"] = None, now
                if item.status == "sent":
                    values["b_notified_at"] = now
                changed.add(escalation)  # type: ignore[arg-type]
        if changed:
            params = [{"b_ticket_id": ticket_id, "b_policy": policy, "b_level": level, **current[(ticket_id, policy, level)]} for ticket_id, policy, level in sorted(changed)]
            self.store._statements.many(self.conn, self.store._statements.settle_escalation, params)


class Lease:
    """A held lease on the store (the run lock); renew it during long runs, release it at the end."""

    def __init__(self, store: "Store", name: str, holder: str, ttl: timedelta, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.name = name
        self.holder = holder
        self.ttl = ttl
        self.clock = clock

    def renew(self) -> None:
        """Push the expiry forward; raise ``StateError`` if another process took the lease meanwhile."""
        with self.store._tx("renew the run lock", write=True) as conn:
            done = conn.execute(
                update(leases).where(leases.c.name == self.name, leases.c.holder == self.holder).values(expires_at=self.clock() + self.ttl)
            ).rowcount
        if not done:
            raise StateError(f"state {self.store.masked_url}: lost the run lock {self.name!r} (it expired and another run took it)")

    def release(self) -> None:
        """Give the lease up (a no-op if it already expired and went to someone else)."""
        with self.store._tx("release the run lock", write=True) as conn:
            conn.execute(delete(leases).where(leases.c.name == self.name, leases.c.holder == self.holder))

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Store:
    """The state database at ``url`` (``sqlite:///file.db`` or ``postgresql://…``), migrated on open.

    A new SQLite file is created with mode 0600: the state holds ticket data and
    notification payloads.  ``busy_timeout`` (seconds) bounds how long a statement waits
    for a lock held by another process before failing with a clear message.
    """

    def __init__(self, url: str = DEFAULT_STATE_URL, *, busy_timeout: float = 30.0, now: datetime | None = None) -> None:
        self.masked_url = mask_url(url)
        self.url = _normalize(url)
        self.busy_timeout = busy_timeout
        self.engine = self._create_engine()
        self.dialect = self.engine.dialect.name
        self._statements = _Statements(self._insert, self._sorted)
        self.migrate(now or _wall_clock())

    # -- connection and transactions -------------------------------------------------

    def _create_engine(self) -> Engine:
        try:
            parsed = make_url(self.url)
        except ArgumentError:
            raise StateError(f"state URL {self.masked_url!r} is not a database URL (e.g. sqlite:///spm-state.db, postgresql://user@host/db)") from None
        backend = parsed.get_backend_name()
        try:
            if backend == "sqlite":
                return self._sqlite_engine(parsed.database, uri=parsed.query.get("uri") == "true")
            if backend == "postgresql":
                engine = create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": max(1, int(self.busy_timeout))})
                lock_ms = int(self.busy_timeout * 1000)

                @event.listens_for(engine, "connect")
                def _session(dbapi_conn: Any, _record: Any) -> None:
                    with dbapi_conn.cursor() as cursor:
                        cursor.execute(f"SET lock_timeout = {lock_ms}")
                    dbapi_conn.commit()

                return engine
        except (NoSuchModuleError, ImportError) as exc:
            if backend == "postgresql":  # the driver is the optional extra, not a core dependency
                raise StateError(
                    f"state URL {self.masked_url!r}: PostgreSQL state needs the psycopg driver, which does not import here ({exc}); "
                    "install spm-rules[postgres] (pip install 'spm-rules[postgres]')"
                ) from None
            raise StateError(f"state URL {self.masked_url!r}: no database driver ({exc})") from None
        raise StateError(f"state URL {self.masked_url!r}: only sqlite:/// and postgresql:// are supported")

    def _sqlite_engine(self, path: str | None, *, uri: bool = False) -> Engine:
        """The engine of an SQLite file; a new file is created private first.  With
        ``uri=true`` the path is an SQLite URI (``file:state.db?mode=ro``) opened as it says."""
        memory = not path or path == ":memory:"
        if not memory and not uri:
            assert path is not None
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                os.close(fd)
            except FileExistsError:
                pass
            except OSError as exc:
                raise StateError(f"state {self.masked_url}: cannot create the database file: {exc.strerror or exc}") from None
        kwargs: dict[str, Any] = {"connect_args": {"timeout": self.busy_timeout}}
        if memory:
            kwargs["poolclass"] = StaticPool
            kwargs["connect_args"]["check_same_thread"] = False
        engine = create_engine(self.url, **kwargs)

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, decide where transactions begin (pysqlite would
            # delay BEGIN to the first write and commit before DDL).
            dbapi_conn.isolation_level = None
            if not memory:
                _ensure_wal(dbapi_conn, self.busy_timeout)

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("spm_write") else "BEGIN")

        return engine

    def _error(self, what: str, exc: SQLAlchemyError) -> StateError:
        orig = getattr(exc, "orig", None)
        lines = str(orig if orig is not None else exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        if self.dialect == "sqlite" and "database is locked" in reason:
            reason += f" (another process kept it busy for more than {self.busy_timeout:g}s)"
        if self.dialect == "sqlite" and "readonly database" in reason:
            reason += (
                " (the state is read-only for this process: commands that change it need write access to the file and its directory;"
                " a copy that no process writes can be read as sqlite:///file:PATH?immutable=1&uri=true)"
            )
        retryable = isinstance(exc, DBAPIError) and getattr(orig, "sqlstate", None) in _RETRYABLE_SQLSTATES
        return (_RetryableStateError if retryable else StateError)(f"state {self.masked_url}: cannot {what}: {mask_secrets(reason)}")

    @contextmanager
    def _tx(self, what: str, *, write: bool) -> Iterator[Connection]:
        """A transaction; SQLite write transactions take the write lock up front (BEGIN IMMEDIATE)."""
        try:
            with self.engine.connect() as conn:
                if write:
                    conn = conn.execution_options(spm_write=True)
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise self._error(what, exc) from None

    def _insert(self, table: Any) -> Any:
        """The dialect's INSERT, which knows ``ON CONFLICT``."""
        return (pg_dialect.insert if self.dialect == "postgresql" else sqlite_dialect.insert)(table)

    def _sorted(self, column: Any) -> Any:
        """``column`` for ORDER BY in code-point order, the order Python sorts in.

        Rows are locked in the order they are read; every writer locks in Python's order,
        and PostgreSQL's default collation could differ from it (and deadlock).
        """
        return column.collate("C") if self.dialect == "postgresql" else column

    def _insert_once(self, conn: Connection, table: Any, values: dict[str, Any], unique: list[str]) -> bool:
        """Insert a row unless its unique key exists; True when this call inserted it."""
        stmt = self._insert(table).values(**values).on_conflict_do_nothing(index_elements=unique).returning(table.c[unique[0]])
        return conn.execute(stmt).first() is not None

    def transaction(self, what: str, work: Callable[[StateTx], T], *, retries: int = 3) -> T:
        """Run ``work`` in one write transaction; retried on a PostgreSQL deadlock or serialization failure.

        ``work`` must be safe to run again from the start (it re-reads what it locks).
        """
        for attempt in range(retries + 1):
            try:
                with self._tx(what, write=True) as conn:
                    return work(StateTx(self, conn))
            except _RetryableStateError:
                if attempt == retries:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def migrate(self, now: datetime) -> list[int]:
        """Bring the schema up to date; return the versions applied.

        The version is read first in a read transaction, so a state already current needs
        no write access: the read-only commands work on a read-only SQLite file, a
        ``mode=ro`` URI or a PostgreSQL role that may only SELECT.  Only a state that is
        behind takes the write transaction (which reads the version again under its lock).
        """
        try:
            with self._tx("read the state schema version", write=False) as conn:
                if not schema_behind(conn):
                    return []
            with self._tx("migrate the state schema", write=True) as conn:
                return migrate(conn, now)
        except RuntimeError as exc:
            raise StateError(f"state {self.masked_url}: {exc}") from None

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- run lock --------------------------------------------------------------------

    def acquire_lease(
        self,
        name: str = "run",
        *,
        ttl: timedelta = timedelta(minutes=10),
        wait: float = 60.0,
        poll: float = 0.2,
        clock: Callable[[], datetime] = _wall_clock,
    ) -> Lease:
        """Take the lease ``name``, waiting up to ``wait`` seconds; raise ``StateError`` naming the holder otherwise.

        A lease is free when absent, expired (its holder stopped renewing), or held by a
        process of this host that no longer exists (a run killed with SIGKILL).
        """
        host, pid = socket.gethostname(), os.getpid()
        holder = f"{host}:{pid}:{uuid.uuid4().hex[:8]}"
        started = time.monotonic()
        while True:
            with self._tx("take the run lock", write=True) as conn:
                now = clock()
                row = conn.execute(select(leases).where(leases.c.name == name).with_for_update()).first()
                values = {"holder": holder, "host": host, "pid": pid, "acquired_at": now, "expires_at": now + ttl}
                if row is None:
                    taken = self._insert_once(conn, leases, {"name": name, **values}, ["name"])
                elif row.expires_at <= now or (row.host == host and not _pid_alive(row.pid)):
                    conn.execute(update(leases).where(leases.c.name == name, leases.c.holder == row.holder).values(**values))
                    taken = True
                else:
                    taken = False
            if taken:
                return Lease(self, name, holder, ttl, clock)
            if time.monotonic() - started >= wait:
                since = row.acquired_at.strftime("%Y-%m-%d %H:%M:%SZ") if row is not None else "?"
                who = f"{row.holder} since {since}" if row is not None else "another process"
                raise StateError(
                    f"state {self.masked_url}: another run holds the run lock ({who}); gave up after waiting {wait:g}s"
                )
            time.sleep(poll)

    # -- delivery claims -------------------------------------------------------------

    def claim_holder(self) -> str:
        """A new claim holder for this process: ``host:pid:token``."""
        return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def claim_due(self, now: datetime, limit: int, holder: str, *, after_key: str | None = None, ttl: timedelta = CLAIM_TTL) -> list[OutboxEntry]:
        """Claim up to ``limit`` due outbox rows for ``holder`` (see ``StateTx.claim_due``)
        in a short transaction of its own, for ``ttl`` of wall time.

        The rows are sent with no transaction open, so a slow or hanging receiver never
        keeps the write lock (SQLite) or row locks (PostgreSQL) from ``ack``, reports or
        another run; ``StateTx.settle`` releases the claims with the outcomes.
        """

        def work(tx: StateTx) -> list[OutboxEntry]:
            entries = tx.claim_due(now, limit, after_key)
            if entries:
                until = _wall_clock() + ttl
                tx.conn.execute(update(outbox).where(outbox.c.key.in_([entry.key for entry in entries])).values(claimed_by=holder, claimed_until=until))
            return entries

        return self.transaction("claim notifications for delivery", work)

    def release_claims(self, holder: str | None = None) -> int:
        """Release the claims of ``holder`` (None: of every delivering process of this host
        that no longer exists, such as a run killed during delivery); return the rows freed.

        A claim of a process on another host is freed when it expires.
        """

        def work(tx: StateTx) -> int:
            if holder is not None:
                gone = [holder]
            else:
                holders = tx.conn.execute(select(outbox.c.claimed_by).where(outbox.c.claimed_by.is_not(None)).distinct()).scalars()
                gone = [name for name in holders if not _holder_alive(name)]
            if not gone:
                return 0
            stmt = update(outbox).where(outbox.c.claimed_by.in_(gone)).values(claimed_by=None, claimed_until=None)
            return int(tx.conn.execute(stmt).rowcount or 0)

        return self.transaction("release delivery claims", work)

    # -- run batches -----------------------------------------------------------------

    def reserve_tickets(self, ids: Iterable[str]) -> int:
        """Make sure a row exists for each ticket id (so it can be locked); return how many were new.

        Committed on its own, before the batch transaction, so that two workers reserving
        the same new ticket never wait on each other inside their batch transactions.
        """
        wanted = sorted(set(ids))
        if not wanted:
            return 0
        with self._tx("reserve ticket rows", write=True) as conn:
            present = set(conn.execute(select(tickets.c.ticket_id).where(tickets.c.ticket_id.in_(wanted))).scalars())
            missing = [ticket_id for ticket_id in wanted if ticket_id not in present]
            if missing:
                stmt = self._insert(tickets).on_conflict_do_nothing(index_elements=["ticket_id"])
                conn.execute(stmt, [{"ticket_id": ticket_id, "levels": {}, "tags": [], "archived": False} for ticket_id in missing])
        return len(missing)

    def ticket_marks(self, ids: Iterable[str], now: datetime) -> dict[str, TicketMark]:
        """The marks of the stored tickets among ``ids`` at ``now`` (one read, no lock): what
        a run needs to leave an unchanged ticket alone.  The instants are compared in SQL
        and the levels left as text, so a mark costs no parsing."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        stmt, size = self._statements.marks(len(wanted))
        params = {"now": now, **{f"i{index}": wanted[min(index, len(wanted) - 1)] for index in range(size)}}
        with self._tx("read ticket marks", write=False) as conn:
            rows = self._statements.rows(conn, stmt, params)
            return {ticket_id: TicketMark(row_hash, bool(quiet), levels or "{}", bool(awaited)) for ticket_id, row_hash, quiet, levels, awaited in rows}

    def count_awaited(self, now: datetime) -> int:
        """How many tickets are open and unwritten since before ``now``: those a run at
        ``now`` counts as missing when its listing leaves them out.  A run that finds every
        one of them in its marks (``TicketMark.awaited``) needs no list of their ids."""
        with self._tx("count the open tickets", write=False) as conn:
            return int(conn.execute(select(func.count()).select_from(tickets).where(_awaited(now))).scalar_one())

    def repeats_due(self, now: datetime) -> set[str]:
        """The tickets with an open, unacknowledged escalation whose repeat interval has
        passed by ``now`` with nothing in flight: delivery moves these instants, not the run,
        so they are read at each run rather than kept in ``next_change_at``."""
        stmt = select(escalations.c.ticket_id, escalations.c.repeat_from, escalations.c.repeat_every_seconds).where(
            escalations.c.closed_at.is_(None),
            escalations.c.acknowledged_at.is_(None),
            escalations.c.pending_key.is_(None),
            escalations.c.repeat_every_seconds.is_not(None),
            escalations.c.repeat_from.is_not(None),
            escalations.c.repeat_from <= now,
        )
        with self._tx("read the repeats due", write=False) as conn:
            return {ticket_id for ticket_id, since, every in conn.execute(stmt) if since + timedelta(seconds=every) <= now}

    def mark_run(self, now: datetime, name: str = "run") -> None:
        """Record that a run happened at ``now`` (the mark only moves forward)."""
        stmt = self._insert(run_marks).values(name=name, at=now)
        stmt = stmt.on_conflict_do_update(index_elements=["name"], set_={"at": now}, where=run_marks.c.at < now)
        with self._tx("mark the run", write=True) as conn:
            conn.execute(stmt)

    # -- ack, history, reports ---------------------------------------------------------

    def acknowledge(
        self, ticket_id: str, now: datetime, *, policy: str | None = None, level: str | None = None, by: str = ""
    ) -> list[Escalation]:
        """Acknowledge the ticket's open, unacknowledged escalations (optionally one policy/level); return them.

        An acknowledged escalation is not repeated any more; a higher level the ticket
        reaches later is a new escalation and notifies again.
        """

        def work(tx: StateTx) -> list[Escalation]:
            tx.lock_tickets([ticket_id], skip_locked=False)
            found = [
                esc
                for esc in tx.escalations([ticket_id])[ticket_id].values()
                if esc.is_open and esc.acknowledged_at is None and policy in (None, esc.policy) and level in (None, esc.level)
            ]
            acked = [replace(esc, acknowledged_at=now, acknowledged_by=by or None) for esc in found]
            tx.save_escalations(acked)
            tx.record([Transition(now, "acknowledged", ticket_id, esc.policy, esc.level, None, f"by {by}" if by else "") for esc in acked])
            return acked

        return self.transaction("acknowledge escalations", work)

    def ticket(self, ticket_id: str) -> TicketState | None:
        """The stored state of one ticket, or None if no run has seen it."""
        with self._tx("read a ticket", write=False) as conn:
            row = conn.execute(select(tickets).where(tickets.c.ticket_id == ticket_id)).first()
        return _ticket_from_row(row) if row is not None else None

    def escalations_of(self, ticket_id: str) -> list[Escalation]:
        """Every escalation record of one ticket, in key order."""
        with self._tx("read escalations", write=False) as conn:
            return list(StateTx(self, conn).escalations([ticket_id], lock=False)[ticket_id].values())

    def history(self, ticket_id: str) -> list[Transition]:
        """The audit log of one ticket, oldest first."""
        with self._tx("read the audit log", write=False) as conn:
            rows = conn.execute(select(transitions).where(transitions.c.ticket_id == ticket_id).order_by(transitions.c.id))
            return [_from_row(Transition, row) for row in rows]

    def audit(self, since: datetime | None = None, until: datetime | None = None) -> list[Transition]:
        """The audit log between two instants (``since`` inclusive, ``until`` exclusive), oldest first."""
        stmt = select(transitions)
        if since is not None:
            stmt = stmt.where(transitions.c.at >= since)
        if until is not None:
            stmt = stmt.where(transitions.c.at < until)
        with self._tx("read the audit log", write=False) as conn:
            return [_from_row(Transition, row) for row in conn.execute(stmt.order_by(transitions.c.id))]

    def open_escalations(self, limit: int | None = None) -> list[tuple[Escalation, TicketState]]:
        """Open escalations with their tickets, highest level rank first, then oldest first (at most ``limit``)."""
        stmt = (
            select(escalations, tickets)
            .join(tickets, tickets.c.ticket_id == escalations.c.ticket_id)
            .where(escalations.c.closed_at.is_(None))
            .order_by(escalations.c.level_rank.desc(), escalations.c.opened_at, escalations.c.ticket_id, escalations.c.policy, escalations.c.level)
            .limit(limit)
        )
        with self._tx("read open escalations", write=False) as conn:
            return [(_escalation_from_row(row), _ticket_from_row(row)) for row in conn.execute(stmt)]

    def open_escalation_labels(self) -> list[dict[str, Any]]:
        """Every open escalation's key with the ticket columns alerting labels it by (tier,
        stage, status, region, provider, routed_to): only those columns, no records built,
        so a delivery can afford to read all of them for inhibition."""
        stmt = self._statements.open_labels
        names = [column.name for column in stmt.selected_columns]
        with self._tx("read open escalations", write=False) as conn:
            return [dict(zip(names, row)) for row in self._statements.rows(conn, stmt, {})]

    def open_loads(self) -> dict[str, int]:
        """Open tickets per assigned provider (tickets with none left out)."""
        provider = _provider()
        stmt = select(provider, func.count()).where(tickets.c.closed_at.is_(None), tickets.c.status.is_not(None), provider.is_not(None)).group_by(provider)
        with self._tx("count open tickets per provider", write=False) as conn:
            return {name: count for name, count in conn.execute(stmt)}

    def assignments(self, ids: Iterable[str]) -> dict[str, tuple[str, dict[str, Any] | None]]:
        """The provider a route decision assigned to each open ticket of ``ids`` that has
        one, with the ticket's facts as last stored (the assignment was made on them)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        stmt = select(tickets.c.ticket_id, tickets.c.routed_to, tickets.c.facts).where(
            tickets.c.ticket_id.in_(wanted), tickets.c.routed_to.is_not(None), tickets.c.closed_at.is_(None)
        )
        with self._tx("read ticket assignments", write=False) as conn:
            return {ticket_id: (routed_to, facts) for ticket_id, routed_to, facts in conn.execute(stmt)}

    def escalation_counts(self) -> list[tuple[str, str, str | None, int]]:
        """Open escalations counted per (policy, level, provider)."""
        provider = _provider()
        stmt = (
            select(escalations.c.policy, escalations.c.level, provider, func.count())
            .join(tickets, tickets.c.ticket_id == escalations.c.ticket_id)
            .where(escalations.c.closed_at.is_(None))
            .group_by(escalations.c.policy, escalations.c.level, provider)
            .order_by(escalations.c.policy, escalations.c.level, provider)
        )
        with self._tx("count open escalations", write=False) as conn:
            return [(policy, level, who, count) for policy, level, who, count in conn.execute(stmt)]

    def transition_counts(self, since: datetime, until: datetime) -> list[tuple[str, str | None, str | None, str | None, int]]:
        """Audit entries recorded in ``[since, until)`` counted per (kind, policy, level, provider).

        By record time, not event time: an event a run records late (a stage change made
        before the last count) is counted in the next period instead of never.
        """
        provider = _provider()
        stmt = (
            select(transitions.c.kind, transitions.c.policy, transitions.c.level, provider, func.count())
            .select_from(transitions.outerjoin(tickets, tickets.c.ticket_id == transitions.c.ticket_id))
            .where(transitions.c.recorded_at >= since, transitions.c.recorded_at < until)
            .group_by(transitions.c.kind, transitions.c.policy, transitions.c.level, provider)
        )
        with self._tx("count audit entries", write=False) as conn:
            rows = [(kind, policy, level, who, count) for kind, policy, level, who, count in conn.execute(stmt)]
        return sorted(rows, key=lambda row: tuple("" if part is None else str(part) for part in row[:4]))

    def outbox_counts(self) -> dict[str, int]:
        """Outbox rows per status."""
        with self._tx("count the outbox", write=False) as conn:
            return {status: count for status, count in conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))}

    def outbox_entries(self, ticket_id: str | None = None) -> list[OutboxEntry]:
        """Outbox rows (of one ticket, or all), in key order."""
        stmt = select(outbox).order_by(outbox.c.key)
        if ticket_id is not None:
            stmt = stmt.where(outbox.c.ticket_id == ticket_id)
        with self._tx("read the outbox", write=False) as conn:
            return [_outbox_from_row(row) for row in conn.execute(stmt)]

    def customers(self, tiers: Iterable[str]) -> list[tuple[str, str | None, int]]:
        """(customer, region, tickets) of every customer with tickets in ``tiers``, by customer."""
        wanted = sorted(set(tiers))
        stmt = (
            select(tickets.c.customer, func.min(tickets.c.region), func.count())
            .where(tickets.c.tier.in_(wanted), tickets.c.customer.is_not(None))
            .group_by(tickets.c.customer)
            .order_by(tickets.c.customer)
        )
        with self._tx("read customers", write=False) as conn:
            return [(customer, region, count) for customer, region, count in conn.execute(stmt)]

    # -- customer status and wallboard (spm_rules.reports.status, .board): read-only ---------

    def open_tickets(self, terminal_statuses: Iterable[str] = ()) -> list[TicketState]:
        """The tickets still open, by id: seen by a committed run, not archived, and not in
        one of ``terminal_statuses`` (a status the ruleset made terminal after the last run)."""
        stmt = select(tickets).where(tickets.c.status.is_not(None), tickets.c.archived.is_(False))
        terminal = sorted(set(terminal_statuses))
        if terminal:
            stmt = stmt.where(tickets.c.status.not_in(terminal))
        with self._tx("read open tickets", write=False) as conn:
            return [_ticket_from_row(row) for row in conn.execute(stmt.order_by(tickets.c.ticket_id))]

    def due_tickets(self, now: datetime, terminal_statuses: Iterable[str] = (), *, page: int = 500) -> Iterator[TicketState]:
        """The open tickets a sweep at ``now`` must re-evaluate, by id, a page at a time:
        those whose evaluation may have changed by now (``next_change_at <= now``), those
        with a repeat due (``repeats_due``), and rows no run has marked since version 5."""
        repeating = sorted(self.repeats_due(now))
        ticket_id = self._sorted(tickets.c.ticket_id)
        due = or_(tickets.c.next_change_at <= now, tickets.c.row_hash.is_(None))
        if repeating:
            due = or_(due, tickets.c.ticket_id.in_(repeating))
        stmt = select(tickets).where(tickets.c.status.is_not(None), tickets.c.archived.is_(False), due)
        terminal = sorted(set(terminal_statuses))
        if terminal:
            stmt = stmt.where(tickets.c.status.not_in(terminal))
        after: str | None = None
        while True:
            query = stmt if after is None else stmt.where(ticket_id > after)
            with self._tx("read the tickets due", write=False) as conn:
                rows = [_ticket_from_row(row) for row in conn.execute(query.order_by(ticket_id).limit(page))]
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1].ticket_id

    def acknowledged_tickets(self) -> set[str]:
        """The tickets with an open escalation someone acknowledged."""
        stmt = select(escalations.c.ticket_id).where(escalations.c.closed_at.is_(None), escalations.c.acknowledged_at.is_not(None)).distinct()
        with self._tx("read acknowledged escalations", write=False) as conn:
            return set(conn.execute(stmt).scalars())

    def last_run_at(self) -> datetime | None:
        """The instant of the latest run (None: no run yet)."""
        with self._tx("read the last run's instant", write=False) as conn:
            seen = [conn.execute(select(func.max(tickets.c.last_seen_at))).scalar(), conn.execute(select(func.max(run_marks.c.at))).scalar()]
        return max((at for at in seen if at is not None), default=None)

    # -- schedules ---------------------------------------------------------------------

    def schedule_checked(self, names: Iterable[str]) -> dict[str, datetime]:
        """For each schedule, the instant up to which its ticks have been considered."""
        with self._tx("read schedule state", write=False) as conn:
            rows = conn.execute(select(schedule_state).where(schedule_state.c.schedule.in_(sorted(set(names)))))
            return {row.schedule: row.checked_until for row in rows}

    def fire_schedule(self, name: str, items: Sequence[tuple[datetime, Outgoing]], checked_until: datetime, now: datetime) -> list[datetime]:
        """Record each (tick, notification) of schedule ``name`` as fired and enqueue its notification, each tick once.

        A tick another worker already fired is left out of the result and enqueues
        nothing.  The watermark ``checked_until`` only moves forward, so a worker with an
        older ``now`` never makes the others re-consider ticks.  Returns the ticks this
        call fired.
        """

        def work(tx: StateTx) -> list[datetime]:
            won = []
            for tick, item in items:
                fire = {"schedule": name, "scheduled_at": tick, "fired_at": now, "key": item.notification.key}
                if self._insert_once(tx.conn, schedule_fires, fire, ["schedule", "scheduled_at"]):
                    tx.enqueue([item], now)
                    tx.record([Transition(now, "schedule", None, None, None, None, f"{name} tick {tick.isoformat()}", item.notification.key)])
                    won.append(tick)
            stmt = self._insert(schedule_state).values(schedule=name, checked_until=checked_until)
            stmt = stmt.on_conflict_do_update(
                index_elements=["schedule"],
                set_={"checked_until": checked_until},
                where=schedule_state.c.checked_until < checked_until,
            )
            tx.conn.execute(stmt)
            return won

        return self.transaction(f"fire schedule {name!r}", work)

    def schedule_fires(self, name: str | None = None) -> list[ScheduleFire]:
        """Recorded fires (of one schedule, or all), in scheduled-time order."""
        stmt = select(schedule_fires).order_by(schedule_fires.c.scheduled_at, schedule_fires.c.schedule)
        if name is not None:
            stmt = stmt.where(schedule_fires.c.schedule == name)
        with self._tx("read schedule fires", write=False) as conn:
            return [_from_row(ScheduleFire, row) for row in conn.execute(stmt)]

    # -- retention -------------------------------------------------------------------

    def prune(
        self,
        now: datetime,
        *,
        closed_tickets: timedelta | None = None,
        notifications: timedelta | None = None,
        audit: timedelta | None = None,
    ) -> dict[str, int]:
        """Delete what the retention no longer keeps; return the rows deleted per table.

        * ``closed_tickets``: archived tickets closed longer ago, with their escalations,
          audit log and outbox rows; each is remembered in ``pruned_tickets`` (the highest
          notification occurrence it used), so that its keys are never used again;
        * ``notifications``: final outbox rows (sent, dead, suppressed) finished longer ago,
          and schedule fires as old;
        * ``audit``: audit log entries recorded longer ago (an old event a run recorded
          recently, such as a new ticket's creation, is kept).
        """

        def work(tx: StateTx) -> dict[str, int]:
            deleted: Counter[str] = Counter()
            if closed_tickets is not None:
                old = select(tickets.c.ticket_id).where(tickets.c.archived.is_(True), tickets.c.closed_at < now - closed_tickets)
                ids = list(tx.conn.execute(old).scalars())
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    self._remember_pruned(tx, chunk, now)
                    for table in (escalations, transitions, outbox, tickets):
                        deleted[table.name] += tx.conn.execute(delete(table).where(table.c.ticket_id.in_(chunk))).rowcount
            if notifications is not None:
                cutoff = now - notifications
                final = and_(outbox.c.status.in_(("sent", "dead", "suppressed")), outbox.c.done_at < cutoff)
                deleted[outbox.name] += tx.conn.execute(delete(outbox).where(final)).rowcount
                deleted[schedule_fires.name] += tx.conn.execute(delete(schedule_fires).where(schedule_fires.c.fired_at < cutoff)).rowcount
            if audit is not None:
                deleted[transitions.name] += tx.conn.execute(delete(transitions).where(transitions.c.recorded_at < now - audit)).rowcount
            return {name: count for name, count in sorted(deleted.items()) if count}

        return self.transaction("prune old state", work)

    def _remember_pruned(self, tx: StateTx, ids: list[str], now: datetime) -> None:
        """Record (or update) the ``pruned_tickets`` row of each ticket about to be pruned."""
        used = select(escalations.c.ticket_id, func.max(escalations.c.occurrences)).where(escalations.c.ticket_id.in_(ids)).group_by(escalations.c.ticket_id)
        occurrences = dict(tx.conn.execute(used).all())
        earlier = tx.pruned_occurrences(ids)
        closed = dict(tx.conn.execute(select(tickets.c.ticket_id, tickets.c.closed_at).where(tickets.c.ticket_id.in_(ids))).all())
        for ticket_id in ids:
            values = {"occurrences": max(occurrences.get(ticket_id) or 0, earlier.get(ticket_id, 0)), "closed_at": closed.get(ticket_id), "pruned_at": now}
            stmt = self._insert(pruned_tickets).values(ticket_id=ticket_id, **values)
            tx.conn.execute(stmt.on_conflict_do_update(index_elements=["ticket_id"], set_=values))

    def close_missing(
        self,
        now: datetime,
        missing_for: timedelta,
        listed: Container[str],
        owned: Callable[[str], bool] = lambda _id: True,
        *,
        batch: int = 500,
        all_listed: bool = False,
    ) -> list[Transition]:
        """Keep count of the open tickets this run's tickets (``listed``) leave out, and
        close those of them ``owned`` (this worker's) that no run has listed since
        ``now - missing_for``, in batches; return the audit entries written.

        A ticket listed again is forgotten; one left out for the first time is remembered
        from ``now`` (``absent_tickets``).  Rows another worker holds are skipped (it is
        processing them: they are not missing).  ``all_listed`` says the caller knows
        every ticket :meth:`count_awaited` counted was listed, so the open ids are not read
        one by one: at a million tickets that read costs more than the rest of an
        unchanged ticket's run.
        """
        with self._tx("read the absent tickets", write=False) as conn:
            absent: dict[str, datetime] = {ticket_id: since for ticket_id, since in conn.execute(select(absent_tickets.c.ticket_id, absent_tickets.c.since))}
            unlisted = [] if all_listed else [
                ticket_id for ticket_id in conn.execute(select(tickets.c.ticket_id).where(_awaited(now))).scalars() if ticket_id not in listed and owned(ticket_id)
            ]  # fmt: skip
        back = [ticket_id for ticket_id in absent if ticket_id in listed]
        new = [ticket_id for ticket_id in unlisted if ticket_id not in absent]
        cutoff = now - missing_for
        due = sorted(ticket_id for ticket_id in unlisted if ticket_id in absent and absent[ticket_id] <= cutoff)

        def remember(tx: StateTx) -> None:
            for chunk in batched(back, batch):
                tx.conn.execute(delete(absent_tickets).where(absent_tickets.c.ticket_id.in_(chunk)))
            if new:
                tx.conn.execute(insert(absent_tickets), [{"ticket_id": ticket_id, "since": now} for ticket_id in new])

        if back or new:
            self.transaction("remember absent tickets", remember)
        written: list[Transition] = []
        for chunk in batched(due, batch):

            def work(tx: StateTx) -> list[Transition]:
                states = tx.lock_tickets(chunk)
                records = tx.escalations(states)
                closed, ended, audit = [], [], []
                for ticket_id, state in sorted(states.items()):
                    if state.archived or state.status is None or (state.last_seen_at is not None and state.last_seen_at >= now):
                        continue  # closed, or a run saw it since the listing
                    new_state, escs, entries = close_missing(state, list(records[ticket_id].values()), now, missing_for, absent[ticket_id])
                    closed.append(new_state)
                    ended.extend(escs)
                    audit.extend(entries)
                tx.save_tickets(closed)
                tx.save_escalations(ended)
                tx.record(audit)
                tx.conn.execute(delete(absent_tickets).where(absent_tickets.c.ticket_id.in_([state.ticket_id for state in closed])))
                return audit

            written.extend(self.transaction("close missing tickets", work))
        return written

    # -- silences (matching belongs to alerting) ------------------------------------------

    def add_silence(
        self,
        matchers: list[dict[str, Any]],
        starts_at: datetime,
        ends_at: datetime,
        *,
        now: datetime,
        comment: str = "",
        created_by: str = "",
        silence_id: str | None = None,
    ) -> Silence:
        """Store a silence; its id is generated unless given.  ``ends_at`` must be after ``starts_at``."""
        if ends_at <= starts_at:
            raise StateError(f"silence: ends_at {ends_at.isoformat()} is not after starts_at {starts_at.isoformat()}")
        silence = Silence(silence_id or uuid.uuid4().hex, list(matchers), starts_at, ends_at, comment, created_by, now)
        with self._tx("add a silence", write=True) as conn:
            conn.execute(silences.insert().values(**_values(silence)))
        return silence

    def active_silences(self, now: datetime) -> list[Silence]:
        """The silences in force at ``now``, by start time."""
        stmt = select(silences).where(silences.c.starts_at <= now, silences.c.ends_at > now).order_by(silences.c.starts_at, silences.c.id)
        with self._tx("read silences", write=False) as conn:
            return [_silence_from_row(row) for row in conn.execute(stmt)]

    def silences(self, *, include_expired: bool = False, now: datetime | None = None) -> list[Silence]:
        """Every silence (or, given ``now`` and not ``include_expired``, those not yet ended), by start time."""
        stmt = select(silences).order_by(silences.c.starts_at, silences.c.id)
        if not include_expired and now is not None:
            stmt = stmt.where(silences.c.ends_at > now)
        with self._tx("read silences", write=False) as conn:
            return [_silence_from_row(row) for row in conn.execute(stmt)]

    def expire_silence(self, silence_id: str, now: datetime) -> bool:
        """End a silence at ``now``; False when no such silence is still in force or pending."""
        with self._tx("expire a silence", write=True) as conn:
            ended = conn.execute(update(silences).where(silences.c.id == silence_id, silences.c.ends_at > now).values(ends_at=now)).rowcount
            # A silence expired before it began is cut to an empty span starting now.
            conn.execute(update(silences).where(silences.c.id == silence_id, silences.c.starts_at > now).values(starts_at=now))
        return ended == 1

    # -- reports (read only: spm_rules.reports reads tickets through these) ----------------

    def report_tickets(
        self,
        *,
        archived: bool,
        closed_since: datetime | None = None,
        after: str | None = None,
        ids: Sequence[str] | None = None,
        limit: int = 500,
    ) -> list[TicketState]:
        """One page of processed ticket rows in ticket-id order (code points), after ``after``.

        ``archived`` chooses closed tickets or open ones; ``closed_since`` keeps closed
        tickets a run recorded closed at or after that instant (the run's time, never
        before the ticket's own close); ``ids`` restricts the page to those tickets.  Rows
        reserved but never processed (no status) are left out.
        """
        ticket_id = self._sorted(tickets.c.ticket_id)
        stmt = select(tickets).where(tickets.c.archived.is_(archived), tickets.c.status.is_not(None))
        if closed_since is not None:
            stmt = stmt.where(tickets.c.closed_at >= closed_since)
        if after is not None:
            stmt = stmt.where(ticket_id > after)
        if ids is not None:
            stmt = stmt.where(tickets.c.ticket_id.in_(sorted(set(ids))))
        with self._tx("read tickets for a report", write=False) as conn:
            return [_ticket_from_row(row) for row in conn.execute(stmt.order_by(ticket_id).limit(limit))]

    def report_escalations(self, ids: Iterable[str]) -> dict[str, list[Escalation]]:
        """Every escalation record (open and closed) of the tickets ``ids``, without locking, in key order."""
        with self._tx("read escalations for a report", write=False) as conn:
            found = StateTx(self, conn).escalations(ids, lock=False)
        return {ticket_id: list(records.values()) for ticket_id, records in found.items()}

    def report_audit(self, ids: Iterable[str], kinds: Iterable[str]) -> dict[str, list[Transition]]:
        """The audit entries of ``kinds`` of the tickets ``ids``, oldest first per ticket."""
        wanted, chosen = sorted(set(ids)), sorted(set(kinds))
        found: dict[str, list[Transition]] = {ticket_id: [] for ticket_id in wanted}
        if not wanted or not chosen:
            return found
        stmt = select(transitions).where(transitions.c.ticket_id.in_(wanted), transitions.c.kind.in_(chosen)).order_by(transitions.c.id)
        with self._tx("read the audit log for a report", write=False) as conn:
            for row in conn.execute(stmt):
                found[row.ticket_id].append(_from_row(Transition, row))
        return found

    # -- views for people: open escalations and the outbox; dead letters re-queued ----------
    # (spm-rules escalations, outbox, outbox retry; reads only, except requeue_dead)

    def open_escalations_by_age(
        self, *, level: str | None = None, policy: str | None = None, provider: str | None = None, limit: int | None = None
    ) -> list[tuple[Escalation, TicketState]]:
        """Open escalations with their tickets, oldest first, optionally only of one level,
        policy or assigned provider (``TicketState.assigned_provider``)."""
        stmt = select(escalations, tickets).join(tickets, tickets.c.ticket_id == escalations.c.ticket_id).where(escalations.c.closed_at.is_(None))
        if level is not None:
            stmt = stmt.where(escalations.c.level == level)
        if policy is not None:
            stmt = stmt.where(escalations.c.policy == policy)
        if provider is not None:
            stmt = stmt.where(_provider() == provider)
        stmt = stmt.order_by(escalations.c.opened_at, escalations.c.ticket_id, escalations.c.policy, escalations.c.level).limit(limit)
        with self._tx("read open escalations", write=False) as conn:
            return [(_escalation_from_row(row), _ticket_from_row(row)) for row in conn.execute(stmt)]

    def outbox_by_status(self, statuses: Sequence[str], *, limit: int | None = None) -> list[OutboxEntry]:
        """Outbox rows in ``statuses``, by next attempt (then key)."""
        stmt = select(outbox).where(outbox.c.status.in_(sorted(set(statuses)))).order_by(outbox.c.next_attempt_at, outbox.c.key).limit(limit)
        with self._tx("read the outbox", write=False) as conn:
            return [_outbox_from_row(row) for row in conn.execute(stmt)]

    def outbox_statuses(self, keys: Iterable[str]) -> dict[str, str]:
        """The status of each outbox row among ``keys`` (keys with no row are left out)."""
        wanted = sorted(set(keys))
        with self._tx("read the outbox", write=False) as conn:
            return {key: status for key, status in conn.execute(select(outbox.c.key, outbox.c.status).where(outbox.c.key.in_(wanted)))} if wanted else {}

    def requeue_dead(self, keys: Sequence[str] | None, now: datetime, *, by: str = "") -> list[OutboxEntry]:
        """Put dead letters back in the queue: the rows of ``keys`` (None: every dead one)
        that are dead become pending, due at ``now``, with their attempts reset (the
        delivery policy's ``max_attempts`` starts over) and the receivers they reached
        kept (a retry skips them).  Each is recorded in the audit log (kind ``requeued``,
        with the attempts and last error it had).  Returns the rows as they were."""

        def work(tx: StateTx) -> list[OutboxEntry]:
            stmt = select(outbox).where(outbox.c.status == "dead").order_by(outbox.c.key).with_for_update()
            if keys is not None:
                stmt = stmt.where(outbox.c.key.in_(sorted(set(keys))))
            dead = [_outbox_from_row(row) for row in tx.conn.execute(stmt)]
            if not dead:
                return []
            tx.conn.execute(
                update(outbox)
                .where(outbox.c.key.in_([entry.key for entry in dead]), outbox.c.status == "dead")
                .values(status="pending", attempts=0, next_attempt_at=now, done_at=None)
            )
            who = f" by {by}" if by else ""
            tx.record(
                [
                    Transition(now, "requeued", e.ticket_id, e.policy, e.level, None, f"dead letter re-queued{who} after {e.attempts} attempts; last error: {e.last_error or '-'}", e.key)
                    for e in dead
                ]
            )
            return dead

        return self.transaction("re-queue dead letters", work)
