"""The soak's short profile: a simulated day of runs every 5 minutes over 300 tickets,
checked after every run against the independent oracle of ``benchmarks/soak.py`` (the
full month: ``python -m benchmarks.soak --days 30 --tickets 10000``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from benchmarks.soak import START, fleet, oracle_level, soak


def test_a_simulated_day_matches_the_oracle_after_every_run(tmp_path: Path) -> None:
    result = soak(1, 300, f"sqlite:///{tmp_path / 'soak.db'}", seed=3)
    assert result.violations == []
    assert result.runs == 289 and result.notifications > 100
    assert result.largest["tickets"] < 300, "closed tickets are pruned: the state never holds the whole fleet"


def test_the_fleet_has_every_kind_of_change_and_the_oracle_sees_every_level() -> None:
    lines = fleet(300, 1, seed=3)
    kinds = {(what, value) for line in lines for _, what, value in line.events}
    assert {("status", "waiting_customer"), ("stage", "onsite"), ("status", "resolved"), ("tier", "P2"), ("tier", "P4")} <= kinds
    assert any([value for _, what, value in line.events if what == "status"].count("open") == 2 for line in lines), "some tickets reopen"
    levels = {oracle_level(ticket, START + timedelta(hours=h)) for line in lines for h in range(0, 24, 2) if (ticket := line.at(START + timedelta(hours=h)))}
    assert levels == {None, "yellow", "red"}
