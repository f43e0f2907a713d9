"""``--format json`` is exactly one JSON document on standard output, for every command that
has it, run as cron runs it (a separate process) with the shipped rulesets and example
tickets; what a person reads (console:// notifications, logs, progress) is on standard error."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import click
import pytest
from rich.console import Console

from spm_rules.cli import EXIT_OK, cli, main
from spm_rules.cli import render
from spm_rules.cli.runs import RunProgress
from tests.fixtures.processes import ROOT, python
AT = "2026-11-25T14:00:00+08:00"

#: (ruleset, example tickets, a ticket the run notifies about, a line its console:// receivers print)
SHIPPED = {
    "enterprise": (
        "rulesets/enterprise-command-center.yaml",
        "examples/enterprise-tickets.jsonl",
        "EC-1002",
        "──────── → command-center · warning: 2 × RED · partner-east ────────",
    ),
    "repair": (
        "rulesets/repair-network.yaml",
        "examples/repair-tickets.jsonl",
        "RP-2001",
        "──────── → station · warning: 维修提醒 station-beijing-03：1 张工单 ────────",
    ),
}

#: The commands whose output these tests hold to one JSON document (``schema`` has no --format: it is always JSON).
JSON_COMMANDS = {"run", "evaluate", "history", "schedule", "status", "report scorecard", "escalations", "outbox", "silences list", "routes show", "explain", "diff", "test", "providers"}


def spm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``spm-rules ARGS`` in a new process, as cron runs it (stdout and stderr piped apart)."""
    return python("-m", "spm_rules", *args, cwd=cwd, check=False)


def document(result: subprocess.CompletedProcess[str]) -> dict:
    """Standard output parsed as exactly one JSON document, checked also by ``python -m json.tool``."""
    assert result.returncode == EXIT_OK, result.stderr
    tool = python("-m", "json.tool", stdin=result.stdout, check=False)
    assert tool.returncode == 0, f"not JSON: {tool.stderr.strip()}; stdout began {result.stdout[:120]!r}"
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_run_and_history_json_are_the_whole_stdout_and_notifications_go_to_stderr(name: str, tmp_path: Path) -> None:
    ruleset, tickets, ticket, headline = (str(ROOT / part) if index < 2 else part for index, part in enumerate(SHIPPED[name]))
    state = f"sqlite:///{tmp_path / 'state.db'}"
    result = spm("run", "--ruleset", ruleset, "--tickets", tickets, "--state", state, "--at", AT, "--format", "json", cwd=tmp_path)
    report = document(result)
    assert report["notifications"]["sent"] >= 1 and report["tickets"]["rejected"] == 0
    assert headline in result.stderr  # the person at the terminal still reads the notification
    assert "run done" in result.stderr  # and the log line

    history = document(spm("history", ticket, "--state", state, "--format", "json", cwd=tmp_path))
    assert history["ticket"] == ticket and "sent" in history["notifications"].values()


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_evaluate_and_schedule_json_are_the_whole_stdout(name: str, tmp_path: Path) -> None:
    ruleset, tickets = (str(ROOT / part) for part in SHIPPED[name][:2])
    evaluated = document(spm("evaluate", "--ruleset", ruleset, "--tickets", tickets, "--at", AT, "--format", "json", cwd=tmp_path))
    assert SHIPPED[name][2] in {entry["ticket"] for entry in evaluated["tickets"]}
    compared = document(spm("diff", ruleset, ruleset, "--tickets", tickets, "--at", AT, "--format", "json", cwd=tmp_path))
    assert compared["changed"] == 0 and compared["tickets"] == len(evaluated["tickets"])
    scheduled = document(spm("schedule", "--ruleset", ruleset, "--at", AT, "--next", "2", "--format", "json", cwd=tmp_path))
    assert scheduled["schedules"] and all(len(entry["next"]) == 2 for entry in scheduled["schedules"])


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_status_json_is_the_whole_stdout(name: str, tmp_path: Path) -> None:
    ruleset, tickets, ticket = (str(ROOT / part) if index < 2 else part for index, part in enumerate(SHIPPED[name][:3]))
    state = f"sqlite:///{tmp_path / 'state.db'}"
    assert spm("run", "--ruleset", ruleset, "--tickets", tickets, "--state", state, "--at", AT, "--no-deliver", "--quiet", cwd=tmp_path).returncode == EXIT_OK
    view = document(spm("status", ticket, "--ruleset", ruleset, "--state", state, "--at", AT, "--format", "json", cwd=tmp_path))
    assert view["ticket"] == ticket and view["situation"] == "on_track" and not view["sms"]["truncated"]


def test_report_scorecard_json_is_the_whole_stdout(tmp_path: Path) -> None:
    ruleset, tickets = (str(ROOT / part) for part in SHIPPED["enterprise"][:2])
    state = f"sqlite:///{tmp_path / 'state.db'}"
    assert spm("run", "--ruleset", ruleset, "--tickets", tickets, "--state", state, "--at", AT, cwd=tmp_path).returncode == EXIT_OK
    card = document(spm("report", "scorecard", "--ruleset", ruleset, "--state", state, "--since", "2026-11-25", "--until", "2026-11-26", "--format", "json", cwd=tmp_path))
    # EC-1009, solved on the first call, is the one request of the examples closed that day.
    assert (card["total"]["tickets"], card["total"]["first_call"]["rate"], card["groups"][0]["group"]) == (1, 1.0, None)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_state_views_and_routes_show_json_are_the_whole_stdout(name: str, tmp_path: Path) -> None:
    ruleset, tickets = (str(ROOT / part) for part in SHIPPED[name][:2])
    state = f"sqlite:///{tmp_path / 'state.db'}"
    assert spm("run", "--ruleset", ruleset, "--tickets", tickets, "--state", state, "--at", AT, "--no-deliver", "--quiet", cwd=tmp_path).returncode == EXIT_OK
    escalations = document(spm("escalations", "--state", state, "--at", AT, "--format", "json", cwd=tmp_path))
    assert SHIPPED[name][2] in {entry["ticket"] for entry in escalations["escalations"]}
    pending = document(spm("outbox", "--pending", "--state", state, "--format", "json", cwd=tmp_path))
    assert {entry["ticket"] for entry in pending["notifications"]} >= {SHIPPED[name][2]}
    assert document(spm("silences", "list", "--state", state, "--format", "json", cwd=tmp_path))["silences"] == []
    assert document(spm("routes", "show", "--ruleset", ruleset, "--format", "json", cwd=tmp_path))["route"]["path"] == "route"
    explained = document(spm("explain", SHIPPED[name][2], "--ruleset", ruleset, "--tickets", tickets, "--state", state, "--at", AT, "--format", "json", cwd=tmp_path))
    assert explained["ticket"]["ticket"] == SHIPPED[name][2] and explained["state"]["seen"]


def test_ruleset_tests_json_is_the_whole_stdout_and_nothing_is_printed_by_receivers(tmp_path: Path) -> None:
    result = spm("test", str(ROOT / "rulesets" / "tests"), "--format", "json", "--coverage", cwd=tmp_path)
    report = document(result)
    assert report["summary"]["failed"] == 0 and report["summary"]["tests"] == sum(len(file["tests"]) for file in report["files"]) > 0
    assert len(report["coverage"]) == 2 and result.stderr == ""


def test_providers_json_is_the_whole_stdout(tmp_path: Path) -> None:
    ruleset, tickets = (str(ROOT / part) for part in SHIPPED["enterprise"][:2])
    state = f"sqlite:///{tmp_path / 'state.db'}"
    assert spm("run", "--ruleset", ruleset, "--tickets", tickets, "--state", state, "--at", AT, "--no-deliver", "--quiet", cwd=tmp_path).returncode == EXIT_OK
    view = document(spm("providers", "--ruleset", ruleset, "--state", state, "--at", AT, "--format", "json", cwd=tmp_path))
    rows = {row["provider"]: row for row in view["providers"]}
    # EC-1002, EC-1007 reported, EC-1011 dispatched: three open with partner-east, of 40.
    assert (rows["partner-east"]["open"], rows["partner-east"]["capacity"], rows["partner-east"]["free"]) == (3, 40, 37)
    assert rows["maker-engineers"]["in_house"] and rows["maker-engineers"]["open"] == 1


def test_schema_is_one_json_document(tmp_path: Path) -> None:
    assert document(spm("schema", cwd=tmp_path))["title"] == "spm-rules ruleset"


def test_every_command_with_a_json_format_is_covered_here() -> None:
    def walk(group: click.Group, prefix: str = "") -> set[str]:
        found = set()
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                found |= walk(command, f"{prefix}{name} ")
            if any(isinstance(p, click.Option) and "--format" in p.opts and "json" in getattr(p.type, "choices", ()) for p in command.params):
                found.add(prefix + name)
        return found

    assert walk(cli) == JSON_COMMANDS


def test_the_progress_bar_of_a_json_run_stays_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "stderr", Console(stderr=True, force_terminal=True, width=100))
    monkeypatch.setattr(RunProgress.__init__, "__defaults__", (0.0,))  # show the bar at once
    ruleset, tickets = (str(ROOT / part) for part in SHIPPED["enterprise"][:2])
    args = ["run", "--ruleset", ruleset, "--tickets", tickets, "--state", f"sqlite:///{tmp_path / 'state.db'}", "--at", AT, "--format", "json", "--no-deliver"]
    assert main(args) == EXIT_OK
    captured = capsys.readouterr()
    count = len((ROOT / SHIPPED["enterprise"][1]).read_text(encoding="utf-8").splitlines())
    assert json.loads(captured.out)["tickets"]["evaluated"] == count
    assert "evaluating" in captured.err and f"{count} tickets" in captured.err
