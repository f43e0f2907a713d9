"""Retention across a ticket's lives: a pruned ticket that comes back never reuses a key and
is not archived again under a new close time; a ticket that stops coming is closed after
``missing_tickets`` (and only then), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spm_rules.cli import EXIT_OK, main
from spm_rules.events import sweep
from spm_rules.run import RunReport, run
from spm_rules.sources.files import TicketReader
from spm_rules.state.retention import SeenTickets
from spm_rules.state.store import Store
from spm_rules.tickets import Ticket
from tests.state.helpers import restore_spm_logger  # noqa: F401 (autouse fixture)
from tests.state.helpers import ROOT, RecordingDeliverer, at, ruleset, ticket, write_tickets

PRUNE = "retention: {closed_tickets: 2d}\n"
MISSING = "retention: {missing_tickets: 1d}\n"


def run_at(url: str, tickets: list[Ticket], now: datetime, deliverer: RecordingDeliverer, extra: str, listing: str = "objects") -> RunReport:
    """One run of ``tickets``, handed over as ``listing`` says: ``objects`` (Ticket models)
    or ``file`` (JSON Lines read by a TicketReader, as cron's runs read them, where the
    missing-ticket record counts the open tickets listed from their marks)."""
    rules = ruleset(extra)
    with Store(url) as store:
        if listing == "objects":
            return run(store, rules, tickets, now, deliverer)
        with tempfile.TemporaryDirectory() as folder:
            feed = write_tickets(Path(folder) / "tickets.jsonl", tickets)
            return run(store, rules, TicketReader(str(feed), ruleset=rules), now, deliverer)


@pytest.fixture(params=["objects", "file"])
def listing(request: pytest.FixtureRequest) -> str:
    """How the missing-ticket tests hand their tickets over (see ``run_at``)."""
    return str(request.param)


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


def test_an_open_ticket_missing_from_the_tickets_is_closed_after_missing_tickets(state_url: str, listing: str) -> None:
    deliverer = RecordingDeliverer()
    run_at(state_url, [ticket("A"), ticket("B")], at(4), deliverer, MISSING, listing)
    assert run_at(state_url, [ticket("B")], at(5), deliverer, MISSING, listing).missing_closed == 0
    with Store(state_url) as store:
        assert [esc.level for esc in store.escalations_of("A") if esc.is_open] == ["red"]

    report = run_at(state_url, [ticket("B")], at(4 + 25), deliverer, MISSING, listing)
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
    run_at(state_url, [ticket("B")], at(4 + 30), deliverer, MISSING, listing)
    assert deliverer.keys[later:] and all(key.startswith("B|") for key in deliverer.keys[later:]), "no repeat for the closed ticket"

    run_at(state_url, [ticket("A", dispatched=at(40))], at(44), deliverer, MISSING, listing)
    assert kinds(state_url, "A")[-3:] == ["closed", "reopened", "entered"]


def test_a_ticket_listed_unchanged_for_days_counts_as_missing_from_the_first_run_without_it(state_url: str, listing: str) -> None:
    """A run that finds a ticket unchanged does not rewrite its row, so the row's last write
    says nothing of when the ticket was last listed: one run without it must not close it."""
    deliverer = RecordingDeliverer()
    onsite = ticket("A", stage_history=[{"stage": "hotline", "entered_at": at(-1).isoformat()}, {"stage": "onsite", "entered_at": at(0).isoformat()}])
    for hours in (4, 5, 29, 40):
        assert run_at(state_url, [onsite, ticket("B")], at(hours), deliverer, MISSING, listing).missing_closed == 0
    with Store(state_url) as store:
        assert store.ticket("A").last_seen_at == at(4)  # type: ignore[union-attr]  # listed four times, written once
    assert run_at(state_url, [ticket("B")], at(41), deliverer, MISSING, listing).missing_closed == 0
    assert run_at(state_url, [ticket("B")], at(41 + 23), deliverer, MISSING, listing).missing_closed == 0
    report = run_at(state_url, [ticket("B")], at(41 + 24), deliverer, MISSING, listing)
    assert [(t.kind, t.detail) for t in report.transitions if t.ticket_id == "A"] == [
        ("closed", f"missing from the tickets for more than 1d (not listed since {at(41).isoformat()})")
    ]


def test_a_ticket_listed_again_is_counted_afresh_when_it_goes_missing_again(state_url: str, listing: str) -> None:
    deliverer = RecordingDeliverer()
    run_at(state_url, [ticket("A"), ticket("B")], at(4), deliverer, MISSING, listing)
    run_at(state_url, [ticket("B")], at(5), deliverer, MISSING, listing)             # missing since 5
    run_at(state_url, [ticket("A"), ticket("B")], at(20), deliverer, MISSING, listing)  # back
    assert run_at(state_url, [ticket("B")], at(21), deliverer, MISSING, listing).missing_closed == 0   # missing since 21
    assert run_at(state_url, [ticket("B")], at(30), deliverer, MISSING, listing).missing_closed == 0   # 25 h after 5, 9 h after 21
    assert run_at(state_url, [ticket("B")], at(45), deliverer, MISSING, listing).missing_closed == 1


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


def test_a_run_that_lists_every_open_ticket_reads_no_open_ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A listing that holds every open ticket is known from the marks the run reads anyway:
    the missing-ticket record then needs no pass over the open ids (a million at scale)."""
    asked: list[bool] = []
    close_missing = Store.close_missing

    def spy(self: Store, *args: Any, **kwargs: Any) -> Any:
        asked.append(kwargs.get("all_listed", False))
        return close_missing(self, *args, **kwargs)

    monkeypatch.setattr(Store, "close_missing", spy)
    url = f"sqlite:///{tmp_path / 'state.db'}"
    deliverer = RecordingDeliverer()
    run_at(url, [ticket("A"), ticket("B")], at(4), deliverer, MISSING, "file")
    run_at(url, [ticket("A"), ticket("B", dispatched=at(1))], at(5), deliverer, MISSING, "file")  # B changed, A unchanged
    run_at(url, [ticket("B", dispatched=at(1))], at(6), deliverer, MISSING, "file")  # A left out
    run_at(url, [ticket("B", dispatched=at(1))], at(7), deliverer, MISSING, "objects")  # no marks counted
    assert asked == [True, True, False, False]
    assert run_at(url, [ticket("B", dispatched=at(1))], at(6 + 24), deliverer, MISSING, "file").missing_closed == 1


FORMS = {"same": {}, "moved": {"dispatched": at(1)}, "resolved": {"status": "resolved"}}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(*[st.sampled_from(["absent", *FORMS]) for _ in "ABCD"]), min_size=2, max_size=6))
def test_counting_the_listed_open_tickets_records_the_same_absences_as_reading_their_ids(listings: list[tuple[str, ...]]) -> None:
    """Runs 13 hours apart list each ticket or leave it out, unchanged, changed or resolved:
    read from a file (the open tickets listed counted from their marks) and handed over as
    models (every open id read), they close the same tickets with the same reasons."""
    with tempfile.TemporaryDirectory() as folder:
        histories: dict[str, list[list[tuple[Any, ...]]]] = {}
        for listing in ("objects", "file"):
            url = f"sqlite:///{Path(folder) / f'{listing}.db'}"
            deliverer = RecordingDeliverer()
            histories[listing] = []
            for index, forms in enumerate(listings):
                listed = [ticket(name, **FORMS[form]) for name, form in zip("ABCD", forms) if form != "absent"]
                report = run_at(url, listed, at(4 + 13 * index), deliverer, MISSING, listing)
                histories[listing].append(sorted((t.kind, t.ticket_id, t.policy, t.level, t.detail) for t in report.transitions))
        assert histories["file"] == histories["objects"]
