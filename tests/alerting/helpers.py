"""Small builders shared by the alerting tests: rulesets from YAML snippets, notifications."""

from __future__ import annotations

import textwrap
from urllib.parse import quote
from datetime import datetime, timezone
from typing import Any

from spm_rules.notifications import Notification
from spm_rules.ruleset.loader import parse_ruleset
from spm_rules.ruleset.schema import Ruleset

__all__ = ["NOW", "ruleset_with", "note", "schedule_note", "secret_forms"]

#: Wednesday 2026-11-25 14:00 in Shanghai.
NOW = datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc)

_HEAD = """\
name: alerting-test
ticket_timezone: Asia/Shanghai
tiers: {P4: {response: 4h}}
stages: [dispatched, onsite]
terminal_statuses: [resolved]
"""


def ruleset_with(alerting_yaml: str, *, delivery: str = "{timeout: 3s, concurrency: 4}") -> Ruleset:
    """A valid ruleset whose alerting sections are ``alerting_yaml`` (dedented)."""
    return parse_ruleset(_HEAD + f"delivery: {delivery}\n" + textwrap.dedent(alerting_yaml), "test.yaml")


def note(
    ticket: str = "EC-1",
    level: str = "red",
    *,
    receivers: tuple[str, ...] = (),
    kind: str = "escalation",
    policy: str = "response",
    provider: str = "partner-east",
    occurrence: int = 1,
    urgent: bool = False,
    ticket_fields: dict[str, Any] | None = None,
    **labels: str,
) -> Notification:
    """A notification as the stateful run writes it (labels, ticket fact and SLA status)."""
    fields = {"id": ticket, "tier": "P4", "status": "open", "provider": provider, "customer": "Eastern Bank", **(ticket_fields or {})}
    sla = {"policy": policy, "stage": "dispatched", "level": level, "due_at": "2026-11-25T05:00:00+00:00", "elapsed": "4h30m", "target": "4h"}
    all_labels = {"id": ticket, "tier": "P4", "provider": provider, "policy": policy, "level": level, "rule": f"response-{level}", **labels}
    payload = {"ticket": fields, "sla": sla, "rules": [f"response-{level}"], "why": [f"rule 'response-{level}': sla.level == {level!r}"], "urgent": urgent}
    return Notification(f"{ticket}|{policy}|{level}|{occurrence}", kind, ticket, receivers, all_labels, payload, NOW)  # type: ignore[arg-type]


def schedule_note(payload: dict[str, Any], *, receivers: tuple[str, ...] = ("ops",)) -> Notification:
    """A schedule tick's notification as the stateful run writes it: ``payload`` holds
    ``schedule``, ``action`` and ``scheduled_at`` and the action's data."""
    key = f"schedule|{payload['schedule']}|{payload['scheduled_at']}"
    labels = {"schedule": payload["schedule"], "action": payload["action"]}
    return Notification(key, "schedule", None, receivers, labels, payload, NOW)


def secret_forms(value: str) -> set[str]:
    """A secret as it could leak: as written, and percent-encoded as a URL carries it."""
    return {value, quote(value, safe=""), quote(value)}
