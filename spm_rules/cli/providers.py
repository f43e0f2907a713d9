"""``spm-rules providers``: each provider's open load against its capacity, its open red
escalations and today's on-time rate, from the state store, as a table or JSON."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import click

from . import EXIT_INVALID, EXIT_OK, cli
from .common import load_or_report, parse_instant, state_option
from .state_views import local_time, print_view, when, zone_label

if TYPE_CHECKING:
    from ..dispatch.decide import ProviderLoad
    from ..ruleset.schema import Ruleset

__all__ = ["providers", "providers_json"]


def providers_json(ruleset: "Ruleset", loads: dict[str, "ProviderLoad"], since: datetime, now: datetime) -> dict[str, Any]:
    """The providers view as plain data: declared providers in ruleset order, then any
    other provider tickets are assigned to."""
    names = [*ruleset.providers, *sorted(set(loads) - set(ruleset.providers))]
    rows = []
    for name in names:
        spec = ruleset.providers.get(name)
        load = loads.get(name)
        capacity = spec.capacity if spec is not None else None
        opened = load.open if load is not None else 0
        rows.append(
            {
                "provider": name,
                "declared": spec is not None,
                "in_house": bool(spec and spec.in_house),
                "open": opened,
                "capacity": capacity,
                "free": None if capacity is None else max(capacity - opened, 0),
                "red": load.red if load is not None else 0,
                "on_time_today": load.on_time if load is not None else None,
                "calendar": spec.calendar if spec is not None else None,
                "regions": list(spec.regions) if spec is not None else [],
                "product_lines": list(spec.product_lines) if spec is not None else [],
            }
        )
    return {"ruleset": ruleset.name, "at": when(now), "today_since": when(since), "providers": rows}


@cli.command()
@click.option("--ruleset", "ruleset_path", required=True, type=click.Path(dir_okay=False), help="The ruleset declaring the providers.")
@state_option
@click.option("--at", "at", default=None, help="View as of this ISO 8601 instant instead of now.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def providers(ruleset_path: str, state_url: str, at: str | None, fmt: str) -> int:
    """List the providers: open tickets against capacity, open red escalations, and the
    on-time rate of the tickets they closed today (the ruleset's report timezone)."""
    from ..dispatch.claims import provider_loads
    from ..reports.scorecard import report_zone
    from ..state.store import Store

    ruleset = load_or_report(ruleset_path)
    if ruleset is None:
        return EXIT_INVALID
    now = parse_instant(at, "--at", ruleset.ticket_timezone)
    zone = report_zone(ruleset)
    since = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(timezone.utc)
    with Store(state_url) as store:
        loads = provider_loads(store, ruleset, now, since if since < now else None)
    document = providers_json(ruleset, loads, since, now)
    if fmt == "json":
        json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    rows = []
    for row in document["providers"]:
        capacity = "-" if row["capacity"] is None else str(row["capacity"])
        rate = "-" if row["on_time_today"] is None else f"{row['on_time_today']:.0%}"
        where = ", ".join(row["regions"] + row["product_lines"]) or "-"
        rows.append([row["provider"] + (" (in-house)" if row["in_house"] else ""), str(row["open"]), capacity, str(row["red"]), rate, where])
    title = f"{len(rows)} provider{'s' if len(rows) != 1 else ''} of {ruleset.name} at {local_time(now, zone)} {zone_label(zone)}"
    print_view(title, ("provider", "open", "capacity", "red", "on time today", "serves"), rows, "no providers declared or assigned")
    return EXIT_OK
