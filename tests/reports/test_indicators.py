"""Next-day indicators: hand-computed figures of the dataset's 26th against the 25th and the
seven days before, the same whether runs happened hourly or once the next morning, and the
HTML report written and linked (or its failure said, the message still sent)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from spm_rules.alerting import AlertPipeline
from spm_rules.reports.indicators import next_day_indicators, report_filename
from spm_rules.state.store import Store, notification_from_json
from tests.reports.dataset import LAST_RUN, cst, ruleset, run_hourly, run_once

SCHEDULE = """\
schedules:
  - name: next-day
    description: Yesterday per partner.
    cron: "0 7 * * *"
    timezone: Asia/Shanghai
    action: indicators
    receivers: [center]
"""


def payloads(url: str) -> dict[str, dict[str, Any]]:
    """The indicators each tick queued, by the day they report."""
    with Store(url) as store:
        notes = [entry.notification for entry in store.outbox_entries() if entry.kind == "schedule"]
    return {note["payload"]["day"]: note["payload"] for note in notes}


def figures(group: dict[str, Any]) -> dict[str, tuple]:
    """figure -> (yesterday, day before, trailing), rounded to 4 places."""
    return {
        f["figure"]: tuple(None if v is None else round(v, 4) for v in (f["value"], f["day_before"], f["trailing"]))
        for f in group["figures"]
    }


def test_the_indicators_of_the_26th_match_the_figures_computed_by_hand(state_url: str) -> None:
    run_hourly(state_url, ruleset(SCHEDULE))
    # Ticks at 07:00 on the 25th, 26th and 27th each reported the day before.
    found = payloads(state_url)
    assert sorted(found) == ["2026-11-24", "2026-11-25", "2026-11-26"]
    day = found["2026-11-26"]
    assert (day["day_before"], day["trailing"], day["report_timezone"], day["by"]) == ("2026-11-25", {"from": "2026-11-19", "to": "2026-11-25", "days": 7}, "Asia/Shanghai", "provider")
    assert day["period"] == {"from": "2026-11-26T00:00:00+08:00", "to": "2026-11-27T00:00:00+08:00"}
    # The 26th: T1 (east, on time), T5 (north, late at red), T9 (south, on time).  The 25th: T2, T3, T4, T6.
    # The seven days 19th-25th: T7 (east, 24th, late) and the 25th's.  Counts over the seven days are per day.
    # Worst first: north's on-time rates fell from 100 % (T6) to 0 % (T5); the others got no worse.
    assert [g["name"] for g in day["groups"]] == ["partner-north", "partner-east", "partner-south", "no provider"]
    north, east, south, nobody = day["groups"]
    assert figures(north) == {
        "tickets": (1, 1, round(1 / 7, 4)),
        "on_time": (0.0, 1.0, 1.0),
        "on_time.response": (0.0, 1.0, 1.0),
        "on_time.resolution": (1.0, 1.0, 1.0),
        "first_call": (0.0, 0.0, 0.0),
        "reopened": (0.0, 0.0, 0.0),
        "escalated": (1, 0, 0.0),  # T5 escalated at red by the 12:00 run
        "reroutes": (0, 0, 0.0),
    }
    assert figures(east) == {
        "tickets": (1, 2, round(3 / 7, 4)),  # T1; T2 and T4; T7, T2 and T4
        "on_time": (1.0, 0.5, round(1 / 3, 4)),  # T1; T2 yes, T4 no; T7 no, T2 yes, T4 no
        "on_time.response": (1.0, 0.5, round(1 / 3, 4)),
        "on_time.resolution": (1.0, 1.0, 1.0),
        "first_call": (0.0, 0.0, 0.0),
        "reopened": (0.0, 0.5, round(1 / 3, 4)),  # T2 reopened
        "escalated": (0, 1, round(2 / 7, 4)),  # T4 on the 25th, T7 on the 24th
        "reroutes": (0, 1, round(1 / 7, 4)),  # T4
    }
    assert figures(south)["on_time"] == (1.0, None, None) and figures(south)["tickets"] == (1, 0, 0.0)
    assert figures(nobody)["first_call"] == (None, 1.0, 1.0) and figures(nobody)["tickets"] == (0, 1, round(1 / 7, 4))
    assert figures(day["total"]) == {
        "tickets": (3, 4, round(5 / 7, 4)),
        "on_time": (round(2 / 3, 4), 0.75, 0.6),  # T1, T9 of three; T2, T3, T6 of four; those of five
        "on_time.response": (round(2 / 3, 4), round(2 / 3, 4), 0.5),  # T1, T9 / T2, T6 of T2, T4, T6 / of four with T7
        "on_time.resolution": (1.0, 1.0, 1.0),
        "first_call": (0.0, 0.25, 0.2),  # T3
        "reopened": (0.0, 0.25, 0.2),  # T2
        "escalated": (1, 1, round(2 / 7, 4)),
        "reroutes": (0, 1, round(1 / 7, 4)),
    }
    assert [(m["name"], m["figure"], m["change_text"]) for m in day["movers"]] == [
        ("partner-north", "on_time", "-100.0 pts"),
        ("partner-north", "on_time.response", "-100.0 pts"),
    ]
    assert day["scorecard"]["total"]["tickets"] == 3 and day["report_url"] is None


def _facts_only(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload without what runs did (escalate actions, re-routes, acknowledgements)."""
    run_figures = {"escalated", "reroutes"}

    def group(g: dict[str, Any]) -> dict[str, Any]:
        return {**g, "figures": [f for f in g["figures"] if f["figure"] not in run_figures]}

    def card(g: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in g.items() if k not in (*run_figures, "acknowledgements")}

    scorecard = payload["scorecard"]
    return {
        **payload,
        "groups": [group(g) for g in payload["groups"]],
        "total": group(payload["total"]),
        "scorecard": {**scorecard, "groups": [card(g) for g in scorecard["groups"]], "total": card(scorecard["total"])},
    }


def test_the_same_archive_gives_the_same_indicators_whether_runs_were_hourly_or_once_the_next_morning(tmp_path: Path, state_url: str) -> None:
    hourly = f"sqlite:///{tmp_path / 'hourly.db'}"
    run_hourly(hourly, ruleset(SCHEDULE))
    run_once(state_url, ruleset(SCHEDULE))  # down from the 24th noon to the 27th 07:00: one tick, missed: once
    late, regular = payloads(state_url), payloads(hourly)
    assert list(late) == ["2026-11-26"]
    assert _facts_only(late["2026-11-26"]) == _facts_only(regular["2026-11-26"])
    # What differs is what the runs did: the late run never saw T5 at red, nor T4 routed elsewhere.
    assert figures(late["2026-11-26"]["groups"][0])["escalated"] == (0, 0, 0.0)
    assert figures(regular["2026-11-26"]["groups"][0])["escalated"] == (1, 0, 0.0)
    # Every ticket is on its own day: T9, closed at 01:30 on the 26th (the 25th in UTC), counts on the 26th.
    with Store(state_url) as store:
        day_25 = next_day_indicators(store, ruleset(), date(2026, 11, 25))
    assert [g.group for g in day_25.scorecard.groups] == ["partner-east", "partner-north", None]
    assert [(d.isoformat(), g.tickets) for d, g in day_25.daily] == [
        ("2026-11-18", 0), ("2026-11-19", 0), ("2026-11-20", 0), ("2026-11-21", 0), ("2026-11-22", 0), ("2026-11-23", 0), ("2026-11-24", 1), ("2026-11-25", 4)
    ]


def test_the_message_reads_the_figures_and_links_the_html_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    folder = tmp_path / "reports"
    rules = ruleset(SCHEDULE.replace("receivers: [center]", f"receivers: [center]\n    report_dir: {folder}\n    report_url: https://reports.example.com/daily/"))
    run_hourly(url, rules)
    assert sorted(os.listdir(folder)) == [report_filename("next-day", date(2026, 11, day)) for day in (24, 25, 26)]
    with Store(url) as store:
        (entry,) = [e for e in store.outbox_entries() if e.kind == "schedule" and e.notification["payload"]["day"] == "2026-11-26"]
    (message,) = AlertPipeline(rules).plan([notification_from_json(entry.notification)], LAST_RUN).messages
    assert message.title == "next-day 2026-11-26: closed 3, on time 66.7 %"
    lines = message.body.splitlines()
    assert lines[:7] == [
        "Yesterday per partner.",
        "",
        "Figures of 2026-11-26 (Asia/Shanghai) by provider, against the day before and the 7 days before it.",
        "",
        "Worst movers:",
        "  partner-north: on time 0.0 % (7-day 100.0 %, -100.0 pts)",
        "  partner-north: on time (response) 0.0 % (7-day 100.0 %, -100.0 pts)",
    ]
    north = lines.index("partner-north:")
    assert lines[north + 1 : north + 3] == ["  closed 1 (day before 1, 7-day 0.1/day)", "  on time 0.0 % (day before 100.0 %, 7-day 100.0 %)"]
    nobody = lines.index("no provider:")
    # A figure without any value on any of the days is left out (the response clock never measured T3).
    assert lines[nobody + 1 : nobody + 4] == ["  closed 0 (day before 1, 7-day 0.1/day)", "  on time - (day before 100.0 %, 7-day 100.0 %)", "  on time (resolution) - (day before 100.0 %, 7-day 100.0 %)"]
    assert "  first-call resolution 0.0 % (day before 25.0 %, 7-day 20.0 %)" in lines
    assert lines[-1] == "Report: https://reports.example.com/daily/next-day-2026-11-26.html"
    assert "Indicators scorecard-test 2026-11-26" in (folder / "next-day-2026-11-26.html").read_text(encoding="utf-8")


def test_a_report_that_cannot_be_written_is_said_and_the_message_still_goes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    (tmp_path / "a-file").write_text("not a directory")
    rules = ruleset(SCHEDULE.replace("receivers: [center]", f"receivers: [center]\n    report_dir: {tmp_path / 'a-file' / 'reports'}"))
    run_hourly(url, rules, until=cst(25, 7))
    (payload,) = payloads(url).values()
    assert payload["report_url"] is None and "could not be written" in payload["report_problem"]
    (message,) = AlertPipeline(rules).plan([notification_from_json({"key": "k", "kind": "schedule", "receivers": ["center"], "labels": {"schedule": "next-day"}, "payload": payload})], LAST_RUN).messages
    assert not message.fallback and message.body.splitlines()[-1].startswith("No report: the HTML report could not be written to ")
