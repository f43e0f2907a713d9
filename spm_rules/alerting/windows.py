"""Active time windows: a receiver takes notifications only while its window is open.

A receiver's ``active`` is a business calendar, named from the ruleset's ``calendars:``
or written inline::

    receivers:
      station:
        urls: ["console://"]
        active: {timezone: Asia/Shanghai, hours: {mon-sat: ["08:30-18:00"]}, holidays: ["2026-10-01"]}

so holidays, make-up working days and DST mean the same as for SLA clocks.  Outside its
window a receiver is *held*: the notification waits until the window opens (the outcome
says when), unless the notification is urgent (its level is marked ``urgent``), a
meta-alert about failed delivery, or a receiver test.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Mapping

from ..clock.calendar import TWENTY_FOUR_SEVEN, Calendar, CalendarSpec, compile_calendar, compile_calendars
from ..errors import DeliveryError
from .receivers import ReceiverSpec

__all__ = ["ReceiverWindows"]

_INSTANT = timedelta(microseconds=1)


class ReceiverWindows:
    """Each receiver's active calendar, compiled once; receivers without one are always open."""

    def __init__(self, receivers: Mapping[str, ReceiverSpec], calendars: Mapping[str, CalendarSpec]) -> None:
        named = compile_calendars(calendars)
        self._calendars: dict[str, Calendar] = {}
        for name, spec in receivers.items():
            active = spec.active
            if active is None:
                continue
            if isinstance(active, CalendarSpec):
                calendar = compile_calendar(active, f"{name}-active")
            elif active in named:
                calendar = named[active]
            else:
                raise DeliveryError(f"receiver {name!r}: active calendar {active!r} is not declared in calendars:")
            if calendar is not TWENTY_FOUR_SEVEN:
                self._calendars[name] = calendar

    def opens_at(self, receiver: str, now: datetime) -> datetime | None:
        """None when ``receiver`` is open at ``now``; otherwise the instant its window opens."""
        calendar = self._calendars.get(receiver)
        if calendar is None or calendar.elapsed(now, now + _INSTANT) > timedelta(0):
            return None
        return calendar.next_boundary(now)
