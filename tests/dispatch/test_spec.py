"""Providers and dispatch in the ruleset: unknown names located, with a did-you-mean hint."""

from __future__ import annotations

import pytest

from spm_rules.errors import RulesetError
from spm_rules.ruleset.loader import parse_ruleset

from .helpers import dispatch_ruleset


def problems_of(text: str) -> list[str]:
    with pytest.raises(RulesetError) as info:
        parse_ruleset(text, "r.yaml")
    return [str(p) for p in info.value.problems]


def test_the_shared_dispatch_ruleset_loads() -> None:
    ruleset = parse_ruleset(dispatch_ruleset(), "r.yaml")
    assert list(ruleset.providers) == ["partner-north", "partner-north-2", "partner-east", "maker-engineers"]
    assert ruleset.rules[1].then[0].route is not None and ruleset.rules[1].then[0].route.reroute


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("provider: maker-engineers, reroute", "provider: maker-engineer, reroute", "rules.1.then.0.route.provider: unknown provider 'maker-engineer' (hint: did you mean 'maker-engineers'?)"),
        ("to: maker-engineers}", "to: maker-enginers}", "dispatch.fallback.to: unknown provider 'maker-enginers' (hint: did you mean 'maker-engineers'?)"),
        ("calendar: day-shift}", "calendar: day-shfit}", "providers.partner-north.calendar: unknown calendar 'day-shfit' (hint: did you mean 'day-shift'?)"),
        ("{field: provider, present: false}", "{field: provider, eq: partner-nroth}", "rules.0.when.eq: unknown provider 'partner-nroth' (hint: did you mean 'partner-north'?)"),
        ("{field: provider, present: false}", "{field: postal_code, lookup: statoins, present: true}", "rules.0.when.lookup: unknown table 'statoins'"),
        ("urgent_tiers: [P2]", "urgent_tiers: [P3]", "dispatch.fallback.urgent_tiers.0: unknown tier 'P3' (hint: declared: P2, P4)"),
        ("strategy: least_open", "strategy: least_opne", "dispatch.strategy: Input should be 'rule', 'table', 'least_open' or 'best_on_time'"),
    ],
)
def test_unknown_names_are_located(old: str, new: str, expected: str) -> None:
    text = dispatch_ruleset()
    assert old in text
    found = problems_of(text.replace(old, new))
    assert any(expected in problem for problem in found), found


def test_a_route_names_a_provider_or_a_way_to_choose_one_not_both() -> None:
    text = dispatch_ruleset().replace("then: [{route: dispatch}]", "then: [{route: {provider: partner-east, strategy: least_open}}]")
    (found,) = problems_of(text)
    assert "rules.0.then.0.route: a route names a provider, or a table or strategy to choose one, not both" in found
