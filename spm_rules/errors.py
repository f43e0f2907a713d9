"""The one exception family of spm-rules.

Every error carries its place: a ruleset error names the file, line and key; a ticket
error names the row and field; state and delivery errors name what they were doing.
The CLI turns these into messages and exit codes, never tracebacks.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable

__all__ = [
    "did_you_mean",
    "SpmError",
    "Location",
    "RulesetProblem",
    "RulesetError",
    "TicketProblem",
    "TicketError",
    "StateError",
    "DeliveryError",
]


class SpmError(Exception):
    """Base of every error spm-rules raises on purpose."""


@dataclass(frozen=True)
class Location:
    """Where in a file something stands: file, 1-based line and the dotted key path."""

    file: str
    line: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.key:
            where += f": {self.key}"
        return where


@dataclass(frozen=True)
class RulesetProblem:
    """One thing wrong in a ruleset, with its place and an optional hint."""

    location: Location
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class RulesetError(SpmError):
    """A ruleset that cannot be used; lists every problem found, each located."""

    def __init__(self, problems: list[RulesetProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class TicketProblem:
    """One ticket row that failed validation, or was read with a warning: its source, row
    number, id (if known), field and an optional hint."""

    source: str
    row: int
    field: str
    message: str
    ticket_id: str | None = None
    hint: str | None = None

    def __str__(self) -> str:
        who = f" ticket {self.ticket_id}" if self.ticket_id else ""
        text = f"{self.source}: row {self.row}{who}: {self.field}: {self.message}"
        return text + (f" (hint: {self.hint})" if self.hint else "")


class TicketError(SpmError):
    """Tickets that could not be read; carries each located problem."""

    def __init__(self, problems: list[TicketProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def did_you_mean(name: str, known: Iterable[str]) -> str | None:
    """The hint for an unknown name: the closest known one, case aside (``did you mean
    'red'?``), else the known names listed; None when nothing is known."""
    names = sorted(known)
    by_case = {known_name.casefold(): known_name for known_name in reversed(names)}
    close = difflib.get_close_matches(name.casefold(), list(by_case), n=1)
    if close:
        return f"did you mean {by_case[close[0]]!r}?"
    return f"declared: {', '.join(names)}" if names else None


class StateError(SpmError):
    """The state store cannot be opened, migrated, locked or written."""


class DeliveryError(SpmError):
    """A notification could not be handed to its receiver."""
