"""``spm-rules explain TICKET``: why one ticket stands where it does, for a person (plain
text in sections, times in the ruleset's timezone) or for tools (``--format json``).

The sections: the ticket and its assignment, each policy's clock (intervals, pauses cut,
the calendar's windows, holidays, make-up days, days off, DST changes, each level's
threshold and instant), every rule with each test's verdict and the value it saw, what a
run at this instant would record, and what would be sent to whom after routing,
grouping, silences, inhibition and active hours.  With ``--state``, the stored
escalations and notifications too: what was already sent, when, and when the next repeat
is due.  Nothing is sent and nothing is written.
"""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Iterator
from zoneinfo import ZoneInfo

import click

from ..durations import format_duration
from . import EXIT_INVALID, EXIT_OK, cli
from .common import build_engine, encoding_option, load_or_report, matcher_option, parse_instant

if TYPE_CHECKING:
    from ..clock.calendar import CalendarExplanation
    from ..explain import NotificationExplanation, PolicyExplanation, RuleExplanation, StoredState, TicketExplanation
    from ..ruleset.conditions import Trace

__all__ = ["explain", "explanation_lines"]

#: Calendar windows listed one by one for a stretch of clock (more are summarised).
WINDOWS_LISTED = 12


@cli.command()
@click.argument("ticket_id", metavar="TICKET")
@click.option("--ruleset", "ruleset_path", required=True, type=click.Path(dir_okay=False), help="The ruleset YAML file.")
@click.option("--tickets", "tickets_path", required=True, help="Tickets: JSONL, JSON array or CSV file, or - for standard input.")
@click.option("--at", "at", default=None, help="Explain at this ISO 8601 instant instead of now.")
@click.option("--state", "state_url", envvar="SPM_RULES_STATE", default=None, help="State database URL: compare with what runs recorded (env SPM_RULES_STATE).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@matcher_option
@encoding_option
def explain(ticket_id: str, ruleset_path: str, tickets_path: str, at: str | None, state_url: str | None, fmt: str, matcher: str, encoding: str) -> int:
    """Explain TICKET: its SLA clocks, every rule's verdict, its assignment and what would be
    sent to whom now (nothing is sent).  Exit 1 if the ticket is not found."""
    from ..alerting import AlertPipeline
    from ..explain import StoredState, explain_ticket
    from ..sources.files import TicketReader
    from ..tickets import Ticket
    from .render import print_problems

    ruleset = load_or_report(ruleset_path)
    if ruleset is None:
        return EXIT_INVALID
    now = parse_instant(at, "--at", ruleset.ticket_timezone)
    reader = TicketReader(tickets_path, encoding=encoding, ruleset=ruleset)
    found: Ticket | None = None
    for ticket in reader:
        if ticket.id == ticket_id:
            found = ticket  # the last row wins, as in a run
    state: StoredState | None = None
    pipeline: AlertPipeline
    note = None
    with ExitStack() as stack:
        dispatch_state = None
        if state_url is not None:
            from ..dispatch.claims import StoreDispatchState
            from ..run import active_alert_labels
            from ..state.store import Store

            store = stack.enter_context(Store(state_url))
            stored = store.ticket(ticket_id)
            state = StoredState(stored, tuple(store.escalations_of(ticket_id)), tuple(store.outbox_entries(ticket_id)))
            if found is None and stored is not None and stored.facts is not None:
                found = Ticket.model_validate(stored.facts)
                note = f"{ticket_id} is not in {tickets_path}: explained as the state last saw it ({store.masked_url})"
            pipeline = AlertPipeline(ruleset, silences=store.active_silences(now), active_alerts=active_alert_labels(store)(now))
            dispatch_state = StoreDispatchState(store, ruleset, now) if ruleset.providers else None
            where = store.masked_url
        else:
            pipeline = AlertPipeline(ruleset)
            where = None
        if found is None:
            print_problems(problem for problem in reader.problems if problem.ticket_id == ticket_id)
            click.echo(f"error: ticket {ticket_id} is not in {tickets_path}" + (" nor in the state" if state_url else ""), err=True)
            return EXIT_INVALID
        if note:
            click.echo(f"note: {note}", err=True)
        # The assignment as the runs made it: the store's loads and the ticket's standing provider.
        explanation = explain_ticket(build_engine(ruleset, matcher), found, now, pipeline=pipeline, state=state, dispatch_state=dispatch_state)
    if fmt == "json":
        json.dump(explanation.to_json() | {"state_url": where}, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    zone = ZoneInfo(ruleset.ticket_timezone) if ruleset.ticket_timezone else timezone.utc
    for line in explanation_lines(explanation, zone, where):
        click.echo(line)
    return EXIT_OK


# --------------------------------------------------------------------------- text


def explanation_lines(explanation: "TicketExplanation", zone: ZoneInfo | timezone, state_url: str | None = None) -> Iterator[str]:
    """The explanation as text for a person, section by section, times in ``zone``."""
    show = _Clock(zone)
    result = explanation.result
    ticket = result.ticket
    zone_name = zone.key if isinstance(zone, ZoneInfo) else "UTC"
    yield f"{ticket.id} at {show(explanation.now)} ({zone_name}), ruleset {explanation.ruleset}"
    facts = [f"tier {ticket.tier}", f"stage {ticket.stage or '-'}", f"status {ticket.status}"] + ([f"region {ticket.region}"] if ticket.region else [])
    yield from _pairs([("ticket", ", ".join(facts))], indent=2)
    yield from _assignment(explanation)
    if explanation.terminal:
        yield ""
        yield f"Status {ticket.status!r} is terminal: the ticket has left the loop (no clock, no rules); a run closes its open escalations."

    yield ""
    yield "SLA CLOCKS"
    for policy in explanation.policies:
        yield from _policy(policy, show)

    if explanation.rules:
        yield ""
        yield "RULES  (route rules see the ticket as reported, the others with the assigned provider)"
        for rule in explanation.rules:
            yield from _rule(rule)

    yield ""
    basis = "against the stored state" if explanation.state is not None and explanation.state.ticket is not None else "as for a new ticket: a first run"
    yield f"A RUN NOW WOULD RECORD  ({basis})"
    if not explanation.transitions:
        yield "  nothing" + (": the state already says all this" if explanation.state is not None and explanation.state.ticket is not None else "")
    for entry in explanation.transitions:
        scope = " ".join(part for part in (f"{entry.policy}/{entry.level}" if entry.policy else "", f"[{entry.rule}]" if entry.rule else "") if part)
        yield f"  {entry.kind:<10} " + (f"{scope}: " if scope else "") + entry.detail

    yield ""
    yield "NOTIFICATIONS  (routing, silences, inhibition, active hours and grouping as delivery would apply them now; nothing is sent)"
    if not explanation.notifications:
        yield "  none to send now"
    for item in explanation.notifications:
        yield from _notification(item, show)

    yield ""
    yield from _state(explanation.state, state_url, show)


class _Clock:
    """Times as a person reads them: weekday, date and minute in the ruleset's zone."""

    def __init__(self, zone: ZoneInfo | timezone) -> None:
        self.zone = zone

    def __call__(self, value: datetime | None, *, day: bool = True) -> str:
        if value is None:
            return "-"
        local = value.astimezone(self.zone)
        return local.strftime("%a %Y-%m-%d %H:%M" if day else "%H:%M")

    def weekday_date(self, value: date) -> str:
        """A calendar date with its weekday."""
        return value.strftime("%a %Y-%m-%d")

    def span(self, start: datetime, end: datetime | None) -> str:
        """From ``start`` to ``end`` (None: still running), the end's date left out when it is the start's."""
        if end is None:
            return f"{self(start)} → now"
        same_day = start.astimezone(self.zone).date() == end.astimezone(self.zone).date()
        return f"{self(start)} → {self(end, day=not same_day)}"


def _pairs(pairs: list[tuple[str, str]], indent: int, width: int = 12) -> Iterator[str]:
    """Label and text lines, the texts aligned after the labels."""
    for label, text in pairs:
        yield f"{' ' * indent}{label:<{width}} {text}"


def _assignment(explanation: "TicketExplanation") -> Iterator[str]:
    """The provider line: as reported, or assigned by which rule; route conflicts."""
    result = explanation.result
    reported, assigned = result.provider_reported, result.ticket.provider
    if result.route is None:
        text = f"{assigned or 'none'} (as reported; no route rule fired)"
    elif reported == assigned:
        text = f"{assigned} (as reported; rule {result.route.rule!r} routes there too)"
    else:
        text = f"{assigned} (routed by rule {result.route.rule!r}; reported: {reported or 'none'})"
    yield from _pairs([("provider", text)], indent=2)
    for conflict in result.route_conflicts:
        yield from _pairs([("conflict", conflict.describe())], indent=2)


def _policy(policy: "PolicyExplanation", show: _Clock) -> Iterator[str]:
    """One policy's section: applies_to, target, intervals, pauses, what the calendar counted, levels."""
    clock = policy.clock
    if clock is None:
        yield f"  {policy.policy}: no clock: {policy.no_clock}"
        if policy.applies_to is not None and not policy.applies:
            yield from _trace_lines(policy.applies_to, 6)
        return
    status = clock.status
    measured = "end to end, from creation" if policy.clock_kind == "created" else f"stage {status.stage!r}"
    yield f"  {policy.policy}: {measured}, tier {status.tier}, calendar {status.calendar}"
    target = format_duration(status.target, days=False)
    if clock.working_days_close is not None:
        target = f"{clock.target_written} = {target} of business time, to the close of {show(clock.working_days_close)}"
    pairs = [("target", target)]
    if len(clock.intervals) == 1:
        start, end = clock.intervals[0]
        pairs.append(("clock runs", show.span(start, end)))
    else:
        for index, (start, end) in enumerate(clock.intervals, 1):
            pairs.append(("clock runs" if index == 1 else "", f"visit {index}: {show.span(start, end)}" + (" (reopen: continue)" if index == 1 else "")))
    for pause in clock.pauses:
        pairs.append(("paused", f"{pause.status} {show.span(pause.start, pause.end)}: cut out" + ("" if pause.end else " (still paused)")))
    yield from _pairs(pairs, indent=4)
    for index, stretch in enumerate(clock.stretches):
        yield from _pairs([("counted" if index == 0 else "", f"{show.span(stretch.start, stretch.end)}: {format_duration(stretch.total, days=False)} in {len(stretch.windows)} window{'s' if len(stretch.windows) != 1 else ''}")], indent=4)
        yield from _calendar_lines(stretch, show)
    share = 100 * status.elapsed / status.target if status.target else 100.0
    over = f", {format_duration(-status.remaining, days=False)} over" if status.remaining < timedelta(0) else f", {format_duration(status.remaining, days=False)} left"
    pairs = [("elapsed", f"{format_duration(status.elapsed, days=False)} of {format_duration(status.target, days=False)} ({share:.0f}%){over}" + (" (paused now)" if status.paused else ""))]
    width = max((len(level.name) for level in clock.levels), default=0)
    for index, level in enumerate(clock.levels):
        when = ("reached " if level.reached else "due     ") + (show(level.at) if level.at is not None else "when the clock resumes")
        pairs.append(("levels" if index == 0 else "", f"{level.name:<{width}}  at {format_duration(level.threshold, days=False):<8} {when}"))
    upcoming = f"at {show(status.next_change_at)}" if status.next_change_at is not None else "when the clock resumes"
    now = f"{status.level or 'below the first level'}" + (f"; next: {status.next_level} {upcoming}" if status.next_level else "")
    pairs.append(("level now", now))
    pairs.append(("due", show(status.due_at) if status.due_at else "when the clock resumes"))
    yield from _pairs(pairs, indent=4)


def _calendar_lines(stretch: "CalendarExplanation", show: _Clock) -> Iterator[str]:
    """What the calendar counted in one stretch: windows (a dozen at most), holidays, make-up days, days off, DST changes."""
    pad = " " * 19
    windows = list(stretch.windows)
    listed = windows if len(windows) <= WINDOWS_LISTED else windows[: WINDOWS_LISTED // 2] + [None] + windows[-WINDOWS_LISTED // 2 :]
    if stretch.calendar != "24x7":
        for window in listed:
            if window is None:
                yield f"{pad}… {len(windows) - WINDOWS_LISTED} more windows …"
                continue
            made = "  (make-up working day)" if window.make_up else ""
            yield f"{pad}{show.weekday_date(window.day)}  {show(window.start, day=False)}-{show(window.end, day=False)}  {format_duration(window.duration)}{made}"
    if stretch.holidays_skipped:
        yield f"{pad}holidays skipped: {', '.join(show.weekday_date(day) for day in stretch.holidays_skipped)}"
    if stretch.make_up_days:
        yield f"{pad}make-up working days counted: {', '.join(show.weekday_date(day) for day in stretch.make_up_days)}"
    if stretch.days_off:
        yield f"{pad}days off (no working hours): {', '.join(show.weekday_date(day) for day in stretch.days_off)}"
    for change in stretch.dst_transitions:
        yield f"{pad}clocks changed at {show(change.at)}: UTC{_offset(change.offset_before)} → UTC{_offset(change.offset_after)}"


def _offset(value: timedelta) -> str:
    """A UTC offset as +08:00."""
    minutes = int(value.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _rule(rule: "RuleExplanation") -> Iterator[str]:
    """One rule's verdict, decisions and condition trees (one per fact it saw)."""
    from ..engine import describe_action

    if not rule.enabled:
        yield f"  {rule.rule}: disabled"
        return
    verdict = "FIRED" if rule.fired else "did not fire"
    decisions = "; ".join(dict.fromkeys(describe_action(d.action, d.arguments) for d in rule.decisions))
    yield f"  {rule.rule}: {verdict}" + (f" → {decisions}" if decisions else "")
    for evaluation in rule.evaluations:
        on = f"on {evaluation.policy}: " if evaluation.policy else ""
        if evaluation.condition is None:
            yield f"      {on}no condition: always holds"
            continue
        if len(rule.evaluations) > 1:
            yield f"      {on}{'holds' if evaluation.held else 'does not hold'}"
        yield from _trace_lines(evaluation.condition, 8 if len(rule.evaluations) > 1 else 6)


def _trace_lines(node: "Trace", indent: int) -> Iterator[str]:
    """A condition's verdict as an indented tree, one test a line with the value it saw."""
    rows = [("  " * depth + text, seen, held) for depth, text, seen, held in _trace_rows(node, 0)]
    width = max(len(text) for text, _, _ in rows)
    seen_width = max(len(seen) for _, seen, _ in rows)
    for text, seen, held in rows:
        yield f"{' ' * indent}{text:<{width}}  {seen:<{seen_width}}  {'yes' if held else 'no'}"


def _trace_rows(node: "Trace", depth: int) -> Iterator[tuple[int, str, str, bool]]:
    """(depth, text, value seen, verdict) of each node of a trace, depth first."""
    if node.kind == "test":
        seen = "missing" if node.seen is None else repr(_readable(node.field, node.seen))
        yield depth, node.text, f"saw {seen}", node.held
        return
    yield depth, {"all": "all of:", "any": "any of:", "not": "not:"}[node.kind], "", node.held
    for item in node.items:
        yield from _trace_rows(item, depth + 1)


def _readable(field: str | None, value: Any) -> Any:
    """Durations the fact holds in seconds, as written in rulesets (``sla.elapsed`` 5400 → 1h30m)."""
    from ..ruleset.conditions import DURATION_FIELDS

    if field in DURATION_FIELDS and isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_duration(timedelta(seconds=value))
    return value


def _notification(item: "NotificationExplanation", show: _Clock) -> Iterator[str]:
    """One notification: its receivers after routing, then what settles it or the messages it joins."""
    note, outcome = item.notification, item.outcome
    named = ", ".join(note.receivers) or "none (the routing tree decides)"
    yield f"  {note.key}  ({note.kind}; the rule names {named})"
    for target in item.targets:
        group_by = ", ".join(target.settings.group_by) or "-"
        yield f"      → {target.receiver:<18} via {target.path} (group_by: {group_by})"
    if outcome is not None and outcome.status == "held" and outcome.retry_at is not None:
        detail = outcome.detail.removeprefix("held: ").replace(f" until {outcome.retry_at.isoformat()}", "")
        yield f"      HELD until {show(outcome.retry_at)}: {detail}"
    elif outcome is not None:
        yield f"      {outcome.status.upper()}: {outcome.detail}" + (f" (retry at {show(outcome.retry_at)})" if outcome.retry_at else "")
    for message in item.messages:
        group = ", ".join(f"{k}={v}" for k, v in message.group.items())
        yield f"      message to {message.receiver}: {message.title!r}" + (f"  (group {group})" if group else "")
    if item.held_until is not None:
        yield f"      held for {', '.join(item.held_for)} until {show(item.held_until)} (outside their active hours)"


def _state(state: "StoredState | None", state_url: str | None, show: _Clock) -> Iterator[str]:
    """What the store keeps of the ticket: last seen, escalations, outbox rows."""
    if state is None:
        yield "STATE  not given (--state URL): the notifications above are what a first run would send"
        return
    yield f"STATE  ({state_url})"
    stored = state.ticket
    if stored is None or stored.is_new:
        yield "  no run has seen this ticket yet"
        return
    levels = ", ".join(f"{policy}={level or 'ok'}" for policy, level in sorted(stored.levels.items())) or "none"
    yield from _pairs([("last seen", f"{show(stored.last_seen_at)}; levels {levels}; provider {stored.assigned_provider or 'none'}")], indent=2)
    for esc in state.escalations:
        if esc.is_open:
            status = f"open since {show(esc.opened_at)}"
        else:
            status = f"closed {show(esc.closed_at)} (opened {show(esc.opened_at)})"
        parts = [status]
        if esc.acknowledged_at is not None:
            parts.append(f"acknowledged {show(esc.acknowledged_at)}" + (f" by {esc.acknowledged_by}" if esc.acknowledged_by else ""))
        sent = f"last sent {show(esc.last_notified_at)}" if esc.last_notified_at is not None else "none sent yet"
        parts.append(f"{esc.occurrences} notification{'s' if esc.occurrences != 1 else ''}, {sent}" + (f" (reached {', '.join(esc.notified_to)})" if esc.notified_to else ""))
        if esc.is_open:
            if esc.next_repeat_at is not None:
                parts.append(f"next repeat due {show(esc.next_repeat_at)} (every {format_duration(esc.repeat_every)})" if esc.repeat_every else "")
            elif esc.pending_key is not None:
                parts.append(f"{esc.pending_key} in flight")
            elif esc.repeat_every is None:
                parts.append("no repeat")
        yield from _pairs([("escalation", f"{esc.policy}/{esc.level}: " + "; ".join(part for part in parts if part))], indent=2)
    for entry in state.outbox:
        if entry.status == "sent":
            what = f"sent {show(entry.sent_at)} to {', '.join(entry.delivered_to) or '-'}"
        elif entry.status == "pending" and entry.attempts == 0:
            what = f"pending, not attempted yet (due {show(entry.next_attempt_at)})"
        elif entry.status in ("pending", "failed"):
            what = f"{entry.status} after {entry.attempts} attempt{'s' if entry.attempts != 1 else ''}, next attempt {show(entry.next_attempt_at)}" + (f": {entry.last_error}" if entry.last_error else "")
        else:
            what = f"{entry.status} {show(entry.done_at)}" + (f": {entry.last_error}" if entry.last_error else "")
        yield from _pairs([("notified", f"{entry.key} ({entry.kind}, queued {show(entry.created_at)}): {what}")], indent=2)
