"""The pipeline's handling of resolved notifications: exactly the receivers they name,
grouped as the firing notifications were, never inhibited."""

from __future__ import annotations

from spm_rules.alerting import AlertPipeline
from tests.alerting.helpers import NOW, note, ruleset_with

RESOLVED = """\
receivers:
  desk: {urls: ["console://desk"], send_resolved: true}
  center: {urls: ["console://center"]}
  duty: {urls: ["console://duty"], send_resolved: true}
route:
  receiver: center
  group_by: [policy, level]
  routes:
    - match_re: {provider: "partner-.*"}
      group_by: [provider, level]
      continue: true
    - match: {level: red}
      receiver: duty
      group_by: [policy]
inhibit_rules:
  - source_match: {level: escalate}
    target_match: {level: red}
    equal: [ticket]
"""


def _groups(plan_messages: list) -> set[tuple[str, tuple[tuple[str, str], ...], str]]:
    return {(m.receiver, tuple(sorted(m.group.items())), m.notifications[0].kind) for m in plan_messages}


def test_a_resolved_notification_goes_to_the_receivers_it_names_grouped_as_the_firing_ones() -> None:
    pipeline = AlertPipeline(ruleset_with(RESOLVED))
    firing = note("EC-1", "red", receivers=("desk",))
    resolved = note("EC-1", "red", receivers=("desk", "duty"), kind="resolved")
    resolved.payload["firing_receivers"] = ["desk"]
    fired = _groups(pipeline.plan([firing], NOW).messages)
    told = _groups(pipeline.plan([resolved], NOW).messages)
    # desk was named by the rule (the first route's grouping), duty reached through its own route.
    assert fired == {
        ("desk", (("level", "red"), ("provider", "partner-east")), "escalation"),
        ("duty", (("policy", "response"),), "escalation"),
    }
    assert told == {(receiver, group, "resolved") for receiver, group, _ in fired}


def test_a_resolved_notification_is_never_inhibited() -> None:
    escalated = {"ticket": "EC-1", "policy": "response", "level": "escalate", "kind": "escalation"}
    pipeline = AlertPipeline(ruleset_with(RESOLVED), active_alerts=[escalated])
    resolved = note("EC-1", "red", receivers=("desk",), kind="resolved", occurrence=2)
    plan = pipeline.plan([note("EC-1", "red", receivers=("desk",)), resolved], NOW)
    assert {key: outcome.status for key, outcome in plan.decided.items()} == {"EC-1|response|red|1": "inhibited"}
    assert [(m.receiver, [n.key for n in m.notifications]) for m in plan.messages] == [("desk", [resolved.key])]
