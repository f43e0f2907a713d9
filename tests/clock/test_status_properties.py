"""SLA status against a brute-force oracle: stage visits, reopen policy, pauses, calendars.

The oracle walks the clock minute by minute and asks of each minute: is the ticket in the
measured stage (the last visit, or any visit with ``reopen: continue``), not in a pausing
status, and inside a working window of the calendar?  Elapsed time is the count of such
minutes; the due time is the minute at which the count reaches the target, projected past
``now`` on working minutes while the clock runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spm_rules.clock.calendar import CalendarSpec, compile_calendar
from spm_rules.clock.status import sla_status
from spm_rules.ruleset.loader import parse_ruleset
from spm_rules.tickets import Ticket

from .calendar_oracle import OracleCalendar
from .test_calendar import DST_DATES, ZONES, calendar_mappings

UTC = timezone.utc
M = timedelta(minutes=1)
PAUSING = {"waiting_customer"}

RULESET_TEXT = """
name: status-oracle
tiers: {{std: {{}}}}
stages: [measured, other]
terminal_statuses: [resolved]
pausing_statuses: [waiting_customer]
policies:
  - name: p
    reopen: {reopen}
    targets: {{measured: {target}m}}
    levels: [{{name: half, at: 50%}}, {{name: due, at: 100%}}]
"""


@st.composite
def cases(draw: st.DrawFn, zone: str) -> dict[str, Any]:
    near = draw(st.sampled_from(DST_DATES))
    start = datetime(near.year, near.month, near.day, tzinfo=UTC) + draw(st.integers(-2 * 1440, 1440)) * M
    visits, moment = [], start
    for index in range(draw(st.integers(1, 5))):
        visits.append(("measured" if index % 2 == 0 else "other", moment))
        moment += draw(st.integers(1, 1440)) * M
    span = (moment - start) // M + draw(st.integers(0, 1440))
    pauses, point = [], start
    for index in range(draw(st.integers(0, 4)) * 2):
        point += draw(st.integers(0, span // 4 + 1)) * M
        pauses.append(("waiting_customer" if index % 2 == 0 else "open", point))
    return {
        "calendar": draw(calendar_mappings(zone, start.date() - timedelta(days=3), span // 1440 + 12)),
        "visits": visits,
        "pauses": pauses,
        "now": start + span * M,
        "target": draw(st.integers(1, 3 * 1440)),
        "reopen": draw(st.sampled_from(["restart", "continue"])),
    }


def _in_force(history: list[tuple[str, datetime]], moment: datetime) -> tuple[int, str] | None:
    """The index and value of the history entry in force at ``moment``."""
    current = None
    for index, (value, at) in enumerate(history):
        if at <= moment:
            current = (index, value)
    return current


HORIZON_DAYS = 20


def oracle(case: dict[str, Any]) -> tuple[timedelta, datetime | None, bool]:
    """(elapsed, due time or None, running) by walking every minute from the first visit."""
    calendar = OracleCalendar(case["calendar"])
    visits, pauses, now = case["visits"], case["pauses"], case["now"]
    start = visits[0][1]
    last_measured = max(i for i, (stage, at) in enumerate(visits) if stage == "measured" and at <= now)
    working = calendar.minutes(start, now + HORIZON_DAYS * 1440 * M)
    now_minute = (now - start) // M

    def counts(minute: int) -> bool:
        # Beyond now the clock keeps the state it has at now: history after now is unknown.
        moment = min(start + minute * M, now)
        visit, status = _in_force(visits, moment), _in_force(pauses, moment)
        if visit is None or visit[1] != "measured" or (status is not None and status[1] in PAUSING):
            return False
        if case["reopen"] == "restart" and visit[0] != last_measured:
            return False
        return working[minute]

    cells = [counts(minute) for minute in range(len(working))]
    elapsed = sum(cells[:now_minute])
    is_running = bool(now_minute < len(cells) and counts(now_minute) or _running_at(case))
    due, used = None, 0
    for minute, cell in enumerate(cells):
        if minute >= now_minute and not is_running:
            break
        used += cell
        if used == case["target"]:
            due = start + (minute + 1) * M
            break
    return elapsed * M, due, is_running


def _running_at(case: dict[str, Any]) -> bool:
    visit, status = _in_force(case["visits"], case["now"]), _in_force(case["pauses"], case["now"])
    return visit is not None and visit[1] == "measured" and not (status is not None and status[1] in PAUSING)


@pytest.mark.parametrize("zone", ZONES)
@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_status_matches_the_minute_oracle(zone: str, data: st.DataObject) -> None:
    case = data.draw(cases(zone), label="case")
    ruleset = parse_ruleset(RULESET_TEXT.format(reopen=case["reopen"], target=case["target"]), "oracle.yaml")
    ticket = Ticket(
        id="T",
        tier="std",
        status=case["pauses"][-1][0] if case["pauses"] else "open",
        created_at=case["visits"][0][1],
        stage_history=[{"stage": stage, "entered_at": at} for stage, at in case["visits"]],
        status_history=[{"status": status, "at": at} for status, at in case["pauses"]],
    )
    calendar = compile_calendar(CalendarSpec.model_validate(case["calendar"]), "random")
    status = sla_status(ticket, ruleset.policies[0], ruleset, calendar, case["now"])
    if not any(stage == "measured" and at <= case["now"] for stage, at in case["visits"]) or ticket.stage != "measured":
        assert status is None
        return
    elapsed, due, is_running = oracle(case)
    assert status is not None
    assert status.elapsed == elapsed
    assert status.paused is (not _running_at(case))
    assert status.remaining == case["target"] * M - elapsed
    assert status.level == ("due" if elapsed >= case["target"] * M else "half" if elapsed * 2 >= case["target"] * M else None)
    if due is not None:
        assert status.due_at == due
    elif is_running:
        assert status.due_at is None or status.due_at > case["now"] + HORIZON_DAYS * 1440 * M - M
    else:
        assert status.due_at is None
