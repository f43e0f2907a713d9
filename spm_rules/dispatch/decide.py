"""Which provider a ticket goes to, and why: the pure decision of dispatch.

A route decision names a provider (``route: {provider: p}``), a lookup table
(``route: {table: stations, field: postal_code}``) or a strategy (``route: dispatch``,
the ``dispatch:`` section's).  :class:`Dispatcher` turns it into a :class:`Choice`:

1. the **candidates**, in order: the named provider, the table's value, or the providers
   eligible for the ticket (each declared constraint, region or postal-code prefix,
   product line, tier, holds for the ticket) by fewest open tickets (``least_open``) or
   best recent on-time rate (``best_on_time``), ties by name; after a named or looked-up
   provider come the other eligible ones, fewest open first;
2. the **fallback** walk: a candidate is passed over when it is at capacity, outside its
   working calendar for an urgent tier, or has more than ``max_red`` open red escalations;
   the first one left wins, else ``fallback.to``.

Every step is said in words (``reason``), so that history, ``evaluate`` and ``explain``
show why a ticket went where it went.  The loads it reads are a snapshot
(:class:`ProviderLoads`); the stateful run re-checks capacity under a lock when it
claims the slot (:mod:`spm_rules.dispatch.claims`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Collection, Iterable, Mapping, Protocol

from ..clock.calendar import Calendar
from .spec import DispatchSpec, ProviderSpec
from .tables import LookupTable

if TYPE_CHECKING:
    from ..tickets import Ticket

__all__ = ["ProviderLoad", "ProviderLoads", "Choice", "Dispatcher", "DispatchState", "Previous", "dispatch_order"]


@dataclass(frozen=True)
class ProviderLoad:
    """A provider's load as the state store knows it: open tickets, open escalations at a
    red level, and the on-time share of its recently closed tickets (None: none closed)."""

    open: int = 0
    red: int = 0
    on_time: float | None = None


@dataclass
class ProviderLoads:
    """The loads one evaluation starts from, plus the tickets it assigned itself (so that
    capacity holds within one evaluation as well as across runs)."""

    known: Mapping[str, ProviderLoad] = field(default_factory=dict)
    taken: Counter[str] = field(default_factory=Counter)

    def of(self, provider: str) -> ProviderLoad:
        """The provider's load, the tickets assigned in this evaluation included."""
        base = self.known.get(provider, ProviderLoad())
        return ProviderLoad(base.open + self.taken[provider], base.red, base.on_time)

    def take(self, provider: str) -> None:
        """Count one more open ticket for ``provider``."""
        self.taken[provider] += 1

    def release(self, provider: str) -> None:
        """Count one open ticket less for ``provider`` (a ticket it held is dispatched again)."""
        self.taken[provider] -= 1


def dispatch_order(ticket: "Ticket") -> tuple[datetime, str]:
    """The order in which a run assigns the tickets that need a provider: oldest first, then
    by id, whatever the order of the feed (a ticket created earlier gets a last slot)."""
    return (ticket.created_at, ticket.id)


@dataclass(frozen=True)
class Previous:
    """A ticket's standing assignment: the provider, and the ticket's fact when it was made."""

    provider: str
    fact: Mapping[str, Any]


class DispatchState(Protocol):
    """What dispatch reads from the state store: each provider's load, and the assignments
    tickets already have (the stateful run backs it with the store; ``evaluate`` has none)."""

    def loads(self) -> ProviderLoads:
        """The loads the evaluations of one run start from, and count what they assign: the
        same object at every call, so a later batch sees what an earlier one assigned."""
        ...

    def assignments(self, ticket_ids: Collection[str]) -> Mapping[str, Previous]:
        """The standing assignment of each of ``ticket_ids`` that has one."""
        ...


class EmptyDispatchState:
    """Dispatch as into an empty state store: nothing assigned before, every provider
    empty, and one ``ProviderLoads`` for all the batches of one evaluation (an evaluation
    without a store sees what its earlier batches assigned, as a first run does)."""

    def __init__(self) -> None:
        self._loads = ProviderLoads()

    def loads(self) -> ProviderLoads:
        """The loads of this evaluation: empty, plus what it assigned."""
        return self._loads

    def assignments(self, ticket_ids: Collection[str]) -> Mapping[str, Previous]:
        """None: nothing was assigned before."""
        return {}


@dataclass(frozen=True)
class Choice:
    """A dispatch decision: the provider (None: nobody could take it), the strategy, the
    reason in words, the candidates in order (what a claim falls back through), and the
    ticket fields a table route records (``record:``)."""

    provider: str | None
    strategy: str
    reason: str
    candidates: tuple[str, ...] = ()
    passed_over: tuple[str, ...] = ()
    recorded: Mapping[str, str] = field(default_factory=dict)

    def arguments(self) -> dict[str, Any]:
        """What the route decision carries: provider, strategy, reason, the fallbacks, and
        the ticket fields it records from a table's row."""
        found: dict[str, Any] = {"provider": self.provider, "strategy": self.strategy, "reason": self.reason}
        if self.recorded:
            found["recorded"] = dict(self.recorded)
        if self.passed_over:
            found["passed_over"] = list(self.passed_over)
        if len(self.candidates) > 1:
            found["candidates"] = list(self.candidates)
        return found


class Dispatcher:
    """A ruleset's providers, tables and dispatch section, ready to choose."""

    def __init__(
        self,
        providers: Mapping[str, ProviderSpec],
        spec: DispatchSpec,
        tables: Mapping[str, LookupTable],
        calendars: Mapping[str, Calendar],
        fields: Iterable[str] = (),
    ) -> None:
        self.providers = dict(providers)
        self.spec = spec
        self.tables = dict(tables)
        self.calendars = calendars
        #: The ticket fields an assignment depends on: while they keep their values, it stands.
        self.fields = tuple(dict.fromkeys([spec.region_field, spec.postal_field, spec.product_line_field, "tier", *([spec.field] if spec.field else []), *fields]))

    def resolve(self, arguments: Mapping[str, Any], fact: Mapping[str, Any], now: datetime, loads: ProviderLoads, previous: Previous | None = None) -> Choice:
        """The provider for a route decision, keeping a standing assignment: a ticket
        assigned at an earlier run stays with its provider while its dispatch facts
        (:attr:`fields`) are unchanged, unless the route re-routes it (``reroute``)."""
        if previous is not None:
            loads.release(previous.provider)
            if self.stands(arguments, fact, previous):
                loads.take(previous.provider)
                return Choice(previous.provider, "kept", f"assigned to {previous.provider!r} at an earlier run; its dispatch facts are unchanged", (previous.provider,))
        return self.choose(arguments, fact, now, loads)

    def stands(self, arguments: Mapping[str, Any], fact: Mapping[str, Any], previous: Previous | None) -> bool:
        """A standing assignment holds: the route does not re-route, and the dispatch facts
        (:attr:`fields`) are those the assignment was made on."""
        return previous is not None and not arguments.get("reroute") and all(previous.fact.get(name) == fact.get(name) for name in self.fields)

    def eligible(self, fact: Mapping[str, Any]) -> list[str]:
        """The declared providers whose every declared constraint holds for the ticket."""
        spec = self.spec
        region, postal = fact.get(spec.region_field), fact.get(spec.postal_field)
        line, tier = fact.get(spec.product_line_field), fact.get("tier")
        found = []
        for name, provider in self.providers.items():
            if provider.regions and region not in provider.regions:
                continue
            if provider.postal_prefixes and not (isinstance(postal, (str, int)) and any(str(postal).startswith(p) for p in provider.postal_prefixes)):
                continue
            if provider.product_lines and line not in provider.product_lines:
                continue
            if provider.tiers and tier not in provider.tiers:
                continue
            found.append(name)
        return found

    def choose(self, arguments: Mapping[str, Any], fact: Mapping[str, Any], now: datetime, loads: ProviderLoads) -> Choice:
        """The provider a route decision's ``arguments`` give the ticket ``fact`` at ``now``."""
        strategy = arguments.get("strategy") or ("table" if "table" in arguments else "rule" if "provider" in arguments else self.spec.strategy)
        eligible = self.eligible(fact)
        by_load = sorted(eligible, key=lambda name: (loads.of(name).open, name))
        recorded: dict[str, str] = {}
        if strategy == "rule":
            named = arguments["provider"]
            if named not in self.providers:
                return Choice(named, "rule", f"routed to {named!r} by the rule", (named,))
            head, why = [named], f"the rule names {named!r}"
        elif strategy == "table":
            table_name = arguments.get("table") or self.spec.table
            key_field = arguments.get("field") or self.spec.field
            key = fact.get(key_field) if key_field else None
            table = self.tables.get(table_name or "")
            row = table.row(key) if table is not None else None
            value = row.get(table.value) if row is not None and table is not None else None
            if value is None:
                head, why = [], f"table {table_name!r} has no row for {key_field}={key!r}; the eligible providers by open tickets"
            else:
                head, why = [value], f"table {table_name!r} maps {key_field}={key!r} to {value!r}"
                recorded = {name: row[column] for name, column in (arguments.get("record") or {}).items() if row.get(column)}  # type: ignore[union-attr]
                if recorded:
                    why += " (" + ", ".join(f"{name} {text!r}" for name, text in recorded.items()) + ")"
        elif strategy == "best_on_time":
            rated = sorted(eligible, key=lambda name: (-(loads.of(name).on_time if loads.of(name).on_time is not None else -1.0), loads.of(name).open, name))
            head, why = rated, "the eligible provider with the best recent on-time rate" if len(rated) > 1 else "the only eligible provider"
        else:
            head, why = by_load, "the eligible provider with the fewest open tickets" if len(by_load) > 1 else "the only eligible provider"
        candidates = tuple(dict.fromkeys([*head, *by_load]))
        choice = self._walk(strategy, why, candidates, fact, now, loads)
        # A table row's recorded fields belong to the row's provider, not to a fallback.
        return replace(choice, recorded=recorded) if recorded and choice.provider == head[0] else choice

    def _walk(self, strategy: str, why: str, candidates: tuple[str, ...], fact: Mapping[str, Any], now: datetime, loads: ProviderLoads) -> Choice:
        """The first candidate no fallback rule passes over, else ``fallback.to``."""
        passed: list[str] = []
        for name in candidates:
            skip = self.skip_reason(name, fact, now, loads)
            if skip is None:
                loads.take(name)
                reason = why if not passed else f"{why}; " + "; ".join(passed) + f"; so {name!r}"
                return Choice(name, strategy, reason, candidates, tuple(passed))
            passed.append(skip)
        last = self.spec.fallback.to
        if last is not None:
            loads.take(last)
            reason = f"{why}; " + ("; ".join(passed) if passed else "no provider is eligible") + f"; so the fallback {last!r}"
            return Choice(last, strategy, reason, (*candidates, last), tuple(passed))
        return Choice(None, strategy, f"{why}; " + ("; ".join(passed) if passed else "no provider is eligible") + "; left unassigned", candidates, tuple(passed))

    def skip_reason(self, name: str, fact: Mapping[str, Any], now: datetime, loads: ProviderLoads) -> str | None:
        """Why ``name`` is passed over for this ticket at ``now`` (None: it can take it)."""
        provider = self.providers.get(name)
        if provider is None:
            return None
        fallback = self.spec.fallback
        load = loads.of(name)
        if fallback.capacity and provider.capacity is not None and load.open >= provider.capacity:
            return f"{name!r} is at capacity ({provider.capacity} open)"
        if fact.get("tier") in fallback.urgent_tiers and not self.working(name, now):
            return f"{name!r} is outside its working hours ({provider.calendar}) for urgent tier {fact.get('tier')!r}"
        if fallback.max_red is not None and load.red > fallback.max_red:
            return f"{name!r} has more than {fallback.max_red} open red escalations"
        return None

    def working(self, name: str, now: datetime) -> bool:
        """The provider's calendar counts the minute starting at ``now`` as working time."""
        calendar = self.calendars.get(self.providers[name].calendar)
        return calendar is None or calendar.elapsed(now, now + timedelta(minutes=1)) > timedelta(0)

