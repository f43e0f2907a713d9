"""A small dispatch ruleset the dispatch tests share: three partners, one in-house team."""

from __future__ import annotations

DISPATCH_RULESET = """\
name: dispatch-test
tiers: {P2: {response: 2h}, P4: {response: 4h}}
stages: [hotline, dispatched, onsite]
terminal_statuses: [resolved]
calendars:
  day-shift:
    timezone: Asia/Shanghai
    hours: {mon-sun: ["08:00-20:00"]}
providers:
  partner-north: {regions: [north], product_lines: [rack, blade], capacity: CAPACITY, calendar: day-shift}
  partner-north-2: {regions: [north], product_lines: [rack, blade], capacity: 5}
  partner-east: {regions: [east], product_lines: [rack, blade], capacity: 5}
  maker-engineers: {product_lines: [core-server], in_house: true}
dispatch:
  strategy: STRATEGY
  fallback: {urgent_tiers: [P2], max_red: 1, to: maker-engineers}
policies:
  - name: response
    targets: {dispatched: response}
    levels:
      - {name: red, at: 100%}
      - {name: escalate, after_due: 2h}
rules:
  - name: dispatch
    when: {field: provider, present: false}
    then: [{route: dispatch}]
  - name: move-in-house
    when: {all: [{field: sla.policy, eq: response}, {field: sla.level, eq: escalate}]}
    then: [{route: {provider: maker-engineers, reroute: true, reason: "the partner missed the response level by 2 hours"}}]
"""


def dispatch_ruleset(capacity: int = 5, strategy: str = "least_open") -> str:
    """The shared ruleset's text with partner-north's capacity and the strategy set."""
    return DISPATCH_RULESET.replace("CAPACITY", str(capacity)).replace("STRATEGY", strategy)
