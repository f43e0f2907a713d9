"""Durations as written in rulesets: ``90s``, ``30m``, ``4h``, ``1h30m``, ``2d``, ``1w``; and
SLA targets, which may also be counted in working days: ``3wd``.

One parser for the whole project so that every duration in a ruleset means the same
thing and every bad one gets the same message.

``d`` and ``w`` are 24 hours and 7 days of whatever time a clock counts: on a business
calendar ``5d`` is 120 business hours, about 12 working days of 9h30.  A target meant
in working days is written ``Nwd``: due at the close of the Nth working day of the
policy's calendar (see :meth:`spm_rules.clock.calendar.Calendar.working_day_close`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

__all__ = ["parse_duration", "format_duration", "WorkingDays", "parse_target", "format_target", "in_working_days"]

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)(w|d|h|m|s)")
_WHOLE = re.compile(r"(?:\d+(?:w|d|h|m|s))+")
_WORKING_DAYS = re.compile(r"(\d+)wd")
_FORMAT_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


@dataclass(frozen=True)
class WorkingDays:
    """A target of ``days`` working days (``3wd``): due at the close of the last of them."""

    days: int

    def __str__(self) -> str:
        return f"{self.days}wd"


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Parse a duration such as ``4h`` or ``1h30m``; raise ValueError on anything else.

    Units must appear largest first and at most once, so ``30m1h`` and ``1h1h`` are
    rejected rather than silently summed.  Plain numbers are refused: ``4`` could mean
    hours or seconds, and guessing is how SLA targets go wrong.
    """
    if isinstance(text, timedelta):
        return text
    if not isinstance(text, str):
        raise ValueError(f"a duration must be text like '4h' or '1h30m', not {text!r}")
    value = text.strip()
    if "wd" in value and re.fullmatch(r"[\dwdhms]+", value):
        raise ValueError(f"bad duration {text!r}: working days (wd) count only in SLA targets; write hours or minutes here")
    if not value or not _WHOLE.fullmatch(value):
        raise ValueError(f"bad duration {text!r}: use a number and a unit w/d/h/m/s, e.g. '4h', '1h30m', '90s'")
    seconds = 0
    last_rank = -1
    order = list(_UNITS)
    for number, unit in _PART.findall(value):
        rank = order.index(unit)
        if rank <= last_rank:
            raise ValueError(f"bad duration {text!r}: write units largest first, each once (e.g. '1h30m')")
        last_rank = rank
        seconds += int(number) * _UNITS[unit]
    return timedelta(seconds=seconds)


def parse_target(text: str | timedelta | WorkingDays) -> timedelta | WorkingDays:
    """An SLA target: working days (``3wd``, alone and at least 1) or any duration."""
    if isinstance(text, (timedelta, WorkingDays)):
        return text
    if isinstance(text, str) and "wd" in text:
        value = text.strip()
        found = _WORKING_DAYS.fullmatch(value)
        if found is not None:
            if int(found[1]) < 1:
                raise ValueError(f"bad target {text!r}: a working-day target counts at least 1wd")
            return WorkingDays(int(found[1]))
        if re.fullmatch(r"[\dwdhms]+", value) and _WORKING_DAYS.search(value):
            raise ValueError(f"bad target {text!r}: a working-day target stands alone ('2wd'); for a time of day write hours on their own")
        raise ValueError(f"bad duration {text!r}: use a number and a unit w/d/h/m/s, e.g. '4h', '1h30m', or working days, e.g. '2wd'")
    return parse_duration(text)


def in_working_days(text: str) -> bool:
    """Whether ``text`` is a target written in working days (``3wd``; ``0wd`` too, which
    :func:`parse_target` refuses)."""
    return _WORKING_DAYS.fullmatch(text.strip()) is not None


@lru_cache(maxsize=1 << 16)
def format_duration(value: timedelta, *, days: bool = True) -> str:
    """Render a duration compactly (``1h30m``, ``-15m``, ``0s``), to the second; with
    ``days=False`` in hours at most (``26h``: business time, where a day is no 24 hours).

    Cached: output writes three per SLA status, and a fleet's durations repeat (targets,
    and elapsed times on whole minutes)."""
    total = int(value.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    parts = []
    for unit, size in _FORMAT_UNITS[0 if days else 1 :]:
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return sign + ("".join(parts) or "0s")


def format_target(value: timedelta | WorkingDays) -> str:
    """A target as written: ``3wd`` or a duration (``4h``)."""
    return str(value) if isinstance(value, WorkingDays) else format_duration(value)
