"""Tickets from files: JSON Lines, a JSON array, or CSV; a path or ``-`` for standard input.

Reading streams ticket by ticket.  A row that fails validation does not stop the batch:
it is recorded as a located problem (source, row, field) and the next row is read, so
one bad ticket never costs the others their evaluation.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, TextIO

from pydantic import ValidationError

from ..errors import TicketError, TicketProblem
from ..tickets import TICKET_FIELDS, Ticket

__all__ = ["TicketReader", "read_tickets"]

_HISTORY_FIELDS = ("stage_history", "status_history", "tier_history")
_INT = re.compile(r"-?(0|[1-9]\d*)")
_FLOAT = re.compile(r"-?(0|[1-9]\d*)\.\d+")


class TicketReader:
    """Iterate the tickets of one source; the rows that failed collect in ``problems``.

    The format is taken from the file name (``.jsonl``/``.ndjson``, ``.json``, ``.csv``)
    or, for standard input and other names, sniffed from the first character.
    """

    def __init__(self, path: str | Path, default_timezone: str | None = None, fmt: str | None = None) -> None:
        self.path = str(path)
        self.default_timezone = default_timezone
        self.format = fmt
        self.problems: list[TicketProblem] = []
        self.count = 0

    def __iter__(self) -> Iterator[Ticket]:
        stream, close = self._open()
        try:
            for row, data in self._rows(stream):
                ticket = self._validate(row, data)
                if ticket is not None:
                    self.count += 1
                    yield ticket
        finally:
            if close:
                stream.close()

    def _open(self) -> tuple[TextIO, bool]:
        if self.path == "-":
            return sys.stdin, False
        try:
            return open(self.path, encoding="utf-8", newline=""), True
        except OSError as exc:
            raise TicketError([TicketProblem(self.path, 0, "file", f"cannot read tickets: {exc.strerror or exc}")]) from None

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

    def _rows(self, stream: TextIO) -> Iterator[tuple[int, Any]]:
        fmt, stream = self._format(stream)
        if fmt == "csv":
            yield from self._csv_rows(stream)
        elif fmt == "json":
            try:
                data = json.load(stream)
            except json.JSONDecodeError as exc:
                self.problems.append(TicketProblem(self.path, exc.lineno, "json", f"malformed JSON: {exc.msg}"))
                return
            if not isinstance(data, list):
                self.problems.append(TicketProblem(self.path, 1, "json", "a JSON tickets file is an array of objects"))
                return
            yield from enumerate(data, 1)
        else:
            for line_number, line in enumerate(stream, 1):
                if not line.strip():
                    continue
                try:
                    yield line_number, json.loads(line)
                except json.JSONDecodeError as exc:
                    self.problems.append(TicketProblem(self.path, line_number, "json", f"malformed JSON: {exc.msg} at column {exc.colno}"))

    def _csv_rows(self, stream: TextIO) -> Iterator[tuple[int, Any]]:
        reader = csv.DictReader(stream)
        for record in reader:
            row = reader.line_num
            data: dict[str, Any] = {}
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

    def _validate(self, row: int, data: Any) -> Ticket | None:
        if not isinstance(data, dict):
            self.problems.append(TicketProblem(self.path, row, "ticket", f"a ticket is an object, not {type(data).__name__}"))
            return None
        context = {"default_timezone": self.default_timezone} if self.default_timezone else None
        try:
            return Ticket.model_validate(data, context=context)
        except ValidationError as exc:
            ticket_id = data.get("id")
            for error in exc.errors():
                field = ".".join(str(part) for part in error["loc"]) or "ticket"
                message = error["msg"].removeprefix("Value error, ")
                self.problems.append(TicketProblem(self.path, row, field, message, str(ticket_id) if ticket_id is not None else None))
            return None


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
