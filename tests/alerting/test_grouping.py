"""Grouping: one message per group, a cap on items, "and N more"."""

from __future__ import annotations

import pytest

from spm_rules.alerting import AlertPipeline
from spm_rules.alerting.grouping import build_groups, group_labels
from spm_rules.alerting.routes import RouteMatch, RouteSettings
from tests.alerting.helpers import NOW, note, ruleset_with, schedule_note
from tests.fixtures.servers import HttpServer


@pytest.mark.parametrize(
    ("group_by", "labels", "expected"),
    [
        ((), {"provider": "p", "level": "red"}, {}),
        (("provider",), {"provider": "p", "level": "red"}, {"provider": "p"}),
        (("provider", "region"), {"provider": "p"}, {"provider": "p", "region": ""}),
        (("...",), {"provider": "p", "level": "red"}, {"level": "red", "provider": "p"}),
    ],
)
def test_group_labels(group_by: tuple[str, ...], labels: dict[str, str], expected: dict[str, str]) -> None:
    assert group_labels(group_by, labels) == expected


def test_groups_keep_arrival_order_and_cap_their_listing() -> None:
    target = RouteMatch("ops", "route", RouteSettings(group_by=("provider",), max_items=2))
    entries = [(f"T{i}", {"provider": "east" if i % 2 else "west"}, target) for i in range(7)]
    groups = build_groups(entries)
    assert [(g.labels["provider"], g.members, g.listed, g.omitted) for g in groups] == [
        ("west", ["T0", "T2", "T4", "T6"], ["T0", "T2"], 2),
        ("east", ["T1", "T3", "T5"], ["T1", "T3"], 1),
    ]


def test_one_message_per_provider_with_and_n_more(http_server: HttpServer) -> None:
    ruleset = ruleset_with(
        f"""\
        receivers:
          desk: {{urls: ["{http_server.json_url('desk')}"]}}
        route:
          receiver: desk
          group_by: [provider]
          max_items: 3
        """
    )
    batch = [note(f"EC-{i}", "red", provider="partner-east") for i in range(5)] + [note("EC-9", "red", provider="partner-west")]
    outcomes = AlertPipeline(ruleset).deliver(batch, NOW)
    assert [o.status for o in outcomes] == ["sent"] * 6
    assert len(http_server.requests) == 2
    messages = {r.json()["title"]: r.json()["message"] for r in http_server.requests}
    east = messages["5 notifications · provider partner-east"]
    assert [line.split()[0] for line in east.splitlines() if line.startswith("EC-")] == ["EC-0", "EC-1", "EC-2"]
    assert east.splitlines()[-1] == "… and 2 more"
    assert "EC-9" in messages["[red] EC-9 · partner-west"]


def test_schedule_messages_are_never_grouped_with_tickets_or_with_each_other() -> None:
    ruleset = ruleset_with(
        """\
        receivers: {ops: {urls: ['console://']}, desk: {urls: ['console://']}}
        route: {receiver: ops, group_by: []}
        """
    )
    payload = {"schedule": "morning", "action": "inspections", "timezone": "UTC", "tiers": ["P4"], "customers": []}
    ticks = [schedule_note({**payload, "scheduled_at": f"2026-11-25T0{hour}:00:00+00:00"}, receivers=("ops", "desk")) for hour in (1, 2)]
    tickets = [note("EC-1", receivers=("ops",)), note("EC-2", receivers=("ops",))]
    plan = AlertPipeline(ruleset).plan([tickets[0], ticks[0], tickets[1], ticks[1]], NOW)
    assert [(m.receiver, [n.key for n in m.notifications]) for m in plan.messages] == [
        ("ops", ["EC-1|response|red|1", "EC-2|response|red|1"]),  # group_by []: the tickets share one message
        ("ops", [ticks[0].key]),
        ("desk", [ticks[0].key]),
        ("ops", [ticks[1].key]),
        ("desk", [ticks[1].key]),
    ]
