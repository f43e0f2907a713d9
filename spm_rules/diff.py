"""What changes for a set of tickets between two versions of a ruleset (``spm-rules diff``).

A review artifact before a ruleset goes live: every ticket is evaluated at the same
instant under the old and the new ruleset, and four things are compared per ticket:

* **levels**: each policy's level (``ok`` below the first level; ``-`` when the policy
  does not measure the ticket);
* **decisions**: the rule decisions (rule, action and its arguments, the SLA status
  they fired for), as multisets: removed, added, and changed (a rule's action for the
  same status with other arguments, e.g. a route to another provider);
* **assignment**: the assigned provider (the first route decision's, else the reported one);
* **receivers**: for each notification a first run would send (policy and level), the
  receivers the routing tree gives it (rule-named and route-named), before silences,
  inhibition and active hours, which depend on the moment rather than on the ruleset.

Pure: ``now`` is a parameter; tickets stream through both engines in bounded batches,
and only the tickets that change are kept.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Iterator

from .alerting.pipeline import notification_labels
from .alerting.routes import RoutingTree
from .batches import batched
from .engine import BATCH_SIZE, Decision, Engine, TicketResult, describe_action
from .state.lifecycle import Lifecycle

__all__ = ["TicketDiff", "RulesetDiff", "diff_rulesets", "change_rows", "decision_key", "NOT_MEASURED", "BELOW_FIRST_LEVEL"]

#: A policy's "level" for a ticket it does not measure.
NOT_MEASURED = "-"
#: A policy's level for a ticket below its first level.
BELOW_FIRST_LEVEL = "ok"


def decision_key(decision: Decision) -> str:
    """A decision as one comparable line: ``rule [policy/level]: action in words``."""
    scope = f" [{decision.policy}/{decision.level or BELOW_FIRST_LEVEL}]" if decision.policy else ""
    return f"{decision.rule}{scope}: {describe_action(decision.action, decision.arguments)}"


@dataclass(frozen=True)
class TicketDiff:
    """How one ticket changes: ``levels`` and ``receivers`` map a policy (a notification's
    ``policy/level``) to (old, new); ``provider`` is (old, new) when the assignment changes."""

    ticket: str
    levels: dict[str, tuple[str, str]] = field(default_factory=dict)
    removed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    changed_decisions: tuple[tuple[str, str], ...] = ()
    provider: tuple[str | None, str | None] | None = None
    receivers: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """Anything differs."""
        return bool(self.levels or self.removed or self.added or self.changed_decisions or self.provider or self.receivers)

    def to_json(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "ticket": self.ticket,
            "levels": [{"policy": policy, "old": old, "new": new} for policy, (old, new) in self.levels.items()],
            "decisions": {"removed": list(self.removed), "added": list(self.added), "changed": [{"old": old, "new": new} for old, new in self.changed_decisions]},
            "provider": {"old": self.provider[0], "new": self.provider[1]} if self.provider else None,
            "receivers": [{"notification": key, "old": list(old), "new": list(new)} for key, (old, new) in self.receivers.items()],
        }


@dataclass
class RulesetDiff:
    """The tickets compared and those that change, in input order."""

    now: datetime
    tickets: int = 0
    changes: list[TicketDiff] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {"at": self.now.isoformat(), "tickets": self.tickets, "changed": len(self.changes), "changes": [c.to_json() for c in self.changes]}


class _Side:
    """One version of the ruleset: its engine, its lifecycle and its routing tree."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.policies = [policy.name for policy in engine.ruleset.policies]
        self.lifecycle = Lifecycle(engine.ruleset)
        self.tree = RoutingTree(engine.ruleset.route)

    def levels(self, result: TicketResult) -> dict[str, str]:
        """Each policy's level for the ticket (``-``: not measured, ``ok``: below the first)."""
        measured = {status.policy: status.level or BELOW_FIRST_LEVEL for status in result.statuses}
        return {policy: measured.get(policy, NOT_MEASURED) for policy in self.policies}

    def receivers(self, result: TicketResult, now: datetime) -> dict[str, tuple[str, ...]]:
        """Per notification a first run would send, the receivers routing gives it."""
        plan = self.lifecycle.plan(result, None, {}, now)
        found = {}
        for item in plan.outgoing:
            note = item.notification
            found[f"{item.policy}/{item.level}"] = tuple(sorted(target.receiver for target in self.tree.targets(notification_labels(note), note.receivers)))
        return found


def _compare(ticket_id: str, old: _Side, new: _Side, before: TicketResult, after: TicketResult, now: datetime) -> TicketDiff:
    """How one ticket's two evaluations differ."""
    old_levels, new_levels = old.levels(before), new.levels(after)
    levels = {}
    for policy in dict.fromkeys([*old.policies, *new.policies]):
        pair = (old_levels.get(policy, NOT_MEASURED), new_levels.get(policy, NOT_MEASURED))
        if pair[0] != pair[1]:
            levels[policy] = pair
    removed, added, changed = _decisions(before.decisions, after.decisions)
    provider = (before.ticket.provider, after.ticket.provider) if before.ticket.provider != after.ticket.provider else None
    old_receivers, new_receivers = old.receivers(before, now), new.receivers(after, now)
    receivers = {}
    for key in sorted(set(old_receivers) | set(new_receivers)):
        pair = (old_receivers.get(key, ()), new_receivers.get(key, ()))
        if pair[0] != pair[1]:
            receivers[key] = pair
    return TicketDiff(ticket_id, levels, removed, added, changed, provider, receivers)


def _decisions(before: Iterable[Decision], after: Iterable[Decision]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Decisions only in ``before`` (removed), only in ``after`` (added), and the pairs of
    one rule's action for one status whose arguments changed."""
    keyed = {side: {decision_key(d): (d.rule, d.action, d.policy, d.level) for d in decisions} for side, decisions in (("old", before), ("new", after))}
    was, now_is = Counter(map(decision_key, before)), Counter(map(decision_key, after))
    gone, came = sorted((was - now_is).elements()), sorted((now_is - was).elements())
    changed = []
    for old in list(gone):
        match = next((new for new in came if keyed["new"][new] == keyed["old"][old]), None)
        if match is not None:
            gone.remove(old)
            came.remove(match)
            changed.append((old, match))
    return tuple(gone), tuple(came), tuple(changed)


def diff_rulesets(old: Engine, new: Engine, tickets: Iterable[Any], now: datetime) -> RulesetDiff:
    """Evaluate ``tickets`` at ``now`` under both engines and keep the tickets that change."""
    sides = _Side(old), _Side(new)
    report = RulesetDiff(now)
    for batch in batched(tickets, BATCH_SIZE):
        for before, after in zip(sides[0].engine.evaluate(batch, now), sides[1].engine.evaluate(batch, now)):
            report.tickets += 1
            found = _compare(before.ticket.id, *sides, before, after, now)
            if found.changed:
                report.changes.append(found)
    return report


def _changes(found: TicketDiff) -> Iterator[tuple[str, str, str]]:
    """(what, old, new) rows of one ticket's changes, for a table."""
    for policy, (old, new) in found.levels.items():
        yield "level", f"{policy}: {old}", f"{policy}: {new}"
    if found.provider:
        yield "provider", found.provider[0] or "none", found.provider[1] or "none"
    for old, new in found.changed_decisions:
        yield "decision", old, new
    for line in found.removed:
        yield "decision", line, "-"
    for line in found.added:
        yield "decision", "-", line
    for key, (old, new) in found.receivers.items():
        yield "receivers", f"{key}: {', '.join(old)}" if old else "-", f"{key}: {', '.join(new)}" if new else "-"


def change_rows(report: RulesetDiff) -> Iterator[tuple[str, str, str, str]]:
    """(ticket, what, old, new) rows of every change, ticket by ticket (the first row of a
    ticket names it)."""
    for found in report.changes:
        for index, (what, old, new) in enumerate(_changes(found)):
            yield (found.ticket if index == 0 else "", what, old, new)
