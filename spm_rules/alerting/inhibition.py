"""Inhibition, with Alertmanager's source / target / equal semantics (``inhibit/inhibit.go``).

In a ruleset::

    inhibit_rules:
      # a red escalation suppresses the yellow one of the same ticket and policy
      - source_match: {level: red}
        target_match: {level: yellow}
        equal: [ticket, policy]
      # a provider-wide incident suppresses the per-ticket alerts for that provider
      - source_match: {alertname: provider-incident}
        target_match: {kind: escalation}
        equal: [provider]

A notification (the target) is inhibited when another active alert (the source) matches
the rule's source matchers, the target matches its target matchers, and both have the
same value for every ``equal`` label (both missing counts as equal).  An alert never
inhibits itself: an alert about a ticket is its (ticket, policy, level), so an
escalation's notifications and repeats are never muted by that escalation as an active
alert.  As in Alertmanager, when the target also matches the source side, sources that
also match the target side do not count: two alerts that each match both sides cannot
mute each other.  Sources are the other notifications of the batch (except
``resolved`` ones) plus any active alerts the caller supplies, such as the open
escalations of the state store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from ..ruleset.types import StrictModel
from .matchers import LabelMatcher, Matcher, Regex, combine, matches_all

__all__ = ["InhibitRuleSpec", "Inhibition", "Inhibitor"]

#: The labels that identify an alert about a ticket: its notifications of any kind
#: (escalation, repeat) and its open escalation are the same alert.
_IDENTITY = ("ticket", "policy", "level")


def _same_alert(one: Mapping[str, str], other: Mapping[str, str]) -> bool:
    return "ticket" in one and all(one.get(name) == other.get(name) for name in _IDENTITY)


class InhibitRuleSpec(StrictModel):
    """One inhibit rule: which alerts mute which, when they agree on the ``equal`` labels."""

    source_match: dict[str, str] = {}
    source_match_re: dict[str, Regex] = {}
    source_matchers: list[Matcher] = []
    target_match: dict[str, str] = {}
    target_match_re: dict[str, Regex] = {}
    target_matchers: list[Matcher] = []
    equal: list[str] = []


@dataclass(frozen=True)
class Inhibition:
    """Why a notification was inhibited: the rule's index and the source's labels."""

    rule: int
    source: Mapping[str, str]

    def describe(self) -> str:
        """A one-line reason, safe to log (labels only)."""
        shown = ", ".join(f"{k}={v}" for k, v in sorted(self.source.items()) if k in ("ticket", "level", "provider", "policy", "alertname", "kind"))
        return f"inhibit_rules[{self.rule}] by an alert with {shown or 'matching labels'}"


@dataclass(frozen=True)
class _Rule:
    index: int
    source: tuple[LabelMatcher, ...]
    target: tuple[LabelMatcher, ...]
    equal: tuple[str, ...]


class Inhibitor:
    """The inhibit rules of a ruleset, compiled."""

    def __init__(self, rules: Sequence[InhibitRuleSpec]) -> None:
        self.rules = [
            _Rule(
                index,
                combine(rule.source_match, rule.source_match_re, rule.source_matchers),
                combine(rule.target_match, rule.target_match_re, rule.target_matchers),
                tuple(rule.equal),
            )
            for index, rule in enumerate(rules)
        ]

    def inhibited(self, target: Mapping[str, str], sources: Iterable[Mapping[str, str]], own: int | None = None) -> Inhibition | None:
        """Why ``target`` is inhibited by one of ``sources`` (None: it is not).

        ``own`` is the position of the target itself in ``sources``, which never counts,
        and neither does a source that is the same alert (same ticket, policy and level).
        """
        candidates = list(sources)
        for rule in self.rules:
            if not matches_all(rule.target, target):
                continue
            two_sided = matches_all(rule.source, target)
            for position, source in enumerate(candidates):
                if position == own or not matches_all(rule.source, source) or _same_alert(target, source):
                    continue
                if two_sided and matches_all(rule.target, source):
                    continue
                if all(source.get(name, "") == target.get(name, "") for name in rule.equal):
                    return Inhibition(rule.index, dict(source))
        return None
