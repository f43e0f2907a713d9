"""Structured logging for runs: one line per event, as text or as JSON.

Modules log events with ``extra={"fields": {...}}``; ``setup_logging`` installs one
handler on the ``spm_rules`` logger that writes each record as one line: readable
``key=value`` text by default, or a JSON object (``--log-format json``) that log
shippers parse without regular expressions.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any, Literal, TextIO

__all__ = ["JsonFormatter", "TextFormatter", "setup_logging", "LogFormat"]

LogFormat = Literal["text", "json"]

_HANDLER_NAME = "spm_rules.structured"
_QUOTE_IF = frozenset(' ="\n')


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


def _when(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """``{"ts": …, "level": …, "logger": …, "event": …, <fields>}`` on one line.

    A field named like one of the four fixed keys is written as ``field.<name>``.
    """

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {"ts": _when(record), "level": record.levelname.lower(), "logger": record.name, "event": record.getMessage()}
        for key, value in _fields(record).items():
            data["field." + key if key in data else key] = value
        if record.exc_info and record.exc_info[0] is not None:
            data["error"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"
        return json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """``<ts> <level> <logger>: <event> key=value …`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [f"{_when(record)} {record.levelname.lower():<7} {record.name}: {record.getMessage()}"]
        for key, value in _fields(record).items():
            text = str(value)
            plain = text and not any(char in text for char in _QUOTE_IF)
            parts.append(f"{key}={text if plain else json.dumps(text, ensure_ascii=False)}")
        if record.exc_info and record.exc_info[0] is not None:
            parts.append(f"error={record.exc_info[0].__name__}")
        return " ".join(parts).replace("\n", "\\n")


def setup_logging(fmt: LogFormat = "text", level: int | str = logging.INFO, stream: TextIO | None = None) -> logging.Handler:
    """Send ``spm_rules`` log events to ``stream`` (standard error) in ``fmt``; replaces an earlier setup."""
    logger = logging.getLogger("spm_rules")
    for handler in list(logger.handlers):
        if handler.get_name() == _HANDLER_NAME:
            logger.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler
