"""``spm-rules report …``: reports read from the state store, which they never change.

``report scorecard`` gives the figures of the tickets closed in a period, per provider
(or any ticket field), as a terminal table, CSV, JSON or a self-contained HTML page.
Every figure is defined in ``docs/reports.md``.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime, time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from . import EXIT_INVALID, EXIT_OK, cli
from .common import load_or_report, parse_instant, state_option

if TYPE_CHECKING:
    from ..reports.scorecard import Scorecard

__all__ = ["report", "scorecard_command", "parse_bound"]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def parse_bound(text: str | None, option: str, zone: str | None) -> datetime:
    """A period bound: a date is its midnight in ``zone`` (the ruleset's ticket_timezone,
    else UTC), anything else an ISO 8601 instant (:func:`parse_instant`); now when absent."""
    if text is not None and _DATE.fullmatch(text.strip()):
        try:
            day = date.fromisoformat(text.strip())
        except ValueError:
            raise click.BadParameter(f"{text!r} is not a date such as 2026-11-25", param_hint=option) from None
        return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone or "UTC"))
    return parse_instant(text, option, zone)


def _state_exists(url: str) -> bool:
    """False for an SQLite state file that does not exist (a report must not create one);
    the path may be an SQLite URI (``sqlite:///file:PATH?mode=ro&uri=true``)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return True
    path = url[len(prefix) :].split("?", 1)[0].removeprefix("file:")
    return path in ("", ":memory:") or os.path.exists(path)


def _table(card: Scorecard) -> None:
    from rich.table import Table

    from ..reports.scorecard import GroupFigures, StageFigures, duration_text, group_name, percent
    from .render import stdout

    zone = ZoneInfo(card.timezone)
    period = f"{card.since.astimezone(zone):%Y-%m-%d %H:%M} – {card.until.astimezone(zone):%Y-%m-%d %H:%M} ({card.timezone})"
    stdout.print(f"[bold]{card.ruleset}[/bold]: tickets closed {period}, by {card.by}: {card.total.tickets}", soft_wrap=True)
    acks = [(ack.policy, ack.level) for ack in card.total.acknowledgements]
    target = f" (target {percent(card.first_call_target)})" if card.first_call_target is not None else ""
    overview = Table(title="overview", title_justify="left")
    columns = [card.by, "closed", "on time"] + ([f"first-call{target}"] if card.total.first_call is not None else [])
    columns += ["reopened", "re-routes", "escalated"] + [f"ack after {level} ({policy}), mean" for policy, level in acks]
    for column in columns:
        overview.add_column(column, justify="left" if column == card.by else "right")

    def overview_row(g: GroupFigures, name: str) -> list[str]:
        cells = [name, str(g.tickets), percent(g.on_time.rate)]
        if g.first_call is not None:
            cells.append(percent(g.first_call.rate))
        cells += [percent(g.reopened.rate), str(g.reroutes), str(g.escalated)]
        return cells + [duration_text(g.acknowledgement(policy, level).mean) for policy, level in acks]

    for g in card.groups:
        overview.add_row(*overview_row(g, group_name(g.group, card.by)))
    overview.add_section()
    overview.add_row(*overview_row(card.total, "all"), style="bold")
    stdout.print(overview)

    def clock_row(name: str, stage: StageFigures) -> list[str]:
        times = [" / ".join(duration_text(value) for value in (durations.mean, durations.median, durations.p90)) for durations in (stage.business, stage.wall)]
        return [name, str(stage.on_time.of), percent(stage.on_time.rate), *times, " / ".join(str(count) for count in stage.levels.values())]

    for policy in card.total.policies:
        for stage in policy.stages:
            clock = "end to end" if stage.end_to_end else f"stage {stage.stage}"
            table = Table(title=f"{policy.policy}, {clock}", title_justify="left")
            levels = "reached " + " / ".join(stage.levels)
            for column in [card.by, "measured", "on time", "business mean / median / p90", "wall mean / median / p90", levels]:
                table.add_column(column, justify="left" if column == card.by else "right")
            for g in card.groups:
                found = g.stage(policy.policy, stage.stage)
                if found is not None and found.on_time.of:
                    table.add_row(*clock_row(group_name(g.group, card.by), found))
            table.add_section()
            table.add_row(*clock_row("all", stage), style="bold")
            stdout.print(table)


@cli.group("report")
def report() -> None:
    """Reports read from the state store (they never change it); every figure is defined in docs/reports.md."""


@report.command("scorecard")
@click.option("--ruleset", "ruleset_path", required=True, type=click.Path(dir_okay=False), help="The ruleset whose policies and calendars the figures are measured with.")
@state_option
@click.option("--since", required=True, help="Start of the period (inclusive): a date (its midnight in the ruleset's ticket_timezone) or an ISO 8601 instant.")
@click.option("--until", default=None, help="End of the period (exclusive): a date or an ISO 8601 instant; default now.")
@click.option("--by", default="provider", show_default=True, help="Group by provider (the assigned one) or any ticket field: region, tier, station, product_line…")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "html"]), default="table", show_default=True)
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None, help="Write the report to this file instead of standard output.")
def scorecard_command(ruleset_path: str, state_url: str, since: str, until: str | None, by: str, fmt: str, out_path: str | None) -> int:
    """The figures of the tickets closed in a period (by their own close time), per provider or field."""
    if not _FIELD.fullmatch(by):
        raise click.BadParameter(f"{by!r} is not a field name (provider, region, tier, station, product_line…)", param_hint="--by")
    ruleset = load_or_report(ruleset_path)
    if ruleset is None:
        return EXIT_INVALID
    start = parse_bound(since, "--since", ruleset.ticket_timezone)
    end = parse_bound(until, "--until", ruleset.ticket_timezone)
    if end <= start:
        raise click.BadParameter(f"the period ends ({end.isoformat()}) before it starts ({start.isoformat()})", param_hint="--until")
    from ..reports.scorecard import scorecard
    from ..state.store import Store, mask_url

    if not _state_exists(state_url):
        click.echo(f"error: no state at {mask_url(state_url)}: no run has recorded anything there yet", err=True)
        return EXIT_INVALID

    with Store(state_url) as store:
        card = scorecard(store, ruleset, start, end, by)
    if fmt == "table" and out_path is None:
        _table(card)
        return EXIT_OK
    if fmt == "csv":
        from ..reports.scorecard import scorecard_csv

        text = scorecard_csv(card)
    elif fmt == "html":
        from ..reports.html import scorecard_html

        text = scorecard_html(card, ruleset.description)
    elif fmt == "json":
        import json

        text = json.dumps(card.to_json(), ensure_ascii=False, indent=2) + "\n"
    else:
        raise click.BadParameter("the table is for the terminal: choose --format csv, json or html to write a file", param_hint="--out")
    if out_path is None:
        click.echo(text, nl=False)
    else:
        with open(out_path, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    return EXIT_OK
