"""Durations as written in rulesets: ``90s``, ``30m``, ``4h``, ``1h30m``, ``2d``, ``1w``.

One parser for the whole project so that every duration in a ruleset means the same
thing and every bad one gets the same message.
"""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["parse_duration", "format_duration"]

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)(w|d|h|m|s)")
_WHOLE = re.compile(r"(?:\d+(?:w|d|h|m|s))+")


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


def format_duration(value: timedelta) -> str:
    """Render a duration compactly (``1h30m``, ``-15m``, ``0s``), to the second."""
    total = int(value.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return sign + ("".join(parts) or "0s")
