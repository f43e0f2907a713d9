"""Scorecards: the figures of the tickets closed in a period, per provider (or any field).

A scorecard judges the service on what the archive holds: which tickets closed in the
period (by their own close time, :func:`~spm_rules.reports.archive.close_time`), how
their stages went against the ruleset's policies, recomputed from each ticket's own
facts with the policy's calendar (so a run that was late or down changes nothing), and
what the runs did about them (escalations, re-routes, acknowledgements).  Every figure
is defined in ``docs/reports.md``; the definitions below are the same, in code.

Two steps, both pure: :class:`Measurer` turns one :class:`ReportTicket` into its
:class:`TicketMeasures`; :func:`aggregate` gathers measures into a :class:`Scorecard`.
:func:`scorecard` reads the period's tickets from a store and does both.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Iterable, Sequence
from zoneinfo import ZoneInfo

from ..clock.status import END_TO_END_STAGE, clock_intervals, sla_status
from ..durations import format_duration
from ..engine import Engine
from ..ruleset.schema import PolicySpec, Ruleset
from ..tickets import Ticket
from .archive import ReportTicket, closed_tickets

if TYPE_CHECKING:
    from ..state.store import Store

__all__ = [
    "AUDIT_KINDS",
    "Durations",
    "Rate",
    "StageMeasure",
    "TicketMeasures",
    "StageFigures",
    "PolicyFigures",
    "AckFigures",
    "GroupFigures",
    "Scorecard",
    "Measurer",
    "aggregate",
    "scorecard",
    "report_zone",
    "group_value",
    "group_name",
    "percent",
    "duration_text",
    "scorecard_csv",
]

#: The audit kinds a scorecard reads: re-routes and reopenings the runs saw.
AUDIT_KINDS = ("routed", "reopened")


def group_name(group: str | None, by: str) -> str:
    """A group as shown: its value, or ``no provider`` (``no <by>``) for tickets without one."""
    return group if group is not None else f"no {by}"


def percent(value: float | None) -> str:
    """A rate (0 to 1) as a person reads it: ``66.7 %``; ``-`` when there is none."""
    return "-" if value is None else f"{100 * value:.1f} %"


def duration_text(value: timedelta | None) -> str:
    """A duration as a person reads it, in hours at most (``26h``, ``2h40m``), to the minute
    from one minute on (``3h37m``, ``45s``); ``-`` when there is none."""
    if value is None:
        return "-"
    if abs(value) >= timedelta(minutes=1):
        value = timedelta(minutes=round(value / timedelta(minutes=1)))
    return format_duration(value, days=False)


def report_zone(ruleset: Ruleset) -> ZoneInfo:
    """The zone dates and times of reports are in: the ruleset's ``ticket_timezone``, else UTC."""
    return ZoneInfo(ruleset.ticket_timezone or "UTC")


@dataclass(frozen=True)
class Durations:
    """Mean, median and 90th percentile of some durations (None when there are none).

    The median of an even count is the mean of the middle two; the 90th percentile is
    the nearest rank: the smallest value at least 90 % of the values do not exceed.
    """

    count: int = 0
    mean: timedelta | None = None
    median: timedelta | None = None
    p90: timedelta | None = None

    @classmethod
    def of(cls, values: Sequence[timedelta]) -> "Durations":
        """The statistics of ``values``."""
        if not values:
            return cls()
        ordered = sorted(values)
        count, middle = len(ordered), len(ordered) // 2
        median = ordered[middle] if count % 2 else (ordered[middle - 1] + ordered[middle]) / 2
        rank = (9 * count + 9) // 10  # ceil(0.9 n), in integers
        return cls(count, sum(ordered, timedelta(0)) / count, median, ordered[rank - 1])

    def to_json(self) -> dict[str, Any]:
        """Seconds (None when there are no values)."""

        def seconds(value: timedelta | None) -> float | None:
            return value.total_seconds() if value is not None else None

        return {"count": self.count, "mean": seconds(self.mean), "median": seconds(self.median), "p90": seconds(self.p90)}


@dataclass(frozen=True)
class Rate:
    """``count`` tickets out of ``of``; ``rate`` is None when ``of`` is 0."""

    count: int = 0
    of: int = 0

    @property
    def rate(self) -> float | None:
        """The share, 0 to 1."""
        return self.count / self.of if self.of else None

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return {"count": self.count, "of": self.of, "rate": self.rate}


@dataclass(frozen=True)
class StageMeasure:
    """One clock of a policy over one closed ticket: a stage (``clock: stage``) or the whole
    ticket (``clock: created``, stage ``resolution``).

    ``business`` is the time the clock counted (the policy's calendar, pauses cut out,
    the visits ``reopen:`` counts); ``wall`` the real time of the same visits, pauses and
    closed hours included; ``levels`` the policy's levels the clock reached.
    """

    policy: str
    stage: str
    end_to_end: bool
    business: timedelta
    wall: timedelta
    target: timedelta
    levels: tuple[str, ...]

    @property
    def on_time(self) -> bool:
        """The stage ended before its due time (a clock that used its whole target is late)."""
        return self.business < self.target


@dataclass(frozen=True)
class TicketMeasures:
    """What one closed ticket contributes to a scorecard."""

    ticket_id: str
    group: str | None
    closed_at: datetime | None
    measured: bool
    stages: tuple[StageMeasure, ...] = ()
    reopened: bool = False
    first_call: bool = False
    escalated: bool = False
    reroutes: int = 0
    acknowledgements: tuple[tuple[str, str, timedelta], ...] = ()

    @property
    def on_time(self) -> bool | None:
        """On time on every clock that measured it (None: no clock did)."""
        return all(stage.on_time for stage in self.stages) if self.stages else None


@dataclass(frozen=True)
class StageFigures:
    """One clock of a policy over a group: on-time rate, times and levels reached."""

    policy: str
    stage: str
    end_to_end: bool
    on_time: Rate
    business: Durations
    wall: Durations
    levels: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        """Plain data (durations in seconds)."""
        return {
            "stage": self.stage,
            "end_to_end": self.end_to_end,
            "on_time": self.on_time.to_json(),
            "business": self.business.to_json(),
            "wall": self.wall.to_json(),
            "levels": dict(self.levels),
        }


@dataclass(frozen=True)
class PolicyFigures:
    """One policy over a group: on time on all its clocks, tickets per level reached, per clock."""

    policy: str
    on_time: Rate
    breaches: dict[str, int]
    stages: tuple[StageFigures, ...]

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return {"policy": self.policy, "on_time": self.on_time.to_json(), "breaches": dict(self.breaches), "stages": [s.to_json() for s in self.stages]}


@dataclass(frozen=True)
class AckFigures:
    """How long escalations of one level waited for an acknowledgement."""

    policy: str
    level: str
    times: Durations

    def to_json(self) -> dict[str, Any]:
        """Plain data (seconds)."""
        return {"policy": self.policy, "level": self.level, **self.times.to_json()}


@dataclass(frozen=True)
class GroupFigures:
    """The figures of one group (or of all tickets: the scorecard's ``total``)."""

    group: str | None
    tickets: int
    unmeasured: int
    on_time: Rate
    policies: tuple[PolicyFigures, ...]
    escalated: int
    reroutes: int
    reopened: Rate
    first_call: Rate | None
    acknowledgements: tuple[AckFigures, ...]

    def policy(self, name: str) -> PolicyFigures | None:
        """The figures of one policy."""
        return next((figures for figures in self.policies if figures.policy == name), None)

    def stage(self, policy: str, stage: str) -> StageFigures | None:
        """The figures of one clock of a policy."""
        found = self.policy(policy)
        return next((figures for figures in found.stages if figures.stage == stage), None) if found else None

    def acknowledgement(self, policy: str, level: str) -> Durations:
        """The acknowledgement times of one level (empty when none)."""
        return next((ack.times for ack in self.acknowledgements if (ack.policy, ack.level) == (policy, level)), Durations())

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "group": self.group,
            "tickets": self.tickets,
            "unmeasured": self.unmeasured,
            "on_time": self.on_time.to_json(),
            "policies": [p.to_json() for p in self.policies],
            "escalated": self.escalated,
            "reroutes": self.reroutes,
            "reopened": self.reopened.to_json(),
            "first_call": self.first_call.to_json() if self.first_call is not None else None,
            "acknowledgements": [a.to_json() for a in self.acknowledgements],
        }


@dataclass(frozen=True)
class Scorecard:
    """The figures of the tickets closed in ``[since, until)``, per group of ``by``, and in total."""

    ruleset: str
    since: datetime
    until: datetime
    timezone: str
    by: str
    groups: tuple[GroupFigures, ...]
    total: GroupFigures
    first_call_target: float | None = None

    def group(self, name: str | None) -> GroupFigures | None:
        """The figures of one group."""
        return next((figures for figures in self.groups if figures.group == name), None)

    def to_json(self) -> dict[str, Any]:
        """Plain data: times in ISO 8601 in the report's zone, durations in seconds, rates 0 to 1."""
        zone = ZoneInfo(self.timezone)
        return {
            "ruleset": self.ruleset,
            "timezone": self.timezone,
            "since": self.since.astimezone(zone).isoformat(),
            "until": self.until.astimezone(zone).isoformat(),
            "by": self.by,
            "first_call_target": self.first_call_target,
            "groups": [g.to_json() for g in self.groups],
            "total": self.total.to_json(),
        }


def _csv_rate(rate: Rate | None) -> str:
    return "" if rate is None or rate.rate is None else f"{rate.rate:.4f}"


def _csv_seconds(value: timedelta | None) -> str:
    return "" if value is None else str(round(value.total_seconds()))


def _csv_row(card: Scorecard, figures: GroupFigures, name: str) -> dict[str, str]:
    row = {"group": name, "closed": str(figures.tickets), "unmeasured": str(figures.unmeasured), "on_time_rate": _csv_rate(figures.on_time)}
    for policy in figures.policies:
        row[f"{policy.policy}.on_time_rate"] = _csv_rate(policy.on_time)
        row.update({f"{policy.policy}.breaches.{level}": str(count) for level, count in policy.breaches.items()})
        for stage in policy.stages:
            prefix = f"{policy.policy}.{stage.stage}"
            row[f"{prefix}.measured"] = str(stage.on_time.of)
            row[f"{prefix}.on_time_rate"] = _csv_rate(stage.on_time)
            for clock, times in (("business", stage.business), ("wall", stage.wall)):
                row.update({f"{prefix}.{clock}_{stat}_seconds": _csv_seconds(getattr(times, stat)) for stat in ("mean", "median", "p90")})
            row.update({f"{prefix}.reached.{level}": str(count) for level, count in stage.levels.items()})
    row.update({"escalated": str(figures.escalated), "reroutes": str(figures.reroutes), "reopen_rate": _csv_rate(figures.reopened)})
    if card.total.first_call is not None:
        row["first_call_rate"] = _csv_rate(figures.first_call)
    for ack in card.total.acknowledgements:
        times = figures.acknowledgement(ack.policy, ack.level)
        prefix = f"ack.{ack.policy}.{ack.level}"
        row[f"{prefix}.count"] = str(times.count)
        row.update({f"{prefix}.{stat}_seconds": _csv_seconds(getattr(times, stat)) for stat in ("mean", "median", "p90")})
    return row


def scorecard_csv(card: Scorecard) -> str:
    """The scorecard as CSV: one row per group and a last row ``all``; rates 0 to 1 (four
    decimals), durations in whole seconds, empty where there is no value."""
    rows = [_csv_row(card, g, group_name(g.group, card.by)) for g in card.groups] + [_csv_row(card, card.total, "all")]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[-1]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def group_value(ticket: ReportTicket, by: str) -> str | None:
    """The ticket's group: its assigned provider for ``provider``, else the field ``by`` of
    its fact (dotted for nested fields); None when it has none."""
    value = ticket.provider if by == "provider" else ticket.fact().get(by)
    return None if value is None or value == "" else str(value)


class Measurer:
    """The ruleset's policies, calendars and report settings, compiled once, measuring
    closed tickets (pure: every instant comes from the ticket or the state)."""

    def __init__(self, ruleset: Ruleset, by: str = "provider") -> None:
        self.ruleset = ruleset
        self.by = by
        # The Python matcher: only the engine's policy and calendar choice is used here.
        self.engine = Engine(ruleset, matcher="python")
        self.terminal = frozenset(ruleset.terminal_statuses)
        self.first_call = frozenset(ruleset.reports.first_call_statuses)
        self.levels = {(policy.name, level.name) for policy in ruleset.policies for level in policy.levels}

    def measure(self, ticket: ReportTicket) -> TicketMeasures:
        """What ``ticket`` (closed) contributes: its clocks, reopening, first-call resolution,
        escalation, re-routes and acknowledgement times."""
        effective = ticket.effective
        stages = self._stages(effective, ticket.fact(), ticket.closed_at) if effective is not None and ticket.closed_at is not None else ()
        first_seen = ticket.state.first_seen_at
        return TicketMeasures(
            ticket_id=ticket.ticket_id,
            group=group_value(ticket, self.by),
            closed_at=ticket.closed_at,
            measured=effective is not None,
            stages=tuple(stages),
            reopened=self._reopened(ticket),
            first_call=self._first_call(ticket),
            escalated=any(esc.escalated_to for esc in ticket.escalations),
            # One run may record a provider change twice (set by the ticket system, no longer routed): runs count.
            reroutes=len({entry.recorded for entry in ticket.audit if entry.kind == "routed" and first_seen is not None and entry.recorded > first_seen}),
            acknowledgements=tuple(
                (esc.policy, esc.level, esc.acknowledged_at - esc.opened_at)
                for esc in ticket.escalations
                if esc.acknowledged_at is not None and (esc.policy, esc.level) in self.levels
            ),
        )

    def _stages(self, ticket: Ticket, fact: dict[str, Any], closed_at: datetime) -> list[StageMeasure]:
        found = []
        for policy in self.engine.policies_for(fact):
            calendar = self.engine.calendar_for(policy, fact)
            for stage, view, end in self._clocks(ticket, policy, closed_at):
                status = sla_status(view, policy, self.ruleset, calendar, end)
                if status is None:
                    continue
                wall = sum(((stop or end) - start for start, stop in clock_intervals(view, policy, end)), timedelta(0))
                reached = tuple(level.name for level in policy.levels if status.elapsed >= level.threshold(status.target))
                found.append(StageMeasure(policy.name, stage, policy.clock == "created", status.elapsed, wall, status.target, reached))
        return found

    def _clocks(self, ticket: Ticket, policy: PolicySpec, closed_at: datetime) -> list[tuple[str, Ticket, datetime]]:
        """(stage, the ticket as it stood in it, the instant the clock stopped) for each clock
        of ``policy``: the end of the last visit of each stage it targets, or the close."""
        if policy.clock == "created":
            return [(END_TO_END_STAGE, ticket, closed_at)]
        clocks = []
        history = [entry for entry in ticket.stage_history if entry.entered_at <= closed_at]
        for stage in self.ruleset.stages:
            if stage not in policy.targets:
                continue
            visits = [index for index, entry in enumerate(history) if entry.stage == stage]
            if visits:
                after = visits[-1] + 1
                end = history[after].entered_at if after < len(history) else closed_at
            elif not history and ticket.stage == stage:
                end = closed_at
            else:
                continue
            clocks.append((stage, ticket.model_copy(update={"stage": stage}), end))
        return clocks

    def _statuses(self, ticket: ReportTicket) -> list[str]:
        if ticket.ticket is not None and ticket.ticket.status_history:
            return [entry.status for entry in ticket.ticket.status_history]
        return [ticket.state.status] if ticket.state.status else []

    def _reopened(self, ticket: ReportTicket) -> bool:
        """A terminal status followed by an open one in the status history, or a reopening a run recorded."""
        statuses = self._statuses(ticket)
        closed_then_open = any(a in self.terminal and b not in self.terminal for a, b in zip(statuses, statuses[1:]))
        return closed_then_open or any(entry.kind == "reopened" for entry in ticket.audit)

    def _first_call(self, ticket: ReportTicket) -> bool:
        """The ticket's final terminal statuses (the trailing run of the history) include a first-call status."""
        statuses = self._statuses(ticket) + ([ticket.state.status] if ticket.state.status else [])
        trailing = []
        for status in reversed(statuses):
            if status not in self.terminal:
                break
            trailing.append(status)
        return any(status in self.first_call for status in trailing)


def _figures(group: str | None, measures: Sequence[TicketMeasures], ruleset: Ruleset, layout: dict[str, list[tuple[str, bool]]]) -> GroupFigures:
    measured = [m for m in measures if m.stages]
    clocks: dict[tuple[str, str], list[StageMeasure]] = defaultdict(list)
    per_policy: dict[str, list[list[StageMeasure]]] = defaultdict(list)
    for m in measured:
        mine: dict[str, list[StageMeasure]] = defaultdict(list)
        for measure in m.stages:
            clocks[(measure.policy, measure.stage)].append(measure)
            mine[measure.policy].append(measure)
        for name, ticket_clocks in mine.items():
            per_policy[name].append(ticket_clocks)
    policies = []
    for policy in ruleset.policies:
        if policy.name not in layout:
            continue
        names = [level.name for level in policy.levels]
        tickets = per_policy.get(policy.name, [])
        stages = []
        for stage, end_to_end in layout[policy.name]:
            items = clocks.get((policy.name, stage), [])
            stages.append(
                StageFigures(
                    policy.name,
                    stage,
                    end_to_end,
                    Rate(sum(item.on_time for item in items), len(items)),
                    Durations.of([item.business for item in items]),
                    Durations.of([item.wall for item in items]),
                    {name: sum(name in item.levels for item in items) for name in names},
                )
            )
        policies.append(
            PolicyFigures(
                policy.name,
                Rate(sum(all(s.on_time for s in ticket) for ticket in tickets), len(tickets)),
                {name: sum(any(name in s.levels for s in ticket) for ticket in tickets) for name in names},
                tuple(stages),
            )
        )
    acks: dict[tuple[str, str], list[timedelta]] = defaultdict(list)
    for m in measures:
        for policy_name, level, waited in m.acknowledgements:
            acks[(policy_name, level)].append(waited)
    order = {(p.name, level.name): (i, j) for i, p in enumerate(ruleset.policies) for j, level in enumerate(p.levels)}
    return GroupFigures(
        group=group,
        tickets=len(measures),
        unmeasured=sum(not m.measured for m in measures),
        on_time=Rate(sum(bool(m.on_time) for m in measured), len(measured)),
        policies=tuple(policies),
        escalated=sum(m.escalated for m in measures),
        reroutes=sum(m.reroutes for m in measures),
        reopened=Rate(sum(m.reopened for m in measures), len(measures)),
        first_call=Rate(sum(m.first_call for m in measures), len(measures)) if ruleset.reports.first_call_statuses else None,
        acknowledgements=tuple(AckFigures(p, level, Durations.of(times)) for (p, level), times in sorted(acks.items(), key=lambda item: order[item[0]])),
    )


def aggregate(measures: Iterable[TicketMeasures], ruleset: Ruleset, since: datetime, until: datetime, by: str = "provider") -> Scorecard:
    """The scorecard of ``measures``: one group per value of ``by`` (by name, no value
    last) and the total.  Every group lists the same clocks: those any ticket was measured on."""
    items = list(measures)
    seen = {(stage.policy, stage.stage, stage.end_to_end) for m in items for stage in m.stages}
    layout: dict[str, list[tuple[str, bool]]] = {}
    stage_order = {stage: index for index, stage in enumerate([*ruleset.stages, END_TO_END_STAGE])}
    for policy, stage, end_to_end in sorted(seen, key=lambda key: stage_order.get(key[1], len(stage_order))):
        layout.setdefault(policy, []).append((stage, end_to_end))
    grouped: dict[str | None, list[TicketMeasures]] = defaultdict(list)
    for m in items:
        grouped[m.group].append(m)
    groups = tuple(_figures(name, grouped[name], ruleset, layout) for name in sorted(grouped, key=lambda name: (name is None, name or "")))
    zone = report_zone(ruleset)
    return Scorecard(
        ruleset=ruleset.name,
        since=since,
        until=until,
        timezone=str(zone),
        by=by,
        groups=groups,
        total=_figures(None, items, ruleset, layout),
        first_call_target=ruleset.reports.first_call_share,
    )


def scorecard(store: Store, ruleset: Ruleset, since: datetime, until: datetime, by: str = "provider") -> Scorecard:
    """The scorecard of the tickets closed in ``[since, until)`` (by their own close time),
    per value of ``by``: ``provider`` (the assigned one) or any ticket field (``region``,
    ``tier``, ``station``, ``product_line``…).  Reads the store, never writes it."""
    for name, value in (("since", since), ("until", until)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware")
    if until <= since:
        raise ValueError(f"until ({until.isoformat()}) must be after since ({since.isoformat()})")
    measurer = Measurer(ruleset, by)
    measures = (measurer.measure(ticket) for ticket in closed_tickets(store, ruleset, since, until, audit_kinds=AUDIT_KINDS))
    return aggregate(measures, ruleset, since, until, by)
