"""``spm-rules diff OLD NEW --tickets SOURCE``: what a ruleset change does to the tickets,
before it goes live.  Levels, decisions, assignments and receivers (after routing) are
compared ticket by ticket at one instant; a table for the review, or ``--format json``.

Exit codes, for CI: 0 nothing changes; 1 something does; 2 a ruleset is invalid or the
command is misused; 3 some ticket rows were rejected (the comparison is incomplete).
"""

from __future__ import annotations

import json
import sys

import click

from . import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, cli
from .common import build_engine, encoding_option, load_or_report, matcher_option, parse_instant

__all__ = ["diff", "EXIT_CHANGED"]

#: ``diff``'s exit code when something changes.
EXIT_CHANGED = 1


@cli.command()
@click.argument("old_path", metavar="OLD", type=click.Path(dir_okay=False))
@click.argument("new_path", metavar="NEW", type=click.Path(dir_okay=False))
@click.option("--tickets", "tickets_path", required=True, help="Tickets: JSONL, JSON array or CSV file, or - for standard input.")
@click.option("--at", "at", default=None, help="Compare at this ISO 8601 instant instead of now.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@matcher_option
@encoding_option
def diff(old_path: str, new_path: str, tickets_path: str, at: str | None, fmt: str, matcher: str, encoding: str) -> int:
    """Compare two versions of a ruleset on the same tickets: levels, decisions, assigned
    providers and receivers.  Exit 0 when nothing changes, 1 when something does, 2 when
    a ruleset is invalid, 3 when ticket rows were rejected."""
    from ..diff import change_rows, diff_rulesets
    from ..sources.files import TicketReader
    from .render import print_problems, print_warnings
    from .state_views import local_time, print_view, zone_label

    old, new = load_or_report(old_path), load_or_report(new_path)
    if old is None or new is None:
        return EXIT_USAGE
    now = parse_instant(at, "--at", old.ticket_timezone)
    if new.ticket_timezone != old.ticket_timezone:
        print_warnings([f"{new_path}: ticket_timezone {new.ticket_timezone} differs from {old_path}'s {old.ticket_timezone}: times without an offset are read in the old one"])
    reader = TicketReader(tickets_path, encoding=encoding, ruleset=old)
    report = diff_rulesets(build_engine(old, matcher), build_engine(new, matcher), reader, now)
    if fmt == "json":
        document = {"old": old_path, "new": new_path, **report.to_json(), "rejected": [problem.__dict__ for problem in reader.problems]}
        json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        from zoneinfo import ZoneInfo
        from datetime import timezone

        zone = ZoneInfo(old.ticket_timezone) if old.ticket_timezone else timezone.utc
        when = f"at {local_time(now, zone)} {zone_label(zone)}"
        title = f"{old_path} → {new_path} {when}: {len(report.changes)} of {report.tickets} tickets change"
        none = f"{old_path} → {new_path} {when}: no change in levels, decisions, assignments or receivers for the {report.tickets} tickets"
        print_view(title, ("ticket", "what", "old", "new"), change_rows(report), none)
    print_problems(reader.problems)
    if reader.problems:
        return EXIT_PARTIAL
    return EXIT_CHANGED if report.changes else EXIT_OK
