"""Secrets never leave the process unmasked: a registry of secret values and a log filter.

Receiver URLs take their secrets from ``${ENV_VAR}`` references or ``url_file`` files;
each value is registered here the moment it is read.  :func:`redact` replaces every
registered value (as written and URL-encoded) with ``****`` in any text, and
:class:`RedactingFilter`, installed on the loggers that see delivery (spm-rules' own,
Apprise's, whose plugins log full request URLs at DEBUG, and urllib3's, which logs
request paths), applies it to every log record before any handler sees it.

Values shorter than :data:`MIN_SECRET_LENGTH` characters are not registered: masking
every ``1`` or ``ab`` in every log line would make logs useless, and a secret that short
protects nothing.  :func:`mask_url` masks the secret-looking parts of a URL as written
(a password in its user part, token-like query values) for display.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Iterable
from urllib.parse import quote, quote_plus

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "register_secret",
    "redact",
    "mask_url",
    "RedactingFilter",
    "install_log_redaction",
    "REDACTED_LOGGERS",
]

MASK = "****"
MIN_SECRET_LENGTH = 4

#: Loggers whose records pass through :class:`RedactingFilter` once installed.  A logger's
#: filter sees only records logged to that very logger, so every alerting module logs to
#: ``spm_rules.alerting`` and the list names each third-party logger that sees URLs.
REDACTED_LOGGERS = (
    "spm_rules",
    "spm_rules.alerting",
    "apprise",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.util.retry",
    "requests",
)

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register_secret(value: str) -> None:
    """Remember ``value`` (and its URL-encoded forms) as secret for :func:`redact`."""
    global _pattern
    if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
        return
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value)}
    with _lock:
        if forms <= _secrets:
            return
        _secrets.update(forms)
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(item) for item in ordered))


def redact(text: str) -> str:
    """``text`` with every registered secret value replaced by ``****``."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^/@:?#\s]*:)(?P<password>[^/@?#\s]+)(?=@)")
_QUERY_VALUE = re.compile(r"(?P<head>[?&](?P<key>[^=&#\s]+)=)(?P<value>[^&#\s]*)")
_SECRET_KEY = re.compile(r"^[+\-]|token|secret|pass|key|auth|sig|cred", re.IGNORECASE)
_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")


def _mask_unless_reference(value: str) -> str:
    return value if _REFERENCE.match(value) else MASK


def mask_url(text: str) -> str:
    """A URL as written, safe to show: the user part's password and token-like query
    values (``token``, ``key``, ``secret``, ``password``, Apprise's ``+header`` and
    ``-param`` arguments) become ``****``; ``${VAR}`` references stay, as they name a
    secret without holding it; registered secret values are redacted."""
    masked = _USERINFO.sub(lambda m: m.group("head") + _mask_unless_reference(m.group("password")), text)
    masked = _QUERY_VALUE.sub(
        lambda m: m.group("head") + (_mask_unless_reference(m.group("value")) if _SECRET_KEY.search(m.group("key")) else m.group("value")),
        masked,
    )
    return redact(masked)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and traceback text) with secrets redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place; never drops a record."""
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format: keep the raw text only
            message = str(record.msg)
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, ()
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = redact(text), None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_filter = RedactingFilter()


def install_log_redaction(names: Iterable[str] = REDACTED_LOGGERS) -> None:
    """Attach the redacting filter to the named loggers (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)
