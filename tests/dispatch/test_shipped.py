"""End to end through the shipped enterprise ruleset: every unassigned request of the
examples is dispatched to a declared provider, and every notification about a request
names the partner it is assigned to, in the text a person reads."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from spm_rules.cli import EXIT_OK, main
from spm_rules.ruleset.loader import parse_ruleset
from spm_rules.sources.files import read_tickets
from spm_rules.state.store import Store
from tests.test_run import Hooks, hooked_run

ROOT = Path(__file__).resolve().parents[2]
RECEIVERS = ("command-center", "partner-desk", "duty-manager")


def test_the_enterprise_ruleset_assigns_every_unassigned_request_and_names_its_partner(state_url: str) -> None:
    text = (ROOT / "rulesets" / "enterprise-command-center.yaml").read_text(encoding="utf-8")
    for name in RECEIVERS:
        text = text.replace(f'urls: ["console://{name}"]', f"hook: {name}")
    rules = parse_ruleset(text, str(ROOT / "rulesets" / "enterprise-command-center.yaml"))
    tickets, problems = read_tickets([ROOT / "examples" / "enterprise-tickets.jsonl"], rules.ticket_timezone)
    assert problems == []
    unassigned = {t.id for t in tickets if t.provider is None and t.status not in rules.terminal_statuses}
    assert unassigned == {"EC-1005", "EC-1006", "EC-1011"}
    hooks = Hooks(*RECEIVERS)
    start = datetime.fromisoformat("2026-11-25T14:00:00+08:00")
    messages = []
    for hours in range(0, 6):   # the afternoon: reds, repeats, escalations
        hooked_run(state_url, rules, tickets, start + timedelta(hours=hours), hooks)
        messages.extend(m for got in hooks.take().values() for m in got)
    with Store(state_url) as store:
        assigned = {ticket_id: store.ticket(ticket_id).assigned_provider for ticket_id in unassigned}  # type: ignore[union-attr]
        routed = {ticket_id: [t.detail for t in store.history(ticket_id) if t.kind == "routed"] for ticket_id in unassigned}
    assert assigned == {"EC-1005": "maker-engineers", "EC-1006": "partner-north", "EC-1011": "partner-east"}
    assert routed["EC-1005"] == [
        "to 'maker-engineers': rule 'dispatch-request': provider is missing [provider=missing: yes]; "
        "the only eligible provider"
    ]
    assert routed["EC-1011"] == ["to 'partner-east': rule 'dispatch-request': provider is missing [provider=missing: yes]; the only eligible provider"]
    notes = [(message, note) for message in messages for note in message.notifications if note.ticket_id is not None]
    assert {note.ticket_id for _, note in notes} >= {"EC-1005", "EC-1011"}
    by_ticket = {t.id: t.provider for t in tickets} | assigned
    for message, note in notes:
        partner = by_ticket[note.ticket_id]
        assert note.labels["provider"] == partner
        assert partner in message.title + message.body, (message.title, message.body)


def test_evaluate_says_which_partner_the_first_run_assigns_each_request_whatever_the_feed_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``spm-rules evaluate`` over the examples backwards tells the operator, ticket by
    ticket and in the same words, what the first ``spm-rules run`` records in history."""
    ruleset = str(ROOT / "rulesets" / "enterprise-command-center.yaml")
    rows = (ROOT / "examples" / "enterprise-tickets.jsonl").read_text(encoding="utf-8").splitlines()
    backwards = tmp_path / "backwards.jsonl"
    backwards.write_text("\n".join(reversed(rows)) + "\n", encoding="utf-8")
    at = "2026-11-25T14:00:00+08:00"
    assert main(["evaluate", "--ruleset", ruleset, "--tickets", str(backwards), "--at", at, "--format", "json"]) == EXIT_OK
    document = json.loads(capsys.readouterr().out)
    said = {
        item["ticket"]: f"to {decision['arguments']['provider']!r}: {decision['why']}"
        for item in document["tickets"]
        for decision in item["decisions"]
        if decision["action"] == "route"
    }
    state = f"sqlite:///{tmp_path / 'state.db'}"
    feed = str(ROOT / "examples" / "enterprise-tickets.jsonl")
    assert main(["run", "--ruleset", ruleset, "--tickets", feed, "--state", state, "--at", at, "--no-deliver", "-q"]) == EXIT_OK
    with Store(state) as store:
        recorded = {ticket_id: [t.detail for t in store.history(ticket_id) if t.kind == "routed"] for ticket_id in said}
    assert {"EC-1005", "EC-1006", "EC-1011"} <= set(said)
    assert recorded == {ticket_id: [text] for ticket_id, text in said.items()}
    assert said["EC-1006"].startswith("to 'partner-north': rule 'dispatch-request'")
