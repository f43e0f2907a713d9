"""The routing tree: Alertmanager's first-match-unless-continue, inheritance, rule-named receivers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from spm_rules.alerting import AlertPipeline, RoutingTree, routes
from tests.alerting.helpers import NOW, note, ruleset_with
from tests.fixtures.servers import HttpServer

TREE = """\
receivers:
  default: {urls: ["console://"]}
  duty: {urls: ["console://"]}
  partners: {urls: ["console://"]}
  east: {urls: ["console://"]}
  named: {urls: ["console://"]}
route:
  receiver: default
  group_by: [level]
  max_items: 5
  repeat_interval: 1h
  routes:
    - match: {level: escalate}
      receiver: duty
      continue: true
    - match_re: {provider: "partner-.*"}
      receiver: partners
      group_by: [provider]
      routes:
        - matchers: ['provider="partner-east"']
          receiver: east
          max_items: 2
    - match: {provider: partner-west}
      receiver: never-reached-after-partners
    - match: {region: north}
      group_by: [region]
"""


@pytest.fixture(scope="module")
def tree() -> RoutingTree:
    return RoutingTree(ruleset_with(TREE.replace("never-reached-after-partners", "duty")).route)


@pytest.mark.parametrize(
    ("labels", "named", "expected"),
    [
        # no child matches: the root (default receiver)
        ({"level": "red"}, (), [("default", "route", ("level",), 5)]),
        # first match wins: partner-west goes to partners, not to the later sibling
        ({"provider": "partner-west"}, (), [("partners", "route.routes.1", ("provider",), 5)]),
        # a nested match, inheriting group_by and overriding max_items
        ({"provider": "partner-east"}, (), [("east", "route.routes.1.routes.0", ("provider",), 2)]),
        # continue: the escalate route matches and the search goes on
        (
            {"level": "escalate", "provider": "partner-west"},
            (),
            [("duty", "route.routes.0", ("level",), 5), ("partners", "route.routes.1", ("provider",), 5)],
        ),
        # a child without a receiver inherits the root's default
        ({"region": "north"}, (), [("default", "route.routes.3", ("region",), 5)]),
        # a rule-named receiver gets the first match's settings; the default is not added
        ({"region": "north"}, ("named",), [("named", "rule", ("region",), 5)]),
        # ...but receivers routes name explicitly are added
        ({"provider": "partner-west"}, ("named",), [("named", "rule", ("provider",), 5), ("partners", "route.routes.1", ("provider",), 5)]),
        # each receiver once
        ({"provider": "partner-west"}, ("partners",), [("partners", "rule", ("provider",), 5)]),
    ],
)
def test_targets(tree: RoutingTree, labels: dict[str, str], named: tuple[str, ...], expected: list[tuple]) -> None:
    found = [(t.receiver, t.path, t.settings.group_by, t.settings.max_items) for t in tree.targets(labels, named)]
    assert found == expected


def test_a_tree_walks_once_per_combination_of_the_labels_its_routes_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """A remembered walk gives what a fresh tree's walk gives: labels the routes do not name
    (the ticket) share one, those they name (level, provider, region) do not, and a tree
    that has remembered its fill starts afresh."""
    monkeypatch.setattr(routes, "_REMEMBERED", 2)
    spec = ruleset_with(TREE.replace("never-reached-after-partners", "duty")).route
    tree = RoutingTree(spec)
    combinations = [("partner-east", "red", ""), ("partner-east", "escalate", ""), ("partner-west", "red", "north"), ("", "red", "north"), ("partner-east", "red", "")]
    for number, (provider, level, region) in enumerate(combinations * 2):
        labels = {"ticket": f"EC-{number}", "provider": provider, "level": level, "region": region}
        assert tree.match(labels) == RoutingTree(spec).match(labels)
    assert len(tree._matched) <= 2


def test_settings_are_inherited_down_the_tree(tree: RoutingTree) -> None:
    assert tree.repeat_interval({"provider": "partner-east"}) == timedelta(hours=1)


def test_without_a_route_only_named_receivers_are_reached() -> None:
    tree = RoutingTree(None)
    assert tree.targets({"level": "red"}) == []
    assert [t.receiver for t in tree.targets({"level": "red"}, ("ops",))] == ["ops"]


def test_routing_with_continue_delivers_to_every_matched_receiver(http_server: HttpServer) -> None:
    ruleset = ruleset_with(
        f"""\
        receivers:
          default: {{urls: ["{http_server.json_url('default')}"]}}
          duty: {{urls: ["{http_server.json_url('duty')}"]}}
          partners: {{urls: ["{http_server.json_url('partners')}"]}}
        route:
          receiver: default
          routes:
            - match: {{level: escalate}}
              receiver: duty
              continue: true
            - match_re: {{provider: "partner-.*"}}
              receiver: partners
        """
    )
    batch = [note("EC-1", "escalate"), note("EC-2", "red", provider="maker-engineers")]
    outcomes = AlertPipeline(ruleset).deliver(batch, NOW)
    assert [(o.key, o.status, o.detail) for o in outcomes] == [
        ("EC-1|response|escalate|1", "sent", "sent to duty, partners"),
        ("EC-2|response|red|1", "sent", "sent to default"),
    ]
    paths = sorted(r.path for r in http_server.requests)
    assert paths == ["/default", "/duty", "/partners"]
    by_path = {r.path: r.json() for r in http_server.requests}
    assert "EC-1" in by_path["/duty"]["message"] and "EC-1" in by_path["/partners"]["message"]
    assert "EC-2" in by_path["/default"]["message"] and "EC-1" not in by_path["/default"]["message"]
