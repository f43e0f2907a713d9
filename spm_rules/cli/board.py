"""``spm-rules board``: the command center's wallboard, served live or written as a page.

``--serve`` runs a small HTTP server (127.0.0.1 by default) whose page polls
``/board.json``; each poll reads the state (read-only) and measures every open ticket at
``--at``.  ``--out FILE`` writes the same page once, data embedded, atomically; served by
any web server it re-reads its own file to refresh.  See docs/board.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Callable

import click

from . import EXIT_INVALID, EXIT_OK, cli
from .common import listen, load_or_report, parse_instant, state_option

if TYPE_CHECKING:
    from ..state.store import Store

__all__ = ["board_command"]

#: The ``--at`` words besides an ISO 8601 instant.
NOW, LAST_RUN = "now", "last-run"


def _instant(text: str, zone: str | None) -> Callable[["Store"], datetime]:
    """When the board measures the tickets, asked anew at each poll."""
    if text == NOW:
        return lambda _store: datetime.now(timezone.utc)
    if text == LAST_RUN:
        return lambda store: store.last_run_at() or datetime.now(timezone.utc)
    fixed = parse_instant(text, "--at", zone)
    return lambda _store: fixed


@cli.command("board")
@click.option("--ruleset", "ruleset_path", required=True, type=click.Path(dir_okay=False), help="The ruleset YAML file.")
@state_option
@click.option("--serve", is_flag=True, help="Serve the live board over HTTP until SIGINT or SIGTERM.")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on (with --serve).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="The port to listen on; 0 picks a free one (with --serve).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, writable=True), default=None, help="Write the board page to this file instead.")
@click.option(
    "--at",
    "at",
    default=NOW,
    show_default=True,
    help="Measure tickets at: now (the clock, at each poll), last-run (the latest run's instant), or an ISO 8601 instant.",
)
@click.option("--refresh", type=click.IntRange(1, 3600), default=None, help="Seconds between the page's updates (default: the ruleset's board.refresh, 15).")
def board_command(ruleset_path: str, state_url: str, serve: bool, host: str, port: int, out_path: str | None, at: str, refresh: int | None) -> int:
    """Show the open tickets, most urgent first, coloured ok / yellow / red / escalated, with the time
    left, counts per level and partner, and filters by region, partner and tier."""
    if serve == (out_path is not None):
        raise click.UsageError("give exactly one of --serve and --out FILE")
    from ..metrics import write_atomically
    from ..reports.board import render_page
    from ..reports.board_server import BoardServer, BoardSource, serve_until_signalled
    from ..state.store import Store

    ruleset = load_or_report(ruleset_path)
    if ruleset is None:
        return EXIT_INVALID
    if refresh is not None:
        ruleset = ruleset.model_copy(update={"board": ruleset.board.model_copy(update={"refresh": timedelta(seconds=refresh)})})
    instant = _instant(at, ruleset.ticket_timezone)
    with Store(state_url) as store:
        # Many screens poll at once: one computation serves them all for a third of the refresh.
        source = BoardSource(store, ruleset, instant, reuse=ruleset.board.refresh.total_seconds() / 3)
        if out_path is not None:
            data = source()
            try:
                write_atomically(out_path, render_page(data, live=False))
            except OSError as exc:
                click.echo(f"error: cannot write {out_path}: {exc.strerror or exc}", err=True)
                return EXIT_INVALID
            counts = ", ".join(f"{count} {color}" for color, count in data.counts()["levels"].items())
            click.echo(f"wrote {out_path}: {len(data.rows)} open tickets ({counts}) as of {data.local_as_of} {data.timezone}")
            return EXIT_OK
        server = listen(lambda address: BoardServer(address, source), host, port)
        if server is None:
            return EXIT_INVALID
        click.echo(f"serving the {ruleset.name} board at {server.url} (data at {server.url}board.json, state {store.masked_url}); Ctrl-C or SIGTERM stops", err=True)
        stopped_by = serve_until_signalled(server)
    click.echo(f"board stopped ({stopped_by.name})", err=True)
    return EXIT_OK
