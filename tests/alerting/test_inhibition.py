"""Inhibition: Alertmanager's source / target / equal semantics."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spm_rules.alerting import AlertPipeline, InhibitRuleSpec, Inhibitor
from tests.alerting.helpers import NOW, note, ruleset_with
from tests.fixtures.servers import HttpServer

RED_OVER_YELLOW = InhibitRuleSpec.model_validate({"source_match": {"level": "red"}, "target_match": {"level": "yellow"}, "equal": ["ticket"]})
BOTH_SIDES = InhibitRuleSpec.model_validate({"source_match_re": {"level": "red|yellow"}, "target_match_re": {"level": "red|yellow"}, "equal": ["ticket"]})


@pytest.mark.parametrize(
    ("rule", "target", "sources", "inhibited"),
    [
        (RED_OVER_YELLOW, {"ticket": "T1", "level": "yellow"}, [{"ticket": "T1", "level": "red"}], True),
        (RED_OVER_YELLOW, {"ticket": "T1", "level": "yellow"}, [{"ticket": "T2", "level": "red"}], False),  # equal differs
        (RED_OVER_YELLOW, {"level": "yellow"}, [{"level": "red"}], True),  # both missing counts as equal
        (RED_OVER_YELLOW, {"ticket": "T1", "level": "yellow"}, [{"level": "red"}], False),  # one missing is not
        (RED_OVER_YELLOW, {"ticket": "T1", "level": "red"}, [{"ticket": "T1", "level": "red"}], False),  # not a target
        (RED_OVER_YELLOW, {"ticket": "T1", "level": "yellow"}, [{"ticket": "T1", "level": "yellow"}], False),  # not a source
        # matching both sides: sources that also match the target side do not count
        (BOTH_SIDES, {"ticket": "T1", "level": "yellow"}, [{"ticket": "T1", "level": "red"}], False),
    ],
)
def test_inhibited(rule: InhibitRuleSpec, target: dict, sources: list[dict], inhibited: bool) -> None:
    assert (Inhibitor([rule]).inhibited(target, sources) is not None) is inhibited


def test_an_alert_never_inhibits_itself() -> None:
    rule = InhibitRuleSpec.model_validate({"source_match": {"kind": "escalation"}, "target_match": {"level": "red"}})
    me = {"kind": "escalation", "level": "red"}
    assert Inhibitor([rule]).inhibited(me, [me], own=0) is None


ESCALATE_OVER_REPEATS = InhibitRuleSpec.model_validate({"source_match": {"level": "escalate"}, "target_match": {"kind": "repeat"}, "equal": ["ticket"]})
REPEAT = {"ticket": "T1", "policy": "response", "level": "escalate", "kind": "repeat"}


@pytest.mark.parametrize(
    ("source", "inhibited"),
    [
        ({"ticket": "T1", "policy": "response", "level": "escalate", "kind": "escalation"}, False),  # its own escalation: the same alert
        ({"ticket": "T1", "policy": "resolution", "level": "escalate", "kind": "escalation"}, True),  # another policy's: another alert
        ({"ticket": "T2", "policy": "response", "level": "escalate", "kind": "escalation"}, False),  # another ticket: equal differs
    ],
)
def test_an_alert_is_its_ticket_policy_and_level_whatever_the_kind(source: dict, inhibited: bool) -> None:
    assert (Inhibitor([ESCALATE_OVER_REPEATS]).inhibited(REPEAT, [source]) is not None) is inhibited


def test_a_repeat_is_not_inhibited_by_its_own_open_escalation() -> None:
    ruleset = ruleset_with("receivers: {desk: {urls: ['console://']}}\nroute: {receiver: desk}\n" + INHIBIT_REPEATS)
    own = {"ticket": "EC-1", "policy": "response", "level": "escalate", "kind": "escalation", "provider": "partner-east"}
    other = dict(own, ticket="EC-2")
    repeats = [note("EC-1", "escalate", kind="repeat", occurrence=2), note("EC-2", "red", kind="repeat", occurrence=3)]
    plan = AlertPipeline(ruleset, active_alerts=lambda now: [own, other]).plan(repeats, NOW)
    assert {key: outcome.status for key, outcome in plan.decided.items()} == {"EC-2|response|red|3": "inhibited"}
    assert [n.key for m in plan.messages for n in m.notifications] == ["EC-1|response|escalate|2"]


INHIBIT_REPEATS = """\
inhibit_rules:
  - source_match: {level: escalate}
    target_match: {kind: repeat}
    equal: [ticket]
"""


INHIBIT = """\
route:
  receiver: desk
inhibit_rules:
  - source_match: {level: red}
    target_match: {level: yellow}
    equal: [ticket]
  - source_match: {alertname: provider-incident}
    target_match_re: {kind: "escalation|repeat"}
    equal: [provider]
"""


def test_red_suppresses_yellow_of_the_same_ticket(http_server: HttpServer) -> None:
    ruleset = ruleset_with(f"receivers: {{desk: {{urls: ['{http_server.json_url()}']}}}}\n" + INHIBIT)
    batch = [note("EC-1", "yellow"), note("EC-1", "red"), note("EC-2", "yellow")]
    outcomes = [(o.key, o.status, o.detail) for o in AlertPipeline(ruleset).deliver(batch, NOW)]
    assert outcomes == [
        ("EC-1|response|yellow|1", "inhibited", "inhibit_rules[0] by an alert with kind=escalation, level=red, policy=response, provider=partner-east, ticket=EC-1"),
        ("EC-1|response|red|1", "sent", "sent to desk"),
        ("EC-2|response|yellow|1", "sent", "sent to desk"),
    ]
    (request,) = http_server.requests
    assert "EC-2" in request.json()["message"] and "EC-1 [yellow]" not in request.json()["message"]


def test_a_provider_incident_suppresses_that_providers_ticket_alerts(http_server: HttpServer) -> None:
    incident = {"alertname": "provider-incident", "provider": "partner-east", "kind": "meta"}
    ruleset = ruleset_with(f"receivers: {{desk: {{urls: ['{http_server.json_url()}']}}}}\n" + INHIBIT)
    pipeline = AlertPipeline(ruleset, active_alerts=lambda now: [incident])
    batch = [note("EC-1", "red", provider="partner-east"), note("EC-2", "red", provider="partner-west", kind="repeat")]
    assert [o.status for o in pipeline.deliver(batch, NOW)] == ["inhibited", "sent"]
    (request,) = http_server.requests
    assert "EC-2" in request.json()["message"]


def test_a_resolved_notification_is_no_source() -> None:
    ruleset = ruleset_with("receivers: {desk: {urls: ['console://']}}\n" + INHIBIT)
    plan = AlertPipeline(ruleset).plan([note("EC-1", "yellow"), note("EC-1", "red", kind="resolved")], NOW)
    assert plan.decided == {}


_LEVELS = ("yellow", "red", "escalate")
_ALERT = st.fixed_dictionaries(
    {"ticket": st.sampled_from(["T1", "T2"]), "policy": st.just("response"), "level": st.sampled_from(_LEVELS), "provider": st.sampled_from(["p1", "p2"])},
    optional={"kind": st.sampled_from(["escalation", "repeat"])},
)
_RULES = [
    RED_OVER_YELLOW,
    BOTH_SIDES,
    ESCALATE_OVER_REPEATS,
    InhibitRuleSpec.model_validate({"source_match": {"level": "escalate"}, "target_match_re": {"level": "yellow|red"}, "equal": ["provider"]}),
]


def _scan(rules: list[InhibitRuleSpec], target: dict, sources: list[dict], own: int | None) -> int | None:
    """The rule that inhibits ``target`` by Alertmanager's semantics, checked source by source."""
    inhibitor = Inhibitor(rules)
    for rule in inhibitor.rules:
        if not all(m.matches(target) for m in rule.target):
            continue
        two_sided = all(m.matches(target) for m in rule.source)
        for position, source in enumerate(sources):
            same = "ticket" in target and all(target.get(n) == source.get(n) for n in ("ticket", "policy", "level"))
            if position == own or same or not all(m.matches(source) for m in rule.source):
                continue
            if two_sided and all(m.matches(source) for m in rule.target):
                continue
            if all(source.get(n, "") == target.get(n, "") for n in rule.equal):
                return rule.index
    return None


@given(st.lists(st.sampled_from(_RULES), min_size=1, max_size=3, unique_by=id), st.lists(_ALERT, min_size=1, max_size=8), st.data())
@settings(max_examples=200, deadline=None)
def test_the_index_finds_the_rule_a_scan_of_every_source_finds(rules: list, sources: list, data: st.DataObject) -> None:
    own = data.draw(st.none() | st.integers(0, len(sources) - 1))
    target = sources[own] if own is not None else data.draw(_ALERT)
    found = Inhibitor(rules).inhibited(target, sources, own=own)
    assert (found.rule if found is not None else None) == _scan(rules, target, sources, own)
