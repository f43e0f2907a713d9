"""SIGKILL at several points of a run: the next run loses no escalation, and only the
notifications in flight at the kill are delivered again, with the same idempotency key.

The killed run is a subprocess (``run_driver.py``) that wraps one function of the run to
kill itself there; the state it leaves is recovered by a normal run at the same instant
and compared, table by table, with a reference state that was never interrupted.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from spm_rules.run import run
from spm_rules.state.store import Store
from spm_rules.tickets import Ticket
from tests.state.helpers import RecordingDeliverer, at, ruleset, run_driver, snapshot, ticket, wait_for_aborted_sessions, write_ruleset, write_tickets

#: Twelve tickets: at 4:00 five are red, three at escalate, four yellow; at 4:30 repeats
#: fall due, one enters escalate and one enters red.
OFFSETS = (0, -20, -40, -60, -80, -100, -120, -140, -160, 60, 40, 10)
T1, T2, T3, T4 = at(4), at(4, 30), at(5), at(5, 30)
BATCH = ["--batch-size", "4", "--delivery-batch", "4"]


def crash_tickets() -> list[Ticket]:
    return [ticket(f"K{n:02d}", dispatched=at(minutes=offset)) for n, offset in enumerate(OFFSETS)]


def run_once(url: str, now: object, deliverer: RecordingDeliverer) -> None:
    with Store(url) as store:
        run(store, ruleset(), crash_tickets(), now, deliverer, batch_size=4, delivery_batch=4)  # type: ignore[arg-type]


def prepare_trial(url: str, folder: Path) -> tuple[Path, Path, str, RecordingDeliverer]:
    """A kill trial's start: the ruleset and tickets files in ``folder``, ``url`` and a
    reference SQLite state run at ``T1``, and what an undisturbed run at ``T2`` delivers."""
    reference_url = f"sqlite:///{folder / 'reference.db'}"
    rules = write_ruleset(folder / "cc.yaml")
    tickets = write_tickets(folder / "tickets.jsonl", crash_tickets())
    for target in (url, reference_url):
        run_once(target, T1, RecordingDeliverer())
    reference = RecordingDeliverer()
    run_once(reference_url, T2, reference)
    return rules, tickets, reference_url, reference


@pytest.mark.parametrize(
    "point, after, in_flight_expected",
    [
        ("after-evaluation", 2, 0),
        ("before-commit", 2, 0),
        ("after-commit", 1, 0),
        ("during-delivery", 3, 3),
        ("after-delivery", 1, 0),
    ],
)
def test_sigkill_loses_nothing_and_redelivers_only_what_was_in_flight(
    state_url: str, tmp_path: Path, point: str, after: int, in_flight_expected: int
) -> None:
    rules, tickets, reference_url, reference = prepare_trial(state_url, tmp_path)
    assert len(reference.keys) == 7 and len(set(reference.keys)) == 7

    log = tmp_path / "delivered.log"
    killed = run_driver(state_url, rules, tickets, T2, log, "--kill-at", point, "--kill-after", str(after), *BATCH)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    wait_for_aborted_sessions(state_url)
    before_kill = log.read_text().split() if log.exists() else []
    with Store(state_url) as store:
        unsettled = {entry.key for entry in store.outbox_entries() if entry.status in ("pending", "failed")}
    in_flight = set(before_kill) & unsettled
    assert len(in_flight) == in_flight_expected

    recovery = RecordingDeliverer()
    run_once(state_url, T2, recovery)
    everything = Counter(before_kill + recovery.keys)
    assert set(everything) == set(reference.keys), "a notification was lost or invented"
    assert {key for key, count in everything.items() if count > 1} == in_flight
    assert all(count <= 2 for count in everything.values())

    with Store(state_url) as store, Store(reference_url) as ref_store:
        assert snapshot(store) == snapshot(ref_store), "the recovered state differs from an uninterrupted run"

    for now in (T3, T4):
        later, expected = RecordingDeliverer(), RecordingDeliverer()
        run_once(state_url, now, later)
        run_once(reference_url, now, expected)
        assert later.keys == expected.keys and expected.keys
