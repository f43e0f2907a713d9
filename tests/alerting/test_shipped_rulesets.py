"""The shipped rulesets' alerting works with no account: messages appear on the terminal."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from spm_rules.alerting import AlertPipeline
from spm_rules.ruleset.loader import load_ruleset
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
