"""Incremental runs: a run that evaluates only the tickets new, changed or due gives exactly
what evaluating every ticket gives, through a simulated week of the shipped rulesets
(arrivals, stage changes, pauses, closures, reopenings, acknowledgements, time passing
levels and repeat intervals), and whatever the order of the tickets in the feed."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spm_rules.ruleset.loader import load_ruleset
from spm_rules.ruleset.schema import Ruleset
from spm_rules.run import RunReport, run
from spm_rules.sources.files import TicketReader
from spm_rules.state.store import Store
from tests.state.helpers import ROOT, RecordingDeliverer, snapshot

START = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)  # a Monday
ZONE = timezone(timedelta(hours=8))

#: (ruleset, stages in order, ticket id prefix, tiers, regions, whether tickets come without a provider)
PROCESSES = {
    "enterprise": ("rulesets/enterprise-command-center.yaml", ("hotline", "dispatched", "onsite"), "EC", ("P2", "P4", "P6"), ("north", "east", "south", "west")),
    "repair": ("rulesets/repair-network.yaml", ("request", "parts", "repair"), "RP", ("standard", "key-account"), ("north", "east")),
}


@dataclass
class Fleet:
    """A seeded fleet that lives through simulated time: every step some tickets arrive,
    advance a stage, pause for the customer, resume, close or reopen; the rest stay
    byte for byte the same (as a ticket system's export of an unchanged ticket does)."""

    process: str
    seed: int
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)

    def _stamp(self, when: datetime) -> str:
        return when.astimezone(ZONE).isoformat()

    def arrive(self, now: datetime) -> None:
        _, stages, prefix, tiers, regions = PROCESSES[self.process]
        pick = self.random
        created = now - timedelta(minutes=pick.randrange(0, 90))
        data: dict[str, Any] = {
            "id": f"{prefix}-{len(self.tickets) + 1:04d}",
            "tier": pick.choice(tiers),
            "status": "open",
            "created_at": self._stamp(created),
            "stage_history": [{"stage": stages[0], "entered_at": self._stamp(created)}],
            "status_history": [{"status": "open", "at": self._stamp(created)}],
            "region": pick.choice(regions),
            "customer": f"customer {pick.randrange(5)}",
            "product_line": pick.choice(("storage", "core-server", "pc")),
        }
        if pick.random() < 0.6:
            data["provider"] = f"partner-{data['region']}"
        self.tickets[data["id"]] = data

    def step(self, now: datetime) -> None:
        """Time passes to ``now``: tickets change, some arrive."""
        _, stages, *_ = PROCESSES[self.process]
        pick = self.random
        for data in self.tickets.values():
            roll = pick.random()
            status = data["status"]
            if status in ("resolved", "cancelled"):
                if roll < 0.03:
                    self._status(data, "open", now)
                continue
            if roll < 0.12:
                current = stages.index(data["stage_history"][-1]["stage"])
                if current + 1 < len(stages):
                    data["stage_history"].append({"stage": stages[current + 1], "entered_at": self._stamp(now - timedelta(minutes=pick.randrange(30)))})
            elif roll < 0.17:
                self._status(data, "waiting_customer" if status == "open" else "open", now)
            elif roll < 0.23:
                self._status(data, "resolved", now)
            elif roll < 0.25 and "provider" not in data:
                data["provider"] = "partner-backup"
        for _ in range(pick.randrange(4)):
            self.arrive(now)

    def _status(self, data: dict[str, Any], status: str, now: datetime) -> None:
        data["status"] = status
        data["status_history"].append({"status": status, "at": self._stamp(now - timedelta(minutes=self.random.randrange(20)))})

    def write(self, path: Path, order: list[int] | None = None) -> Path:
        rows = [json.dumps(data, ensure_ascii=False) for data in self.tickets.values()]
        if order is not None:
            rows = [rows[index] for index in order]
        path.write_text("".join(row + "\n" for row in rows), encoding="utf-8")
        return path


@dataclass
class Side:
    """One state database run one way (in full, or incrementally)."""

    url: str
    full: bool
    deliverer: RecordingDeliverer = field(default_factory=RecordingDeliverer)
    reports: list[RunReport] = field(default_factory=list)

    def run(self, rules: Ruleset, feed: Path, now: datetime, batch_size: int) -> RunReport:
        with Store(self.url) as store:
            report = run(store, rules, TicketReader(feed, ruleset=rules), now, self.deliverer, full=self.full, batch_size=batch_size)
        self.reports.append(report)
        return report

    def acknowledge(self, ticket_id: str, now: datetime) -> None:
        with Store(self.url) as store:
            store.acknowledge(ticket_id, now, by="test")

    def state(self) -> dict[str, list[str]]:
        with Store(self.url) as store:
            return snapshot(store)


def _outcome(report: RunReport) -> tuple[Any, ...]:
    return (report.evaluated, sorted(report.levels.items()), sorted(report.transition_counts.items()), report.enqueued, sorted(report.delivery.items()), report.stale)


@pytest.mark.parametrize("process", sorted(PROCESSES))
def test_a_simulated_week_gives_the_same_transitions_and_notifications_incrementally_as_in_full(process: str, tmp_path: Path) -> None:
    rules = load_ruleset(ROOT / PROCESSES[process][0])
    fleet = Fleet(process, seed=11)
    for _ in range(12):
        fleet.arrive(START)
    full = Side(f"sqlite:///{tmp_path / 'full.db'}", full=True)
    incremental = Side(f"sqlite:///{tmp_path / 'incremental.db'}", full=False)
    pace = random.Random(5)
    now = START
    while now < START + timedelta(days=7):
        feed = fleet.write(tmp_path / "feed.jsonl")
        for side in (full, incremental):
            side.run(rules, feed, now, batch_size=7)
        assert _outcome(full.reports[-1]) == _outcome(incremental.reports[-1]), now
        if pace.random() < 0.1:
            escalated = sorted(ticket for ticket, data in fleet.tickets.items() if data["status"] == "open")[:1]
            for side in (full, incremental):
                for ticket_id in escalated:
                    side.acknowledge(ticket_id, now)
        now += timedelta(minutes=pace.choice((20, 45, 60, 90, 150, 240)))
        if pace.random() < 0.5:
            fleet.step(now)

    assert full.state() == incremental.state()
    delivered = [(when, note.key, note.kind, note.receivers, json.dumps(note.payload, sort_keys=True, default=str)) for when, note in full.deliverer.calls]
    assert delivered == [(when, note.key, note.kind, note.receivers, json.dumps(note.payload, sort_keys=True, default=str)) for when, note in incremental.deliverer.calls]
    kinds = {kind for report in full.reports for kind in report.transition_counts}
    assert {"new", "entered", "left", "closed", "stage"} <= kinds
    assert any(note.kind == "repeat" for _, note in full.deliverer.calls), "the week has repeats"
    # Most runs found most tickets as they were and did not evaluate them again.
    assert sum(report.unchanged for report in incremental.reports) > sum(report.evaluated for report in incremental.reports) / 2
    assert all(report.unchanged == 0 for report in full.reports)


def test_an_unchanged_ticket_writes_nothing_and_a_later_level_is_still_reached(tmp_path: Path) -> None:
    """A ticket row is not rewritten by a run that finds it as it was; its next level is
    reached at the run after the instant it falls due, as a full evaluation reaches it."""
    rules = load_ruleset(ROOT / PROCESSES["enterprise"][0])
    fleet = Fleet("enterprise", seed=3)
    fleet.arrive(START)
    data = next(iter(fleet.tickets.values()))
    start = START.astimezone(ZONE).isoformat()
    data.update(
        tier="P2",
        provider="partner-east",
        created_at=start,
        stage_history=[{"stage": "hotline", "entered_at": start}, {"stage": "dispatched", "entered_at": start}],
        status_history=[{"status": "open", "at": start}],
    )
    feed = fleet.write(tmp_path / "feed.jsonl")
    side = Side(f"sqlite:///{tmp_path / 'state.db'}", full=False)
    side.run(rules, feed, START, batch_size=10)
    before = side.state()["tickets"]
    quiet = side.run(rules, feed, START + timedelta(minutes=30), batch_size=10)
    assert (quiet.unchanged, quiet.transition_counts) == (1, {})
    assert side.state()["tickets"] == before
    yellow = side.run(rules, feed, START + timedelta(hours=1, minutes=40), batch_size=10)
    assert (yellow.unchanged, yellow.transition_counts.get("entered")) == (0, 1)
    with Store(side.url) as store:
        assert [(esc.policy, esc.level) for esc in store.escalations_of(data["id"]) if esc.is_open] == [("response", "yellow")]
        assert store.last_run_at() == START + timedelta(hours=1, minutes=40)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(orders=st.lists(st.randoms(use_true_random=False), min_size=3, max_size=3), incremental=st.booleans())
def test_the_order_of_tickets_in_the_feed_does_not_change_the_outcome(orders: list[random.Random], incremental: bool, tmp_path_factory: pytest.TempPathFactory) -> None:
    rules = load_ruleset(ROOT / PROCESSES["enterprise"][0])
    folder = tmp_path_factory.mktemp("order")
    fleet = Fleet("enterprise", seed=23)
    for _ in range(9):
        fleet.arrive(START)
    plain = Side(f"sqlite:///{folder / 'plain.db'}", full=False)
    shuffled = Side(f"sqlite:///{folder / 'shuffled.db'}", full=not incremental)
    now = START
    for shuffle in orders:
        order = list(range(len(fleet.tickets)))
        shuffle.shuffle(order)
        plain.run(rules, fleet.write(folder / "plain.jsonl"), now, batch_size=4)
        shuffled.run(rules, fleet.write(folder / "shuffled.jsonl", order), now, batch_size=4)
        now += timedelta(hours=3)
        fleet.step(now)
    assert plain.state() == shuffled.state()
    assert sorted((note.key, note.receivers) for _, note in plain.deliverer.calls) == sorted((note.key, note.receivers) for _, note in shuffled.deliverer.calls)
