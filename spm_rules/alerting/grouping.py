"""Grouping: the notifications of one run bundled into one message per group.

A group is a receiver, the route that sent there, and the values of the route's
``group_by`` labels: with ``group_by: [provider]`` every provider's red tickets make one
message for that receiver instead of one message each.  ``group_by: []`` (the default)
puts everything for a receiver through one route into one message; ``["..."]`` groups by
every label, one message per distinct label set.  A message lists at most ``max_items``
of its notifications and says "and N more" for the rest, which count as told.

A schedule's notification (label ``kind: schedule``) is a report of its own, never an
item of a list: it always makes a message by itself, one per tick and receiver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Iterable, Mapping, TypeVar

from .routes import GROUP_BY_ALL, RouteMatch, RouteSettings

__all__ = ["Group", "group_labels", "build_groups", "ALONE_KINDS"]

#: Notification kinds that are never grouped, with anything.
ALONE_KINDS = frozenset({"schedule"})

T = TypeVar("T")


def group_labels(group_by: Iterable[str], labels: Mapping[str, str]) -> dict[str, str]:
    """The labels that identify a notification's group (a missing label is empty)."""
    names = list(group_by)
    if GROUP_BY_ALL in names:
        return dict(sorted(labels.items()))
    return {name: labels.get(name, "") for name in names}


@dataclass
class Group(Generic[T]):
    """The notifications (``members``, in arrival order) that become one message."""

    receiver: str
    path: str
    labels: dict[str, str]
    settings: RouteSettings
    members: list[T] = field(default_factory=list)

    @property
    def listed(self) -> list[T]:
        """The members the message lists (at most ``max_items``)."""
        return self.members[: self.settings.max_items]

    @property
    def omitted(self) -> int:
        """How many members the message only counts ("and N more")."""
        return max(0, len(self.members) - self.settings.max_items)


def build_groups(entries: Iterable[tuple[T, Mapping[str, str], RouteMatch]]) -> list[Group[T]]:
    """Bundle (item, labels, target) triples into groups, in order of first appearance
    (an item of a kind in ``ALONE_KINDS`` makes a group by itself)."""
    groups: dict[tuple[str, str, tuple[tuple[str, str], ...], int], Group[T]] = {}
    for index, (item, labels, target) in enumerate(entries):
        shared = group_labels(target.settings.group_by, labels)
        alone = index if labels.get("kind") in ALONE_KINDS else -1
        key = (target.receiver, target.path, tuple(shared.items()), alone)
        group = groups.get(key)
        if group is None:
            group = groups[key] = Group(target.receiver, target.path, shared, target.settings)
        group.members.append(item)
    return list(groups.values())
