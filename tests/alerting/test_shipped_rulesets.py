"""The shipped rulesets' alerting works with no account: messages appear on the terminal."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from spm_rules.alerting import AlertPipeline
from spm_rules.alerting.pipeline import notification_labels
from spm_rules.ruleset.loader import load_ruleset
from spm_rules.run import run, schedule_notification
from spm_rules.schedules import ticks_between
from spm_rules import read_tickets
from spm_rules.state.store import Store
from tests.alerting.helpers import note

ROOT = Path(__file__).resolve().parents[2]
CST = timezone(timedelta(hours=8))


def test_the_command_center_wallboard_on_the_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    ruleset = load_ruleset(ROOT / "rulesets" / "enterprise-command-center.yaml")
    batch = [
        note("EC-1002", "yellow", receivers=("partner-desk",), ticket_fields={"fault": "PSU failure"}),
        note("EC-1002", "red", receivers=("command-center", "partner-desk"), ticket_fields={"fault": "PSU failure"}),
        note("EC-1003", "red", receivers=("command-center", "partner-desk"), provider="partner-south", ticket_fields={"fault": "fan module alarm"}),
    ]
    outcomes = AlertPipeline(ruleset).deliver(batch, datetime(2026, 11, 25, 14, 0, tzinfo=CST))
    assert [o.status for o in outcomes] == ["inhibited", "sent", "sent"]  # red suppresses yellow of the same request
    out = capsys.readouterr().err
    assert "──────── → command-center · warning: RED EC-1002 Eastern Bank ────────" in out
    assert "──────── → partner-desk · warning: RED EC-1002 Eastern Bank ────────" in out
    assert "EC-1002 [red] P4 Eastern Bank: PSU failure" in out
    assert "https://command-center.example.com/requests/EC-1002" in out
    assert "[yellow]" not in out


def test_station_reminders_wait_for_opening_hours_and_render_in_chinese(capsys: pytest.CaptureFixture[str]) -> None:
    ruleset = load_ruleset(ROOT / "rulesets" / "repair-network.yaml")
    pipeline = AlertPipeline(ruleset)
    reminder = note("RP-2001", "reminder", receivers=("station",), policy="stage-targets", provider="station-beijing-03", ticket_fields={"customer": "李雷", "product": "laptop X1"})
    (night,) = pipeline.deliver([reminder], datetime(2026, 11, 25, 23, 0, tzinfo=CST))
    assert (night.status, night.retry_at) == ("held", datetime(2026, 11, 26, 8, 30, tzinfo=CST))
    assert capsys.readouterr().err == ""
    (morning,) = pipeline.deliver([reminder], night.retry_at)
    assert morning.status == "sent"
    out = capsys.readouterr().err
    assert "维修提醒 station-beijing-03：1 张工单" in out
    assert "RP-2001（李雷，laptop X1）阶段 dispatched，级别 reminder" in out


#: The README's quick-start instant, and the next morning after the digest and indicators ticks.
README_AT = datetime(2026, 11, 25, 14, 0, tzinfo=CST)
NEXT_MORNING = datetime(2026, 11, 26, 8, 31, tzinfo=CST)
#: What an empty field leaves in a rendered message.
EMPTY_MARKS = ("[]", "()", "  :", " :", "None", " · ·", "· \n", ": \n", "for ,")


@pytest.mark.parametrize(("ruleset_file", "tickets_file"), [("enterprise-command-center.yaml", "enterprise-tickets.jsonl"), ("repair-network.yaml", "repair-tickets.jsonl")])
def test_every_shipped_schedule_reads_well_through_every_receiver_it_reaches(state_url: str, ruleset_file: str, tickets_file: str) -> None:
    ruleset = load_ruleset(ROOT / "rulesets" / ruleset_file)
    tickets, problems = read_tickets([str(ROOT / "examples" / tickets_file)], ruleset.ticket_timezone)
    assert problems == [] and ruleset.schedules
    pipeline = AlertPipeline(ruleset)
    with Store(state_url) as store:
        for now in (README_AT, NEXT_MORNING):
            run(store, ruleset, tickets, now)
        open_escalations = store.open_escalations()
        notes = [
            schedule_notification(store, spec, ticks_between(spec, NEXT_MORNING - timedelta(days=40), NEXT_MORNING)[-1], NEXT_MORNING, ruleset=ruleset).notification
            for spec in ruleset.schedules
        ]
    assert open_escalations, "the example tickets leave escalations open"
    for note_ in notes:
        reachable = sorted(target.receiver for target in pipeline.tree.targets(notification_labels(note_), note_.receivers))
        messages = pipeline.plan([note_], NEXT_MORNING).messages
        assert sorted(message.receiver for message in messages) == reachable and reachable
        payload = note_.payload
        for message in messages:
            text = f"{message.title}\n{message.body}\n"
            assert not message.fallback and [n.key for n in message.notifications] == [note_.key]
            assert "schedule|" not in text, text  # never the bare key
            assert not [mark for mark in EMPTY_MARKS if mark in text], text
            assert message.title.startswith(f"{note_.labels['schedule']} 2026-1")
            if payload["action"] == "digest":
                assert all(esc.ticket_id in message.body for esc, _ in open_escalations)
                assert all(f"\n{esc.level.upper()}: " in text for esc, _ in open_escalations)
                assert f"Total: {len(open_escalations)} open escalations (" in message.body
            elif payload["action"] == "indicators":
                assert payload["day"] == "2026-11-25"
                if ruleset_file.startswith("enterprise"):
                    # Yesterday closed one request: EC-1009, solved on the first call, with no partner.
                    assert "\nno provider:\n  closed 1 (day before 0, 7-day 0/day)\n  on time 100.0 % (day before -, 7-day -)\n" in text
                    assert "\n  first-call resolution 100.0 % (day before -, 7-day -)\n" in text
                else:
                    # RP-2008 was resolved when the 14:00 run saw it (its history does not date it): 7h30m of
                    # station hours in repair (24th 16:00-18:00, 25th 08:30-14:00) against a key account's 4h.
                    assert "\nstation-shanghai-01:\n  closed 1 (day before 0, 7-day 0/day)\n  on time 0.0 % (day before -, 7-day -)\n" in text
                    assert "\n  on time (stage-targets) 0.0 % (day before -, 7-day -)\n  on time (parts-delivery) 100.0 %" in text
                for group in payload["groups"] + [payload["total"]]:
                    assert f"\n{'All' if group is payload['total'] else group['name']}:\n" in text
                    for figure in group["figures"]:
                        if figure["value"] is not None:
                            assert f"  {figure['label']} {figure['text']} (day before {figure['day_before_text']}, 7-day {figure['trailing_text']}" in text
            else:
                assert payload["customers"], "the example tickets have key accounts"
                for customer in payload["customers"]:
                    assert f"  {customer['customer']} · region {customer['region']} · {customer['tickets']} ticket" in text


def test_the_quick_start_escalation_reads_as_a_duty_manager_reads_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's main command, end to end: the escalations reach the duty manager framed as
    urgent, naming the partner, the stage, the due time and the rule by name, without the
    matcher's condition trace (that belongs to ``spm-rules explain``)."""
    from spm_rules.cli import main

    code = main(
        ["run", "--ruleset", str(ROOT / "rulesets" / "enterprise-command-center.yaml"), "--tickets", str(ROOT / "examples" / "enterprise-tickets.jsonl"),
         "--state", f"sqlite:///{tmp_path / 'state.db'}", "--at", README_AT.isoformat()]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    message = err[err.index("──────── → duty-manager · URGENT: 3 notifications · level escalate · policy response ────────") :].split("\n\n")[0]
    assert "EC-1001 [escalate] URGENT provider partner-north stage dispatched\n  due 2026-11-25 10:20 CST (used 5h40m of 2h)\n  rule response-escalate\n" in message
    assert "[sla." not in message and ": yes]" not in message and "failure" not in message
