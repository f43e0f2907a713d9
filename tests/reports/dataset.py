"""A small archive for the report tests, built by real stateful runs over tickets whose
every event is dated, so that the figures can be computed by hand.

The ruleset ``scorecard-test`` (Asia/Shanghai) has one business calendar, ``day-shift``,
open 08:00-20:00 every day; policy ``response`` times the ``dispatched`` stage against
4 h of it (yellow at 3 h, red at 4 h; red escalates to the partner manager), policy
``resolution`` the whole ticket against 1 day of real time (late at 100 %).  Statuses
``waiting_customer`` pause every clock; ``first_call_resolved`` is a first-call status.
North tickets without a provider are routed to partner-north.

The tickets (all times Asia/Shanghai, 2026-11):

* T1 paused over a night, partner-east: created 25th 16:00, dispatched 17:00, waiting for
  the customer 18:00 - 26th 09:00, on site 26th 10:00, resolved 26th 12:00.
* T2 reopened, partner-east: created 25th 08:00, dispatched 08:30, on site 11:00,
  resolved 12:00, reopened 14:00 (back to dispatched), on site 15:00, resolved 16:00.
* T3 first-call resolution, no provider (south): created 25th 09:00, resolved on the
  call at 09:20.
* T4 re-routed, north: created 25th 09:00, routed to partner-north by the ruleset,
  assigned to partner-east by the ticket system at 12:00; dispatched 09:30, on site
  14:30 (red at 13:30, escalated), resolved 18:00.
* T5 partner-north: created 26th 08:00, dispatched 08:00, on site 13:00, resolved 14:00.
* T6 partner-north: created 25th 10:00, dispatched 10:00, on site 12:00, resolved 13:00.
* T7 partner-east: created 24th 15:00, dispatched 15:00, on site 20:30, resolved 24th 23:30.
* T8 partner-east, still open: created 26th 15:00, dispatched 15:00.
* T9 worked at night, partner-south: created and dispatched 25th 21:00, on site 26th
  01:00 (outside the day shift: no business time), resolved 26th 01:30 (the 25th in UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable
from zoneinfo import ZoneInfo

from spm_rules.ruleset.loader import parse_ruleset
from spm_rules.ruleset.schema import Ruleset
from spm_rules.run import run
from spm_rules.state.store import Store
from spm_rules.tickets import Ticket

__all__ = ["CST", "RULESET_YAML", "ruleset", "cst", "Story", "STORIES", "tickets_at", "run_hourly", "run_once", "ACK_T4_AT", "FIRST_RUN", "LAST_RUN", "hours", "minutes"]

CST = ZoneInfo("Asia/Shanghai")

RULESET_YAML = """\
version: 1
name: scorecard-test
ticket_timezone: Asia/Shanghai
tiers:
  P4: {response: 4h}
stages: [hotline, dispatched, onsite]
terminal_statuses: [resolved, first_call_resolved, cancelled]
pausing_statuses: [waiting_customer]
calendars:
  day-shift:
    timezone: Asia/Shanghai
    hours: {mon-sun: ["08:00-20:00"]}
policies:
  - name: response
    calendar: day-shift
    targets: {dispatched: response}
    levels:
      - {name: yellow, at: 75%}
      - {name: red, at: 100%}
  - name: resolution
    clock: created
    target: 1d
    levels:
      - {name: late, at: 100%}
rules:
  - name: dispatch-north
    when: {all: [{field: provider, present: false}, {field: region, eq: north}]}
    then: [{route: {provider: partner-north}}]
  - name: red-escalates
    when: {all: [{field: sla.policy, eq: response}, {field: sla.level, eq: red}]}
    then:
      - escalate: {to: partner-manager}
      - notify: [center]
receivers:
  center: {urls: ["console://center"]}
reports:
  first_call_statuses: [first_call_resolved]
  first_call_target: 78%
"""


def ruleset(extra: str = "") -> Ruleset:
    """The test ruleset, with ``extra`` YAML appended (schedules)."""
    return parse_ruleset(RULESET_YAML + extra, "scorecard-test.yaml")


def cst(day: int, hour: int, minute: int = 0) -> datetime:
    """2026-11-``day`` ``hour``:``minute`` in Asia/Shanghai."""
    return datetime(2026, 11, day, hour, minute, tzinfo=CST)


def hours(value: float) -> timedelta:
    return timedelta(hours=value)


def minutes(value: float) -> timedelta:
    return timedelta(minutes=value)


@dataclass(frozen=True)
class Story:
    """A ticket's whole life: every stage and status with its time, and provider changes."""

    id: str
    created: datetime
    stages: tuple[tuple[str, datetime], ...]
    statuses: tuple[tuple[str, datetime], ...]
    region: str = "east"
    providers: tuple[tuple[str | None, datetime], ...] = ()
    fields: dict[str, str] = field(default_factory=dict)

    def at(self, now: datetime) -> Ticket | None:
        """The ticket as its source reports it at ``now`` (None before it exists)."""
        if self.created > now:
            return None
        stages = [{"stage": stage, "entered_at": when} for stage, when in self.stages if when <= now]
        statuses = [{"status": status, "at": when} for status, when in self.statuses if when <= now]
        provider = next((who for who, when in reversed(self.providers) if when <= now), None)
        data = {
            "id": self.id,
            "tier": "P4",
            "status": statuses[-1]["status"],
            "created_at": self.created,
            "stage_history": stages,
            "status_history": statuses,
            "region": self.region,
            "customer": f"customer of {self.id}",
            **self.fields,
        }
        if provider is not None:
            data["provider"] = provider
        return Ticket.model_validate(data)


def _story(
    ticket_id: str,
    created: datetime,
    stages: Iterable[tuple[str, datetime]],
    statuses: Iterable[tuple[str, datetime]],
    provider: str | None = "partner-east",
    *,
    providers: tuple[tuple[str | None, datetime], ...] | None = None,
    region: str = "east",
    fields: dict[str, str] | None = None,
) -> Story:
    """A story whose provider is ``provider`` from the start, unless ``providers`` says when it changed."""
    if providers is None:
        providers = ((provider, created),) if provider else ()
    return Story(ticket_id, created, tuple(stages), tuple(statuses), region, providers, fields or {})


STORIES = (
    _story(
        "T1", cst(25, 16),
        [("hotline", cst(25, 16)), ("dispatched", cst(25, 17)), ("onsite", cst(26, 10))],
        [("open", cst(25, 16)), ("waiting_customer", cst(25, 18)), ("open", cst(26, 9)), ("resolved", cst(26, 12))],
        fields={"station": "east-1"},
    ),
    _story(
        "T2", cst(25, 8),
        [("hotline", cst(25, 8)), ("dispatched", cst(25, 8, 30)), ("onsite", cst(25, 11)), ("dispatched", cst(25, 14)), ("onsite", cst(25, 15))],
        [("open", cst(25, 8)), ("resolved", cst(25, 12)), ("open", cst(25, 14)), ("resolved", cst(25, 16))],
        fields={"station": "east-2"},
    ),
    _story("T3", cst(25, 9), [("hotline", cst(25, 9))], [("open", cst(25, 9)), ("first_call_resolved", cst(25, 9, 20))], provider=None, region="south"),
    _story(
        "T4", cst(25, 9),
        [("hotline", cst(25, 9)), ("dispatched", cst(25, 9, 30)), ("onsite", cst(25, 14, 30))],
        [("open", cst(25, 9)), ("resolved", cst(25, 18))],
        region="north",
        providers=(("partner-east", cst(25, 12)),),
        fields={"station": "east-1"},
    ),
    _story(
        "T5", cst(26, 8),
        [("hotline", cst(26, 8)), ("dispatched", cst(26, 8)), ("onsite", cst(26, 13))],
        [("open", cst(26, 8)), ("resolved", cst(26, 14))],
        provider="partner-north", region="north",
    ),
    _story(
        "T6", cst(25, 10),
        [("hotline", cst(25, 10)), ("dispatched", cst(25, 10)), ("onsite", cst(25, 12))],
        [("open", cst(25, 10)), ("resolved", cst(25, 13))],
        provider="partner-north", region="north",
    ),
    _story(
        "T7", cst(24, 15),
        [("hotline", cst(24, 15)), ("dispatched", cst(24, 15)), ("onsite", cst(24, 20, 30))],
        [("open", cst(24, 15)), ("resolved", cst(24, 23, 30))],
    ),
    _story("T8", cst(26, 15), [("hotline", cst(26, 15)), ("dispatched", cst(26, 15))], [("open", cst(26, 15))]),
    _story(
        "T9", cst(25, 21),
        [("hotline", cst(25, 21)), ("dispatched", cst(25, 21)), ("onsite", cst(26, 1))],
        [("open", cst(25, 21)), ("resolved", cst(26, 1, 30))],
        provider="partner-south", region="south",
    ),
)

#: When the duty manager acknowledges T4's red escalation (opened by the 14:00 run).
ACK_T4_AT = cst(25, 14, 20)
#: The first run of every scenario (before any ticket exists: it only sets the schedules' watermarks).
FIRST_RUN = cst(24, 12)
#: The run of the next morning, when the indicators of the 26th are due.
LAST_RUN = cst(27, 7)


def tickets_at(now: datetime) -> list[Ticket]:
    """Every ticket as its source reports it at ``now``."""
    return [ticket for ticket in (story.at(now) for story in STORIES) if ticket is not None]


def run_hourly(url: str, rules: Ruleset, until: datetime = LAST_RUN) -> None:
    """Runs every hour from the 24th 12:00 to ``until``, with T4's red escalation acknowledged at 14:20 on the 25th."""
    now = FIRST_RUN
    while now <= until:
        with Store(url) as store:
            run(store, rules, tickets_at(now), now)
            if now == ACK_T4_AT - minutes(20):
                assert [esc.level for esc in store.acknowledge("T4", ACK_T4_AT, by="duty")] == ["red"]
        now += hours(1)


def run_once(url: str, rules: Ruleset, until: datetime = LAST_RUN) -> None:
    """A first run on the 24th at noon, then nothing until one run at ``until`` (the service was down)."""
    for now in (FIRST_RUN, until):
        with Store(url) as store:
            run(store, rules, tickets_at(now), now)
