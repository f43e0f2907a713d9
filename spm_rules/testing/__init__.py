"""Ruleset unit tests with simulated time (``spm-rules test``, and a pytest plugin).

A test file (``*.test.yaml``, format in ``docs/testing.md``) names a ruleset and holds
tests: tickets with their histories, and steps, each an instant at which one stateful
cron run happens over a temporary state, with what is expected after it (levels,
decisions, the assigned provider, the messages each receiver got).  Nothing leaves the
machine: receivers are replaced by a capturing hook.

* :mod:`.model`: what a test file may contain;
* :mod:`.suite`: loading one (located errors, names and times checked);
* :mod:`.runner`: running a test's steps, and coverage;
* :mod:`.expect`: comparing what was expected with what happened (pure);
* :mod:`.report`: failures and coverage as text and JSON;
* :mod:`.pytest_plugin`: ``*.test.yaml`` files as pytest items.
"""

from __future__ import annotations

from .expect import Failure, SentMessage
from .report import CoverageItem, coverage_items, coverage_to_json, format_coverage, format_failures
from .runner import CaseResult, Coverage, run_case, run_suite, select_cases
from .suite import Case, Suite, load_suite, parse_suite

__all__ = [
    "Case",
    "CaseResult",
    "Coverage",
    "CoverageItem",
    "Failure",
    "SentMessage",
    "Suite",
    "coverage_items",
    "coverage_to_json",
    "format_coverage",
    "format_failures",
    "load_suite",
    "parse_suite",
    "run_case",
    "run_suite",
    "select_cases",
]
