"""The stateful run driven through simulated hours, on SQLite and PostgreSQL with the same code.

Each test opens a new ``Store`` for every run (as cron starts a new process each time),
so repeat timers and escalation state come from the database, never from memory.
"""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

import pytest

from spm_rules.alerting import AlertMessage, AlertPipeline
from spm_rules.engine import RouteConflict
from spm_rules.logs import setup_logging
from spm_rules.metrics import Metric, render
from spm_rules.notifications import DeliveryOutcome, Notification
from spm_rules.ruleset.loader import parse_ruleset
from spm_rules.ruleset.schema import Ruleset
from spm_rules.run import RunReport, WorkerSlot, active_alert_labels, retry_delay, run, schedule_notification
from spm_rules.schedules import ScheduleSpec
from spm_rules.sources.files import read_tickets
from spm_rules.state.store import Store
from spm_rules.tickets import Ticket
from tests.state.helpers import restore_spm_logger  # noqa: F401 (autouse fixture)
from tests.state.helpers import ROOT, RULESET_YAML, T0, RecordingDeliverer, at, ruleset, run_driver, snapshot, ticket, write_ruleset, write_tickets


def run_at(url: str, tickets: list[Ticket], now: datetime, deliverer: RecordingDeliverer | None, extra: str = "", **kwargs: object) -> RunReport:
    """One run with a fresh store object, as a cron invocation would do."""
    with Store(url) as store:
        return run(store, ruleset(extra), tickets, now, deliverer, **kwargs)  # type: ignore[arg-type]


def hours(value: datetime) -> float:
    return (value - T0) / timedelta(hours=1)


def state_transitions(url: str) -> list[tuple[float, str, str | None, str | None, str | None]]:
    """(hours of the run that recorded it, kind, ticket, policy, level) of every ticket transition."""
    with Store(url) as store:
        entries = store.audit()
    kinds = ("new", "entered", "left", "routed", "escalated", "tagged", "closed", "reopened", "stage", "acknowledged")
    return [(hours(e.recorded), e.kind, e.ticket_id, e.policy, e.level) for e in entries if e.kind in kinds]


def tickets_at(now: datetime) -> list[Ticket]:
    """A: P4 dispatched at T0; B: P2 dispatched at T0+1h; C: P4, resolved at T0+3h15; D: north, no provider."""
    found = [ticket("A"), ticket("B", tier="P2", dispatched=at(1))]
    found.append(ticket("C", status="resolved" if now >= at(3, 15) else "open"))
    found.append(ticket("D", provider=None, region="north", dispatched=at(9)))
    return found


def test_a_simulated_day_gives_exact_transitions_and_one_repeat_per_interval(state_url: str) -> None:
    deliverer = RecordingDeliverer()
    delivered: list[tuple[float, str, tuple[str, ...]]] = []
    now = T0
    while now <= at(10):
        report = run_at(state_url, tickets_at(now), now, deliverer)
        delivered += [(hours(when), key, receivers) for when, key, _kind, receivers in deliverer.take()]
        again = run_at(state_url, tickets_at(now), now, deliverer)
        assert again.transitions == [] and again.enqueued == 0 and deliverer.take() == [], f"second run at {now} acted"
        assert report.evaluated == 4
        now += timedelta(minutes=15)

    assert state_transitions(state_url) == [
        (0.0, "new", "A", None, None),
        (0.0, "new", "B", None, None),
        (0.0, "new", "C", None, None),
        (0.0, "new", "D", None, None),
        (0.0, "routed", "D", None, None),
        (2.5, "entered", "B", "response", "yellow"),
        (3.0, "entered", "A", "response", "yellow"),
        (3.0, "left", "B", "response", "yellow"),
        (3.0, "entered", "B", "response", "red"),
        (3.0, "tagged", "B", None, None),
        (3.0, "entered", "C", "response", "yellow"),
        (3.25, "closed", "C", None, None),
        (3.25, "left", "C", "response", "yellow"),
        (4.0, "left", "A", "response", "yellow"),
        (4.0, "entered", "A", "response", "red"),
        (4.0, "tagged", "A", None, None),
        (5.0, "left", "B", "response", "red"),
        (5.0, "entered", "B", "response", "escalate"),
        (5.0, "escalated", "B", "response", "escalate"),
        (6.0, "left", "A", "response", "red"),
        (6.0, "entered", "A", "response", "escalate"),
        (6.0, "escalated", "A", "response", "escalate"),
    ]
    center_desk = ("center", "desk")
    assert delivered == [
        (2.5, "B|response|yellow|1", ("desk",)),
        (3.0, "A|response|yellow|1", ("desk",)),
        (3.0, "B|response|red|1", center_desk),
        (3.0, "C|response|yellow|1", ("desk",)),
        (3.5, "B|response|red|2", center_desk),
        (4.0, "A|response|red|1", center_desk),
        (4.0, "B|response|red|3", center_desk),
        (4.5, "A|response|red|2", center_desk),
        (4.5, "B|response|red|4", center_desk),
        (5.0, "A|response|red|3", center_desk),
        (5.0, "B|response|escalate|1", ("duty",)),
        (5.5, "A|response|red|4", center_desk),
        (6.0, "A|response|escalate|1", ("duty",)),
        (6.0, "B|response|escalate|2", ("duty",)),
        (7.0, "A|response|escalate|2", ("duty",)),
        (7.0, "B|response|escalate|3", ("duty",)),
        (8.0, "A|response|escalate|3", ("duty",)),
        (8.0, "B|response|escalate|4", ("duty",)),
        (9.0, "A|response|escalate|4", ("duty",)),
        (9.0, "B|response|escalate|5", ("duty",)),
        (10.0, "A|response|escalate|5", ("duty",)),
        (10.0, "B|response|escalate|6", ("duty",)),
    ]


def test_repeats_follow_the_last_successful_send_not_the_run_cadence(state_url: str) -> None:
    deliverer = RecordingDeliverer()
    tickets = [ticket("A")]
    for minutes in (4 * 60 + 7, 4 * 60 + 20, 4 * 60 + 36, 4 * 60 + 50, 5 * 60 + 6, 5 * 60 + 7):
        run_at(state_url, tickets, at(minutes=minutes), deliverer)
    # Sent at 4:07; repeat due 4:37 → sent at the 4:50 run; the next is due at 5:20, not 5:06.
    assert [(hours(when), key) for when, key, *_ in deliverer.take()] == [
        (4 + 7 / 60, "A|response|red|1"),
        (4 + 50 / 60, "A|response|red|2"),
    ]


def test_repeat_timer_survives_a_new_process(state_url: str, tmp_path: Path) -> None:
    rules = write_ruleset(tmp_path / "cc.yaml")
    tickets = write_tickets(tmp_path / "tickets.jsonl", [ticket("A")])
    deliverer = RecordingDeliverer()
    run_at(state_url, [ticket("A")], at(4), deliverer)
    assert deliverer.keys == ["A|response|red|1"]

    def in_new_process(now: datetime) -> list[str]:
        log = tmp_path / f"delivered-{now:%H%M}.log"
        done = run_driver(state_url, rules, tickets, now, log)
        assert done.returncode == 0, done.stderr
        return log.read_text().split() if log.exists() else []

    assert in_new_process(at(4, 29)) == []
    assert in_new_process(at(4, 30)) == ["A|response|red|2"]
    assert in_new_process(at(4, 45)) == []
    assert in_new_process(at(5, 0)) == ["A|response|red|3"]


def test_a_second_run_at_the_same_instant_changes_nothing_and_sends_nothing(state_url: str) -> None:
    deliverer = RecordingDeliverer()
    tickets = tickets_at(at(6))
    first = run_at(state_url, tickets, at(6), deliverer)
    assert first.enqueued and deliverer.take()
    with Store(state_url) as store:
        before = snapshot(store)
    second = run_at(state_url, tickets, at(6), deliverer)
    with Store(state_url) as store:
        assert snapshot(store) == before
    assert (second.transitions, second.enqueued, dict(second.delivery), deliverer.take()) == ([], 0, {}, [])


def test_ack_stops_repeats_of_that_level_but_a_higher_level_still_notifies(state_url: str) -> None:
    deliverer = RecordingDeliverer()
    tickets = [ticket("A")]
    run_at(state_url, tickets, at(4), deliverer)
    with Store(state_url) as store:
        acked = store.acknowledge("A", at(4, 10), by="alice")
        assert [(e.policy, e.level, e.acknowledged_by) for e in acked] == [("response", "red", "alice")]
        assert store.acknowledge("A", at(4, 11)) == []
    for minutes in range(4 * 60 + 15, 6 * 60 + 1, 15):
        run_at(state_url, tickets, at(minutes=minutes), deliverer)
    assert [(hours(when), key) for when, key, *_ in deliverer.take()] == [(4.0, "A|response|red|1"), (6.0, "A|response|escalate|1")]
    assert ("acknowledged", "red") in [(kind, level) for _, kind, _, _, level in state_transitions(state_url)]


def test_a_failing_receiver_is_retried_with_backoff_then_dead_lettered_to_the_fallback(state_url: str) -> None:
    def answer(note: Notification, now: datetime) -> DeliveryOutcome:
        if "desk" in note.receivers:
            return DeliveryOutcome(note.key, "failed", "desk: HTTP 500 from https://bot:hunter2@chat.example/desk")
        return DeliveryOutcome(note.key, "sent")

    deliverer = RecordingDeliverer(answer)
    tickets = [ticket("A")]
    ruleset_now = ruleset()
    assert retry_delay(ruleset_now.delivery, 1) == timedelta(minutes=1) and retry_delay(ruleset_now.delivery, 2) == timedelta(minutes=2)
    attempts = []
    for minutes in (180, 180.5, 181, 182, 183, 190):
        report = run_at(state_url, tickets, at(minutes=minutes), deliverer)
        attempts.append((minutes - 180, dict(report.delivery)))
    assert attempts == [
        (0, {"failed": 1}),
        (0.5, {}),
        (1, {"failed": 1}),
        (2, {}),
        (3, {"dead": 1, "sent": 1}),
        (10, {}),
    ]
    sent = deliverer.take()
    assert [key for _, key, _, _ in sent] == ["A|response|yellow|1"] * 3 + ["meta|A|response|yellow|1"]
    assert sent[-1][3] == ("center",)
    with Store(state_url) as store:
        entries = {entry.key: entry for entry in store.outbox_entries("A")}
    dead = entries["A|response|yellow|1"]
    assert (dead.status, dead.attempts) == ("dead", 3)
    assert "hunter2" not in (dead.last_error or "") and "bot:***@" in (dead.last_error or "")
    assert entries["meta|A|response|yellow|1"].status == "sent"


def test_held_waits_until_retry_at_and_silenced_is_recorded_as_suppressed(state_url: str) -> None:
    opens = at(5)

    def answer(note: Notification, now: datetime) -> DeliveryOutcome:
        if note.kind == "escalation" and now < opens:
            return DeliveryOutcome(note.key, "held", "desk outside its active hours", opens)
        return DeliveryOutcome(note.key, "silenced", "silence 'maintenance' matches") if note.kind == "repeat" else DeliveryOutcome(note.key, "sent")

    deliverer = RecordingDeliverer(answer)
    tickets = [ticket("A")]
    for when in (at(4), at(4, 30), at(4, 59), at(5), at(5, 30), at(6)):
        run_at(state_url, tickets, when, deliverer)
    got = [(hours(when), key, kind) for when, key, kind, _ in deliverer.take()]
    assert got == [
        (4.0, "A|response|red|1", "escalation"),
        (5.0, "A|response|red|1", "escalation"),
        (5.5, "A|response|red|2", "repeat"),
        (6.0, "A|response|escalate|1", "escalation"),
    ]
    with Store(state_url) as store:
        statuses = {entry.key: entry.status for entry in store.outbox_entries("A")}
        kinds = [(entry.kind, entry.key) for entry in store.history("A") if entry.kind in ("held", "suppressed", "sent")]
    assert statuses == {"A|response|red|1": "sent", "A|response|red|2": "suppressed", "A|response|escalate|1": "sent"}
    assert kinds == [("held", "A|response|red|1"), ("sent", "A|response|red|1"), ("suppressed", "A|response|red|2"), ("sent", "A|response|escalate|1")]


def test_a_notification_left_pending_blocks_repeats_until_it_is_delivered(state_url: str) -> None:
    tickets = [ticket("A")]
    for when in (at(4), at(4, 30), at(5)):
        report = run_at(state_url, tickets, when, None)
    assert report.enqueued == 0
    with Store(state_url) as store:
        assert [(e.key, e.status) for e in store.outbox_entries()] == [("A|response|red|1", "pending")]
    deliverer = RecordingDeliverer()
    run_at(state_url, tickets, at(5, 10), deliverer)
    run_at(state_url, tickets, at(5, 39), deliverer)
    run_at(state_url, tickets, at(5, 40), deliverer)
    assert [(hours(w), k) for w, k, *_ in deliverer.take()] == [(5 + 10 / 60, "A|response|red|1"), (5 + 40 / 60, "A|response|red|2")]


def test_stage_change_close_and_reopen_are_recorded_and_close_escalations(state_url: str) -> None:
    deliverer = RecordingDeliverer()
    run_at(state_url, [ticket("A")], at(4), deliverer)
    onsite = ticket("A", stage_history=[
        {"stage": "hotline", "entered_at": at(-0.5).isoformat()},
        {"stage": "dispatched", "entered_at": T0.isoformat()},
        {"stage": "onsite", "entered_at": at(4, 20).isoformat()},
    ])
    run_at(state_url, [onsite], at(4, 30), deliverer)
    run_at(state_url, [ticket("A", status="resolved")], at(5), deliverer)
    run_at(state_url, [ticket("A")], at(7), deliverer)
    assert [row[:2] + row[3:] for row in state_transitions(state_url)] == [
        (0 + 4.0, "new", None, None),
        (4.0, "entered", "response", "red"),
        (4.0, "tagged", None, None),
        (4.5, "stage", None, None),
        (4.5, "left", "response", "red"),
        (5.0, "closed", None, None),
        (7.0, "reopened", None, None),
        (7.0, "entered", "response", "escalate"),
        (7.0, "escalated", "response", "escalate"),
    ]
    with Store(state_url) as store:
        records = {(e.level, e.opened_at, e.closed_at) for e in store.escalations_of("A")}
        assert records == {("red", at(4), at(4, 30)), ("escalate", at(7), None)}
        assert store.ticket("A").archived is False  # type: ignore[union-attr]
    assert [k for _, k, *_ in deliverer.take()] == ["A|response|red|1", "A|response|escalate|1"]


def test_a_run_at_an_earlier_instant_leaves_newer_state_alone(state_url: str) -> None:
    deliverer = RecordingDeliverer()
    run_at(state_url, [ticket("A")], at(6), deliverer)
    with Store(state_url) as store:
        before = snapshot(store)
    late = run_at(state_url, [ticket("A")], at(4), deliverer)
    assert (late.stale, late.transitions) == (1, [])
    with Store(state_url) as store:
        assert snapshot(store) == before


def test_re_entering_a_level_opens_a_new_episode_with_fresh_keys(state_url: str) -> None:
    """A tier change (P4 → P2 → P4) moves the ticket out of red and back: keys never repeat."""
    deliverer = RecordingDeliverer()
    run_at(state_url, [ticket("A", tier="P2")], at(2, 30), deliverer)  # P2: red at 2h
    run_at(state_url, [ticket("A", tier="P4")], at(2, 45), deliverer)  # P4: 2h45 < 3h, below yellow
    run_at(state_url, [ticket("A", tier="P2")], at(3), deliverer)  # red again
    assert deliverer.keys == ["A|response|red|1", "A|response|red|2"]
    with Store(state_url) as store:
        (red,) = [e for e in store.escalations_of("A") if e.level == "red"]
    assert (red.opened_at, red.occurrences, red.closed_at) == (at(3), 2, None)


def test_four_worker_slots_together_act_like_one_run(state_url: str, tmp_path: Path) -> None:
    many = [ticket(f"T{n:03d}", dispatched=at(minutes=-7 * n)) for n in range(40)]
    slots = [WorkerSlot(k, 4) for k in range(1, 5)]
    owners = [[slot for slot in slots if slot.owns(t.id)] for t in many]
    assert all(len(found) == 1 for found in owners)
    assert len({found[0].index for found in owners}) == 4
    reference_url = f"sqlite:///{tmp_path / 'reference.db'}"
    for now in (at(3), at(4, 30)):
        whole = RecordingDeliverer()
        run_at(reference_url, many, now, whole)
        parts = RecordingDeliverer()
        reports = [run_at(state_url, many, now, parts, worker=slot) for slot in slots]
        assert sum(r.evaluated for r in reports) == len(many)
        assert all(r.evaluated + r.other_workers == len(many) for r in reports)
        assert sorted(parts.keys) == sorted(whole.keys)
    assert sorted(state_transitions(state_url)) == sorted(state_transitions(reference_url))


def test_worker_slot_parsing() -> None:
    assert WorkerSlot.parse("2/4") == WorkerSlot(2, 4)
    for bad in ("0/4", "5/4", "x", "1/2/3"):
        with pytest.raises(ValueError):
            WorkerSlot.parse(bad)


def test_a_crashing_deliverer_costs_a_retry_and_its_message_is_masked(state_url: str) -> None:
    class Broken:
        def deliver(self, notifications: object, now: datetime) -> list[DeliveryOutcome]:
            raise RuntimeError("cannot reach postgresql://ops:s3cret@db.example/x")

    report = run_at(state_url, [ticket("A")], at(4), Broken())  # type: ignore[arg-type]
    assert dict(report.delivery) == {"failed": 1}
    with Store(state_url) as store:
        (entry,) = store.outbox_entries("A")
    assert entry.status == "failed" and entry.attempts == 1 and entry.next_attempt_at == at(4, 1)
    assert "s3cret" not in (entry.last_error or "") and "RuntimeError" in (entry.last_error or "")


def test_retention_prunes_archived_tickets_and_old_notifications(state_url: str) -> None:
    extra = "retention: {closed_tickets: 2d, notifications: 1d}\n"
    deliverer = RecordingDeliverer()
    run_at(state_url, [ticket("A"), ticket("B")], at(4), deliverer, extra)
    run_at(state_url, [ticket("A", status="resolved"), ticket("B")], at(5), deliverer, extra)
    with Store(state_url) as store:
        assert store.ticket("A").archived  # type: ignore[union-attr]
    report = run_at(state_url, [ticket("B")], at(5 + 24), deliverer, extra)
    assert report.pruned.get("outbox", 0) >= 1 and "tickets" not in report.pruned
    report = run_at(state_url, [ticket("B")], at(5 + 49), deliverer, extra)
    assert report.pruned["tickets"] == 1 and report.pruned["escalations"] == 1
    with Store(state_url) as store:
        assert store.ticket("A") is None and store.history("A") == [] and store.outbox_entries("A") == []
        assert store.ticket("B") is not None and store.escalations_of("B")


def test_metric_labels_are_escaped_and_values_plain() -> None:
    text = render([Metric("spm_x", "Help with a \\ backslash.").add(1.5, provider='say "hi"\nthere\\', level=None).add(3)])
    assert text.splitlines() == [
        "# HELP spm_x Help with a \\\\ backslash.",
        "# TYPE spm_x gauge",
        'spm_x{provider="say \\"hi\\"\\nthere\\\\",level=""} 1.5',
        "spm_x 3",
    ]


def test_json_log_lines_keep_fields_named_like_the_fixed_keys() -> None:
    stream = io.StringIO()
    setup_logging("json", "DEBUG", stream)
    logging.getLogger("spm_rules.run").debug("transition", extra={"fields": {"level": "red", "ticket": "A"}})
    (line,) = stream.getvalue().splitlines()
    record = json.loads(line)
    assert (record["level"], record["field.level"], record["ticket"], record["event"]) == ("debug", "red", "A", "transition")
    setup_logging("text", "INFO", stream)
    logging.getLogger("spm_rules.run").info("run done", extra={"fields": {"detail": 'two words "quoted"', "n": 3}})
    assert stream.getvalue().splitlines()[-1].endswith('spm_rules.run: run done detail="two words \\"quoted\\"" n=3')


# -- decisions flowing to notifications ------------------------------------------------

#: cc-test with Python hooks as receivers.
HOOKED_YAML = RULESET_YAML.replace(
    '  desk: {urls: ["json://127.0.0.1:9/desk"]}\n  center: {urls: ["json://127.0.0.1:9/center"]}\n  duty: {urls: ["json://127.0.0.1:9/duty"]}\n',
    "  desk: {hook: desk}\n  center: {hook: center}\n  duty: {hook: duty}\n",
)


class Hooks(dict):
    """One recording hook per receiver name: ``hooks["center"]`` lists the AlertMessages it got."""

    def __init__(self, *names: str) -> None:
        super().__init__({name: self._recorder(name) for name in names})
        self.got: dict[str, list[AlertMessage]] = {name: [] for name in names}

    def _recorder(self, name: str) -> Callable[[AlertMessage], bool]:
        def record(message: AlertMessage) -> bool:
            self.got[name].append(message)
            return True

        return record

    def take(self) -> dict[str, list[AlertMessage]]:
        """Messages per receiver since the last take (receivers that got none left out)."""
        taken = {name: list(messages) for name, messages in self.got.items() if messages}
        for messages in self.got.values():
            messages.clear()
        return taken


def hooked_run(url: str, rules: Ruleset, tickets: list[Ticket], now: datetime, hooks: Hooks) -> RunReport:
    """A run delivering through the alerting pipeline, as the CLI sets it up, with ``hooks`` as receivers."""
    with Store(url) as store:
        pipeline = AlertPipeline(rules, silences=store.active_silences, active_alerts=active_alert_labels(store), hooks=hooks)
        return run(store, rules, tickets, now, pipeline)


def test_a_repeat_is_not_inhibited_by_its_own_open_escalation(state_url: str) -> None:
    rules = parse_ruleset(HOOKED_YAML + "inhibit_rules:\n  - {source_match: {level: escalate}, target_match: {kind: repeat}, equal: [ticket]}\n", "cc.yaml")
    hooks = Hooks("desk", "center", "duty")
    hooked_run(state_url, rules, [ticket("A")], at(6), hooks)
    assert [n.key for m in hooks.take()["duty"] for n in m.notifications] == ["A|response|escalate|1"]
    report = hooked_run(state_url, rules, [ticket("A")], at(7), hooks)
    assert dict(report.delivery) == {"sent": 1}
    (message,) = hooks.take()["duty"]
    assert [(n.key, n.kind) for n in message.notifications] == [("A|response|escalate|2", "repeat")]
    assert "A [escalate] URGENT provider partner-east stage dispatched" in message.body


def test_a_resolved_escalation_is_told_once_to_the_receivers_that_take_it(state_url: str) -> None:
    rules = parse_ruleset(HOOKED_YAML.replace("center: {hook: center}", "center: {hook: center, send_resolved: true}"), "cc.yaml")
    hooks = Hooks("desk", "center", "duty")
    hooked_run(state_url, rules, [ticket("A")], at(4), hooks)
    assert {name: [n.key for m in messages for n in m.notifications] for name, messages in hooks.take().items()} == {
        "center": ["A|response|red|1"],
        "desk": ["A|response|red|1"],
    }
    closed = ticket("A", status="resolved", status_history=[{"status": "open", "at": at(-0.5).isoformat()}, {"status": "resolved", "at": at(4, 20).isoformat()}])
    report = hooked_run(state_url, rules, [closed], at(4, 30), hooks)
    assert (report.enqueued, dict(report.delivery)) == (1, {"sent": 1})
    got = hooks.take()
    assert list(got) == ["center"]  # desk does not take resolved notifications
    (message,) = got["center"]
    assert [(n.key, n.kind) for n in message.notifications] == [("A|response|red|1|resolved", "resolved")]
    assert message.notify_type == "success"
    assert "red is over: ticket closed (status 'resolved')" in message.body and "provider partner-east" in message.body
    for now in (at(4, 30), at(5), at(8)):
        again = hooked_run(state_url, rules, [closed], now, hooks)
        assert (again.enqueued, hooks.take()) == (0, {})
    with Store(state_url) as store:
        assert {e.key: e.status for e in store.outbox_entries("A")} == {"A|response|red|1": "sent", "A|response|red|1|resolved": "sent"}


def test_audit_times_are_the_tickets_own_with_the_run_time_beside(state_url: str) -> None:
    history = [{"stage": "hotline", "entered_at": at(-0.5).isoformat()}, {"stage": "dispatched", "entered_at": T0.isoformat()}]
    onsite = [*history, {"stage": "onsite", "entered_at": at(4, 20).isoformat()}]
    statuses = [{"status": "open", "at": at(-0.5).isoformat()}]
    resolved = [*statuses, {"status": "resolved", "at": at(4, 50).isoformat()}]
    reopened = [*resolved, {"status": "open", "at": at(6, 40).isoformat()}]
    deliverer = RecordingDeliverer()
    run_at(state_url, [ticket("A", stage_history=history, status_history=statuses)], at(4), deliverer)
    run_at(state_url, [ticket("A", stage_history=onsite, status_history=statuses)], at(4, 30), deliverer)
    run_at(state_url, [ticket("A", stage_history=onsite, status="resolved", status_history=resolved)], at(5), deliverer)
    run_at(state_url, [ticket("A", stage_history=onsite, status_history=reopened)], at(7), deliverer)
    run_at(state_url, [ticket("A", stage_history=onsite, status="resolved")], at(8), deliverer)  # no status history: the run's time
    with Store(state_url) as store:
        entries = [(e.kind, hours(e.at), hours(e.recorded)) for e in store.history("A") if e.kind in ("new", "stage", "closed", "reopened", "left")]
        counted = store.transition_counts(at(4, 30), at(5, 1))
    assert entries == [
        ("new", -0.5, 4.0),  # the ticket's created_at
        ("stage", 4 + 20 / 60, 4.5),  # the new stage's entered_at
        ("left", 4.5, 4.5),
        ("closed", 4 + 50 / 60, 5.0),  # the status history's time of the terminal status
        ("reopened", 6 + 40 / 60, 7.0),
        ("closed", 8.0, 8.0),
    ]
    # Counts go by record time: what a run records late is counted in the period it was recorded.
    assert {(kind, count) for kind, _policy, _level, _provider, count in counted} >= {("stage", 1), ("closed", 1)}


def test_a_route_decision_is_the_provider_in_state_reports_and_notifications_and_conflicts_are_reported(
    state_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    routes = """\
  - name: red-to-backup
    when: {field: sla.level, eq: red}
    then: [{route: {provider: partner-backup}}]
  - name: east-stays-east
    when: {all: [{field: region, eq: east}, {field: sla.level, eq: red}]}
    then: [{route: {provider: partner-east}}]
receivers:
"""
    rules = parse_ruleset(HOOKED_YAML.replace("receivers:\n", routes, 1), "cc.yaml")
    hooks = Hooks("desk", "center", "duty")
    with caplog.at_level(logging.WARNING, logger="spm_rules.run"):
        report = hooked_run(state_url, rules, [ticket("A", region="east"), ticket("B", region="west")], at(4), hooks)
    conflict = {"ticket": "A", "rule": "east-stays-east", "provider": "partner-east", "assigned_by": "red-to-backup", "assigned": "partner-backup"}
    document = report.to_json()
    assert document["route_conflicts"] == [conflict] and document["tickets"]["route_conflicts"] == 1
    (warning,) = [r for r in caplog.records if r.getMessage() == "route conflict"]
    assert warning.fields == {"ticket": "A", "conflict": RouteConflict(**{k: v for k, v in conflict.items() if k != "ticket"}).describe()}  # type: ignore[attr-defined]
    (message,) = hooks.take()["center"]
    assert {n.ticket_id: (n.labels["provider"], n.labels["provider_reported"]) for n in message.notifications} == {
        "A": ("partner-backup", "partner-east"),
        "B": ("partner-backup", "partner-east"),
    }
    assert message.body.count("provider partner-backup") == 2
    with Store(state_url) as store:
        state = store.ticket("A")
        assert (state.provider, state.routed_to, state.assigned_provider) == ("partner-east", "partner-backup", "partner-backup")  # type: ignore[union-attr]
        assert store.escalation_counts() == [("response", "red", "partner-backup", 2)]
        assert {who for _kind, _policy, _level, who, _count in store.transition_counts(at(4), at(4, 1))} == {"partner-backup"}
        assert {labels["provider"] for labels in active_alert_labels(store)(at(4))} == {"partner-backup"}
        digest = ScheduleSpec.model_validate({"name": "digest", "cron": "0 * * * *", "timezone": "UTC", "action": "digest", "receivers": ["center"]})
        payload = schedule_notification(store, digest, at(4), at(4)).notification.payload
        assert {group["provider"] for level in payload["levels"] for group in level["providers"]} == {"partner-backup"}


def test_the_shipped_command_center_routes_notifies_and_groups_by_the_assigned_provider(state_url: str) -> None:
    """Through rulesets/enterprise-command-center.yaml and the example tickets, its receivers
    swapped for Python hooks: EC-1011 (no provider, region east) and EC-1005 (a core server)
    are routed, and every message, group and hook sees the provider the rules assigned."""
    text = (ROOT / "rulesets" / "enterprise-command-center.yaml").read_text(encoding="utf-8")
    for name in ("command-center", "partner-desk", "duty-manager"):
        text = text.replace(f'urls: ["console://{name}"]', f"hook: {name}")
    rules = parse_ruleset(text, "enterprise-command-center.yaml")
    tickets, problems = read_tickets([ROOT / "examples" / "enterprise-tickets.jsonl"], rules.ticket_timezone)
    assert problems == []
    hooks = Hooks("command-center", "partner-desk", "duty-manager")

    # 14:00, the README's instant: EC-1011 is red with partner-east's own EC-1002.
    report = hooked_run(state_url, rules, tickets, datetime.fromisoformat("2026-11-25T14:00:00+08:00"), hooks)
    routed = {t.ticket_id: (t.rule, t.detail.split(":")[0]) for t in report.transitions if t.kind == "routed"}
    assert routed == {
        "EC-1005": ("dispatch-request", "to 'maker-engineers'"),
        "EC-1006": ("dispatch-request", "to 'partner-north'"),
        "EC-1011": ("dispatch-request", "to 'partner-east'"),
    }
    got = hooks.take()
    for receiver in ("partner-desk", "command-center"):
        (message,) = got[receiver]
        # One message per partner and level (the routing tree's match_re provider partner-.*).
        assert (message.title, dict(message.group)) == ("2 × RED · partner-east", {"provider": "partner-east", "level": "red"})
        assert [(n.ticket_id, n.labels["provider"]) for n in message.notifications] == [("EC-1002", "partner-east"), ("EC-1011", "partner-east")]
        assert "EC-1011 [red] P4 Hangzhou Logistics: RAID controller offline\n  partner partner-east, dispatched due 2026-11-25 13:50 CST (used 4h10m of 4h)" in message.body
        assert "unassigned" not in message.body

    # 17:30: the core server escalates with the maker's engineers: urgent, with its due time.
    hooked_run(state_url, rules, tickets, datetime.fromisoformat("2026-11-25T17:30:00+08:00"), hooks)
    got = hooks.take()
    (duty,) = got["duty-manager"]
    assert "EC-1005 [escalate] URGENT provider maker-engineers stage dispatched\n  due 2026-11-25 15:25 CST (used 4h5m of 2h)" in duty.body
    assert "EC-1011 [escalate] URGENT provider partner-east stage dispatched" in duty.body
    assert {n.ticket_id: n.labels["provider"] for n in duty.notifications}["EC-1005"] == "maker-engineers"
    (north,) = [m for m in got["partner-desk"] if m.group.get("provider") == "partner-north"]
    assert (north.title, [n.ticket_id for n in north.notifications]) == ("RED EC-1006 Harbin Steel", ["EC-1006"])
    assert "partner partner-north, dispatched due 2026-11-25 16:45 CST" in north.body
    with Store(state_url) as store:
        assert [e.key for e in store.escalations_of("EC-1005")] == [("response", "escalate")]
        counts = {(policy, level, who): n for policy, level, who, n in store.escalation_counts()}
        assert counts[("response", "escalate", "maker-engineers")] == 1 and counts[("response", "red", "partner-north")] == 1
        assert [e.level for e in store.acknowledge("EC-1005", at(10), policy="response", level="escalate")] == ["escalate"]
