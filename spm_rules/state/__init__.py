"""Durable state between runs: tickets last seen, escalations, audit log, outbox, schedules.

``Store`` (in ``spm_rules.state.store``) is the SQL layer for SQLite and PostgreSQL;
``records`` are the plain data it reads and writes; ``lifecycle`` is the pure diff of a
ticket's evaluation against its stored state.  The names below are imported lazily so
that loading a ruleset (which needs ``RetentionSpec``) does not import SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Store",
    "StateTx",
    "Lease",
    "Outgoing",
    "Settlement",
    "DEFAULT_STATE_URL",
    "mask_url",
    "mask_secrets",
    "TicketState",
    "Escalation",
    "Transition",
    "OutboxEntry",
    "Silence",
    "RetentionSpec",
]

_HOMES = {
    "records": ("TicketState", "Escalation", "Transition", "OutboxEntry", "Outgoing", "Settlement", "Silence"),
    "retention": ("RetentionSpec",),
    "store": ("Store", "StateTx", "Lease", "mask_url", "mask_secrets"),
}

#: Where state lives when nothing else is said: a SQLite file in the working directory.
#: Defined here, not in the store, so that the CLI's options do not import SQLAlchemy.
DEFAULT_STATE_URL = "sqlite:///spm-state.db"


def __getattr__(name: str) -> Any:
    for module, names in _HOMES.items():
        if name in names:
            return getattr(importlib.import_module(f"{__name__}.{module}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
