"""A brute-force business-time oracle for checking :mod:`spm_rules.clock.calendar`.

Independent of the code under test: it reads the calendar's YAML-shaped mapping with its
own naive parser and walks UTC minute by minute, asking of each minute "is this instant
inside a working window of a working date?".  It shares only the written definitions
(see the calendar module's docstring), stated here the naive way:

* the windows of a date: a make-up day has the ``working_day_hours`` weekday's windows,
  a holiday none, any other date its weekday's; a window's end at or before its start
  means the next day;
* an instant is inside a window when the highest wall-clock reading seen so far (the
  clock "does not turn back" for this purpose) is at or after the window's start and
  before its end.  That is the module's "opens at the first instant the clock shows its
  start or later" rule, seen from the instant's side.

Inputs must be whole UTC minutes and the zone's offsets whole minutes; then working or
not is constant over each minute, and business time is a count of minutes.  Slow on
purpose: one Python loop step (a zoneinfo conversion and a few comparisons) per minute.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["OracleCalendar"]

_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_MINUTE = timedelta(minutes=1)
_WARM_UP = timedelta(hours=6)  # longer than any backward clock change in the zones tested


def _to_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _minutes(text: str) -> int:
    hours, minutes = text.strip().split(":")
    return int(hours) * 60 + int(minutes)


def _window(text: str) -> tuple[int, int]:
    start_text, end_text = text.split("-")
    start, end = _minutes(start_text), _minutes(end_text)
    return (start, end + 1440 if end <= start else end)


def _days(key: str) -> list[int]:
    parts = key.split("-")
    first, last = _NAMES.index(parts[0]), _NAMES.index(parts[-1])
    days = [first]
    while days[-1] != last:
        days.append((days[-1] + 1) % 7)
    return days


class OracleCalendar:
    """The naive reading of a calendar mapping (the same shape ``CalendarSpec`` validates)."""

    def __init__(self, mapping: Mapping[str, Any]) -> None:
        self.zone = ZoneInfo(mapping["timezone"])
        self.week: dict[int, list[tuple[int, int]]] = {day: [] for day in range(7)}
        for key, windows in mapping["hours"].items():
            for day in _days(key):
                self.week[day] = [_window(text) for text in windows]
        self.holidays: set[date] = set()
        for item in mapping.get("holidays", []):
            if isinstance(item, Mapping):
                holiday, last = _to_date(item["from"]), _to_date(item["to"])
                while holiday <= last:
                    self.holidays.add(holiday)
                    holiday += timedelta(days=1)
            else:
                self.holidays.add(_to_date(item))
        self.working_days = {_to_date(item) for item in mapping.get("working_days", [])}
        name = mapping.get("working_day_hours")
        self.make_up_weekday = _NAMES.index(name) if name else min(d for d in range(7) if self.week[d])
        self._cache: dict[date, list[tuple[datetime, datetime]]] = {}

    def _windows(self, day: date) -> list[tuple[datetime, datetime]]:
        """The local (naive) windows of a date."""
        if day not in self._cache:
            if day in self.working_days:
                windows = self.week[self.make_up_weekday]
            elif day in self.holidays:
                windows = []
            else:
                windows = self.week[day.weekday()]
            midnight = datetime(day.year, day.month, day.day)
            self._cache[day] = [(midnight + timedelta(minutes=s), midnight + timedelta(minutes=e)) for s, e in windows]
        return self._cache[day]

    def _owner(self, wall: datetime) -> date | None:
        """The date whose window the wall-clock reading falls in; None outside every window."""
        for day in (wall.date(), wall.date() - timedelta(days=1)):
            for start, end in self._windows(day):
                if start <= wall < end:
                    return day
        return None

    def owners(self, start: datetime, end: datetime) -> list[date | None]:
        """For each UTC minute in ``[start, end)`` (aware, whole minutes), the date of the
        working window it is in, or None when it is not working."""
        start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
        assert start.second == start.microsecond == end.second == end.microsecond == 0
        cells: list[date | None] = []
        highest: datetime | None = None
        moment = start - _WARM_UP
        while moment < end:
            wall = moment.astimezone(self.zone).replace(tzinfo=None)
            if highest is None or wall > highest:
                highest = wall
            if moment >= start:
                cells.append(self._owner(highest))
            moment += _MINUTE
        return cells

    def minutes(self, start: datetime, end: datetime) -> list[bool]:
        """Working or not, for each UTC minute in ``[start, end)`` (aware, whole minutes)."""
        return [owner is not None for owner in self.owners(start, end)]

    def working_day_close(self, start: datetime, days: int, horizon: timedelta) -> datetime | None:
        """The end of the last working minute of the ``days``-th working date counted from
        ``start``: a working date is one that owns a working minute, and the dates are
        counted from the first whose first working minute is at or after ``start``.  None
        if that date does not end well within ``horizon``."""
        first = start.astimezone(timezone.utc) - timedelta(days=2)
        owners = self.owners(first, start + horizon)
        opens: dict[date, int] = {}
        closes: dict[date, int] = {}
        for index, owner in enumerate(owners):
            if owner is not None:
                opens.setdefault(owner, index)
                closes[owner] = index + 1
        begin = (start.astimezone(timezone.utc) - first) // _MINUTE
        counted = sorted(day for day in opens if opens[day] >= begin)
        if len(counted) < days or closes[counted[days - 1]] > len(owners) - 2 * 1440:
            return None
        return first + closes[counted[days - 1]] * _MINUTE

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time in ``[start, end)``, by counting working minutes."""
        return sum(self.minutes(start, end), 0) * _MINUTE if end > start else timedelta(0)

    def add(self, start: datetime, duration: timedelta, horizon: timedelta) -> datetime | None:
        """The end of the minute that completes ``duration`` (whole minutes); None if not within ``horizon``."""
        if duration == timedelta(0):
            return start.astimezone(timezone.utc)
        needed = duration // _MINUTE
        for index, working in enumerate(self.minutes(start, start + horizon)):
            needed -= working
            if needed == 0:
                return start.astimezone(timezone.utc) + (index + 1) * _MINUTE
        return None
