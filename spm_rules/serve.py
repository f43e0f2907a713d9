"""``spm-rules serve``: ticket events over HTTP, the reference integration of event mode.

A ticket system posts each changed ticket as JSON to ``POST /events`` (one ticket object,
or an array of them) with ``Authorization: Bearer <token>``; each ticket goes through the
ruleset's ``mapping:`` and validation like a row of a file, then through
:func:`spm_rules.events.process_event`: recorded at once, its notifications delivered,
its decisions answered::

    {"results": [{"ticket": "1001", "sla": [...], "decisions": [...], "transitions": [...]}],
     "rejected": [{"row": 2, "field": "tier", "message": "Field required", ...}]}

Status codes: 200 (some or all tickets processed; the rejected ones listed), 400 (not
JSON, or no ticket in it), 401 (no or wrong token), 404, 405, 413 (body over
``MAX_BODY``), 422 (every ticket rejected), 503 (the state could not be written; nothing
of that ticket was, the ticket system may post it again).

Thread-safe without global state: the :class:`EventService` owns its engine, lifecycle and
a lock, so events are processed one at a time whatever the number of connections (a
ticket's changes stay in order), and the HTTP threads only parse and answer.  The server
listens on localhost by default; put a TLS proxy in front of it to accept events from
another host.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import urlsplit

from .engine import Engine
from .errors import SpmError
from .events import process_event
from .notifications import Deliverer
from .ruleset.schema import Ruleset
from .sources.files import RawRow, TicketReader
from .state.lifecycle import Lifecycle
from .state.store import Store

__all__ = ["EventService", "EventServer", "MAX_BODY", "EVENTS_PATH"]

log = logging.getLogger(__name__)

#: The largest request body accepted (bytes): a ticket with long histories fits many times.
MAX_BODY = 1 << 20
#: Where events are posted.
EVENTS_PATH = "/events"


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class EventService:
    """Ticket events against one state and ruleset, one at a time (thread-safe).

    ``clock`` gives the instant of each event (the wall clock by default; a test passes a
    simulated one).  Without a ``deliverer`` notifications stay pending for the next run.
    """

    def __init__(
        self,
        store: Store,
        ruleset: Ruleset,
        *,
        deliverer: Deliverer | None = None,
        engine: Engine | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.store = store
        self.ruleset = ruleset
        self.deliverer = deliverer
        self.engine = engine or Engine(ruleset)
        self.lifecycle = Lifecycle(ruleset)
        self.clock = clock
        self._lock = threading.Lock()

    def handle(self, data: Any) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON answer for a parsed request body (a ticket or a list of them)."""
        rows = data if isinstance(data, list) else [data]
        if not rows:
            return 400, {"error": "no ticket: post a ticket object or an array of them"}
        reader = TicketReader(EVENTS_PATH, ruleset=self.ruleset)
        results = []
        with self._lock:
            for row, item in enumerate(rows, 1):
                ticket = reader.validate(RawRow(row, item, None))
                if ticket is None:
                    continue
                outcome = process_event(self.store, self.ruleset, ticket, self.clock(), self.deliverer, engine=self.engine, lifecycle=self.lifecycle)
                results.append(outcome.to_json())
        answer = {"results": results, "rejected": [problem.__dict__ for problem in reader.problems], "warnings": [w.__dict__ for w in reader.warnings]}
        return (200 if results else 422), answer


class _Handler(BaseHTTPRequestHandler):
    server: "EventServer"
    server_version = "spm-rules-serve"

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        if urlsplit(self.path).path != EVENTS_PATH:
            self._send(404, {"error": f"not found: post ticket events to {EVENTS_PATH}"})
            return
        if not self.server.authorized(self.headers.get("Authorization", "")):
            self._send(401, {"error": "missing or wrong bearer token"}, {"WWW-Authenticate": "Bearer"})
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._send(411, {"error": "a Content-Length is required"})
            return
        if length > MAX_BODY:
            self._send(413, {"error": f"the body is over {MAX_BODY} bytes: post fewer tickets at once"})
            return
        try:
            data = json.loads(self.rfile.read(length).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._send(400, {"error": f"the body is not JSON: {exc}"})
            return
        try:
            status, answer = self.server.service.handle(data)
        except SpmError as exc:  # the state could not be written: nothing of that ticket was
            log.warning("serve: %s", exc)
            self._send(503, {"error": str(exc)})
            return
        self._send(status, answer)

    def do_GET(self) -> None:  # noqa: N802
        self._send(405, {"error": f"post ticket events to {EVENTS_PATH}"}, {"Allow": "POST"})

    def _send(self, status: int, answer: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(answer, ensure_ascii=False, default=str).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's signature)
        log.debug("serve: %s %s", self.address_string(), format % args)


class EventServer(ThreadingHTTPServer):
    """The events endpoint at ``(host, port)`` (port 0: any free port), for one service and token."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], service: EventService, token: str) -> None:
        if not token:
            raise ValueError("an empty token would let anyone post events")
        super().__init__(address, _Handler)
        self.service = service
        self._expected = f"Bearer {token}".encode("utf-8")

    def authorized(self, header: str) -> bool:
        """Whether an Authorization header carries the token (compared in constant time)."""
        return hmac.compare_digest(header.strip().encode("utf-8"), self._expected)

    @property
    def url(self) -> str:
        """Where events are posted."""
        host, port = self.server_address[:2]
        host = str(host)
        return (f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}") + EVENTS_PATH
