"""The pipeline's handling of resolved notifications: exactly the receivers they name,
grouped as the firing notifications were, never inhibited; and outcomes that do not
depend on the order notifications arrive in."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spm_rules.alerting import AlertPipeline
from spm_rules.ruleset.loader import load_ruleset
from tests.alerting.helpers import NOW, note, ruleset_with

ROOT = Path(__file__).resolve().parents[2]

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


_COMMAND_CENTER = load_ruleset(ROOT / "rulesets" / "enterprise-command-center.yaml")
#: Notifications of several tickets, levels and providers through the shipped command
#: center's grouping and inhibit rules (red mutes yellow, escalate mutes both, per ticket).
_TICKETS = [(f"EC-{n}", provider) for n, provider in enumerate(["partner-east", "partner-east", "partner-south", "partner-north", "partner-east"])]
_BURST = [
    note(ticket, level, receivers=receivers, provider=provider, occurrence=occurrence, kind="repeat" if occurrence > 1 else "escalation")
    for index, (ticket, provider) in enumerate(_TICKETS)
    for level, receivers in (("yellow", ("partner-desk",)), ("red", ("command-center", "partner-desk")), ("escalate", ("duty-manager",)))
    for occurrence in (1, 2)
    if (index + len(level) + occurrence) % 3
]


@given(st.permutations(_BURST), st.data())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_outcomes_and_messages_do_not_depend_on_the_order_of_the_notifications(order: list, data: st.DataObject) -> None:
    """Whatever order the outbox hands notifications over in (and whatever open
    escalations are active besides), each key gets the same outcome with the same reason,
    and the same messages list the same items in the same order."""
    alerts = [{"ticket": "EC-4", "policy": "response", "level": "escalate", "kind": "escalation", "provider": "partner-east"}]
    shuffled_alerts = data.draw(st.permutations(alerts + [{"alertname": "other"}]))

    def outcome(notes: list, active: list) -> tuple:
        plan = AlertPipeline(_COMMAND_CENTER, active_alerts=active).plan(notes, NOW)
        decided = sorted((key, o.status, o.detail) for key, o in plan.decided.items())
        messages = sorted((m.receiver, m.title, m.body, tuple(n.key for n in m.notifications)) for m in plan.messages)
        return decided, messages

    expected = outcome(_BURST, alerts + [{"alertname": "other"}])
    assert [status for _, status, _ in expected[0]].count("inhibited") >= 5, "the burst exercises inhibition"
    assert outcome(order, shuffled_alerts) == expected
