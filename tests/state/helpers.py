"""Shared material for the stateful-run tests: a small ruleset with exact timings, ticket
builders, an in-process deliverer, and a snapshot of a state database.

The ruleset ``cc-test`` mirrors the enterprise command center with round numbers: tier
P4 has a 4 h response target in stage ``dispatched``; yellow at 75 % (3 h), red at 100 %
(4 h, notify center+desk, repeat 30 m), escalate 2 h after due (6 h, notify duty,
repeat 1 h, urgent).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest

from sqlalchemy import select, text

from spm_rules.notifications import DeliveryOutcome, Notification
from spm_rules.ruleset.loader import parse_ruleset
from spm_rules.ruleset.schema import Ruleset
from spm_rules.state import tables
from spm_rules.state.store import Store
from spm_rules.tickets import Ticket

__all__ = [
    "RULESET_YAML",
    "T0",
    "ruleset",
    "ticket",
    "write_tickets",
    "write_ruleset",
    "RecordingDeliverer",
    "snapshot",
    "at",
    "run_driver",
    "restore_spm_logger",
    "wait_for_aborted_sessions",
    "ROOT",
]

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("run_driver.py")

#: Dispatch time of the test tickets: Wednesday 2026-11-25 08:00 UTC.
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)

RULESET_YAML = """\
version: 1
name: cc-test
tiers:
  P2: {response: 2h}
  P4: {response: 4h}
stages: [hotline, dispatched, onsite]
terminal_statuses: [resolved, cancelled]
pausing_statuses: [waiting_customer]
policies:
  - name: response
    targets: {dispatched: response}
    levels:
      - {name: yellow, at: 75%}
      - {name: red, at: 100%}
      - {name: escalate, after_due: 2h, urgent: true}
rules:
  - name: yellow-desk
    when: {field: sla.level, eq: yellow}
    then: [{notify: [desk]}]
  - name: red-center
    when: {field: sla.level, eq: red}
    then:
      - notify: {receivers: [center, desk], repeat: 30m}
      - tag: response-missed
  - name: escalate-duty
    when: {field: sla.level, eq: escalate}
    then:
      - escalate: {to: partner-manager, level: L2}
      - notify: {receivers: [duty], repeat: 1h}
  - name: route-north
    when: {all: [{field: provider, present: false}, {field: region, eq: north}]}
    then: [{route: {provider: partner-north}}]
receivers:
  desk: {urls: ["json://127.0.0.1:9/desk"]}
  center: {urls: ["json://127.0.0.1:9/center"]}
  duty: {urls: ["json://127.0.0.1:9/duty"]}
delivery: {max_attempts: 3, backoff: 1m, max_backoff: 10m, fallback_receiver: center}
"""


@lru_cache(maxsize=None)
def ruleset(extra: str = "") -> Ruleset:
    """The ``cc-test`` ruleset, with ``extra`` YAML appended (schedules, retention…); parsed once per text."""
    return parse_ruleset(RULESET_YAML + extra, "cc-test.yaml")


def write_ruleset(path: Path, extra: str = "") -> Path:
    """Write the ``cc-test`` ruleset (plus ``extra``) to ``path``."""
    path.write_text(RULESET_YAML + extra, encoding="utf-8")
    return path


def at(hours: float = 0, minutes: float = 0) -> datetime:
    """``T0`` plus an offset: the simulated clock of the tests."""
    return T0 + timedelta(hours=hours, minutes=minutes)


def ticket(ticket_id: str, *, tier: str = "P4", status: str = "open", dispatched: datetime = T0, **fields: Any) -> Ticket:
    """A ticket that entered ``dispatched`` at ``dispatched`` (after 30 min on the hotline)."""
    history = fields.pop("stage_history", None) or [
        {"stage": "hotline", "entered_at": (dispatched - timedelta(minutes=30)).isoformat()},
        {"stage": "dispatched", "entered_at": dispatched.isoformat()},
    ]
    data = {"id": ticket_id, "tier": tier, "status": status, "created_at": history[0]["entered_at"], "stage_history": history, "provider": "partner-east"}
    data.update(fields)
    return Ticket.model_validate(data)


def write_tickets(path: Path, tickets: Iterable[Ticket]) -> Path:
    """Write tickets as JSON Lines (what ``--tickets`` and the drivers read)."""
    with path.open("w", encoding="utf-8") as handle:
        for item in tickets:
            handle.write(item.model_dump_json(exclude_none=True) + "\n")
    return path


@dataclass
class RecordingDeliverer:
    """A deliverer that records every notification it is handed (the callable-receiver pattern).

    ``answer`` decides each outcome (default: sent).
    """

    answer: Callable[[Notification, datetime], DeliveryOutcome] = lambda note, now: DeliveryOutcome(note.key, "sent")
    calls: list[tuple[datetime, Notification]] = field(default_factory=list)

    def deliver(self, notifications: Iterable[Notification], now: datetime) -> list[DeliveryOutcome]:
        batch = list(notifications)
        self.calls.extend((now, note) for note in batch)
        return [self.answer(note, now) for note in batch]

    @property
    def keys(self) -> list[str]:
        """Keys delivered, in order."""
        return [note.key for _, note in self.calls]

    def take(self) -> list[tuple[datetime, str, str, tuple[str, ...]]]:
        """(time, key, kind, receivers) of everything delivered since the last take, then forget it."""
        taken: list[tuple[datetime, str, str, tuple[str, ...]]] = [(now, note.key, note.kind, note.receivers) for now, note in self.calls]
        self.calls.clear()
        return taken


@pytest.fixture(autouse=True)
def restore_spm_logger() -> Iterator[None]:
    """The CLI configures the ``spm_rules`` logger; give the next test the logger as it was.

    Autouse in every test module that imports it.
    """
    logger = logging.getLogger("spm_rules")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


def snapshot(store: Store, *, skip: tuple[str, ...] = ("leases", "schema_migrations")) -> dict[str, list[str]]:
    """Every row of every state table (except ``skip``), as sorted JSON text: equal snapshots, equal state.

    Row ids are left out, so states built by different runs (or databases) compare by content.
    """
    found: dict[str, list[str]] = {}
    with store.engine.connect() as conn:
        for table in tables.metadata.sorted_tables:
            if table.name in skip:
                continue
            rows = conn.execute(select(table)).mappings()
            found[table.name] = sorted(json.dumps({k: v for k, v in row.items() if k != "id"}, default=str, sort_keys=True) for row in rows)
    return found


def run_driver(state_url: str, rules: Path, tickets: Path, now: datetime, log: Path, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``run_driver.py`` (one run in a new process); ``extra`` are more driver options."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, str(DRIVER), "--state", state_url, "--ruleset", str(rules), "--tickets", str(tickets), "--at", now.isoformat(), "--log", str(log), *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def wait_for_aborted_sessions(url: str, timeout: float = 10.0) -> None:
    """On PostgreSQL, wait until no session of a killed process still holds a transaction open.

    Only this test's sessions count (``application_name`` is the test's schema, see
    ``tests.fixtures.database``): other test runs may share the server.

    A SIGKILLed client's backend notices the closed socket and rolls back almost at once;
    waiting for it keeps the next run from skipping rows that are still locked.
    """
    if not url.startswith("postgresql"):
        return
    name = dict(parse_qsl(urlsplit(url).query)).get("application_name", "")
    deadline = time.monotonic() + timeout
    with Store(url) as store, store.engine.connect() as conn:
        while time.monotonic() < deadline:
            busy = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND application_name = :name AND state LIKE 'idle in transaction%'"
                ),
                {"name": name},
            ).scalar()
            conn.rollback()
            if not busy:
                return
            time.sleep(0.05)
    raise AssertionError("a killed run's transaction is still open")
