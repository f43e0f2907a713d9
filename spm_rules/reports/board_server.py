"""The wallboard over HTTP: a small ``http.server`` that reads the state on every poll.

``GET /`` is the page (with the data embedded, so it draws at once), ``GET /board.json``
the data the page polls every ``refresh`` seconds; anything else is 404.  The state is
only read.  Boards on many screens poll at once: the data is computed by one request at
a time and reused for ``reuse`` seconds.  :func:`serve_until_signalled` serves until
SIGINT or SIGTERM, then stops cleanly (the request in progress finishes).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Callable
from urllib.parse import urlsplit

from ..errors import SpmError
from .board import BoardData, read_board, render_page

if TYPE_CHECKING:
    from ..engine import Engine
    from ..ruleset.schema import Ruleset
    from ..state.store import Store

__all__ = ["BoardSource", "BoardServer", "serve_until_signalled"]

log = logging.getLogger(__name__)


class BoardSource:
    """The board's data, read from the store at the instant ``instant(store)`` gives.

    Thread-safe: one computation at a time, and a result younger than ``reuse`` seconds
    (monotonic) is returned again instead of being computed anew.
    """

    def __init__(self, store: Store, ruleset: Ruleset, instant: Callable[[Store], datetime], *, engine: Engine | None = None, reuse: float = 1.0) -> None:
        from ..engine import Engine

        self.store = store
        self.ruleset = ruleset
        self.instant = instant
        self.engine = engine if engine is not None else Engine(ruleset, "python")
        self.reuse = reuse
        self._lock = threading.Lock()
        self._last: tuple[float, BoardData] | None = None

    def __call__(self) -> BoardData:
        with self._lock:
            if self._last is not None and time.monotonic() - self._last[0] < self.reuse:
                return self._last[1]
            data = read_board(self.store, self.ruleset, self.instant(self.store), engine=self.engine)
            self._last = (time.monotonic(), data)
            return data


class _Handler(BaseHTTPRequestHandler):
    server: "BoardServer"
    server_version = "spm-rules-board"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(body=False)

    def _answer(self, *, body: bool) -> None:
        path = urlsplit(self.path).path
        if path not in ("/", "/index.html", "/board.json"):
            self._send(404, "text/plain; charset=utf-8", b"not found: the board is at / and its data at /board.json\n", body)
            return
        try:
            data = self.server.source()
        except SpmError as exc:
            log.warning("board: %s", exc)
            self._send(503, "application/json", json.dumps({"error": str(exc)}).encode("utf-8"), body)
            return
        if path == "/board.json":
            self._send(200, "application/json", json.dumps(data.to_json(), ensure_ascii=False).encode("utf-8"), body)
        else:
            self._send(200, "text/html; charset=utf-8", render_page(data, live=True).encode("utf-8"), body)

    def _send(self, status: int, content_type: str, payload: bytes, body: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's signature)
        log.debug("board: %s %s", self.address_string(), format % args)


class BoardServer(ThreadingHTTPServer):
    """The board's HTTP server at ``(host, port)`` (port 0: any free port)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], source: Callable[[], BoardData]) -> None:
        super().__init__(address, _Handler)
        self.source = source

    @property
    def url(self) -> str:
        """Where the board is, as a browser reaches it."""
        host, port = self.server_address[:2]
        host = str(host)
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve_until_signalled(server: ThreadingHTTPServer, signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)) -> signal.Signals:
    """Serve in a thread until one of ``signals`` arrives; then stop and close; return it.

    Must run in the main thread (where Python delivers signals); the previous handlers
    are restored before returning.
    """
    stop = threading.Event()
    received: list[signal.Signals] = []

    def handler(signum: int, _frame: object) -> None:
        received.append(signal.Signals(signum))
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in signals}
    thread = threading.Thread(target=server.serve_forever, name="board-server", daemon=True)
    thread.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        for sig, old in previous.items():
            signal.signal(sig, old)
    return received[0]
