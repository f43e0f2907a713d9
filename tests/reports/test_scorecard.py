"""Scorecard figures against values computed by hand on the small archive of ``dataset.py``,
built by real hourly runs on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spm_rules.reports.archive import ReportTicket, closed_tickets
from spm_rules.reports.scorecard import AUDIT_KINDS, Durations, GroupFigures, Measurer, Rate, TicketMeasures, aggregate, duration_text, scorecard, scorecard_csv
from spm_rules.state.records import TicketState
from spm_rules.state.store import Store
from tests.reports.dataset import cst, hours, minutes, ruleset, run_hourly, run_once

RULES = ruleset()
DAY_25, DAY_27 = cst(25, 0), cst(27, 0)


def rate(figure: Rate) -> tuple[int, int]:
    return (figure.count, figure.of)


def times(durations: Durations) -> tuple[int, timedelta | None, timedelta | None, timedelta | None]:
    return (durations.count, durations.mean, durations.median, durations.p90)


def clock(group: GroupFigures, policy: str, stage: str) -> tuple:
    found = group.stage(policy, stage)
    assert found is not None
    return rate(found.on_time), times(found.business), times(found.wall), found.levels


def test_the_scorecard_of_two_days_matches_the_figures_computed_by_hand(state_url: str) -> None:
    run_hourly(state_url, RULES)
    with Store(state_url) as store:
        card = scorecard(store, RULES, DAY_25, DAY_27)
    # T7 closed on the 24th, T8 is open: neither is in [25th, 27th).
    assert [(g.group, g.tickets) for g in card.groups] == [("partner-east", 3), ("partner-north", 2), ("partner-south", 1), (None, 1)]

    east = card.group("partner-east")
    assert east is not None and east.unmeasured == 0
    # response, stage dispatched (day shift 08:00-20:00, target 4h):
    #   T1 17:00-18:00 + (paused 18:00-09:00) + 09:00-10:00 = 2h, wall 17:00-10:00 = 17h: on time
    #   T2 restart: only the last visit 14:00-15:00 = 1h (wall 1h): on time
    #   T4 09:30-14:30 = 5h (wall 5h): late, reached yellow (3h) and red (4h)
    #   business [1h, 2h, 5h]: mean 8h/3 = 2h40m, median 2h, p90 (rank ceil(0.9*3) = 3) 5h
    #   wall [1h, 5h, 17h]: mean 23h/3 = 7h40m, median 5h, p90 17h
    assert clock(east, "response", "dispatched") == (
        (2, 3),
        (3, hours(8) / 3, hours(2), hours(5)),
        (3, hours(23) / 3, hours(5), hours(17)),
        {"yellow": 1, "red": 1},
    )
    # resolution, end to end (24x7, 1d): T1 16:00-12:00 = 20h minus 15h paused = 5h; T2 08:00-16:00 = 8h;
    # T4 09:00-18:00 = 9h. Business [5h, 8h, 9h]: mean 22h/3, median 8h, p90 9h; wall [8h, 9h, 20h]: mean 37h/3.
    assert clock(east, "resolution", "resolution") == (
        (3, 3),
        (3, hours(22) / 3, hours(8), hours(9)),
        (3, hours(37) / 3, hours(9), hours(20)),
        {"late": 0},
    )
    # On every clock: T1 yes, T2 yes, T4 no (response).  T4 was escalated at red by the 14:00 run and
    # acknowledged 20 minutes later; its provider changed once after the first run (12:00); T2 reopened.
    assert (rate(east.on_time), rate(east.policy("response").on_time), rate(east.policy("resolution").on_time)) == ((2, 3), (2, 3), (3, 3))
    assert east.policy("response").breaches == {"yellow": 1, "red": 1}
    assert (east.escalated, east.reroutes, rate(east.reopened), rate(east.first_call)) == (1, 1, (1, 3), (0, 3))
    assert times(east.acknowledgement("response", "red")) == (1, minutes(20), minutes(20), minutes(20))

    north = card.group("partner-north")
    assert north is not None
    # T5 08:00-13:00 = 5h (late; red at 12:00, when the 12:00 run escalated it), T6 10:00-12:00 = 2h.
    # [2h, 5h]: mean = median = 3h30m, p90 (rank ceil(1.8) = 2) 5h; resolution T5 6h, T6 3h.
    assert clock(north, "response", "dispatched") == ((1, 2), (2, hours(3.5), hours(3.5), hours(5)), (2, hours(3.5), hours(3.5), hours(5)), {"yellow": 1, "red": 1})
    assert clock(north, "resolution", "resolution")[:2] == ((2, 2), (2, hours(4.5), hours(4.5), hours(6)))
    assert (rate(north.on_time), north.escalated, north.reroutes, rate(north.reopened), north.acknowledgements) == ((1, 2), 1, 0, (0, 2), ())

    south = card.group("partner-south")
    assert south is not None
    # T9 dispatched 21:00 and on site 01:00: no business time at all in the day shift, 4h of wall time.
    assert clock(south, "response", "dispatched") == ((1, 1), (1, hours(0), hours(0), hours(0)), (1, hours(4), hours(4), hours(4)), {"yellow": 0, "red": 0})

    nobody = card.group(None)
    assert nobody is not None
    # T3: solved on the call in 20 minutes; no dispatched stage, so the response policy did not measure it.
    assert clock(nobody, "resolution", "resolution")[:2] == ((1, 1), (1, minutes(20), minutes(20), minutes(20)))
    assert clock(nobody, "response", "dispatched")[:2] == ((0, 0), (0, None, None, None))
    assert (rate(nobody.on_time), rate(nobody.first_call)) == ((1, 1), (1, 1))

    total = card.total
    # All seven: on time on every clock T1, T2, T3, T6, T9 = 5 of 7.  Response over six tickets:
    # business [0, 1h, 2h, 2h, 5h, 5h] mean 15h/6 = 2h30m, median (2h+2h)/2, p90 (rank 6) 5h;
    # wall [1h, 2h, 4h, 5h, 5h, 17h] mean 34h/6, median (4h+5h)/2 = 4h30m, p90 17h.
    assert (total.tickets, rate(total.on_time), total.escalated, total.reroutes, rate(total.reopened), rate(total.first_call)) == (7, (5, 7), 2, 1, (1, 7), (1, 7))
    assert clock(total, "response", "dispatched") == ((4, 6), (6, hours(2.5), hours(2), hours(5)), (6, hours(34) / 6, hours(4.5), hours(17)), {"yellow": 2, "red": 2})
    # Resolution over seven: business [20m, 3h, 4h30m, 5h, 6h, 8h, 9h] sum 35h50m = 2150 min, median 5h, p90 (rank 7) 9h;
    # wall [20m, 3h, 4h30m, 6h, 8h, 9h, 20h] sum 50h50m = 3050 min, median 6h.
    assert clock(total, "resolution", "resolution")[:3] == ((7, 7), (7, minutes(2150) / 7, hours(5), hours(9)), (7, minutes(3050) / 7, hours(6), hours(20)))
    assert card.first_call_target == 0.78 and card.timezone == "Asia/Shanghai"


def test_a_period_contains_the_tickets_closed_in_it_by_their_own_time_whenever_runs_saw_them(state_url: str) -> None:
    # One run on the 27th sees every close; each ticket still counts on its own day.
    run_once(state_url, RULES)
    with Store(state_url) as store:
        day_24 = scorecard(store, RULES, cst(24, 0), DAY_25)
        day_26 = scorecard(store, RULES, cst(26, 0), DAY_27)
        by_station = scorecard(store, RULES, DAY_25, DAY_27, by="station")
    assert day_24.total.tickets == 1 and day_24.group("partner-east") is not None  # T7, 23:30 on the 24th
    # T1 (12:00), T5 (14:00) and T9 (01:30 on the 26th, still the 25th in UTC).
    assert [(g.group, g.tickets) for g in day_26.groups] == [("partner-east", 1), ("partner-north", 1), ("partner-south", 1)]
    # Nothing a run did: no run saw them open.
    assert (day_26.total.escalated, day_26.total.reroutes, day_26.total.acknowledgements) == (0, 0, ())
    # By a field of the tickets: T1 and T4 at station east-1, T2 at east-2, the others have none.
    assert [(g.group, g.tickets) for g in by_station.groups] == [("east-1", 2), ("east-2", 1), (None, 4)]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], (0, None, None, None)),
        ([5], (1, 5, 5, 5)),
        ([4, 1], (2, 2.5, 2.5, 4)),  # median of an even count: the mean of the middle two; p90 rank ceil(1.8) = 2
        ([3, 1, 2], (3, 2, 2, 3)),
        (list(range(1, 11)), (10, 5.5, 5.5, 9)),  # p90 of ten values: the ninth
        (list(range(1, 12)), (11, 6, 6, 10)),  # rank ceil(9.9) = 10
        (list(range(1, 71)), (70, 35.5, 35.5, 63)),  # rank 0.9 * 70 = 63 exactly: the 63rd value
    ],
)
def test_durations_are_mean_median_and_the_nearest_rank_90th_percentile(values: list[int], expected: tuple) -> None:
    found = Durations.of([hours(v) for v in values])
    count, *stats = expected
    assert times(found) == (count, *(hours(v) if v is not None else None for v in stats))


@pytest.mark.parametrize(("value", "text"), [(None, "-"), (timedelta(seconds=45), "45s"), (hours(8) / 3, "2h40m"), (timedelta(hours=3, minutes=36, seconds=40), "3h37m"), (hours(26), "26h")])
def test_durations_read_to_the_minute_in_hours_at_most(value: timedelta | None, text: str) -> None:
    assert duration_text(value) == text


def test_a_ticket_without_facts_counts_in_volume_and_what_the_state_keeps_only() -> None:
    state = TicketState("OLD", status="first_call_resolved", provider="partner-east", closed_at=cst(25, 10), archived=True, first_seen_at=cst(25, 9))
    measures = Measurer(RULES).measure(ReportTicket(state, None, cst(25, 10)))
    assert (measures.group, measures.measured, measures.stages, measures.first_call, measures.on_time) == ("partner-east", False, (), True, None)
    card = aggregate([measures], RULES, DAY_25, DAY_27)
    assert (card.total.tickets, card.total.unmeasured, rate(card.total.on_time), rate(card.total.first_call)) == (1, 1, (0, 0), (1, 1))


def test_csv_has_one_row_per_group_and_all_with_rates_and_seconds(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    run_hourly(url, RULES)
    with Store(url) as store:
        lines = scorecard_csv(scorecard(store, RULES, DAY_25, DAY_27)).splitlines()
    header = lines[0].split(",")
    rows = {line.split(",")[0]: dict(zip(header, line.split(","))) for line in lines[1:]}
    assert list(rows) == ["partner-east", "partner-north", "partner-south", "no provider", "all"]
    east = rows["partner-east"]
    assert (east["closed"], east["on_time_rate"], east["response.dispatched.business_mean_seconds"], east["response.dispatched.wall_p90_seconds"]) == ("3", "0.6667", "9600", "61200")
    assert (east["ack.response.red.mean_seconds"], east["reopen_rate"], east["first_call_rate"], east["reroutes"]) == ("1200", "0.3333", "0.0000", "1")
    assert rows["no provider"]["response.dispatched.on_time_rate"] == ""  # nothing measured: no rate, not 0


@pytest.fixture(scope="module")
def measures(tmp_path_factory: pytest.TempPathFactory) -> tuple[TicketMeasures, ...]:
    """The dataset's measures, from one set of hourly runs (pure from here on)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('measures') / 'state.db'}"
    run_hourly(url, RULES)
    measurer = Measurer(RULES)
    with Store(url) as store:
        return tuple(measurer.measure(t) for t in closed_tickets(store, RULES, cst(20, 0), DAY_27, audit_kinds=AUDIT_KINDS))


@settings(max_examples=30, deadline=None)
@given(shuffler=st.randoms(use_true_random=False))
def test_the_scorecard_does_not_depend_on_the_order_tickets_are_read_in(measures: tuple[TicketMeasures, ...], shuffler: random.Random) -> None:
    expected = aggregate(measures, RULES, cst(20, 0), DAY_27).to_json()
    shuffled = list(measures)
    shuffler.shuffle(shuffled)
    assert aggregate(shuffled, RULES, cst(20, 0), DAY_27).to_json() == expected
