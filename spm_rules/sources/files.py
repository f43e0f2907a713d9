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

Hostile rows cost only themselves too: a row longer than :data:`MAX_ROW_CHARS` (skipped
without being held in memory, in JSON Lines and CSV), JSON nested deeper than
:data:`MAX_DEPTH`, ``NaN``/``Infinity`` or a number too large for a float, text holding a
NUL character (no state database stores it), a CSV record the csv module cannot parse,
and a time outside the years tickets may have are each rejected with their row and field.

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
import math
import re
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, NamedTuple, TextIO, TypeVar

from pydantic import ValidationError

from ..errors import TicketError, TicketProblem
from ..tickets import TICKET_FIELDS, Ticket, ticket_warnings
from .mapping import FieldMapping, MappingProblem

if TYPE_CHECKING:
    from ..ruleset.schema import Ruleset

__all__ = ["TicketReader", "RawRow", "read_tickets", "REQUIRED_COLUMNS", "check_encoding", "MAX_ROW_CHARS", "MAX_DEPTH"]

_Item = TypeVar("_Item")
#: The longest row read, in characters (a ticket with a long history is a few kilobytes).
MAX_ROW_CHARS = 1024 * 1024
#: The deepest nesting of arrays and objects in a ticket (its histories are three deep).
MAX_DEPTH = 64

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
    try:
        text.encode("utf-8")  # far faster than the search below, and fails on every undecoded byte
        return None
    except UnicodeEncodeError:
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


class _Refused(ValueError):
    """A row that parsed as JSON but is refused: ``field`` (dotted) and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class _NonFinite(float):
    """``NaN``, ``Infinity`` or a number too large for a float, as parsed, to be refused with its field."""

    def __new__(cls, text: str) -> "_NonFinite":
        value = super().__new__(cls, "nan")
        value.text = text
        _parsed.non_finite = True
        return value

    text: str


#: Whether the text this thread parsed last held a non-finite number (set by the parse hooks).
_parsed = threading.local()


def _number(text: str) -> float:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)


def _decode(text: str) -> Any:
    _parsed.non_finite = False
    return _DECODER.decode(text)


def _raw_decode(text: str, start: int) -> tuple[Any, int]:
    _parsed.non_finite = False
    return _DECODER.raw_decode(text, start)


#: Bits of the duplicate pass's Bloom filter (8 MiB): few false candidates up to ten million rows.
_BLOOM_BITS = 1 << 26
#: What :meth:`TicketReader._read` returns for a row it could not read (its problem recorded).
_UNREADABLE = object()
_NUL = "holds a NUL character (U+0000), which no state database stores"
_DECODER = json.JSONDecoder(parse_float=_number, parse_constant=_NonFinite)
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
#: A JSON Lines row whose object opens with ``"id"`` as plain text (no escape sequences).
_LEADING_ID = re.compile(r'\s*\{\s*"id"\s*:\s*"([^"\\]+)"\s*[,}]')


def _values(value: Any, field: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted field, value) of every key and leaf of a parsed JSON value, without recursion."""
    stack = [(field, value)]
    while stack:
        field, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                name = f"{field}.{key}" if field else str(key)
                yield name, key
                stack.append((name, item))
        elif isinstance(value, list):
            stack.extend((f"{field}.{index}" if field else str(index), item) for index, item in enumerate(value))
        else:
            yield field, value


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (without recursion)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return deepest


def _checked(value: Any, text: str) -> Any:
    """``value`` (parsed from ``text``) if spm-rules can keep it; _Refused naming the field otherwise."""
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise _Refused("json", f"nested deeper than {MAX_DEPTH} levels")
    if not getattr(_parsed, "non_finite", True) and "\\u0000" not in text:  # the walk below costs more than the parse
        return value
    for field, item in _values(value):
        if isinstance(item, _NonFinite):
            raise _Refused(field or "ticket", f"{item.text} is not a number a ticket may hold (NaN and infinite values are refused)")
        if isinstance(item, str) and "\x00" in item:
            raise _Refused(field or "ticket", _NUL)
    return value


def _loads(text: str) -> Any:
    """One JSON row, checked (see :func:`_checked`); JSONDecodeError or _Refused when it cannot be read."""
    try:
        value = _decode(text)
    except RecursionError:
        raise _Refused("json", f"nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # an integer of more digits than Python converts
        raise _Refused("json", f"a number cannot be read: {exc}") from None
    return _checked(value, text)


def _value_end(text: str, start: int) -> int | None:
    """The end of the JSON array or object starting at ``start`` (brackets matched outside strings), None if unclosed."""
    depth = 0
    for token in _JSON_TOKENS.finditer(text, start):
        mark = token.group()
        if mark in "[{":
            depth += 1
        elif mark in "]}":
            depth -= 1
            if depth == 0:
                return token.end()
    return None


class _BoundedLines:
    """The lines of a stream, each read no further than :data:`MAX_ROW_CHARS`: a longer
    one raises _Refused (its rest skipped, never held in memory), and the next call goes on."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.number = 0

    def __iter__(self) -> "_BoundedLines":
        return self

    def __next__(self) -> str:
        line = self.stream.readline(MAX_ROW_CHARS + 1)
        if not line:
            raise StopIteration
        self.number += 1
        if _overlong(line, self.stream.readline):
            raise _Refused("row", _OVERLONG)
        return line


_OVERLONG = f"longer than {MAX_ROW_CHARS:,} characters"


def _overlong(line: str, readline: Callable[[int], str]) -> bool:
    """Whether ``line``, read with a limit of one more than :data:`MAX_ROW_CHARS`, is longer
    than that; its rest is then read past without being held in memory."""
    if len(line) <= MAX_ROW_CHARS or line.endswith(("\n", "\r")):
        return False
    while (rest := readline(MAX_ROW_CHARS)) and not rest.endswith(("\n", "\r")):
        pass
    return True


class _Unread(NamedTuple):
    """A JSON Lines row not parsed yet, in place of its data: the id its text opens with
    (see :func:`_leading_id`).  Parsing costs more than all else a run does with an
    unchanged row, which its digest and this id identify; :meth:`TicketReader.resolve`
    parses it when it is needed after all."""

    ticket_id: str


def _leading_id(text: str) -> str | None:
    """The id of a JSON Lines row read from its text alone, when the object's first key is
    ``id``, a string without escapes or undecoded bytes, and no other ``"id"`` is in the
    row (a repeated key would win when parsed, a nested one could be taken for it).

    For a well-formed row this is what parsing it gives; a malformed row may still have
    one, so it is only trusted together with the row's digest (an unchanged row) or a
    parse (a row that supersedes another)."""
    found = _LEADING_ID.match(text)
    if found is None or text.count('"id"') != 1:
        return None
    ticket_id = found.group(1)
    if not ticket_id.isascii():
        try:
            ticket_id.encode("utf-8")
        except UnicodeEncodeError:
            return None
    return ticket_id


def _row_id(data: Any) -> str | None:
    """The id of a parsed row as the ticket model reads it (an integer as text), None without one."""
    if isinstance(data, _Unread):
        return data.ticket_id
    value = data.get("id") if isinstance(data, dict) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None


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


class RawRow(NamedTuple):
    """One row of a source before validation: its place, its parsed data (or, for a JSON
    Lines row not parsed yet, an ``_Unread`` with the id its text opens with), and its
    text as read (a JSON Lines row; None for a JSON array item or a CSV row)."""

    row: int
    data: Any
    text: str | None

    @property
    def ticket_id(self) -> str | None:
        """The row's ``id`` if it is text (validation says what is wrong otherwise; an
        unread row's id is the one its text opens with)."""
        if isinstance(self.data, _Unread):
            return self.data.ticket_id
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
        self._checks = True

    def __iter__(self) -> Iterator[Ticket]:
        for raw in self.raw_rows():
            ticket = self.validate(raw)
            if ticket is not None:
                yield ticket

    def raw_rows(self) -> Iterator[RawRow]:
        """The rows as read, before validation (which :meth:`validate` does), so that a
        stateful run can tell an unchanged row by its text without validating it.

        A ticket id on several rows counts once, by its last row: the earlier rows are
        not yielded, each named in ``warnings`` (field ``id``)."""
        stream = self._open()
        row = 0
        try:
            latest = self._last_rows(stream)
            stream.seek(0)
            for row, data, text in self._rows(stream):
                ticket_id = _row_id(data)
                if isinstance(data, _Unread) and ticket_id in latest:  # a duplicate is told by its parsed id
                    raw = self.resolve(RawRow(row, data, text))
                    if raw is None:
                        continue
                    data, ticket_id = raw.data, _row_id(raw.data)
                last = latest.get(ticket_id) if ticket_id is not None else None
                if last is not None and last != row:
                    message = f"superseded by row {last}: a ticket listed more than once counts once, by its last row"
                    self.warnings.append(TicketProblem(self.path, row, "id", message, ticket_id))
                    continue
                yield RawRow(row, data, text)
        except UnicodeDecodeError as exc:  # a codec that cannot set bad bytes aside (UTF-16, UTF-32)
            self.problems.append(
                TicketProblem(self.path, row + 1, "encoding", f"not valid {_label(self.encoding)} text ({exc.reason}); the rest of the file was not read")
            )
        finally:
            stream.close()

    def resolve(self, raw: RawRow) -> RawRow | None:
        """The row with its data parsed (an unread row is parsed now, as the main pass
        would have: its problems are recorded, and None returned when it cannot be read)."""
        if not isinstance(raw.data, _Unread):
            return raw
        assert raw.text is not None
        data = self._read(raw.row, raw.text)
        return None if data is _UNREADABLE else RawRow(raw.row, data, raw.text)

    def validate(self, raw: RawRow) -> Ticket | None:
        """The row's ticket, or None when it is rejected (the problems are recorded)."""
        resolved = self.resolve(raw)
        if resolved is None:
            return None
        ticket = self._validate(resolved.row, resolved.data)
        if ticket is not None:
            self.count += 1
        return ticket

    def _open(self) -> TextIO:
        """The source as seekable text: standard input is spooled to a temporary file, since
        the duplicate rule reads the input more than once."""
        if self.path == "-":
            binary = getattr(sys.stdin, "buffer", None)
            if binary is None:  # already text (an embedding application replaced stdin)
                return io.StringIO(sys.stdin.read(), newline="")
            spool = tempfile.TemporaryFile()
            shutil.copyfileobj(binary, spool)
            spool.seek(0)
            return io.TextIOWrapper(spool, encoding=self.encoding, errors="surrogateescape", newline="")
        try:
            return open(self.path, encoding=self.encoding, errors="surrogateescape", newline="")
        except OSError as exc:
            raise TicketError([TicketProblem(self.path, 0, "file", f"cannot read tickets: {exc.strerror or exc}")]) from None

    def _last_rows(self, stream: TextIO) -> dict[str, int]:
        """The last row of each ticket id more than one row has, from two quiet passes over
        ``stream`` (their problems are the main pass's to report).

        The first pass keeps a fixed-size Bloom filter of the ids, not the ids: the rows
        whose id it may have seen are the only candidates, and the second pass counts
        those exactly, so memory stays flat on a million tickets and no id is mistaken.
        A JSON Lines row that opens with its id is parsed only when it is a candidate."""
        bits = bytearray(_BLOOM_BITS // 8)
        candidates: set[str] = set()
        try:
            for _row, data, _text in self._scout()._rows(stream):
                ticket_id = _row_id(data)  # an unread row's leading id may be wrong: then a false candidate, no more
                if ticket_id is None:
                    continue
                digest = hash(ticket_id)  # salted per process, which is all one read needs
                seen = True
                for shift in (0, 32):
                    position = (digest >> shift) % _BLOOM_BITS
                    if not bits[position >> 3] & 1 << (position & 7):
                        seen = False
                        bits[position >> 3] |= 1 << (position & 7)
                if seen:
                    candidates.add(ticket_id)
            if not candidates:
                return {}
            stream.seek(0)
            rows: dict[str, list[int]] = {}
            scout = self._scout()
            for row, data, text in scout._rows(stream):
                ticket_id = _row_id(data)
                if isinstance(data, _Unread) and ticket_id in candidates:
                    assert text is not None
                    ticket_id = _row_id(scout._read(row, text))
                if ticket_id in candidates:
                    rows.setdefault(ticket_id, []).append(row)
        except UnicodeDecodeError:  # the main pass reports it, at its row
            return {}
        return {ticket_id: found[-1] for ticket_id, found in rows.items() if len(found) > 1}

    def _scout(self) -> "TicketReader":
        """A reader of the same source for the duplicate passes: rows parsed without the
        checks of :func:`_checked` (a refused row still has its id, and supersedes), and
        problems nobody reports."""
        scout = TicketReader(self.path, fmt=self.format, encoding=self.encoding)
        scout._checks = False
        return scout

    def _parse(self, text: str) -> Any:
        """One JSON text: checked (:func:`_loads`), or for a scout only parsed."""
        if self._checks:
            return _loads(text)
        try:
            return _DECODER.decode(text)
        except (RecursionError, ValueError):
            raise _Refused("json", "cannot be read") from None

    def _undecoded(self, row: int, field: str, text: str, where: str, ticket_id: str | None = None) -> bool:
        """Record a problem and say True when ``text`` holds bytes that did not decode."""
        found = _undecoded(text, self.encoding, where)
        if found is not None:
            self.problems.append(TicketProblem(self.path, row, field, found[0], ticket_id, found[1]))
        return found is not None

    def _format(self, stream: TextIO) -> str:
        """The format given, else by the file name, else sniffed from the first character (the stream is rewound)."""
        if self.format:
            return self.format
        suffix = Path(self.path).suffix.lower()
        if suffix in (".jsonl", ".ndjson"):
            return "jsonl"
        if suffix == ".csv":
            return "csv"
        first = stream.read(4096).lstrip()[:1]
        stream.seek(0)
        if suffix == ".json" or first == "[":
            return "json" if first == "[" else "jsonl"
        return "jsonl" if first == "{" else "csv"

    def _rows(self, stream: TextIO) -> Iterator[tuple[int, Any, str | None]]:
        """(row, parsed data, the row's text for JSON Lines, else None) of each row read."""
        fmt = self._format(stream)
        if fmt == "csv":
            yield from ((row, data, None) for row, data in self._csv_rows(stream))
        elif fmt == "json":
            yield from ((row, data, None) for row, data in self._json_rows(stream.read()))
        else:
            yield from self._jsonl_rows(stream)

    def _jsonl_rows(self, stream: TextIO) -> Iterator[tuple[int, Any, str]]:
        """The JSON Lines rows, each read no further than :data:`MAX_ROW_CHARS` (as
        :class:`_BoundedLines` reads): a row that opens with its id is left unread.  One
        loop, since a steady run reads a million rows twice and keeps few of them."""
        readline = stream.readline
        number = 0
        while line := readline(MAX_ROW_CHARS + 1):
            number += 1
            if _overlong(line, readline):
                self.problems.append(TicketProblem(self.path, number, "row", _OVERLONG))
                continue
            ticket_id = _leading_id(line)
            if ticket_id is not None:
                yield number, _Unread(ticket_id), line  # parsed when needed (resolve)
                continue
            if not line.strip():
                continue
            data = self._read(number, line)
            if data is not _UNREADABLE:
                yield number, data, line

    def _read(self, row: int, line: str) -> Any:
        """One JSON Lines row parsed, or ``_UNREADABLE`` with its problem recorded."""
        if self._undecoded(row, "encoding", line, "the row"):
            return _UNREADABLE
        try:
            return self._parse(line)
        except json.JSONDecodeError as exc:
            self.problems.append(TicketProblem(self.path, row, "json", f"malformed JSON: {exc.msg} at column {exc.colno}"))
        except _Refused as exc:
            self.problems.append(TicketProblem(self.path, row, exc.field, exc.message))
        return _UNREADABLE

    def _each(self, source: Iterator[_Item], lines: _BoundedLines) -> Iterator[_Item]:
        """The items of ``source`` (lines, or CSV records read from ``lines``): a line too
        long or a record the csv module cannot parse is a problem at its line, and the
        next item is read."""
        while True:
            try:
                yield next(source)
            except StopIteration:
                return
            except _Refused as exc:
                self.problems.append(TicketProblem(self.path, lines.number, exc.field, exc.message))
            except csv.Error as exc:
                self.problems.append(TicketProblem(self.path, lines.number, "csv", f"malformed CSV: {exc}"))

    def _json_rows(self, text: str) -> Iterator[tuple[int, Any]]:
        """The elements of a JSON array, one at a time: an element refused costs only itself;
        malformed JSON ends the file (nothing after it can be placed)."""
        blank = re.compile(r"\s*")
        position = blank.match(text).end()  # type: ignore[union-attr]
        if text[position : position + 1] != "[":
            try:
                _DECODER.decode(text)
            except json.JSONDecodeError as exc:
                self.problems.append(TicketProblem(self.path, exc.lineno, "json", f"malformed JSON: {exc.msg}"))
                return
            except (RecursionError, ValueError):
                pass
            self.problems.append(TicketProblem(self.path, 1, "json", "a JSON tickets file is an array of objects"))
            return
        position = blank.match(text, position + 1).end()  # type: ignore[union-attr]
        index = 0
        while text[position : position + 1] != "]":
            if index and text[position : position + 1] != ",":
                self._malformed(text, position, "Expecting ',' delimiter")
                return
            if index:
                position = blank.match(text, position + 1).end()  # type: ignore[union-attr]
            index += 1
            start = position
            try:
                value, end = _raw_decode(text, start)
            except json.JSONDecodeError as exc:
                self._malformed(text, exc.pos, exc.msg)
                return
            except (RecursionError, ValueError) as exc:
                closed = _value_end(text, position)
                if closed is None:
                    self._malformed(text, position, "an unclosed array or object")
                    return
                message = f"nested deeper than {MAX_DEPTH} levels" if isinstance(exc, RecursionError) else f"a number cannot be read: {exc}"
                self.problems.append(TicketProblem(self.path, index, "json", message))
                position = blank.match(text, closed).end()  # type: ignore[union-attr]
                continue
            position = blank.match(text, end).end()  # type: ignore[union-attr]
            if end - start > MAX_ROW_CHARS:
                self.problems.append(TicketProblem(self.path, index, "row", f"longer than {MAX_ROW_CHARS:,} characters"))
                continue
            if not self._checks:
                yield index, value
                continue
            try:
                _checked(value, text[start:end])
            except _Refused as exc:
                self.problems.append(TicketProblem(self.path, index, exc.field, exc.message))
                continue
            if not any(self._undecoded(index, field or "ticket", item, "the value") for field, item in _strings(value)):
                yield index, value
        if text[position + 1 :].strip():
            self._malformed(text, position + 1, "Extra data")

    def _malformed(self, text: str, position: int, message: str) -> None:
        line = text.count("\n", 0, position) + 1
        self.problems.append(TicketProblem(self.path, line, "json", f"malformed JSON: {message}"))

    def _csv_rows(self, stream: TextIO) -> Iterator[tuple[int, Any]]:
        lines = _BoundedLines(stream)
        reader = csv.DictReader(lines)
        try:
            fieldnames = reader.fieldnames
        except (csv.Error, _Refused) as exc:
            self.problems.append(TicketProblem(self.path, 1, "columns", f"the header cannot be read: {exc}"))
            return
        if fieldnames is None or not self._header_usable(list(fieldnames)):
            return
        for record in self._each(reader, lines):
            row = lines.number  # the record's last line (csv's own count skips refused lines)
            data: dict[str, Any] = {}
            ticket_id = record.get("id") or None
            readable_id = ticket_id if ticket_id is None or not _UNDECODED.search(ticket_id) else None
            if any(isinstance(cell, str) and self._undecoded(row, str(column), cell, "the cell", readable_id) for column, cell in record.items()):
                continue
            try:
                for column, cell in record.items():
                    if column is None or cell is None or cell == "":
                        continue
                    if "\x00" in cell:
                        raise _Refused("", _NUL)
                    if column in _HISTORY_FIELDS:
                        _set(data, column, self._parse(cell))
                    else:
                        _set(data, column, cell if column in TICKET_FIELDS else _typed(cell))
            except json.JSONDecodeError as exc:
                self.problems.append(TicketProblem(self.path, row, column or "?", f"history cell is not a JSON array: {exc.msg}"))
                continue
            except _Refused as exc:
                field = f"{column}.{exc.field}" if exc.field not in ("", "json", "ticket") else str(column)
                self.problems.append(TicketProblem(self.path, row, field, exc.message, readable_id))
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
