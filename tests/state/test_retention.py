"""Retention across a ticket's lives: a pruned ticket that comes back never reuses a key and
is not archived again under a new close time; a ticket that stops coming is closed after
``missing_tickets`` (and only then), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from spm_rules.cli import EXIT_OK, main
from spm_rules.events import sweep
from spm_rules.run import RunReport, run
from spm_rules.state.retention import SeenTickets
from spm_rules.state.store import Store
from spm_rules.tickets import Ticket
from tests.state.helpers import restore_spm_logger  # noqa: F401 (autouse fixture)
from tests.state.helpers import ROOT, RecordingDeliverer, at, ruleset, ticket

PRUNE = "retention: {closed_tickets: 2d}\n"
MISSING = "retention: {missing_tickets: 1d}\n"


def run_at(url: str, tickets: list[Ticket], now: datetime, deliverer: RecordingDeliverer, extra: str) -> RunReport:
    with Store(url) as store:
        return run(store, ruleset(extra), tickets, now, deliverer)


def kinds(url: str, ticket_id: str) -> list[str]:
    with Store(url) as store:
        return [entry.kind for entry in store.history(ticket_id) if entry.kind in ("new", "closed", "reopened", "entered", "left")]


def test_a_pruned_ticket_that_comes_back_open_is_reopened_and_never_reuses_a_key(state_url: str) -> None:
    deliverer = RecordingDeliverer()
    run_at(state_url, [ticket("A")], at(4), deliverer, PRUNE)
    run_at(state_url, [ticket("A", status="resolved")], at(5), deliverer, PRUNE)
    assert run_at(state_url, [], at(5 + 49), deliverer, PRUNE).pruned["tickets"] == 1
    first_life = deliverer.keys
    assert "A|response|red|1" in first_life

    back = ticket("A", dispatched=at(60))
    report = run_at(state_url, [back], at(64), deliverer, PRUNE)
    second_life = deliverer.keys[len(first_life) :]
    assert second_life == ["A|response|red|2"], "the second life's key goes on after the first's"
    assert [(t.kind, t.detail) for t in report.transitions if t.kind in ("new", "reopened")] == [
        ("reopened", "seen again after its closed state was pruned, with status 'open'")
    ]
    run_at(state_url, [back], at(64, 30), deliverer, PRUNE)
    assert deliverer.keys[-1] == "A|response|red|3"
    assert len(set(deliverer.keys)) == len(deliverer.keys)


def test_a_pruned_ticket_still_closed_in_the_tickets_is_not_archived_again(state_url: str) -> None:
    deliverer = RecordingDeliverer()
    run_at(state_url, [ticket("A"), ticket("B")], at(4), deliverer, PRUNE)
    resolved = [ticket("A", status="resolved", status_history=[{"status": "resolved", "at": at(4, 40).isoformat()}]), ticket("B")]
    run_at(state_url, resolved, at(5), deliverer, PRUNE)
    with Store(state_url) as store:
        assert store.ticket("A").closed_at == at(5)  # type: ignore[union-attr]
    assert run_at(state_url, resolved, at(5 + 49), deliverer, PRUNE).pruned["tickets"] == 1
    sent = len(deliverer.keys)
    for hours in (50, 51, 100):
        report = run_at(state_url, resolved, at(5 + hours), deliverer, PRUNE)
        assert [t for t in report.transitions if t.ticket_id == "A"] == []
    with Store(state_url) as store:
        assert [state.ticket_id for state in store.report_tickets(archived=True)] == []
        assert store.history("A") == []
    assert all(key.startswith("B|") for key in deliverer.keys[sent:])


def test_an_open_ticket_missing_from_the_tickets_is_closed_after_missing_tickets(state_url: str) -> None:
    deliverer = RecordingDeliverer()
    run_at(state_url, [ticket("A"), ticket("B")], at(4), deliverer, MISSING)
    assert run_at(state_url, [ticket("B")], at(5), deliverer, MISSING).missing_closed == 0
    with Store(state_url) as store:
        assert [esc.level for esc in store.escalations_of("A") if esc.is_open] == ["red"]

    report = run_at(state_url, [ticket("B")], at(4 + 25), deliverer, MISSING)
    assert report.missing_closed == 1 and report.to_json()["tickets"]["closed_missing"] == 1
    reason = f"missing from the tickets for more than 1d (not listed since {at(5).isoformat()})"
    assert [(t.kind, t.ticket_id, t.level, t.detail) for t in report.transitions if t.ticket_id == "A"] == [
        ("left", "A", "red", reason),
        ("closed", "A", None, reason),
    ]
    with Store(state_url) as store:
        assert store.ticket("A").archived and not any(esc.is_open for esc in store.escalations_of("A"))  # type: ignore[union-attr]
        assert [esc.ticket_id for esc, _ in store.open_escalations()] == ["B"]
    later = len(deliverer.keys)
    run_at(state_url, [ticket("B")], at(4 + 30), deliverer, MISSING)
    assert deliverer.keys[later:] and all(key.startswith("B|") for key in deliverer.keys[later:]), "no repeat for the closed ticket"

    run_at(state_url, [ticket("A", dispatched=at(40))], at(44), deliverer, MISSING)
    assert kinds(state_url, "A")[-3:] == ["closed", "reopened", "entered"]


def test_a_ticket_listed_unchanged_for_days_counts_as_missing_from_the_first_run_without_it(state_url: str) -> None:
    """A run that finds a ticket unchanged does not rewrite its row, so the row's last write
    says nothing of when the ticket was last listed: one run without it must not close it."""
    deliverer = RecordingDeliverer()
    onsite = ticket("A", stage_history=[{"stage": "hotline", "entered_at": at(-1).isoformat()}, {"stage": "onsite", "entered_at": at(0).isoformat()}])
    for hours in (4, 5, 29, 40):
        assert run_at(state_url, [onsite, ticket("B")], at(hours), deliverer, MISSING).missing_closed == 0
    with Store(state_url) as store:
        assert store.ticket("A").last_seen_at == at(4)  # type: ignore[union-attr]  # listed four times, written once
    assert run_at(state_url, [ticket("B")], at(41), deliverer, MISSING).missing_closed == 0
    assert run_at(state_url, [ticket("B")], at(41 + 23), deliverer, MISSING).missing_closed == 0
    report = run_at(state_url, [ticket("B")], at(41 + 24), deliverer, MISSING)
    assert [(t.kind, t.detail) for t in report.transitions if t.ticket_id == "A"] == [
        ("closed", f"missing from the tickets for more than 1d (not listed since {at(41).isoformat()})")
    ]


def test_a_ticket_listed_again_is_counted_afresh_when_it_goes_missing_again(state_url: str) -> None:
    deliverer = RecordingDeliverer()
    run_at(state_url, [ticket("A"), ticket("B")], at(4), deliverer, MISSING)
    run_at(state_url, [ticket("B")], at(5), deliverer, MISSING)             # missing since 5
    run_at(state_url, [ticket("A"), ticket("B")], at(20), deliverer, MISSING)  # back
    assert run_at(state_url, [ticket("B")], at(21), deliverer, MISSING).missing_closed == 0   # missing since 21
    assert run_at(state_url, [ticket("B")], at(30), deliverer, MISSING).missing_closed == 0   # 25 h after 5, 9 h after 21
    assert run_at(state_url, [ticket("B")], at(45), deliverer, MISSING).missing_closed == 1


def test_a_sweep_closes_no_ticket_as_missing(state_url: str) -> None:
    """A sweep reads only the tickets due, not the source: the others are not missing."""
    deliverer = RecordingDeliverer()
    onsite = ticket("A", stage_history=[{"stage": "hotline", "entered_at": at(-1).isoformat()}, {"stage": "onsite", "entered_at": at(0).isoformat()}])
    run_at(state_url, [onsite, ticket("B")], at(4), deliverer, MISSING)
    with Store(state_url) as store:
        report = sweep(store, ruleset(MISSING), at(4 + 48), deliverer)
    assert report.missing_closed == 0
    with Store(state_url) as store:
        assert not store.ticket("A").archived and store.ticket("A").closed_at is None  # type: ignore[union-attr]


def test_without_missing_tickets_a_ticket_that_stops_coming_stays_open(state_url: str) -> None:
    deliverer = RecordingDeliverer()
    run_at(state_url, [ticket("A"), ticket("B")], at(4), deliverer, "")
    assert run_at(state_url, [ticket("B")], at(4 + 24 * 30), deliverer, "").missing_closed == 0
    with Store(state_url) as store:
        assert sorted(esc.ticket_id for esc, _ in store.open_escalations()) == ["A", "B"]


def test_the_command_center_closes_a_ticket_its_export_dropped_a_week_ago(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The shipped ruleset declares ``missing_tickets: 7d``: the run says what it closed."""
    rules = str(ROOT / "rulesets" / "enterprise-command-center.yaml")
    state = f"sqlite:///{tmp_path / 'state.db'}"
    rows = (ROOT / "examples" / "enterprise-tickets.jsonl").read_text(encoding="utf-8").splitlines()
    feed = tmp_path / "feed.jsonl"
    feed.write_text("\n".join(rows) + "\n", encoding="utf-8")
    base = ["run", "--ruleset", rules, "--tickets", str(feed), "--state", state, "--no-deliver"]
    assert main([*base, "--at", "2026-11-25T14:00:00+08:00", "-q"]) == EXIT_OK
    feed.write_text("\n".join(row for row in rows if json.loads(row)["id"] != "EC-1001") + "\n", encoding="utf-8")
    assert main([*base, "--at", "2026-11-25T14:05:00+08:00", "-q"]) == EXIT_OK  # the first export without it
    capsys.readouterr()
    assert main([*base, "--at", "2026-11-30T14:00:00+08:00", "--format", "json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["tickets"]["closed_missing"] == 0
    moment = (datetime.fromisoformat("2026-11-25T14:05:00+08:00") + timedelta(days=7)).isoformat()
    assert main([*base, "--at", moment]) == EXIT_OK
    out = capsys.readouterr().out
    assert "1 closed after missing from the tickets (retention.missing_tickets)" in out
    assert "closed    EC-1001: missing from the tickets for more than 7d (not listed since 2026-11-25T06:05:00+00:00)" in out


def test_a_comeback_that_reaches_a_level_only_runs_later_still_gets_fresh_keys(state_url: str) -> None:
    """Found by the soak: the ticket comes back in a stage no policy measures, and is red hours later."""
    deliverer = RecordingDeliverer()
    run_at(state_url, [ticket("A")], at(4), deliverer, PRUNE)
    run_at(state_url, [ticket("A", status="resolved")], at(5), deliverer, PRUNE)
    run_at(state_url, [], at(5 + 49), deliverer, PRUNE)
    onsite = [{"stage": "hotline", "entered_at": at(-1).isoformat()}, {"stage": "onsite", "entered_at": at(60).isoformat()}]
    run_at(state_url, [ticket("A", stage_history=onsite)], at(60, 5), deliverer, PRUNE)
    back = [*onsite, {"stage": "dispatched", "entered_at": at(61).isoformat()}]
    run_at(state_url, [ticket("A", stage_history=back)], at(65), deliverer, PRUNE)
    assert deliverer.keys == ["A|response|red|1", "A|response|red|2"]


def test_the_tickets_a_run_read_are_never_missing_and_take_eight_bytes_each() -> None:
    seen = SeenTickets()
    for n in range(10_000):
        seen.add(f"T{n}")
    assert all(f"T{n}" in seen for n in range(0, 10_000, 7))
    assert not any(f"U{n}" in seen for n in range(1000))
    assert len(seen._digests) * seen._digests.itemsize == 80_000
