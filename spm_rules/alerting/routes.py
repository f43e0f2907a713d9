"""The routing tree, with Alertmanager's semantics (``dispatch/route.go``).

In a ruleset::

    route:
      receiver: command-center        # the default receiver (required at the root)
      group_by: [policy, level]       # one message per distinct (policy, level)
      max_items: 20                   # items listed per message, then "and N more"
      routes:
        - match: {level: escalate}
          receiver: duty-manager
          continue: true              # keep looking at the next sibling routes
        - match_re: {provider: "partner-.*"}
          receiver: partner-desk
          group_by: [provider]

A notification enters at the root, which matches everything.  Its children are tried in
order; the first that matches is descended into and the search stops there, unless that
child says ``continue: true``.  A route none of whose children matched is itself a
match.  Children inherit ``receiver``, ``group_by``, ``max_items`` and
``repeat_interval`` from their parent unless they set their own.  ``group_by: ["..."]``
groups by every label (one message per distinct label set).

How this meets the receivers a rule named: the rule decides *who* first.  A notification
whose rule named receivers goes to them, grouped with the settings of its first matching
route, plus to the receivers that non-root routes name explicitly; the root's default
receiver is for notifications that reach nobody else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Iterator, Mapping, Sequence

from pydantic import Field, model_validator

from ..ruleset.types import Duration, StrictModel
from .matchers import LabelMatcher, Matcher, Regex, combine, matches_all

__all__ = ["RouteSpec", "RootRouteSpec", "RouteSettings", "RouteMatch", "RoutingTree", "DEFAULT_MAX_ITEMS", "GROUP_BY_ALL"]

DEFAULT_MAX_ITEMS = 20
GROUP_BY_ALL = "..."


class RouteSpec(StrictModel):
    """A node of the routing tree: matchers, an optional receiver, settings, children."""

    receiver: str | None = None
    match: dict[str, str] = {}
    match_re: dict[str, Regex] = {}
    matchers: list[Matcher] = []
    continue_: bool = Field(default=False, alias="continue")
    group_by: list[str] | None = None
    max_items: int | None = Field(default=None, ge=1, le=1000)
    repeat_interval: Duration | None = None
    routes: list["RouteSpec"] = []

    def all_matchers(self) -> tuple[LabelMatcher, ...]:
        """The route's matchers in all three written forms."""
        return combine(self.match, self.match_re, self.matchers)


class RootRouteSpec(RouteSpec):
    """The root route: matches everything and names the default receiver."""

    @model_validator(mode="after")
    def _root(self) -> "RootRouteSpec":
        if self.receiver is None:
            raise ValueError("the root route needs a receiver: the default for notifications no other route takes")
        if self.all_matchers():
            raise ValueError("the root route matches every notification; put match/match_re/matchers on child routes")
        if self.continue_:
            raise ValueError("'continue' has no meaning on the root route")
        return self


@dataclass(frozen=True)
class RouteSettings:
    """What a matched route says about grouping and repeats (inherited down the tree)."""

    group_by: tuple[str, ...] = ()
    max_items: int = DEFAULT_MAX_ITEMS
    repeat_interval: timedelta | None = None


@dataclass(frozen=True)
class RouteMatch:
    """A receiver a notification reaches, through which route (a key path such as
    ``route.routes.1``, or ``rule`` for a receiver the rule named), with its settings.
    ``explicit`` is False when the receiver is the root's default, inherited."""

    receiver: str
    path: str
    settings: RouteSettings
    explicit: bool = True


@dataclass
class _Node:
    path: str
    matchers: tuple[LabelMatcher, ...]
    receiver: str | None
    explicit: bool
    settings: RouteSettings
    continue_: bool
    children: list["_Node"]


def _compile(spec: RouteSpec, path: str, parent: _Node | None) -> _Node:
    inherited = parent.settings if parent else RouteSettings()
    settings = RouteSettings(
        group_by=tuple(spec.group_by) if spec.group_by is not None else inherited.group_by,
        max_items=spec.max_items if spec.max_items is not None else inherited.max_items,
        repeat_interval=spec.repeat_interval if spec.repeat_interval is not None else inherited.repeat_interval,
    )
    receiver = spec.receiver if spec.receiver is not None else (parent.receiver if parent else None)
    explicit = parent is not None and (spec.receiver is not None or parent.explicit)
    node = _Node(path, spec.all_matchers(), receiver, explicit, settings, spec.continue_, [])
    node.children.extend(_compile(child, f"{path}.routes.{index}", node) for index, child in enumerate(spec.routes))
    return node


#: How many label combinations a tree remembers the routes of (then it starts afresh).
_REMEMBERED = 4096


class RoutingTree:
    """A compiled routing tree; without a ``route:`` section only rule-named receivers
    are reached, with default settings.

    The routes a notification reaches depend only on the labels the tree's matchers name
    (a missing one is the empty string), and a burst's notifications share a few
    combinations of them: each combination is walked once."""

    def __init__(self, root: RootRouteSpec | None) -> None:
        self.root = _compile(root, "route", None) if root is not None else None
        self._names = tuple(sorted({matcher.name for node in _nodes(self.root) for matcher in node.matchers})) if self.root else ()
        self._matched: dict[tuple[str, ...], list[RouteMatch]] = {}

    def match(self, labels: Mapping[str, str]) -> list[RouteMatch]:
        """The routes ``labels`` reach, in tree order (Alertmanager's ``Route.Match``)."""
        if self.root is None:
            return []
        key = tuple(labels.get(name, "") for name in self._names)
        found = self._matched.get(key)
        if found is None:
            if len(self._matched) >= _REMEMBERED:
                self._matched.clear()
            found = self._matched[key] = [RouteMatch(node.receiver or "", node.path, node.settings, node.explicit) for node in _walk(self.root, labels)]
        return list(found)

    def targets(self, labels: Mapping[str, str], named: Sequence[str] = ()) -> list[RouteMatch]:
        """The receivers a notification goes to, each once: the rule-named ones first (with
        the first match's settings), then those routes name; the root's default receiver
        only when nobody else is reached."""
        matches = self.match(labels)
        first = matches[0].settings if matches else RouteSettings()
        found = [RouteMatch(name, "rule", first) for name in named]
        found += [m for m in matches if m.explicit]
        if not found:
            found = [m for m in matches if m.receiver]
        unique: dict[str, RouteMatch] = {}
        for target in found:
            unique.setdefault(target.receiver, target)
        return list(unique.values())

    def repeat_interval(self, labels: Mapping[str, str]) -> timedelta | None:
        """The repeat interval of the first route ``labels`` reach (None: not set)."""
        matches = self.match(labels)
        return matches[0].settings.repeat_interval if matches else None


def _nodes(node: _Node) -> Iterator[_Node]:
    """``node`` and every route below it."""
    yield node
    for child in node.children:
        yield from _nodes(child)


def _walk(node: _Node, labels: Mapping[str, str]) -> list[_Node]:
    if not matches_all(node.matchers, labels):
        return []
    found: list[_Node] = []
    for child in node.children:
        matched = _walk(child, labels)
        found += matched
        if matched and not child.continue_:
            break
    return found or [node]


RouteSpec.model_rebuild()
