"""spm-rules: service process management — SLA clocks, escalation rules, routing, notification.

The public API: load a ruleset, read tickets, evaluate them at an instant.
"""

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

__all__ = [
    "Decision",
    "DeliveryError",
    "Engine",
    "Location",
    "Ruleset",
    "RulesetError",
    "RulesetProblem",
    "SlaStatus",
    "SpmError",
    "StageEntry",
    "StateError",
    "StatusEntry",
    "Ticket",
    "TicketError",
    "TicketProblem",
    "TicketReader",
    "TicketResult",
    "TierEntry",
    "evaluate",
    "load_ruleset",
    "parse_ruleset",
    "read_tickets",
]
