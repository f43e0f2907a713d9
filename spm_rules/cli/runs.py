"""``spm-rules run``, ``ack``, ``history``, ``schedule`` and ``prune``: the stateful commands cron runs.

``run`` evaluates tickets against the stored state and acts only on what changed; the
state URL comes from ``--state`` or ``SPM_RULES_STATE`` (default: ``spm-state.db`` in the
working directory, created with mode 0600).  On SQLite a run holds the run lock: an
overlapping run waits up to ``--lock-timeout`` seconds, then exits 1 with a message
naming the holder.  On PostgreSQL several workers (``--worker K/N``) share the load.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any, Sequence
from zoneinfo import ZoneInfo

import click

from ..logs import setup_logging
from ..metrics import run_metrics, write_metrics
from . import EXIT_INVALID, EXIT_OK, EXIT_PARTIAL, EXIT_UNDELIVERED, cli
from .common import JsonStream, build_engine, encoding_option, load_or_report, matcher_option, open_tickets, parse_instant, query_option, state_option, tickets_option

if TYPE_CHECKING:
    from rich.progress import Progress

    from ..ruleset.schema import Ruleset
    from ..run import RunReport
    from ..state.records import Transition
    from ..state.store import Lease, Store

__all__ = ["run_command", "ack", "history", "schedule", "prune", "RunProgress", "StopSignals"]

#: A run shows a progress bar only once it has taken this long (seconds).
PROGRESS_AFTER = 2.0
#: Transitions listed by name in the table summary (all of them are in --format json).
SUMMARY_LINES = 15

class StopSignals:
    """SIGTERM and SIGINT asked for during a run: the run stops at its next batch boundary
    with everything before it committed (``run(stop=…)`` asks ``requested``).

    A second signal of the same kind is not waited for: the default action ends the
    process at once (what is committed stays committed; what is not was never written).
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __call__(self) -> bool:
        return self.received is not None

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.received is not None:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.received = signum
        click.echo(f"spm-rules run: {signal.Signals(signum).name} received, stopping at the next batch boundary…", err=True)

    def __enter__(self) -> "StopSignals":
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as a shell reports a process the signal ended (143, 130)."""
        assert self.received is not None
        return 128 + self.received


class RunProgress:
    """A progress bar on standard error for runs that take a while; silent when disabled."""

    def __init__(self, enabled: bool, after: float = PROGRESS_AFTER) -> None:
        self.enabled = enabled
        self.after = after
        self.started = time.monotonic()
        self.bar: Progress | None = None
        self.task: Any = None

    def __call__(self, count: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.monotonic() - self.started < self.after:
                return
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            from .render import stderr

            self.bar = Progress(SpinnerColumn(), TextColumn("evaluating"), BarColumn(), TextColumn("{task.completed} tickets"), TimeElapsedColumn(), console=stderr, transient=True)
            self.bar.start()
            self.task = self.bar.add_task("run", total=None)
        self.bar.update(self.task, completed=count)

    def close(self) -> None:
        """Remove the bar from the terminal."""
        if self.bar is not None:
            self.bar.stop()


def _local(value: datetime | None, zone: ZoneInfo | timezone) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def _stream(document: JsonStream, kinds: Sequence[str], entries: Sequence[Transition]) -> None:
    """Write a batch's ticket transitions into the document's ``transitions`` array."""
    for entry in entries:
        if entry.kind in kinds:
            document.item(entry.to_json())


class _Listed:
    """The transitions a person reads in the table summary: the first few of the kinds
    listed there, and how many of those kinds there were (the run keeps no more)."""

    KINDS = ("entered", "left", "routed", "escalated", "closed", "reopened")

    def __init__(self) -> None:
        self.first: list[Transition] = []
        self.count = 0

    def __call__(self, entries: Sequence[Transition]) -> None:
        for entry in entries:
            if entry.kind in self.KINDS:
                self.count += 1
                if len(self.first) < SUMMARY_LINES:
                    self.first.append(entry)


def _summary(report: RunReport, ruleset: Ruleset, store: Store, warned: int, listed: _Listed) -> None:
    from rich.table import Table

    from .render import stdout

    zone = ZoneInfo(ruleset.ticket_timezone) if ruleset.ticket_timezone else timezone.utc
    title = f"{ruleset.name} run at {report.now.astimezone(zone).isoformat(timespec='minutes')}"
    if report.worker.count > 1:
        title += f" (worker {report.worker})"
    stdout.print(f"[bold]{title}[/bold]  state {store.masked_url}")
    tickets = f"tickets: {report.evaluated} evaluated" + (f" ({report.unchanged} unchanged, left alone)" if report.unchanged else "")
    if report.rejected:
        tickets += f", [red]{report.rejected} rejected[/red]"
    if warned:
        tickets += f", [yellow]{warned} with warnings[/yellow]"
    if report.other_workers:
        tickets += f", {report.other_workers} for other workers"
    if report.locked_elsewhere:
        tickets += f", {report.locked_elsewhere} held by another worker"
    if report.missing_closed:
        tickets += f", [yellow]{report.missing_closed} closed after missing from the tickets (retention.missing_tickets)[/yellow]"
    if report.stale:
        tickets += f", [yellow]{report.stale} already processed at a later instant (left alone)[/yellow]"
    stdout.print(tickets)
    if report.route_conflicts:
        count = len({ticket for ticket, _ in report.route_conflicts})
        stdout.print(f"[yellow]route conflicts: {count} ticket{'s' if count != 1 else ''} (the first route rule in the ruleset won)[/yellow]")
        for ticket_id, conflict in report.route_conflicts[:SUMMARY_LINES]:
            stdout.print(f"  {ticket_id}: {conflict.describe()}", soft_wrap=True, markup=False)
        if len(report.route_conflicts) > SUMMARY_LINES:
            stdout.print(f"  … and {len(report.route_conflicts) - SUMMARY_LINES} more (see --format json)")

    levels = Table(title="levels now", title_justify="left")
    for column in ("policy", "level", "tickets"):
        levels.add_column(column)
    for (policy, level), count in sorted(report.levels.items()):
        levels.add_row(policy, level, str(count))
    transitions = Table(title="transitions this run", title_justify="left")
    for column in ("kind", "count"):
        transitions.add_column(column)
    for kind, count in sorted(report.transition_counts.items()):
        transitions.add_row(kind, str(count))
    stdout.print(levels if report.levels else "levels now: no ticket measured")
    stdout.print(transitions if report.transition_counts else "transitions this run: none")

    for entry in listed.first:
        scope = f" {entry.policy}/{entry.level}" if entry.policy else ""
        stdout.print(f"  {entry.kind:<9} {entry.ticket_id}{scope}: {entry.detail}", soft_wrap=True, markup=False)
    if listed.count > len(listed.first):
        stdout.print(f"  … and {listed.count - len(listed.first)} more (see --format json or spm-rules history TICKET)")

    delivered = ", ".join(f"{count} {result}" for result, count in sorted(report.delivery.items())) or "nothing delivered"
    waiting = store.outbox_counts()
    stdout.print(
        f"notifications: {report.enqueued} enqueued; {delivered}; outbox {waiting.get('pending', 0)} pending, {waiting.get('failed', 0)} retrying, {waiting.get('dead', 0)} dead",
        soft_wrap=True,
    )
    if report.schedules_fired or report.schedules_skipped:
        fired = ", ".join(f"{name} @ {_local(tick, zone)}" for name, tick in report.schedules_fired) or "none"
        stdout.print(f"schedules fired: {fired}" + (f" ({report.schedules_skipped} missed ticks skipped)" if report.schedules_skipped else ""))
    if report.pruned:
        stdout.print("pruned: " + ", ".join(f"{count} {table}" for table, count in report.pruned.items()))


def _deliverer(ruleset: Ruleset, store: Store) -> Any:
    """Alerting's pipeline for the ruleset, with the store's silences and open escalations."""
    from .. import alerting
    from ..run import active_alert_labels

    return alerting.AlertPipeline(ruleset, silences=store.active_silences, active_alerts=active_alert_labels(store))


@cli.command("run")
@click.option("--ruleset", "ruleset_path", required=True, type=click.Path(dir_okay=False), help="The ruleset YAML file.")
@tickets_option(required=False)
@query_option
@click.option("--sweep", "sweep_only", is_flag=True, help="Instead of --tickets: re-evaluate, from the state, only the tickets whose next level or repeat is due (event mode).")
@state_option
@click.option("--at", "at", default=None, help="Run at this ISO 8601 instant instead of now (simulated time).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary (errors and rejected rows are still reported).")
@click.option("--metrics", "metrics_path", type=click.Path(dir_okay=False), default=None, help="Write Prometheus text-format metrics to this file (atomically).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Log events to standard error as text or JSON lines.")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    help="debug: every transition and notification; info (default): the run and schedules; warning with --quiet.",
)
@click.option("--worker", "worker_text", default="1/1", show_default=True, help="This worker's share K/N of the tickets (PostgreSQL state).")
@click.option("--lock-timeout", type=float, default=60.0, show_default=True, help="Seconds to wait for another run's lock and the database's write lock (SQLite state).")
@click.option("--deliver/--no-deliver", default=True, show_default=True, help="Deliver due notifications (or leave them pending in the outbox).")
@click.option("--full", is_flag=True, help="Evaluate every ticket, not only those new, changed or due (same result, more work).")
@matcher_option
@encoding_option
def run_command(
    ruleset_path: str,
    tickets_path: str | None,
    query: str | None,
    sweep_only: bool,
    state_url: str,
    at: str | None,
    fmt: str,
    quiet: bool,
    metrics_path: str | None,
    log_format: str,
    log_level: str | None,
    worker_text: str,
    lock_timeout: float,
    deliver: bool,
    full: bool,
    matcher: str,
    encoding: str,
) -> int:
    """Evaluate tickets against the stored state; record and notify only what changed.  Exit 3 if
    some tickets were rejected, or read with a warning (a tier, stage or pause the ruleset cannot measure);
    exit 4 (before 3) if a notification could not be delivered (it is retried, or dead-lettered).
    With --sweep the tickets come from the state: those whose time has come (docs/integration.md)."""
    from ..errors import TicketProblem
    from ..events import sweep
    from ..run import STATE_KINDS, WorkerSlot, run
    from ..state.store import Store
    from .render import print_problems, print_warnings, stderr

    if sweep_only == (tickets_path is not None):
        raise click.UsageError("give either --tickets (a full run) or --sweep (the tickets due, from the state)")
    level = log_level.upper() if log_level else ("WARNING" if quiet else "INFO")
    setup_logging("json" if log_format == "json" else "text", level)
    try:
        worker = WorkerSlot.parse(worker_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--worker") from None
    ruleset = load_or_report(ruleset_path)
    if ruleset is None:
        return EXIT_INVALID
    now = parse_instant(at, "--at", ruleset.ticket_timezone)
    engine = build_engine(ruleset, matcher)
    # --lock-timeout bounds both waits: for another run's lease, and each statement's for
    # SQLite's write lock (which no run holds for longer than one batch's writes).
    with Store(state_url, busy_timeout=lock_timeout) as store:
        lease: Lease | None = store.acquire_lease("run", wait=lock_timeout) if store.dialect == "sqlite" else None
        progress = RunProgress(enabled=not quiet and stderr.is_terminal)
        listed = _Listed()
        document = JsonStream(sys.stdout) if fmt == "json" else None
        if document is not None:
            document.fields({"ruleset": ruleset.name, "at": now.isoformat(), "worker": str(worker), "state": store.masked_url})
            document.begin_array("transitions")
        stop = StopSignals()
        try:
            deliverer = _deliverer(ruleset, store) if deliver else None
            sink = listed if document is None else partial(_stream, document, STATE_KINDS)
            problems: list[TicketProblem] = []
            warnings: list[TicketProblem] = []
            if tickets_path is None:
                report = sweep(store, ruleset, now, deliverer, engine=engine, worker=worker, lease=lease, progress=progress, on_transitions=sink)
            else:
                reader = open_tickets(tickets_path, ruleset, encoding=encoding, query=query, since=store.last_run_at())
                with stop:
                    report = run(
                        store, ruleset, reader, now, deliverer, engine=engine, worker=worker, lease=lease, progress=progress, full=full, on_transitions=sink, stop=stop
                    )
                problems, warnings = reader.problems, reader.warnings
        finally:
            progress.close()
            if lease is not None:
                lease.release()
            if document is not None:
                document.end_array()
        report.rejected = len(problems)
        warned = len({warning.row for warning in warnings})
        if metrics_path:
            write_metrics(metrics_path, run_metrics(report, store.escalation_counts(), store.outbox_counts(), warnings))
        if document is not None:
            summary = {key: value for key, value in report.to_json().items() if key not in ("ruleset", "at", "worker", "transitions")}
            summary["tickets"]["with_warnings"] = warned
            document.fields(summary | {"rejected": [problem.__dict__ for problem in problems], "warnings": [warning.__dict__ for warning in warnings]})
            document.close()
        elif not quiet:
            _summary(report, ruleset, store, warned, listed)
    print_problems(problems)
    print_warnings(warnings)
    if report.stopped:
        name = signal.Signals(stop.received or signal.SIGTERM).name
        click.echo(
            f"spm-rules run: stopped by {name} after {report.evaluated} tickets; everything up to there is committed, "
            "the rest (tickets, schedules, retention, pending notifications) is for the next run",
            err=True,
        )
        return stop.exit_code if stop.received is not None else EXIT_INVALID
    if report.undelivered:
        failed, dead = report.delivery.get("failed", 0), report.delivery.get("dead", 0)
        stderr.print(
            f"[red]delivery failed for {report.undelivered} notification{'s' if report.undelivered != 1 else ''}[/red] "
            f"({failed} to retry, {dead} dead-lettered; see spm-rules outbox --failed / --dead)",
            soft_wrap=True,
        )
        return EXIT_UNDELIVERED
    return EXIT_PARTIAL if problems or warnings else EXIT_OK


@cli.command()
@click.argument("ticket")
@state_option
@click.option("--policy", default=None, help="Only this policy's escalations.")
@click.option("--level", default=None, help="Only this level.")
@click.option("--by", "by", default="", help="Who acknowledges (recorded in the audit log).")
@click.option("--at", "at", default=None, help="Record the acknowledgement at this ISO 8601 instant (with offset) instead of now.")
def ack(ticket: str, state_url: str, policy: str | None, level: str | None, by: str, at: str | None) -> int:
    """Acknowledge TICKET's open escalations: their repeats stop (a higher level still notifies)."""
    from ..state.store import Store

    now = parse_instant(at, "--at")
    with Store(state_url) as store:
        acked = store.acknowledge(ticket, now, policy=policy, level=level, by=by)
    if not acked:
        which = "/".join(part for part in (policy, level) if part)
        click.echo(f"error: {ticket} has no open, unacknowledged escalation{' ' + which if which else ''}", err=True)
        return EXIT_INVALID
    for esc in acked:
        click.echo(f"acknowledged {ticket} {esc.policy}/{esc.level} (open since {esc.opened_at.isoformat()})")
    return EXIT_OK


@cli.command()
@click.argument("ticket")
@state_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--timezone", "zone_name", default="UTC", show_default=True, help="Show times in this IANA timezone.")
def history(ticket: str, state_url: str, fmt: str, zone_name: str) -> int:
    """Print TICKET's audit log: every transition and notification, with time, rule and reason.

    Each entry shows when it happened (the ticket's own time for stage changes, closing,
    reopening and creation) and, where that differs, when a run recorded it.
    """
    from ..state.store import Store
    from .render import provider_text, stdout

    try:
        zone = ZoneInfo(zone_name)
    except (KeyError, ValueError):
        raise click.BadParameter(f"unknown IANA timezone {zone_name!r}", param_hint="--timezone") from None
    with Store(state_url) as store:
        state = store.ticket(ticket)
        if state is None:
            click.echo(f"error: no run has seen ticket {ticket} (state {store.masked_url})", err=True)
            return EXIT_INVALID
        records = store.escalations_of(ticket)
        entries = store.history(ticket)
        outbox = {entry.key: entry for entry in store.outbox_entries(ticket)}
    if fmt == "json":
        document = {
            "ticket": ticket,
            "status": state.status,
            "stage": state.stage,
            "provider": state.assigned_provider,
            "provider_reported": state.provider,
            "archived": state.archived,
            "escalations": [
                {
                    "policy": e.policy,
                    "level": e.level,
                    "opened_at": e.opened_at.isoformat(),
                    "closed_at": e.closed_at.isoformat() if e.closed_at else None,
                    "acknowledged_at": e.acknowledged_at.isoformat() if e.acknowledged_at else None,
                    "notified_at": e.notified_at.isoformat() if e.notified_at else None,
                    "last_notified_at": e.last_notified_at.isoformat() if e.last_notified_at else None,
                    "occurrences": e.occurrences,
                }
                for e in records
            ],
            "history": [t.to_json() for t in entries],
            "notifications": {key: entry.status for key, entry in outbox.items()},
        }
        json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    provider = provider_text(state.assigned_provider, state.provider)
    stdout.print(f"[bold]{ticket}[/bold]: status {state.status}, stage {state.stage}, tier {state.tier}, provider {provider}" + (" (archived)" if state.archived else ""))
    if records:
        stdout.print("[bold]escalations[/bold]")
    for e in records:
        state_text = f"closed {_local(e.closed_at, zone)}" if e.closed_at else "open"
        acked = f", acknowledged {_local(e.acknowledged_at, zone)}" if e.acknowledged_at else ""
        stdout.print(
            f"  {e.policy}/{e.level}: opened {_local(e.opened_at, zone)}, {state_text}{acked}, "
            f"{e.occurrences} notification(s), last sent {_local(e.last_notified_at, zone)}",
            soft_wrap=True,
            markup=False,
        )
    stdout.print("[bold]history[/bold]")
    for entry in entries:
        scope = f" {entry.policy}/{entry.level}" if entry.policy else ""
        rule = f" [{entry.rule}]" if entry.rule else ""
        status = f" ({outbox[entry.key].status})" if entry.kind == "notify" and entry.key in outbox else ""
        when, recorded = _local(entry.at, zone), _local(entry.recorded, zone)
        if recorded != when:
            when += f" (recorded {recorded})"
        stdout.print(f"  {when}  {entry.kind:<12}{scope}{rule}: {entry.detail}{status}", soft_wrap=True, markup=False)
    return EXIT_OK


@cli.command()
@click.option("--ruleset", "ruleset_path", required=True, type=click.Path(dir_okay=False), help="The ruleset YAML file.")
@click.option("--next", "count", type=click.IntRange(1, 1000), default=5, show_default=True, help="How many upcoming fire times per schedule.")
@click.option("--at", "at", default=None, help="List fire times after this ISO 8601 instant instead of now.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def schedule(ruleset_path: str, count: int, at: str | None, fmt: str) -> int:
    """List the next fire times of the ruleset's schedules (in each schedule's timezone and UTC)."""
    from rich.table import Table

    from ..schedules import next_ticks
    from .render import stdout

    ruleset = load_or_report(ruleset_path)
    if ruleset is None:
        return EXIT_INVALID
    now = parse_instant(at, "--at", ruleset.ticket_timezone)
    upcoming = [(spec, next_ticks(spec, now, count)) for spec in ruleset.schedules]
    if fmt == "json":
        document = {
            "at": now.isoformat(),
            "schedules": [
                {"name": spec.name, "cron": spec.cron, "timezone": spec.timezone, "action": spec.action, "next": [tick.astimezone(spec.zone).isoformat() for tick in ticks]}
                for spec, ticks in upcoming
            ],
        }
        json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    if not upcoming:
        click.echo(f"{ruleset_path}: no schedules declared")
        return EXIT_OK
    table = Table(title=f"next {count} fire times after {now.isoformat(timespec='minutes')}", title_justify="left")
    for column in ("schedule", "action", "cron", "local time", "UTC"):
        table.add_column(column)
    for spec, ticks in upcoming:
        for index, tick in enumerate(ticks):
            first = index == 0
            table.add_row(
                spec.name if first else "",
                spec.action if first else "",
                f"{spec.cron} ({spec.timezone})" if first else "",
                tick.astimezone(spec.zone).strftime("%a %Y-%m-%d %H:%M %Z"),
                tick.strftime("%Y-%m-%d %H:%MZ"),
            )
    stdout.print(table)
    return EXIT_OK


@cli.command()
@click.option("--ruleset", "ruleset_path", required=True, type=click.Path(dir_okay=False), help="The ruleset whose retention: applies.")
@state_option
@click.option("--at", "at", default=None, help="Prune as of this ISO 8601 instant instead of now.")
def prune(ruleset_path: str, state_url: str, at: str | None) -> int:
    """Delete what the ruleset's retention no longer keeps (archived tickets, old notifications, old audit)."""
    from ..state.store import Store

    ruleset = load_or_report(ruleset_path)
    if ruleset is None:
        return EXIT_INVALID
    retention = ruleset.retention
    if not retention.declared:
        click.echo(f"error: {ruleset_path} declares no retention: (closed_tickets, notifications, audit)", err=True)
        return EXIT_INVALID
    now = parse_instant(at, "--at", ruleset.ticket_timezone)
    with Store(state_url) as store:
        deleted = store.prune(now, closed_tickets=retention.closed_tickets, notifications=retention.notifications, audit=retention.audit)
    click.echo("pruned: " + (", ".join(f"{count} {table}" for table, count in deleted.items()) or "nothing"))
    return EXIT_OK
