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
import json
import logging
import time
from collections import Counter
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence

from . import alerting
from .batches import batched
from .dispatch.claims import BatchDispatch, StoreDispatchState
from .dispatch.queue import DispatchQueue
from .dispatch.sinks import WriteBackDeliverer
from .engine import Engine, RouteConflict, TicketResult
from .errors import StateError
from .notifications import Deliverer, DeliveryOutcome, Notification
from .ruleset.schema import DeliverySpec, Ruleset
from .reports.indicators import schedule_report
from .schedules import ScheduleSpec, TickPlan, digest_report, plan_ticks, schedule_key
from .sources.files import RawRow, TicketReader
from .state.lifecycle import Lifecycle, TicketPlan
from .state.records import OutboxEntry, Outgoing, Settlement, Transition
from .state.retention import SeenTickets
from .state.store import Lease, StateTx, Store, mask_secrets, notification_from_json
from .tickets import Ticket

__all__ = [
    "WorkerSlot",
    "RunReport",
    "run",
    "row_digest",
    "fingerprint",
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
#: Notifications claimed and handed to the deliverer at once (grouped within it; sent again after a crash in its delivery).
DELIVERY_BATCH = 500
#: A long run renews the run lock this many times per lease lifetime (not after every batch:
#: each renewal is a committed write).
LEASE_RENEWALS = 10
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
    """What one run did: counts for the summary and metrics, and the transitions themselves
    (unless the run handed them to a sink as it went, see :func:`run`).

    ``evaluated`` counts the tickets of this worker the run took, ``unchanged`` those of
    them it left alone after a hash lookup (same input row, nothing due): their levels
    are counted as stored.  ``route_conflicts`` are the (ticket id, conflict) of every
    route decision that lost to an earlier rule's route to another provider among the
    tickets evaluated in full.
    """

    now: datetime
    ruleset: str
    worker: WorkerSlot = field(default_factory=WorkerSlot)
    evaluated: int = 0
    unchanged: int = 0
    rejected: int = 0
    other_workers: int = 0
    locked_elsewhere: int = 0
    stale: int = 0
    missing_closed: int = 0
    stopped: bool = False
    levels: Counter[tuple[str, str]] = field(default_factory=Counter)
    route_conflicts: list[tuple[str, RouteConflict]] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    transition_counts: Counter[str] = field(default_factory=Counter)
    enqueued: int = 0
    delivery: Counter[str] = field(default_factory=Counter)
    schedules_fired: list[tuple[str, datetime]] = field(default_factory=list)
    schedules_skipped: int = 0
    pruned: dict[str, int] = field(default_factory=dict)
    duration: float = 0.0

    @property
    def undelivered(self) -> int:
        """Notifications whose delivery failed in this run (to retry, or dead-lettered)."""
        return self.delivery.get("failed", 0) + self.delivery.get("dead", 0)

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
                "unchanged": self.unchanged,
                "rejected": self.rejected,
                "other_workers": self.other_workers,
                "locked_elsewhere": self.locked_elsewhere,
                "stale": self.stale,
                "closed_missing": self.missing_closed,
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
            "stopped": self.stopped,
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


def apply_batch(
    store: Store,
    lifecycle: Lifecycle,
    results: Sequence[TicketResult],
    now: datetime,
    row_hashes: Mapping[str, str] | None = None,
    *,
    dispatch: BatchDispatch | None = None,
) -> BatchResult:
    """Diff one batch against the store and write the result in one transaction.

    A ticket listed twice in the batch counts once (its last row).  ``row_hashes`` are the
    digests of the tickets' input rows, kept with their state (see :func:`row_digest`).
    ``dispatch`` claims the capacity of the providers new assignments go to, under lock,
    and adds the write-back rows of the changes (:mod:`spm_rules.dispatch.claims`).
    """
    latest = {result.ticket.id: result for result in results}
    hashes = row_hashes or {}
    store.reserve_tickets(latest)

    def work(tx: StateTx) -> BatchResult:
        locked = tx.lock_tickets(latest)
        stored = {ticket_id: state for ticket_id, state in locked.items() if state.last_seen_at is None or state.last_seen_at <= now}
        records = tx.escalations(stored)
        pruned = tx.pruned_occurrences(stored)
        current = dispatch.settle(tx, latest, stored) if dispatch is not None else latest
        plans = [
            lifecycle.plan(current[ticket_id], stored[ticket_id], records[ticket_id], now, row_hash=hashes.get(ticket_id), pruned=pruned.get(ticket_id))
            for ticket_id in sorted(stored)
        ]
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
        for row in store.open_escalation_labels():
            item = {"ticket": row["ticket_id"], "policy": row["policy"], "level": row["level"], "kind": "escalation"}
            values = {"tier": row["tier"], "stage": row["stage"], "status": row["status"], "region": row["region"], "provider": row["routed_to"] or row["provider"]}
            if row["provider"] is not None:
                values["provider_reported"] = row["provider"]
            item.update({name: value for name, value in values.items() if value is not None})
            found.append(item)
        return found

    return labels


def row_digest(fingerprint: bytes, content: str) -> str:
    """The digest a ticket's input row is known by: its content under one evaluation
    context (``fingerprint``: the ruleset, the time zone naive times are read in and the
    spm-rules version, so that a change of any of them re-evaluates every ticket once)."""
    return hashlib.blake2b(content.encode("utf-8", "surrogateescape"), digest_size=16, key=fingerprint).hexdigest()


def fingerprint(ruleset: Ruleset, default_timezone: str | None) -> bytes:
    """The evaluation context of a run, as a key for :func:`row_digest`."""
    from . import __version__

    context = f"{__version__}\0{default_timezone or ''}\0{ruleset.model_dump_json()}"
    return hashlib.blake2b(context.encode("utf-8"), digest_size=32).digest()


class _Row(NamedTuple):
    """One ticket of the input as the run takes it: its id and digest, and either the ticket
    already validated (a caller's ``Ticket``) or the raw row to validate when needed."""

    ticket_id: str | None
    digest: str
    ticket: Ticket | None = None
    raw: RawRow | None = None


def _rows(tickets: Iterable[Ticket] | TicketReader, key: bytes) -> Iterator[_Row]:
    if isinstance(tickets, TicketReader):
        for raw in tickets.raw_rows():
            yield _Row(raw.ticket_id, row_digest(key, raw.content()), raw=raw)
    else:
        for ticket in tickets:
            yield _Row(ticket.id, row_digest(key, ticket.model_dump_json()), ticket=ticket)


def run(
    store: Store,
    ruleset: Ruleset,
    tickets: Iterable[Ticket] | TicketReader,
    now: datetime,
    deliverer: Deliverer | None = None,
    *,
    engine: Engine | None = None,
    worker: WorkerSlot = WorkerSlot(),
    batch_size: int = BATCH_SIZE,
    delivery_batch: int = DELIVERY_BATCH,
    lease: Lease | None = None,
    progress: Callable[[int], None] | None = None,
    full: bool = False,
    on_transitions: Callable[[Sequence[Transition]], None] | None = None,
    stop: Callable[[], bool] | None = None,
    listing: bool = True,
) -> RunReport:
    """One stateful run at ``now``; see the module docstring.

    Given a ``TicketReader``, a row whose text is the one the stored ticket was evaluated
    from, whose ``next_change_at`` has not passed and that has no repeat due is left alone
    without being validated (``report.unchanged``); a row the reader warns about, or whose
    route decisions conflict, is evaluated at every run, so every run reports it.  ``full``
    evaluates every ticket (the result is the same, at the cost of evaluating everything).
    Without a ``deliverer`` notifications stay pending in the outbox (a later run, or
    another process, delivers them).  A ``lease`` is renewed between batches, ten times
    per lease lifetime, so a long run keeps the run lock; ``progress`` is called with the
    count of tickets taken.  ``on_transitions`` receives each batch's transitions as they
    are committed, instead of ``report.transitions`` keeping them all (memory then stays
    flat however many tickets change).
    ``listing`` says the tickets are the source's whole listing of its open tickets, so
    that ``retention.missing_tickets`` may count the open tickets it leaves out (a sweep's
    are not: they are the tickets due).
    ``stop`` is asked at every batch boundary (a signal arrived): when it answers True the
    run ends there with every batch before it committed (``report.stopped``); schedules,
    retention and the delivery left are for the next run.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(timezone.utc)
    started = time.perf_counter()
    report = RunReport(now, ruleset.name, worker)
    engine = engine or Engine(ruleset)
    lifecycle = Lifecycle(ruleset)
    reader = tickets if isinstance(tickets, TicketReader) else None
    key = fingerprint(ruleset, reader.default_timezone if reader is not None else None)
    repeats_due = set() if full else store.repeats_due(now)
    stored_levels: Counter[str] = Counter()  # the levels of the tickets left alone, as stored (JSON text)
    renewed = started

    seen = SeenTickets() if ruleset.retention.missing_tickets is not None and listing else None
    # The open tickets the missing-ticket record awaits, before this run writes any, and how
    # many of them the listing holds (counted from their marks: each id comes once by the
    # reader's duplicate rule, and this process owns every ticket).  When every one is
    # listed, close_missing need not read their ids.
    awaited = store.count_awaited(now) if seen is not None and reader is not None and worker.count == 1 and not full else None
    awaited_listed = 0

    def taken(batch: list[_Row]) -> tuple[list[Ticket], dict[str, str]]:
        """The batch's tickets to evaluate in full, with their row digests (of a ticket listed
        twice, its last row counts, as in ``apply_batch``)."""
        nonlocal awaited_listed
        ids = [row.ticket_id for row in batch if row.ticket_id is not None and worker.owns(row.ticket_id)]
        marks = {} if full else store.ticket_marks(ids, now)
        found: dict[str, Ticket] = {}
        hashes: dict[str, str] = {}
        for row in batch:
            mark = marks.get(row.ticket_id) if row.ticket_id is not None else None
            unchanged = mark is not None and mark.settled and mark.row_hash == row.digest and row.ticket_id not in repeats_due
            if not unchanged and row.raw is not None and reader is not None:
                raw = reader.resolve(row.raw)  # a row left unread that no stored digest vouches for is parsed now
                if raw is None:
                    continue
                row = row._replace(ticket_id=raw.ticket_id, raw=raw)
            if seen is not None and row.ticket_id is not None:
                seen.add(row.ticket_id)  # read, whether or not it is evaluated or rewritten
            if row.ticket_id is not None and not worker.owns(row.ticket_id):
                report.other_workers += 1
                continue
            if awaited is not None and mark is not None and mark.awaited:
                awaited_listed += 1
            if unchanged:
                found.pop(row.ticket_id, None)
                report.unchanged += 1
                report.evaluated += 1
                stored_levels[mark.levels] += 1
                continue
            warned = len(reader.warnings) if reader is not None else 0
            ticket = row.ticket if row.raw is None or reader is None else reader.validate(row.raw)
            if ticket is None:
                continue
            if row.ticket_id is None and not worker.owns(ticket.id):
                report.other_workers += 1
                continue
            found.pop(ticket.id, None)
            found[ticket.id] = ticket
            if reader is None or len(reader.warnings) == warned:
                hashes[ticket.id] = row.digest  # a row read with warnings keeps none: each run reads it again and warns
        return list(found.values()), hashes

    dispatch_state = StoreDispatchState(store, ruleset, now) if ruleset.providers else None
    dispatch = BatchDispatch(ruleset) if ruleset.providers or ruleset.write_back else None
    to_dispatch = DispatchQueue() if dispatch_state is not None else None
    pending: list[Ticket] = []
    pending_hashes: dict[str, str] = {}

    def apply_pending() -> None:
        deferred: list[Ticket] | None = [] if to_dispatch is not None and not to_dispatch.draining else None
        latest = {ticket.id: ticket for ticket in pending}  # of a ticket listed twice, its last row
        results = list(engine.evaluate(latest.values(), now, dispatch_state, deferred))
        for ticket in deferred or ():
            to_dispatch.add(ticket, pending_hashes.get(ticket.id))  # type: ignore[union-attr]
        for result in results:
            if to_dispatch is not None:
                to_dispatch.discard(result.ticket.id)  # this later row of a queued ticket replaces it
            if result.route_conflicts or (result.route is None and any(d.action == "route" for d in result.decisions)):
                # evaluated and reported at every run, like a warning; a ticket nobody could
                # take is dispatched again at every run
                pending_hashes.pop(result.ticket.id, None)
        _record(report, results, apply_batch(store, lifecycle, results, now, pending_hashes, dispatch=dispatch), on_transitions)
        pending.clear()
        pending_hashes.clear()

    # Rows are looked up a batch at a time; the tickets to evaluate gather into full batches
    # (a steady run's few changed tickets are scattered over the whole feed).
    stopped = False
    for rows in batched(_rows(tickets, key), batch_size):
        if stop is not None and stop():
            stopped = True
            break
        batch, hashes = taken(rows)
        for ticket in batch:
            pending.append(ticket)
            if ticket.id in hashes:
                pending_hashes[ticket.id] = hashes[ticket.id]
            else:
                pending_hashes.pop(ticket.id, None)
        if len(pending) >= batch_size:
            apply_pending()
        if lease is not None and time.perf_counter() - renewed >= lease.ttl.total_seconds() / LEASE_RENEWALS:
            lease.renew()
            renewed = time.perf_counter()
        if progress is not None:
            progress(report.evaluated)
    if pending and not stopped:
        apply_pending()
        if progress is not None:
            progress(report.evaluated)
    if to_dispatch is not None and not stopped:
        # The tickets that need a provider, in dispatch order once every other ticket is in.
        for batch in batched(to_dispatch.drain(), batch_size):
            if stop is not None and stop():
                stopped = True
                break
            for ticket, digest in batch:
                pending.append(ticket)
                if digest is not None:
                    pending_hashes[ticket.id] = digest
            apply_pending()
            if progress is not None:
                progress(report.evaluated)
        to_dispatch.close()

    if stopped or (stop is not None and stop()):
        report.stopped = True
        report.duration = time.perf_counter() - started
        log.warning("run stopped", extra={"fields": {"at": now.isoformat(), "evaluated": report.evaluated}})
        return report
    for text, count in stored_levels.items():
        for policy, level in json.loads(text).items():
            report.levels[(policy, level or "ok")] += count
    store.mark_run(now)
    if seen is not None:
        assert ruleset.retention.missing_tickets is not None
        missing = store.close_missing(now, ruleset.retention.missing_tickets, seen, worker.owns, all_listed=awaited is not None and awaited_listed >= awaited)
        report.transition_counts.update(entry.kind for entry in missing if entry.kind in STATE_KINDS)
        if on_transitions is not None:
            on_transitions(missing)
        else:
            report.transitions.extend(missing)
        report.missing_closed = sum(1 for entry in missing if entry.kind == "closed")
    fired, skipped_ticks = fire_schedules(store, ruleset.schedules, now, ruleset=ruleset)
    report.schedules_fired, report.schedules_skipped = fired, skipped_ticks
    report.enqueued += len(fired)
    if ruleset.retention.declared:
        retention = ruleset.retention
        report.pruned = store.prune(now, closed_tickets=retention.closed_tickets, notifications=retention.notifications, audit=retention.audit)
    if deliverer is not None:
        if ruleset.write_back:
            deliverer = WriteBackDeliverer(deliverer, ruleset.write_back)
        report.delivery = deliver_pending(store, deliverer, ruleset.delivery, now, batch_size=delivery_batch, stop=stop)
        report.stopped = stop is not None and stop()
    report.duration = time.perf_counter() - started
    log.info(
        "run done",
        extra={
            "fields": {
                "at": now.isoformat(),
                "worker": str(worker),
                "evaluated": report.evaluated,
                "unchanged": report.unchanged,
                "transitions": sum(report.transition_counts.values()),
                "enqueued": report.enqueued,
                **{f"delivery_{k}": v for k, v in sorted(report.delivery.items())},
                "duration_s": round(report.duration, 3),
            }
        },
    )
    return report


def _record(report: RunReport, batch: list[TicketResult], done: BatchResult, on_transitions: Callable[[Sequence[Transition]], None] | None) -> None:
    """Count one applied batch into the report; its transitions go to ``on_transitions`` or the report."""
    report.evaluated += len(batch)
    report.locked_elsewhere += done.locked
    report.stale += done.stale
    for result in batch:
        for status in result.statuses:
            report.levels[(status.policy, status.level or "ok")] += 1
        for conflict in result.route_conflicts:
            report.route_conflicts.append((result.ticket.id, conflict))
            log.warning("route conflict", extra={"fields": {"ticket": result.ticket.id, "conflict": conflict.describe()}})
    entries = [entry for plan in done.plans for entry in plan.transitions]
    report.enqueued += sum(len(plan.outgoing) for plan in done.plans)
    report.transition_counts.update(entry.kind for entry in entries if entry.kind in STATE_KINDS)
    if log.isEnabledFor(logging.DEBUG):
        for entry in entries:
            fields = {"kind": entry.kind, "ticket": entry.ticket_id, "policy": entry.policy, "sla_level": entry.level, "rule": entry.rule, "detail": entry.detail}
            log.debug("transition", extra={"fields": fields})
    if on_transitions is not None:
        on_transitions(entries)
    else:
        report.transitions.extend(entries)


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
    masked: dict[str, str] = {}  # a batch's details repeat ("sent to" the same receivers): each masked once
    for entry in entries:
        outcome = by_key.get(entry.key) or DeliveryOutcome(entry.key, "failed", "the deliverer gave no outcome for this notification")
        if outcome.detail not in masked:
            masked[outcome.detail] = mask_secrets(outcome.detail)[:1000]
        detail = masked[outcome.detail]
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


def deliver_pending(
    store: Store, deliverer: Deliverer, spec: DeliverySpec, now: datetime, *, batch_size: int = DELIVERY_BATCH, stop: Callable[[], bool] | None = None
) -> Counter[str]:
    """Deliver every outbox notification due at ``now``; return the count per result.

    Each batch is claimed in a short transaction, sent with no transaction open (a slow
    or hanging receiver never holds a lock that ``ack``, a report or another run waits
    for), then settled in another short transaction that releases the claim.  A crash
    during delivery leaves the batch pending under the claim of a dead process, which
    the next run frees and delivers again, with the same keys.  Each notification goes
    with the receivers its row says already have it, and the deliverer skips them.
    Meta notifications created by dead-lettering are delivered in a second pass of the
    same run.  A deliverer with a ``session(now)`` context manager (``AlertPipeline``)
    is inside it for every batch, so it reads silences and open escalations once.
    ``stop`` is asked before each batch: the rest stays pending for the next run.
    """
    counts: Counter[str] = Counter()
    store.release_claims()
    holder = store.claim_holder()
    session = getattr(deliverer, "session", None)
    try:
        with session(now) if callable(session) else nullcontext():
            for _pass in range(2):
                after: str | None = None
                created_meta = False
                while stop is None or not stop():
                    entries = store.claim_due(now, batch_size, holder, after_key=after)
                    if not entries:
                        break
                    outcomes = _deliver(deliverer, [notification_from_json(entry.notification, entry.delivered_to) for entry in entries], now)
                    settlements, metas = _settle(store, holder, entries, outcomes, spec, now)
                    after = entries[-1].key
                    created_meta = created_meta or metas > 0
                    for item in settlements:
                        result = "held" if item.status == "pending" else item.status
                        counts[result] += 1
                        level = logging.WARNING if result in ("failed", "dead") else logging.DEBUG
                        if log.isEnabledFor(level):  # a burst's fields cost more than the log call that drops them
                            fields = {"key": item.entry.key, "result": result, "attempts": item.attempts, "detail": item.error or ""}
                            log.log(level, "notification", extra={"fields": fields})
                if not created_meta:
                    break
    except BaseException:
        with suppress(StateError):  # the rows stay due either way; freed now, the next run needs no wait
            store.release_claims(holder)
        raise
    return counts


def _settle(
    store: Store, holder: str, entries: Sequence[OutboxEntry], outcomes: Sequence[DeliveryOutcome], spec: DeliverySpec, now: datetime
) -> tuple[list[Settlement], int]:
    """Write the outcomes of the rows ``holder`` still claims, with their dead-letter meta
    notifications and audit entries, in one transaction; return the settlements and how
    many meta notifications were enqueued."""

    def work(tx: StateTx) -> tuple[list[Settlement], int]:
        mine = tx.claimed(holder, [entry.key for entry in entries])
        if len(mine) < len(entries):
            log.warning("delivery claim expired", extra={"fields": {"notifications": len(entries) - len(mine), "detail": "another process settles them"}})
        settlements, metas, audit = settle_outcomes([entry for entry in entries if entry.key in mine], outcomes, spec, now)
        tx.settle(settlements, now)
        inserted = tx.enqueue(metas, now)
        tx.record(audit)
        return settlements, len(inserted)

    return store.transaction("deliver notifications", work)
