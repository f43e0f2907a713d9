"""Four worker processes on one PostgreSQL state, on the same tickets, at the same instants:
every transition and every notification is acted on exactly once.

Two workers split the tickets (``--worker 1/2`` and ``2/2``) and two take every ticket,
so every ticket is contended by three workers; each starts at a different place of the
list.  The audit log and the delivered keys must equal those of one uninterrupted
single-worker run, entry for entry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from spm_rules.run import run
from spm_rules.state.store import Store
from spm_rules.tickets import Ticket
from tests.state.helpers import ROOT, RecordingDeliverer, at, ruleset, ticket, write_ruleset, write_tickets

pytestmark = pytest.mark.postgres

ROUNDS = [at(2), at(3), at(3, 30), at(4), at(4, 30), at(5), at(6), at(7)]
SLOTS = ["1/2", "2/2", "1/1", "1/1"]


def tickets_for(round_index: int) -> list[Ticket]:
    """Sixty tickets of two tiers; every seventh is resolved from round 4 on."""
    found = []
    for n in range(60):
        status = "resolved" if n % 7 == 0 and round_index >= 4 else "open"
        found.append(ticket(f"W{n:03d}", tier="P2" if n % 3 == 0 else "P4", status=status, dispatched=at(minutes=-6 * n)))
    return found


def audit(url: str) -> Counter[tuple[object, ...]]:
    with Store(url) as store:
        return Counter((e.at, e.kind, e.ticket_id, e.policy, e.level, e.rule, e.detail, e.key) for e in store.audit())


def test_four_workers_act_on_every_transition_exactly_once(postgres_url: str, tmp_path: Path) -> None:
    rules = write_ruleset(tmp_path / "cc.yaml")
    tickets_dir = tmp_path / "tickets"
    tickets_dir.mkdir()
    for index in range(len(ROUNDS)):
        write_tickets(tickets_dir / f"round-{index}.jsonl", tickets_for(index))
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    Store(postgres_url).close()  # migrate once, so the workers start on an existing schema

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    workers = []
    for k, slot in enumerate(SLOTS, 1):
        command = [
            sys.executable, str(Path(__file__).with_name("worker_driver.py")),
            "--state", postgres_url, "--ruleset", str(rules), "--tickets-dir", str(tickets_dir),
            "--rounds", ",".join(now.isoformat() for now in ROUNDS), "--name", str(k), "--peers", str(len(SLOTS)),
            "--barrier", str(barrier), "--log", str(tmp_path / f"delivered-{k}.log"), "--report", str(tmp_path / f"report-{k}.json"),
            "--worker", slot, "--rotate", str(15 * k),
        ]  # fmt: skip
        workers.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for process in workers:
        _, errors = process.communicate(timeout=180)
        assert process.returncode == 0, errors

    reference_url = f"sqlite:///{tmp_path / 'reference.db'}"
    reference = RecordingDeliverer()
    for index, now in enumerate(ROUNDS):
        with Store(reference_url) as store:
            run(store, ruleset(), tickets_for(index), now, reference)

    expected = audit(reference_url)
    assert sum(count for (_, kind, *_), count in expected.items() if kind in ("entered", "left", "closed", "notify")) > 100
    assert audit(postgres_url) == expected
    delivered = Counter(key for k in range(1, len(SLOTS) + 1) for key in (tmp_path / f"delivered-{k}.log").read_text().split())
    assert delivered == Counter(reference.keys), "a notification was delivered twice or never"

    reports = [json.loads((tmp_path / f"report-{k}.json").read_text()) for k in range(1, len(SLOTS) + 1)]
    acted = [sum(r["transitions"] for r in rounds) for rounds in reports]
    assert sum(acted) == sum(expected.values()) - sum(c for (_, kind, *_), c in expected.items() if kind in ("sent", "failed", "held", "dead", "suppressed"))
    assert sum(1 for count in acted if count) >= 2, f"only one worker did anything: {acted}"
    assert all(r["evaluated"] > 0 for rounds in reports for r in rounds)
