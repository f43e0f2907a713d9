"""Terminal output for the CLI with rich: result tables, level colours, located problems."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import Iterable
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..durations import format_duration
from ..engine import TicketResult, describe_action
from ..ruleset.schema import Ruleset

__all__ = ["results_table", "print_problems", "print_warnings", "provider_text", "level_style", "stdout", "stderr"]

# Piped output (cron mail, log files) gets wide rows instead of rich's 80-column default.
_PIPE_WIDTH = 160
stdout = Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else _PIPE_WIDTH)
stderr = Console(stderr=True, highlight=False)

_STYLES = {0: "green", 1: "yellow", 2: "red"}


def level_style(rank: int) -> str:
    """Green below the first level, then yellow, red, and bold red for anything further."""
    return _STYLES.get(rank, "bold white on red")


def results_table(results: Iterable[TicketResult], ruleset: Ruleset, now: datetime) -> None:
    """One row per (ticket, SLA status) with the decisions that fired, times in the ruleset's zone."""
    zone = ZoneInfo(ruleset.ticket_timezone) if ruleset.ticket_timezone else timezone.utc

    def local(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%m-%d %H:%M") if value else "-"

    table = Table(title=f"{ruleset.name} at {now.astimezone(zone).isoformat(timespec='minutes')}", expand=False)
    for column in ("ticket", "tier", "stage", "policy", "level", "used / target", "due", "next"):
        table.add_column(column, overflow="fold")
    table.add_column("decisions", no_wrap=True)
    for result in results:
        ticket = result.ticket
        lost = {(c.rule, c.provider) for c in result.route_conflicts}
        lines = [
            describe_action(d.action, d.arguments) + (" (conflict: not applied)" if d.action == "route" and (d.rule, d.arguments.get("provider")) in lost else "")
            for d in result.decisions
        ]
        decisions = "\n".join(lines) or "-"
        if not result.statuses:
            table.add_row(ticket.id, ticket.tier, ticket.stage or "-", "-", Text(ticket.status, style="dim"), "-", "-", "-", decisions)
        for index, status in enumerate(result.statuses):
            level = Text(status.level or "ok", style=level_style(status.level_rank))
            if status.paused:
                level.append(" (paused)", style="dim")
            upcoming = f"{status.next_level} {local(status.next_change_at)}" if status.next_level else "-"
            table.add_row(
                ticket.id if index == 0 else "",
                ticket.tier if index == 0 else "",
                status.stage,
                status.policy,
                level,
                f"{format_duration(status.elapsed)} / {format_duration(status.target)}",
                local(status.due_at),
                upcoming,
                decisions if index == 0 else "",
            )
    stdout.print(table)


def provider_text(assigned: str | None, reported: str | None) -> str:
    """The assigned provider, marked when a route decision changed it (with the reported one, if any)."""
    if assigned == reported:
        return assigned or "-"
    return f"{assigned or '-'} (routed" + (f" from {reported})" if reported else ")")


def print_problems(problems: Iterable[object]) -> None:
    """Each located problem on its own line of standard error."""
    for problem in problems:
        stderr.print(Text(str(problem), style="red"), soft_wrap=True)


def print_warnings(warnings: Iterable[object]) -> None:
    """Each located warning on its own line of standard error, as ``warning: <place>: <message>``."""
    for warning in warnings:
        stderr.print(Text(f"warning: {warning}", style="yellow"), soft_wrap=True)
