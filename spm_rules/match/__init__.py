"""Rule matchers: given rule conditions and a batch of flat facts, which rules hold for each fact.

Two engines make the same decisions as :func:`spm_rules.ruleset.conditions.holds`:
durable_rules (through :mod:`.durable_adapter`, the only module that imports it) and a
pure-Python matcher (:mod:`.python_matcher`) for Pythons where durable_rules does not
import (CPython 3.13+) and for rules too large for durable_rules' fixed-size tables.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Protocol, Sequence

from ..errors import SpmError
from ..ruleset.conditions import Condition
from .durable_adapter import DurableLimitError, DurableMatcher, durable_available
from .python_matcher import PythonMatcher

__all__ = ["Matcher", "build_matcher", "durable_available", "DurableLimitError", "ENGINES"]

#: The values ``build_matcher`` takes for ``engine``.
ENGINES = ("auto", "durable", "python")

_log = logging.getLogger(__name__)


class Matcher(Protocol):
    """Decides which rules hold for each fact."""

    engine: str  # "durable" or "python"

    def match(self, facts: Sequence[Mapping[str, Any]]) -> list[list[str]]:
        """For each fact (flat dict field->scalar|None, field names may contain dots like 'sla.level'),
        the names of the rules whose condition holds, in rule declaration order. Pure: no state kept between calls."""
        ...


def build_matcher(rules: Sequence[tuple[str, Condition]], engine: str = "auto") -> Matcher:
    """Compile ``(rule name, condition)`` pairs into a matcher.

    ``engine`` is ``"durable"`` (SpmError when durable_rules does not import here, or
    cannot hold a rule), ``"python"``, or ``"auto"``: durable_rules when it imports and
    can hold every rule, the Python matcher otherwise (logged, since it is a fallback).
    """
    if engine not in ENGINES:
        raise SpmError(f"unknown matcher engine {engine!r}; use one of {', '.join(ENGINES)}")
    if engine == "python" or (engine == "auto" and not durable_available()):
        return PythonMatcher(rules)
    if engine == "durable":
        return DurableMatcher(rules)
    try:
        return DurableMatcher(rules)
    except DurableLimitError as exc:
        _log.warning("%s; matching with the pure-Python matcher instead", exc)
        return PythonMatcher(rules)
