"""The stateful run: evaluate, diff against the stored state, write transitions and the outbox, deliver.

One run, as cron starts it every few minutes::

    tickets ─► Engine.evaluate(now) ─► Lifecycle.plan (pure diff) ─► one transaction per batch:
        ticket state + escalations + audit log + outbox rows ─► schedules ─► retention
        ─► delivery from the outbox through a Deliverer ─► outcomes written back

Guarantees:

* **Idempotent**: the diff of a state against itself is empty, so a second run with the
  same ``now`` and tickets writes nothing and sends nothing.
* **Crash-safe**: state changes and the notifications they cause commit together; a
  notification is marked sent only after the deliverer said ``sent``.  A run killed
  anywhere leaves either the old state, or the new state with its notifications pending,
  which the next run delivers with the same idempotency keys.
* **Many workers** (PostgreSQL): tickets are partitioned by a stable hash
  (``WorkerSlot``) and, whatever the partitioning, a ticket's rows are locked while one
  worker processes it (others skip it), so every transition is acted on once.

``now`` is a parameter of everything here; the only clock read is ``time.perf_counter``
for the run's duration.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any, Callable, Iterable, Iterator, Sequence

from . import alerting
from .batches import batched
from .dispatch.claims import BatchDispatch, StoreDispatchState
from .dispatch.sinks import WriteBackDeliverer
from .engine import Engine, RouteConflict, TicketResult
from .notifications import Deliverer, DeliveryOutcome, Notification
from .ruleset.schema import DeliverySpec, Ruleset
from .reports.indicators import schedule_report
from .schedules import ScheduleSpec, TickPlan, digest_report, plan_ticks, schedule_key
from .state.lifecycle import Lifecycle, TicketPlan
from .state.records import OutboxEntry, Outgoing, Settlement, Transition
from .state.store import Lease, StateTx, Store, mask_secrets, notification_from_json
from .tickets import Ticket

__all__ = [
    "WorkerSlot",
    "RunReport",
    "run",
    "apply_batch",
    "BatchResult",
    "active_alert_labels",
    "fire_schedules",
    "deliver_pending",
    "settle_outcomes",
    "retry_delay",
    "schedule_notification",
    "STATE_KINDS",
    "BATCH_SIZE",
    "DELIVERY_BATCH",
]

log = logging.getLogger("spm_rules.run")

#: Tickets per transaction: large enough to amortise a commit, small enough to keep locks short.
BATCH_SIZE = 500
#: Notifications handed to the deliverer at once (and locked while it delivers them).
DELIVERY_BATCH = 100
#: Open escalations listed by name in a digest (the counts cover all of them).
DIGEST_ITEMS = 200

#: Audit kinds that are ticket transitions (the others are about notifications and schedules).
STATE_KINDS = ("new", "stage", "entered", "left", "routed", "escalated", "tagged", "closed", "reopened", "acknowledged")


@dataclass(frozen=True)
class WorkerSlot:
    """Worker ``index`` of ``count`` (1-based): it owns the tickets whose stable hash falls in its slot."""

    index: int = 1
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ValueError(f"worker {self.index}/{self.count}: K must be between 1 and N")

    @classmethod
    def parse(cls, text: str) -> "WorkerSlot":
        """``"K/N"`` → ``WorkerSlot(K, N)``; ValueError with the expected form otherwise."""
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise ValueError(f"worker {text!r}: write K/N, e.g. 2/4 for the second of four workers") from None
        return cls(index, count)

    def owns(self, ticket_id: str) -> bool:
        """The ticket falls in this worker's partition (the same answer in every process)."""
        if self.count == 1:
            return True
        digest = hashlib.blake2b(ticket_id.encode("utf-8"), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass
class RunReport:
    """What one run did: counts for the summary and metrics, and the transitions themselves.

    ``route_conflicts`` are the (ticket id, conflict) of every route decision that lost to
    an earlier rule's route to another provider in this run.
    """

    now: datetime
    ruleset: str
    worker: WorkerSlot = field(default_factory=WorkerSlot)
    evaluated: int = 0
    rejected: int = 0
    other_workers: int = 0
    locked_elsewhere: int = 0
    stale: int = 0
    levels: Counter[tuple[str, str]] = field(default_factory=Counter)
    route_conflicts: list[tuple[str, RouteConflict]] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    enqueued: int = 0
    delivery: Counter[str] = field(default_factory=Counter)
    schedules_fired: list[tuple[str, datetime]] = field(default_factory=list)
    schedules_skipped: int = 0
    pruned: dict[str, int] = field(default_factory=dict)
    duration: float = 0.0

    @property
    def transition_counts(self) -> Counter[str]:
        """Ticket transitions by kind (notifications and schedules left out)."""
        return Counter(t.kind for t in self.transitions if t.kind in STATE_KINDS)

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--format json``."""
        levels: dict[str, dict[str, int]] = {}
        for (policy, level), count in sorted(self.levels.items()):
            levels.setdefault(policy, {})[level] = count
        return {
            "ruleset": self.ruleset,
            "at": self.now.isoformat(),
            "worker": str(self.worker),
            "tickets": {
                "evaluated": self.evaluated,
                "rejected": self.rejected,
                "other_workers": self.other_workers,
                "locked_elsewhere": self.locked_elsewhere,
                "stale": self.stale,
                "route_conflicts": len({ticket for ticket, _ in self.route_conflicts}),
            },
            "levels": levels,
            "route_conflicts": [{"ticket": ticket, **conflict.to_json()} for ticket, conflict in self.route_conflicts],
            "transition_counts": dict(sorted(self.transition_counts.items())),
            "transitions": [t.to_json() for t in self.transitions if t.kind in STATE_KINDS],
            "notifications": {"enqueued": self.enqueued, **dict(sorted(self.delivery.items()))},
            "schedules": {
                "fired": [{"schedule": name, "tick": tick.isoformat()} for name, tick in self.schedules_fired],
                "skipped": self.schedules_skipped,
            },
            "pruned": self.pruned,
            "duration_seconds": round(self.duration, 3),
        }


@dataclass(frozen=True)
class BatchResult:
    """What ``apply_batch`` did: the plans written, and the tickets it left alone.

    ``locked``: another worker holds them (it processes them); ``stale``: a run at a
    later instant already processed them (the state never goes back in time).
    """

    plans: list[TicketPlan]
    locked: int
    stale: int


def apply_batch(store: Store, lifecycle: Lifecycle, results: Sequence[TicketResult], now: datetime, *, dispatch: BatchDispatch | None = None) -> BatchResult:
    """Diff one batch against the store and write the result in one transaction.

    A ticket listed twice in the batch counts once (its last row).  ``dispatch`` claims
    the capacity of the providers new assignments go to, under lock, and adds the
    write-back rows of the changes (:mod:`spm_rules.dispatch.claims`).
    """
    latest = {result.ticket.id: result for result in results}
    store.reserve_tickets(latest)

    def work(tx: StateTx) -> BatchResult:
        locked = tx.lock_tickets(latest)
        stored = {ticket_id: state for ticket_id, state in locked.items() if state.last_seen_at is None or state.last_seen_at <= now}
        records = tx.escalations(stored)
        current = dispatch.settle(tx, latest, stored) if dispatch is not None else latest
        plans = [lifecycle.plan(current[ticket_id], stored[ticket_id], records[ticket_id], now) for ticket_id in sorted(stored)]
        tx.save_tickets([plan.ticket for plan in plans if plan.ticket_changed])
        tx.save_escalations([esc for plan in plans for esc in plan.escalations])
        tx.record([entry for plan in plans for entry in plan.transitions])
        outgoing = [item for plan in plans for item in plan.outgoing] + (dispatch.outgoing(plans) if dispatch is not None else [])
        inserted = tx.enqueue(outgoing, now)
        if len(inserted) != len(outgoing):
            log.warning("outbox already held %d of the notifications planned", len(outgoing) - len(inserted))
        return BatchResult(plans, len(latest) - len(locked), len(locked) - len(stored))

    return store.transaction("apply a batch of tickets", work)


def active_alert_labels(store: Store) -> Callable[[datetime], list[dict[str, str]]]:
    """Labels of the open escalations, for alerting's inhibition (read when delivery asks).

    ``provider`` is the assigned one; each escalation is the same alert as its own
    notifications (same ticket, policy and level), so it never inhibits them.
    """

    def labels(_now: datetime) -> list[dict[str, str]]:
        found = []
        for esc, ticket in store.open_escalations():
            item = {"ticket": esc.ticket_id, "policy": esc.policy, "level": esc.level, "kind": "escalation"}
            values = {"tier": ticket.tier, "stage": ticket.stage, "status": ticket.status, "region": ticket.region, "provider": ticket.assigned_provider}
            if ticket.provider is not None:
                values["provider_reported"] = ticket.provider
            item.update({name: value for name, value in values.items() if value is not None})
            found.append(item)
        return found

    return labels


def run(
    store: Store,
    ruleset: Ruleset,
    tickets: Iterable[Ticket],
    now: datetime,
    deliverer: Deliverer | None = None,
    *,
    engine: Engine | None = None,
    worker: WorkerSlot = WorkerSlot(),
    batch_size: int = BATCH_SIZE,
    delivery_batch: int = DELIVERY_BATCH,
    lease: Lease | None = None,
    progress: Callable[[int], None] | None = None,
) -> RunReport:
    """One stateful run at ``now``; see the module docstring.

    Without a ``deliverer`` notifications stay pending in the outbox (a later run, or
    another process, delivers them).  A ``lease`` is renewed after each batch so a long
    run keeps the run lock; ``progress`` is called with the count of tickets evaluated.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(timezone.utc)
    started = time.perf_counter()
    report = RunReport(now, ruleset.name, worker)
    engine = engine or Engine(ruleset)
    lifecycle = Lifecycle(ruleset)

    def mine(source: Iterable[Ticket]) -> Iterator[Ticket]:
        for ticket in source:
            if worker.owns(ticket.id):
                yield ticket
            else:
                report.other_workers += 1

    dispatch_state = StoreDispatchState(store, ruleset, now) if ruleset.providers else None
    dispatch = BatchDispatch(ruleset) if ruleset.providers or ruleset.write_back else None
    for batch in batched(engine.evaluate(mine(tickets), now, dispatch_state), batch_size):
        done = apply_batch(store, lifecycle, batch, now, dispatch=dispatch)
        report.evaluated += len(batch)
        report.locked_elsewhere += done.locked
        report.stale += done.stale
        for result in batch:
            for status in result.statuses:
                report.levels[(status.policy, status.level or "ok")] += 1
            for conflict in result.route_conflicts:
                report.route_conflicts.append((result.ticket.id, conflict))
                log.warning("route conflict", extra={"fields": {"ticket": result.ticket.id, "conflict": conflict.describe()}})
        for plan in done.plans:
            report.transitions.extend(plan.transitions)
            report.enqueued += len(plan.outgoing)
            for entry in plan.transitions:
                fields = {"kind": entry.kind, "ticket": entry.ticket_id, "policy": entry.policy, "sla_level": entry.level, "rule": entry.rule, "detail": entry.detail}
                log.debug("transition", extra={"fields": fields})
        if lease is not None:
            lease.renew()
        if progress is not None:
            progress(report.evaluated)

    fired, skipped_ticks = fire_schedules(store, ruleset.schedules, now, ruleset=ruleset)
    report.schedules_fired, report.schedules_skipped = fired, skipped_ticks
    report.enqueued += len(fired)
    if ruleset.retention.declared:
        retention = ruleset.retention
        report.pruned = store.prune(now, closed_tickets=retention.closed_tickets, notifications=retention.notifications, audit=retention.audit)
    if deliverer is not None:
        if ruleset.write_back:
            deliverer = WriteBackDeliverer(deliverer, ruleset.write_back)
        report.delivery = deliver_pending(store, deliverer, ruleset.delivery, now, batch_size=delivery_batch)
    report.duration = time.perf_counter() - started
    log.info(
        "run done",
        extra={
            "fields": {
                "at": now.isoformat(),
                "worker": str(worker),
                "evaluated": report.evaluated,
                "transitions": sum(report.transition_counts.values()),
                "enqueued": report.enqueued,
                **{f"delivery_{k}": v for k, v in sorted(report.delivery.items())},
                "duration_s": round(report.duration, 3),
            }
        },
    )
    return report


# -- schedules ------------------------------------------------------------------------


def schedule_notification(store: Store, spec: ScheduleSpec, tick: datetime, now: datetime, *, ruleset: Ruleset | None = None) -> Outgoing:
    """The notification one schedule tick sends, with the data its action reports (as of ``now``).

    The ``indicators`` action needs the ``ruleset``: its figures are recomputed with the
    ruleset's policies and calendars (:mod:`spm_rules.reports.indicators`).
    """
    payload: dict[str, Any] = {"schedule": spec.name, "action": spec.action, "scheduled_at": tick.isoformat(), "timezone": spec.timezone}
    if spec.description:
        payload["description"] = spec.description
    if spec.action == "digest":
        payload.update(digest_report(store.open_escalations(limit=DIGEST_ITEMS), store.escalation_counts(), now))
    elif spec.action == "indicators":
        if ruleset is None:
            raise ValueError(f"schedule {spec.name!r}: the indicators action needs the ruleset")
        payload.update(schedule_report(store, ruleset, spec, tick))
    else:
        payload["tiers"] = list(spec.tiers)
        payload["customers"] = [{"customer": c, "region": r, "tickets": n} for c, r, n in store.customers(spec.tiers)]
    labels = {"schedule": spec.name, "action": spec.action}
    note = Notification(schedule_key(spec.name, tick), "schedule", None, tuple(spec.receivers), labels, payload, now)
    return Outgoing(note)


def fire_schedules(store: Store, specs: Sequence[ScheduleSpec], now: datetime, *, ruleset: Ruleset | None = None) -> tuple[list[tuple[str, datetime]], int]:
    """Fire every schedule's ticks due at ``now``; return the (schedule, tick) fired here and
    the ticks skipped.  ``ruleset`` (the schedules' own) is needed by ``indicators``."""
    if not specs:
        return [], 0
    checked = store.schedule_checked(spec.name for spec in specs)
    fired: list[tuple[str, datetime]] = []
    skipped = 0
    for spec in specs:
        previous = checked.get(spec.name)
        plan: TickPlan = plan_ticks(spec, previous, now)
        skipped += plan.skipped
        if not plan.fire and previous is not None and plan.checked_until <= previous:
            continue
        items = [(tick, schedule_notification(store, spec, tick, now, ruleset=ruleset)) for tick in plan.fire]
        won = store.fire_schedule(spec.name, items, plan.checked_until, now)
        fired.extend((spec.name, tick) for tick in won)
        for tick in won:
            log.info("schedule fired", extra={"fields": {"schedule": spec.name, "tick": tick.isoformat(), "action": spec.action}})
        if plan.skipped:
            log.info("schedule ticks skipped", extra={"fields": {"schedule": spec.name, "skipped": plan.skipped, "policy": spec.missed}})
    return fired, skipped


# -- delivery --------------------------------------------------------------------------


def retry_delay(spec: DeliverySpec, attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failure: ``backoff`` doubled each time, capped at ``max_backoff``."""
    factor = 2 ** min(max(attempts - 1, 0), 32)
    return min(spec.backoff * factor, spec.max_backoff)


def _deliver(deliverer: Deliverer, notes: Sequence[Notification], now: datetime) -> list[DeliveryOutcome]:
    try:
        return list(deliverer.deliver(notes, now))
    except Exception as exc:  # noqa: BLE001 - a plug-in's bug must cost a retry, never the notifications
        detail = mask_secrets(f"deliverer raised {type(exc).__name__}: {exc}")[:1000]
        log.warning("delivery failed", extra={"fields": {"error": detail, "notifications": len(notes)}})
        return [DeliveryOutcome(note.key, "failed", detail) for note in notes]


def settle_outcomes(
    entries: Sequence[OutboxEntry], outcomes: Sequence[DeliveryOutcome], spec: DeliverySpec, now: datetime
) -> tuple[list[Settlement], list[Outgoing], list[Transition]]:
    """Turn delivery outcomes into outbox updates, dead-letter meta notifications and audit entries (pure).

    sent → sent; silenced/inhibited → suppressed (final, recorded); held → stays pending
    until ``retry_at``; failed → retried after ``retry_delay`` (or the receiver's
    ``retry_at`` if later), dead after ``max_attempts`` with a meta notification to
    ``fallback_receiver``.  A key the deliverer gave no outcome for counts as failed.
    Each row keeps the receivers it had plus those the outcome says have it now, so a
    retry skips them and a deliverer that reports none forgets none.
    """
    by_key = {outcome.key: outcome for outcome in outcomes}
    settlements: list[Settlement] = []
    metas: list[Outgoing] = []
    audit: list[Transition] = []
    for entry in entries:
        outcome = by_key.get(entry.key) or DeliveryOutcome(entry.key, "failed", "the deliverer gave no outcome for this notification")
        detail = mask_secrets(outcome.detail)[:1000]
        settle = partial(Settlement, entry, delivered_to=tuple(dict.fromkeys([*entry.delivered_to, *outcome.delivered_to])))
        if outcome.status == "sent":
            item = settle("sent", entry.attempts + 1, error=None)
        elif outcome.status in ("silenced", "inhibited"):
            item = settle("suppressed", entry.attempts, error=f"{outcome.status}: {detail}")
        elif outcome.status == "held":
            retry = outcome.retry_at if outcome.retry_at is not None and outcome.retry_at > now else now + spec.backoff
            item = settle("pending", entry.attempts, next_attempt_at=retry, error=f"held: {detail}")
        else:
            attempts = entry.attempts + 1
            if attempts >= spec.max_attempts:
                item = settle("dead", attempts, error=detail)
                if spec.fallback_receiver and entry.kind != "meta":
                    failed = notification_from_json(entry.notification)
                    metas.append(Outgoing(alerting.meta_notification(failed, attempts, detail, spec.fallback_receiver, now)))
            else:
                retry = now + retry_delay(spec, attempts)
                if outcome.retry_at is not None and outcome.retry_at > retry:
                    retry = outcome.retry_at
                item = settle("failed", attempts, next_attempt_at=retry, error=detail)
        settlements.append(item)
        kind = "held" if item.status == "pending" else item.status
        audit.append(Transition(now, kind, entry.ticket_id, entry.policy, entry.level, None, item.error or detail, entry.key))
    return settlements, metas, audit


def deliver_pending(store: Store, deliverer: Deliverer, spec: DeliverySpec, now: datetime, *, batch_size: int = DELIVERY_BATCH) -> Counter[str]:
    """Deliver every outbox notification due at ``now``; return the count per result.

    Each batch is claimed (locked), delivered and settled in one transaction, so a crash
    during delivery leaves the batch pending: the next run delivers it again, with the
    same keys.  Each notification goes with the receivers its row says already have it,
    and the deliverer skips them.  Meta notifications created by dead-lettering are
    delivered in a second pass of the same run.
    """
    counts: Counter[str] = Counter()
    for _pass in range(2):
        after: str | None = None
        created_meta = False
        while True:

            def work(tx: StateTx) -> tuple[str, list[Settlement], int] | None:
                entries = tx.claim_due(now, batch_size, after)
                if not entries:
                    return None
                outcomes = _deliver(deliverer, [notification_from_json(entry.notification, entry.delivered_to) for entry in entries], now)
                settlements, metas, audit = settle_outcomes(entries, outcomes, spec, now)
                tx.settle(settlements, now)
                inserted = tx.enqueue(metas, now)
                tx.record(audit)
                return entries[-1].key, settlements, len(inserted)

            done = store.transaction("deliver notifications", work, retries=0)
            if done is None:
                break
            after, settlements, metas = done
            created_meta = created_meta or metas > 0
            for item in settlements:
                result = "held" if item.status == "pending" else item.status
                counts[result] += 1
                fields = {"key": item.entry.key, "result": result, "attempts": item.attempts, "detail": item.error or ""}
                log.log(logging.WARNING if result in ("failed", "dead") else logging.DEBUG, "notification", extra={"fields": fields})
        if not created_meta:
            break
    return counts
