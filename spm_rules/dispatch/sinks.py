"""Write-back: telling the ticket system what the runs decided.

A ruleset's ``write_back:`` sinks each receive the events they ask for: ``route`` (a
ticket assigned or re-routed), ``escalate``, ``tag`` and ``level`` (a ticket entered an
SLA level).  Events travel through the outbox like notifications: the run writes one row
per (sink, event) in the transaction that records the change, keyed by a stable
idempotency key, and delivery sends it and retries it with backoff until the sink takes
it (a crash loses nothing; a dead write-back alerts the delivery fallback receiver).

Three kinds of sink:

* ``webhook``: an HTTP POST of the event as JSON (see :data:`EVENT_FIELDS` and
  docs/dispatch.md) with the headers ``Idempotency-Key`` (the row's key, the same on
  every retry) and ``Content-Type: application/json``; any 2xx answer is delivered.
* ``sql``: one SQL statement (an ``UPDATE`` of the ticket system's table) run with the
  event's fields as bound parameters (``:provider``, ``:ticket``); never text pasted in.
* ``callable``: a Python function registered with :func:`register_write_back`.

This module is the only one speaking HTTP to ticket systems and SQL to their databases.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from datetime import timedelta
from typing import Any, Callable, Iterable, Literal, Mapping, Sequence

from pydantic import Field, model_validator

from ..alerting.receivers import UrlEntry, resolve_url
from ..alerting.redaction import redact
from ..notifications import Deliverer, DeliveryOutcome, Notification
from ..ruleset.types import NAME_PATTERN, Duration, StrictModel
from ..state.records import Outgoing, Transition

__all__ = [
    "WriteBackSpec",
    "WriteBackDeliverer",
    "WRITE_BACK_KIND",
    "EVENTS",
    "EVENT_FIELDS",
    "register_write_back",
    "unregister_write_back",
    "write_back_events",
]

Event = Literal["route", "escalate", "tag", "level"]
#: The outbox kind of write-back rows (alerting never sees them).
WRITE_BACK_KIND = "writeback"
#: Audit kinds → the write-back event they are.
EVENTS: dict[str, str] = {"routed": "route", "escalated": "escalate", "tagged": "tag", "entered": "level"}
#: The fields of an event: the webhook's JSON body and the SQL statement's parameters.
EVENT_FIELDS: dict[str, str] = {
    "key": "the idempotency key, the same on every retry",
    "event": "route, escalate, tag or level",
    "ticket": "the ticket id",
    "at": "when it happened (ISO 8601)",
    "provider": "the provider the ticket is assigned to now",
    "provider_reported": "the provider the ticket system reported",
    "rule": "the rule that decided it",
    "policy": "the SLA policy (escalate, level)",
    "level": "the SLA level (escalate, level)",
    "tags": "the ticket's tags, comma-separated",
    "detail": "the reason, in words",
}

_callables: dict[str, Callable[[dict[str, Any]], Any]] = {}


def register_write_back(name: str, function: Callable[[dict[str, Any]], Any]) -> None:
    """Make ``function`` the ``callable: name`` sink: it gets each event as a dict; an
    exception means not delivered (retried)."""
    _callables[name] = function


def unregister_write_back(name: str) -> None:
    """Forget the write-back callable ``name`` (no error if there is none)."""
    _callables.pop(name, None)


class WriteBackSpec(StrictModel):
    """One sink the runs' decisions are written back to."""

    kind: Literal["webhook", "sql", "callable"]
    events: list[Event] = Field(default_factory=lambda: ["route", "escalate", "tag", "level"], min_length=1)
    url: UrlEntry | None = Field(default=None, description="webhook: the http(s) URL; sql: the SQLAlchemy database URL (${VAR} for secrets)")
    statement: str | None = Field(default=None, description="sql: the statement, with :field parameters")
    callable: str | None = Field(default=None, pattern=NAME_PATTERN, description="a function registered with register_write_back()")
    timeout: Duration = timedelta(seconds=10)

    @model_validator(mode="after")
    def _complete(self) -> "WriteBackSpec":
        if self.kind in ("webhook", "sql") and self.url is None:
            raise ValueError(f"a {self.kind} sink needs url")
        if self.kind == "webhook" and self.url is not None and self.url.url is not None and not self.url.url.lower().startswith(("http://", "https://")):
            raise ValueError("a webhook url is http:// or https://")
        if self.kind == "sql":
            if not self.statement:
                raise ValueError("a sql sink needs statement (e.g. UPDATE tickets SET assignee = :provider WHERE id = :ticket)")
            from sqlalchemy import text

            unknown = sorted(set(text(self.statement).compile().params) - set(EVENT_FIELDS))
            if unknown:
                raise ValueError(f"statement parameters {unknown} are not event fields ({', '.join(EVENT_FIELDS)})")
        if self.kind == "callable" and self.callable is None:
            raise ValueError("a callable sink needs callable (a name given to register_write_back)")
        return self


def write_back_events(sinks: Mapping[str, WriteBackSpec], transitions: Iterable[Transition], ticket: Mapping[str, Any]) -> list[Outgoing]:
    """The outbox rows for one ticket's transitions: one per (sink, event) the sink asks
    for.  ``ticket`` gives the state the transitions leave: provider, provider_reported, tags."""
    found = []
    for entry in transitions:
        event = EVENTS.get(entry.kind)
        if event is None or entry.ticket_id is None:
            continue
        digest = hashlib.blake2b(f"{entry.policy}|{entry.level}|{entry.rule}|{entry.detail}".encode("utf-8"), digest_size=6).hexdigest()
        for name, sink in sinks.items():
            if event not in sink.events:
                continue
            key = f"{WRITE_BACK_KIND}|{name}|{entry.ticket_id}|{event}|{entry.recorded.isoformat()}|{digest}"
            body = {
                "key": key,
                "event": event,
                "ticket": entry.ticket_id,
                "at": entry.at.isoformat(),
                "provider": ticket.get("provider"),
                "provider_reported": ticket.get("provider_reported"),
                "rule": entry.rule,
                "policy": entry.policy,
                "level": entry.level,
                "tags": ",".join(ticket.get("tags") or ()),
                "detail": entry.detail,
            }
            labels = {"sink": name, "event": event, "ticket": entry.ticket_id}
            found.append(Outgoing(Notification(key, WRITE_BACK_KIND, entry.ticket_id, (name,), labels, body, entry.recorded)))  # type: ignore[arg-type]
    return found


class WriteBackDeliverer:
    """A :class:`~spm_rules.notifications.Deliverer` that sends write-back rows to their
    sinks and hands every other notification to ``inner`` (the alerting pipeline)."""

    def __init__(self, inner: Deliverer, sinks: Mapping[str, WriteBackSpec], environ: Mapping[str, str] | None = None) -> None:
        self.inner = inner
        self.sinks = dict(sinks)
        self.environ = environ if environ is not None else os.environ
        self._engines: dict[str, Any] = {}

    def deliver(self, notifications: Sequence[Notification], now: Any) -> list[DeliveryOutcome]:
        """Deliver a batch: write-backs here, the rest through ``inner``."""
        others = [note for note in notifications if note.kind != WRITE_BACK_KIND]
        outcomes = list(self.inner.deliver(others, now)) if others else []
        outcomes.extend(self._send(note) for note in notifications if note.kind == WRITE_BACK_KIND)
        return outcomes

    def _send(self, note: Notification) -> DeliveryOutcome:
        name = note.receivers[0] if note.receivers else ""
        sink = self.sinks.get(name)
        if sink is None:
            return DeliveryOutcome(note.key, "failed", f"write-back sink {name!r} is not in the ruleset")
        try:
            detail = self._deliver(name, sink, note.payload)
        except Exception as exc:  # noqa: BLE001 - a sink's failure costs a retry, never the event
            from ..state.store import mask_secrets

            return DeliveryOutcome(note.key, "failed", mask_secrets(redact(f"write-back {name!r}: {type(exc).__name__}: {exc}"))[:1000])
        return DeliveryOutcome(note.key, "sent", detail, delivered_to=(name,))

    def _deliver(self, name: str, sink: WriteBackSpec, event: dict[str, Any]) -> str:
        if sink.kind == "callable":
            function = _callables.get(sink.callable or "")
            if function is None:
                raise LookupError(f"no write-back callable {sink.callable!r} is registered (register_write_back)")
            function(dict(event))
            return f"{name}: called {sink.callable}"
        assert sink.url is not None
        url = resolve_url(name, 0, sink.url, self.environ)
        if sink.kind == "webhook":
            return self._post(name, url, sink, event)
        return self._update(name, url, sink, event)

    def _post(self, name: str, url: str, sink: WriteBackSpec, event: dict[str, Any]) -> str:
        request = urllib.request.Request(
            url,
            data=json.dumps(event, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json", "Idempotency-Key": event["key"], "User-Agent": "spm-rules write-back"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=sink.timeout.total_seconds()) as answer:  # noqa: S310 - the URL is the operator's
                return f"{name}: HTTP {answer.status}"
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"HTTP {exc.code}") from None

    def _update(self, name: str, url: str, sink: WriteBackSpec, event: dict[str, Any]) -> str:
        from sqlalchemy import create_engine, text

        engine = self._engines.get(url)
        if engine is None:
            engine = self._engines[url] = create_engine(url)
        assert sink.statement is not None
        statement = text(sink.statement)
        wanted = statement.compile().params
        with engine.begin() as conn:
            result = conn.execute(statement, {field: event.get(field) for field in wanted})
        return f"{name}: {result.rowcount} row(s)"
