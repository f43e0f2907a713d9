"""spm-rules: service process management — SLA clocks, escalation rules, routing, notification.

The public API: load a ruleset, read tickets, evaluate them at an instant (pure); run
them against durable state (``Store``, ``run``; one change at a time with ``process_event``
and ``sweep``) and deliver through alerting
(``AlertPipeline``, ``register_hook``); report from the state (``scorecard``,
``next_day_indicators``); tell a customer where their ticket stands (``customer_status``).

Every name loads on first use, so ``import spm_rules`` costs nothing, evaluating tickets
never imports SQLAlchemy or Apprise, and the ``spm-rules`` command starts without them.

``spm_rules.run`` is the function :func:`spm_rules.run.run`, whatever else was imported:
the module of the same name is reached with ``from spm_rules.run import …`` or
``importlib.import_module("spm_rules.run")`` (``import spm_rules.run as m`` binds the
function, since it reads the package's attribute).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy names are, for type checkers and editors
    from .alerting import AlertPipeline, register_hook, unregister_hook
    from .clock.status import SlaStatus
    from .dispatch.sinks import register_write_back
    from .dispatch.tables import LookupTable, lookup
    from .engine import Decision, Engine, TicketResult, evaluate
    from .events import EventOutcome, process_event, sweep
    from .errors import DeliveryError, Location, RulesetError, RulesetProblem, SpmError, StateError, TicketError, TicketProblem
    from .notifications import DeliveryOutcome, Notification
    from .reports.status import CustomerStatus, customer_status
    from .reports.indicators import Indicators, next_day_indicators
    from .reports.scorecard import Scorecard, scorecard
    from .ruleset.loader import load_ruleset, parse_ruleset
    from .ruleset.schema import Ruleset
    from .run import RunReport, WorkerSlot, run
    from .sources.files import TicketReader, read_tickets
    from .state.store import Store
    from .tickets import StageEntry, StatusEntry, Ticket, TierEntry

__all__ = [
    "AlertPipeline",
    "CustomerStatus",
    "Decision",
    "DeliveryOutcome",
    "DeliveryError",
    "Engine",
    "EventOutcome",
    "Indicators",
    "Location",
    "LookupTable",
    "Notification",
    "RunReport",
    "Scorecard",
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
    "customer_status",
    "evaluate",
    "load_ruleset",
    "lookup",
    "next_day_indicators",
    "parse_ruleset",
    "process_event",
    "read_tickets",
    "register_hook",
    "register_write_back",
    "run",
    "scorecard",
    "sweep",
    "unregister_hook",
]

#: The module each public name lives in.
_HOMES = {
    "spm_rules.alerting": ("AlertPipeline", "register_hook", "unregister_hook"),
    "spm_rules.clock.status": ("SlaStatus",),
    "spm_rules.dispatch.sinks": ("register_write_back",),
    "spm_rules.dispatch.tables": ("LookupTable", "lookup"),
    "spm_rules.engine": ("Decision", "Engine", "TicketResult", "evaluate"),
    "spm_rules.events": ("EventOutcome", "process_event", "sweep"),
    "spm_rules.errors": ("DeliveryError", "Location", "RulesetError", "RulesetProblem", "SpmError", "StateError", "TicketError", "TicketProblem"),
    "spm_rules.notifications": ("DeliveryOutcome", "Notification"),
    "spm_rules.reports.status": ("CustomerStatus", "customer_status"),
    "spm_rules.reports.indicators": ("Indicators", "next_day_indicators"),
    "spm_rules.reports.scorecard": ("Scorecard", "scorecard"),
    "spm_rules.ruleset.loader": ("load_ruleset", "parse_ruleset"),
    "spm_rules.ruleset.schema": ("Ruleset",),
    "spm_rules.run": ("RunReport", "WorkerSlot", "run"),
    "spm_rules.sources.files": ("TicketReader", "read_tickets"),
    "spm_rules.state.store": ("Store",),
    "spm_rules.tickets": ("StageEntry", "StatusEntry", "Ticket", "TierEntry"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("spm-rules")
    except PackageNotFoundError:  # imported from a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    elif name in _HOME_OF:
        value = getattr(importlib.import_module(_HOME_OF[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, "__version__"})


class _Package(types.ModuleType):
    """This package's module type: it keeps the function ``run`` as the attribute ``run``.

    Importing the submodule ``spm_rules.run`` (as the CLI and ``from spm_rules.run import
    RunReport`` do) makes the import system set the package's attribute ``run`` to that
    module; this puts the module's function there instead, so ``spm_rules.run`` does not
    change meaning with what happened to be imported first.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "run" and isinstance(value, types.ModuleType):
            value = value.run
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
