from datetime import timedelta

import pytest

from spm_rules.durations import WorkingDays, format_duration, format_target, parse_duration, parse_target


@pytest.mark.parametrize(
    "text, expected",
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("1w2d", timedelta(days=9)),
        (" 6h ", timedelta(hours=6)),
        ("0s", timedelta(0)),
    ],
)
def test_parses(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "4", "4 h", "h", "30m1h", "1h1h", "-2h", "1.5h", "4hours", 4, None])
def test_rejects_with_guidance(text: object) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)  # type: ignore[arg-type]
    assert "duration" in str(info.value)


@pytest.mark.parametrize(
    "value, text",
    [(timedelta(0), "0s"), (timedelta(hours=1, minutes=30), "1h30m"), (timedelta(days=1, seconds=5), "1d5s"), (-timedelta(minutes=15), "-15m")],
)
def test_formats(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


def test_business_time_is_formatted_in_hours() -> None:
    assert format_duration(timedelta(hours=26, minutes=30), days=False) == "26h30m"


@pytest.mark.parametrize(
    "text, expected",
    [("3wd", WorkingDays(3)), (" 1wd ", WorkingDays(1)), ("12wd", WorkingDays(12)), ("4h", timedelta(hours=4)), ("2d", timedelta(days=2))],
)
def test_targets_take_working_days_or_durations(text: str, expected: object) -> None:
    assert parse_target(text) == expected
    assert format_target(parse_target(text)) == (text.strip() if isinstance(expected, WorkingDays) else format_duration(expected))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text, message",
    [
        ("0wd", "at least 1wd"),
        ("1wd2h", "a working-day target stands alone"),
        ("2h1wd", "a working-day target stands alone"),
        ("wd", "bad duration 'wd'"),
        ("1.5wd", "bad duration '1.5wd'"),
    ],
)
def test_bad_working_day_targets(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_target(text)


def test_working_days_are_only_for_targets() -> None:
    with pytest.raises(ValueError, match="working days .wd. count only in SLA targets"):
        parse_duration("2wd")
