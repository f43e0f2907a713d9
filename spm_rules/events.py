"""Event mode: a ticket system tells spm-rules about one ticket change at a time, and a
scheduled sweep re-evaluates only the tickets whose time has come.

A cron run reads every open ticket from the source, every few minutes.  In event mode the
ticket system calls :func:`process_event` (directly, or through ``spm-rules serve``) when a
ticket changes: the ticket is evaluated, diffed against the state and recorded at once,
through the same pipeline steps as a run (``Engine.evaluate``, ``apply_batch``,
``deliver_pending``), and the decisions come back.  What time alone changes (a level
reached, a repeat due) is left to :func:`sweep`, run from cron (``spm-rules run
--sweep``): it reads from the state, not from the source, only the tickets whose stored
``next_change_at`` has passed or whose repeat is due, re-evaluates them from the facts the
ticket system last reported (``tickets.facts``), and does the rest of a run (schedules,
retention, delivery).

Events and sweeps at the instants of cron runs give exactly the escalations and
notifications cron runs give (``tests/test_events.py`` compares a simulated week):
``next_change_at`` is when evaluating the same ticket may give another result (a level,
the due time, a stage entered later), and a ticket whose rules read a running clock
(``sla.elapsed``) is due at every sweep.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterator

from .dispatch.claims import StoreDispatchState
from .engine import Engine, TicketResult
from .notifications import Deliverer
from .ruleset.schema import Ruleset
from .run import DELIVERY_BATCH, RunReport, apply_batch, deliver_pending, run
from .state.lifecycle import Lifecycle, TicketPlan
from .state.store import Store
from .tickets import Ticket

__all__ = ["EventOutcome", "process_event", "sweep", "due_tickets"]


@dataclass(frozen=True)
class EventOutcome:
    """What one ticket change did: the evaluation (statuses and decisions), the plan written
    (None when another worker held the ticket, or a run at a later instant already saw it),
    and the delivery results."""

    result: TicketResult
    plan: TicketPlan | None
    delivery: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        """Plain data for the HTTP answer of ``spm-rules serve``."""
        plan = self.plan
        return {
            **self.result.to_json(),
            "recorded": plan is not None,
            "transitions": [t.to_json() for t in plan.transitions] if plan is not None else [],
            "notifications": [item.notification.key for item in plan.outgoing] if plan is not None else [],
            "delivery": dict(sorted(self.delivery.items())),
        }


def process_event(
    store: Store,
    ruleset: Ruleset,
    ticket: Ticket,
    now: datetime,
    deliverer: Deliverer | None = None,
    *,
    engine: Engine | None = None,
    lifecycle: Lifecycle | None = None,
) -> EventOutcome:
    """Evaluate one changed ticket at ``now``, record what changed in one transaction, and
    (with a ``deliverer``) deliver what is due; return the decisions and what was written.

    ``engine`` and ``lifecycle`` are reused across events when given (compiling a ruleset
    costs more than evaluating a ticket).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(timezone.utc)
    engine = engine or Engine(ruleset)
    # Dispatch sees the providers' loads and the ticket's standing assignment, as a run's
    # does; events are dispatched in the order they arrive.
    (result,) = engine.evaluate([ticket], now, StoreDispatchState(store, ruleset, now) if ruleset.providers else None)
    done = apply_batch(store, lifecycle or Lifecycle(ruleset), [result], now)
    delivery = deliver_pending(store, deliverer, ruleset.delivery, now, batch_size=DELIVERY_BATCH) if deliverer is not None else Counter()
    return EventOutcome(result, done.plans[0] if done.plans else None, delivery)


def due_tickets(store: Store, ruleset: Ruleset, now: datetime) -> Iterator[Ticket]:
    """The tickets a sweep at ``now`` re-evaluates, as their source last reported them (read
    from the state; a row without reported facts, from before state version 4, is left to
    the next full run)."""
    for state in store.due_tickets(now, ruleset.terminal_statuses):
        if state.facts is not None:
            yield Ticket.model_validate(state.facts)


def sweep(store: Store, ruleset: Ruleset, now: datetime, deliverer: Deliverer | None = None, **options: Any) -> RunReport:
    """A run at ``now`` over the tickets whose time has come (:func:`due_tickets`) instead of
    the whole source; ``options`` are :func:`spm_rules.run.run`'s (engine, worker, lease, …).
    It closes no ticket as missing (``retention.missing_tickets``): it does not read the source."""
    return run(store, ruleset, due_tickets(store, ruleset, now), now, deliverer, listing=False, **options)
