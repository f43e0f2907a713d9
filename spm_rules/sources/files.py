"""Tickets from files: JSON Lines, a JSON array, or CSV; a path or ``-`` for standard input.

Reading streams ticket by ticket.  A row that fails validation does not stop the batch:
it is recorded as a located problem (source, row, field) and the next row is read, so
one bad ticket never costs the others their evaluation.

Text is UTF-8 unless the reader is given another ``encoding`` (``gbk`` for what a Chinese
Excel saves); a UTF-8 byte order mark is skipped in every format.  Bytes that do not
decode cost only the row that holds them: it is rejected with the place of the first bad
byte and a hint at the encoding to use, and the other rows are read.  A CSV whose header
lacks the required columns is one problem for the file, naming what it expected and what
it found, rather than one ``Field required`` per row.

Given the ruleset, the reader also checks each ticket against it (:func:`ticket_warnings`)
and keeps what it finds in ``warnings``, located like the problems: the ticket is still
read (its other rules still run), but its SLA clock cannot run as the ruleset says.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, TextIO

from pydantic import ValidationError

from ..errors import TicketError, TicketProblem
from ..tickets import TICKET_FIELDS, Ticket, ticket_warnings
from .mapping import FieldMapping, MappingProblem

if TYPE_CHECKING:
    from ..ruleset.schema import Ruleset

__all__ = ["TicketReader", "RawRow", "read_tickets", "REQUIRED_COLUMNS", "check_encoding"]

_HISTORY_FIELDS = ("stage_history", "status_history", "tier_history")
_INT = re.compile(r"-?(0|[1-9]\d*)")
_FLOAT = re.compile(r"-?(0|[1-9]\d*)\.\d+")
#: The columns a tickets CSV must have: the ticket fields without a default.
REQUIRED_COLUMNS = tuple(name for name, field in Ticket.model_fields.items() if field.is_required())
# Bytes that did not decode are read as lone surrogates (errors="surrogateescape"): U+DC80..U+DCFF.
_UNDECODED = re.compile("[\udc80-\udcff]")


def check_encoding(name: str) -> str:
    """The codec's canonical name; ValueError with examples when Python has no such codec."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ValueError(f"unknown encoding {name!r}: use a Python codec name such as utf-8, gbk, gb18030, big5, shift_jis, cp1252") from None


def _label(codec: str) -> str:
    return "UTF-8" if codec in ("utf-8", "utf-8-sig") else codec


def _undecoded(text: str, codec: str, where: str) -> tuple[str, str] | None:
    """(message, hint) for the first byte of ``text`` that did not decode in ``codec``; None if all did."""
    found = _UNDECODED.search(text)
    if found is None:
        return None
    plain = "utf-8" if codec == "utf-8-sig" else codec  # utf-8-sig would count a BOM it never read
    offset = len(text[: found.start()].encode(plain, "surrogateescape"))
    message = f"not valid {_label(codec)} text at byte {offset} of {where} (0x{ord(found.group()) - 0xDC00:02x})"
    raw = text.encode(plain, "surrogateescape")
    try:
        raw.decode("gbk")
        hint = "the bytes read as GBK, what a Chinese Excel saves: use --encoding gbk"
    except UnicodeDecodeError:
        hint = "give the file's encoding with --encoding NAME (e.g. gbk, gb18030, big5, shift_jis, cp1252)"
    return message, hint


def _strings(value: Any) -> Iterator[tuple[str, str]]:
    """(dotted field, text) of every key and string inside a parsed JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key), str(key)
            yield from ((f"{key}.{field}" if field else str(key), text) for field, text in _strings(item))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from ((f"{index}.{field}" if field else str(index), text) for field, text in _strings(item))
    elif isinstance(value, str):
        yield "", value


@dataclass(frozen=True)
class RawRow:
    """One row of a source before validation: its place, its parsed data, and its text as
    read (a JSON Lines row; None for a JSON array item or a CSV row)."""

    row: int
    data: Any
    text: str | None

    @property
    def ticket_id(self) -> str | None:
        """The row's ``id`` if it is text (validation says what is wrong otherwise)."""
        found = self.data.get("id") if isinstance(self.data, dict) else None
        return found if isinstance(found, str) else None

    def content(self) -> str:
        """The row's text, or its data as canonical JSON when it has no text of its own."""
        if self.text is not None:
            return self.text.rstrip("\r\n")
        return json.dumps(self.data, sort_keys=True, ensure_ascii=False, default=str)


class TicketReader:
    """Iterate the tickets of one source; the rows that failed collect in ``problems``, and,
    when a ``ruleset`` is given, the tickets it cannot measure in ``warnings``.

    The format is taken from the file name (``.jsonl``/``.ndjson``, ``.json``, ``.csv``)
    or, for standard input and other names, sniffed from the first character.  Each row
    goes through ``mapping`` (else the ruleset's ``mapping:``) before it is validated.
    Naive times are read in ``default_timezone``, or else the mapping's ``timezone``, or
    else the ruleset's ``ticket_timezone``.
    """

    def __init__(
        self,
        path: str | Path,
        default_timezone: str | None = None,
        fmt: str | None = None,
        *,
        encoding: str = "utf-8",
        ruleset: "Ruleset | None" = None,
        mapping: FieldMapping | None = None,
    ) -> None:
        self.path = str(path)
        self.mapping = mapping or (ruleset.mapping if ruleset is not None else None)
        zones = (default_timezone, self.mapping.timezone if self.mapping else None, ruleset.ticket_timezone if ruleset is not None else None)
        self.default_timezone = next((zone for zone in zones if zone), None)
        self.format = fmt
        codec = check_encoding(encoding)
        self.encoding = "utf-8-sig" if codec == "utf-8" else codec
        self.ruleset = ruleset
        self.problems: list[TicketProblem] = []
        self.warnings: list[TicketProblem] = []
        self.count = 0

    def __iter__(self) -> Iterator[Ticket]:
        for raw in self.raw_rows():
            ticket = self.validate(raw)
            if ticket is not None:
                yield ticket

    def raw_rows(self) -> Iterator[RawRow]:
        """The rows as read, before validation (which :meth:`validate` does), so that a
        stateful run can tell an unchanged row by its text without validating it."""
        stream, close = self._open()
        row = 0
        try:
            for row, data, text in self._rows(stream):
                yield RawRow(row, data, text)
        except UnicodeDecodeError as exc:  # a codec that cannot set bad bytes aside (UTF-16, UTF-32)
            self.problems.append(
                TicketProblem(self.path, row + 1, "encoding", f"not valid {_label(self.encoding)} text ({exc.reason}); the rest of the file was not read")
            )
        finally:
            if close:
                stream.close()
            elif isinstance(stream, io.TextIOWrapper):
                stream.detach()  # standard input's buffer stays open

    def validate(self, raw: RawRow) -> Ticket | None:
        """The row's ticket, or None when it is rejected (the problems are recorded)."""
        ticket = self._validate(raw.row, raw.data)
        if ticket is not None:
            self.count += 1
        return ticket

    def _open(self) -> tuple[TextIO, bool]:
        if self.path == "-":
            binary = getattr(sys.stdin, "buffer", None)
            if binary is None:  # already text (an embedding application replaced stdin)
                return sys.stdin, False
            return io.TextIOWrapper(binary, encoding=self.encoding, errors="surrogateescape", newline=""), False
        try:
            return open(self.path, encoding=self.encoding, errors="surrogateescape", newline=""), True
        except OSError as exc:
            raise TicketError([TicketProblem(self.path, 0, "file", f"cannot read tickets: {exc.strerror or exc}")]) from None

    def _undecoded(self, row: int, field: str, text: str, where: str, ticket_id: str | None = None) -> bool:
        """Record a problem and say True when ``text`` holds bytes that did not decode."""
        found = _undecoded(text, self.encoding, where)
        if found is not None:
            self.problems.append(TicketProblem(self.path, row, field, found[0], ticket_id, found[1]))
        return found is not None

    def _format(self, stream: TextIO) -> tuple[str, TextIO]:
        if self.format:
            return self.format, stream
        suffix = Path(self.path).suffix.lower()
        if suffix in (".jsonl", ".ndjson"):
            return "jsonl", stream
        if suffix == ".csv":
            return "csv", stream
        head = stream.read(4096)
        rest = io.StringIO(head + stream.read()) if head else io.StringIO("")
        first = head.lstrip()[:1]
        if suffix == ".json" or first == "[":
            return ("json" if first == "[" else "jsonl"), rest
        return ("jsonl" if first == "{" else "csv"), rest

    def _rows(self, stream: TextIO) -> Iterator[tuple[int, Any, str | None]]:
        fmt, stream = self._format(stream)
        if fmt == "csv":
            yield from ((row, data, None) for row, data in self._csv_rows(stream))
        elif fmt == "json":
            try:
                data = json.load(stream)
            except json.JSONDecodeError as exc:
                self.problems.append(TicketProblem(self.path, exc.lineno, "json", f"malformed JSON: {exc.msg}"))
                return
            if not isinstance(data, list):
                self.problems.append(TicketProblem(self.path, 1, "json", "a JSON tickets file is an array of objects"))
                return
            for index, item in enumerate(data, 1):
                if not any(self._undecoded(index, field or "ticket", text, "the value") for field, text in _strings(item)):
                    yield index, item, None
        else:
            for line_number, line in enumerate(stream, 1):
                if not line.strip() or self._undecoded(line_number, "encoding", line, "the row"):
                    continue
                try:
                    yield line_number, json.loads(line), line
                except json.JSONDecodeError as exc:
                    self.problems.append(TicketProblem(self.path, line_number, "json", f"malformed JSON: {exc.msg} at column {exc.colno}"))

    def _csv_rows(self, stream: TextIO) -> Iterator[tuple[int, Any]]:
        reader = csv.DictReader(stream)
        if reader.fieldnames is None or not self._header_usable(list(reader.fieldnames)):
            return
        for record in reader:
            row = reader.line_num
            data: dict[str, Any] = {}
            ticket_id = record.get("id") or None
            readable_id = ticket_id if ticket_id is None or not _UNDECODED.search(ticket_id) else None
            if any(isinstance(cell, str) and self._undecoded(row, str(column), cell, "the cell", readable_id) for column, cell in record.items()):
                continue
            try:
                for column, cell in record.items():
                    if column is None or cell is None or cell == "":
                        continue
                    if column in _HISTORY_FIELDS:
                        _set(data, column, json.loads(cell))
                    else:
                        _set(data, column, cell if column in TICKET_FIELDS else _typed(cell))
            except json.JSONDecodeError as exc:
                self.problems.append(TicketProblem(self.path, row, column or "?", f"history cell is not a JSON array: {exc.msg}"))
                continue
            yield row, data

    def _header_usable(self, columns: list[str]) -> bool:
        """Whether rows can be read under this header; if not, one problem for the file says why."""
        if self._undecoded(1, "columns", ",".join(columns), "the header"):
            return False
        missing = [self._column(name) for name in REQUIRED_COLUMNS if self._column(name) not in columns]
        if not missing:
            return True
        lowered = {column.lower(): column for column in columns}
        guesses = []
        for name in missing:
            close = difflib.get_close_matches(name, list(lowered), n=1, cutoff=0.7)
            if close:
                guesses.append(f"{lowered[close[0]]!r} for {name}")
        hint = f"did you mean {', '.join(guesses)}?" if guesses else f"a tickets CSV starts with a header naming {', '.join(REQUIRED_COLUMNS)} (and any other fields)"
        message = f"the header lacks the required column(s) {', '.join(missing)}; it has: {', '.join(columns)}"
        self.problems.append(TicketProblem(self.path, 1, "columns", message, hint=hint))
        return False

    def _validate(self, row: int, data: Any) -> Ticket | None:
        if not isinstance(data, dict):
            self.problems.append(TicketProblem(self.path, row, "ticket", f"a ticket is an object, not {type(data).__name__}"))
            return None
        context = {"default_timezone": self.default_timezone} if self.default_timezone else None
        try:
            data = self.mapping.apply(data) if self.mapping is not None else data
        except MappingProblem as exc:
            ticket_id = data.get(self._column("id"))
            self.problems.append(TicketProblem(self.path, row, exc.column, exc.message, str(ticket_id) if ticket_id is not None else None, exc.hint))
            return None
        try:
            ticket = Ticket.model_validate(data, context=context)
        except ValidationError as exc:
            ticket_id = data.get("id")
            for error in exc.errors():
                field = self._column(".".join(str(part) for part in error["loc"])) or "ticket"
                message = error["msg"].removeprefix("Value error, ")
                self.problems.append(TicketProblem(self.path, row, field, message, str(ticket_id) if ticket_id is not None else None))
            return None
        if self.ruleset is not None:
            for warning in ticket_warnings(ticket, self.ruleset):
                self.warnings.append(TicketProblem(self.path, row, warning.field, warning.message, ticket.id, warning.hint))
        return ticket


    def _column(self, field: str) -> str:
        """The source's name of a ticket field (its column under the mapping)."""
        return self.mapping.column_of(field) if self.mapping is not None and field else field


def _set(data: dict[str, Any], column: str, value: Any) -> None:
    """Put a CSV cell into the ticket, nesting dotted columns (``customer_info.vip``)."""
    parts = column.split(".")
    target = data
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def _typed(cell: str) -> Any:
    """An extra CSV field as the number or boolean it plainly is; text otherwise (``007`` stays text)."""
    if _INT.fullmatch(cell):
        return int(cell)
    if _FLOAT.fullmatch(cell):
        return float(cell)
    if cell in ("true", "false"):
        return cell == "true"
    return cell


def read_tickets(paths: Iterable[str | Path], default_timezone: str | None = None) -> tuple[list[Ticket], list[TicketProblem]]:
    """Read every ticket of the given sources into a list, with the problems found (convenience for small inputs)."""
    tickets: list[Ticket] = []
    problems: list[TicketProblem] = []
    for path in paths:
        reader = TicketReader(path, default_timezone)
        tickets.extend(reader)
        problems.extend(reader.problems)
    return tickets, problems
