"""Reports read from the state store: scorecards, next-day indicators, and the tickets they read.

Reports never change state: they read what the stateful runs recorded
(:mod:`spm_rules.reports.archive` is the one place that reads tickets for them) and
recompute SLA figures from each ticket's own facts with the ruleset's policies and
calendars.  Every figure is defined in ``docs/reports.md``.

The ruleset schema imports this package (the ``reports:``, ``customer_status:`` and
``board:`` sections' models live beside the code that uses them), so it stays light: every
name below loads on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ReportTicket",
    "closed_tickets",
    "open_tickets",
    "find_ticket",
    "close_time",
    "ReportsSpec",
    "Scorecard",
    "scorecard",
    "scorecard_csv",
    "Indicators",
    "next_day_indicators",
    "scorecard_html",
    "indicators_html",
]

_HOMES = {
    "archive": ("ReportTicket", "closed_tickets", "open_tickets", "find_ticket", "close_time"),
    "spec": ("ReportsSpec",),
    "scorecard": ("Scorecard", "scorecard", "scorecard_csv"),
    "indicators": ("Indicators", "next_day_indicators"),
    "html": ("scorecard_html", "indicators_html"),
}


def __getattr__(name: str) -> Any:
    for module, names in _HOMES.items():
        if name in names:
            return getattr(importlib.import_module(f"{__name__}.{module}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
