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

__all__ = ["InhibitRuleSpec", "Inhibition", "Inhibitor", "SourceIndex"]

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

    def equal_values(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        """The values a source and a target must share (a missing label is empty)."""
        return tuple(labels.get(name, "") for name in self.equal)


#: A source in an index: its canonical order, its position among the sources, its labels.
_Entry = tuple[tuple[tuple[str, str], ...], int, Mapping[str, str]]


class SourceIndex:
    """Alerts that may inhibit, indexed for every rule of an :class:`Inhibitor`.

    Per rule, the alerts matching its source side are bucketed by their ``equal``
    values, and each bucket split into those that do not also match the target side
    and those that do (which do not count against a target that matches both sides).
    Finding what inhibits a notification is then a look-up, not a scan of every alert;
    building the index costs one pass over the alerts.  Buckets are in a canonical
    order (by label values), so the source named is the same whatever order the alerts
    came in.
    """

    def __init__(self, inhibitor: "Inhibitor", sources: Iterable[Mapping[str, str]]) -> None:
        self.buckets: list[dict[tuple[str, ...], tuple[list[_Entry], list[_Entry]]]] = [{} for _ in inhibitor.rules]
        for position, source in enumerate(sources):
            order: tuple[tuple[str, str], ...] | None = None  # only for a source some rule takes
            for rule, buckets in zip(inhibitor.rules, self.buckets):
                if matches_all(rule.source, source):
                    if order is None:
                        order = tuple(sorted(source.items()))
                    plain, both = buckets.setdefault(rule.equal_values(source), ([], []))
                    (both if matches_all(rule.target, source) else plain).append((order, position, source))
        for buckets in self.buckets:
            for plain, both in buckets.values():
                plain.sort(key=lambda entry: entry[:2])
                both.sort(key=lambda entry: entry[:2])

    def best(self, rule: int, values: tuple[str, ...], two_sided: bool, target: Mapping[str, str], own: int | None) -> _Entry | None:
        """The first source (canonical order) that inhibits ``target`` under rule ``rule``,
        given the target's ``equal`` values; ``own`` is the target's own position."""
        plain, both = self.buckets[rule].get(values, ((), ()))
        found: _Entry | None = None
        for entries in (plain,) if two_sided else (plain, both):
            for entry in entries:
                if entry[1] == own or _same_alert(target, entry[2]):
                    continue
                if found is None or entry[:2] < found[:2]:
                    found = entry
                break
        return found


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

    def index(self, sources: Iterable[Mapping[str, str]]) -> SourceIndex:
        """``sources`` indexed for :meth:`find` (build it once, look up many targets)."""
        return SourceIndex(self, sources)

    def find(self, target: Mapping[str, str], indexes: Sequence[tuple[SourceIndex, int | None]]) -> Inhibition | None:
        """Why ``target`` is inhibited by a source of one of ``indexes`` (None: it is not).

        Each index comes with the target's own position in it (None: it is not there);
        the first rule that inhibits decides, naming its first source in canonical order.
        """
        for position, rule in enumerate(self.rules):
            # Only the indexes holding a source of the rule can inhibit under it.
            searched = [(index, own) for index, own in indexes if index.buckets[position]]
            if not searched or not matches_all(rule.target, target):
                continue
            two_sided = matches_all(rule.source, target)
            values = rule.equal_values(target)
            found = [hit for index, own in searched if (hit := index.best(position, values, two_sided, target, own)) is not None]
            if found:
                return Inhibition(rule.index, dict(min(found, key=lambda entry: entry[:2])[2]))
        return None

    def inhibited(self, target: Mapping[str, str], sources: Iterable[Mapping[str, str]], own: int | None = None) -> Inhibition | None:
        """Why ``target`` is inhibited by one of ``sources`` (None: it is not).

        ``own`` is the position of the target itself in ``sources``, which never counts,
        and neither does a source that is the same alert (same ticket, policy and level).
        """
        return self.find(target, [(self.index(sources), own)])
