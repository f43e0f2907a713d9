"""Next-day indicators: yesterday's scorecard per provider (or station), compared with the
day before and the trailing seven days, worst movers first.

Days are calendar days in the report's zone (the ruleset's ``ticket_timezone``), and a
ticket belongs to the day it closed by its own close time, so a run that was late or
down does not move it to another day: the same archive gives the same indicators
whether the runs happened every hour or once the next morning (only what runs did, such
as escalations and re-routes, depends on when they ran).

:func:`next_day_indicators` reads the archive and computes; :func:`schedule_report` is what the
``indicators`` schedule action sends (the payload of ``spm_rules.schedules.indicators_report``,
and the HTML report written to the schedule's ``report_dir``).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

from ..ruleset.schema import Ruleset
from ..schedules import indicators_report
from .archive import closed_tickets
from .scorecard import AUDIT_KINDS, GroupFigures, Measurer, Scorecard, TicketMeasures, aggregate, group_name, percent, report_zone

if TYPE_CHECKING:
    from ..schedules import ScheduleSpec
    from ..state.store import Store

__all__ = ["TRAILING_DAYS", "Figure", "GroupIndicators", "Mover", "Indicators", "next_day_indicators", "compare", "report_filename", "schedule_report", "write_report"]

log = logging.getLogger("spm_rules.reports")

#: The days before yesterday its figures are compared with.
TRAILING_DAYS = 7


@dataclass(frozen=True)
class Figure:
    """One indicator of one group: yesterday's value, the day before's, the trailing days'.

    A ``rate`` (0 to 1) of the trailing days is the rate over all their tickets; a
    ``count`` of the trailing days is the mean per day.  ``better`` says which way is
    good (``higher``, ``lower``, or None for a count that only informs); ``change`` is
    yesterday's value minus the trailing days', None when either is missing.
    """

    name: str
    label: str
    kind: str
    better: str | None
    value: float | None
    day_before: float | None
    trailing: float | None

    @property
    def change(self) -> float | None:
        """Yesterday against the trailing days (rate points as a fraction, or a count)."""
        return self.value - self.trailing if self.value is not None and self.trailing is not None else None

    @property
    def worsening(self) -> float:
        """How much worse yesterday was than the trailing days (0 when not worse or not comparable)."""
        change = self.change
        if change is None or self.better is None:
            return 0.0
        return max(0.0, -change if self.better == "higher" else change)

    def text(self, value: float | None) -> str:
        """A value as a person reads it: ``66.7 %`` for a rate, ``2`` or ``1.3`` for a count."""
        if value is None:
            return "-"
        if self.kind == "rate":
            return percent(value)
        return f"{value:g}" if float(value).is_integer() else f"{value:.1f}"

    def to_json(self) -> dict[str, Any]:
        """The values and their texts (``change_text`` in percentage points for a rate)."""
        change = self.change
        if change is None:
            change_text = "-"
        elif self.kind == "rate":
            change_text = f"{100 * change:+.1f} pts"
        else:
            change_text = f"{change:+.1f}"
        return {
            "figure": self.name,
            "label": self.label,
            "kind": self.kind,
            "better": self.better,
            "value": self.value,
            "day_before": self.day_before,
            "trailing": self.trailing,
            "change": change,
            "text": self.text(self.value),
            "day_before_text": self.text(self.day_before),
            "trailing_text": self.text(self.trailing),
            "change_text": change_text,
            "worse": self.worsening > 0,
        }


@dataclass(frozen=True)
class GroupIndicators:
    """The figures of one group (None: tickets without a value) or of all tickets; ``name``
    is the group as shown (``no provider`` for None, ``all`` for the total)."""

    group: str | None
    name: str
    figures: tuple[Figure, ...]

    @property
    def worsening(self) -> float:
        """The worst worsening among the group's figures."""
        return max((figure.worsening for figure in self.figures), default=0.0)

    def figure(self, name: str) -> Figure | None:
        """One figure by name."""
        return next((figure for figure in self.figures if figure.name == name), None)

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return {"group": self.group, "name": self.name, "figures": [figure.to_json() for figure in self.figures]}


@dataclass(frozen=True)
class Mover:
    """A figure of a group that got worse than over the trailing days."""

    group: GroupIndicators
    figure: Figure

    def to_json(self) -> dict[str, Any]:
        """The figure's data with the group's value and name."""
        return {"group": self.group.group, "name": self.group.name, **self.figure.to_json()}


@dataclass(frozen=True)
class Indicators:
    """Yesterday's indicators per group, compared, with the scorecards they come from
    (``scorecard`` of the day, ``previous`` of the day before, ``trailing`` of the seven
    days before it).

    ``groups`` are in worst-mover order (the group whose figure got worst against its
    trailing days first; groups with nothing worse after, by name); ``movers`` lists every
    figure that got worse, worst first; ``daily`` the total of each day from the first
    trailing day to yesterday (for a trend).
    """

    day: date
    timezone: str
    by: str
    scorecard: Scorecard
    previous: Scorecard
    trailing: Scorecard
    groups: tuple[GroupIndicators, ...]
    total: GroupIndicators
    movers: tuple[Mover, ...]
    daily: tuple[tuple[date, GroupFigures], ...]

    @property
    def trailing_from(self) -> date:
        """The first of the trailing days."""
        return self.day - timedelta(days=TRAILING_DAYS)

    def to_json(self) -> dict[str, Any]:
        """Plain data: days as ISO dates, the scorecard of yesterday in full."""
        return {
            "day": self.day.isoformat(),
            "day_before": (self.day - timedelta(days=1)).isoformat(),
            "trailing": {"from": self.trailing_from.isoformat(), "to": (self.day - timedelta(days=1)).isoformat(), "days": TRAILING_DAYS},
            "timezone": self.timezone,
            "by": self.by,
            "groups": [group.to_json() for group in self.groups],
            "total": self.total.to_json(),
            "movers": [mover.to_json() for mover in self.movers],
            "scorecard": self.scorecard.to_json(),
        }


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def _policy_on_time(figures: GroupFigures, policy: str) -> float | None:
    found = figures.policy(policy)
    return found.on_time.rate if found is not None else None


#: How each indicator reads a group's figures: (name, label, kind, better, reader).
_Reader = tuple[str, str, str, str | None, Callable[[GroupFigures], float | None]]


def _readers(ruleset: Ruleset) -> list[_Reader]:
    """The indicators of a ruleset, in the order messages list them."""
    readers: list[_Reader] = [
        ("tickets", "closed", "count", None, lambda g: g.tickets),
        ("on_time", "on time", "rate", "higher", lambda g: g.on_time.rate),
    ]
    for policy in ruleset.policies:
        readers.append((f"on_time.{policy.name}", f"on time ({policy.name})", "rate", "higher", partial(_policy_on_time, policy=policy.name)))
    if ruleset.reports.first_call_statuses:
        readers.append(("first_call", "first-call resolution", "rate", "higher", lambda g: g.first_call.rate if g.first_call is not None else None))
    readers += [
        ("reopened", "reopened", "rate", "lower", lambda g: g.reopened.rate),
        ("escalated", "escalated", "count", None, lambda g: g.escalated),
        ("reroutes", "re-routes", "count", None, lambda g: g.reroutes),
    ]
    return readers


def compare(day: date, ruleset: Ruleset, by: str, days: Mapping[date, Sequence[TicketMeasures]]) -> Indicators:
    """The indicators of ``day`` from the measured tickets of each day (pure)."""
    zone = report_zone(ruleset)
    before = day - timedelta(days=1)
    first = day - timedelta(days=TRAILING_DAYS)
    trailing_days = [first + timedelta(days=n) for n in range(TRAILING_DAYS)]

    def card(chosen: Iterable[date], since: date, until: date) -> Scorecard:
        measures = [m for d in chosen for m in days.get(d, ())]
        return aggregate(measures, ruleset, _midnight(since, zone), _midnight(until, zone), by)

    yesterday = card([day], day, day + timedelta(days=1))
    day_before = card([before], before, day)
    trailing = card(trailing_days, first, day)
    readers = _readers(ruleset)

    def group(name: str | None, shown: str, now: GroupFigures | None, then: GroupFigures | None, week: GroupFigures | None) -> GroupIndicators:
        figures = []
        for figure, label, kind, better, read in readers:
            missing = 0 if kind == "count" else None  # a group without tickets that day closed none
            value = read(now) if now is not None else missing
            previous = read(then) if then is not None else missing
            mean = read(week) if week is not None else missing
            if kind == "count" and mean is not None:
                mean = mean / TRAILING_DAYS
            figures.append(Figure(figure, label, kind, better, value, previous, mean))
        return GroupIndicators(name, shown, tuple(figures))

    names = {g.group for card_ in (yesterday, day_before, trailing) for g in card_.groups}
    groups = [group(name, group_name(name, by), yesterday.group(name), day_before.group(name), trailing.group(name)) for name in names]
    groups.sort(key=lambda g: (-g.worsening, g.group is None, g.group or ""))
    movers = sorted(
        (Mover(g, figure) for g in groups for figure in g.figures if figure.worsening > 0),
        key=lambda m: (-m.figure.worsening, m.group.group is None, m.group.group or "", m.figure.name),
    )
    total = group(None, "all", yesterday.total, day_before.total, trailing.total)
    daily = tuple((d, card([d], d, d + timedelta(days=1)).total) for d in [*trailing_days, day])
    return Indicators(day, str(zone), by, yesterday, day_before, trailing, tuple(groups), total, tuple(movers), daily)


def next_day_indicators(store: Store, ruleset: Ruleset, day: date, by: str = "provider") -> Indicators:
    """The indicators of ``day`` (a calendar day in the ruleset's ``ticket_timezone``) per
    value of ``by``, read from the archive.  Reads the store, never writes it."""
    zone = report_zone(ruleset)
    since = _midnight(day - timedelta(days=TRAILING_DAYS), zone)
    until = _midnight(day + timedelta(days=1), zone)
    measurer = Measurer(ruleset, by)
    days: dict[date, list[TicketMeasures]] = defaultdict(list)
    for ticket in closed_tickets(store, ruleset, since, until, audit_kinds=AUDIT_KINDS):
        measures = measurer.measure(ticket)
        if measures.closed_at is not None:
            days[measures.closed_at.astimezone(zone).date()].append(measures)
    return compare(day, ruleset, by, days)


def report_filename(schedule: str, day: date) -> str:
    """The HTML report's file name: ``<schedule>-<day>.html``."""
    return f"{schedule}-{day.isoformat()}.html"


def write_report(directory: str | os.PathLike[str], name: str, text: str) -> Path:
    """Write ``text`` to ``directory/name`` atomically (a reader never sees half a report)."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    fd, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def schedule_report(store: Store, ruleset: Ruleset, spec: ScheduleSpec, tick: datetime) -> dict[str, Any]:
    """What an ``indicators`` schedule tick reports: the indicators of the day before the
    tick's date (in the report's zone), and the HTML report written to ``report_dir``
    (linked through ``report_url``).  A report that cannot be written is logged and left
    out of the message: the message itself is never lost."""
    from .html import indicators_html  # it draws these indicators: imported here, not in a cycle

    zone = report_zone(ruleset)
    day = tick.astimezone(zone).date() - timedelta(days=1)
    found = next_day_indicators(store, ruleset, day, spec.by)
    link: str | None = None
    problem: str | None = None
    if spec.report_dir is not None:
        name = report_filename(spec.name, day)
        try:
            write_report(spec.report_dir, name, indicators_html(found, ruleset.name, spec.description))
        except OSError as exc:
            problem = f"the HTML report could not be written to {spec.report_dir!r}: {exc.strerror or exc}"
            log.warning("indicators report not written", extra={"fields": {"schedule": spec.name, "error": problem}})
        else:
            link = f"{spec.report_url.rstrip('/')}/{name}" if spec.report_url else str(Path(spec.report_dir) / name)
    return indicators_report(found, link, problem)
