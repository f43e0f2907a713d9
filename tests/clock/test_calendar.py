"""Business calendars: named cases, validation, and properties against a brute-force oracle.

The oracle (``calendar_oracle.py``) walks UTC minute by minute with its own reading of
the YAML mapping, so the property tests use whole-minute instants and half-hour windows
(which land window edges inside DST gaps and repeated hours often).  Properties that need
no oracle (inverse to the microsecond, long spans against day-by-day sums, an all-day
calendar against real time) run on microsecond instants and spans of years.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import date, datetime, timedelta, timezone, tzinfo
from itertools import accumulate, pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from spm_rules.clock.calendar import (
    TWENTY_FOUR_SEVEN,
    BusinessCalendar,
    Calendar,
    CalendarSpec,
    DstTransition,
    compile_calendar,
    compile_calendars,
)

from .calendar_oracle import OracleCalendar

UTC = timezone.utc
SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)
M = timedelta(minutes=1)
US = timedelta(microseconds=1)


def build(mapping: dict[str, Any], name: str = "test") -> BusinessCalendar:
    return compile_calendar(CalendarSpec.model_validate(mapping), name)


def local(
    zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)


def on(zone: ZoneInfo, day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=zone)


OFFICE = build({"timezone": "Asia/Shanghai", "hours": {"mon-fri": ["09:00-18:00"]}}, "office")
CHINA_MAPPING = {
    "timezone": "Asia/Shanghai",
    "hours": {"mon-fri": ["09:00-12:00", "13:00-18:00"]},
    "holidays": [{"from": "2026-10-01", "to": "2026-10-07"}],
    "working_days": ["2026-10-10"],
}
CHINA = build(CHINA_MAPPING, "cn")
NIGHTS = build(
    {"timezone": "Asia/Shanghai", "hours": {"mon-fri": ["22:00-06:00"]}, "holidays": ["2026-03-10"]}, "nights"
)


# --------------------------------------------------------------------------- named cases


@pytest.mark.parametrize(
    ("start", "amount", "due"),
    [
        (local(SHANGHAI, 2026, 3, 6, 17), 4 * H, local(SHANGHAI, 2026, 3, 9, 12)),  # Fri 17:00 + 4h: Mon 12:00
        (local(SHANGHAI, 2026, 3, 6, 17), 1 * H, local(SHANGHAI, 2026, 3, 6, 18)),  # used up at Fri 18:00, not Mon
        (local(SHANGHAI, 2026, 3, 6, 17), 10 * H, local(SHANGHAI, 2026, 3, 9, 18)),
        (local(SHANGHAI, 2026, 3, 6, 17), timedelta(0), local(SHANGHAI, 2026, 3, 6, 17)),
        (local(SHANGHAI, 2026, 3, 6, 18), timedelta(0), local(SHANGHAI, 2026, 3, 6, 18)),  # 0 does not move on
        (local(SHANGHAI, 2026, 3, 7, 10), 1 * H, local(SHANGHAI, 2026, 3, 9, 10)),  # from a Saturday
        (local(SHANGHAI, 2026, 3, 6, 17, 59, 59, 999_999), 2 * US, local(SHANGHAI, 2026, 3, 9, 9, 0, 0, 1)),
        (local(SHANGHAI, 2026, 3, 2, 9), 5 * 9 * H * 13, local(SHANGHAI, 2026, 5, 29, 18)),  # 13 weeks later
    ],
)
def test_office_due_times(start: datetime, amount: timedelta, due: datetime) -> None:
    result = OFFICE.add(start, amount)
    assert result == due
    assert result.tzinfo is UTC
    assert OFFICE.elapsed(start, result) == amount


@pytest.mark.parametrize(
    ("start", "amount", "due"),
    [
        (local(SHANGHAI, 2026, 9, 30, 17), 4 * H, local(SHANGHAI, 2026, 10, 8, 12)),  # the holiday week skipped
        (local(SHANGHAI, 2026, 10, 9, 17), 4 * H, local(SHANGHAI, 2026, 10, 10, 12)),  # the make-up Saturday counts
        (local(SHANGHAI, 2026, 10, 10, 9), 8 * H, local(SHANGHAI, 2026, 10, 10, 18)),
        (local(SHANGHAI, 2026, 10, 10, 17), 2 * H, local(SHANGHAI, 2026, 10, 12, 10)),  # Sunday is still off
        (local(SHANGHAI, 2026, 9, 1, 9), 8 * H * 40, local(SHANGHAI, 2026, 10, 30, 18)),  # 40 working days later
    ],
)
def test_china_national_holiday_week(start: datetime, amount: timedelta, due: datetime) -> None:
    assert CHINA.add(start, amount) == due
    assert CHINA.elapsed(start, due) == amount


def test_china_holiday_weeks_are_explained() -> None:
    start, end = local(SHANGHAI, 2026, 9, 28), local(SHANGHAI, 2026, 10, 12)
    explanation = CHINA.explain(start, end)
    assert CHINA.elapsed(start, end) == 48 * H  # Mon-Wed, Thu-Fri after the holidays, and the make-up Saturday
    assert explanation.total == 48 * H
    assert explanation.holidays_skipped == tuple(date(2026, 10, d) for d in (1, 2, 5, 6, 7))  # not the weekend
    assert explanation.make_up_days == (date(2026, 10, 10),)
    assert [w.day for w in explanation.windows if w.make_up] == [date(2026, 10, 10)] * 2
    assert len(explanation.windows) == 12
    assert explanation.dst_transitions == ()
    assert explanation.days_off == (date(2026, 10, 3), date(2026, 10, 4), date(2026, 10, 11))  # the weekend, holiday or not; not the make-up Saturday


def test_china_long_span_matches_the_oracle() -> None:
    start, end = local(SHANGHAI, 2026, 9, 14, 10, 30), local(SHANGHAI, 2026, 10, 20, 15, 45)
    assert CHINA.elapsed(start, end) == OracleCalendar(CHINA_MAPPING).elapsed(start, end)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # Monday's 22:00-06:00 runs into the holiday Tuesday and counts; Tuesday's own does not
        (local(SHANGHAI, 2026, 3, 9), local(SHANGHAI, 2026, 3, 11, 12), 8 * H),
        (local(SHANGHAI, 2026, 3, 10), local(SHANGHAI, 2026, 3, 10, 12), 6 * H),
        (local(SHANGHAI, 2026, 3, 10, 12), local(SHANGHAI, 2026, 3, 11, 12), timedelta(0)),
        # Friday's window runs into Saturday; Sunday has none running into Monday
        (local(SHANGHAI, 2026, 3, 7), local(SHANGHAI, 2026, 3, 7, 12), 6 * H),
        (local(SHANGHAI, 2026, 3, 9), local(SHANGHAI, 2026, 3, 9, 12), timedelta(0)),
        (local(SHANGHAI, 2026, 3, 4, 23, 30), local(SHANGHAI, 2026, 3, 5, 0, 30), 1 * H),
    ],
)
def test_midnight_crossing_window_elapsed(start: datetime, end: datetime, expected: timedelta) -> None:
    assert NIGHTS.elapsed(start, end) == expected


def test_midnight_crossing_window_due_and_boundaries() -> None:
    friday_night = local(SHANGHAI, 2026, 3, 6, 23)
    assert NIGHTS.add(friday_night, 8 * H) == local(SHANGHAI, 2026, 3, 9, 23)  # 7h to Sat 06:00, 1h from Mon 22:00
    assert NIGHTS.next_boundary(local(SHANGHAI, 2026, 3, 7, 3)) == local(SHANGHAI, 2026, 3, 7, 6)
    assert NIGHTS.next_boundary(local(SHANGHAI, 2026, 3, 7, 7)) == local(SHANGHAI, 2026, 3, 9, 22)
    assert NIGHTS.next_boundary(local(SHANGHAI, 2026, 3, 10, 3)) == local(SHANGHAI, 2026, 3, 10, 6)
    assert NIGHTS.next_boundary(local(SHANGHAI, 2026, 3, 10, 7)) == local(SHANGHAI, 2026, 3, 11, 22)  # holiday


# (zone, spring-forward Sunday, fall-back Sunday, hour the clock changes at)
DST_ZONES = [
    (NEW_YORK, date(2026, 3, 8), date(2026, 11, 1), 2),
    (BERLIN, date(2026, 3, 29), date(2026, 10, 25), 2),
]


@pytest.mark.parametrize(("zone", "spring", "fall", "hour"), DST_ZONES)
def test_twenty_four_seven_counts_real_hours_across_dst(zone: ZoneInfo, spring: date, fall: date, hour: int) -> None:
    for sunday, real in ((spring, 6 * H), (fall, 8 * H)):  # 20:00 to 03:00 is 7 hours on the wall clock
        evening = on(zone, sunday - timedelta(days=1), 20)
        morning = on(zone, sunday, 3)
        assert TWENTY_FOUR_SEVEN.elapsed(evening, morning) == real
        assert TWENTY_FOUR_SEVEN.add(evening, real) == morning


@pytest.mark.parametrize(("zone", "spring", "fall", "hour"), DST_ZONES)
def test_night_window_across_dst_is_wall_clock(zone: ZoneInfo, spring: date, fall: date, hour: int) -> None:
    nights = build({"timezone": zone.key, "hours": {"mon-sun": ["22:00-06:00"]}})
    for sunday, real in ((spring, 7 * H), (fall, 9 * H)):
        noon_before, noon = on(zone, sunday - timedelta(days=1), 12), on(zone, sunday, 12)
        assert nights.elapsed(noon_before, noon) == real
        assert nights.add(noon_before, real) == on(zone, sunday, 6)
        explanation = nights.explain(noon_before, noon)
        assert explanation.total == real
        assert [t.offset_after - t.offset_before for t in explanation.dst_transitions] == [8 * H - real]


@pytest.mark.parametrize(("zone", "spring", "fall", "hour"), DST_ZONES)
@pytest.mark.parametrize(
    ("season", "window", "expected"),
    [
        ("spring", "{h}:30-05:00", 2 * H),  # opens at the jump
        ("spring", "01:00-{h}:30", 1 * H),  # closes at the jump
        ("spring", "{h}:15-{h}:45", timedelta(0)),  # wholly inside the gap
        ("fall", "{h1}:30-{h2}:00", 2 * H + 30 * M),  # opens at the first occurrence, stays open
        ("fall", "{h0}:00-{h1}:30", 1 * H + 30 * M),  # closes at the first occurrence, does not reopen
        ("fall", "{h1}:00-{h1}:30", 30 * M),
    ],
)
def test_window_edges_in_dst_gaps_and_repeats(
    zone: ZoneInfo, spring: date, fall: date, hour: int, season: str, window: str, expected: timedelta
) -> None:
    # New York springs 02:00->03:00 and falls 02:00->01:00; Berlin springs 02:00->03:00 and falls 03:00->02:00
    repeated = hour - 1 if zone is NEW_YORK else hour
    text = window.format(h=f"{hour:02d}", h0=f"{repeated - 1:02d}", h1=f"{repeated:02d}", h2=f"{repeated + 2:02d}")
    calendar = build({"timezone": zone.key, "hours": {"sun": [text]}})
    sunday = spring if season == "spring" else fall
    day = on(zone, sunday, 0)
    assert calendar.elapsed(day, day + timedelta(days=1)) == expected
    assert calendar.elapsed(day + timedelta(days=7), day + timedelta(days=8)) == _wall_length(text)


def _wall_length(text: str) -> timedelta:
    start, end = (datetime.strptime(part, "%H:%M") for part in text.split("-"))
    return end - start


@pytest.mark.parametrize(
    ("hours", "start", "end", "expected"),
    [
        # 2026-04-04 24:00 -03 becomes 23:00 -04: Saturday's window stays open through the repeated hour
        ({"sat": ["22:00-24:00"]}, datetime(2026, 4, 4, 12, tzinfo=UTC), datetime(2026, 4, 6, tzinfo=UTC), 3 * H),
        # 2026-09-05 24:00 -04 becomes Sunday 01:00 -03: Sunday's window opens at the jump
        ({"sun": ["00:00-02:00"]}, datetime(2026, 9, 5, 12, tzinfo=UTC), datetime(2026, 9, 7, tzinfo=UTC), 1 * H),
        ({"sat": ["23:00-01:00"]}, datetime(2026, 9, 5, 12, tzinfo=UTC), datetime(2026, 9, 7, tzinfo=UTC), 1 * H),
    ],
)
def test_clocks_changing_at_midnight(
    hours: dict[str, list[str]], start: datetime, end: datetime, expected: timedelta
) -> None:
    calendar = build({"timezone": "America/Santiago", "hours": hours})
    assert calendar.elapsed(start, end) == expected
    assert calendar.elapsed(start, end) == OracleCalendar({"timezone": "America/Santiago", "hours": hours}).elapsed(
        start, end
    )


def test_spring_forward_gap_edges_land_on_the_jump() -> None:
    calendar = build({"timezone": "America/New_York", "hours": {"sun": ["02:30-05:00"]}})
    jump = datetime(2026, 3, 8, 7, tzinfo=UTC)  # 02:00 EST becomes 03:00 EDT
    assert calendar.add(local(NEW_YORK, 2026, 3, 8), M) == jump + M
    assert calendar.next_boundary(local(NEW_YORK, 2026, 3, 8)) == jump


def test_long_spans_count_night_windows_across_dst() -> None:
    saturday_nights = build({"timezone": "America/New_York", "hours": {"sat": ["22:00-06:00"]}})
    spring = local(NEW_YORK, 2026, 1, 1), local(NEW_YORK, 2026, 6, 1)  # 22 Saturdays, one spring-forward night
    assert saturday_nights.elapsed(*spring) == 22 * 8 * H - H
    assert saturday_nights.add(spring[0], 22 * 8 * H - H) == local(NEW_YORK, 2026, 5, 31, 6)
    year = local(NEW_YORK, 2026, 1, 1), local(NEW_YORK, 2027, 1, 1)
    assert saturday_nights.elapsed(*year) == 52 * 8 * H


def test_business_hours_skip_a_dst_weekend_by_the_wall_clock() -> None:
    office = build({"timezone": "America/New_York", "hours": {"mon-fri": ["09:00-18:00"]}})
    assert office.add(local(NEW_YORK, 2026, 3, 6, 17), 4 * H) == datetime(2026, 3, 9, 16, tzinfo=UTC)  # 12:00 EDT
    assert office.elapsed(local(NEW_YORK, 2026, 3, 2), local(NEW_YORK, 2026, 3, 16)) == 90 * H
    assert office.elapsed(local(NEW_YORK, 2026, 1, 1), local(NEW_YORK, 2026, 12, 31)) == 260 * 9 * H


# --------------------------------------------------------------------------- boundaries, explain, protocol


ALL_DAY = build({"timezone": "Europe/Berlin", "hours": {"mon-sun": ["00:00-24:00"]}})
ALL_DAY_WITH_HOLIDAYS = build(
    {"timezone": "Europe/Berlin", "hours": {"mon-sun": ["00:00-24:00"]}, "holidays": ["2026-10-01", "2027-05-01"]}
)
WEEKDAYS_ALL_DAY = build({"timezone": "Europe/Berlin", "hours": {"mon-fri": ["00:00-24:00"]}})


@pytest.mark.parametrize(
    ("calendar", "at", "boundary"),
    [
        (OFFICE, local(SHANGHAI, 2026, 3, 6, 17), local(SHANGHAI, 2026, 3, 6, 18)),
        (OFFICE, local(SHANGHAI, 2026, 3, 6, 18), local(SHANGHAI, 2026, 3, 9, 9)),
        (OFFICE, local(SHANGHAI, 2026, 3, 7, 12), local(SHANGHAI, 2026, 3, 9, 9)),
        (OFFICE, local(SHANGHAI, 2026, 3, 9, 9), local(SHANGHAI, 2026, 3, 9, 18)),
        (CHINA, local(SHANGHAI, 2026, 9, 30, 19), local(SHANGHAI, 2026, 10, 8, 9)),
        (WEEKDAYS_ALL_DAY, local(BERLIN, 2026, 3, 23, 10), local(BERLIN, 2026, 3, 28)),  # touching days merge
        (WEEKDAYS_ALL_DAY, local(BERLIN, 2026, 3, 28, 10), local(BERLIN, 2026, 3, 30)),
        (ALL_DAY_WITH_HOLIDAYS, local(BERLIN, 2026, 3, 1), local(BERLIN, 2026, 10, 1)),
        (ALL_DAY_WITH_HOLIDAYS, local(BERLIN, 2026, 10, 1, 5), local(BERLIN, 2026, 10, 2)),
        (ALL_DAY_WITH_HOLIDAYS, local(BERLIN, 2026, 10, 2, 5), local(BERLIN, 2027, 5, 1)),
        (ALL_DAY_WITH_HOLIDAYS, local(BERLIN, 2027, 5, 2), None),
        (ALL_DAY, local(BERLIN, 2026, 3, 1), None),
        (TWENTY_FOUR_SEVEN, local(BERLIN, 2026, 3, 1), None),
    ],
)
def test_next_boundary(calendar: Calendar, at: datetime, boundary: datetime | None) -> None:
    assert calendar.next_boundary(at) == boundary


def test_twenty_four_seven_explain_and_protocol() -> None:
    start, end = local(NEW_YORK, 2026, 3, 7, 20), local(NEW_YORK, 2026, 3, 8, 3)
    explanation = TWENTY_FOUR_SEVEN.explain(start, end)
    assert explanation.total == 6 * H
    assert [(w.start, w.end) for w in explanation.windows] == [(start, end)]
    assert TWENTY_FOUR_SEVEN.explain(end, start).total == timedelta(0)
    assert isinstance(TWENTY_FOUR_SEVEN, Calendar) and isinstance(CHINA, Calendar)


def test_explain_names_the_dst_transition() -> None:
    explanation = ALL_DAY.explain(local(BERLIN, 2026, 3, 28), local(BERLIN, 2026, 3, 30))
    assert explanation.total == 47 * H
    assert explanation.dst_transitions == (DstTransition(datetime(2026, 3, 29, 1, tzinfo=UTC), H, 2 * H),)


def test_compile_calendars_adds_the_built_in() -> None:
    spec = CalendarSpec.model_validate(CHINA_MAPPING)
    calendars = compile_calendars({"cn": spec})
    assert calendars["24x7"] is TWENTY_FOUR_SEVEN
    assert calendars["cn"].name == "cn"
    assert calendars["cn"].elapsed(local(SHANGHAI, 2026, 10, 1), local(SHANGHAI, 2026, 10, 8)) == timedelta(0)
    with pytest.raises(ValueError, match="reserved"):
        compile_calendars({"24x7": spec})


def test_calendar_is_immutable() -> None:
    with pytest.raises(AttributeError):
        CHINA.name = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        CHINA._week = ()  # type: ignore[misc]


@pytest.mark.parametrize("calendar", [CHINA, TWENTY_FOUR_SEVEN], ids=["business", "24x7"])
def test_inputs_must_be_aware_and_durations_not_negative(calendar: Calendar) -> None:
    naive, aware = datetime(2026, 3, 9, 10), local(SHANGHAI, 2026, 3, 9, 10)
    for call in (
        lambda: calendar.elapsed(naive, aware),
        lambda: calendar.elapsed(aware, naive),
        lambda: calendar.add(naive, H),
        lambda: calendar.next_boundary(naive),
        lambda: calendar.explain(aware, naive),
    ):
        with pytest.raises(ValueError, match="timezone-aware"):
            call()
    with pytest.raises(ValueError, match="negative"):
        calendar.add(aware, -H)


def test_results_do_not_depend_on_the_inputs_zone() -> None:
    start = local(SHANGHAI, 2026, 9, 30, 17)
    in_berlin = start.astimezone(BERLIN)
    assert CHINA.add(in_berlin, 4 * H) == CHINA.add(start, 4 * H)
    assert CHINA.elapsed(in_berlin, local(NEW_YORK, 2026, 10, 9)) == CHINA.elapsed(start, local(NEW_YORK, 2026, 10, 9))


# --------------------------------------------------------------------------- validation


GOOD = {"timezone": "Asia/Shanghai", "hours": {"mon-fri": ["09:00-18:00"]}}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hours": {"mon": ["25:00-26:00"]}}, r"hours: mon: bad time '25:00' in window '25:00-26:00'"),
        ({"hours": {"mon": ["09:00-18:60"]}}, r"bad time '18:60'"),
        ({"hours": {"mon": ["24:00-06:00"]}}, r"starts at 24:00; 24:00 can only end a window"),
        ({"hours": {"mon": ["9-18"]}}, r"bad time '9'"),
        ({"hours": {"mon": ["09:00"]}}, r"bad window '09:00'"),
        ({"hours": {"mon": ["09:00-12:00", "11:00-13:00"]}}, r"mon: windows '09:00-12:00' and '11:00-13:00' overlap"),
        ({"hours": {"mon": ["22:00-06:00", "23:00-23:30"]}}, r"overlap"),
        ({"hours": {"mon": ["20:00-08:00"], "tue": ["07:00-12:00"]}}, r"mon runs into tue until 08:00, past its first"),
        ({"hours": {"sun": ["20:00-08:00"], "mon": ["07:00-12:00"]}}, r"sun runs into mon until 08:00"),
        ({"hours": {"monday": ["09:00-18:00"]}}, r"unknown day 'monday'"),
        ({"hours": {"mon-fry": ["09:00-18:00"]}}, r"unknown day 'mon-fry'"),
        (
            {"hours": {"mon-fri": ["09:00-18:00"], "wed": ["10:00-11:00"]}},
            r"wed is given twice \(in 'mon-fri' and 'wed'\)",
        ),
        ({"hours": {"mon": []}}, r"at least one working window"),
        ({"holidays": [{"from": "2026-10-07", "to": "2026-10-01"}]}, r"ends \(2026-10-01\) before it starts"),
        ({"holidays": ["2026-13-01"]}, r"bad date '2026-13-01'"),
        ({"working_days": [20261010]}, r"bad date 20261010"),
        ({"timezone": "Mars/Olympus_Mons"}, r"unknown IANA timezone 'Mars/Olympus_Mons'"),
        ({"working_day_hours": "sat"}, r"working_day_hours: sat has no hours"),
        ({"working_day_hours": "funday"}, r"working_day_hours: unknown day 'funday'"),
        ({"holiday": ["2026-10-01"]}, r"Extra inputs are not permitted"),
        (
            {"hours": {"mon-fri": ["09:00-18:00"], "sat": ["20:00-10:00"]}, "working_days": ["2026-10-11"]},
            r"working_days: 2026-10-11 .*: 2026-10-10 runs into 2026-10-11 until 10:00",
        ),
    ],
)
def test_validation_errors(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CalendarSpec.model_validate({**GOOD, **changes})


@pytest.mark.parametrize(
    ("hours", "day", "expected"),
    [
        ({"mon": ["22:00-24:00"]}, date(2026, 3, 9), 2 * H),
        ({"mon": ["00:00-24:00"]}, date(2026, 3, 9), 24 * H),
        ({"mon": ["00:00-00:00"]}, date(2026, 3, 9), 24 * H),  # end == start crosses: a whole day
        ({"Fri-Mon": ["10:00-11:00"]}, date(2026, 3, 8), 1 * H),  # a range wrapping over the weekend; any case
        ({"Fri-Mon": ["10:00-11:00"]}, date(2026, 3, 10), timedelta(0)),
        ({"mon": ["9:00 - 10:30", "12:00-13:00"]}, date(2026, 3, 9), 2 * H + 30 * M),
    ],
)
def test_accepted_hours(hours: dict[str, list[str]], day: date, expected: timedelta) -> None:
    calendar = build({"timezone": "UTC", "hours": hours})
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    assert calendar.elapsed(start, start + timedelta(days=1)) == expected


def test_reserved_and_empty_names() -> None:
    spec = CalendarSpec.model_validate(GOOD)
    for name in ("24x7", ""):
        with pytest.raises(ValueError):
            compile_calendar(spec, name)


# --------------------------------------------------------------------------- properties

# Santiago changes its clocks at midnight (Saturday 24:00 becomes 23:00, or Sunday 01:00)
DST_ZONE_KEYS = ("America/New_York", "Europe/Berlin", "America/Santiago")
ZONES = (*DST_ZONE_KEYS, "Asia/Shanghai", "UTC")
DST_DATES = tuple(  # UTC dates of those zones' clock changes
    date.fromisoformat(text)
    for text in (
        "2025-03-09",
        "2025-11-02",
        "2025-03-30",
        "2025-10-26",
        "2025-04-06",
        "2025-09-07",
        "2026-03-08",
        "2026-11-01",
        "2026-03-29",
        "2026-10-25",
        "2026-04-05",
        "2026-09-06",
    )
)
FIRST, LAST = datetime(2024, 1, 1, tzinfo=UTC), datetime(2027, 12, 1, tzinfo=UTC)
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _clock(minutes: int) -> str:
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


def _sized(*bounds: int) -> st.SearchStrategy[int]:
    """An integer from one of the ranges between consecutive ``bounds``, each range equally likely
    (plain ``st.integers`` over a wide range mostly draws small values)."""
    return st.integers(0, len(bounds) - 2).flatmap(lambda index: st.integers(bounds[index], bounds[index + 1]))


def _any_week(draw: st.DrawFn) -> tuple[list[list[tuple[int, int]]], int | None]:
    """0-3 half-hour-aligned windows a day, some crossing midnight; and a make-up weekday or None."""
    week: list[list[tuple[int, int]]] = []
    for _ in range(7):
        count = draw(st.integers(0, 3))
        earliest = draw(st.sampled_from([0, 6, 16]))  # a late first window leaves room for long tails before it
        points = sorted(draw(st.lists(st.integers(earliest, 48), min_size=2 * count, max_size=2 * count, unique=True)))
        week.append([(points[2 * i] * 30, points[2 * i + 1] * 30) for i in range(count)])
    if not any(week):
        week[draw(st.integers(0, 6))] = [(540, 1080)]
    working = [day for day in range(7) if week[day]]
    make_up = draw(st.sampled_from(working)) if draw(st.booleans()) else None
    heads = [windows[0][0] if windows else 1440 for windows in week]
    make_up_head = heads[working[0] if make_up is None else make_up]
    for day in working:  # a tail must end before whatever date may follow: the next weekday or a make-up day
        follows = min(heads) if day == (working[0] if make_up is None else make_up) else heads[(day + 1) % 7]
        if draw(st.booleans()):
            tail = draw(st.integers(0, min(follows, make_up_head) // 30)) * 30
            week[day][-1] = (week[day][-1][0], 1440 + tail)
    return week, make_up


def _night_week(draw: st.DrawFn) -> tuple[list[list[tuple[int, int]]], int | None]:
    """Windows that straddle the small hours, where DST changes happen: most days have one
    from 18:00-23:30 to 00:30-05:00, some a day window within 05:00-17:30 as well."""
    week: list[list[tuple[int, int]]] = []
    for _ in range(7):
        windows = []
        if draw(st.booleans()):
            start = draw(st.integers(10, 30)) * 30
            windows.append((start, start + draw(st.integers(1, 5)) * 30))
        if draw(st.integers(0, 3)):
            windows.append((draw(st.integers(36, 47)) * 30, 1440 + draw(st.integers(1, 10)) * 30))
        week.append(windows)
    if not any(week):
        week[draw(st.integers(0, 6))] = [(1380, 1620)]
    working = [day for day in range(7) if week[day]]
    return week, draw(st.sampled_from(working)) if draw(st.booleans()) else None


@st.composite
def calendar_mappings(draw: st.DrawFn, zone: str, first: date, days: int) -> dict[str, Any]:
    """A random valid calendar (any windows, or night windows around DST hours), with holidays
    and make-up days between ``first`` and ``days`` later."""
    week, make_up = _night_week(draw) if draw(st.integers(0, 2)) == 0 else _any_week(draw)
    hours: dict[str, list[str]] = {}
    for name, windows in zip(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), week, strict=True):
        texts = []
        for start, end in windows:
            midnight = "24:00" if end == 1440 and draw(st.booleans()) else "00:00"
            texts.append(f"{_clock(start)}-{midnight if end == 1440 else _clock(end)}")
        listed: bool = bool(texts) or draw(st.booleans())  # sometimes write a day without hours as []
        if listed:
            hours[name] = texts
    some_day = st.integers(0, days).map(lambda offset: first + timedelta(days=offset))
    holidays: list[Any] = [day.isoformat() for day in draw(st.lists(some_day, max_size=3))]
    for day in draw(st.lists(some_day, max_size=2)):
        holidays.append({"from": day, "to": day + timedelta(days=draw(st.integers(0, 6)))})
    mapping: dict[str, Any] = {
        "timezone": zone,
        "hours": hours,
        "holidays": holidays,
        "working_days": draw(st.lists(some_day, max_size=3)),
    }
    if make_up is not None:
        mapping["working_day_hours"] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[make_up]
    return mapping


@st.composite
def oracle_cases(draw: st.DrawFn, zone: str) -> tuple[dict[str, Any], datetime, int, tzinfo]:
    """(calendar mapping, whole-minute UTC start, span in minutes, zone the inputs are written in)."""
    if zone in DST_ZONE_KEYS and draw(st.booleans()):
        near = draw(st.sampled_from(DST_DATES))
        start = datetime(near.year, near.month, near.day, tzinfo=UTC) + draw(st.integers(-3 * 1440, 2 * 1440)) * M
    else:
        start = FIRST + draw(st.integers(0, (LAST - FIRST) // M)) * M
    span = draw(_sized(0, 720, 4 * 1440, 20 * 1440))
    mapping = draw(calendar_mappings(zone, start.date() - timedelta(days=3), span // 1440 + 6))
    shown = draw(st.sampled_from([UTC, ZoneInfo(mapping["timezone"]), timezone(timedelta(hours=5, minutes=30))]))
    return mapping, start, span, shown


@pytest.mark.parametrize("zone", ZONES)
@settings(PROPERTY, max_examples=60)
@given(data=st.data())
def test_elapsed_add_and_boundaries_match_the_oracle(zone: str, data: st.DataObject) -> None:
    mapping, start, span, shown = data.draw(oracle_cases(zone), label="case")
    calendar, oracle = build(mapping), OracleCalendar(mapping)
    cells = oracle.minutes(start, start + span * M)
    used = list(accumulate(cells, initial=0))

    def at(minute: int) -> datetime:  # an input, written in the drawn zone
        return (start + minute * M).astimezone(shown)

    def utc(minute: int) -> datetime:  # an expected result; results are UTC, and an aware time in a
        return start + minute * M  # repeated hour never compares equal to one in another zone

    assert calendar.elapsed(at(0), at(span)) == used[-1] * M
    for _ in range(3):
        i = data.draw(st.integers(0, span), label="from")
        j = data.draw(st.integers(i, span), label="to")
        assert calendar.elapsed(at(i), at(j)) == (used[j] - used[i]) * M
        k = data.draw(st.integers(0, used[-1] - used[i]), label="business minutes")
        due = calendar.add(at(i), k * M)
        assert due == utc(i if k == 0 else bisect_left(used, used[i] + k))
        assert calendar.elapsed(at(i), due) == k * M
        if i < span:
            change = next((n for n in range(i + 1, span) if cells[n] != cells[i]), None)
            boundary = calendar.next_boundary(at(i))
            if change is not None:
                assert boundary == utc(change)
            else:
                assert boundary is None or boundary >= utc(span)


@st.composite
def long_cases(draw: st.DrawFn, max_days: int) -> tuple[dict[str, Any], datetime, timedelta]:
    """(calendar mapping, microsecond start, span up to ``max_days``), holidays spread over the span.

    Half the cases start within 30 days before a DST change in a zone that has them."""
    day = 86_400 * 10**6
    span = draw(_sized(0, day, 14 * day, 60 * day, max_days * day)) * US
    if draw(st.booleans()):
        zone = draw(st.sampled_from(DST_ZONE_KEYS))
        near = draw(st.sampled_from(DST_DATES))
        start = datetime(near.year, near.month, near.day, tzinfo=UTC) - draw(st.integers(0, 30 * day)) * US
    else:
        zone = draw(st.sampled_from(ZONES))
        start = FIRST + draw(st.integers(0, (LAST - FIRST) // US)) * US
    mapping = draw(calendar_mappings(zone, start.date() - timedelta(days=3), span.days + 6))
    return mapping, start, span


@settings(PROPERTY, max_examples=200)
@given(case=long_cases(max_days=200))
def test_add_is_the_earliest_inverse_of_elapsed(case: tuple) -> None:
    mapping, start, amount = case
    calendar = build(mapping)
    due = calendar.add(start, amount)
    assert due >= start
    assert calendar.elapsed(start, due) == amount
    if amount:
        assert calendar.elapsed(start, due - US) == amount - US


@settings(PROPERTY, max_examples=300)
@given(case=long_cases(max_days=400))
def test_long_spans_equal_their_days_summed(case: tuple) -> None:
    mapping, start, span = case
    calendar = build(mapping)
    cuts = [start + timedelta(days=n) for n in range(span.days + 1)] + [start + span]
    pieces = sum((calendar.elapsed(a, b) for a, b in pairwise(cuts)), timedelta(0))
    assert calendar.elapsed(start, start + span) == pieces
    middle = start + span / 3
    assert calendar.elapsed(start, middle) + calendar.elapsed(middle, start + span) == pieces


@settings(PROPERTY, max_examples=100)
@given(
    zone=st.sampled_from(DST_ZONE_KEYS),
    start=st.integers(0, (LAST - FIRST) // US).map(lambda n: FIRST + n * US),
    span=_sized(0, 86_400 * 10**6, 60 * 86_400 * 10**6, 3 * 366 * 86_400 * 10**6).map(lambda n: n * US),
)
def test_a_calendar_open_around_the_clock_counts_real_time(zone: str, start: datetime, span: timedelta) -> None:
    calendar = build({"timezone": zone, "hours": {"mon-sun": ["00:00-24:00"]}})
    shown = start.astimezone(ZoneInfo(zone))
    assert calendar.elapsed(shown, start + span) == span
    assert calendar.add(shown, span) == start + span
    assert calendar.next_boundary(shown) is None


# --------------------------------------------------------------------------- working days (``Nwd`` targets)

NY_OFFICE = build({"timezone": "America/New_York", "hours": {"mon-fri": ["09:00-17:00"]}}, "ny-office")


@pytest.mark.parametrize(
    ("calendar", "start", "days", "close"),
    [
        # before opening the start day counts; from opening on (lunch too) the next working day is the first
        (CHINA, local(SHANGHAI, 2026, 3, 9, 8), 1, local(SHANGHAI, 2026, 3, 9, 18)),
        (CHINA, local(SHANGHAI, 2026, 3, 9, 9), 1, local(SHANGHAI, 2026, 3, 9, 18)),
        (CHINA, local(SHANGHAI, 2026, 3, 9, 9, 1), 1, local(SHANGHAI, 2026, 3, 10, 18)),
        (CHINA, local(SHANGHAI, 2026, 3, 9, 12, 30), 2, local(SHANGHAI, 2026, 3, 11, 18)),
        (CHINA, local(SHANGHAI, 2026, 3, 9, 19), 1, local(SHANGHAI, 2026, 3, 10, 18)),
        # a ticket from Friday evening or the weekend: Monday is the first working day
        (CHINA, local(SHANGHAI, 2026, 3, 6, 17), 1, local(SHANGHAI, 2026, 3, 9, 18)),
        (CHINA, local(SHANGHAI, 2026, 3, 7, 10), 2, local(SHANGHAI, 2026, 3, 10, 18)),
        # the National Day week is skipped, the make-up Saturday counts, Sunday does not
        (CHINA, local(SHANGHAI, 2026, 9, 30, 10), 1, local(SHANGHAI, 2026, 10, 8, 18)),
        (CHINA, local(SHANGHAI, 2026, 9, 30, 10), 3, local(SHANGHAI, 2026, 10, 10, 18)),
        (CHINA, local(SHANGHAI, 2026, 9, 30, 10), 4, local(SHANGHAI, 2026, 10, 12, 18)),
        # a night window belongs to the date it opens on: Monday's night closes Tuesday 06:00
        (NIGHTS, local(SHANGHAI, 2026, 3, 9, 12), 1, local(SHANGHAI, 2026, 3, 10, 6)),
        (NIGHTS, local(SHANGHAI, 2026, 3, 9, 23), 1, local(SHANGHAI, 2026, 3, 12, 6)),  # Tuesday 10 March is a holiday
        # across spring forward: Friday evening to Monday's close, 17:00 EDT
        (NY_OFFICE, local(NEW_YORK, 2026, 3, 6, 18), 1, local(NEW_YORK, 2026, 3, 9, 17)),
        (NY_OFFICE, local(NEW_YORK, 2026, 10, 30, 12), 2, local(NEW_YORK, 2026, 11, 3, 17)),
        # 24x7: whole UTC days, the start day only when the clock starts at its midnight
        (TWENTY_FOUR_SEVEN, datetime(2026, 3, 9, tzinfo=UTC), 1, datetime(2026, 3, 10, tzinfo=UTC)),
        (TWENTY_FOUR_SEVEN, datetime(2026, 3, 9, 0, 1, tzinfo=UTC), 2, datetime(2026, 3, 12, tzinfo=UTC)),
    ],
)
def test_working_day_close(calendar: Calendar, start: datetime, days: int, close: datetime) -> None:
    result = calendar.working_day_close(start, days)
    assert result == close and result.tzinfo is UTC


def test_working_day_close_through_the_holiday_week_matches_the_oracle() -> None:
    start = local(SHANGHAI, 2026, 9, 29, 12)
    oracle = OracleCalendar(CHINA_MAPPING)
    for days in range(1, 6):
        assert CHINA.working_day_close(start, days) == oracle.working_day_close(start, days, timedelta(days=20))


def test_working_day_close_counts_at_least_one_day() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CHINA.working_day_close(local(SHANGHAI, 2026, 3, 9, 8), 0)


@pytest.mark.parametrize("zone", ZONES)
@settings(PROPERTY, max_examples=25)
@given(data=st.data())
def test_working_day_close_matches_the_oracle(zone: str, data: st.DataObject) -> None:
    mapping, start, _span, shown = data.draw(oracle_cases(zone), label="case")
    days = data.draw(st.integers(1, 3), label="days")
    expected = OracleCalendar(mapping).working_day_close(start, days, timedelta(days=16))
    assume(expected is not None)  # a sparse calendar with long holidays: not within the horizon
    assert build(mapping).working_day_close(start.astimezone(shown), days) == expected
