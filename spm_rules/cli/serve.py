"""``spm-rules serve``: accept ticket events over HTTP (event mode; docs/integration.md)."""

from __future__ import annotations

import os

import click

from . import EXIT_INVALID, EXIT_OK, cli
from .common import build_engine, listen, load_or_report, matcher_option, state_option

__all__ = ["serve_command"]


@cli.command("serve")
@click.option("--ruleset", "ruleset_path", required=True, type=click.Path(dir_okay=False), help="The ruleset YAML file.")
@state_option
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True, help="The port to listen on; 0 picks a free one.")
@click.option("--token-env", default="SPM_RULES_TOKEN", show_default=True, help="The environment variable holding the bearer token clients send.")
@click.option("--deliver/--no-deliver", default=True, show_default=True, help="Deliver notifications at once (or leave them to the next run).")
@matcher_option
def serve_command(ruleset_path: str, state_url: str, host: str, port: int, token_env: str, deliver: bool, matcher: str) -> int:
    """Accept ticket changes as JSON on POST /events (bearer token from the environment), record
    each at once and answer its decisions; run `spm-rules run --sweep` from cron for what time changes."""
    from ..reports.board_server import serve_until_signalled
    from ..serve import EventServer, EventService
    from ..state.store import Store
    from .runs import _deliverer

    token = os.environ.get(token_env, "")
    if not token:
        click.echo(f"error: set the bearer token in the environment variable {token_env} (clients send Authorization: Bearer …)", err=True)
        return EXIT_INVALID
    ruleset = load_or_report(ruleset_path)
    if ruleset is None:
        return EXIT_INVALID
    with Store(state_url) as store:
        service = EventService(store, ruleset, deliverer=_deliverer(ruleset, store) if deliver else None, engine=build_engine(ruleset, matcher))
        server = listen(lambda address: EventServer(address, service, token), host, port)
        if server is None:
            return EXIT_INVALID
        click.echo(f"accepting {ruleset.name} ticket events at {server.url} (state {store.masked_url}); Ctrl-C or SIGTERM stops", err=True)
        stopped_by = serve_until_signalled(server)
    click.echo(f"serve stopped ({stopped_by.name})", err=True)
    return EXIT_OK
