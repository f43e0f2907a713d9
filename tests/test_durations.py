from datetime import timedelta

import pytest

from spm_rules.durations import format_duration, parse_duration


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
