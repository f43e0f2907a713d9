"""Dispatch against the state store: assignments stand across runs, escalations re-route
with their reason in history, and capacity holds between workers racing for a slot."""

from __future__ import annotations

import threading
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spm_rules.dispatch.claims import BatchDispatch, StoreDispatchState, provider_loads
from spm_rules.dispatch.decide import ProviderLoads
from spm_rules.engine import Engine, evaluate
from spm_rules.ruleset.loader import parse_ruleset
from spm_rules.run import WorkerSlot, apply_batch, run
from spm_rules.state.lifecycle import Lifecycle
from spm_rules.state.store import Store

from .helpers import dispatch_ruleset
from .test_decide import DAY, ticket


def assigned(store: Store, ticket_id: str) -> str | None:
    state = store.ticket(ticket_id)
    return state.assigned_provider if state is not None else None


def routed_history(store: Store, ticket_id: str) -> list[str]:
    return [entry.detail or "" for entry in store.history(ticket_id) if entry.kind == "routed"]


def test_an_assignment_stands_across_ten_runs_while_loads_shift(store: Store) -> None:
    """Least-open dispatch over ten runs, one new north request a run: each request keeps
    the partner it got first although the loads keep changing."""
    ruleset = parse_ruleset(dispatch_ruleset(capacity=20), "r.yaml")
    first: dict[str, str | None] = {}
    tickets = []
    for index in range(10):
        now = DAY + timedelta(minutes=5 * index)
        tickets.append(ticket(f"T{index}", at=now))
        run(store, ruleset, tickets, now)
        for item in tickets:
            first.setdefault(item.id, assigned(store, item.id))
            assert assigned(store, item.id) == first[item.id], f"run {index}: {item.id} moved"
    assert sorted(first.values()) == ["partner-north"] * 5 + ["partner-north-2"] * 5
    assert all(len(routed_history(store, f"T{index}")) == 1 for index in range(10))


def test_an_assignment_is_redone_when_the_ticket_facts_change(store: Store) -> None:
    ruleset = parse_ruleset(dispatch_ruleset(), "r.yaml")
    run(store, ruleset, [ticket("T1")], DAY)
    assert assigned(store, "T1") == "partner-north"
    run(store, ruleset, [ticket("T1", region="east")], DAY + timedelta(minutes=5))
    assert assigned(store, "T1") == "partner-east"


def test_an_escalation_reroutes_in_house_with_its_reason_in_history(store: Store) -> None:
    ruleset = parse_ruleset(dispatch_ruleset(), "r.yaml")
    dispatched = ticket("T1", at=DAY)
    run(store, ruleset, [dispatched], DAY)
    assert assigned(store, "T1") == "partner-north"
    run(store, ruleset, [dispatched], DAY + timedelta(hours=6, minutes=30))   # 4h target + 2h: escalate
    assert assigned(store, "T1") == "maker-engineers"
    first, moved = routed_history(store, "T1")
    assert first.startswith("to 'partner-north': rule 'dispatch'")
    assert moved.startswith("to 'maker-engineers': rule 'move-in-house'")
    assert moved.endswith("the partner missed the response level by 2 hours: the rule names 'maker-engineers'")
    run(store, ruleset, [dispatched], DAY + timedelta(hours=7))
    assert assigned(store, "T1") == "maker-engineers"
    assert len(routed_history(store, "T1")) == 2


def test_capacity_is_claimed_once_when_two_workers_race_for_the_last_slot(state_url: str) -> None:
    """partner-north has one slot left and both workers' snapshots say so; both choose it,
    claim it at once, and exactly one keeps it: the other falls back, saying why."""
    ruleset = parse_ruleset(dispatch_ruleset(capacity=2), "r.yaml")
    setup = Store(state_url)
    run(setup, ruleset, [ticket("OLD")], DAY)   # partner-north: 1 of 2 open
    stores = [Store(state_url), Store(state_url)]
    engine, lifecycle, dispatch = Engine(ruleset), Lifecycle(ruleset), BatchDispatch(ruleset)
    now = DAY + timedelta(minutes=5)
    busy_north2 = {"partner-north-2": 5}   # full, so both snapshots point at partner-north
    loads = provider_loads(setup, ruleset, now)
    assert loads["partner-north"].open == 1
    snapshot = {name: load if name not in busy_north2 else type(load)(busy_north2[name], load.red, load.on_time) for name, load in loads.items()}

    class Snapshot(StoreDispatchState):
        def loads(self):  # type: ignore[override]
            return ProviderLoads(snapshot)

    results = [list(engine.evaluate([ticket(ticket_id, at=now)], now, Snapshot(store, ruleset, now))) for ticket_id, store in zip(("A", "B"), stores)]
    assert [r[0].ticket.provider for r in results] == ["partner-north", "partner-north"]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(store: Store, batch: list) -> None:
        try:
            barrier.wait()
            apply_batch(store, lifecycle, batch, now, dispatch=dispatch)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(store, batch)) for store, batch in zip(stores, results)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    providers = sorted(assigned(setup, ticket_id) or "" for ticket_id in ("A", "B"))
    assert providers == ["partner-north", "partner-north-2"]   # the snapshot said partner-north-2 was busy; the claim found room
    loser = next(ticket_id for ticket_id in ("A", "B") if assigned(setup, ticket_id) == "partner-north-2")
    (detail,) = routed_history(setup, loser)
    assert "'partner-north' was at capacity (2 open) when the run claimed it" in detail
    assert provider_loads(setup, ruleset, now)["partner-north"].open == 2


def test_workers_never_overfill_a_provider(state_url: str) -> None:
    """Two workers (``--worker 1/2`` and ``2/2``) dispatching twenty requests to partners of capacity 5."""
    ruleset = parse_ruleset(dispatch_ruleset(capacity=5), "r.yaml")
    tickets = [ticket(f"R{index:02d}") for index in range(20)]
    for slot in ("1/2", "2/2"):
        run(Store(state_url), ruleset, tickets, DAY, worker=WorkerSlot.parse(slot))
    loads = provider_loads(Store(state_url), ruleset, DAY)
    assert (loads["partner-north"].open, loads["partner-north-2"].open, loads["maker-engineers"].open) == (5, 5, 10)


@settings(deadline=None, max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(8)), batch_size=st.integers(1, 4), incremental=st.booleans())
def test_who_gets_the_last_slots_does_not_depend_on_the_feed_order_or_its_batches(order: list[int], batch_size: int, incremental: bool) -> None:
    """Eight north requests created a minute apart where the partners have room for six
    (1 + 5): however the feed orders them and cuts them into batches, and whether the run
    evaluates them at its first run or, arriving later, beside tickets left alone, the six
    oldest get the partners and the two newest the fallback, with the same reasons."""
    ruleset = parse_ruleset(dispatch_ruleset(capacity=1), "r.yaml")
    requests = [ticket(f"T{index}", at=DAY + timedelta(minutes=index)) for index in range(8)]
    now = DAY + timedelta(minutes=30)
    outcome = []
    for feed in (requests, [requests[index] for index in order]):
        with Store("sqlite://") as store:
            if incremental:  # an earlier run saw only a request in the east, which it leaves alone now
                run(store, ruleset, [ticket("E1", region="east", at=DAY - timedelta(hours=1))], DAY, batch_size=batch_size)
            run(store, ruleset, feed, now, batch_size=batch_size)
            outcome.append({request.id: (assigned(store, request.id), routed_history(store, request.id)) for request in requests})
    assert outcome[0] == outcome[1]
    assert {ticket_id: provider for ticket_id, (provider, _) in outcome[1].items()} == {
        "T0": "partner-north", **{f"T{index}": "partner-north-2" for index in range(1, 6)}, "T6": "maker-engineers", "T7": "maker-engineers",
    }
    assert outcome[1]["T7"][1] == [
        "to 'maker-engineers': rule 'dispatch': provider is missing [provider=missing: yes]; the eligible provider with the fewest open tickets; "
        "'partner-north' is at capacity (1 open); 'partner-north-2' is at capacity (5 open); so the fallback 'maker-engineers'"
    ]


@settings(deadline=None, max_examples=20)
@given(order=st.permutations(range(8)))
def test_evaluating_without_a_state_assigns_what_a_first_run_records_whatever_the_feed_order(order: list[int]) -> None:
    """``spm-rules evaluate`` (and ``spm_rules.evaluate``) has no store, yet says what the
    first run of the same tickets would record: the eight requests of the test above, in
    any order, get the same partners from both, the six oldest the partners' six slots."""
    ruleset = parse_ruleset(dispatch_ruleset(capacity=1), "r.yaml")
    requests = [ticket(f"T{index}", at=DAY + timedelta(minutes=index)) for index in range(8)]
    feed = [requests[index] for index in order]
    now = DAY + timedelta(minutes=30)
    results = evaluate(ruleset, feed, now)
    assert [result.ticket.id for result in results] == [request.id for request in feed], "in input order"
    with Store("sqlite://") as store:
        run(store, ruleset, feed, now)
        recorded = {request.id: assigned(store, request.id) for request in requests}
    evaluated = {result.ticket.id: result.ticket.provider for result in results}
    assert evaluated == recorded
    assert sorted(ticket_id for ticket_id, provider in evaluated.items() if provider != "maker-engineers") == [f"T{index}" for index in range(6)]
