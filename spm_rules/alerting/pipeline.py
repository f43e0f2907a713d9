"""The alerting pipeline: a batch of notifications in, one outcome per notification key out.

Stages, in order, each taking what survived the one before (Alertmanager's
``notify/notify.go``):

1. **silence**: a notification an active silence matches is ``silenced``;
2. **inhibit**: one an active source alert inhibits is ``inhibited`` (never a
   ``resolved`` one);
3. **route**: the receivers it goes to (rule-named ones and the routing tree's; for a
   ``resolved`` one exactly those it names, grouped as its firing notifications were),
   less those it was already delivered to (``Notification.delivered_to``); one that
   every receiver already has is ``sent`` without a send;
4. **windows**: receivers outside their active window are held (unless urgent); a
   notification held for every receiver is ``held`` until the first window opens;
5. **group**: per receiver and route, by the route's ``group_by`` labels;
6. **render**: each group's title and body from the receiver's template;
7. **send**: every destination concurrently, bounded per receiver, with timeouts.

A notification is ``sent`` only when every receiver it goes to has the message, so the
outbox marks it sent only after delivery.  If one receiver failed the notification is
``failed``; if some receivers are held and none failed it is ``held`` (until
``retry_at``).  Either way its outcome's ``delivered_to`` names every receiver that now
has it (those it came with and those reached now), the outbox passes them back with the
retry, and the retry goes only to the others: each receiver gets each notification key
once, like Alertmanager's notification log keyed by group and receiver.  Only a crash
between a send and the commit of its outcome sends it to a receiver again.  Silences and
inhibition come first and settle the whole key, whoever already has it.

``now`` is always a parameter; nothing here reads a clock.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence, Union

from ..notifications import DeliveryOutcome, Notification, OutcomeStatus
from .delivery import Destination, SendResult, SendTask, destinations, run_tasks, tasks_for
from .grouping import build_groups
from .inhibition import Inhibitor, SourceIndex
from .receivers import AlertMessage, Hook, ReceiverSpec, registered_hooks
from .redaction import install_log_redaction
from .routes import RouteMatch, RoutingTree
from .silences import Silence, SilenceIndex, active_silences, silence_from_record
from .templates import Renderer, is_urgent, item_context, notify_type
from .windows import ReceiverWindows

if TYPE_CHECKING:
    from ..ruleset.schema import Ruleset

__all__ = ["AlertPipeline", "DeliveryPlan", "notification_labels", "meta_notification", "receiver_test_notification"]

log = logging.getLogger("spm_rules.alerting")

#: Kinds that skip inhibition and active windows: they are about delivery itself.
_OPERATIONAL = ("meta", "test")
#: Kinds that are never inhibited: the operational ones, and news that an alert is over.
_NEVER_INHIBITED = (*_OPERATIONAL, "resolved")

SilenceSource = Union[Iterable[Any], Callable[[datetime], Iterable[Any]]]
AlertSource = Union[Iterable[Mapping[str, str]], Callable[[datetime], Iterable[Mapping[str, str]]]]


def _decide(decided: dict[str, DeliveryOutcome], notification: Notification, status: OutcomeStatus, detail: str, retry_at: datetime | None = None) -> None:
    """Settle ``notification`` without a send; the receivers it already reached still have it."""
    decided[notification.key] = DeliveryOutcome(notification.key, status, detail, retry_at, notification.delivered_to)


def _already(notification: Notification) -> list[str]:
    """The part of an outcome's detail that names the receivers an earlier attempt reached."""
    return [f"already sent to {', '.join(notification.delivered_to)}"] if notification.delivered_to else []


def _unique(notifications: Iterable[Notification]) -> list[Notification]:
    """The first notification of each key, in the order given."""
    unique: dict[str, Notification] = {}
    for notification in notifications:
        unique.setdefault(notification.key, notification)
    return list(unique.values())


def notification_labels(notification: Notification) -> dict[str, str]:
    """The labels routes, silences, inhibit rules and grouping see: the notification's
    own, plus ``ticket`` (its ticket id) and ``kind`` unless it already has them."""
    labels = {str(k): str(v) for k, v in notification.labels.items()}
    if notification.ticket_id is not None:
        labels.setdefault("ticket", notification.ticket_id)
    labels.setdefault("kind", notification.kind)
    return labels


@dataclass
class _Pending:
    notification: Notification
    labels: dict[str, str]
    targets: list[RouteMatch] = field(default_factory=list)
    held_until: datetime | None = None
    held_for: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DeliveryPlan:
    """What delivery would do at an instant, before sending anything.

    ``decided`` holds the outcomes settled without a send (silenced, inhibited, held
    for every receiver, failed before sending, or sent by earlier attempts to every
    receiver); ``messages`` the rendered messages, each with the keys it stands for;
    ``partly_held`` the keys also held for some receivers (when and for whom).
    """

    decided: dict[str, DeliveryOutcome]
    messages: list[AlertMessage]
    partly_held: dict[str, tuple[datetime, tuple[str, ...]]]


class AlertPipeline:
    """Routes, groups, silences, inhibits, renders and delivers notifications for a ruleset.

    ``silences`` are extra silences (store records, as mappings or objects), or a
    callable giving them at an instant; ``active_alerts`` are label sets of alerts that
    are firing besides the batch (e.g. open escalations), for inhibition; ``hooks``
    override the process-wide hook registry; ``environ`` replaces ``os.environ`` for
    ``${VAR}`` references.  It implements :class:`spm_rules.notifications.Deliverer`.
    """

    def __init__(
        self,
        ruleset: "Ruleset",
        *,
        silences: SilenceSource = (),
        active_alerts: AlertSource = (),
        hooks: Mapping[str, Hook] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        install_log_redaction()
        self.ruleset = ruleset
        self.receivers: Mapping[str, ReceiverSpec] = ruleset.receivers
        self.tree = RoutingTree(ruleset.route)
        self.inhibitor = Inhibitor(ruleset.inhibit_rules)
        self.windows = ReceiverWindows(ruleset.receivers, ruleset.calendars)
        self.renderer = Renderer(ruleset.templates, ruleset.ticket_url, ruleset.ticket_timezone, ruleset.name)
        self.ruleset_silences = [Silence.from_spec(index, spec) for index, spec in enumerate(ruleset.silences)]
        self._silences = silences
        self._active_alerts = active_alerts
        self._hooks = hooks
        self._environ = environ
        self.timeout = ruleset.delivery.timeout.total_seconds()
        self.concurrency = ruleset.delivery.concurrency
        self.limits = {name: spec.concurrency for name, spec in ruleset.receivers.items() if spec.concurrency is not None}
        self._session: tuple[datetime, SilenceIndex, SourceIndex] | None = None

    # -- stages -------------------------------------------------------------------------

    def silences_at(self, now: datetime) -> list[Silence]:
        """Every silence in force at ``now``: the ruleset's and the extra ones."""
        source = self._silences(now) if callable(self._silences) else self._silences
        extra = []
        for record in source:
            try:
                extra.append(record if isinstance(record, Silence) else silence_from_record(record))
            except ValueError as exc:
                log.warning("ignoring a stored silence: %s", exc)
        return active_silences([*self.ruleset_silences, *extra], now)

    def alerts_at(self, now: datetime) -> list[dict[str, str]]:
        """The label sets of the alerts firing at ``now`` besides a batch (``active_alerts``;
        none are read when the ruleset has no inhibit rules)."""
        if not self.inhibitor.rules:
            return []
        extra = self._active_alerts(now) if callable(self._active_alerts) else self._active_alerts
        return [{str(k): str(v) for k, v in labels.items()} for labels in extra]

    @contextmanager
    def session(self, now: datetime) -> Iterator["AlertPipeline"]:
        """Deliver several batches at ``now`` with the silences and active alerts read and
        indexed once: what a stateful run's delivery does (silences and open escalations do
        not change while it delivers), instead of once per batch."""
        self._session = (now, SilenceIndex(self.silences_at(now)), self.inhibitor.index(self.alerts_at(now)))
        try:
            yield self
        finally:
            self._session = None

    def _indexes(self, now: datetime) -> tuple[SilenceIndex, SourceIndex]:
        """The silences and active alerts at ``now``, indexed (the session's, if open at ``now``)."""
        if self._session is not None and self._session[0] == now:
            return self._session[1], self._session[2]
        return SilenceIndex(self.silences_at(now)), self.inhibitor.index(self.alerts_at(now))

    def _silence(self, pending: list[_Pending], silences: SilenceIndex, decided: dict[str, DeliveryOutcome]) -> list[_Pending]:
        kept = []
        for item in pending:
            silence = silences.first(item.labels) if item.notification.kind != "test" else None
            if silence is None:
                kept.append(item)
                continue
            why = f"silenced by {silence.id}" + (f": {silence.comment}" if silence.comment else "")
            _decide(decided, item.notification, "silenced", why)
        return kept

    def _inhibit(self, pending: list[_Pending], batch: list[_Pending], alerts: SourceIndex, decided: dict[str, DeliveryOutcome]) -> list[_Pending]:
        firing = [item for item in batch if item.notification.kind != "resolved"]
        positions = {id(item): index for index, item in enumerate(firing)}
        in_batch = self.inhibitor.index(item.labels for item in firing) if self.inhibitor.rules else None
        kept = []
        for item in pending:
            found = None
            if in_batch is not None and item.notification.kind not in _NEVER_INHIBITED:
                found = self.inhibitor.find(item.labels, [(in_batch, positions.get(id(item))), (alerts, None)])
            if found is None:
                kept.append(item)
            else:
                _decide(decided, item.notification, "inhibited", found.describe())
        return kept

    def _route(self, pending: list[_Pending], decided: dict[str, DeliveryOutcome]) -> list[_Pending]:
        kept = []
        for item in pending:
            note = item.notification
            targets = self._targets(note, item.labels)
            if not targets:
                _decide(decided, note, "failed", "no receiver: the rule named none and the ruleset has no route")
                continue
            # A receiver that already has the key is skipped, even one the ruleset no longer knows.
            targets = [t for t in targets if t.receiver not in note.delivered_to]
            unknown = [t.receiver for t in targets if t.receiver not in self.receivers]
            if unknown:
                _decide(decided, note, "failed", "; ".join([f"unknown receiver {unknown[0]!r}", *_already(note)]))
            elif not targets:
                _decide(decided, note, "sent", _already(note)[0])
            else:
                item.targets = targets
                kept.append(item)
        return kept

    def _targets(self, note: Notification, labels: dict[str, str]) -> list[RouteMatch]:
        """Where a notification goes.  A resolved one that names receivers (the stateful run
        names those told of the escalation that take resolved notifications) goes to exactly
        them, each with the route settings its firing notifications had, so that it is
        grouped as they were."""
        if note.kind != "resolved" or not note.receivers:
            return self.tree.targets(labels, note.receivers)
        firing = self.tree.targets(labels | {"kind": "escalation"}, tuple(note.payload.get("firing_receivers") or ()))
        settings = {target.receiver: target for target in firing}
        first = self.tree.targets(labels | {"kind": "escalation"}, note.receivers)
        return [settings.get(target.receiver, target) for target in first if target.receiver in note.receivers]

    def _windows(self, pending: list[_Pending], now: datetime, decided: dict[str, DeliveryOutcome]) -> list[_Pending]:
        kept = []
        for item in pending:
            if item.notification.kind in _OPERATIONAL or is_urgent(item.notification):
                kept.append(item)
                continue
            open_targets = []
            for target in item.targets:
                opens = self.windows.opens_at(target.receiver, now)
                if opens is None:
                    open_targets.append(target)
                    continue
                item.held_for.append(target.receiver)
                item.held_until = opens if item.held_until is None else min(item.held_until, opens)
            if not open_targets:
                assert item.held_until is not None
                why = f"held: outside the active hours of {', '.join(item.held_for)} until {item.held_until.isoformat()}"
                _decide(decided, item.notification, "held", "; ".join([why, *_already(item.notification)]), item.held_until)
                continue
            item.targets = open_targets
            kept.append(item)
        return kept

    def _render(self, pending: list[_Pending], now: datetime) -> list[AlertMessage]:
        groups = build_groups((item, item.labels, target) for item in pending for target in item.targets)
        return [
            self._message(
                group.receiver,
                group.labels,
                tuple(member.notification for member in group.members),
                [item_context(member.notification, member.labels, self.renderer.ticket_url) for member in group.listed],
                group.omitted,
                now,
            )
            for group in groups
        ]

    def _message(
        self, receiver: str, group: dict[str, str], members: tuple[Notification, ...], items: list[dict[str, Any]], omitted: int, now: datetime
    ) -> AlertMessage:
        """The message for ``receiver`` standing for ``members``, rendered from ``items``."""
        rendered = self.renderer.render(self.receivers[receiver].template, receiver, group, items, omitted, now)
        return AlertMessage(
            receiver=receiver,
            title=rendered.title,
            body=rendered.body,
            notify_type=notify_type(members),
            group=group,
            notifications=members,
            created_at=now,
            fallback=rendered.error is not None,
            omitted=omitted,
        )

    def _destinations(self, receiver: str) -> list[Destination]:
        return destinations(receiver, self.receivers[receiver], self.environ, self.hooks, self.timeout)

    # -- public -------------------------------------------------------------------------

    def plan(self, notifications: Sequence[Notification], now: datetime) -> DeliveryPlan:
        """Everything delivery does at ``now`` short of sending: outcomes settled without a
        send, and the messages that would be sent."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        # In key order: messages and the items they list come out the same whatever order
        # the notifications came in.
        batch = [_Pending(n, notification_labels(n)) for n in sorted(_unique(notifications), key=lambda n: n.key)]
        decided: dict[str, DeliveryOutcome] = {}
        silences, alerts = self._indexes(now)
        pending = self._silence(batch, silences, decided)
        pending = self._inhibit(pending, batch, alerts, decided)
        pending = self._route(pending, decided)
        pending = self._windows(pending, now, decided)
        partly: dict[str, tuple[datetime, tuple[str, ...]]] = {}
        for item in pending:
            if item.held_until is not None:
                partly[item.notification.key] = (item.held_until, tuple(item.held_for))
        return DeliveryPlan(decided, self._render(pending, now), partly)

    def deliver(self, notifications: Sequence[Notification], now: datetime) -> list[DeliveryOutcome]:
        """Deliver a batch at ``now``: one outcome per distinct notification key, in order.

        Receivers a notification lists in ``delivered_to`` are not sent to again; each
        outcome's ``delivered_to`` names every receiver that has the key afterwards.
        """
        plan = self.plan(notifications, now)
        prepared: dict[str, list[Destination]] = {}  # each receiver's URLs resolved once per batch
        tasks: list[SendTask] = []
        owners: list[int] = []
        for index, message in enumerate(plan.messages):
            if message.receiver not in prepared:
                prepared[message.receiver] = self._destinations(message.receiver)
            for task in tasks_for(message, prepared[message.receiver]):
                tasks.append(task)
                owners.append(index)
        results = run_tasks(tasks, self.concurrency, self.timeout, self.limits)
        per_message: list[list[SendResult]] = [[] for _ in plan.messages]
        for owner, result in zip(owners, results):
            per_message[owner].append(result)

        sent_to: dict[str, list[str]] = {}
        failures: dict[str, list[str]] = {}
        for message, outcome in zip(plan.messages, per_message):
            bad = [f"{r.receiver} {r.target}: {r.detail}" for r in outcome if not r.delivered]
            if not outcome:
                bad = [f"{message.receiver}: no destination"]
            for notification in message.notifications:
                if bad:
                    failures.setdefault(notification.key, []).extend(bad)
                else:
                    sent_to.setdefault(notification.key, []).append(message.receiver)
            if bad:
                log.warning("delivery to %s failed: %s", message.receiver, "; ".join(bad))

        return [
            plan.decided.get(n.key) or self._outcome(n, sent_to.get(n.key, []), failures.get(n.key), plan.partly_held.get(n.key))
            for n in _unique(notifications)
        ]

    @staticmethod
    def _outcome(
        notification: Notification, sent: list[str], failed: list[str] | None, held: tuple[datetime, tuple[str, ...]] | None
    ) -> DeliveryOutcome:
        """The outcome of a notification that reached the send stage: failed if a receiver
        failed, else held if one was held, else sent; with every receiver that now has it."""
        key = notification.key
        delivered = tuple(dict.fromkeys([*notification.delivered_to, *sent]))
        told = ([f"sent to {', '.join(dict.fromkeys(sent))}"] if sent else []) + _already(notification)
        if failed:
            return DeliveryOutcome(key, "failed", "; ".join([*failed, *told])[:1000], delivered_to=delivered)
        if held is not None:
            until, receivers = held
            why = "; ".join([f"held for {', '.join(receivers)} until {until.isoformat()}", *told])
            return DeliveryOutcome(key, "held", why, until, delivered)
        return DeliveryOutcome(key, "sent", "; ".join(told), delivered_to=delivered)

    @property
    def environ(self) -> Mapping[str, str]:
        """Where ``${VAR}`` references are looked up."""
        return self._environ if self._environ is not None else os.environ

    @property
    def hooks(self) -> Mapping[str, Hook]:
        """The hooks by name: the process-wide registry, overridden by the pipeline's own."""
        return {**registered_hooks(), **(self._hooks or {})}

    def test_receiver(self, receiver: str, now: datetime) -> list[SendResult]:
        """Send a test message to each destination of ``receiver`` (no silences, windows or
        routing) and say, per destination, whether it was delivered."""
        if receiver not in self.receivers:
            raise KeyError(receiver)
        notification = receiver_test_notification(receiver, self.ruleset.name, now)
        labels = notification_labels(notification)
        items = [item_context(notification, labels, None)]
        message = self._message(receiver, {}, (notification,), items, 0, now)
        return run_tasks(tasks_for(message, self._destinations(receiver)), self.concurrency, self.timeout, self.limits)


def receiver_test_notification(receiver: str, ruleset: str, now: datetime) -> Notification:
    """The notification ``receivers test`` sends: a sample ticket, so that the receiver's
    own template renders as it would for a real one."""
    why = f"Test notification from spm-rules (ruleset {ruleset}) to receiver {receiver}; no action needed."
    ticket = {"id": "TEST-0000", "tier": "test", "status": "test", "customer": "spm-rules", "product": "test", "provider": receiver}
    sla = {"policy": "test", "stage": "test", "level": "test", "due_at": now.isoformat(), "elapsed": "0s", "target": "0s"}
    labels = {"kind": "test", "receiver": receiver, "level": "test"}
    return Notification(f"test|{receiver}|{now.isoformat()}", "test", None, (receiver,), labels, {"why": why, "ticket": ticket, "sla": sla}, now)


def meta_notification(failed: Notification, attempts: int, last_detail: str, fallback: str, now: datetime) -> Notification:
    """The meta-alert for a dead-lettered notification, addressed to the fallback receiver.

    Meta-alerts skip inhibition and active windows (silences still apply); ``last_detail``
    must be a delivery outcome's detail, which is already masked.
    """
    why = f"notification {failed.key} was given up after {attempts} failed attempts: {last_detail}"
    labels = {"kind": "meta", "alertname": "delivery-failed", "failed_kind": failed.kind}
    if failed.ticket_id is not None:
        labels["ticket"] = failed.ticket_id
    payload = {
        "why": why,
        "failed": {"key": failed.key, "receivers": list(failed.receivers), "labels": dict(failed.labels)},
        "ticket": failed.payload.get("ticket", {}),
    }
    return Notification(f"meta|{failed.key}", "meta", failed.ticket_id, (fallback,), labels, payload, now)
