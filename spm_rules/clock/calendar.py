"""Business calendars: exact business time between two instants, and due times, fast.

A calendar says when a ticket's clock runs.  :class:`CalendarSpec` is a calendar as
written in a ruleset; :func:`compile_calendar` turns it into an immutable
:class:`BusinessCalendar`; :data:`TWENTY_FOUR_SEVEN` is the built-in ``24x7`` calendar,
which counts real elapsed time.  Both implement the :class:`Calendar` protocol.  Inputs
must be timezone-aware, results are UTC, and everything is exact to the microsecond.

Semantics (the tests' brute-force oracle implements the same definitions independently)
--------------------------------------------------------------------------------------
*Windows belong to the date they start on.*  ``"22:00-06:00"`` on Tuesday runs from
Tuesday 22:00 to Wednesday 06:00: an end at or before the start crosses midnight (so
``"09:00-09:00"`` is 24 hours), and ``24:00`` is allowed as an end only.

*Which windows a date has.*  A make-up working day (``working_days``) has the windows of
``working_day_hours`` (default: the first weekday with hours, Monday first), whatever its
weekday and even if it also falls on a holiday.  Otherwise a holiday has no windows.
Otherwise a date has its weekday's windows.  So a holiday on Tuesday removes Tuesday
22:00 - Wednesday 06:00 and keeps Monday 22:00 - Tuesday 06:00.

*From wall clock to UTC.*  A window opens at the first instant at which the local wall
clock shows its start time (or later) and closes at the first instant at which it shows
its end time (or later).  Hence:

- a time that does not exist (spring forward; 02:00-03:00 in New York) moves to the
  instant of the jump: 02:30-05:00 opens at 03:00, 01:00-02:30 closes at 03:00 (one real
  hour), a window inside the gap is empty, and 22:00-06:00 across it lasts 7 real hours;
- a time that occurs twice (fall back; 01:00-02:00 in New York) means its first
  occurrence, and an open window stays open while the clock turns back: 22:00-06:00
  across it lasts 9 real hours, 01:30-03:00 lasts 2h30, and 00:00-01:30 closes at the
  first 01:30 and does not reopen for the second.

This mapping is monotonic, so windows never invert, windows that touch on the wall clock
touch in UTC, and a calendar open around the clock counts exactly real time.  Windows
must not overlap; the spec is checked for that, make-up days included.

*Counting.*  ``elapsed(start, end)`` is the length of working windows inside
``[start, end)``.  ``add(start, d)`` is the earliest instant ``t >= start`` with
``elapsed(start, t) == d``: a due time that uses up a window exactly is that window's end
(Friday 18:00), never the next window's start, and ``d == 0`` gives ``start``.

*Working days.*  A working day is a date with working time (its windows, as above, are
not all lost in a DST gap); it opens when its first window opens and closes when its
last window closes (a night window's date closes the next morning).
``working_day_close(start, n)`` is the close of the n-th working day counted from
``start``: the first counted is the first working day that opens at or after ``start``
(a ticket in before opening counts that day; one arriving during the day, at lunch or
in the evening starts counting the next working day).  On ``24x7`` every UTC date is a
working day from midnight to midnight.

Speed
-----
Instants are integer microseconds.  A day whose UTC offset is steady has its weekday's
real length, so any run of days is summed as whole weeks (a precomputed weekly total)
plus a partial week (prefix sums), plus corrections: holidays and make-up days from a
sorted list with prefix sums (bisect), and days touched by a DST transition, whose real
length is computed once and memoized.  ``elapsed`` and ``add`` look at individual
windows only for the few days around their ends, so their cost is logarithmic in the
span, not linear.  Zone transitions come from :mod:`zoneinfo`, probed once a day and pinned
to the second by bisection, memoized per zone and year (two changes within one day that
cancel out would be missed; in tzdata, the closest transitions of any zone are about four
days apart).  ``explain`` is for people and walks the span day by day.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from itertools import pairwise
from types import MappingProxyType
from typing import Annotated, Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from ..ruleset.types import ZoneName

__all__ = [
    "Calendar",
    "CalendarSpec",
    "HolidayRange",
    "BusinessCalendar",
    "TwentyFourSevenCalendar",
    "TWENTY_FOUR_SEVEN",
    "CalendarExplanation",
    "CountedWindow",
    "DstTransition",
    "compile_calendar",
    "compile_calendars",
]

_US = 1_000_000
_DAY = 86_400 * _US
_MINUTES_PER_DAY = 1440
_UTC = timezone.utc
_ZERO = timedelta(0)
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_PROBE_SECONDS = 86_400  # tzdata's closest transitions (any zone) are about 4 days apart
_FIRST_YEAR, _LAST_YEAR = 2, 9998
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_BUILT_IN = "24x7"
_MEMO_DAYS = 4096  # per calendar: days whose UTC intervals are kept

Window = tuple[int, int]
"""A weekly window in minutes after its date's local midnight: start in [0, 1440),
end in (start, start + 1440]; an end past 1440 runs into the next date."""


# --------------------------------------------------------------------------- the spec


def _as_date(value: Any) -> date:
    """Accept a date (YAML's unquoted 2026-10-01) or ISO text; refuse datetimes and numbers."""
    if isinstance(value, datetime):
        raise ValueError(f"{value!r} is a date and time; a calendar date is written YYYY-MM-DD")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"bad date {value!r}: write YYYY-MM-DD, e.g. 2026-10-01")


CalendarDate = Annotated[date, BeforeValidator(_as_date)]


class HolidayRange(BaseModel):
    """An inclusive range of holidays: ``{from: 2026-10-01, to: 2026-10-07}``."""

    model_config = ConfigDict(extra="forbid")

    start: CalendarDate = Field(alias="from")
    end: CalendarDate = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> HolidayRange:
        if self.end < self.start:
            raise ValueError(f"holiday range ends ({self.end}) before it starts ({self.start})")
        return self

    def dates(self) -> list[date]:
        """Every date of the range, both ends included."""
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


class CalendarSpec(BaseModel):
    """A business calendar as written in a ruleset (see the module docstring for meaning)::

        timezone: Asia/Shanghai
        hours:
          mon-fri: ["09:00-12:00", "13:00-18:00"]
          sat: ["22:00-06:00"]
        holidays: ["2026-10-01", {from: "2026-10-01", to: "2026-10-07"}]
        working_days: ["2026-10-10"]
        working_day_hours: mon

    ``hours`` keys are weekdays (``mon`` .. ``sun``) or ranges of them (``mon-fri``;
    ``fri-mon`` wraps over the weekend); each day may be given once.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: ZoneName
    hours: dict[str, list[str]]
    holidays: list[CalendarDate | HolidayRange] = []
    working_days: list[CalendarDate] = []
    working_day_hours: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CalendarSpec:
        _parse(self)
        return self


@dataclass(frozen=True)
class _Parsed:
    """A validated spec in plain numbers: windows per weekday (Monday first) and date sets."""

    week: tuple[tuple[Window, ...], ...]
    make_up_weekday: int
    holidays: frozenset[date]
    working_days: frozenset[date]

    def windows_on(self, day: date) -> tuple[Window, ...]:
        if day in self.working_days:
            return self.week[self.make_up_weekday]
        if day in self.holidays:
            return ()
        return self.week[day.weekday()]


def _clock_minutes(text: str, window: str, where: str, *, is_end: bool) -> int:
    match = _CLOCK.fullmatch(text.strip())
    hour, minute = (int(match[1]), int(match[2])) if match else (99, 99)
    if hour == 24 and minute == 0:
        if is_end:
            return _MINUTES_PER_DAY
        raise ValueError(f"{where}: window {window!r} starts at 24:00; 24:00 can only end a window")
    if hour > 23 or minute > 59:
        raise ValueError(
            f"{where}: bad time {text.strip()!r} in window {window!r}: use HH:MM from 00:00 to 23:59 (24:00 as an end)"
        )
    return hour * 60 + minute


def _parse_window(text: str, where: str) -> Window:
    parts = text.split("-")
    if len(parts) != 2:
        raise ValueError(f"{where}: bad window {text!r}: write 'HH:MM-HH:MM', e.g. '09:00-18:00' or '22:00-06:00'")
    start = _clock_minutes(parts[0], text, where, is_end=False)
    end = _clock_minutes(parts[1], text, where, is_end=True)
    if end <= start:
        end += _MINUTES_PER_DAY
    return (start, end)


def _parse_days(key: str) -> list[int]:
    names = [part.strip().lower() for part in key.split("-")]
    if len(names) in (1, 2) and all(name in _DAY_NAMES for name in names):
        first, last = _DAY_NAMES.index(names[0]), _DAY_NAMES.index(names[-1])
        return [(first + i) % 7 for i in range((last - first) % 7 + 1)]
    raise ValueError(f"hours: unknown day {key!r}: use mon, tue, wed, thu, fri, sat, sun or a range such as 'mon-fri'")


def _clock_text(minutes: int) -> str:
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


def _check_handover(before: tuple[Window, ...], after: tuple[Window, ...], what_before: str, what_after: str) -> None:
    """A window running past midnight must end before the next date's first window starts."""
    tail = max((end - _MINUTES_PER_DAY for _, end in before), default=0)
    head = min((start for start, _ in after), default=_MINUTES_PER_DAY)
    if tail > head:
        raise ValueError(
            f"{what_before} runs into {what_after} until {_clock_text(tail)}, "
            f"past its first window starting {_clock_text(head)}"
        )


def _parse(spec: CalendarSpec) -> _Parsed:
    """Check a spec and turn it into numbers; every problem is a ValueError naming its place."""
    week: list[tuple[Window, ...] | None] = [None] * 7
    given_by: dict[int, str] = {}
    for key, texts in spec.hours.items():
        for weekday in _parse_days(key):
            if weekday in given_by:
                raise ValueError(f"hours: {_DAY_NAMES[weekday]} is given twice (in {given_by[weekday]!r} and {key!r})")
            given_by[weekday] = key
            where = f"hours: {_DAY_NAMES[weekday]}"
            windows = sorted((_parse_window(text, where), text) for text in texts)
            for (first, first_text), (second, second_text) in pairwise(windows):
                if first[1] > second[0]:
                    raise ValueError(f"{where}: windows {first_text!r} and {second_text!r} overlap")
            week[weekday] = tuple(window for window, _ in windows)
    days = tuple(windows or () for windows in week)
    if not any(days):
        raise ValueError("hours: a calendar needs at least one working window")
    for weekday in range(7):
        following_name = _DAY_NAMES[(weekday + 1) % 7]
        _check_handover(days[weekday], days[(weekday + 1) % 7], f"hours: {_DAY_NAMES[weekday]}", following_name)

    if spec.working_day_hours is None:
        make_up_weekday = next(weekday for weekday in range(7) if days[weekday])
    else:
        name = spec.working_day_hours.strip().lower()
        if name not in _DAY_NAMES:
            raise ValueError(f"working_day_hours: unknown day {spec.working_day_hours!r}: use mon .. sun")
        make_up_weekday = _DAY_NAMES.index(name)
        if not days[make_up_weekday]:
            raise ValueError(f"working_day_hours: {name} has no hours, so make-up days would have none")

    holidays: set[date] = set()
    for item in spec.holidays:
        holidays.update(item.dates() if isinstance(item, HolidayRange) else [item])
    parsed = _Parsed(days, make_up_weekday, frozenset(holidays), frozenset(spec.working_days))
    for day in sorted(parsed.working_days):
        label = f"working_days: {day} (a make-up day with {_DAY_NAMES[make_up_weekday]}'s hours)"
        previous, following = day - timedelta(days=1), day + timedelta(days=1)
        _check_handover(parsed.windows_on(previous), parsed.windows_on(day), f"{label}: {previous}", str(day))
        _check_handover(parsed.windows_on(day), parsed.windows_on(following), label, str(following))
    return parsed


# --------------------------------------------------------------------------- explanations


@dataclass(frozen=True)
class CountedWindow:
    """A working window, cut to the span explained: the date it belongs to and its UTC ends."""

    day: date
    start: datetime
    end: datetime
    make_up: bool = False

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class DstTransition:
    """A change of the calendar zone's UTC offset inside the span explained."""

    at: datetime
    offset_before: timedelta
    offset_after: timedelta


@dataclass(frozen=True)
class CalendarExplanation:
    """How ``elapsed(start, end)`` got its number: the windows counted (their durations add
    up to ``total``), holidays that removed working hours, make-up days that added some,
    the DST transitions crossed, and the days off on the local dates spanned: weekdays
    without working hours (weekends, usually) that no make-up day turned into working days."""

    calendar: str
    timezone: str
    start: datetime
    end: datetime
    windows: tuple[CountedWindow, ...]
    holidays_skipped: tuple[date, ...]
    make_up_days: tuple[date, ...]
    dst_transitions: tuple[DstTransition, ...]
    total: timedelta
    days_off: tuple[date, ...] = ()


# --------------------------------------------------------------------------- the protocol


@runtime_checkable
class Calendar(Protocol):
    """What the SLA clock needs from a calendar.  All instants aware; results in UTC."""

    name: str

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time in ``[start, end)``; zero if ``end <= start``."""
        ...

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant at which ``duration`` of business time since ``start`` is used up."""
        ...

    def next_boundary(self, at: datetime) -> datetime | None:
        """The next instant after ``at`` at which working turns to not working or back; None if never."""
        ...

    def working_day_close(self, start: datetime, days: int) -> datetime:
        """The close of the ``days``-th working day counted from ``start`` (see the module docstring)."""
        ...

    def explain(self, start: datetime, end: datetime) -> CalendarExplanation:
        """``elapsed(start, end)`` with its reasons."""
        ...


def _aware(value: datetime, what: str) -> datetime:
    """``value``, checked to be a timezone-aware datetime."""
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, not {type(value).__name__}")
    if value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value


def _utc(value: datetime, what: str) -> datetime:
    """``value`` (checked) in UTC, where datetime arithmetic is absolute time: in one
    zone it is wall-clock time, which a change of offset breaks."""
    value = _aware(value, what)
    return value if value.tzinfo is _UTC else value.astimezone(_UTC)


def _to_us(value: datetime, what: str) -> int:
    delta = _aware(value, what) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _US + delta.microseconds


def _duration_us(value: timedelta) -> int:
    if not isinstance(value, timedelta):
        raise TypeError(f"a duration must be a timedelta, not {type(value).__name__}")
    if value < timedelta(0):
        raise ValueError(f"a duration must not be negative, got {value}")
    return (value.days * 86_400 + value.seconds) * _US + value.microseconds


def _offset_us(value: timedelta) -> int:
    return (value.days * 86_400 + value.seconds) * _US + value.microseconds


def _instant(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _date_of(day: int) -> date:
    return date.fromordinal(day + _EPOCH_ORDINAL)


def _year_of(us: int) -> int:
    return date.fromordinal(us // _DAY + _EPOCH_ORDINAL).year


def _day_count(days: int) -> int:
    if not isinstance(days, int) or days < 1:
        raise ValueError(f"a count of working days is at least 1, got {days!r}")
    return days


# --------------------------------------------------------------------------- 24x7


class TwentyFourSevenCalendar:
    """The built-in ``24x7`` calendar: business time is real elapsed time."""

    __slots__ = ()
    name = _BUILT_IN

    # Datetime arithmetic in UTC (exact to the microsecond, like the integers the business
    # calendars count in): a fleet's clocks call these a few times per ticket and policy.
    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        span = _utc(end, "end") - _utc(start, "start")
        return span if span > _ZERO else _ZERO

    def add(self, start: datetime, duration: timedelta) -> datetime:
        _duration_us(duration)  # refuses what is not a timedelta, or is negative
        return _utc(start, "start") + duration

    def next_boundary(self, at: datetime) -> datetime | None:
        _to_us(at, "at")
        return None

    def working_day_close(self, start: datetime, days: int) -> datetime:
        first = -(-_to_us(start, "start") // _DAY)  # the first UTC midnight at or after start
        return _instant((first + _day_count(days)) * _DAY)

    def explain(self, start: datetime, end: datetime) -> CalendarExplanation:
        a, b = _to_us(start, "start"), _to_us(end, "end")
        windows = (CountedWindow(_instant(a).date(), _instant(a), _instant(b)),) if b > a else ()
        return CalendarExplanation(
            self.name, "UTC", _instant(a), _instant(b), windows, (), (), (), timedelta(microseconds=max(0, b - a))
        )

    def __repr__(self) -> str:
        return "TWENTY_FOUR_SEVEN"


TWENTY_FOUR_SEVEN = TwentyFourSevenCalendar()


# --------------------------------------------------------------------------- zones


class _Zone:
    """One IANA zone's UTC offsets in integer microseconds, with transitions memoized per year."""

    __slots__ = ("_tz", "_years", "key")

    def __init__(self, key: str) -> None:
        self.key = key
        self._tz = ZoneInfo(key)
        self._years: dict[int, tuple[int, list[int], list[int]]] = {}

    def _probe(self, second: int) -> int:
        moment = (_EPOCH_NAIVE + timedelta(seconds=second)).replace(tzinfo=self._tz)
        return _offset_us(self._tz.fromutc(moment).utcoffset())  # type: ignore[arg-type]

    def _year(self, year: int) -> tuple[int, list[int], list[int]]:
        """(offset at the year's first instant, transition instants in the year, offsets after them)."""
        table = self._years.get(year)
        if table is not None:
            return table
        if not _FIRST_YEAR <= year <= _LAST_YEAR:
            raise ValueError(f"instants must lie between the years {_FIRST_YEAR} and {_LAST_YEAR}")
        second = (date(year, 1, 1).toordinal() - _EPOCH_ORDINAL) * 86_400
        last = (date(year + 1, 1, 1).toordinal() - _EPOCH_ORDINAL) * 86_400
        first_offset = current = self._probe(second)
        instants: list[int] = []
        offsets: list[int] = []
        while second < last:
            probe = min(second + _PROBE_SECONDS, last)
            low = second
            while self._probe(probe) != current:  # a change in (low, probe]: find its first second
                high = probe
                while high - low > 1:
                    middle = (low + high) // 2
                    if self._probe(middle) == current:
                        low = middle
                    else:
                        high = middle
                current = self._probe(high)
                instants.append(high * _US)
                offsets.append(current)
                low = high
            second = probe
        table = self._years[year] = (first_offset, instants, offsets)
        return table

    def offset_at(self, us: int) -> int:
        first_offset, instants, offsets = self._year(_year_of(us))
        index = bisect_right(instants, us)
        return offsets[index - 1] if index else first_offset

    def wall_day(self, us: int) -> int:
        """The local date (days since 1970-01-01) shown by the wall clock at ``us``."""
        return (us + self.offset_at(us)) // _DAY

    def transitions(self, low: int, high: int) -> list[tuple[int, int, int]]:
        """(instant, offset before, offset after) of every transition in ``(low, high]``."""
        found = []
        for year in range(_year_of(low), _year_of(high) + 1):
            first_offset, instants, offsets = self._year(year)
            for index in range(bisect_right(instants, low), bisect_right(instants, high)):
                found.append((instants[index], offsets[index - 1] if index else first_offset, offsets[index]))
        return found

    def steady_offset(self, low: int, high: int) -> int | None:
        """The offset over ``[low, high]`` if no transition falls inside, else None."""
        year = _year_of(low)
        if year == _year_of(high):
            first_offset, instants, offsets = self._year(year)
            index = bisect_right(instants, low)
            if index != bisect_right(instants, high):
                return None
            return offsets[index - 1] if index else first_offset
        return None if self.transitions(low, high) else self.offset_at(low)

    def resolve(self, wall: int) -> int:
        """The first instant at which the wall clock shows ``wall`` (local microseconds) or later."""
        start = wall - 2 * _DAY
        offset = self.offset_at(start)
        for instant, _, after in self.transitions(start, wall + 2 * _DAY):
            if instant + offset > wall:  # the clock passes ``wall`` before this transition
                break
            start, offset = instant, after
        return max(start, wall - offset)


_ZONES: dict[str, _Zone] = {}


def _zone(key: str) -> _Zone:
    zone = _ZONES.get(key)
    if zone is None:
        zone = _ZONES[key] = _Zone(key)
    return zone


# --------------------------------------------------------------------------- business calendars


def _length(windows: tuple[tuple[int, int], ...]) -> int:
    return sum(end - start for start, end in windows)


class BusinessCalendar:
    """A compiled, immutable business calendar (build it with :func:`compile_calendar`).

    Days are numbered from 1970-01-01 (day 0, a Thursday); local windows are kept as
    microsecond offsets from their date's local midnight.
    """

    __slots__ = (
        "_all_day",
        "_correction_days",
        "_correction_prefix",
        "_dst_memo",
        "_holidays",
        "_interval_memo",
        "_make_up_days",
        "_special",
        "_special_days",
        "_week",
        "_week_prefix",
        "_week_total",
        "_zone",
        "name",
        "timezone",
    )

    name: str
    timezone: str
    _zone: _Zone
    _week: tuple[tuple[tuple[int, int], ...], ...]  # per weekday, Monday first
    _week_total: int
    _week_prefix: tuple[int, ...]  # [i]: length of weekdays 0 .. i-1, over two weeks
    _special: Mapping[int, tuple[tuple[int, int], ...]]  # holidays and make-up days: their windows
    _special_days: tuple[int, ...]
    _correction_days: tuple[int, ...]  # special days whose length differs from their weekday's
    _correction_prefix: tuple[int, ...]  # [i]: sum of the first i differences
    _holidays: frozenset[int]
    _make_up_days: frozenset[int]
    _all_day: bool  # the weekly windows cover the whole week
    _dst_memo: dict[int, int]  # day -> real minus wall-clock length, for days near a transition
    _interval_memo: dict[int, tuple[tuple[int, int], ...]]  # day -> its windows in UTC, recently asked

    def __init__(self, spec: CalendarSpec, name: str) -> None:
        parsed = _parse(spec)
        minute = 60 * _US
        week = tuple(tuple((start * minute, end * minute) for start, end in windows) for windows in parsed.week)
        base = [_length(windows) for windows in week]
        prefix = [0]
        for index in range(14):
            prefix.append(prefix[-1] + base[index % 7])
        make_up = week[parsed.make_up_weekday]
        special: dict[int, tuple[tuple[int, int], ...]] = {}
        for holiday in parsed.holidays:
            special[holiday.toordinal() - _EPOCH_ORDINAL] = ()
        for make_up_day in parsed.working_days:
            special[make_up_day.toordinal() - _EPOCH_ORDINAL] = make_up
        corrections = sorted(
            (day, _length(windows) - base[(day + 3) % 7])
            for day, windows in special.items()
            if _length(windows) != base[(day + 3) % 7]
        )
        correction_prefix = [0]
        for _, amount in corrections:
            correction_prefix.append(correction_prefix[-1] + amount)
        values: dict[str, object] = {
            "name": name,
            "timezone": spec.timezone,
            "_zone": _zone(spec.timezone),
            "_week": week,
            "_week_total": prefix[7],
            "_week_prefix": tuple(prefix),
            "_special": MappingProxyType(special),
            "_special_days": tuple(sorted(special)),
            "_correction_days": tuple(day for day, _ in corrections),
            "_correction_prefix": tuple(correction_prefix),
            "_holidays": frozenset(holiday.toordinal() - _EPOCH_ORDINAL for holiday in parsed.holidays),
            "_make_up_days": frozenset(make_up_day.toordinal() - _EPOCH_ORDINAL for make_up_day in parsed.working_days),
            "_all_day": prefix[7] == 7 * _DAY,
            "_dst_memo": {},
            "_interval_memo": {},
        }
        for key, value in values.items():
            object.__setattr__(self, key, value)

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, key: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        return f"BusinessCalendar(name={self.name!r}, timezone={self.timezone!r})"

    # ----------------------------------------------------------------- per day

    def _windows(self, day: int) -> tuple[tuple[int, int], ...]:
        windows = self._special.get(day)
        return self._week[(day + 3) % 7] if windows is None else windows

    def _intervals(self, day: int) -> tuple[tuple[int, int], ...]:
        """The UTC intervals of a day's windows (memoized: the same days come up again and again)."""
        intervals = self._interval_memo.get(day)
        if intervals is None:
            if len(self._interval_memo) >= _MEMO_DAYS:
                self._interval_memo.clear()
            intervals = self._interval_memo[day] = self._resolve_windows(day, self._windows(day))
        return intervals

    def _resolve_windows(self, day: int, windows: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
        """The UTC intervals that ``windows`` would have on ``day``."""
        if not windows:
            return ()
        midnight = day * _DAY
        offset = self._zone.steady_offset(midnight - 2 * _DAY, midnight + 4 * _DAY)
        if offset is not None:
            return tuple((midnight + start - offset, midnight + end - offset) for start, end in windows)
        resolve = self._zone.resolve
        return tuple((resolve(midnight + start), resolve(midnight + end)) for start, end in windows)

    def _dst_correction(self, day: int) -> int:
        correction = self._dst_memo.get(day)
        if correction is None:
            real = sum(end - start for start, end in self._intervals(day))
            correction = self._dst_memo[day] = real - _length(self._windows(day))
        return correction

    def _clipped(self, first: int, stop: int, low: int, high: int) -> int:
        """Business time of days ``[first, stop)`` inside ``[low, high)``."""
        total = 0
        for day in range(first, stop):
            for start, end in self._intervals(day):
                start, end = max(start, low), min(end, high)
                if end > start:
                    total += end - start
        return total

    def _full(self, first: int, stop: int) -> int:
        """Business time of whole days ``[first, stop)``: weeks by arithmetic, then corrections."""
        if stop <= first:
            return 0
        weeks, rest = divmod(stop - first, 7)
        weekday = (first + 3) % 7
        total = weeks * self._week_total + self._week_prefix[weekday + rest] - self._week_prefix[weekday]
        days = self._correction_days
        total += self._correction_prefix[bisect_left(days, stop)] - self._correction_prefix[bisect_left(days, first)]
        near: set[int] = set()
        for instant, before, after in self._zone.transitions((first - 3) * _DAY, (stop + 3) * _DAY):
            low, high = (instant + min(before, after)) // _DAY, (instant + max(before, after)) // _DAY
            near.update(range(max(first, low - 2), min(stop, high + 2)))
        return total + sum(self._dst_correction(day) for day in near)

    # ----------------------------------------------------------------- core, in microseconds

    def _elapsed_us(self, low: int, high: int) -> int:
        if high <= low:
            return 0
        first = self._zone.wall_day(low) - 1  # earlier dates' windows end before ``low``
        last = self._zone.wall_day(high) + 1  # later dates' windows start after ``high``
        if last - first <= 6:
            return self._clipped(first, last + 1, low, high)
        # dates first+3 .. last-3 lie wholly inside [low, high), with a date to spare on each side
        return (
            self._clipped(first, first + 3, low, high)
            + self._full(first + 3, last - 2)
            + self._clipped(last - 2, last + 1, low, high)
        )

    def _add_us(self, start: int, amount: int) -> int:
        if amount == 0:
            return start
        day = self._zone.wall_day(start) - 1
        for _ in range(3):  # the dates whose windows may begin before ``start``
            for low, high in self._intervals(day):
                low = max(low, start)
                if high > low:
                    if amount <= high - low:
                        return low + amount
                    amount -= high - low
            day += 1
        while True:  # skip whole weeks that do not use the amount up
            weeks = max(1, amount // self._week_total)
            used = self._full(day, day + 7 * weeks)
            if used < amount:
                day += 7 * weeks
                amount -= used
                continue
            low, high = 1, weeks  # the first week count that uses it up
            while low < high:
                middle = (low + high) // 2
                if self._full(day, day + 7 * middle) >= amount:
                    high = middle
                else:
                    low = middle + 1
            used = self._full(day, day + 7 * (low - 1))
            day += 7 * (low - 1)
            amount -= used
            break
        while True:  # it is used up within the next seven days
            for low, high in self._intervals(day):
                if amount <= high - low:
                    return low + amount
                amount -= high - low
            day += 1

    def _run_end(self, at: int) -> int | None:
        """If ``at`` is working, the end of that stretch of work (None: it never ends); else ``at``."""
        day = self._zone.wall_day(at) - 1
        end = None
        for current in range(day, day + 3):
            for low, high in self._intervals(current):
                if low <= at < high:
                    day, end = current, high
        if end is None:
            return at
        zone = self._zone
        while True:
            for low, high in self._intervals(day):
                if low < high and high > end:
                    if low > end:
                        return end
                    end = high
            day += 1
            if zone.resolve(day * _DAY) > end:  # the next date's windows all start after a gap
                return end
            if self._all_day:  # regular dates tile the clock: jump to just before the next special one
                index = bisect_left(self._special_days, day - 1)
                if index == len(self._special_days):
                    return None  # the date just done and all after it are regular
                target = self._special_days[index] - 2
                if target > day:
                    day = target
                    end = zone.resolve(day * _DAY + self._week[(day + 3) % 7][0][0])

    # ----------------------------------------------------------------- the protocol

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time in ``[start, end)``, exact to the microsecond; zero if ``end <= start``."""
        return timedelta(microseconds=self._elapsed_us(_to_us(start, "start"), _to_us(end, "end")))

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant (UTC) at which ``duration`` of business time since ``start`` is used up."""
        return _instant(self._add_us(_to_us(start, "start"), _duration_us(duration)))

    def next_boundary(self, at: datetime) -> datetime | None:
        """The next instant after ``at`` at which working turns to not working or back.

        None when ``at`` is inside work that never stops (a calendar open around the clock
        with no holiday ahead).
        """
        moment = _to_us(at, "at")
        end = self._run_end(moment)
        if end is None:
            return None
        if end > moment:
            return _instant(end)
        return _instant(self._add_us(moment, 1) - 1)  # not working: the next window's start

    def working_day_close(self, start: datetime, days: int) -> datetime:
        """The close (UTC) of the ``days``-th working day counted from ``start``: the first
        counted is the first working day that opens at or after ``start``.  Walks the dates
        one by one, which for targets of a few working days is a handful of memoized days."""
        moment, left = _to_us(start, "start"), _day_count(days)
        day = self._zone.wall_day(moment) - 1  # an earlier date opened before the start
        counting = False
        while True:
            intervals = [(low, high) for low, high in self._intervals(day) if high > low]
            if intervals and (counting or intervals[0][0] >= moment):
                counting = True
                left -= 1
                if left == 0:
                    return _instant(intervals[-1][1])
            day += 1

    def explain(self, start: datetime, end: datetime) -> CalendarExplanation:
        """Business time in ``[start, end)`` with the windows, holidays, make-up days and DST
        transitions behind it.  Walks the span day by day; meant for people, not hot loops."""
        low, high = _to_us(start, "start"), _to_us(end, "end")
        windows: list[CountedWindow] = []
        holidays: list[date] = []
        make_ups: list[date] = []
        days_off: list[date] = []
        transitions: list[DstTransition] = []
        if high > low:
            first_date, last_date = self._zone.wall_day(low), self._zone.wall_day(high - 1)
            for day in range(self._zone.wall_day(low) - 1, self._zone.wall_day(high) + 2):
                make_up = day in self._make_up_days
                if first_date <= day <= last_date and not make_up and not self._week[(day + 3) % 7]:
                    days_off.append(_date_of(day))
                counted = [(max(a, low), min(b, high)) for a, b in self._intervals(day) if min(b, high) > max(a, low)]
                windows.extend(CountedWindow(_date_of(day), _instant(a), _instant(b), make_up) for a, b in counted)
                if make_up and counted:
                    make_ups.append(_date_of(day))
                if day in self._holidays and not make_up:
                    usual = self._resolve_windows(day, self._week[(day + 3) % 7])
                    if any(min(b, high) > max(a, low) for a, b in usual):
                        holidays.append(_date_of(day))
            transitions = [
                DstTransition(_instant(at), timedelta(microseconds=before), timedelta(microseconds=after))
                for at, before, after in self._zone.transitions(low - 1, high - 1)
            ]
        return CalendarExplanation(
            calendar=self.name,
            timezone=self.timezone,
            start=_instant(low),
            end=_instant(high),
            windows=tuple(windows),
            holidays_skipped=tuple(holidays),
            make_up_days=tuple(make_ups),
            dst_transitions=tuple(transitions),
            total=sum((window.duration for window in windows), timedelta(0)),
            days_off=tuple(days_off),
        )


def compile_calendar(spec: CalendarSpec, name: str) -> BusinessCalendar:
    """Compile a validated spec into an immutable calendar called ``name``."""
    if not isinstance(name, str) or not name:
        raise ValueError("a calendar needs a non-empty name")
    if name == _BUILT_IN:
        raise ValueError(f"the calendar name {_BUILT_IN!r} is reserved for the built-in real-time calendar")
    return BusinessCalendar(spec, name)


def compile_calendars(specs: Mapping[str, CalendarSpec]) -> dict[str, Calendar]:
    """Compile a ruleset's calendars by name, with the built-in ``24x7`` added."""
    calendars: dict[str, Calendar] = {_BUILT_IN: TWENTY_FOUR_SEVEN}
    for name, spec in specs.items():
        calendars[name] = compile_calendar(spec, name)
    return calendars
