"""The test-file models: time references, compact histories and ticket keys as written."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from spm_rules.testing.model import CaseSpec, StepSpec, TicketSpec, TicketUpdate, format_offset, parse_time_ref

START = datetime(2026, 11, 25, 0, 0, tzinfo=timezone.utc)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("written", "zone", "instant"),
    [
        ("+30m", None, START + timedelta(minutes=30)),
        ("+1d2h", None, START + timedelta(days=1, hours=2)),
        ("-15m", None, START - timedelta(minutes=15)),
        (" + 0m", None, START),
        ("2026-11-25T09:00:00+08:00", None, datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)),
        ("2026-11-25T01:00:00Z", None, datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)),
        ("2026-11-25T09:00", SHANGHAI, datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)),
        (datetime(2026, 11, 25, 9, 0), SHANGHAI, datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)),
    ],
)
def test_a_time_is_relative_to_the_start_or_an_instant_in_the_zone(written: object, zone: ZoneInfo | None, instant: datetime) -> None:
    assert parse_time_ref(written).resolve(START, zone) == instant


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("+30", r"bad relative time '\+30'"),
        ("+30m1h", "largest first"),
        ("soon", "not a time: 'soon'"),
        ("", "not a time"),
        (30, "not a time: 30"),
        (datetime(2026, 11, 25).date(), "is a date: give a time"),
    ],
)
def test_a_bad_time_says_how_to_write_one(written: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_time_ref(written)


def test_a_time_without_offset_needs_a_zone_and_a_relative_one_is_no_instant() -> None:
    with pytest.raises(ValueError, match="has no offset"):
        parse_time_ref("2026-11-25T09:00").resolve(START, None)
    with pytest.raises(ValueError, match="is relative"):
        parse_time_ref("+1h").absolute(SHANGHAI)


@pytest.mark.parametrize(("span", "text"), [(timedelta(hours=2, minutes=15), "+2h15m"), (timedelta(minutes=-30), "-30m"), (timedelta(0), "+0s")])
def test_offsets_are_shown_as_they_are_written(span: timedelta, text: str) -> None:
    assert format_offset(span) == text


def test_a_ticket_keeps_its_other_fields_and_reads_compact_histories() -> None:
    spec = TicketSpec.model_validate({"id": 7, "tier": "P2", "customer": "Grid", "account": {"vip": True}, "stages": [{"hotline": "+0m"}, {"dispatched": "+15m"}]})
    assert spec.id == "7"
    assert spec.fields == {"customer": "Grid", "account": {"vip": True}}
    assert [(entry.name, entry.at.text) for entry in spec.stages] == [("hotline", "+0m"), ("dispatched", "+15m")]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"id": "A", "created_at": "2026-11-25T09:00:00+08:00"}, "write created here, not created_at"),
        ({"id": "A", "stage_history": []}, "write stages here, not stage_history"),
        ({"id": "A", "stages": [{"hotline": "+0m", "dispatched": "+1h"}]}, "one-key mapping"),
        ({"id": "A", "stages": ["hotline"]}, "one-key mapping"),
        ({"id": "A", "stage": "onsite", "stages": [{"hotline": "+0m"}]}, "give stage or stages, not both"),
        ({"tier": "P2"}, "Field required"),
    ],
)
def test_a_ticket_written_the_long_way_or_ambiguously_is_refused(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TicketSpec.model_validate(raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"status": "resolved", "close": True}, "give status or close, not both"),
        ({"id": "B"}, "id cannot be updated"),
        ({"stages": []}, "stages cannot be updated"),
    ],
)
def test_an_update_changes_a_stage_status_tier_or_field_only(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TicketUpdate.model_validate(raw)


def test_single_items_may_be_written_without_a_list() -> None:
    step = StepSpec.model_validate({"at": "+1h", "ack": "EC-1", "expire": "maintenance", "silence": {"match": {"provider": "p"}, "for": "1h"}})
    assert [ack.ticket for ack in step.ack] == ["EC-1"] and step.expire == ["maintenance"] and len(step.silence) == 1
    case = CaseSpec.model_validate({"name": "n", "tickets_from": "tickets.jsonl", "steps": [{"at": "+0m"}]})
    assert case.tickets_from == ["tickets.jsonl"]


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ({"notifications": [{}]}, "needs at least one of receiver"),
        ({"notifications": [{"kind": "escalaton"}]}, "unknown notification kind 'escalaton'"),
        ({"notifications": [{"recever": "x"}]}, "Extra inputs are not permitted"),
        ({"tickets": {"A": {"levels": {"response": 3}}}}, "levels.response"),
    ],
)
def test_expectations_are_checked_for_shape(expect: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        StepSpec.model_validate({"at": "+0m", "expect": expect})


def test_a_silence_needs_exactly_one_end() -> None:
    with pytest.raises(ValidationError, match="exactly one of for"):
        StepSpec.model_validate({"at": "+0m", "silence": {"match": {"provider": "p"}}})
