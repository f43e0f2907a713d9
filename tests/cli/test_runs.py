"""``spm-rules run``, ``ack``, ``history``, ``schedule`` and ``prune`` as cron and an operator use them."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from spm_rules.cli import EXIT_INVALID, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, main
from spm_rules.cli.runs import RunProgress
from spm_rules.state.store import Store
from tests.fixtures.servers import HttpServer, RecordedRequest
from tests.state.helpers import restore_spm_logger  # noqa: F401 (autouse fixture)
from tests.state.helpers import ROOT, RULESET_YAML, at, ticket, write_tickets

SCHEDULES = """\
schedules:
  - {name: morning-digest, cron: "0 8 * * 1-5", timezone: Asia/Shanghai, action: digest, receivers: [center]}
retention: {closed_tickets: 1d}
"""


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """A ruleset (cc-test plus a schedule and retention), tickets and a state URL in tmp_path."""
    (tmp_path / "cc.yaml").write_text(RULESET_YAML + SCHEDULES, encoding="utf-8")
    write_tickets(tmp_path / "tickets.jsonl", [ticket("A"), ticket("B", tier="P2"), ticket("C", provider=None, region="north", dispatched=at(2))])
    return {"ruleset": str(tmp_path / "cc.yaml"), "tickets": str(tmp_path / "tickets.jsonl"), "state": f"sqlite:///{tmp_path / 'state.db'}"}


def received(server: HttpServer, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
    """The server's recorded requests once it has ``count`` (or after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while len(server.requests) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return list(server.requests)


def cli_run(files: dict[str, str], when: str, *extra: str) -> int:
    return main(["run", "--ruleset", files["ruleset"], "--tickets", files["tickets"], "--state", files["state"], "--at", when, "--no-deliver", *extra])


def test_run_prints_a_summary_and_a_second_run_has_nothing_to_do(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_run(files, at(4).isoformat()) == EXIT_OK
    out = capsys.readouterr().out
    assert "cc-test run at 2026-11-25T12:00+00:00" in out
    assert "tickets: 3 evaluated" in out
    assert "entered   A response/red" in out and "entered   B response/escalate" in out
    assert "routed    C: to 'partner-north'" in out
    assert "notifications: 2 enqueued; nothing delivered; outbox 2 pending" in out
    assert cli_run(files, at(4).isoformat()) == EXIT_OK
    again = capsys.readouterr().out
    assert "transitions this run: none" in again and "notifications: 0 enqueued" in again


def test_run_json_lists_transitions_and_rejected_rows(files: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with open(files["tickets"], "a", encoding="utf-8") as handle:
        handle.write('{"id": "BAD", "tier": "P4", "status": "open", "created_at": "2026-11-25T08:00:00"}\n')
    assert cli_run(files, at(3).isoformat(), "--format", "json") == EXIT_PARTIAL
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["tickets"]["evaluated"] == 3 and document["tickets"]["rejected"] == 1
    assert document["levels"] == {"response": {"ok": 1, "red": 1, "yellow": 1}}
    assert [(t["kind"], t["ticket"], t["level"]) for t in document["transitions"] if t["kind"] == "entered"] == [("entered", "A", "yellow"), ("entered", "B", "red")]
    assert document["notifications"]["enqueued"] == 2
    assert (document["rejected"][0]["ticket_id"], document["rejected"][0]["row"]) == ("BAD", 4)
    assert "BAD" in captured.err


def test_run_delivers_through_apprise_to_a_loopback_server(files: dict[str, str], tmp_path: Path, http_server: HttpServer, capsys: pytest.CaptureFixture[str]) -> None:
    rules = Path(files["ruleset"])
    rules.write_text(rules.read_text().replace("json://127.0.0.1:9/", http_server.json_url("")), encoding="utf-8")
    args = ["run", "--ruleset", files["ruleset"], "--tickets", files["tickets"], "--state", files["state"], "--format", "json"]
    assert main([*args, "--at", at(4).isoformat()]) == EXIT_OK
    document = json.loads(capsys.readouterr().out)
    assert document["notifications"] == {"enqueued": 2, "sent": 2}
    paths = sorted(request.path for request in received(http_server, 3))
    assert paths == ["/center", "/desk", "/duty"]
    with Store(files["state"]) as store:
        assert {entry.key: entry.status for entry in store.outbox_entries()} == {"A|response|red|1": "sent", "B|response|escalate|1": "sent"}
    assert main([*args, "--at", at(4, 30).isoformat()]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["notifications"] == {"enqueued": 1, "sent": 1}
    assert len(received(http_server, 5)) == 5


def test_an_overlapping_run_waits_then_exits_1_with_the_holder(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    with Store(files["state"]) as store:
        lease = store.acquire_lease()
        try:
            assert cli_run(files, at(4).isoformat(), "--lock-timeout", "0.5") == EXIT_INVALID
        finally:
            lease.release()
    err = capsys.readouterr().err
    assert "error: state sqlite:///" in err and "another run holds the run lock" in err and "gave up after waiting 0.5s" in err
    assert "Traceback" not in err


def test_the_default_state_file_is_created_private_in_the_working_directory(files: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPM_RULES_STATE", raising=False)
    assert main(["run", "--ruleset", files["ruleset"], "--tickets", files["tickets"], "--at", at(1).isoformat(), "--quiet", "--no-deliver"]) == EXIT_OK
    assert stat.S_IMODE((tmp_path / "spm-state.db").stat().st_mode) == 0o600


def test_quiet_prints_nothing_and_json_logs_are_one_object_per_line(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_run(files, at(1).isoformat(), "--quiet") == EXIT_OK
    assert capsys.readouterr() == ("", "")
    assert cli_run(files, at(4).isoformat(), "--log-format", "json") == EXIT_OK
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    (done,) = [line for line in lines if line["event"] == "run done"]
    assert done["level"] == "info" and done["logger"] == "spm_rules.run" and done["evaluated"] == 3 and done["enqueued"] == 2
    assert not [line for line in lines if line["level"] == "debug"]
    assert cli_run(files, at(5).isoformat(), "--log-format", "json", "--log-level", "debug") == EXIT_OK
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["kind"], line["ticket"], line["sla_level"]) for line in lines if line["event"] == "transition"] == [("entered", "C", "yellow"), ("notify", "C", "yellow")]


def test_metrics_are_written_atomically_in_prometheus_text_format(files: dict[str, str], tmp_path: Path) -> None:
    metrics = tmp_path / "textfile" / "spm.prom"
    metrics.parent.mkdir()
    assert cli_run(files, at(4).isoformat(), "--quiet", "--metrics", str(metrics)) == EXIT_OK
    text = metrics.read_text()
    assert os.listdir(metrics.parent) == ["spm.prom"]
    assert "# TYPE spm_rules_run_duration_seconds gauge" in text
    assert 'spm_rules_run_tickets{result="evaluated",ruleset="cc-test",worker="1/1"} 3' in text
    assert 'spm_rules_escalations_open{ruleset="cc-test",policy="response",level="red",provider="partner-east"} 1' in text
    assert 'spm_rules_outbox_notifications{ruleset="cc-test",status="pending"} 2' in text
    assert 'spm_rules_run_transitions{kind="entered",ruleset="cc-test",worker="1/1"} 2' in text
    for line in text.splitlines():
        assert line.startswith("#") or line.rsplit(" ", 1)[1].replace(".", "", 1).isdigit(), line


def test_ack_and_history(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    cli_run(files, at(4).isoformat(), "--quiet")
    assert main(["ack", "A", "--state", files["state"], "--at", at(4, 5).isoformat(), "--by", "alice"]) == EXIT_OK
    assert "acknowledged A response/red" in capsys.readouterr().out
    assert main(["ack", "A", "--state", files["state"], "--at", at(4, 6).isoformat()]) == EXIT_INVALID
    assert "A has no open, unacknowledged escalation" in capsys.readouterr().err
    assert main(["history", "A", "--state", files["state"]]) == EXIT_OK
    out = capsys.readouterr().out
    assert "response/red: opened 2026-11-25 12:00, open, acknowledged 2026-11-25 12:05" in out
    assert "notify       response/red [red-center]: escalation #1 to center, desk (pending)" in out
    assert "acknowledged response/red: by alice" in out
    assert main(["history", "A", "--state", files["state"], "--format", "json"]) == EXIT_OK
    document = json.loads(capsys.readouterr().out)
    assert [entry["kind"] for entry in document["history"]] == ["new", "entered", "notify", "tagged", "acknowledged"]
    assert main(["history", "NOPE", "--state", files["state"]]) == EXIT_INVALID
    assert "no run has seen ticket NOPE" in capsys.readouterr().err


def test_history_shows_when_it_happened_and_when_it_was_recorded(files: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli_run(files, at(4).isoformat(), "--quiet")
    onsite = [
        {"stage": "hotline", "entered_at": at(-0.5).isoformat()},
        {"stage": "dispatched", "entered_at": at(0).isoformat()},
        {"stage": "onsite", "entered_at": at(4, 20).isoformat()},
    ]
    write_tickets(Path(files["tickets"]), [ticket("A", stage_history=onsite)])
    cli_run(files, at(4, 30).isoformat(), "--quiet")
    assert main(["history", "A", "--state", files["state"]]) == EXIT_OK
    out = capsys.readouterr().out
    assert "A: status open, stage onsite, tier P4, provider partner-east" in out
    assert "2026-11-25 07:30 (recorded 2026-11-25 12:00)  new" in out
    assert "2026-11-25 12:20 (recorded 2026-11-25 12:30)  stage       : 'dispatched' → 'onsite'" in out
    assert "2026-11-25 12:30  left         response/red: policy no longer measures the ticket (stage 'onsite')" in out
    assert main(["history", "A", "--state", files["state"], "--format", "json"]) == EXIT_OK
    document = json.loads(capsys.readouterr().out)
    stage = next(entry for entry in document["history"] if entry["kind"] == "stage")
    assert (stage["at"], stage["recorded_at"]) == (at(4, 20).isoformat(), at(4, 30).isoformat())
    assert (document["provider"], document["provider_reported"]) == ("partner-east", "partner-east")
    assert main(["history", "C", "--state", files["state"], "--format", "json"]) == EXIT_OK
    routed = json.loads(capsys.readouterr().out)
    assert (routed["provider"], routed["provider_reported"]) == ("partner-north", None)


def test_run_reports_route_conflicts_in_the_summary_and_in_json(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    rule = "  - name: north-to-east\n    when: {field: region, eq: north}\n    then: [{route: {provider: partner-east}}]\nreceivers:\n"
    Path(files["ruleset"]).write_text((RULESET_YAML + SCHEDULES).replace("receivers:\n", rule, 1), encoding="utf-8")
    assert cli_run(files, at(4).isoformat()) == EXIT_OK
    out = capsys.readouterr().out
    assert "route conflicts: 1 ticket (the first route rule in the ruleset won)" in out
    assert "  C: rule 'north-to-east' routes to 'partner-east', but rule 'route-north' (earlier in the ruleset) assigned 'partner-north'" in out
    assert cli_run(files, at(4, 5).isoformat(), "--format", "json") == EXIT_OK
    document = json.loads(capsys.readouterr().out)
    assert document["tickets"]["route_conflicts"] == 1
    assert document["route_conflicts"] == [{"ticket": "C", "rule": "north-to-east", "provider": "partner-east", "assigned_by": "route-north", "assigned": "partner-north"}]


def test_schedule_next_lists_fire_times_in_local_time_and_utc(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", "--ruleset", files["ruleset"], "--next", "3", "--at", "2026-11-27T09:00:00+08:00", "--format", "json"]) == EXIT_OK
    (entry,) = json.loads(capsys.readouterr().out)["schedules"]
    assert entry["next"] == ["2026-11-30T08:00:00+08:00", "2026-12-01T08:00:00+08:00", "2026-12-02T08:00:00+08:00"]
    assert main(["schedule", "--ruleset", files["ruleset"], "--next", "1", "--at", "2026-11-27T09:00:00+08:00"]) == EXIT_OK
    table = capsys.readouterr().out
    assert "morning-digest" in table and "Mon 2026-11-30" in table and "08:00 CST" in table and "00:00Z" in table


def test_prune_applies_the_rulesets_retention(files: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli_run(files, at(4).isoformat(), "--quiet")
    write_tickets(Path(files["tickets"]), [ticket("A", status="resolved"), ticket("B", tier="P2")])
    cli_run(files, at(5).isoformat(), "--quiet")
    assert main(["prune", "--ruleset", files["ruleset"], "--state", files["state"], "--at", at(5 + 25).isoformat()]) == EXIT_OK
    assert capsys.readouterr().out.startswith("pruned: ")
    with Store(files["state"]) as store:
        assert store.ticket("A") is None and store.ticket("B") is not None


def test_usage_errors_exit_2(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_run(files, at(1).isoformat(), "--worker", "5/4") == EXIT_USAGE
    assert "K must be between 1 and N" in capsys.readouterr().err
    assert cli_run(files, "yesterday") == EXIT_USAGE


def test_an_unreachable_postgres_state_is_one_clear_line(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["history", "A", "--state", "postgresql://spm:hunter2@127.0.0.1:1/state"])
    err = capsys.readouterr().err
    assert code == EXIT_INVALID
    assert err.startswith("error: state postgresql://spm:***@127.0.0.1:1/state: cannot read the state schema version:")
    assert "hunter2" not in err and "Traceback" not in err


def test_the_progress_bar_only_appears_when_enabled_and_after_a_while() -> None:
    off = RunProgress(enabled=False, after=0)
    off(10)
    assert off.bar is None
    patient = RunProgress(enabled=True, after=3600)
    patient(10)
    assert patient.bar is None
    eager = RunProgress(enabled=True, after=0)
    eager(10)
    assert eager.bar is not None and eager.bar.tasks[0].completed == 10
    eager.close()


def test_run_counts_tickets_it_cannot_measure_in_summary_json_and_metrics(files: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with open(files["tickets"], "a", encoding="utf-8") as handle:
        handle.write(ticket("D", status="waiting_customer").model_dump_json(exclude_none=True) + "\n")
    metrics = tmp_path / "spm.prom"
    assert cli_run(files, at(3).isoformat(), "--format", "json", "--metrics", str(metrics)) == EXIT_PARTIAL
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["tickets"]["evaluated"] == 4 and document["tickets"]["with_warnings"] == 1
    assert [(w["ticket_id"], w["row"], w["field"]) for w in document["warnings"]] == [("D", 4, "status_history")]
    assert "warning: " in captured.err and "status 'waiting_customer' pauses the clock" in captured.err
    text = metrics.read_text()
    assert 'spm_rules_run_ticket_warnings{field="status_history",ruleset="cc-test",worker="1/1"} 1' in text
    assert 'spm_rules_run_ticket_warnings{field="tier",ruleset="cc-test",worker="1/1"} 0' in text
    assert cli_run(files, at(3).isoformat()) == EXIT_PARTIAL
    # The three tickets without a warning are left alone; the one with a warning is read and warned about again.
    assert "tickets: 4 evaluated (3 unchanged, left alone), 1 with warnings" in capsys.readouterr().out


def test_the_repair_networks_end_to_end_target_is_five_working_days(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """RP-2007 came in on Thursday 19 November at 10:00, during opening hours: its five working
    days are Fri, Sat (stations open mon-sat), Mon, Tue and Wed 25, closing at 18:00."""
    ruleset, tickets = ROOT / "rulesets" / "repair-network.yaml", ROOT / "examples" / "repair-tickets.jsonl"
    args = ["run", "--ruleset", str(ruleset), "--tickets", str(tickets), "--state", f"sqlite:///{tmp_path / 'state.db'}"]
    assert main([*args, "--at", "2026-11-25T17:59:00+08:00"]) == EXIT_OK
    assert "[late]" not in capsys.readouterr().err  # console:// messages are for a person: stderr
    assert main([*args, "--at", "2026-11-25T18:00:00+08:00"]) == EXIT_OK
    out = capsys.readouterr().err
    message = out[out.index("──────── → service-manager · warning: [late] RP-2007 · station-hangzhou-05 ────────") :]
    assert message.splitlines()[1:3] == ["RP-2007 [late] provider station-hangzhou-05 stage resolution", "  due 2026-11-25 18:00 CST (used 2d7h30m of 2d7h30m)"]
