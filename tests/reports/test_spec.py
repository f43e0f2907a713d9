"""``reports:`` in a ruleset: first-call statuses must be terminal, the target a percentage."""

from __future__ import annotations

import pytest

from spm_rules.errors import RulesetError
from spm_rules.ruleset.loader import parse_ruleset

BASE = """\
version: 1
name: spec-test
tiers: {P4: {response: 4h}}
stages: [hotline, dispatched]
terminal_statuses: [resolved, first_call_resolved]
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(RulesetError) as info:
        parse_ruleset(BASE + text, "r.yaml")
    return [str(problem) for problem in info.value.problems]


def test_the_report_settings_load() -> None:
    reports = parse_ruleset(BASE + "reports: {first_call_statuses: [first_call_resolved], first_call_target: 78%}\n", "r.yaml").reports
    assert (reports.first_call_statuses, reports.first_call_share) == (["first_call_resolved"], 0.78)
    assert parse_ruleset(BASE, "r.yaml").reports.first_call_share is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "reports: {first_call_statuses: [first_call_resolve]}\n",
            "r.yaml:6: reports.first_call_statuses.0: first-call status 'first_call_resolve' is not one of the terminal_statuses (hint: did you mean 'first_call_resolved'?)",
        ),
        ("reports: {first_call_target: 0.78}\n", "r.yaml:6: reports.first_call_target: first_call_target 0.78 must be a percentage from 0% to 100%, such as '78%'"),
        ("reports: {first_call_target: 120%}\n", "first_call_target 120% must be a percentage from 0% to 100%"),
        ("reports: {first_call: [resolved]}\n", "r.yaml:6: reports.first_call: unknown key 'first_call' (hint: did you mean 'first_call_target'?)"),
    ],
    ids=["not-terminal", "not-a-percentage", "over-100", "unknown-key"],
)
def test_bad_report_settings_are_located_problems(text: str, expected: str) -> None:
    found = problems_of(text)
    assert any(expected in problem for problem in found), found
