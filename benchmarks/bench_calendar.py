"""Calls per second of business-time math: ``elapsed`` and ``add`` over spans of 10 minutes
to 90 days, on calendars with holidays, against baselines measured in the same run.

Run from the repository root::

    python -m benchmarks.bench_calendar            # about 25 seconds
    python -m benchmarks.bench_calendar --quick    # about 5 seconds, rougher numbers

Method: 500 start instants drawn with a fixed seed over 2026 (whole minutes, so the
brute-force oracle can check them); for each span, ``elapsed(start, start + span)`` and
``add(start, d)`` with ``d`` the business time of that span (so the due time lands about one
span later).  Each loop runs for at least ``--seconds`` and is repeated ``--repeats`` times;
the best repeat counts (the least disturbed by the machine).  Before timing, results are
cross-checked against the minute-walking oracle of the tests, and every zone-year is warmed
up (the first use of a zone and year builds its transition table, reported separately).

Baselines, measured in the same run: plain aware-datetime subtraction (the floor for any
calendar call), and the oracle's ``elapsed`` over one day (what minute-by-minute walking
costs).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from spm_rules.clock.calendar import TWENTY_FOUR_SEVEN, CalendarSpec, compile_calendar
from tests.clock.calendar_oracle import OracleCalendar

__all__ = ["main"]

UTC = timezone.utc
SPANS = (
    ("10m", timedelta(minutes=10)),
    ("1d", timedelta(days=1)),
    ("7d", timedelta(days=7)),
    ("30d", timedelta(days=30)),
    ("90d", timedelta(days=90)),
)

#: A China calendar for 2026: lunch break, the public holidays as week-long ranges, and
#: the weekend days worked in exchange (dates illustrative; the shape is what matters).
CHINA_2026: dict[str, Any] = {
    "timezone": "Asia/Shanghai",
    "hours": {"mon-fri": ["09:00-12:00", "13:00-18:00"]},
    "holidays": [
        {"from": "2026-01-01", "to": "2026-01-03"},
        {"from": "2026-02-15", "to": "2026-02-23"},
        {"from": "2026-04-04", "to": "2026-04-06"},
        {"from": "2026-05-01", "to": "2026-05-05"},
        {"from": "2026-06-19", "to": "2026-06-21"},
        {"from": "2026-09-25", "to": "2026-09-27"},
        {"from": "2026-10-01", "to": "2026-10-07"},
    ],
    "working_days": ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"],
}

#: A Berlin calendar whose Saturday night window runs through both DST changes.
BERLIN_2026: dict[str, Any] = {
    "timezone": "Europe/Berlin",
    "hours": {"mon-fri": ["08:00-17:00"], "sat": ["22:00-06:00"]},
    "holidays": ["2026-04-03", "2026-04-06", "2026-05-01", "2026-10-03", {"from": "2026-12-24", "to": "2026-12-26"}],
}


def _rate(call: Callable[[Any, Any], object], pairs: Sequence[tuple[Any, Any]], seconds: float, repeats: int) -> float:
    """Best calls/second over ``repeats`` loops of at least ``seconds`` each."""
    best = 0.0
    for _ in range(repeats):
        calls = 0
        began = time.perf_counter()
        while True:
            for first, second in pairs:
                call(first, second)
            calls += len(pairs)
            took = time.perf_counter() - began
            if took >= seconds:
                break
        best = max(best, calls / took)
    return best


def _cross_check(calendar: Any, oracle: OracleCalendar, starts: Sequence[datetime], span: timedelta) -> None:
    for start in starts:
        expected = oracle.elapsed(start, start + span)
        if calendar.elapsed(start, start + span) != expected:
            raise SystemExit(f"{calendar.name}: elapsed from {start} over {span} disagrees with the oracle")
        due = calendar.add(start, expected)
        if due != oracle.add(start, expected, span + timedelta(minutes=1)):
            raise SystemExit(f"{calendar.name}: add from {start} of {expected} disagrees with the oracle")


def _format_rate(rate: float) -> str:
    return f"{rate:>12,.0f}"


def main(argv: Sequence[str] | None = None) -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.25, help="minimum length of one timed loop")
    parser.add_argument("--repeats", type=int, default=3, help="timed loops per measurement; the best counts")
    parser.add_argument("--quick", action="store_true", help="shorter loops and fewer oracle checks")
    args = parser.parse_args(argv)
    seconds, repeats, checks = (0.05, 3, 5) if args.quick else (args.seconds, args.repeats, 25)

    rng = random.Random(20260101)
    year_start = datetime(2026, 1, 1, tzinfo=UTC)
    starts = [year_start + timedelta(minutes=rng.randrange(365 * 1440)) for _ in range(500)]

    print(f"spm-rules calendar benchmark: {len(starts)} starts over 2026, best of {repeats} loops of >= {seconds}s")
    subtraction = _rate(lambda a, b: b - a, [(s, s + timedelta(days=1)) for s in starts], seconds, repeats)
    real_time = _rate(TWENTY_FOUR_SEVEN.elapsed, [(s, s + timedelta(days=1)) for s in starts], seconds, repeats)
    print(f"baseline  datetime subtraction (b - a)          {_format_rate(subtraction)} calls/s")
    print(f"          24x7 elapsed (real time)              {_format_rate(real_time)} calls/s")

    for mapping, name in ((CHINA_2026, "cn-2026 (Asia/Shanghai)"), (BERLIN_2026, "de-2026 (Europe/Berlin)")):
        calendar = compile_calendar(CalendarSpec.model_validate(mapping), name)
        oracle = OracleCalendar(mapping)
        began = time.perf_counter()
        calendar.elapsed(starts[0], starts[0] + timedelta(days=1))
        cold = time.perf_counter() - began
        for start in starts:  # warm every zone-year the spans touch
            calendar.elapsed(start, start + SPANS[-1][1])
        oracle_pairs = [(s, s + timedelta(days=1)) for s in starts[:checks]]
        oracle_rate = _rate(oracle.elapsed, oracle_pairs, seconds, 1)
        print()
        print(f"calendar {name}: first call {cold * 1000:.1f} ms (builds the zone's transition table for the year)")
        print(f"baseline  oracle elapsed over 1d (minute walk)  {_format_rate(oracle_rate)} calls/s")
        print(f"{'span':>5}  {'elapsed calls/s':>16}  {'add calls/s':>12}  {'x oracle':>9}  {'/ subtraction':>13}")
        for label, span in SPANS:
            if span <= timedelta(days=7):
                _cross_check(calendar, oracle, starts[:checks], span)
            pairs = [(s, s + span) for s in starts]
            amounts = [(s, calendar.elapsed(s, s + span)) for s in starts]
            elapsed_rate = _rate(calendar.elapsed, pairs, seconds, repeats)
            add_rate = _rate(calendar.add, amounts, seconds, repeats)
            slowest = min(elapsed_rate, add_rate)
            print(
                f"{label:>5}  {_format_rate(elapsed_rate):>16}  {_format_rate(add_rate)}"
                f"  {slowest / oracle_rate:>8,.0f}x  {subtraction / slowest:>12,.0f}x"
            )
    print()
    print("x oracle: the slower of elapsed/add against the oracle over 1 day; / subtraction: how many")
    print("times slower than plain datetime subtraction.  Cross-checked against the oracle for spans up to 7d.")


if __name__ == "__main__":
    main()
