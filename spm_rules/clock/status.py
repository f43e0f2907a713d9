"""A ticket's SLA status at ``now``: which clock runs, how much time is used, which level.

The clock of a policy runs over *intervals*: the stage clock over the time the ticket
spent in its current stage (the last visit, or every visit when ``reopen: continue``),
the ``created`` clock from creation on.  Time in a pausing status is cut out of those
intervals.  Business time is then counted on the policy's calendar, and each level's
threshold is turned into the instant it is (or will be) reached.

A tier change keeps the time already used and measures it against the new tier's
target: elapsed time belongs to the ticket, the target to its current tier.

A target in working days (``2wd``) becomes business time once the clock's start is
known: the business time from the start to the close of the second working day (see
:meth:`~spm_rules.clock.calendar.Calendar.working_day_close`).  Levels are shares of
that time, and a pause moves the due time by the business time it lasted, as with any
other target.

Pure: ``now`` is a parameter and nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property, partial
from typing import Any, Callable

from ..durations import WorkingDays, format_duration, format_target
from ..ruleset.schema import LevelSpec, PolicySpec, Ruleset
from ..tickets import Ticket
from .calendar import Calendar, CalendarExplanation

__all__ = ["SlaStatus", "Interval", "Pause", "LevelInstant", "ClockDetail", "clock_intervals", "sla_status", "clock_detail", "explain_status", "END_TO_END_STAGE"]

#: The stage name an end-to-end (``clock: created``) status reports.
END_TO_END_STAGE = "resolution"

Interval = tuple[datetime, datetime | None]
"""A stretch of running clock: start, and end (None: still running at ``now``)."""


@dataclass(frozen=True)
class SlaStatus:
    """Where one ticket stands against one policy at one instant, and why."""

    policy: str
    stage: str
    tier: str
    calendar: str
    started_at: datetime
    target: timedelta
    elapsed: timedelta
    remaining: timedelta
    due_at: datetime | None
    level: str | None
    level_rank: int
    next_level: str | None
    next_change_at: datetime | None
    paused: bool
    #: Builds ``explanation`` when it is first read (most statuses are never explained).
    explain: Callable[[], tuple[str, ...]] = field(default=lambda: (), compare=False, repr=False)

    @cached_property
    def explanation(self) -> tuple[str, ...]:
        """How the numbers came about, line by line: the clock, the target, the pauses, the level."""
        return self.explain()

    @property
    def overdue(self) -> bool:
        """The target is used up."""
        return self.elapsed >= self.target

    def fact(self) -> dict[str, Any]:
        """The ``sla.*`` fields rule conditions see (durations in seconds)."""
        target_s = self.target.total_seconds()
        return {
            "sla.policy": self.policy,
            "sla.stage": self.stage,
            "sla.level": self.level,
            "sla.level_rank": self.level_rank,
            "sla.elapsed": self.elapsed.total_seconds(),
            "sla.remaining": self.remaining.total_seconds(),
            "sla.target": target_s,
            "sla.share": round(100 * self.elapsed.total_seconds() / target_s, 3) if target_s else 100.0,
            "sla.paused": self.paused,
            "sla.overdue": self.overdue,
        }

    def to_json(self) -> dict[str, Any]:
        """Plain data for JSON output: times in ISO 8601 UTC, durations in seconds and text."""

        def when(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "policy": self.policy,
            "stage": self.stage,
            "tier": self.tier,
            "calendar": self.calendar,
            "started_at": when(self.started_at),
            "target": format_duration(self.target),
            "target_seconds": self.target.total_seconds(),
            "elapsed": format_duration(self.elapsed),
            "elapsed_seconds": self.elapsed.total_seconds(),
            "remaining": format_duration(self.remaining),
            "remaining_seconds": self.remaining.total_seconds(),
            "due_at": when(self.due_at),
            "level": self.level,
            "level_rank": self.level_rank,
            "next_level": self.next_level,
            "next_change_at": when(self.next_change_at),
            "paused": self.paused,
            "explanation": list(self.explanation),
        }


def _stage_visits(ticket: Ticket, stage: str, now: datetime) -> list[Interval]:
    history = ticket.stage_history
    visits: list[Interval] = []
    for index, entry in enumerate(history):
        if entry.stage != stage or entry.entered_at > now:
            continue
        left = history[index + 1].entered_at if index + 1 < len(history) else None
        visits.append((entry.entered_at, left if left is not None and left <= now else None))
    return visits


def clock_intervals(ticket: Ticket, policy: PolicySpec, now: datetime) -> list[Interval]:
    """The intervals the policy's clock runs for ``ticket`` before pauses are cut out."""
    if policy.clock == "created":
        return [(ticket.created_at, None)] if ticket.created_at <= now else []
    if ticket.stage is None:
        return []
    visits = _stage_visits(ticket, ticket.stage, now)
    if not visits and not ticket.stage_history and ticket.created_at <= now:
        visits = [(ticket.created_at, None)]
    if policy.reopen == "restart":
        visits = visits[-1:]
    return visits


def _pauses(ticket: Ticket, pausing: set[str], now: datetime) -> list[tuple[datetime, datetime | None, str]]:
    history = ticket.status_history
    pauses = []
    for index, entry in enumerate(history):
        if entry.status not in pausing or entry.at > now:
            continue
        end = history[index + 1].at if index + 1 < len(history) else None
        pauses.append((entry.at, end if end is not None and end <= now else None, entry.status))
    return pauses


def _subtract(intervals: list[Interval], pauses: list[tuple[datetime, datetime | None, str]]) -> list[Interval]:
    result = list(intervals)
    for p_start, p_end, _ in pauses:
        cut: list[Interval] = []
        for start, end in result:
            if p_end is not None and p_end <= start or end is not None and end <= p_start:
                cut.append((start, end))
                continue
            if start < p_start:
                cut.append((start, p_start))
            if p_end is not None and (end is None or p_end < end):
                cut.append((p_end, end))
        result = cut
    return result


def _instant_of(calendar: Calendar, running: list[Interval], amount: timedelta) -> datetime | None:
    """When the clock reaches ``amount`` of business time, projecting a running clock forward.

    None when a paused clock has not reached it: when it will depends on the resumption.
    """
    used = timedelta(0)
    for start, end in running:
        if end is None:
            return calendar.add(start, amount - used)
        span = calendar.elapsed(start, end)
        if used + span >= amount:
            return calendar.add(start, amount - used)
        used += span
    return None


#: Per list of levels and target, the levels with their thresholds, kept with the list so
#: that its id is not reused; a fleet has a few targets per policy, so few entries.
_THRESHOLDS: dict[tuple[int, timedelta], tuple[list[LevelSpec], list[tuple[LevelSpec, timedelta]]]] = {}


def _thresholds(policy: PolicySpec, target: timedelta) -> list[tuple[LevelSpec, timedelta]]:
    """The policy's levels in the order this target reaches them (stable: ties keep
    declaration order), computed once per target rather than once per ticket."""
    key = (id(policy.levels), target)
    found = _THRESHOLDS.get(key)
    if found is None or found[0] is not policy.levels:
        if len(_THRESHOLDS) >= 4096:
            _THRESHOLDS.clear()
        found = (policy.levels, sorted(((level, level.threshold(target)) for level in policy.levels), key=lambda pair: pair[1]))
        _THRESHOLDS[key] = found
    return found[1]


def sla_status(
    ticket: Ticket, policy: PolicySpec, ruleset: Ruleset, calendar: Calendar, now: datetime
) -> SlaStatus | None:
    """The ticket's status against ``policy`` at ``now``; None when no target applies.

    No target applies when the policy sets none for the ticket's stage and tier, or the
    clock has not started yet (a stage entered after ``now``).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if now.tzinfo is not timezone.utc:  # the engine passes UTC already
        now = now.astimezone(timezone.utc)
    if policy.clock == "created":
        stage, spec = END_TO_END_STAGE, policy.target
    else:
        stage = ticket.stage or ""
        spec = policy.targets.get(stage)
    written = spec.for_tier(ticket.tier, ruleset.tiers) if spec is not None else None
    intervals = clock_intervals(ticket, policy, now)
    if written is None or not intervals:
        return None
    if isinstance(written, WorkingDays):
        close: datetime | None = calendar.working_day_close(intervals[0][0], written.days)
        target = calendar.elapsed(intervals[0][0], close)
    else:
        close, target = None, written

    pauses = _pauses(ticket, set(ruleset.pausing_statuses), now) if ticket.status_history else []
    running = _subtract(intervals, pauses) if pauses else intervals
    elapsed = timedelta(0)
    for s, e in running:
        elapsed += calendar.elapsed(s, e if e is not None else now)
    paused = not running or running[-1][1] is not None

    current: LevelSpec | None = None
    next_level: LevelSpec | None = None
    current_at: timedelta | None = None
    next_at: timedelta | None = None
    rank = 0
    for level, at in _thresholds(policy, target):
        if elapsed >= at:
            current, current_at, rank = level, at, rank + 1
        elif next_level is None:
            next_level, next_at = level, at

    return SlaStatus(
        policy=policy.name,
        stage=stage,
        tier=ticket.tier,
        calendar=calendar.name,
        started_at=intervals[0][0],
        target=target,
        elapsed=elapsed,
        remaining=target - elapsed,
        due_at=_instant_of(calendar, running, target),
        level=current.name if current else None,
        level_rank=rank,
        next_level=next_level.name if next_level else None,
        next_change_at=_instant_of(calendar, running, next_at) if next_at is not None else None,
        paused=paused,
        explain=partial(_explanation, ticket, policy, calendar, now, stage, written, close, target, intervals, pauses, elapsed, current, current_at),
    )


def _explanation(
    ticket: Ticket,
    policy: PolicySpec,
    calendar: Calendar,
    now: datetime,
    stage: str,
    written: timedelta | WorkingDays,
    close: datetime | None,
    target: timedelta,
    intervals: list[Interval],
    pauses: list[tuple[datetime, datetime | None, str]],
    elapsed: timedelta,
    current: LevelSpec | None,
    current_at: timedelta | None,
) -> tuple[str, ...]:
    """The lines of :attr:`SlaStatus.explanation`, from what :func:`sla_status` measured
    (bound to it there, and built only when read)."""
    measured = f"target {format_target(written)} for tier {ticket.tier!r} on calendar {calendar.name!r}"
    if close is not None:
        measured += f": {format_duration(target, days=False)} of business time, to {close.isoformat()}"
    lines = [
        f"clock: {'from creation' if policy.clock == 'created' else f'stage {stage!r}'}, started {intervals[0][0].isoformat()}"
        + (f", {len(intervals)} visits counted (reopen: continue)" if len(intervals) > 1 else ""),
        measured,
    ]
    for p_start, p_end, status in pauses:
        if any(s < (p_end or now) and (e or now) > p_start for s, e in intervals):
            lines.append(f"paused in {status!r} from {p_start.isoformat()}" + (f" to {p_end.isoformat()}" if p_end else " (still paused)"))
    lines.append(
        f"elapsed {format_duration(elapsed)} of business time"
        + (f", level {current.name!r} reached at {format_duration(current_at)}" if current and current_at is not None else ", below the first level")
    )
    return tuple(lines)


@dataclass(frozen=True)
class Pause:
    """A stretch in a pausing status that overlaps the clock's intervals (end None: still paused)."""

    status: str
    start: datetime
    end: datetime | None


@dataclass(frozen=True)
class LevelInstant:
    """One level of a policy for one ticket: the business time it is reached at, and the
    instant (None: a paused clock that has not reached it, so it depends on the resumption)."""

    name: str
    threshold: timedelta
    at: datetime | None
    reached: bool


@dataclass(frozen=True)
class ClockDetail:
    """Everything behind one SLA status, for people (``spm-rules explain``): the intervals
    the clock runs, the pauses cut out of them, per running stretch what the calendar
    counted, the target as written, and each level's threshold and instant."""

    status: SlaStatus
    target_written: str
    working_days_close: datetime | None
    intervals: tuple[Interval, ...]
    pauses: tuple[Pause, ...]
    stretches: tuple[CalendarExplanation, ...]
    levels: tuple[LevelInstant, ...]


def clock_detail(ticket: Ticket, policy: PolicySpec, ruleset: Ruleset, calendar: Calendar, now: datetime) -> ClockDetail | None:
    """The status with everything behind it (None when no target applies).  Walks the
    calendar window by window, so it costs more than :func:`sla_status`: one ticket at a time."""
    status = sla_status(ticket, policy, ruleset, calendar, now)
    if status is None:
        return None
    now = now.astimezone(timezone.utc)
    intervals = clock_intervals(ticket, policy, now)
    pauses = _pauses(ticket, set(ruleset.pausing_statuses), now)
    running = _subtract(intervals, pauses)
    spec = policy.target if policy.clock == "created" else policy.targets[status.stage]
    written = spec.for_tier(ticket.tier, ruleset.tiers) if spec is not None else None
    close = calendar.working_day_close(intervals[0][0], written.days) if isinstance(written, WorkingDays) else None
    thresholds = sorted(((level.name, level.threshold(status.target)) for level in policy.levels), key=lambda pair: pair[1])
    return ClockDetail(
        status=status,
        target_written=format_target(written) if written is not None else format_duration(status.target),
        working_days_close=close,
        intervals=tuple(intervals),
        pauses=tuple(
            Pause(name, start, end) for start, end, name in pauses if any(s < (end or now) and (e or now) > start for s, e in intervals)
        ),
        stretches=tuple(calendar.explain(start, end if end is not None else now) for start, end in running),
        levels=tuple(LevelInstant(name, at, _instant_of(calendar, running, at), status.elapsed >= at) for name, at in thresholds),
    )


def explain_status(ticket: Ticket, policy: PolicySpec, ruleset: Ruleset, calendar: Calendar, now: datetime) -> tuple[str, ...]:
    """The status's explanation plus, per stretch of running clock, what the calendar counted:
    windows, holidays skipped, make-up days used and DST changes crossed.

    Kept apart from :func:`sla_status` because walking the windows costs more than the
    numbers themselves; ``explain`` asks for it one ticket at a time.
    """
    detail = clock_detail(ticket, policy, ruleset, calendar, now)
    if detail is None:
        return (f"policy {policy.name!r} sets no clock for this ticket at {now.isoformat()}",)
    lines = list(detail.status.explanation)
    for stretch in detail.stretches:
        line = f"{stretch.start.isoformat()} to {stretch.end.isoformat()}: {format_duration(stretch.total)} counted in {len(stretch.windows)} window(s)"
        if stretch.holidays_skipped:
            line += f"; holidays skipped: {', '.join(day.isoformat() for day in stretch.holidays_skipped)}"
        if stretch.make_up_days:
            line += f"; make-up working days: {', '.join(day.isoformat() for day in stretch.make_up_days)}"
        for change in stretch.dst_transitions:
            line += f"; clocks changed at {change.at.isoformat()} ({format_duration(change.offset_before)} to {format_duration(change.offset_after)})"
        lines.append(line)
    return tuple(lines)
