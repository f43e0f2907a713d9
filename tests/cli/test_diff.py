"""``spm-rules diff OLD NEW``: what a ruleset change does to the shipped example tickets,
as a reviewer reads it (table) and as CI reads it (JSON, exit code)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spm_rules.cli import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, main
from spm_rules.diff import diff_rulesets
from spm_rules.engine import Engine
from spm_rules.ruleset.loader import load_ruleset, parse_ruleset
from spm_rules.sources.files import TicketReader
from tests.state.helpers import ROOT

ENTERPRISE = ROOT / "rulesets" / "enterprise-command-center.yaml"
TICKETS = str(ROOT / "examples" / "enterprise-tickets.jsonl")
AT = "2026-11-25T14:00:00+08:00"
AT_UTC = datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc)
EXIT_CHANGED = 1


def changed(tmp_path: Path, old: str, new: str, base: Path = ENTERPRISE) -> str:
    """The ruleset ``base`` (the enterprise one) with ``old`` replaced by ``new`` (exactly once), as a file."""
    text = base.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path = tmp_path / "new.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return str(path)


def rows(text: str) -> list[list[str]]:
    """A printed table as its title, then its rows of cells (columns two or more spaces apart)."""
    lines = [line.rstrip() for line in text.splitlines()]
    return [[lines[0]]] + [re.split(r"\s{2,}", line.strip()) if line.startswith(" ") else re.split(r"\s{2,}", line) for line in lines[1:] if not line.startswith("─")]


def test_a_moved_threshold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = changed(tmp_path, "{name: red, at: 100%}", "{name: red, at: 110%}")
    assert main(["diff", str(ENTERPRISE), new, "--tickets", TICKETS, "--at", AT]) == EXIT_CHANGED
    found = rows(capsys.readouterr().out)
    assert found[0] == [f"{ENTERPRISE} → {new} at 2026-11-25 14:00 Asia/Shanghai: 2 of 11 tickets change"]
    assert found[1] == ["ticket", "what", "old", "new"]
    ticket = [
        ["level", "response: red", "response: yellow"],
        ["decision", "response-red [response/red]: notify command-center, partner-desk (every 30m)", "-"],
        ["decision", "response-red [response/red]: tag response-missed", "-"],
        ["decision", "-", "response-yellow [response/yellow]: notify partner-desk"],
        ["receivers", "response/red: command-center, partner-desk", "-"],
        ["receivers", "-", "response/yellow: partner-desk"],
    ]
    assert found[2:] == [["EC-1002", *ticket[0]], *ticket[1:], ["EC-1011", *ticket[0]], *ticket[1:]]

    assert main(["diff", str(ENTERPRISE), new, "--tickets", TICKETS, "--at", AT, "--format", "json"]) == EXIT_CHANGED
    document = json.loads(capsys.readouterr().out)
    assert (document["tickets"], document["changed"], document["at"], document["rejected"]) == (11, 2, "2026-11-25T06:00:00+00:00", [])
    first = document["changes"][0]
    assert first == {
        "ticket": "EC-1002",
        "levels": [{"policy": "response", "old": "red", "new": "yellow"}],
        "decisions": {
            "removed": ["response-red [response/red]: notify command-center, partner-desk (every 30m)", "response-red [response/red]: tag response-missed"],
            "added": ["response-yellow [response/yellow]: notify partner-desk"],
            "changed": [],
        },
        "provider": None,
        "receivers": [
            {"notification": "response/red", "old": ["command-center", "partner-desk"], "new": []},
            {"notification": "response/yellow", "old": [], "new": ["partner-desk"]},
        ],
    }


def test_a_changed_route_rule_and_a_changed_routing_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = changed(tmp_path, "    regions: [east]\n", "    regions: [east-coast]\n")
    new = changed(tmp_path, "    regions: [south]\n", "    regions: [south, east]\n", Path(new))
    assert main(["diff", str(ENTERPRISE), new, "--tickets", TICKETS, "--at", AT]) == EXIT_CHANGED
    assert rows(capsys.readouterr().out)[2:] == [
        ["EC-1011", "provider", "partner-east", "partner-south"],
        ["decision", "dispatch-request: route → partner-east (least_open)", "dispatch-request: route → partner-south (least_open)"],
    ]
    assert main(["diff", str(ENTERPRISE), new, "--tickets", TICKETS, "--at", AT, "--format", "json"]) == EXIT_CHANGED
    [change] = json.loads(capsys.readouterr().out)["changes"]
    assert change["provider"] == {"old": "partner-east", "new": "partner-south"}
    assert change["decisions"] == {"removed": [], "added": [], "changed": [{"old": "dispatch-request: route → partner-east (least_open)", "new": "dispatch-request: route → partner-south (least_open)"}]}

    tree = changed(tmp_path, '    - match_re: {provider: "partner-.*"}\n', '    - match_re: {provider: "partner-.*"}\n      receiver: duty-manager\n')
    assert main(["diff", str(ENTERPRISE), tree, "--tickets", TICKETS, "--at", AT]) == EXIT_CHANGED
    found = rows(capsys.readouterr().out)
    assert found[0] == [f"{ENTERPRISE} → {tree} at 2026-11-25 14:00 Asia/Shanghai: 2 of 11 tickets change"]
    wider = ["receivers", "response/red: command-center, partner-desk", "response/red: command-center, duty-manager, partner-desk"]
    assert found[2:] == [["EC-1002", *wider], ["EC-1011", *wider]]  # the escalated ones already reach the duty manager


def test_no_change_exits_0_and_bad_input_is_told_apart_from_a_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(ENTERPRISE), str(ENTERPRISE), "--tickets", TICKETS, "--at", AT]) == EXIT_OK
    assert capsys.readouterr().out == f"{ENTERPRISE} → {ENTERPRISE} at 2026-11-25 14:00 Asia/Shanghai: no change in levels, decisions, assignments or receivers for the 11 tickets\n"
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [", encoding="utf-8")
    assert main(["diff", str(ENTERPRISE), str(broken), "--tickets", TICKETS, "--at", AT]) == EXIT_USAGE
    assert "broken.yaml" in capsys.readouterr().err
    bad = tmp_path / "t.jsonl"
    bad.write_text(Path(TICKETS).read_text(encoding="utf-8") + '{"id": "BAD", "tier": "P4"}\n', encoding="utf-8")
    assert main(["diff", str(ENTERPRISE), str(ENTERPRISE), "--tickets", str(bad), "--at", AT, "--format", "json"]) == EXIT_PARTIAL
    captured = capsys.readouterr()
    assert json.loads(captured.out)["rejected"][0]["ticket_id"] == "BAD" and "BAD" in captured.err


@settings(max_examples=25, deadline=None)
@given(order=st.permutations(range(11)))
def test_what_changes_does_not_depend_on_the_ticket_order(order: list[int]) -> None:
    old = load_ruleset(ENTERPRISE)
    new = parse_ruleset(ENTERPRISE.read_text(encoding="utf-8").replace("{name: red, at: 100%}", "{name: red, at: 110%}"), "new.yaml")
    tickets = list(TicketReader(TICKETS, ruleset=old))
    straight = {c.ticket: c for c in diff_rulesets(Engine(old, "python"), Engine(new, "python"), tickets, AT_UTC).changes}
    shuffled = {c.ticket: c for c in diff_rulesets(Engine(old, "python"), Engine(new, "python"), [tickets[i] for i in order], AT_UTC).changes}
    assert straight == shuffled and set(straight) == {"EC-1002", "EC-1011"}
