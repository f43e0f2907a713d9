from datetime import datetime, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from spm_rules.ruleset.loader import load_ruleset
from spm_rules.tickets import Ticket, ticket_warnings

BASE = {
    "id": "T-1",
    "tier": "P4",
    "status": "open",
    "created_at": "2026-11-25T09:00:00+08:00",
    "stage_history": [{"stage": "hotline", "entered_at": "2026-11-25T09:00:00+08:00"}, {"stage": "dispatched", "entered_at": "2026-11-25T09:30:00Z"}],
}


def test_times_are_normalised_to_utc_and_stage_follows_history() -> None:
    ticket = Ticket.model_validate(BASE)
    assert ticket.created_at == datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)
    assert ticket.stage == "dispatched"
    assert ticket.stage_history[1].entered_at == datetime(2026, 11, 25, 9, 30, tzinfo=timezone.utc)


def test_naive_time_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        Ticket.model_validate(BASE | {"created_at": "2026-11-25T09:00:00"})
    error = info.value.errors()[0]
    assert error["loc"] == ("created_at",)
    assert "no timezone" in error["msg"]


def test_naive_time_is_read_in_the_declared_zone() -> None:
    ticket = Ticket.model_validate(BASE | {"created_at": "2026-11-25T09:00:00"}, context={"default_timezone": "Asia/Shanghai"})
    assert ticket.created_at == datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)


def test_extra_fields_are_kept_and_flattened_into_the_fact() -> None:
    ticket = Ticket.model_validate(BASE | {"fault": "PSU", "account": {"vip": True, "since": 2019}, "tags": ["a"]})
    fact = ticket.fact()
    assert fact["fault"] == "PSU"
    assert fact["account.vip"] is True and fact["account.since"] == 2019
    assert "tags" not in fact
    assert fact["created_at"] == "2026-11-25T01:00:00+00:00"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"stage": "onsite"}, "differs from the last stage_history entry"),
        ({"stage_history": list(reversed(BASE["stage_history"]))}, "time order"),
        ({"tier": ""}, "tier"),
        ({"created_at": "yesterday"}, "ISO 8601"),
    ],
)
def test_inconsistent_tickets_are_refused(change: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Ticket.model_validate(BASE | change)
    assert field in str(info.value)


# --------------------------------------------------------------------------- facts the ruleset cannot measure

RULESET = load_ruleset(Path(__file__).resolve().parents[1] / "rulesets" / "enterprise-command-center.yaml")
OPEN_SINCE = [{"status": "open", "at": "2026-11-25T09:00:00+08:00"}]
WAITING_SINCE = [*OPEN_SINCE, {"status": "waiting_customer", "at": "2026-11-25T10:00:00+08:00"}]


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({}, []),
        ({"status": "waiting_customer", "status_history": WAITING_SINCE}, []),
        ({"tier": "P9"}, [("tier", "tier 'P9' is not one of the ruleset's tiers (P2, P4, P6): no per-tier target applies to it", "declared: P2, P4, P6")]),
        ({"tier": "p4"}, [("tier", "tier 'p4' is not one of the ruleset's tiers (P2, P4, P6): no per-tier target applies to it", "did you mean 'P4'?")]),
        (
            {"stage_history": [{"stage": "dispached", "entered_at": "2026-11-25T09:00:00+08:00"}]},
            [("stage", "stage 'dispached' is not one of the ruleset's stages (hotline, dispatched, onsite): no stage clock runs for it", "did you mean 'dispatched'?")],
        ),
        (
            {"status": "waiting_customer"},
            [("status_history", "status 'waiting_customer' pauses the clock, but status_history does not say since when, so the clock keeps running", "add {status: waiting_customer, at: …} to status_history")],
        ),
        (
            {"status": "waiting_customer", "status_history": OPEN_SINCE},
            [("status_history", "status 'waiting_customer' pauses the clock, but status_history does not say since when, so the clock keeps running", "add {status: waiting_customer, at: …} to status_history")],
        ),
        ({"tier": "P9", "status": "resolved", "stage_history": [{"stage": "dispached", "entered_at": "2026-11-25T09:00:00+08:00"}]}, []),  # closed: not measured
    ],
)
def test_ticket_warnings_name_the_field_and_the_fix(changes: dict, expected: list[tuple[str, str, str]]) -> None:
    ticket = Ticket.model_validate(BASE | changes)
    assert [(w.field, w.message, w.hint) for w in ticket_warnings(ticket, RULESET)] == expected
