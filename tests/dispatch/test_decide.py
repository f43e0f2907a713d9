"""Choosing a provider: strategies, product-line override, fallbacks and their reasons."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Collection, Mapping

import pytest
from hypothesis import given, settings, strategies as st

from spm_rules.dispatch.decide import Previous, ProviderLoad, ProviderLoads
from spm_rules.engine import Engine, TicketResult
from spm_rules.ruleset.loader import parse_ruleset
from spm_rules.tickets import Ticket

from .helpers import dispatch_ruleset

CST = timezone(timedelta(hours=8))
DAY = datetime(2026, 11, 25, 10, 0, tzinfo=CST)      # a Wednesday, inside the day shift
NIGHT = datetime(2026, 11, 25, 23, 0, tzinfo=CST)    # outside it


class MemoryState:
    """The dispatch state as plain data (the stateful run reads it from the store)."""

    def __init__(self, loads: Mapping[str, ProviderLoad] | None = None, assignments: Mapping[str, Previous] | None = None) -> None:
        self._loads = dict(loads or {})
        self._assignments = dict(assignments or {})

    def loads(self) -> ProviderLoads:
        return ProviderLoads(self._loads)

    def assignments(self, ticket_ids: Collection[str]) -> Mapping[str, Previous]:
        return {ticket_id: self._assignments[ticket_id] for ticket_id in ticket_ids if ticket_id in self._assignments}


def ticket(ticket_id: str = "T1", *, tier: str = "P4", region: str = "north", product_line: str = "rack", at: datetime = DAY, **extra: Any) -> Ticket:
    return Ticket.model_validate(
        {"id": ticket_id, "tier": tier, "status": "open", "region": region, "product_line": product_line, "created_at": at - timedelta(minutes=30),
         "stage_history": [{"stage": "dispatched", "entered_at": at - timedelta(minutes=10)}], **extra}
    )


def evaluate(tickets: list[Ticket], now: datetime = DAY, *, capacity: int = 5, strategy: str = "least_open", state: MemoryState | None = None) -> list[TicketResult]:
    engine = Engine(parse_ruleset(dispatch_ruleset(capacity, strategy), "r.yaml"))
    return list(engine.evaluate(tickets, now, state))


def reason(result: TicketResult) -> str:
    assert result.route is not None
    return result.route.arguments["reason"]


def test_least_open_picks_the_eligible_provider_with_the_fewest_open_tickets() -> None:
    state = MemoryState({"partner-north": ProviderLoad(open=3), "partner-north-2": ProviderLoad(open=1)})
    (result,) = evaluate([ticket()], state=state)
    assert result.ticket.provider == "partner-north-2"
    assert reason(result) == "the eligible provider with the fewest open tickets"
    assert result.provider_reported is None


def test_best_on_time_picks_the_best_recent_rate() -> None:
    state = MemoryState({"partner-north": ProviderLoad(open=3, on_time=0.95), "partner-north-2": ProviderLoad(open=1, on_time=0.7)})
    (result,) = evaluate([ticket()], strategy="best_on_time", state=state)
    assert result.ticket.provider == "partner-north"
    assert reason(result) == "the eligible provider with the best recent on-time rate"


def test_core_servers_stay_in_house_whatever_the_region() -> None:
    """Product-line override: partners serve racks and blades, the maker's engineers core servers."""
    results = evaluate([ticket("K1", product_line="core-server"), ticket("R1", product_line="rack")])
    assert [r.ticket.provider for r in results] == ["maker-engineers", "partner-north"]


def test_capacity_passes_over_a_full_provider_within_one_evaluation() -> None:
    state = MemoryState({"partner-north-2": ProviderLoad(open=5)})
    results = evaluate([ticket("T1"), ticket("T2")], capacity=1, state=state)
    assert [r.ticket.provider for r in results] == ["partner-north", "maker-engineers"]
    assert reason(results[1]) == (
        "the eligible provider with the fewest open tickets; 'partner-north' is at capacity (1 open); "
        "'partner-north-2' is at capacity (5 open); so the fallback 'maker-engineers'"
    )


def test_an_urgent_tier_at_night_skips_a_provider_outside_its_working_hours() -> None:
    """partner-north works 08:00-20:00: a P2 request at 23:00 goes to the round-the-clock partner; a P4 one may wait for the morning."""
    state = MemoryState({"partner-north-2": ProviderLoad(open=2)})
    urgent, standard = evaluate([ticket("U1", tier="P2", at=NIGHT), ticket("S1", tier="P4", at=NIGHT)], NIGHT, state=state)
    assert urgent.ticket.provider == "partner-north-2"
    assert "'partner-north' is outside its working hours (day-shift) for urgent tier 'P2'" in reason(urgent)
    assert standard.ticket.provider == "partner-north"
    (daytime,) = evaluate([ticket("U2", tier="P2")], DAY, state=state)
    assert daytime.ticket.provider == "partner-north"


def test_too_many_open_red_escalations_pass_a_provider_over() -> None:
    state = MemoryState({"partner-north": ProviderLoad(open=0, red=2), "partner-north-2": ProviderLoad(open=4)})
    (result,) = evaluate([ticket()], state=state)
    assert result.ticket.provider == "partner-north-2"
    assert "'partner-north' has more than 1 open red escalations" in reason(result)


def test_an_escalation_reroutes_in_house_with_its_reason() -> None:
    late = ticket(at=DAY - timedelta(hours=5))   # dispatched 5h10m ago: not yet 2 hours past the 4h target
    later = ticket("T2", at=DAY - timedelta(hours=7))
    on_time, escalated = evaluate([late, later], state=MemoryState(assignments={"T2": Previous("partner-north", later.fact())}))
    assert on_time.ticket.provider == "partner-north"
    assert escalated.ticket.provider == "maker-engineers"
    assert escalated.route is not None and escalated.route.rule == "move-in-house"
    assert escalated.route.arguments["reason"] == "the partner missed the response level by 2 hours: the rule names 'maker-engineers'"
    assert escalated.route.arguments["reroute"] is True
    assert escalated.route_conflicts == ()


def test_a_standing_assignment_is_kept_while_the_facts_stay_and_redone_when_they_change() -> None:
    original = ticket()
    state = MemoryState({"partner-north": ProviderLoad(open=4), "partner-north-2": ProviderLoad(open=0)}, {"T1": Previous("partner-north", original.fact())})
    (kept,) = evaluate([original], state=state)
    assert kept.ticket.provider == "partner-north"
    assert kept.route is not None and kept.route.arguments["strategy"] == "kept"
    (moved,) = evaluate([ticket(region="east")], state=state)
    assert moved.ticket.provider == "partner-east"


@settings(deadline=None, max_examples=25)
@given(st.permutations(range(6)))
def test_capacity_holds_whatever_the_ticket_order(order: list[int]) -> None:
    """Six requests, capacity 1 + 5 + the fallback: who gets which partner depends on the
    order, how many each partner gets does not."""
    tickets = [ticket(f"T{index}") for index in order]
    results = evaluate(tickets, capacity=1, state=MemoryState({"partner-north-2": ProviderLoad(open=1)}))
    counts = {name: sum(1 for r in results if r.ticket.provider == name) for name in ("partner-north", "partner-north-2", "maker-engineers")}
    assert counts == {"partner-north": 1, "partner-north-2": 4, "maker-engineers": 1}


@pytest.mark.parametrize("strategy", ["least_open", "best_on_time"])
def test_without_state_every_eligible_provider_starts_empty(strategy: str) -> None:
    (result,) = evaluate([ticket()], strategy=strategy)
    assert result.ticket.provider == "partner-north"
