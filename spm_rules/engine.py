"""Evaluation: tickets and an instant in, SLA statuses and rule decisions out.

``Engine(ruleset).evaluate(tickets, now)`` is the pure core of spm-rules: it reads no
clock and does no I/O.  It streams: tickets are consumed and results yielded in bounded
batches, so a million open tickets never sit in memory at once.

For each open ticket the engine computes one SLA status per applicable policy, builds one
fact per status (the ticket's fields plus ``sla.*``; a ticket with no status gives one
fact of its own fields), runs every enabled rule over the facts, and turns each match into
decisions that carry their reason.  A rule that reads no ``sla.*`` field decides once per
ticket.  A ticket in a terminal status has left the loop: no clock, no decisions (closing
its escalations is the stateful run's job).

Routing is decided here, and what it decides is what every later stage sees:

* the ticket's **assigned provider** is the one of the first route decision in ruleset
  order (rule order, then action order), else the provider the ticket system reported;
* route decisions to other providers in the same evaluation are **conflicts**: kept as
  decisions and reported on the result (``route_conflicts``), never silently dropped;
* rules with a route action see the ticket **as reported** (so a dispatch rule
  ``provider present: false`` keeps firing, run after run); every other rule, and the
  policies' ``applies_to`` and calendars, see the ticket with ``provider`` = the assigned
  one.  Only the tickets whose provider changed are measured and matched a second time;
* the result carries the **effective ticket** (``provider`` = assigned) and the reported
  provider (``provider_reported``), which every fact carries beside ``provider``
  (``ticket_fact``): the facts rules see, and the labels and payloads of notifications.

Decisions come out in ruleset order (rule, then SLA status, then action), so that no
outcome but the route tie-break depends on where a rule sits in the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import cached_property
from typing import Any, Collection, Iterable, Iterator, Mapping

from .batches import batched
from .clock.calendar import Calendar, compile_calendars
from .clock.status import SlaStatus, explain_status, sla_status
from .dispatch.decide import DispatchState, EmptyDispatchState, Previous, ProviderLoads
from .dispatch.queue import DispatchQueue
from .dispatch.build import FactLookups, build_dispatcher, ruleset_tables
from .match import Matcher, build_matcher
from .ruleset.conditions import All, Condition, explain, fields_of, holds
from .ruleset.schema import CalendarByField, PolicySpec, RuleSpec, Ruleset
from .tickets import Ticket

__all__ = ["Decision", "RouteConflict", "TicketResult", "Engine", "evaluate", "ticket_fact", "describe_action", "BATCH_SIZE", "PROVIDER_REPORTED"]

#: How many tickets one matcher call sees; bounds memory while keeping durable_rules busy.
BATCH_SIZE = 1000
#: The fact field that keeps the provider the ticket system reported, beside ``provider``.
PROVIDER_REPORTED = "provider_reported"


def ticket_fact(ticket: Ticket, provider_reported: str | None) -> dict[str, Any]:
    """A ticket's flat fact with the reported provider beside its own (the assigned one):
    what rules match on (before ``sla.*``), and what notifications are labelled with."""
    fact = ticket.fact()
    fact[PROVIDER_REPORTED] = provider_reported
    return fact


@dataclass(frozen=True)
class Decision:
    """One action a rule decided for one ticket, with the reason it fired.

    ``why`` is put into words from the rule's condition and the fact it matched when it
    is first read: most decisions are diffed away and never written or sent.  ``note``
    is what dispatch adds to it (the provider it chose for a route, and why).
    """

    ticket_id: str
    rule: str
    action: str
    arguments: dict[str, Any]
    policy: str | None
    stage: str | None
    level: str | None
    condition: Condition | None = field(default=None, compare=False, repr=False)
    fact: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    note: str = field(default="", compare=False, repr=False)

    @cached_property
    def why(self) -> str:
        """``rule 'name': `` and, value by value, why its condition held (then the note)."""
        held = f"rule {self.rule!r}: " + (explain(self.condition, self.fact) if self.condition is not None else "always")
        return f"{held}; {self.note}" if self.note else held

    def noted(self, text: str, **arguments: Any) -> "Decision":
        """This decision with ``text`` added to its reason and ``arguments`` set."""
        return replace(self, arguments={**self.arguments, **arguments}, note=f"{self.note}; {text}" if self.note else text)

    def to_json(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "ticket": self.ticket_id,
            "rule": self.rule,
            "action": self.action,
            "arguments": self.arguments,
            "policy": self.policy,
            "stage": self.stage,
            "level": self.level,
            "why": self.why,
        }


@dataclass(frozen=True)
class RouteConflict:
    """A route decision that lost: a rule earlier in the ruleset assigned another provider."""

    rule: str
    provider: str
    assigned_by: str
    assigned: str

    def describe(self) -> str:
        """One line for logs and summaries."""
        return f"rule {self.rule!r} routes to {self.provider!r}, but rule {self.assigned_by!r} (earlier in the ruleset) assigned {self.assigned!r}"

    def to_json(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {"rule": self.rule, "provider": self.provider, "assigned_by": self.assigned_by, "assigned": self.assigned}


@dataclass(frozen=True)
class TicketResult:
    """A ticket as the decisions leave it, its SLA statuses (one per applicable policy) and
    the decisions that fired.

    ``ticket`` is the effective ticket: its ``provider`` is the assigned one.  ``route`` is
    the route decision that assigned it (None: no route rule fired), ``route_conflicts``
    the route decisions to other providers that lost to it, and ``reported`` the ticket as
    the ticket system reported it when the route changed its provider (else None).
    """

    ticket: Ticket
    statuses: tuple[SlaStatus, ...] = ()
    decisions: tuple[Decision, ...] = field(default=())
    route: Decision | None = None
    route_conflicts: tuple[RouteConflict, ...] = ()
    reported: Ticket | None = None

    @property
    def provider_reported(self) -> str | None:
        """The provider the ticket system reported (``ticket.provider`` is the assigned one)."""
        return self.as_reported.provider

    @property
    def as_reported(self) -> Ticket:
        """The ticket as the ticket system reported it (before any route decision)."""
        return self.reported or self.ticket

    def fact(self) -> dict[str, Any]:
        """The effective ticket as a flat fact, with ``provider_reported``."""
        return ticket_fact(self.ticket, self.provider_reported)

    def to_json(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "ticket": self.ticket.id,
            "tier": self.ticket.tier,
            "stage": self.ticket.stage,
            "status": self.ticket.status,
            "provider": self.ticket.provider,
            "provider_reported": self.provider_reported,
            "routed_by": self.route.rule if self.route is not None else None,
            "route_conflicts": [conflict.to_json() for conflict in self.route_conflicts],
            "region": self.ticket.region,
            "sla": [status.to_json() for status in self.statuses],
            "decisions": [decision.to_json() for decision in self.decisions],
        }


@dataclass(frozen=True)
class _Measured:
    """A ticket as one pass of the engine sees it: its fact and its SLA statuses."""

    ticket: Ticket
    fact: dict[str, Any]
    statuses: tuple[SlaStatus, ...]


class Engine:
    """A ruleset compiled once (calendars, matcher) and ready to evaluate tickets."""

    def __init__(self, ruleset: Ruleset, matcher: str = "auto") -> None:
        self.ruleset = ruleset
        self.calendars: dict[str, Calendar] = compile_calendars(ruleset.calendars)
        self.rules: dict[str, RuleSpec] = {rule.name: rule for rule in ruleset.rules if rule.enabled}
        self._actions = {name: [(action.kind, action.arguments()) for action in rule.then] for name, rule in self.rules.items()}
        self._rank = {name: index for index, name in enumerate(self.rules)}
        # Rules that route decide the assignment, so they see the ticket as reported.
        self._routing = frozenset(name for name, actions in self._actions.items() if any(kind == "route" for kind, _ in actions))
        # A rule that reads no sla.* field decides once per ticket, not once per SLA status.
        self._per_ticket = frozenset(
            name for name, rule in self.rules.items() if rule.when is None or not any(f.startswith("sla.") for f in fields_of(rule.when))
        )
        self.matcher: Matcher = build_matcher([(rule.name, _condition(rule)) for rule in self.rules.values()], matcher)
        self._terminal = frozenset(ruleset.terminal_statuses)
        conditions = [rule.when for rule in self.rules.values() if rule.when is not None] + [p.applies_to for p in ruleset.policies if p.applies_to is not None]
        self.lookups = FactLookups(ruleset_tables(ruleset), (name for condition in conditions for name in fields_of(condition)))
        self.dispatcher = build_dispatcher(ruleset, self.calendars, (self.rules[name] for name in self._routing))

    def calendar_for(self, policy: PolicySpec, fact: dict[str, Any]) -> Calendar:
        """The calendar the policy uses for a ticket (fixed, or chosen by a ticket field)."""
        choice = policy.calendar
        if isinstance(choice, CalendarByField):
            value = fact.get(choice.field)
            if choice.map:
                name = choice.map.get(str(value), choice.default) if value is not None else choice.default
            else:
                name = str(value) if value is not None and str(value) in self.calendars else choice.default
        else:
            name = choice
        return self.calendars[name]

    def policies_for(self, fact: dict[str, Any]) -> Iterator[PolicySpec]:
        """The policies whose ``applies_to`` holds for a ticket's fact, in ruleset order."""
        return (policy for policy in self.ruleset.policies if policy.applies_to is None or holds(policy.applies_to, fact))

    def statuses(self, ticket: Ticket, now: datetime, fact: dict[str, Any] | None = None) -> tuple[SlaStatus, ...]:
        """The ticket's SLA status under each policy that applies to it (none once terminal)."""
        if ticket.status in self._terminal:
            return ()
        fact = fact if fact is not None else ticket.fact()
        found = []
        for policy in self.policies_for(fact):
            status = sla_status(ticket, policy, self.ruleset, self.calendar_for(policy, fact), now)
            if status is not None:
                found.append(status)
        return tuple(found)

    def explain(self, ticket: Ticket, now: datetime) -> dict[str, tuple[str, ...]]:
        """Per applicable policy, how the ticket's SLA numbers came about (calendar detail
        included), for the ticket as routed."""
        (result,) = self.evaluate([ticket], now)
        effective, fact = result.ticket, result.fact()
        return {
            policy.name: explain_status(effective, policy, self.ruleset, self.calendar_for(policy, fact), now)
            for policy in self.policies_for(fact)
        }

    def evaluate(
        self, tickets: Iterable[Ticket], now: datetime, dispatch_state: DispatchState | None = None, deferred: list[Ticket] | None = None
    ) -> Iterator[TicketResult]:
        """Yield one result per ticket, in input order; ``now`` must be timezone-aware.

        ``dispatch_state`` gives dispatch the providers' loads and the tickets' standing
        assignments (the stateful run reads them from its store); without it every
        provider starts empty and nothing was assigned before, and dispatch assigns in
        input order.  Given ``deferred``, a ticket whose route needs a new choice (no
        standing assignment, its dispatch facts changed, or a re-route) is appended to it
        instead of being yielded: the stateful run dispatches those after the others, in
        order of creation (:func:`dispatch_order`), so that which ticket gets a provider's
        last slot does not depend on the order of the feed."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        now = now.astimezone(timezone.utc)
        use_state = dispatch_state is not None and bool(self.dispatcher.providers)
        loads = dispatch_state.loads() if use_state and dispatch_state is not None else ProviderLoads()
        for batch in batched(tickets, BATCH_SIZE):
            yield from self._evaluate_batch(batch, now, loads, dispatch_state if use_state else None, deferred)

    def evaluate_afresh(self, tickets: Iterable[Ticket], now: datetime) -> Iterator[TicketResult]:
        """Yield one result per ticket, as a first run into an empty state decides them:
        the tickets whose route needs a provider come after all the others, in the order
        dispatch takes them (oldest first, :func:`dispatch_order`), so which ticket gets a
        provider's last slot, or which partner a balanced strategy gives it, is what
        ``spm-rules run`` would record, whatever the order of the feed.  The others come
        in input order.  The waiting tickets are kept in a temporary file, not in memory."""
        if not self.dispatcher.providers:
            yield from self.evaluate(tickets, now)
            return
        state = EmptyDispatchState()
        waiting = DispatchQueue()
        try:
            deferred: list[Ticket] = []
            for batch in batched(tickets, BATCH_SIZE):
                yield from self.evaluate(batch, now, state, deferred)
                for ticket in deferred:
                    waiting.add(ticket, None)
                deferred.clear()
            yield from self.evaluate((ticket for ticket, _digest in waiting.drain()), now, state)
        finally:
            waiting.close()

    def _evaluate_batch(
        self, batch: list[Ticket], now: datetime, loads: ProviderLoads, state: DispatchState | None, deferred: list[Ticket] | None
    ) -> Iterator[TicketResult]:
        reported = {index: self._measure(ticket, ticket.provider, now) for index, ticket in enumerate(batch) if ticket.status not in self._terminal}
        decisions = self._match(reported, self.rules.keys())
        routed = [batch[index].id for index in reported if any(d.action == "route" for d in decisions[index])]
        previous = state.assignments(routed) if state is not None and routed else {}
        assignments = {}
        for index in list(reported):
            standing = previous.get(batch[index].id)
            route = self._route(decisions[index])
            if deferred is not None and route is not None and self.dispatcher.providers and not self.dispatcher.stands(route.arguments, reported[index].fact, standing):
                deferred.append(batch[index])
                del reported[index]
                continue
            assignments[index] = self._assignment(decisions[index], reported[index].fact, now, loads, standing)
        moved: dict[int, _Measured] = {}
        for index, (route, _conflicts) in assignments.items():
            ticket = batch[index]
            if route is None:
                continue
            # What the route sets on the ticket: the provider, and the table columns it records
            # into fields the ticket system left empty (``record:``).
            update = {name: value for name, value in (route.arguments.get("recorded") or {}).items() if ticket.fact().get(name) is None}
            if route.arguments["provider"] != ticket.provider or update:
                moved[index] = self._measure(ticket.model_copy(update={**update, "provider": route.arguments["provider"]}), ticket.provider, now)
        if moved:
            others = self.rules.keys() - self._routing
            for index, found in self._match(moved, others).items():
                decisions[index] = sorted([d for d in decisions[index] if d.rule in self._routing] + found, key=lambda d: self._rank[d.rule])
        for index, ticket in enumerate(batch):
            measured = moved.get(index) or reported.get(index)
            if measured is None:
                if ticket.status in self._terminal:
                    yield TicketResult(ticket)
                continue
            route, conflicts = assignments[index]
            yield TicketResult(measured.ticket, measured.statuses, tuple(decisions[index]), route, conflicts, ticket if index in moved else None)

    def _measure(self, ticket: Ticket, provider_reported: str | None, now: datetime) -> _Measured:
        fact = self.lookups.fill(ticket_fact(ticket, provider_reported))
        return _Measured(ticket, fact, self.statuses(ticket, now, fact))

    def _match(self, measured: dict[int, _Measured], wanted: Collection[str]) -> dict[int, list[Decision]]:
        """Each ticket's decisions from the ``wanted`` rules, in ruleset order (then SLA status, then action)."""
        owners: list[tuple[int, SlaStatus | None]] = []
        facts: list[dict[str, Any]] = []
        for index, item in measured.items():
            for status in item.statuses or (None,):
                facts.append(item.fact | status.fact() if status is not None else item.fact)
                owners.append((index, status))
        matches = self.matcher.match(facts) if self.rules and facts else [[] for _ in facts]
        found: dict[int, list[Decision]] = {index: [] for index in measured}
        once: set[tuple[int, str]] = set()
        for (index, status), fact, names in zip(owners, facts, matches):
            for name in names:
                if name not in wanted:
                    continue
                owner = status
                if name in self._per_ticket:
                    if (index, name) in once:
                        continue
                    once.add((index, name))
                    owner = None
                found[index].extend(self._decisions(measured[index].ticket, owner, fact, self.rules[name]))
        for decisions in found.values():
            decisions.sort(key=lambda d: self._rank[d.rule])
        return found

    def _assignment(
        self, decisions: list[Decision], fact: dict[str, Any], now: datetime, loads: ProviderLoads, previous: Previous | None
    ) -> tuple[Decision | None, tuple[RouteConflict, ...]]:
        """The route decision that assigns the provider (the first, ``decisions`` being in
        ruleset order; a re-route before any other) with the provider dispatch chose for it
        (:mod:`spm_rules.dispatch`), put in ``decisions`` in place of the rule's, and the
        route decisions naming other providers that lost to it.  A dispatch that finds
        nobody to take the ticket assigns nothing."""
        route = self._route(decisions)
        if route is None:
            return None, ()
        routes = [d for d in decisions if d.action == "route"]
        if self.dispatcher.providers or "provider" not in route.arguments:
            choice = self.dispatcher.resolve(route.arguments, fact, now, loads, previous)
            if choice.provider is None:
                return None, ()
            reason = f"{route.arguments['reason']}: {choice.reason}" if route.arguments.get("reason") else choice.reason
            chosen = route.noted(reason, **{**choice.arguments(), "reason": reason})
            # The decision as taken replaces the one the rule proposed (``decisions`` is the ticket's own list).
            decisions[next(i for i, d in enumerate(decisions) if d is route)] = chosen
            route = chosen
        assigned = route.arguments["provider"]
        rivals = [d for d in routes if bool(d.arguments.get("reroute")) == bool(route.arguments.get("reroute")) and "provider" in d.arguments]
        lost = (RouteConflict(d.rule, d.arguments["provider"], route.rule, assigned) for d in rivals if d.arguments["provider"] != assigned)
        return route, tuple(dict.fromkeys(lost))

    @staticmethod
    def _route(decisions: list[Decision]) -> Decision | None:
        """The route decision that decides the provider: the first re-route, else the first route."""
        routes = [d for d in decisions if d.action == "route"]
        reroutes = [d for d in routes if d.arguments.get("reroute")]
        return (reroutes or routes or [None])[0]

    def _decisions(self, ticket: Ticket, status: SlaStatus | None, fact: dict[str, Any], rule: RuleSpec) -> Iterator[Decision]:
        for kind, arguments in self._actions[rule.name]:
            yield Decision(
                ticket_id=ticket.id,
                rule=rule.name,
                action=kind,
                arguments=dict(arguments),
                policy=status.policy if status else None,
                stage=status.stage if status else ticket.stage,
                level=status.level if status else None,
                condition=rule.when,
                fact=fact,
            )


def _condition(rule: RuleSpec) -> Condition:
    return rule.when if rule.when is not None else All(())


def evaluate(ruleset: Ruleset, tickets: Iterable[Ticket], now: datetime, matcher: str = "auto") -> list[TicketResult]:
    """Evaluate ``tickets`` against ``ruleset`` at ``now`` as a first run into an empty
    state decides them (see :meth:`Engine.evaluate_afresh`; providers assigned oldest
    ticket first); a list in input order, for convenience (a ticket id given twice has
    the result of its last, as in a run)."""
    given = list(tickets)
    results = {result.ticket.id: result for result in Engine(ruleset, matcher).evaluate_afresh(given, now)}
    return [results[ticket.id] for ticket in given]


# -- decisions in words, for people (evaluate's table, explain, diff) -------------------


def describe_action(action: str, arguments: dict[str, Any]) -> str:
    """A decision's action in a few words: ``notify a, b (every 30m)``, ``route → p``,
    ``escalate → manager (L2)``, ``tag x, y``."""
    if action == "notify":
        return "notify " + ", ".join(arguments["receivers"]) + (f" (every {arguments['repeat']})" if "repeat" in arguments else "")
    if action == "route":
        return f"route → {arguments.get('provider') or 'dispatch'}" + (f" ({arguments['strategy']})" if arguments.get("strategy") not in (None, "rule") else "")
    if action == "escalate":
        return f"escalate → {arguments['to']}" + (f" ({arguments['level']})" if "level" in arguments else "")
    return "tag " + ", ".join(arguments["tags"])
