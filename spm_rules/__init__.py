"""spm-rules: service process management — SLA clocks, escalation rules, routing, notification.

The public API: load a ruleset, read tickets, evaluate them at an instant (pure); run
them against durable state (``Store``, ``run``) and deliver through alerting
(``AlertPipeline``, ``register_hook``).  The stateful and alerting names load on first
use, so evaluating tickets never imports SQLAlchemy or Apprise.
"""

import importlib
from typing import Any

from .clock.status import SlaStatus
from .engine import Decision, Engine, TicketResult, evaluate
from .errors import (
    DeliveryError,
    Location,
    RulesetError,
    RulesetProblem,
    SpmError,
    StateError,
    TicketError,
    TicketProblem,
)
from .ruleset.loader import load_ruleset, parse_ruleset
from .ruleset.schema import Ruleset
from .sources.files import TicketReader, read_tickets
from .tickets import StageEntry, StatusEntry, Ticket, TierEntry

_LAZY = {
    "spm_rules.state.store": ("Store",),
    "spm_rules.run": ("run", "RunReport", "WorkerSlot"),
    "spm_rules.alerting": ("AlertPipeline", "register_hook", "unregister_hook"),
    "spm_rules.notifications": ("Notification", "DeliveryOutcome"),
}


def __getattr__(name: str) -> Any:
    for module, names in _LAZY.items():
        if name in names:
            return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'spm_rules' has no attribute {name!r}")


__all__ = [
    "AlertPipeline",
    "Decision",
    "DeliveryOutcome",
    "DeliveryError",
    "Engine",
    "Location",
    "Notification",
    "RunReport",
    "Ruleset",
    "RulesetError",
    "RulesetProblem",
    "SlaStatus",
    "SpmError",
    "StageEntry",
    "StateError",
    "Store",
    "StatusEntry",
    "Ticket",
    "TicketError",
    "TicketProblem",
    "TicketReader",
    "TicketResult",
    "TierEntry",
    "WorkerSlot",
    "evaluate",
    "load_ruleset",
    "parse_ruleset",
    "read_tickets",
    "register_hook",
    "run",
    "unregister_hook",
]
