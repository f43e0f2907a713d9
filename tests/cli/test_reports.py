"""``spm-rules report scorecard`` end to end: the shipped command-center ruleset over its
example day, read as a person reads the table, the next-day indicators it sends the next
morning, the other formats, and the errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from spm_rules.cli import EXIT_INVALID, EXIT_OK, EXIT_USAGE, main
from tests.fixtures.processes import ROOT

RULESET = str(ROOT / "rulesets" / "enterprise-command-center.yaml")
MORNING = str(ROOT / "examples" / "enterprise-tickets.jsonl")
EVENING = str(ROOT / "examples" / "enterprise-tickets-evening.jsonl")


def table(out: str, title: str) -> dict[str, dict[str, str]]:
    """The rows of the terminal table titled ``title``, as {first cell: {header: cell}}."""
    lines = out.splitlines()
    start = next(index for index, line in enumerate(lines) if line.strip() == title)
    header = [cell.strip() for cell in lines[start + 2].strip().strip("┃").split("┃")]
    rows = {}
    for line in lines[start + 4 :]:
        if line.startswith("└"):
            break
        if line.startswith("│"):
            cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
            rows[cells[0]] = dict(zip(header, cells))
    return rows


@pytest.fixture
def day(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """The example day of the command center: the README's 14:00 run, EC-1002's red escalation
    acknowledged at 14:20, a run at 23:00 over the evening's tickets, and one at 07:05 the next
    morning, when the next-day indicators are due.  Returns the state URL and what the
    console:// receivers printed at 07:05."""
    state = f"sqlite:///{tmp_path / 'state.db'}"
    assert main(["run", "--ruleset", RULESET, "--tickets", MORNING, "--state", state, "--at", "2026-11-25T14:00:00+08:00", "-q"]) == EXIT_OK
    assert main(["ack", "EC-1002", "--policy", "response", "--level", "red", "--by", "duty", "--state", state, "--at", "2026-11-25T14:20:00+08:00"]) == EXIT_OK
    assert main(["run", "--ruleset", RULESET, "--tickets", EVENING, "--state", state, "--at", "2026-11-25T23:00:00+08:00", "-q"]) == EXIT_OK
    capsys.readouterr()
    assert main(["run", "--ruleset", RULESET, "--tickets", EVENING, "--state", state, "--at", "2026-11-26T07:05:00+08:00", "-q"]) == EXIT_OK
    return state, capsys.readouterr().err


def test_the_days_scorecard_reads_per_partner(day: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    state, _ = day
    assert main(["report", "scorecard", "--ruleset", RULESET, "--state", state, "--since", "2026-11-25", "--until", "2026-11-26"]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "enterprise-command-center: tickets closed 2026-11-25 00:00 – 2026-11-26 00:00 (Asia/Shanghai), by provider: 13"
    overview = table(out, "overview")
    assert list(overview) == ["maker-engineers", "partner-central", "partner-east", "partner-north", "partner-south", "partner-west", "no provider", "all"]
    # partner-east: EC-1002 (on site 4h40m after dispatch) and EC-1011 (4h20m) missed their 4h; EC-1007 (50m,
    # then waiting for the customer until 14:30, on site 15:30: 1h50m) did not.  EC-1002's red escalation
    # was acknowledged 20 minutes after the 14:00 run raised it.
    assert overview["partner-east"] == {
        "provider": "partner-east",
        "closed": "3",
        "on time": "33.3 %",
        "first-call (target 78.0 %)": "0.0 %",
        "reopened": "0.0 %",
        "re-routes": "0",
        "escalated": "0",
        "ack after red (response), mean": "20m",
    }
    # EC-1001 (P2) was past its escalate level at 14:00: the run escalated it to the partner manager.
    assert (overview["partner-north"]["on time"], overview["partner-north"]["escalated"]) == ("66.7 %", "1")
    # The three requests solved on the first call were never dispatched: no partner.
    assert (overview["no provider"]["closed"], overview["no provider"]["first-call (target 78.0 %)"]) == ("3", "100.0 %")
    # 8 of 13 on time on every clock; 3 of 13 solved on the first call, far from the 78 % aimed at.
    assert {k: overview["all"][k] for k in ("closed", "on time", "first-call (target 78.0 %)", "escalated")} == {
        "closed": "13", "on time": "61.5 %", "first-call (target 78.0 %)": "23.1 %", "escalated": "3"
    }
    response = table(out, "response, stage dispatched")
    # Business [1h50m, 4h20m, 4h40m]: mean 650m/3 = 3h36m40s (shown 3h37m); wall: EC-1007 waited 08:10-15:30 = 7h20m.
    assert response["partner-east"] == {
        "provider": "partner-east",
        "measured": "3",
        "on time": "33.3 %",
        "business mean / median / p90": "3h37m / 4h20m / 4h40m",
        "wall mean / median / p90": "5h27m / 4h40m / 7h20m",  # (4h20m + 4h40m + 7h20m) / 3 = 5h26m40s
        "reached yellow / red / escalate": "2 / 2 / 0",
    }
    assert "no provider" not in response  # the response clock measured none of them
    assert table(out, "resolution, end to end")["all"]["on time"] == "100.0 %"


def test_the_next_morning_the_duty_manager_reads_yesterdays_indicators(day: tuple[str, str]) -> None:
    _, printed = day
    assert "next-day-indicators 2026-11-25: closed 13, on time 61.5 %" in printed
    text = "\n".join(line.rstrip() for line in printed.splitlines())
    assert "Figures of 2026-11-25 (Asia/Shanghai) by provider, against the day before and the 7 days before it.\n\nNo figure is worse than over the 7 days before." in text
    assert "\npartner-east:\n  closed 3 (day before 0, 7-day 0/day)\n  on time 33.3 % (day before -, 7-day -)\n  on time (response) 33.3 % (day before -, 7-day -)\n" in text
    assert "\nno provider:\n  closed 3 (day before 0, 7-day 0/day)\n" in text and "  first-call resolution 100.0 % (day before -, 7-day -)\n" in text
    assert "\nAll:\n  closed 13 (day before 0, 7-day 0/day)\n  on time 61.5 % (day before -, 7-day -)\n" in text


def test_csv_json_and_html_go_to_a_file_or_standard_output(day: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state, _ = day
    base = ["report", "scorecard", "--ruleset", RULESET, "--state", state, "--since", "2026-11-25T00:00:00+08:00", "--until", "2026-11-26"]
    assert main([*base, "--format", "csv", "--out", str(tmp_path / "card.csv")]) == EXIT_OK
    rows = {row["group"]: row for row in csv.DictReader(io.StringIO((tmp_path / "card.csv").read_text(encoding="utf-8")))}
    assert (rows["partner-east"]["closed"], rows["partner-east"]["response.dispatched.business_median_seconds"], rows["all"]["first_call_rate"]) == ("3", "15600", "0.2308")
    capsys.readouterr()
    assert main([*base, "--format", "json", "--by", "region"]) == EXIT_OK
    document = json.loads(capsys.readouterr().out)
    assert (document["by"], document["since"], document["first_call_target"]) == ("region", "2026-11-25T00:00:00+08:00", 0.78)
    # central EC-1005, 1010; east 1002, 1007, 1011; north 1001, 1008, 1013; northeast 1006; south 1003, 1009, 1012; west 1004
    assert {g["group"]: g["tickets"] for g in document["groups"]} == {"central": 2, "east": 3, "north": 3, "northeast": 1, "south": 3, "west": 1}
    assert main([*base, "--format", "html", "--out", str(tmp_path / "card.html")]) == EXIT_OK
    page = (tmp_path / "card.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 5 and "partner-east" in page and "https://" not in page


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--since", "2026-11-26", "--until", "2026-11-25"], EXIT_USAGE, "the period ends (2026-11-25T00:00:00+08:00) before it starts"),
        (["--since", "2026-13-01"], EXIT_USAGE, "'2026-13-01' is not a date such as 2026-11-25"),
        (["--since", "yesterday"], EXIT_USAGE, "'yesterday' is not an ISO 8601 time"),
        (["--since", "2026-11-25", "--by", "partner name"], EXIT_USAGE, "'partner name' is not a field name"),
        (["--since", "2026-11-25", "--format", "table", "--out", "card.txt"], EXIT_USAGE, "the table is for the terminal"),
    ],
    ids=["period-inverted", "bad-date", "bad-instant", "bad-field", "table-to-file"],
)
def test_bad_options_are_usage_errors(args: list[str], code: int, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    assert main(["run", "--ruleset", RULESET, "--tickets", MORNING, "--state", state, "--at", "2026-11-25T14:00:00+08:00", "-q", "--no-deliver"]) == EXIT_OK
    capsys.readouterr()
    assert main(["report", "scorecard", "--ruleset", RULESET, "--state", state, *args]) == code
    assert message in capsys.readouterr().err


def test_a_report_on_a_state_no_run_wrote_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nothing.db"
    assert main(["report", "scorecard", "--ruleset", RULESET, "--state", f"sqlite:///{missing}", "--since", "2026-11-25"]) == EXIT_INVALID
    assert "no run has recorded anything there yet" in capsys.readouterr().err
    assert not missing.exists()
