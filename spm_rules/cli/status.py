"""``spm-rules status TICKET``: the customer's view of a ticket, as one SMS or JSON for a web page.

Read from the state store (never written): the ticket as its source last reported it,
measured at ``--at`` (now by default) with the ruleset's policies and calendars.  Only
public fields appear (``spm_rules.reports.status.FIELD_VISIBILITY``).
"""

from __future__ import annotations

import json
import sys

import click

from . import EXIT_INVALID, EXIT_OK, cli
from .common import load_or_report, parse_instant, state_option

__all__ = ["status_command"]


@cli.command("status")
@click.argument("ticket")
@click.option("--ruleset", "ruleset_path", required=True, type=click.Path(dir_okay=False), help="The ruleset YAML file.")
@state_option
@click.option("--at", "at", default=None, help="Tell it as of this ISO 8601 instant instead of now.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="The customer's language.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="text: the SMS; json: the whole view, for a web page.")
def status_command(ticket: str, ruleset_path: str, state_url: str, at: str | None, lang: str, fmt: str) -> int:
    """Tell TICKET's customer how far it has come: the stages done, the current stage and the
    expected completion, in plain language short enough for one SMS."""
    from ..reports.status import customer_status
    from ..state.store import Store

    ruleset = load_or_report(ruleset_path)
    if ruleset is None:
        return EXIT_INVALID
    now = parse_instant(at, "--at", ruleset.ticket_timezone)
    with Store(state_url) as store:
        state = store.ticket(ticket)
        where = store.masked_url
    if state is None or state.is_new:
        click.echo(f"error: no run has seen ticket {ticket} (state {where})", err=True)
        return EXIT_INVALID
    view = customer_status(ruleset, state, now, "en" if lang == "en" else "zh")
    if fmt == "json":
        json.dump(view.to_json(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        click.echo(view.text)
    return EXIT_OK
