"""Silences: time-bounded matchers that mute the notifications they match.

From the ruleset (a known maintenance window)::

    silences:
      - matchers: ['provider="partner-east"']
        starts_at: 2026-11-25T00:00:00+08:00
        ends_at: 2026-11-25T06:00:00+08:00
        comment: Partner East moves its dispatch system
        created_by: ops

or created from the CLI and kept by the state store, whose records (``id``,
``matchers`` as JSON, ``starts_at``, ``ends_at``, ``comment``, ``created_by``) are read
by :func:`silence_from_record` from a mapping or any object with those attributes.  A
silence is active from ``starts_at`` (inclusive) to ``ends_at`` (exclusive).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence

from pydantic import AwareDatetime, Field, model_validator

from ..ruleset.types import StrictModel
from .matchers import LabelMatcher, Matcher, Regex, combine, format_matchers, matchers_from_json, matches_all

__all__ = ["SilenceSpec", "Silence", "SilenceIndex", "silence_problem", "silence_from_record", "active_silences", "silenced_by"]


def silence_problem(matchers: Sequence[LabelMatcher]) -> str | None:
    """Why a new silence with these matchers is refused, or None.

    As in Alertmanager, a silence needs a matcher, and one that does not match the empty
    string: a silence of only ``region=""``, ``level!=red`` or ``level=~".*"`` would also
    mute every notification that lacks the label, which is almost all of them.
    """
    if not matchers:
        return "a silence needs at least one matcher (match, match_re or matchers); it would mute everything"
    if all(matcher.matches({}) for matcher in matchers):
        return (
            f"every matcher of this silence matches an empty label ({format_matchers(matchers)}), so it would mute almost "
            'everything: add a matcher that needs a value, such as provider="partner-east"'
        )
    return None


class SilenceSpec(StrictModel):
    """A silence written in the ruleset: matchers, a time span with offsets, and why."""

    match: dict[str, str] = {}
    match_re: dict[str, Regex] = {}
    matchers: list[Matcher] = []
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    comment: str = Field(min_length=1)
    created_by: str | None = None

    @model_validator(mode="after")
    def _sound(self) -> "SilenceSpec":
        problem = silence_problem(combine(self.match, self.match_re, self.matchers))
        if problem is not None:
            raise ValueError(problem)
        if self.ends_at <= self.starts_at:
            raise ValueError("a silence must end after it starts")
        return self


@dataclass(frozen=True)
class Silence:
    """A silence ready to match: from the ruleset or from the store."""

    id: str
    matchers: tuple[LabelMatcher, ...]
    starts_at: datetime
    ends_at: datetime
    comment: str = ""
    created_by: str | None = None

    def active(self, now: datetime) -> bool:
        """Whether the silence is in force at ``now``."""
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether the silence mutes a notification with ``labels``."""
        return bool(self.matchers) and matches_all(self.matchers, labels)

    @classmethod
    def from_spec(cls, index: int, spec: SilenceSpec) -> "Silence":
        """The ruleset's ``silences[index]``."""
        matchers = combine(spec.match, spec.match_re, spec.matchers)
        return cls(f"ruleset:{index}", matchers, spec.starts_at, spec.ends_at, spec.comment, spec.created_by)


def _field(record: Any, name: str) -> Any:
    return record.get(name) if isinstance(record, Mapping) else getattr(record, name, None)


def _instant(value: Any, name: str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    if not isinstance(value, datetime):
        raise ValueError(f"silence {name} is not a time")
    # A store may hand back naive UTC (SQLite keeps no offsets); anything else is aware.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def silence_from_record(record: Any) -> Silence:
    """A silence from a store record (mapping or object); ValueError names what is wrong."""
    ident = _field(record, "id")
    try:
        matchers = matchers_from_json(_field(record, "matchers"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"silence {ident}: bad matchers: {exc}") from None
    return Silence(
        id=str(ident),
        matchers=matchers,
        starts_at=_instant(_field(record, "starts_at"), "starts_at"),
        ends_at=_instant(_field(record, "ends_at"), "ends_at"),
        comment=_field(record, "comment") or "",
        created_by=_field(record, "created_by"),
    )


def active_silences(silences: Iterable[Silence], now: datetime) -> list[Silence]:
    """The silences in force at ``now``."""
    return [silence for silence in silences if silence.active(now)]


def silenced_by(silences: Iterable[Silence], labels: Mapping[str, str]) -> Silence | None:
    """The first silence that mutes ``labels``, or None."""
    return next((silence for silence in silences if silence.matches(labels)), None)


class SilenceIndex:
    """Silences indexed by one equality matcher each (``provider="partner-east"``), so that
    a notification is checked only against the silences that could mute it: those keyed
    by a value it has, and those with no equality matcher at all.  :meth:`first` answers
    what :func:`silenced_by` answers, the first silence in the given order."""

    def __init__(self, silences: Iterable[Silence]) -> None:
        self.silences = list(silences)
        self.keyed: dict[tuple[str, str], list[int]] = {}
        self.unkeyed: list[int] = []
        for position, silence in enumerate(self.silences):
            equal = next((matcher for matcher in silence.matchers if matcher.op == "="), None)
            if equal is None:
                self.unkeyed.append(position)
            else:
                self.keyed.setdefault((equal.name, equal.value), []).append(position)
        self.names = sorted({name for name, _ in self.keyed})

    def first(self, labels: Mapping[str, str]) -> Silence | None:
        """The first silence that mutes ``labels``, or None."""
        candidates = list(self.unkeyed)
        for name in self.names:
            candidates.extend(self.keyed.get((name, labels.get(name, "")), ()))
        return next((self.silences[position] for position in sorted(candidates) if self.silences[position].matches(labels)), None)
