"""Schedules: cron in the schedule's timezone (DST both ways), missed-tick policies across a
simulated 3-hour outage on SQLite and PostgreSQL, one fire per tick, and what each action reports."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from random import Random
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from spm_rules.alerting import AlertPipeline
from spm_rules.ruleset.loader import load_ruleset
from spm_rules.run import fire_schedules, run, schedule_notification
from spm_rules.schedules import ScheduleSpec, digest_report, first_tick_within, next_ticks, plan_ticks, previous_tick, schedule_key, ticks_between
from spm_rules.state.records import Escalation, TicketState
from spm_rules.state.store import Store
from tests.state.helpers import RecordingDeliverer, at, ruleset, ticket

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def spec(cron: str, zone: str = "UTC", **fields: object) -> ScheduleSpec:
    return ScheduleSpec.model_validate({"name": "s", "cron": cron, "timezone": zone, "action": "digest", "receivers": ["center"], **fields})


def local(ticks: list[datetime], zone: ZoneInfo) -> list[str]:
    return [tick.astimezone(zone).isoformat() for tick in ticks]


@pytest.mark.parametrize(
    "start, expected",
    [
        pytest.param(
            datetime(2026, 10, 23, tzinfo=UTC),
            ["2026-10-23T02:30:00+02:00", "2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"],
            id="fall-back: the repeated 02:30 fires once",
        ),
        pytest.param(
            datetime(2026, 3, 27, tzinfo=UTC),
            ["2026-03-27T02:30:00+01:00", "2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"],
            id="spring-forward: the skipped 02:30 fires at 03:00",
        ),
    ],
)
def test_a_fixed_time_schedule_across_dst(start: datetime, expected: list[str]) -> None:
    daily = spec("30 2 * * *", "Europe/Berlin")
    assert local(ticks_between(daily, start, start + timedelta(days=4)), BERLIN) == expected


def test_an_hourly_schedule_runs_through_the_repeated_hour() -> None:
    hourly = spec("0 * * * *", "Europe/Berlin")
    day = ticks_between(hourly, datetime(2026, 10, 24, 21, 59, tzinfo=UTC), datetime(2026, 10, 25, 22, 59, tzinfo=UTC))
    assert len(day) == 25  # local midnight to midnight on the fall-back day: 25 hours
    assert [t - s for s, t in zip(day, day[1:])] == [timedelta(hours=1)] * 24
    assert local(day, BERLIN)[2:5] == ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"]


def test_cron_is_read_in_the_schedules_timezone_across_dst() -> None:
    morning = spec("0 8 * * *", "America/New_York")
    ticks = next_ticks(morning, datetime(2026, 3, 7, 9, tzinfo=UTC), 3)
    assert [t.isoformat() for t in ticks] == ["2026-03-07T13:00:00+00:00", "2026-03-08T12:00:00+00:00", "2026-03-09T12:00:00+00:00"]
    assert local(ticks, NEW_YORK)[1] == "2026-03-08T08:00:00-04:00"
    assert previous_tick(morning, ticks[1]) == ticks[0]


@pytest.mark.parametrize(
    "missed, limit, fired, skipped",
    [
        ("skip", 24, [], 3),
        ("once", 24, ["13:00"], 2),
        ("all", 2, ["12:00", "13:00"], 1),
        ("all", 24, ["11:00", "12:00", "13:00"], 0),
    ],
)
def test_plan_ticks_after_an_outage(missed: str, limit: int, fired: list[str], skipped: int) -> None:
    hourly = spec("0 * * * *", missed=missed, catch_up_limit=limit)
    plan = plan_ticks(hourly, datetime(2026, 11, 25, 10, 5, tzinfo=UTC), datetime(2026, 11, 25, 13, 20, tzinfo=UTC))
    assert [t.strftime("%H:%M") for t in plan.fire] == fired
    assert plan.skipped == skipped
    assert plan.checked_until == datetime(2026, 11, 25, 13, 20, tzinfo=UTC)


def test_plan_ticks_first_sight_sets_the_watermark_only() -> None:
    hourly = spec("0 * * * *")
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert plan_ticks(hourly, None, now).fire == ()
    assert plan_ticks(hourly, now - timedelta(minutes=5), now).fire == (now,)
    assert plan_ticks(hourly, now, now).fire == ()


def test_skip_still_fires_ticks_within_grace() -> None:
    quarter = spec("*/15 * * * *", missed="skip", grace="20m")
    now = datetime(2026, 11, 25, 10, 31, tzinfo=UTC)
    plan = plan_ticks(quarter, now - timedelta(hours=1), now)
    assert [t.strftime("%H:%M") for t in plan.fire] == ["10:15", "10:30"]


@pytest.mark.parametrize(
    "cron, years, expected",
    [
        ("0 8 * * *", 1, "2026-03-02T08:00:00+01:00"),
        ("0 0 29 2 *", 1, None),  # the next 29 February is in 2028
        ("0 0 29 2 *", 2, "2028-02-29T00:00:00+01:00"),
        ("0 0 30 2 *", 28, None),
        ("0 0 31 4,6,9,11 *", 28, None),
    ],
)
def test_first_tick_within_some_years(cron: str, years: int, expected: str | None) -> None:
    found = first_tick_within(spec(cron, "Europe/Berlin"), datetime(2026, 3, 1, 12, 0, tzinfo=BERLIN), years)
    assert (found.astimezone(BERLIN).isoformat() if found else None) == expected


def test_schedule_specs_reject_bad_cron_and_zone() -> None:
    with pytest.raises(ValidationError, match="bad cron expression"):
        spec("61 * * * *")
    with pytest.raises(ValidationError, match="bad cron expression"):
        spec("0 8 * * * *")
    with pytest.raises(ValidationError, match="unknown IANA timezone 'Mars/Base'"):
        spec("0 8 * * *", "Mars/Base")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"action": "digest", "report_dir": "reports"}, "report_dir only apply to action: indicators"),
        ({"action": "inspections", "by": "region"}, "by only apply to action: indicators"),
        ({"action": "indicators", "report_url": "https://reports.example.com/"}, "set report_dir too"),
        ({"action": "indicators", "by": "station name"}, "should match pattern"),
    ],
    ids=["report-dir-on-digest", "by-on-inspections", "url-without-dir", "bad-field"],
)
def test_report_settings_belong_to_the_indicators_action(fields: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec("0 7 * * *", **fields)
    indicators = spec("0 7 * * *", action="indicators", by="station", report_dir="reports")
    assert (indicators.by, indicators.report_dir, indicators.report_url) == ("station", "reports", None)


OUTAGE_SCHEDULES = """\
schedules:
  - {name: skip, cron: "0 * * * *", timezone: Asia/Shanghai, action: digest, receivers: [center], missed: skip}
  - {name: once, cron: "0 * * * *", timezone: Asia/Shanghai, action: digest, receivers: [center], missed: once}
  - {name: all-2, cron: "0 * * * *", timezone: Asia/Shanghai, action: digest, receivers: [center], missed: all, catch_up_limit: 2}
  - {name: all, cron: "0 * * * *", timezone: Asia/Shanghai, action: indicators, receivers: [center], missed: all}
"""


def test_a_three_hour_outage_under_each_missed_tick_policy(state_url: str) -> None:
    """Runs every 5 minutes from 08:00 to 10:05, nothing until 13:20, then every 5 minutes to 14:05."""
    rules = ruleset(OUTAGE_SCHEDULES)
    deliverer = RecordingDeliverer()
    day = datetime(2026, 11, 25, tzinfo=UTC)
    times = [day + timedelta(hours=8, minutes=5 * n) for n in range(26)] + [day + timedelta(hours=13, minutes=20 + 5 * n) for n in range(10)]
    for now in times:
        with Store(state_url) as store:
            run(store, rules, [], now, deliverer)
            if now == day + timedelta(hours=13, minutes=20):
                again = run(store, rules, [], now, deliverer)
                assert again.schedules_fired == []
    with Store(state_url) as store:
        fires = store.schedule_fires()
    by_schedule: dict[str, list[str]] = {}
    for fire in fires:
        assert fire.key == schedule_key(fire.schedule, fire.scheduled_at)
        by_schedule.setdefault(fire.schedule, []).append(f"{fire.scheduled_at:%H:%M}@{fire.fired_at:%H:%M}")
    assert by_schedule == {
        "skip": ["09:00@09:00", "10:00@10:00", "14:00@14:00"],
        "once": ["09:00@09:00", "10:00@10:00", "13:00@13:20", "14:00@14:00"],
        "all-2": ["09:00@09:00", "10:00@10:00", "12:00@13:20", "13:00@13:20", "14:00@14:00"],
        "all": ["09:00@09:00", "10:00@10:00", "11:00@13:20", "12:00@13:20", "13:00@13:20", "14:00@14:00"],
    }
    sent = sorted(key for _, key, kind, _ in deliverer.take() if kind == "schedule")
    assert sent == sorted(fire.key for fire in fires)


def test_a_tick_fires_once_even_when_two_workers_reach_it(state_url: str) -> None:
    hourly = spec("0 * * * *", name="digest")
    with Store(state_url) as first, Store(state_url) as second:
        assert fire_schedules(first, [hourly], at(1, 55)) == ([], 0)
        # Both workers planned the 10:00 tick; the unique key lets one of them fire it.
        item = schedule_notification(first, hourly, at(2), at(2, 1))
        assert first.fire_schedule("digest", [(at(2), item)], at(2, 1), at(2, 1)) == [at(2)]
        assert second.fire_schedule("digest", [(at(2), item)], at(2, 1), at(2, 1)) == []
        # The watermark keeps a later run from even planning it again.
        assert fire_schedules(second, [hourly], at(2, 5)) == ([], 0)
        assert [e.key for e in first.outbox_entries()] == [schedule_key("digest", at(2))]
        assert [fire.scheduled_at for fire in second.schedule_fires("digest")] == [at(2)]


def test_actions_report_open_escalations_indicators_and_key_account_customers(state_url: str) -> None:
    extra = """\
schedules:
  - {name: digest, cron: "0 * * * *", timezone: UTC, action: digest, receivers: [center]}
  - {name: indicators, cron: "0 */2 * * *", timezone: UTC, action: indicators, receivers: [center]}
  - {name: inspections, cron: "0 * * * *", timezone: UTC, action: inspections, receivers: [desk], tiers: [P2]}
"""
    rules = ruleset(extra)
    tickets = [ticket("A", customer="Eastern Bank"), ticket("B", tier="P2", customer="Northern Grid", region="north"), ticket("C", tier="P2", customer="Northern Grid")]
    deliverer = RecordingDeliverer()
    for now in (at(1, 50), at(3, 30), at(4, 0)):
        with Store(state_url) as store:
            run(store, rules, tickets, now, deliverer)
    payloads = {note.labels["schedule"]: note.payload for _, note in deliverer.calls if note.kind == "schedule"}
    digest = payloads["digest"]
    assert digest["open_total"] == 3
    listed = [(level["level"], group["provider"], [item["ticket"] for item in group["items"]]) for level in digest["levels"] for group in level["providers"]]
    assert listed == [("escalate", "partner-east", ["B", "C"]), ("red", "partner-east", ["A"])]
    item = digest["levels"][0]["providers"][0]["items"][0]
    assert {k: item[k] for k in ("customer", "tier", "region", "provider", "acknowledged")} == {
        "customer": "Northern Grid", "tier": "P2", "region": "north", "provider": "partner-east", "acknowledged": False
    }
    # The indicators are yesterday's figures (UTC: the ruleset has no ticket_timezone); no ticket closed then.
    indicators = payloads["indicators"]
    assert indicators["period"] == {"from": "2026-11-24T00:00:00+00:00", "to": "2026-11-25T00:00:00+00:00"}
    assert (indicators["day"], indicators["by"], indicators["groups"], indicators["movers"]) == ("2026-11-24", "provider", [], [])
    assert indicators["total"]["figures"][0] == {**indicators["total"]["figures"][0], "figure": "tickets", "value": 0}
    assert payloads["inspections"]["customers"] == [{"customer": "Northern Grid", "region": "north", "tickets": 2}]


def test_shipped_inspection_schedule_fires_on_first_mondays_only() -> None:
    ruleset = load_ruleset(Path(__file__).resolve().parents[1] / "rulesets" / "repair-network.yaml")
    inspections = next(s for s in ruleset.schedules if s.name == "key-account-inspections")
    ticks = next_ticks(inspections, datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc), 4)
    local = [tick.astimezone(ZoneInfo("Asia/Shanghai")) for tick in ticks]
    assert [(t.month, t.day, t.hour) for t in local] == [(12, 7, 9), (1, 4, 9), (2, 1, 9), (3, 1, 9)]
    assert all(t.weekday() == 0 and t.day <= 7 for t in local)


DIGEST_SCHEDULE = """\
schedules:
  - {name: morning, description: Open escalations for the morning meeting., cron: "0 * * * *", timezone: UTC, action: digest, receivers: [center]}
"""


def test_the_digest_lists_escalations_by_level_then_provider_oldest_first(state_url: str) -> None:
    """Escalations open at different runs; the digest reads highest level first, providers by
    name (none last), oldest first within each, with customer, tier, age and acknowledgement."""
    rules = ruleset(DIGEST_SCHEDULE)
    tickets = [
        ticket("T-1", dispatched=at(0, -40), customer="Eastern Bank"),  # escalate from 13:20, seen 13:30
        ticket("T-2", dispatched=at(2, 20), customer="Eastern Bank"),  # red from 14:20, seen 14:30
        ticket("T-3", dispatched=at(-1, -40), provider=None, region="south"),  # escalate from 12:20, no provider, no customer
        ticket("T-5", dispatched=at(-1, -10), customer="Western Mining", provider="partner-west"),  # escalate from 12:50
        ticket("T-7", dispatched=at(3, 20), customer="Harbour Port"),  # yellow from 14:20
        ticket("T-9", dispatched=at(-2, -10), customer="Northern Grid"),  # escalate from 11:50, seen 12:00
    ]
    with Store(state_url) as store:
        for half_hours in range(7):  # runs every 30 minutes, 12:00 to 15:00
            now = at(4, 30 * half_hours)
            run(store, rules, tickets, now)
            if now == at(6):
                store.acknowledge("T-9", now, by="ops")
        note = schedule_notification(store, rules.schedules[0], at(7), at(7)).notification
    (message,) = AlertPipeline(rules).plan([note], at(7)).messages
    assert message.title == "morning 2026-11-25 15:00 UTC: 6 open escalations"
    assert message.body.splitlines() == [
        "Open escalations for the morning meeting.",
        "",
        "ESCALATE: 4 open",
        "  partner-east: 2",
        "    T-9 Northern Grid · P4 · response · for 3h, since 2026-11-25 12:00 UTC · acknowledged by ops",
        "    T-1 Eastern Bank · P4 · response · for 1h30m, since 2026-11-25 13:30 UTC",
        "  partner-west: 1",
        "    T-5 Western Mining · P4 · response · for 2h, since 2026-11-25 13:00 UTC",
        "  no provider: 1",
        "    T-3 (no customer) · P4 · response · for 2h30m, since 2026-11-25 12:30 UTC",
        "RED: 1 open",
        "  partner-east: 1",
        "    T-2 Eastern Bank · P4 · response · for 30m, since 2026-11-25 14:30 UTC",
        "YELLOW: 1 open",
        "  partner-east: 1",
        "    T-7 Harbour Port · P4 · response · for 30m, since 2026-11-25 14:30 UTC",
        "",
        "Total: 6 open escalations (escalate 4, red 1, yellow 1)",
    ]


_OPENED = st.sampled_from([at(h) for h in range(4)])


@st.composite
def _open_escalations(draw: st.DrawFn) -> list[tuple[Escalation, TicketState]]:
    found = []
    for index in range(draw(st.integers(0, 8))):
        level, rank = draw(st.sampled_from([("yellow", 1), ("red", 2), ("escalate", 3), ("late", 1)]))
        provider = draw(st.sampled_from([None, "partner-east", "partner-west"]))
        esc = Escalation(f"T-{index}", draw(st.sampled_from(["response", "resolution"])), level, rank, draw(_OPENED))
        found.append((esc, TicketState(f"T-{index}", provider=provider, routed_to=draw(st.sampled_from([None, "partner-north"])), customer=f"C{index}")))
    return found


@settings(deadline=None, max_examples=150)
@given(_open_escalations(), st.randoms(use_true_random=False))
def test_the_digest_does_not_depend_on_the_order_it_reads_escalations_in(listed: list[tuple[Escalation, TicketState]], random: Random) -> None:
    counts = Counter((esc.policy, esc.level, ticket.assigned_provider) for esc, ticket in listed)
    rows = [(*key, n) for key, n in counts.items()]
    report = digest_report(listed, rows, at(5))
    shuffled, shuffled_rows = list(listed), list(rows)
    random.shuffle(shuffled)
    random.shuffle(shuffled_rows)
    assert digest_report(shuffled, shuffled_rows, at(5)) == report
    # …and it reads highest level first, providers by name (none last), oldest first
    assert [level["rank"] for level in report["levels"]] == sorted((level["rank"] for level in report["levels"]), reverse=True)
    for level in report["levels"]:
        providers = [group["provider"] for group in level["providers"]]
        assert providers == sorted(providers, key=lambda who: (who is None, who or ""))
        for group in level["providers"]:
            assert [item["opened_at"] for item in group["items"]] == sorted(item["opened_at"] for item in group["items"])
    assert report["open_total"] == report["listed"] == len(listed)
