"""Tickets from a SQL database (SQLAlchemy Core): the ticket system's own tables, read in place.

``--tickets 'postgresql://…'`` or ``sqlite:///…`` with a query (the ruleset's ``source:``
section, or ``--query``)::

    source:
      query: |
        SELECT * FROM tickets WHERE closed_at IS NULL OR closed_at >= :since
      events:                              # optional: histories from an events table
        query: |
          SELECT ticket_id, kind, value, at FROM ticket_events
          WHERE ticket_id IN :ids ORDER BY ticket_id, at, id
      stage_columns:                       # optional: one timestamp column per stage
        request: requested_at
        repair: repair_started_at
      batch_size: 1000

Rows stream through a server-side cursor (``stream_results``/``yield_per``), a batch at a
time, so a ticket table of any size is read in bounded memory.  Each row goes through the
ruleset's ``mapping:`` (:mod:`spm_rules.sources.mapping`) and is validated like a row of a
file: a bad row is a problem located by source, row and column, and the next row is read.

Histories come from one of three places:

* **an events table** joined by ticket id: the ``events.query`` takes the batch's ticket
  ids as ``:ids`` and returns ``ticket_id, kind, value, at`` (alias the columns in SQL),
  ``kind`` being ``stage``, ``status`` or ``tier``; the mapping's value map of that field
  translates ``value`` too;
* **per-stage timestamp columns** (``stage_columns``), in the order the section lists them;
* **a JSON column** mapped onto ``stage_history``/``status_history``/``tier_history``
  (JSON text, or a ``json``/``jsonb`` value).

Only open tickets and those closed since the last run need to be read: the query may use
``:since``, bound to the instant of the state's last run (the epoch before the first
one), in the source's own terms: with a ``mapping.timezone`` as a naive time in that zone
(as the source writes its times), else as a timezone-aware UTC time; on SQLite as text
(``2026-11-25 14:00:00``, with ``+00:00`` in UTC).  The database URL is shown with its password masked, in
problems and errors alike.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence, TextIO
from zoneinfo import ZoneInfo

from ..errors import TicketError, TicketProblem
from ..state.store import _normalize as driver_url
from ..state.store import mask_secrets, mask_url
from .files import TicketReader
from .mapping import FieldMapping, MappingProblem
from .spec import SourceSpec

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from ..ruleset.schema import Ruleset

__all__ = ["SqlTicketReader", "EPOCH", "EVENT_KINDS"]

#: ``:since`` before the first run: every closed ticket is read once.
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: What an events row may change, and the history (entry keys) it goes to.
EVENT_KINDS = {"stage": ("stage_history", "entered_at"), "status": ("status_history", "at"), "tier": ("tier_history", "at")}
_HISTORIES = tuple(history for history, _ in EVENT_KINDS.values())


class SqlTicketReader(TicketReader):
    """Iterate the tickets a query returns; problems and warnings collect as with files.

    ``since`` binds ``:since`` (None: the epoch).  ``query`` overrides the ruleset's
    ``source.query``.  The connection pool is disposed of when iteration ends.
    """

    def __init__(
        self,
        url: str,
        *,
        ruleset: "Ruleset | None" = None,
        query: str | None = None,
        spec: SourceSpec | None = None,
        mapping: FieldMapping | None = None,
        since: datetime | None = None,
    ) -> None:
        super().__init__(mask_url(url), ruleset=ruleset, mapping=mapping)
        self.url = url
        self.spec = spec or (ruleset.ticket_source if ruleset is not None else None) or SourceSpec()
        self.query = query or self.spec.query
        if not self.query:
            raise TicketError([TicketProblem(self.path, 0, "query", "a database source needs a query: the ruleset's source.query, or --query")])
        self.since = since or EPOCH

    def _open(self) -> TextIO:
        return io.StringIO()  # rows come from the database (_rows), not from a stream

    def _last_rows(self, stream: TextIO) -> dict[str, int]:
        """No pre-pass over a database: its ticket ids are the table's keys, one row each
        (a query that repeats an id within a batch still counts its last row)."""
        return {}

    def _rows(self, _stream: TextIO) -> Iterator[tuple[int, Any, str | None]]:
        from sqlalchemy import bindparam, create_engine, text
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

        try:
            engine = create_engine(driver_url(self.url))
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise self._failure("url", f"cannot open the tickets database: {exc}") from None
        row = 0
        try:
            with engine.connect() as conn:
                since = self._since(engine.dialect.name)
                statement = text(self.query)
                params = {"since": since} if "since" in statement.compile().params else {}
                result = conn.execution_options(stream_results=True, yield_per=self.spec.batch_size).execute(statement, params)
                events = text(self.spec.events.query).bindparams(bindparam("ids", expanding=True)) if self.spec.events else None
                for partition in result.mappings().partitions():
                    batch = [(row + index, dict(record)) for index, record in enumerate(partition, 1)]
                    row += len(partition)
                    histories = self._events(engine, events, batch) if events is not None else {}
                    for number, record in batch:
                        data = self._with_histories(number, record, histories)
                        if data is not None:
                            yield number, data, None
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            where = f" (after row {row})" if row else ""
            raise self._failure("query", f"cannot read tickets{where}: {reason[0] if reason else type(exc).__name__}") from None
        finally:
            engine.dispose()

    def _since(self, dialect: str) -> Any:
        """``:since`` in the source's own terms: a naive time in the mapping's timezone when
        it declares one (as the source writes its times), else aware UTC; text on SQLite."""
        zone = self.mapping.timezone if self.mapping is not None else None
        since = self.since.astimezone(ZoneInfo(zone)).replace(tzinfo=None) if zone else self.since.astimezone(timezone.utc)
        return since.isoformat(sep=" ") if dialect == "sqlite" else since

    def _failure(self, field: str, message: str) -> TicketError:
        return TicketError([TicketProblem(self.path, 0, field, mask_secrets(message))])

    def _events(self, engine: "Engine", events: Any, batch: Sequence[tuple[int, dict[str, Any]]]) -> dict[str, list[Mapping[str, Any]]]:
        """The events of the batch's tickets, by ticket id (as text), read on a second
        connection while the first holds the server-side cursor."""
        id_column = self.mapping.column_of("id") if self.mapping is not None else "id"
        ids = sorted({record[id_column] for _number, record in batch if record.get(id_column) is not None}, key=str)
        found: dict[str, list[Mapping[str, Any]]] = {}
        if not ids:
            return found
        conn: Connection
        with engine.connect() as conn:
            for event in conn.execute(events, {"ids": ids}).mappings():
                found.setdefault(str(event["ticket_id"]), []).append(dict(event))
        return found

    def _with_histories(self, number: int, record: dict[str, Any], histories: Mapping[str, list[Mapping[str, Any]]]) -> dict[str, Any] | None:
        """The row with its histories put together (events, stage columns, JSON text); a
        located problem and None when one cannot be read."""
        mapping = self.mapping
        column = "?"
        try:
            for stage, column in self.spec.stage_columns.items():
                entered = record.pop(column, None)
                if entered is not None:
                    record.setdefault("stage_history", []).append({"stage": stage, "entered_at": entered})
            for history in _HISTORIES:
                column = mapping.column_of(history) if mapping is not None else history
                if isinstance(record.get(column), str):
                    record[column] = json.loads(record[column])
            id_column = mapping.column_of("id") if mapping is not None else "id"
            for event in histories.get(str(record.get(id_column)), ()):
                column = "events.kind"
                kind = str(event["kind"])
                if kind not in EVENT_KINDS:
                    raise MappingProblem(column, f"event kind {kind!r} is not one of {', '.join(EVENT_KINDS)}")
                history, at_key = EVENT_KINDS[kind]
                column = f"events.{kind}"
                value = mapping.fields[kind].translate(event["value"]) if mapping is not None and kind in mapping.fields else event["value"]
                record.setdefault(mapping.column_of(history) if mapping is not None else history, []).append({kind: value, at_key: event["at"]})
        except json.JSONDecodeError as exc:
            self.problems.append(TicketProblem(self.path, number, column, f"history column is not a JSON array: {exc.msg}", _id(record, mapping)))
            return None
        except MappingProblem as exc:
            self.problems.append(TicketProblem(self.path, number, exc.column, exc.message, _id(record, mapping), exc.hint))
            return None
        return record


def _id(record: Mapping[str, Any], mapping: FieldMapping | None) -> str | None:
    value = record.get(mapping.column_of("id") if mapping is not None else "id")
    return str(value) if value is not None else None
