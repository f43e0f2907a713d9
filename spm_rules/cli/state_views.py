"""``spm-rules escalations`` and ``outbox``: the state store as the people on duty see it.

* ``escalations [--level L] [--provider P] [--policy P]``: the open escalations, oldest
  first, with their age, acknowledgement, last notification and next repeat;
* ``outbox [--failed|--dead|--pending]``: the notifications not yet delivered (or given
  up), with attempts, the last error (masked) and the next attempt;
* ``outbox retry KEY…|--all-dead``: dead letters back in the queue, attempts reset; the
  next run delivers them (recorded in the audit log).

Every view is a table for a person, times in the ruleset's timezone (``--ruleset`` or
``--timezone``), or ``--format json`` for tools (times in ISO 8601 UTC).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, Sequence
from zoneinfo import ZoneInfo

import click

from ..durations import format_duration
from . import EXIT_INVALID, EXIT_OK, cli
from .common import load_or_report, parse_instant, state_option

if TYPE_CHECKING:
    from ..state.records import Escalation, OutboxEntry, TicketState

__all__ = ["escalations", "outbox", "view_zone", "zone_options", "zone_label", "print_view", "local_time", "when"]

_FORMAT = click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
_AT = click.option("--at", "at", default=None, help="View as of this ISO 8601 instant instead of now (ages, what is due).")


def zone_options(function: Any) -> Any:
    """``--ruleset`` and ``--timezone``: which timezone the table shows times in."""
    function = click.option("--timezone", "zone_name", default=None, help="Show times in this IANA timezone (default: the ruleset's ticket_timezone, else UTC).")(function)
    return click.option("--ruleset", "ruleset_path", default=None, type=click.Path(dir_okay=False), help="The ruleset, for its ticket_timezone.")(function)


def view_zone(zone_name: str | None, ruleset_path: str | None) -> ZoneInfo | timezone | None:
    """The zone a view shows times in: ``--timezone``, else the ruleset's ticket timezone,
    else UTC; None when the ruleset is invalid (its problems are printed)."""
    if zone_name is not None:
        try:
            return ZoneInfo(zone_name)
        except (KeyError, ValueError):
            raise click.BadParameter(f"unknown IANA timezone {zone_name!r}", param_hint="--timezone") from None
    if ruleset_path is None:
        return timezone.utc
    ruleset = load_or_report(ruleset_path)
    if ruleset is None:
        return None
    return ZoneInfo(ruleset.ticket_timezone) if ruleset.ticket_timezone else timezone.utc


def local_time(value: datetime | None, zone: ZoneInfo | timezone) -> str:
    """A time as a table shows it: local date and minute."""
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def zone_label(zone: ZoneInfo | timezone) -> str:
    """The name of a view's zone, for its title."""
    return zone.key if isinstance(zone, ZoneInfo) else "UTC"


def when(value: datetime | None) -> str | None:
    """A time as JSON shows it: ISO 8601 in UTC."""
    return value.astimezone(timezone.utc).isoformat() if value is not None else None


def print_view(title: str, columns: Sequence[str], rows: Iterable[Sequence[str]], empty: str) -> None:
    """A title line, then a plain table (aligned columns, a header, no frame) on standard
    output; the ``empty`` sentence alone when there are no rows."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from .render import stdout

    rows = list(rows)
    if not rows:
        stdout.print(empty, markup=False, highlight=False, soft_wrap=True)
        return
    stdout.print(title, markup=False, highlight=False, soft_wrap=True)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    stdout.print(table)


def _dump(document: dict[str, Any]) -> None:
    """Exactly one JSON document on standard output."""
    json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


# --------------------------------------------------------------------------- escalations


def _next_repeat(esc: "Escalation", now: datetime, zone: ZoneInfo | timezone) -> str:
    """What comes next for an escalation's notifications, in words for the table."""
    due = esc.next_repeat_at
    if due is not None:
        return local_time(due, zone) + (" (due)" if due <= now else "")
    if esc.repeat_every is None:
        return "- (no repeat)"
    if esc.acknowledged_at is not None:
        return "- (acknowledged)"
    return "after the one in flight"


def _escalation_json(esc: "Escalation", ticket: "TicketState", now: datetime) -> dict[str, Any]:
    """One open escalation as plain data (times in UTC)."""
    return {
        "ticket": esc.ticket_id,
        "policy": esc.policy,
        "level": esc.level,
        "level_rank": esc.level_rank,
        "provider": ticket.assigned_provider,
        "provider_reported": ticket.provider,
        "tier": ticket.tier,
        "stage": ticket.stage,
        "customer": ticket.customer,
        "opened_at": when(esc.opened_at),
        "age": format_duration(now - esc.opened_at),
        "age_seconds": int((now - esc.opened_at).total_seconds()),
        "acknowledged": esc.acknowledged_at is not None,
        "acknowledged_at": when(esc.acknowledged_at),
        "acknowledged_by": esc.acknowledged_by,
        "notifications": esc.occurrences,
        "last_sent_at": when(esc.last_notified_at),
        "notified_to": list(esc.notified_to),
        "escalated_to": esc.escalated_to,
        "repeat_every": format_duration(esc.repeat_every) if esc.repeat_every is not None else None,
        "next_repeat_at": when(esc.next_repeat_at),
        "in_flight": esc.pending_key,
    }


@cli.command()
@click.option("--level", default=None, help="Only this level.")
@click.option("--provider", default=None, help="Only tickets assigned to this provider.")
@click.option("--policy", default=None, help="Only this policy.")
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many (the oldest).")
@state_option
@zone_options
@_AT
@_FORMAT
def escalations(
    level: str | None, provider: str | None, policy: str | None, limit: int | None, state_url: str, ruleset_path: str | None, zone_name: str | None, at: str | None, fmt: str
) -> int:
    """List the open escalations, oldest first: age, acknowledgement, last notification and
    when the next repeat is due (a run sends it then, if the ticket is still at the level)."""
    from ..state.store import Store

    zone = view_zone(zone_name, ruleset_path)
    if zone is None:
        return EXIT_INVALID
    now = parse_instant(at, "--at")
    with Store(state_url) as store:
        found = store.open_escalations_by_age(level=level, policy=policy, provider=provider, limit=limit)
    if fmt == "json":
        _dump({"at": when(now), "escalations": [_escalation_json(esc, ticket, now) for esc, ticket in found]})
        return EXIT_OK
    rows = []
    for esc, ticket in found:
        acked = "-" if esc.acknowledged_at is None else local_time(esc.acknowledged_at, zone) + (f" by {esc.acknowledged_by}" if esc.acknowledged_by else "")
        rows.append(
            [
                local_time(esc.opened_at, zone),
                format_duration(now - esc.opened_at),
                esc.ticket_id,
                f"{esc.policy}/{esc.level}",
                ticket.assigned_provider or "-",
                acked,
                local_time(esc.last_notified_at, zone),
                _next_repeat(esc, now, zone),
            ]
        )
    filters = ", ".join(f"{name} {value}" for name, value in (("level", level), ("policy", policy), ("provider", provider)) if value)
    title = f"{len(rows)} open escalation{'s' if len(rows) != 1 else ''}" + (f" ({filters})" if filters else "") + f" at {local_time(now, zone)} {zone_label(zone)}"
    columns = ("opened", "age", "ticket", "policy/level", "provider", "acknowledged", "last sent", "next repeat")
    print_view(title, columns, rows, "no open escalations" + (f" ({filters})" if filters else ""))
    return EXIT_OK


# --------------------------------------------------------------------------- outbox

_WHICH = {"failed": ("failed",), "dead": ("dead",), "pending": ("pending",), None: ("pending", "failed", "dead")}


def _receivers(entry: "OutboxEntry") -> str:
    """The receivers a row's rule named, and those that already have it."""
    named = list(entry.notification.get("receivers") or ())
    shown = ", ".join(named) or "(routing tree)"
    return shown + (f"; has it: {', '.join(entry.delivered_to)}" if entry.delivered_to else "")


def _outbox_json(entry: "OutboxEntry") -> dict[str, Any]:
    """One outbox row as plain data (times in UTC)."""
    return {
        "key": entry.key,
        "kind": entry.kind,
        "ticket": entry.ticket_id,
        "policy": entry.policy,
        "level": entry.level,
        "status": entry.status,
        "receivers": list(entry.notification.get("receivers") or ()),
        "delivered_to": list(entry.delivered_to),
        "attempts": entry.attempts,
        "last_error": entry.last_error,
        "created_at": when(entry.created_at),
        "next_attempt_at": when(entry.next_attempt_at) if entry.status in ("pending", "failed") else None,
        "done_at": when(entry.done_at),
    }


@cli.group(invoke_without_command=True)
@click.option("--failed", "which", flag_value="failed", help="Only notifications that failed and will be retried.")
@click.option("--dead", "which", flag_value="dead", help="Only dead letters (given up after max_attempts).")
@click.option("--pending", "which", flag_value="pending", help="Only notifications not attempted yet (or held).")
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many (the next due first).")
@state_option
@zone_options
@_AT
@_FORMAT
@click.pass_context
def outbox(
    ctx: click.Context, which: str | None, limit: int | None, state_url: str, ruleset_path: str | None, zone_name: str | None, at: str | None, fmt: str
) -> int | None:
    """List the notifications not delivered yet: pending, failed (retried with backoff) and
    dead letters, by next attempt.  ``outbox retry`` re-queues dead letters."""
    if ctx.invoked_subcommand is not None:
        return None
    from ..state.store import Store

    zone = view_zone(zone_name, ruleset_path)
    if zone is None:
        return EXIT_INVALID
    now = parse_instant(at, "--at")
    with Store(state_url) as store:
        entries = store.outbox_by_status(_WHICH[which], limit=limit)
    if fmt == "json":
        _dump({"at": when(now), "status": list(_WHICH[which]), "notifications": [_outbox_json(entry) for entry in entries]})
        return EXIT_OK
    rows = []
    for entry in entries:
        due = "-" if entry.status == "dead" else local_time(entry.next_attempt_at, zone) + (" (due)" if entry.next_attempt_at <= now else "")
        rows.append([entry.key, entry.kind, entry.status, entry.ticket_id or "-", _receivers(entry), str(entry.attempts), entry.last_error or "-", due])
    shown = " or ".join(_WHICH[which])
    title = f"{len(rows)} notification{'s' if len(rows) != 1 else ''} {shown} at {local_time(now, zone)} {zone_label(zone)}"
    columns = ("key", "kind", "status", "ticket", "receivers", "attempts", "last error", "next attempt")
    print_view(title, columns, rows, f"no notifications {shown}")
    return EXIT_OK


@outbox.command("retry")
@click.argument("keys", nargs=-1)
@click.option("--all-dead", is_flag=True, help="Re-queue every dead letter.")
@click.option("--by", default="", help="Who re-queues them (kept in the audit log).")
@state_option
@_AT
def retry(keys: tuple[str, ...], all_dead: bool, by: str, state_url: str, at: str | None) -> int:
    """Re-queue dead letters KEYS (or --all-dead): each becomes pending, due now, with its
    attempts reset, and the receivers it already reached are skipped.  The next run
    delivers them.  Exit 1 if a KEY is not a dead letter."""
    from ..state.store import Store

    if bool(keys) == all_dead:
        raise click.UsageError("give KEY… or --all-dead")
    now = parse_instant(at, "--at")
    with Store(state_url) as store:
        requeued = store.requeue_dead(None if all_dead else list(keys), now, by=by)
        missing = [key for key in keys if key not in {entry.key for entry in requeued}]
        known = store.outbox_statuses(missing)
    for entry in requeued:
        click.echo(f"re-queued {entry.key} (dead after {entry.attempts} attempts: {entry.last_error or '-'})")
    for key in missing:
        status = known.get(key)
        click.echo(f"error: {key}: " + (f"not a dead letter (status {status})" if status else "no such notification in the outbox"), err=True)
    if all_dead and not requeued:
        click.echo("no dead letters")
    return EXIT_INVALID if missing else EXIT_OK
