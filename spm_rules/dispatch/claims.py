"""Dispatch against the state store: loads and standing assignments in, capacity claimed,
write-back events out.

The engine chooses from a snapshot (:class:`StoreDispatchState`); several workers
(``--worker K/N``) each take their snapshot, so two of them may both see a provider's
last free slot.  :class:`CapacityClaims` settles that inside the transaction that saves
a batch: it locks the providers it assigns (``StateTx.lock_providers``), counts their open
tickets as committed, and moves a ticket that finds its provider full to the next
candidate the engine listed, with the reason.  Exactly one worker gets the last slot.
:class:`BatchDispatch` is what the stateful run calls for each batch it saves: the
claims, and the write-back rows (:mod:`spm_rules.dispatch.sinks`) of the changes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Collection, Mapping, Sequence

from ..engine import TicketResult
from ..tickets import Ticket
from .decide import Previous, ProviderLoad, ProviderLoads
from .sinks import write_back_events

if TYPE_CHECKING:
    from ..ruleset.schema import Ruleset
    from ..state.lifecycle import TicketPlan
    from ..state.records import Outgoing, TicketState
    from ..state.store import StateTx, Store

__all__ = ["StoreDispatchState", "CapacityClaims", "BatchDispatch", "provider_loads"]


def provider_loads(store: "Store", ruleset: "Ruleset", now: datetime, since: datetime | None = None) -> dict[str, ProviderLoad]:
    """Each declared provider's load: open tickets, open escalations at the fallback's red
    levels, and, given ``since``, the on-time rate of its tickets closed in ``[since, now)``
    (the scorecard's figure, recomputed from the archive)."""
    from ..reports.scorecard import scorecard

    opens = store.open_loads()
    red_levels = set(ruleset.dispatch.fallback.red_levels)
    reds: dict[str, int] = {}
    for _policy, level, provider, count in store.escalation_counts():
        if level in red_levels and provider is not None:
            reds[provider] = reds.get(provider, 0) + count
    rates: dict[str, float | None] = {}
    if since is not None:
        card = scorecard(store, ruleset, since, now)
        rates = {figures.group: figures.on_time.rate for figures in card.groups if figures.group is not None}
    return {name: ProviderLoad(opens.get(name, 0), reds.get(name, 0), rates.get(name)) for name in {*ruleset.providers, *opens}}


class StoreDispatchState:
    """:class:`~spm_rules.dispatch.decide.DispatchState` read from a store at ``now``."""

    def __init__(self, store: "Store", ruleset: "Ruleset", now: datetime) -> None:
        self.store = store
        self.ruleset = ruleset
        self.now = now
        self._loads: ProviderLoads | None = None

    def loads(self) -> ProviderLoads:
        """Each provider's load when first asked (one snapshot per run, so what a run assigns
        does not depend on which of its batches committed first); on-time rates only when a
        route may rank by them."""
        if self._loads is not None:
            return self._loads
        rated = self.ruleset.dispatch.strategy == "best_on_time" or any(
            action.route is not None and action.route.strategy == "best_on_time" for rule in self.ruleset.rules for action in rule.then
        )
        since = self.now - self.ruleset.dispatch.on_time_window if rated else None
        self._loads = ProviderLoads(provider_loads(self.store, self.ruleset, self.now, since))
        return self._loads

    def assignments(self, ticket_ids: Collection[str]) -> Mapping[str, Previous]:
        """The standing assignment of each open ticket that has one, with its stored fact."""
        found = {}
        for ticket_id, (provider, facts) in self.store.assignments(ticket_ids).items():
            fact = Ticket.model_validate(facts).fact() if facts else {}
            found[ticket_id] = Previous(provider, fact)
        return found


class CapacityClaims:
    """Capacity re-checked under lock when a batch is saved (see the module docstring)."""

    def __init__(self, ruleset: "Ruleset") -> None:
        self.capacity = {name: spec.capacity for name, spec in ruleset.providers.items() if spec.capacity is not None}

    def settle(self, tx: "StateTx", results: Mapping[str, TicketResult], stored: Mapping[str, "TicketState"]) -> dict[str, TicketResult]:
        """The results of the tickets in ``stored`` (those this transaction holds), each new
        assignment to a provider with a capacity claimed or moved to the next candidate."""
        claiming = {
            ticket_id: result
            for ticket_id, result in results.items()
            if ticket_id in stored and result.route is not None and result.ticket.provider != stored[ticket_id].assigned_provider
        }
        wanted = {name for result in claiming.values() for name in _candidates(result) if name in self.capacity}
        settled = dict(results)
        if not wanted:
            return settled
        tx.lock_providers(wanted)
        counts = tx.open_counts(wanted)
        for ticket_id in sorted(claiming):
            result = claiming[ticket_id]
            chosen = result.ticket.provider
            full: list[str] = []
            for name in _candidates(result):
                if name not in self.capacity or counts[name] < self.capacity[name]:
                    chosen = name
                    break
                full.append(f"{name!r} was at capacity ({self.capacity[name]} open) when the run claimed it")
            else:
                continue  # nobody has room: the engine's choice stands (its fallback of last resort)
            if chosen in counts:
                counts[chosen] += 1
            if chosen != result.ticket.provider:
                settled[ticket_id] = _moved(result, chosen, full)
        return settled


def _candidates(result: TicketResult) -> list[str]:
    """The engine's choice first, then the candidates after it."""
    assert result.route is not None
    chosen = result.route.arguments["provider"]
    listed = list(result.route.arguments.get("candidates") or [])
    after = listed[listed.index(chosen) + 1 :] if chosen in listed else []
    return [chosen, *after]


def _moved(result: TicketResult, provider: str, full: list[str]) -> TicketResult:
    """``result`` with its ticket assigned to ``provider`` instead, and the reason why."""
    assert result.route is not None
    reason = f"{result.route.arguments['reason']}; " + "; ".join(full) + f"; so {provider!r}"
    route = result.route.noted("; ".join(full) + f"; so {provider!r}", provider=provider, reason=reason)
    decisions = tuple(route if decision is result.route else decision for decision in result.decisions)
    return replace(result, ticket=result.ticket.model_copy(update={"provider": provider}), route=route, decisions=decisions, reported=result.as_reported)


class BatchDispatch:
    """Dispatch's part in saving a batch (``spm_rules.run.apply_batch``): capacity claimed
    before the lifecycle diff, write-back rows enqueued with the changes."""

    def __init__(self, ruleset: "Ruleset") -> None:
        self.claims = CapacityClaims(ruleset)
        self.sinks = dict(ruleset.write_back)

    def settle(self, tx: "StateTx", results: Mapping[str, TicketResult], stored: Mapping[str, "TicketState"]) -> dict[str, TicketResult]:
        """The batch's results with every new assignment's capacity claimed."""
        return self.claims.settle(tx, results, stored)

    def outgoing(self, plans: Sequence["TicketPlan"]) -> list["Outgoing"]:
        """The write-back rows of the batch's route, escalate, tag and level changes."""
        if not self.sinks:
            return []
        found = []
        for plan in plans:
            state = plan.ticket
            ticket = {"provider": state.assigned_provider, "provider_reported": state.provider, "tags": state.tags}
            found.extend(write_back_events(self.sinks, plan.transitions, ticket))
        return found
