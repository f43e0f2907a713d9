"""``spm-rules escalations``, ``outbox``, ``outbox retry`` and ``silences list`` as the
people on duty read them, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from spm_rules.cli import EXIT_INVALID, EXIT_OK, EXIT_USAGE, main, EXIT_UNDELIVERED
from spm_rules.state.store import Store
from tests.cli.test_runs import received
from tests.fixtures.servers import HttpServer
from tests.state.helpers import restore_spm_logger  # noqa: F401 (autouse fixture)
from tests.state.helpers import ROOT, RULESET_YAML, at, ticket, write_tickets

ENTERPRISE = str(ROOT / "rulesets" / "enterprise-command-center.yaml")
ENTERPRISE_TICKETS = str(ROOT / "examples" / "enterprise-tickets.jsonl")
KEY = "A|response|red|1"


def lines(text: str) -> list[str]:
    """Output lines without the padding rich adds to the right."""
    return [line.rstrip() for line in text.splitlines()]


def rows(text: str) -> list[list[str]]:
    """A printed table as its title, then its rows of cells (columns are two or more
    spaces apart; the rule under the header is left out)."""
    found = lines(text)
    return [[found[0]]] + [re.split(r"\s{2,}", line) for line in found[1:] if not line.startswith("─")]


def test_escalations_of_the_shipped_enterprise_run_oldest_first_with_next_repeat(state_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--ruleset", ENTERPRISE, "--tickets", ENTERPRISE_TICKETS, "--state", state_url, "--at", "2026-11-25T14:00:00+08:00", "--quiet"]) == EXIT_OK
    assert main(["ack", "EC-1002", "--by", "li.wei", "--state", state_url, "--at", "2026-11-25T14:20:00+08:00"]) == EXIT_OK
    capsys.readouterr()

    view = ["escalations", "--state", state_url, "--ruleset", ENTERPRISE, "--at", "2026-11-25T14:45:00+08:00"]
    assert main(view) == EXIT_OK
    assert rows(capsys.readouterr().out) == [
        ["5 open escalations at 2026-11-25 14:45 Asia/Shanghai"],
        ["opened", "age", "ticket", "policy/level", "provider", "acknowledged", "last sent", "next repeat"],
        ["2026-11-25 14:00", "45m", "EC-1001", "response/escalate", "partner-north", "-", "2026-11-25 14:00", "2026-11-25 15:00"],
        ["2026-11-25 14:00", "45m", "EC-1002", "response/red", "partner-east", "2026-11-25 14:20 by li.wei", "2026-11-25 14:00", "- (acknowledged)"],
        ["2026-11-25 14:00", "45m", "EC-1003", "response/escalate", "partner-south", "-", "2026-11-25 14:00", "2026-11-25 15:00"],
        ["2026-11-25 14:00", "45m", "EC-1010", "response/escalate", "partner-central", "-", "2026-11-25 14:00", "2026-11-25 15:00"],
        ["2026-11-25 14:00", "45m", "EC-1011", "response/red", "partner-east", "-", "2026-11-25 14:00", "2026-11-25 14:30 (due)"],
    ]

    assert main([*view, "--provider", "partner-east", "--level", "red", "--policy", "response", "--format", "json"]) == EXIT_OK
    document = json.loads(capsys.readouterr().out)
    assert document["at"] == "2026-11-25T06:45:00+00:00"
    assert [(e["ticket"], e["acknowledged"], e["acknowledged_by"], e["next_repeat_at"]) for e in document["escalations"]] == [
        ("EC-1002", True, "li.wei", None),
        ("EC-1011", False, None, "2026-11-25T06:30:00+00:00"),
    ]
    first = document["escalations"][0]
    assert (first["provider"], first["age"], first["age_seconds"], first["repeat_every"], first["notifications"]) == ("partner-east", "45m", 2700, "30m", 1)
    assert first["notified_to"] == ["command-center", "partner-desk"]

    assert main([*view, "--level", "yellow"]) == EXIT_OK
    assert capsys.readouterr().out == "no open escalations (level yellow)\n"


def test_escalations_shows_a_repeat_in_flight_and_times_in_the_zone_asked(state_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "cc.yaml"
    rules.write_text(RULESET_YAML, encoding="utf-8")
    write_tickets(tmp_path / "t.jsonl", [ticket("A"), ticket("B", tier="P2", provider="partner-west")])
    assert main(["run", "--ruleset", str(rules), "--tickets", str(tmp_path / "t.jsonl"), "--state", state_url, "--at", at(4).isoformat(), "--no-deliver", "--quiet"]) == EXIT_OK
    assert main(["escalations", "--state", state_url, "--timezone", "Asia/Shanghai", "--at", at(5).isoformat(), "--provider", "partner-west"]) == EXIT_OK
    title, _header, row = rows(capsys.readouterr().out)
    assert title == ["1 open escalation (provider partner-west) at 2026-11-25 21:00 Asia/Shanghai"]
    assert row == ["2026-11-25 20:00", "1h", "B", "response/escalate", "partner-west", "-", "-", "after the one in flight"]
    assert main(["escalations", "--state", state_url, "--timezone", "Mars/Olympus"]) == EXIT_USAGE
    assert "unknown IANA timezone 'Mars/Olympus'" in capsys.readouterr().err


def test_outbox_views_and_a_requeued_dead_letter_is_delivered_by_the_next_run(
    state_url: str, tmp_path: Path, http_server: HttpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    http_server.responses = [500, 500, 500, 500, 200]
    url = f"json://ops:s3cr3t-pw@127.0.0.1:{http_server.port}/"
    text = RULESET_YAML.replace("json://127.0.0.1:9/", url).replace("delivery: {max_attempts: 3, backoff: 1m, max_backoff: 10m, fallback_receiver: center}", "delivery: {max_attempts: 2, backoff: 1m}")
    (tmp_path / "cc.yaml").write_text(text, encoding="utf-8")
    write_tickets(tmp_path / "t.jsonl", [ticket("A")])
    run = ["run", "--ruleset", str(tmp_path / "cc.yaml"), "--tickets", str(tmp_path / "t.jsonl"), "--state", state_url, "--quiet"]
    view = ["outbox", "--state", state_url, "--timezone", "Asia/Shanghai"]

    assert main([*run, "--at", at(4).isoformat(), "--no-deliver"]) == EXIT_OK
    assert main([*view, "--pending", "--at", at(4).isoformat()]) == EXIT_OK
    assert rows(capsys.readouterr().out) == [
        ["1 notification pending at 2026-11-25 20:00 Asia/Shanghai"],
        ["key", "kind", "status", "ticket", "receivers", "attempts", "last error", "next attempt"],
        [KEY, "escalation", "pending", "A", "center, desk", "0", "-", "2026-11-25 20:00 (due)"],
    ]

    assert main([*run, "--at", at(4).isoformat()]) == EXIT_UNDELIVERED
    assert main([*view, "--failed", "--at", at(4).isoformat(), "--format", "json"]) == EXIT_OK
    [failed] = json.loads(capsys.readouterr().out)["notifications"]
    assert (failed["status"], failed["attempts"], failed["next_attempt_at"], failed["receivers"]) == ("failed", 1, "2026-11-25T12:01:00+00:00", ["center", "desk"])
    assert "error=500" in failed["last_error"] and "json://ops:***@" in failed["last_error"]
    assert main([*view, "--dead"]) == EXIT_OK
    assert capsys.readouterr().out == "no notifications dead\n"

    assert main([*run, "--at", at(4, 1).isoformat()]) == EXIT_UNDELIVERED
    assert main([*view, "--at", at(4, 1).isoformat()]) == EXIT_OK
    table = capsys.readouterr().out
    title, _header, row, *_folded = rows(table)
    assert title == ["1 notification pending or failed or dead at 2026-11-25 20:01 Asia/Shanghai"]
    assert row[:6] == [KEY, "escalation", "dead", "A", "center, desk", "2"]
    assert row[6].startswith("center json://ops:***@127.0.0.1:") and row[7] == "-"
    assert "s3cr3t" not in table

    assert main(["outbox", "retry", "NOPE", "--state", state_url]) == EXIT_INVALID
    assert capsys.readouterr().err == "error: NOPE: no such notification in the outbox\n"
    assert main(["outbox", "retry", "--state", state_url]) == EXIT_USAGE
    assert "give KEY… or --all-dead" in capsys.readouterr().err
    assert main(["outbox", "retry", KEY, "--by", "ops", "--state", state_url, "--at", at(4, 2).isoformat()]) == EXIT_OK
    assert capsys.readouterr().out.startswith(f"re-queued {KEY} (dead after 2 attempts: center json://ops:***@")
    assert main(["outbox", "retry", KEY, "--state", state_url]) == EXIT_INVALID
    assert capsys.readouterr().err == f"error: {KEY}: not a dead letter (status pending)\n"

    assert main([*run, "--at", at(4, 2).isoformat()]) == EXIT_OK
    assert [request.path for request in received(http_server, 6)][4:] in (["/center", "/desk"], ["/desk", "/center"])
    with Store(state_url) as store:
        [entry] = store.outbox_entries("A")
        history = store.history("A")
    assert (entry.status, entry.attempts, entry.delivered_to) == ("sent", 1, ("center", "desk"))
    requeued = [t for t in history if t.kind == "requeued"]
    assert len(requeued) == 1 and requeued[0].detail.startswith("dead letter re-queued by ops after 2 attempts; last error: center json://ops:***@")
    assert [t.kind for t in history][-2:] == ["requeued", "sent"]
    assert main(["outbox", "retry", "--all-dead", "--state", state_url]) == EXIT_OK
    assert capsys.readouterr().out == "no dead letters\n"
    assert main(view) == EXIT_OK
    assert capsys.readouterr().out == "no notifications pending or failed or dead\n"


def test_silences_list_as_a_table_and_json(state_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--state", state_url, "--at", "2026-11-25T14:00:00+08:00"]
    assert main(["silences", "add", 'provider="partner-east"', "--duration", "2h", "--comment", "east maintenance", "--by", "ops", *args]) == EXIT_OK
    first = capsys.readouterr().out.strip()
    assert main(["silences", "add", "level=yellow", "--starts", "2026-11-25T18:00:00+08:00", "--duration", "1h", "--comment", "quiet evening", *args]) == EXIT_OK
    second = capsys.readouterr().out.strip()

    assert main(["silences", "list", "--ruleset", ENTERPRISE, *args]) == EXIT_OK
    assert rows(capsys.readouterr().out) == [
        ["2 silences at 2026-11-25 14:00 Asia/Shanghai"],
        ["id", "state", "starts", "ends", "matchers", "comment", "by"],
        [first, "active", "2026-11-25 14:00", "2026-11-25 16:00", '{provider="partner-east"}', "east maintenance", "ops"],
        [second, "pending", "2026-11-25 18:00", "2026-11-25 19:00", '{level="yellow"}', "quiet evening", "-"],
    ]
    assert main(["silences", "list", "--format", "json", "--state", state_url, "--at", "2026-11-25T17:00:00+08:00"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out) == {
        "at": "2026-11-25T09:00:00+00:00",
        "silences": [
            {
                "id": second,
                "state": "pending",
                "starts_at": "2026-11-25T10:00:00+00:00",
                "ends_at": "2026-11-25T11:00:00+00:00",
                "matchers": ['level="yellow"'],
                "comment": "quiet evening",
                "created_by": None,
            }
        ],
    }
    assert main(["silences", "list", "--all", "--format", "json", "--state", state_url, "--at", "2026-11-25T17:00:00+08:00"]) == EXIT_OK
    assert [(s["id"], s["state"]) for s in json.loads(capsys.readouterr().out)["silences"]] == [(first, "ended"), (second, "pending")]
    assert main(["silences", "list", "--state", state_url, "--at", "2026-11-26T17:00:00+08:00"]) == EXIT_OK
    assert capsys.readouterr().out == "no silences in force or pending\n"
