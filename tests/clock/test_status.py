"""SLA status: level boundaries, pauses, reopened stages, tier changes, due and next change."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from spm_rules.clock.calendar import TWENTY_FOUR_SEVEN, compile_calendars
from spm_rules.clock.status import sla_status
from spm_rules.durations import format_duration
from spm_rules.ruleset.loader import parse_ruleset
from spm_rules.tickets import Ticket

UTC = timezone.utc
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)

RULESET = parse_ruleset(
    """
name: clock-test
tiers: {P2: {response: 2h}, P4: {response: 4h}}
stages: [hotline, dispatched, onsite]
terminal_statuses: [resolved]
pausing_statuses: [waiting_customer, waiting_parts]
policies:
  - name: response
    targets: {dispatched: response}
    levels:
      - {name: yellow, at: 75%}
      - {name: red, at: 100%}
      - {name: warn-early, before_due: 30m}
      - {name: escalate, after_due: 2h}
  - name: continue-on-reopen
    reopen: continue
    targets: {dispatched: 4h}
    levels: [{name: red, at: 100%}]
  - name: resolution
    clock: created
    target: {P2: 12h, P4: 1d}
    levels: [{name: late, at: 100%}]
""",
    "clock-test.yaml",
)
POLICY = {p.name: p for p in RULESET.policies}


def ticket(tier: str = "P4", stages: list[tuple[str, datetime]] | None = None, statuses: list[tuple[str, datetime]] | None = None) -> Ticket:
    stages = stages if stages is not None else [("hotline", T0 - timedelta(minutes=10)), ("dispatched", T0)]
    return Ticket(
        id="T-1",
        tier=tier,
        status=statuses[-1][0] if statuses else "open",
        created_at=stages[0][1],
        stage_history=[{"stage": s, "entered_at": at} for s, at in stages],
        status_history=[{"status": s, "at": at} for s, at in statuses or []],
    )


def status_at(after: timedelta, policy: str = "response", **kwargs):
    return sla_status(ticket(**kwargs), POLICY[policy], RULESET, TWENTY_FOUR_SEVEN, T0 + after)


@pytest.mark.parametrize(
    "after, level, rank",
    [
        (timedelta(0), None, 0),
        (timedelta(hours=3) - timedelta(microseconds=1), None, 0),
        (timedelta(hours=3), "yellow", 1),  # exactly at 75 % is yellow
        (timedelta(hours=3, minutes=30) - timedelta(seconds=1), "yellow", 1),
        (timedelta(hours=3, minutes=30), "warn-early", 2),
        (timedelta(hours=4) - timedelta(seconds=1), "warn-early", 2),
        (timedelta(hours=4), "red", 3),
        (timedelta(hours=6) - timedelta(seconds=1), "red", 3),
        (timedelta(hours=6), "escalate", 4),
    ],
)
def test_each_level_boundary(after: timedelta, level: str | None, rank: int) -> None:
    status = status_at(after)
    assert status is not None
    assert (status.level, status.level_rank) == (level, rank)
    assert status.elapsed == after


def test_levels_ordered_by_threshold_not_declaration() -> None:
    # warn-early (3h30m for a 4h target) comes after yellow (3h) and before red (4h):
    # at 3h45m the ticket is at warn-early, and the next change is red at 4h.
    status = status_at(timedelta(hours=3, minutes=45))
    assert status.level == "warn-early"
    assert status.next_level == "red"
    assert status.next_change_at == T0 + timedelta(hours=4)


def test_due_remaining_and_next_change() -> None:
    status = status_at(timedelta(hours=1))
    assert status.target == timedelta(hours=4)
    assert status.remaining == timedelta(hours=3)
    assert status.due_at == T0 + timedelta(hours=4)
    assert (status.next_level, status.next_change_at) == ("yellow", T0 + timedelta(hours=3))
    overdue = status_at(timedelta(hours=9))
    assert overdue.remaining == -timedelta(hours=5) and overdue.overdue
    assert overdue.due_at == T0 + timedelta(hours=4)
    assert (overdue.next_level, overdue.next_change_at) == (None, None)


def test_tier_sets_the_target() -> None:
    status = status_at(timedelta(hours=1, minutes=20), tier="P2")
    assert status.target == timedelta(hours=2) and status.level is None
    assert status.next_change_at == T0 + timedelta(hours=1, minutes=30)
    # yellow (75 %) and warn-early (30 minutes before due) coincide at 1h30m for a 2h
    # target: the one declared later wins the tie.
    assert status_at(timedelta(hours=1, minutes=30), tier="P2").level == "warn-early"


def test_no_status_outside_the_measured_stage() -> None:
    assert status_at(timedelta(hours=1), stages=[("hotline", T0)]) is None
    assert status_at(-timedelta(minutes=5)) is None  # dispatched in the future


def test_pause_stops_the_clock_and_due_moves() -> None:
    statuses = [("open", T0), ("waiting_customer", T0 + timedelta(hours=1)), ("open", T0 + timedelta(hours=3))]
    status = status_at(timedelta(hours=4), statuses=statuses)
    assert status.elapsed == timedelta(hours=2)
    assert status.due_at == T0 + timedelta(hours=6)
    assert not status.paused
    assert any("paused in 'waiting_customer'" in line for line in status.explanation)


def test_paused_now_has_no_projected_due_time() -> None:
    statuses = [("open", T0), ("waiting_parts", T0 + timedelta(hours=1))]
    status = status_at(timedelta(hours=5), statuses=statuses)
    assert status.paused and status.elapsed == timedelta(hours=1)
    assert status.due_at is None and status.next_change_at is None


def test_reopen_restart_versus_continue() -> None:
    stages = [
        ("dispatched", T0),
        ("onsite", T0 + timedelta(hours=1)),
        ("dispatched", T0 + timedelta(hours=5)),
    ]
    restart = status_at(timedelta(hours=6), stages=stages)
    kept = status_at(timedelta(hours=6), policy="continue-on-reopen", stages=stages)
    assert restart.elapsed == timedelta(hours=1)
    assert kept.elapsed == timedelta(hours=2)
    assert kept.due_at == T0 + timedelta(hours=8)  # 2h left from T0+6h


def test_end_to_end_clock_runs_from_creation_across_stages() -> None:
    stages = [("hotline", T0), ("dispatched", T0 + timedelta(hours=2)), ("onsite", T0 + timedelta(hours=20))]
    status = status_at(timedelta(days=1), policy="resolution", stages=stages)
    assert status.stage == "resolution"
    assert status.elapsed == timedelta(days=1) and status.level == "late"


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        sla_status(ticket(), POLICY["response"], RULESET, TWENTY_FOUR_SEVEN, datetime(2026, 11, 25))


def test_fact_exposes_sla_fields_in_seconds() -> None:
    fact = status_at(timedelta(hours=3)).fact()
    assert fact["sla.level"] == "yellow" and fact["sla.elapsed"] == 10800 and fact["sla.remaining"] == 3600
    assert fact["sla.share"] == 75.0 and fact["sla.overdue"] is False and fact["sla.paused"] is False


def test_pause_time_survives_a_tier_change() -> None:
    """Paused 1h, then upgraded from P4 to P2 mid-stage: the time used (pause excluded) is
    kept and measured against the new tier's target."""
    statuses = [("open", T0), ("waiting_customer", T0 + timedelta(minutes=30)), ("open", T0 + timedelta(minutes=90))]
    before = status_at(timedelta(hours=2), statuses=statuses, tier="P4")
    upgraded = ticket(tier="P2", statuses=statuses).model_copy(
        update={"tier_history": ({"tier": "P4", "at": T0}, {"tier": "P2", "at": T0 + timedelta(hours=1, minutes=45)})}
    )
    after = sla_status(upgraded, POLICY["response"], RULESET, TWENTY_FOUR_SEVEN, T0 + timedelta(hours=2))
    assert before.elapsed == after.elapsed == timedelta(hours=1)
    assert before.target == timedelta(hours=4) and after.target == timedelta(hours=2)
    assert after.remaining == timedelta(hours=1) and after.due_at == T0 + timedelta(hours=3)
    assert any("paused in 'waiting_customer'" in line for line in after.explanation)


# --------------------------------------------------------------------------- working-day targets

WD_RULESET = parse_ruleset(
    """
name: wd-test
tiers: {standard: {}, key-account: {}}
stages: [request, repair]
terminal_statuses: [resolved]
pausing_statuses: [waiting_customer]
calendars:
  office:
    timezone: Asia/Shanghai
    hours: {mon-fri: ["09:00-18:00"]}
    holidays: [{from: 2026-10-01, to: 2026-10-07}]
    working_days: [2026-10-10]
policies:
  - name: repair
    calendar: office
    targets: {repair: {standard: 2wd, key-account: 1wd}}
    levels:
      - {name: reminder, at: 50%}
      - {name: overdue, at: 100%}
      - {name: escalate, after_due: 4h}
""",
    "wd-test.yaml",
)
OFFICE = compile_calendars(WD_RULESET.calendars)["office"]
CST = ZoneInfo("Asia/Shanghai")


def repair_ticket(entered: datetime, tier: str = "standard", statuses: list[tuple[str, datetime]] | None = None) -> Ticket:
    return Ticket(
        id="R-1",
        tier=tier,
        status=statuses[-1][0] if statuses else "open",
        created_at=entered - timedelta(hours=1),
        stage_history=[{"stage": "request", "entered_at": entered - timedelta(hours=1)}, {"stage": "repair", "entered_at": entered}],
        status_history=[{"status": s, "at": at} for s, at in statuses or []],
    )


def wd_status(ticket: Ticket, now: datetime):
    status = sla_status(ticket, WD_RULESET.policies[0], WD_RULESET, OFFICE, now)
    assert status is not None
    return status


@pytest.mark.parametrize(
    "entered, tier, due, target, reminder",
    [
        # Monday 10:00 with 2wd: Tuesday and Wednesday are the two working days; 8h + 9h + 9h of business time
        (datetime(2026, 3, 9, 10, tzinfo=CST), "standard", datetime(2026, 3, 11, 18, tzinfo=CST), timedelta(hours=26), datetime(2026, 3, 10, 14, tzinfo=CST)),
        # before opening the day itself counts
        (datetime(2026, 3, 9, 8, tzinfo=CST), "key-account", datetime(2026, 3, 9, 18, tzinfo=CST), timedelta(hours=9), datetime(2026, 3, 9, 13, 30, tzinfo=CST)),
        # the eve of National Day: the holiday week is no working day, the make-up Saturday is
        (datetime(2026, 9, 30, 15, tzinfo=CST), "standard", datetime(2026, 10, 9, 18, tzinfo=CST), timedelta(hours=21), datetime(2026, 10, 8, 16, 30, tzinfo=CST)),
        (datetime(2026, 10, 9, 12, tzinfo=CST), "key-account", datetime(2026, 10, 10, 18, tzinfo=CST), timedelta(hours=15), datetime(2026, 10, 10, 10, 30, tzinfo=CST)),
    ],
)
def test_a_working_day_target_is_due_at_the_close_of_its_last_day(entered: datetime, tier: str, due: datetime, target: timedelta, reminder: datetime) -> None:
    status = wd_status(repair_ticket(entered, tier), entered)
    assert (status.due_at, status.target, status.next_level, status.next_change_at) == (due, target, "reminder", reminder)
    written = "2wd" if tier == "standard" else "1wd"
    assert status.explanation[1] == f"target {written} for tier {tier!r} on calendar 'office': {format_duration(target, days=False)} of business time, to {due.astimezone(UTC).isoformat()}"
    at_due = wd_status(repair_ticket(entered, tier), due)
    assert (at_due.level, at_due.elapsed, at_due.next_level) == ("overdue", target, "escalate")
    assert at_due.next_change_at == OFFICE.add(due, timedelta(hours=4))


def test_a_pause_moves_a_working_day_due_time_by_the_business_time_paused() -> None:
    entered = datetime(2026, 3, 9, 10, tzinfo=CST)
    statuses = [("open", entered), ("waiting_customer", datetime(2026, 3, 10, 9, tzinfo=CST)), ("open", datetime(2026, 3, 11, 9, tzinfo=CST))]
    status = wd_status(repair_ticket(entered, statuses=statuses), datetime(2026, 3, 11, 10, tzinfo=CST))
    assert status.target == timedelta(hours=26)  # the target is fixed by where the clock started
    assert status.elapsed == timedelta(hours=9)  # Monday 10-18 and Wednesday 9-10
    assert status.due_at == datetime(2026, 3, 12, 18, tzinfo=CST)  # a working day later
