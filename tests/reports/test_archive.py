"""Reading tickets for reports from the state: by their own close time, open ones, one ticket."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from spm_rules.reports.archive import close_time, closed_tickets, find_ticket, open_tickets
from spm_rules.ruleset.loader import parse_ruleset
from spm_rules.run import run
from spm_rules.state.store import Store
from spm_rules.tickets import Ticket

RULESET = parse_ruleset(
    """\
version: 1
name: archive-test
tiers: {P4: {response: 4h}}
stages: [hotline, dispatched]
terminal_statuses: [resolved, archived, cancelled]
rules:
  - name: dispatch
    when: {field: provider, present: false}
    then: [{route: {provider: partner-a}}]
""",
    "archive-test.yaml",
)
TERMINAL = frozenset(RULESET.terminal_statuses)
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def ticket(ticket_id: str, statuses: list[tuple[str, float]] | None = None, status: str = "open", **fields: object) -> Ticket:
    history = [{"status": name, "at": at(hours)} for name, hours in statuses or []]
    return Ticket.model_validate({"id": ticket_id, "tier": "P4", "status": status, "created_at": T0, "status_history": history, **fields})


@pytest.mark.parametrize(
    ("statuses", "status", "recorded", "expected"),
    [
        ([("open", 0), ("resolved", 2)], "resolved", 5, 2),  # the history dates the close
        ([("open", 0), ("resolved", 2), ("archived", 3)], "archived", 5, 2),  # closed at the first terminal status of the last run
        ([("open", 0), ("resolved", 1), ("open", 2), ("resolved", 4)], "resolved", 5, 4),  # reopened: the last close counts
        ([("open", 0)], "resolved", 5, 5),  # the history does not date the current status: the run's time
        ([], "resolved", 5, 5),  # no history at all
        ([("open", 0), ("resolved", 7)], "resolved", 5, 5),  # dated after the run that recorded it: never later than that run
    ],
    ids=["dated", "resolved-then-archived", "reopened", "undated-status", "no-history", "clock-ahead"],
)
def test_close_time_is_the_tickets_own(statuses: list[tuple[str, float]], status: str, recorded: float, expected: float) -> None:
    assert close_time(ticket("A", statuses, status), TERMINAL, at(recorded)) == at(expected)


def test_reports_read_closed_tickets_by_their_own_close_time_and_open_ones_with_their_provider(state_url: str) -> None:
    early = ticket("A", [("open", 0), ("resolved", 2)], "resolved", provider="partner-b")  # closed at 10:00 by its own record
    late = ticket("B", [("open", 0), ("resolved", 20)], "resolved")  # closed the next morning, routed to partner-a
    still = ticket("C")
    with Store(state_url) as store:
        run(store, RULESET, [ticket("B"), still], at(1))  # B is routed while open
        # One run the next day sees both closes: A is still counted where it closed, the day before.
        run(store, RULESET, [early, late, still], at(30))
        day = list(closed_tickets(store, RULESET, at(-8), at(16), audit_kinds=["new", "routed"]))
        next_day = list(closed_tickets(store, RULESET, at(16), at(40), batch=1))
        opened = list(open_tickets(store))
        found = find_ticket(store, RULESET, "B")
        assert find_ticket(store, RULESET, "nobody") is None
    assert [(t.ticket_id, t.closed_at, t.provider) for t in day] == [("A", at(2), "partner-b")]
    assert day[0].audit == ()  # first seen closed: no run saw it new
    assert [(t.ticket_id, t.closed_at, t.provider) for t in next_day] == [("B", at(20), "partner-a")]
    assert next_day[0].effective is not None and next_day[0].effective.provider == "partner-a"
    assert next_day[0].fact()["provider_reported"] is None
    assert [(t.ticket_id, t.closed_at, t.provider, t.ticket is not None) for t in opened] == [("C", None, "partner-a", True)]
    assert found is not None and found.closed_at == at(20) and found.state.status == "resolved"
