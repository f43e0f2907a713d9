"""Dispatch: which provider takes a ticket, and telling the ticket system.

Providers, lookup tables and the dispatch strategy are declared in the ruleset
(``spec.py``); tables are read and validated when it loads (``tables.py``); the choice of
a provider, with its fallbacks and reasons, is pure (``decide.py``); the stateful run
claims capacity under a lock so that workers never over-fill a provider (``claims.py``).
"""

from __future__ import annotations

from .spec import STRATEGIES, DispatchSpec, FallbackSpec, ProviderSpec, TableSpec
from .tables import LookupTable, load_tables, lookup

__all__ = ["STRATEGIES", "DispatchSpec", "FallbackSpec", "ProviderSpec", "TableSpec", "LookupTable", "load_tables", "lookup"]
