"""Alerting: from a batch of notifications to "Apprise said yes".

Routing tree, grouping, silences, inhibition, active windows, templates and delivery
through Apprise, with Alertmanager's semantics where it has them.  The ruleset models
(receivers, route, inhibit rules, silences, templates) are defined here and used by
``spm_rules.ruleset.schema``; :class:`AlertPipeline` is the
:class:`~spm_rules.notifications.Deliverer` the stateful run hands its outbox to.
Only :mod:`spm_rules.alerting.apprise_delivery` imports Apprise, and the pipeline (which
needs it) is imported on first use, so loading a ruleset does not load Apprise.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .inhibition import InhibitRuleSpec, Inhibitor
from .matchers import LabelMatcher
from .receivers import AlertMessage, Hook, ReceiverError, ReceiverSpec, UrlEntry, register_hook, unregister_hook
from .redaction import install_log_redaction, redact, register_secret
from .routes import RootRouteSpec, RouteMatch, RouteSpec, RoutingTree
from .silences import Silence, SilenceSpec, silence_from_record
from .templates import TemplateSpec, TicketUrl

__all__ = [
    "AlertMessage",
    "AlertPipeline",
    "DeliveryPlan",
    "Hook",
    "InhibitRuleSpec",
    "Inhibitor",
    "LabelMatcher",
    "ReceiverError",
    "ReceiverSpec",
    "RootRouteSpec",
    "RouteMatch",
    "RouteSpec",
    "RoutingTree",
    "Silence",
    "SilenceSpec",
    "TemplateSpec",
    "TicketUrl",
    "UrlEntry",
    "install_log_redaction",
    "meta_notification",
    "notification_labels",
    "receiver_test_notification",
    "redact",
    "register_hook",
    "register_secret",
    "silence_from_record",
    "unregister_hook",
]

_LAZY = {name: ".pipeline" for name in ("AlertPipeline", "DeliveryPlan", "meta_notification", "notification_labels", "receiver_test_notification")}


def __getattr__(name: str) -> Any:
    """Import the delivery side (and with it Apprise) only when it is asked for."""
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
