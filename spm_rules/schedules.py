"""Schedules: cron expressions in a timezone, and which of their ticks a run fires.

``schedules:`` in a ruleset declares periodic jobs (a daily digest of open escalations,
the next-day indicators report, inspection reminders for key accounts).  A run fires the
ticks that passed since the previous run, each once, following the schedule's policy for
ticks missed during downtime.  This is the only module that imports croniter.  It also
shapes what the digest and the indicators report (:func:`digest_report`,
:func:`indicators_report`): the payload their templates render, documented in
``docs/alerting.md``.

Cron is read in the schedule's own IANA timezone, so ``0 8 * * *`` in Asia/Shanghai is
08:00 Beijing time all year, and across DST changes (Europe/Berlin, America/New_York):

* spring forward: a tick in the skipped hour fires at the first instant after it (croniter);
* fall back: a fixed-time tick in the repeated hour fires once, at its first occurrence;
  a schedule whose hour field is a wildcard (``*/15 * * * *``) fires in both hours, as
  real time goes on (the Vixie cron rule).

Pure: every function takes the instants it works on; nothing reads a clock.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Literal, Sequence
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter
from pydantic import Field, field_validator, model_validator

from .durations import format_duration
from .ruleset.types import NAME_PATTERN, Duration, StrictModel, ZoneName
from .state.records import Escalation, TicketState

if TYPE_CHECKING:
    from .reports.indicators import Indicators

__all__ = [
    "ScheduleSpec",
    "ScheduleAction",
    "MissedPolicy",
    "TickPlan",
    "plan_ticks",
    "ticks_between",
    "next_ticks",
    "first_tick_within",
    "previous_tick",
    "schedule_key",
    "digest_report",
    "indicators_report",
    "MAX_COUNTED_TICKS",
]

ScheduleAction = Literal["digest", "indicators", "inspections"]
MissedPolicy = Literal["skip", "once", "all"]

#: A run looks at no more than this many passed ticks of one schedule (after a long
#: outage an every-minute schedule would otherwise be walked tick by tick).
MAX_COUNTED_TICKS = 10_000


class ScheduleSpec(StrictModel):
    """One schedule of a ruleset.

    * ``cron``: five fields (minute hour day-of-month month day-of-week), read in ``timezone``;
    * ``action``: ``digest`` (open escalations), ``indicators`` (yesterday's scorecard per
      ``by``, compared with the day before and the trailing seven days; the HTML report
      written to ``report_dir`` and linked through ``report_url``), ``inspections`` (the
      customers of the ``tiers`` given, for periodic preventive inspections);
    * ``missed``: what a run does with ticks that passed while nothing ran (a tick older
      than ``grace`` when the run sees it): ``skip`` drops them, ``once`` fires only the
      latest tick, ``all`` fires each of them, at most the newest ``catch_up_limit``.
    """

    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    cron: str
    timezone: ZoneName
    action: ScheduleAction
    receivers: list[str] = Field(min_length=1)
    missed: MissedPolicy = "once"
    catch_up_limit: int = Field(default=24, ge=1, le=1000)
    grace: Duration = timedelta(minutes=15)
    tiers: list[str] = Field(default_factory=list, description="inspections: the tiers whose customers are key accounts")
    by: str = Field(default="provider", pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$", description="indicators: the field figures are grouped by")
    report_dir: str | None = Field(default=None, min_length=1, description="indicators: the directory the HTML report is written to")
    report_url: str | None = Field(default=None, min_length=1, description="indicators: the URL report_dir is served at, for the link")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        value = " ".join(value.split())
        if len(value.split(" ")) != 5 or not croniter.is_valid(value):
            raise ValueError(f"bad cron expression {value!r}: five fields, minute hour day-of-month month day-of-week (e.g. '0 8 * * 1-5')")
        return value

    @model_validator(mode="after")
    def _indicators_only(self) -> "ScheduleSpec":
        if self.action != "indicators":
            given = [key for key in ("report_dir", "report_url") if getattr(self, key) is not None] + (["by"] if self.by != "provider" else [])
            if given:
                raise ValueError(f"{', '.join(given)} only apply to action: indicators (this schedule's action is {self.action})")
        elif self.report_url is not None and self.report_dir is None:
            raise ValueError("report_url links the report written to report_dir: set report_dir too")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The schedule's timezone."""
        return ZoneInfo(self.timezone)

    @property
    def hourly_wildcard(self) -> bool:
        """The hour field is ``*`` or ``*/n``: the schedule runs by real time through a repeated hour."""
        return bool(re.fullmatch(r"\*(/\d+)?", self.cron.split(" ")[1]))


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value


def _repeated_wall_time(tick: datetime, zone: ZoneInfo) -> bool:
    """The tick is the second occurrence of a wall-clock time that a fall-back repeats."""
    wall = tick.replace(tzinfo=None)
    first = wall.replace(tzinfo=zone, fold=0).utcoffset()
    second = wall.replace(tzinfo=zone, fold=1).utcoffset()
    return first != second and tick.utcoffset() == second and second is not None and first is not None and second < first


def _keep(spec: ScheduleSpec, tick: datetime) -> bool:
    return spec.hourly_wildcard or not _repeated_wall_time(tick, spec.zone)


def _backwards(spec: ScheduleSpec, until: datetime) -> Iterator[datetime]:
    """Ticks at or before ``until``, newest first, as UTC instants."""
    start = until.astimezone(spec.zone).replace(microsecond=0) + timedelta(seconds=1)
    it = croniter(spec.cron, start)
    while True:
        tick = it.get_prev(datetime)
        if _keep(spec, tick):
            yield tick.astimezone(timezone.utc)


def _forwards(spec: ScheduleSpec, after: datetime) -> Iterator[datetime]:
    """Ticks strictly after ``after``, oldest first, as UTC instants."""
    it = croniter(spec.cron, after.astimezone(spec.zone))
    while True:
        tick = it.get_next(datetime)
        if _keep(spec, tick):
            yield tick.astimezone(timezone.utc)


def ticks_between(spec: ScheduleSpec, after: datetime, until: datetime, limit: int = MAX_COUNTED_TICKS) -> list[datetime]:
    """The newest ``limit`` ticks in ``(after, until]``, oldest first, in UTC."""
    after, until = _aware(after, "after"), _aware(until, "until")
    found: list[datetime] = []
    for tick in _backwards(spec, until):
        if tick <= after or len(found) >= limit:
            break
        found.append(tick)
    return found[::-1]


def next_ticks(spec: ScheduleSpec, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` ticks strictly after ``after``, in UTC."""
    ticks = _forwards(spec, _aware(after, "after"))
    return [next(ticks) for _ in range(count)]


def first_tick_within(spec: ScheduleSpec, after: datetime, years: int) -> datetime | None:
    """The first tick after ``after`` if there is one within ``years`` years, else None
    (``0 0 30 2 *`` has none: the linter's "never fires")."""
    start = _aware(after, "after").astimezone(spec.zone)
    try:
        tick = croniter(spec.cron, start, max_years_between_matches=years).get_next(datetime)
    except CroniterBadDateError:
        return None
    day = min(start.day, 28) if (start.month, start.day) == (2, 29) else start.day
    return tick.astimezone(timezone.utc) if tick <= start.replace(year=start.year + years, day=day) else None


def previous_tick(spec: ScheduleSpec, tick: datetime) -> datetime:
    """The tick before ``tick`` (the start of the period a report fired at ``tick`` covers)."""
    return next(_backwards(spec, _aware(tick, "tick") - timedelta(seconds=1)))


def schedule_key(name: str, tick: datetime) -> str:
    """The idempotency key of one schedule tick's notification."""
    return f"schedule|{name}|{tick.astimezone(timezone.utc).isoformat()}"


@dataclass(frozen=True)
class TickPlan:
    """What a run does with a schedule: the ticks to fire, how many it skips, the new watermark."""

    fire: tuple[datetime, ...]
    skipped: int
    checked_until: datetime


def plan_ticks(spec: ScheduleSpec, checked_until: datetime | None, now: datetime) -> TickPlan:
    """Decide which ticks in ``(checked_until, now]`` fire under the schedule's missed-tick policy.

    A schedule seen for the first time (``checked_until`` None) fires nothing: its first
    run only sets the watermark, so adding a schedule never replays its past.
    """
    now = _aware(now, "now")
    if checked_until is None or now <= checked_until:
        return TickPlan((), 0, max(now, checked_until) if checked_until is not None else now)
    passed = ticks_between(spec, checked_until, now)
    if spec.missed == "all":
        fire = passed[-spec.catch_up_limit :]
    elif spec.missed == "once":
        fire = passed[-1:]
    else:
        fire = [tick for tick in passed if now - tick <= spec.grace]
    return TickPlan(tuple(fire), len(passed) - len(fire), now)


# -- what the actions report ------------------------------------------------------------


def _by_provider(provider: str | None) -> tuple[bool, str]:
    """Providers in name order, the escalations without one last."""
    return provider is None, provider or ""


def digest_report(
    listed: Sequence[tuple[Escalation, TicketState]], counts: Iterable[tuple[str, str, str | None, int]], now: datetime
) -> dict[str, Any]:
    """The digest's payload: open escalations by level (highest rank first), then by
    provider (by name, none last), oldest first within each.

    ``listed`` are the open escalations named in the digest with their tickets (in any
    order; the store's listing may be cut at a limit); ``counts`` are all open
    escalations counted per (policy, level, provider), so the totals are right even when
    the listing is cut.  A ticket's provider is the one it is assigned to (a route
    decision's, else its own).
    Ages are measured at ``now``.
    """
    ranks: dict[str, int] = {}
    items: dict[str, dict[str | None, list[dict[str, Any]]]] = {}
    for esc, ticket in sorted(listed, key=lambda pair: (pair[0].opened_at, pair[0].ticket_id, pair[0].policy)):
        provider = ticket.assigned_provider
        ranks[esc.level] = max(ranks.get(esc.level, esc.level_rank), esc.level_rank)
        items.setdefault(esc.level, {}).setdefault(provider, []).append(
            {
                "ticket": esc.ticket_id,
                "policy": esc.policy,
                "level": esc.level,
                "provider": provider,
                "customer": ticket.customer,
                "tier": ticket.tier,
                "region": ticket.region,
                "stage": ticket.stage,
                "opened_at": esc.opened_at.isoformat(),
                "age": format_duration(now - esc.opened_at),
                "acknowledged": esc.acknowledged_at is not None,
                "acknowledged_by": esc.acknowledged_by,
            }
        )
    tally: Counter[tuple[str, str | None]] = Counter()
    for _policy, level, provider, count in counts:
        tally[(level, provider)] += count
    levels = []
    for level in sorted({level for level, _ in tally} | set(items), key=lambda name: (-ranks.get(name, -1), name)):
        named = items.get(level, {})
        providers = sorted({who for name, who in tally if name == level} | set(named), key=_by_provider)
        groups = [{"provider": who, "count": max(tally[(level, who)], len(named.get(who, []))), "items": named.get(who, [])} for who in providers]
        levels.append({"level": level, "rank": ranks.get(level), "count": sum(group["count"] for group in groups), "providers": groups})
    return {"open_total": sum(level["count"] for level in levels), "listed": len(listed), "levels": levels}


def indicators_report(found: "Indicators", link: str | None = None, problem: str | None = None) -> dict[str, Any]:
    """The indicators' payload: yesterday's figures per group (worst movers first) and in
    total, each with the day before's and the trailing days', the movers, and the link
    to the HTML report (``report_url``; None when none was written, ``report_problem``
    saying why when writing failed).  The fields are documented in ``docs/alerting.md``."""
    data = found.to_json()
    data["report_timezone"] = data.pop("timezone")  # the schedule's own timezone keeps its name
    return {
        **data,
        "period": {"from": found.scorecard.since.isoformat(), "to": found.scorecard.until.isoformat()},
        "report_url": link,
        "report_problem": problem,
    }
