"""The fleet generator: deterministic, streaming, valid tickets with every SLA level of the shipped rulesets."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from benchmarks import fleet
from spm_rules import Engine, TicketReader, load_ruleset

ROOT = Path(__file__).resolve().parents[2]
RULESETS = {"enterprise": "enterprise-command-center.yaml", "repair": "repair-network.yaml"}
FLEET = 2000


@pytest.fixture(scope="module", params=sorted(RULESETS))
def generated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A 2k fleet of each process, written once for the module."""
    path = tmp_path_factory.mktemp("fleet") / f"{request.param}.jsonl"
    fleet.write_fleet(path, request.param, FLEET, seed=7)
    return request.param, path


@pytest.mark.parametrize("profile", sorted(RULESETS))
def test_same_seed_same_bytes_other_seed_other_bytes(profile: str, tmp_path: Path) -> None:
    first, again, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    fleet.write_fleet(first, profile, 300, seed=11)
    fleet.write_fleet(again, profile, 300, seed=11)
    fleet.write_fleet(other, profile, 300, seed=12)
    assert first.read_bytes() == again.read_bytes()
    assert first.read_bytes() != other.read_bytes()


def test_tickets_stream_and_each_depends_only_on_its_index() -> None:
    stream = fleet.tickets("enterprise", 1_000_000, seed=3)
    assert isinstance(stream, Iterator)
    head = [next(stream) for _ in range(5)]
    assert head == [fleet.ticket("enterprise", 3, index) for index in range(5)]
    assert list(fleet.tickets("enterprise", 2, seed=3, start=3)) == head[3:]


def test_tickets_load_without_problems_and_every_level_occurs(generated: tuple[str, Path]) -> None:
    profile, path = generated
    ruleset = load_ruleset(ROOT / "rulesets" / RULESETS[profile])
    reader = TicketReader(path, ruleset.ticket_timezone)
    levels: Counter[tuple[str, str]] = Counter()
    for result in Engine(ruleset).evaluate(reader, fleet.AT):
        for status in result.statuses:
            levels[(status.policy, status.level or "ok")] += 1
    assert reader.problems == []
    assert reader.count == FLEET
    expected = {(policy.name, level) for policy in ruleset.policies for level in ["ok", *(spec.name for spec in policy.levels)]}
    assert expected - set(levels) == set()


def test_a_fleet_has_the_mix_of_a_real_one(generated: tuple[str, Path]) -> None:
    profile, path = generated
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    ruleset = load_ruleset(ROOT / "rulesets" / RULESETS[profile])
    stages = [[entry["stage"] for entry in row["stage_history"]] for row in rows]
    assert {row["tier"] for row in rows} == set(ruleset.tiers)
    assert {row["region"] for row in rows} == set(fleet.REGIONS)
    assert {row["status"] for row in rows} & set(ruleset.terminal_statuses)
    assert any(row["status"] == "waiting_customer" for row in rows)
    assert any(any(entry["status"] == "waiting_customer" for entry in row.get("status_history", ())) and row["status"] == "open" for row in rows)
    assert any(len(history) != len(set(history)) for history in stages)  # a reopened stage
    assert any(row.get("tier_history") for row in rows)
    assert any("provider" not in row for row in rows)
    assert {stage for history in stages for stage in history} == set(ruleset.stages)
    if profile == "enterprise":
        assert any(row["product_line"] == "core-server" for row in rows)


def test_next_feed_changes_about_the_fraction_and_adds_new_tickets(generated: tuple[str, Path], tmp_path: Path) -> None:
    profile, path = generated
    later = fleet.AT + timedelta(minutes=30)
    out = tmp_path / "next.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    fleet.write_lines(fleet.next_feed(lines, profile, 0.1, 7, fleet.AT, later), out)
    again = tmp_path / "again.jsonl"
    fleet.write_lines(fleet.next_feed(lines, profile, 0.1, 7, fleet.AT, later), again)
    assert out.read_bytes() == again.read_bytes()

    changed_lines = out.read_text(encoding="utf-8").splitlines()
    old = [json.loads(line) for line in lines]
    new = [json.loads(line) for line in changed_lines]
    assert [row["id"] for row in new[:FLEET]] == [row["id"] for row in old]
    changed = sum(1 for before, after in zip(old, new) if before != after)
    assert 0.04 * FLEET <= changed <= 0.12 * FLEET
    assert len(new) - FLEET == round(FLEET * 0.1 * 0.2)
    assert len({row["id"] for row in new}) == len(new)
    ruleset = load_ruleset(ROOT / "rulesets" / RULESETS[profile])
    reader = TicketReader(out, ruleset.ticket_timezone)
    assert sum(1 for _ in reader) == len(new) and reader.problems == []


def test_command_line_writes_a_fleet_and_its_next_feed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = tmp_path / "fleet.jsonl", tmp_path / "next.jsonl"
    fleet.main(["--count", "50", "--seed", "5", "--ruleset", "repair", "--out", str(first)])
    fleet.main(["--next-of", str(first), "--fraction", "0.5", "--ruleset", "repair", "--out", str(second)])
    assert capsys.readouterr().out.splitlines() == [f"50 tickets written to {first}", f"55 tickets written to {second}"]
    assert first.read_bytes() == b"".join(json.dumps(row, ensure_ascii=False).encode() + b"\n" for row in fleet.tickets("repair", 50, 5))
