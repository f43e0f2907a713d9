"""Event mode: one ticket change at a time plus sweeps of what came due gives exactly what
full cron runs give, over a simulated week of the shipped command center."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from spm_rules.alerting import AlertPipeline, register_hook, unregister_hook
from spm_rules.alerting.receivers import AlertMessage
from spm_rules.engine import Engine
from spm_rules.events import due_tickets, process_event, sweep
from spm_rules.ruleset.loader import load_ruleset
from spm_rules.run import active_alert_labels, run
from spm_rules.state import tables
from spm_rules.state.store import Store
from spm_rules.testing.runner import CAPTURE_HOOK, capturing_ruleset
from spm_rules.tickets import Ticket
from tests.fixtures.processes import ROOT

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 23, 0, 0, tzinfo=SHANGHAI)  # a Monday
STEP = timedelta(hours=1)
HOURS = 7 * 24
REGIONS = ["north", "east", "south", "central", "west"]


@dataclass
class Story:
    """One ticket's week: what it is, and at which hour each change happens."""

    id: str
    tier: str
    region: str
    product_line: str
    customer: str
    changes: list[tuple[int, str, str]] = field(default_factory=list)  # (hour, stage|status, value)

    def at(self, hour: int) -> dict[str, Any] | None:
        """The ticket as the ticket system reports it at ``hour`` (None: not opened yet)."""
        seen = [change for change in self.changes if change[0] <= hour]
        if not seen:
            return None
        stages = [{"stage": value, "entered_at": (START + h * STEP).isoformat()} for h, kind, value in seen if kind == "stage"]
        statuses = [{"status": value, "at": (START + h * STEP).isoformat()} for h, kind, value in seen if kind == "status"]
        return {
            "id": self.id,
            "tier": self.tier,
            "region": self.region,
            "product_line": self.product_line,
            "customer": self.customer,
            "fault": "disk failure",
            "status": statuses[-1]["status"],
            "created_at": (START + seen[0][0] * STEP).isoformat(),
            "stage_history": stages,
            "status_history": statuses,
        }


def week(seed: int, count: int) -> list[Story]:
    """``count`` tickets opened over the week, dispatched, paused, on site and resolved at seeded hours."""
    rng = random.Random(seed)
    stories = []
    for number in range(count):
        opened = rng.randrange(0, HOURS - 24)
        story = Story(f"T{number:03d}", rng.choice(["P2", "P4", "P6"]), rng.choice(REGIONS), rng.choice(["rack", "rack", "core-server"]), f"Customer {number % 7}")
        story.changes += [(opened, "stage", "hotline"), (opened, "status", "open")]
        if rng.random() < 0.15:
            story.changes.append((opened + rng.randrange(0, 3), "status", "first_call_resolved"))
            stories.append(story)
            continue
        hour = opened + rng.randrange(0, 3)
        story.changes.append((hour, "stage", "dispatched"))
        if rng.random() < 0.3:
            hour += rng.randrange(1, 4)
            story.changes.append((hour, "status", "waiting_customer"))
            hour += rng.randrange(1, 6)
            story.changes.append((hour, "status", "open"))
        hour += rng.randrange(1, 12)
        story.changes.append((hour, "stage", "onsite"))
        if rng.random() < 0.8:
            story.changes.append((hour + rng.randrange(1, 30), "status", "resolved"))
        stories.append(story)
    return stories


class Capture:
    """Every message a receiver got: (instant, receiver, title, body)."""

    def __init__(self) -> None:
        self.now: datetime = START
        self.sent: list[tuple[str, str, str, str]] = []

    def __call__(self, message: AlertMessage) -> bool:
        self.sent.append((self.now.isoformat(), message.receiver, message.title, message.body))
        return True


@pytest.fixture
def capture() -> Iterator[Capture]:
    found = Capture()
    register_hook(CAPTURE_HOOK, found)
    yield found
    unregister_hook(CAPTURE_HOOK)


def _reported(stories: list[Story], hour: int) -> dict[str, dict[str, Any]]:
    return {story.id: found for story in stories if (found := story.at(hour)) is not None}


def _recorded(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """What a run leaves that a person or a later run reads: escalations, audit, outbox."""
    with store.engine.connect() as conn:
        escalations = sorted((tuple(row) for row in conn.execute(select(tables.escalations))), key=repr)
        audit = sorted((tuple(row)[1:] for row in conn.execute(select(tables.transitions))), key=repr)
        outbox = sorted((tuple(row) for row in conn.execute(select(tables.outbox))), key=repr)
        levels = sorted(((row.ticket_id, row.status, row.stage, row.levels, row.routed_to, row.next_change_at) for row in conn.execute(select(tables.tickets))), key=repr)
    return {"escalations": escalations, "audit": audit, "outbox": outbox, "tickets": levels}


def test_events_and_sweeps_give_what_cron_runs_give_over_a_week(tmp_path: Path, capture: Capture) -> None:
    ruleset = capturing_ruleset(load_ruleset(ROOT / "rulesets" / "enterprise-command-center.yaml"))
    engine = Engine(ruleset, "python")
    stories = week(14, 40)
    cron = Store(f"sqlite:///{tmp_path / 'cron.db'}")
    events = Store(f"sqlite:///{tmp_path / 'events.db'}")
    seen: list[list[tuple[str, str, str, str]]] = []
    swept = 0
    for store, mode in ((cron, "cron"), (events, "events")):
        capture.sent = []
        deliverer = AlertPipeline(ruleset, silences=store.active_silences, active_alerts=active_alert_labels(store))
        before: dict[str, dict[str, Any]] = {}
        for hour in range(HOURS):
            now = START + hour * STEP
            capture.now = now
            reported = _reported(stories, hour)
            if mode == "cron":
                # the source's export: open tickets, and those that closed since the last run
                current = [Ticket.model_validate(data) for key, data in reported.items() if data["status"] in ("open", "waiting_customer") or before.get(key) != data]
                run(store, ruleset, current, now, deliverer, engine=engine)
            else:
                for key, data in reported.items():
                    if before.get(key) != data:
                        outcome = process_event(store, ruleset, Ticket.model_validate(data), now, engine=engine)
                        assert outcome.plan is not None and outcome.result.ticket.id == key
                swept += sum(1 for _ in due_tickets(store, ruleset, now))
                sweep(store, ruleset, now, deliverer, engine=engine)
            before = reported
        seen.append(list(capture.sent))
    cron_sent, event_sent = seen
    assert len(cron_sent) > 50
    assert {receiver for _, receiver, _, _ in cron_sent} >= {"command-center", "partner-desk", "duty-manager"}
    assert any("REPEAT" in title.upper() or "ESCALATE" in title.upper() for _, _, title, _ in cron_sent)
    assert event_sent == cron_sent
    assert _recorded(events) == _recorded(cron)
    # a sweep re-read far fewer tickets than the cron runs evaluated
    assert 0 < swept < sum(len(_reported(stories, hour)) for hour in range(HOURS)) / 4
    cron.close()
    events.close()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(8)))
def test_the_order_of_events_at_one_instant_does_not_matter(order: list[int]) -> None:
    ruleset = load_ruleset(ROOT / "rulesets" / "enterprise-command-center.yaml")
    engine = Engine(ruleset, "python")
    stories = week(3, 8)
    hour = max(change[0] for story in stories for change in story.changes[:3])
    tickets = [Ticket.model_validate(found) for story in stories if (found := story.at(hour)) is not None]
    recorded = []
    for sequence in (range(len(tickets)), [i for i in order if i < len(tickets)]):
        with Store("sqlite://") as store:
            for index in sequence:
                process_event(store, ruleset, tickets[index], START + hour * STEP + STEP * 3, engine=engine)
            recorded.append(_recorded(store))
    assert recorded[0]["outbox"] and recorded[0] == recorded[1]

