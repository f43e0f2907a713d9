"""Message templates: a title and a body per receiver, rendered in Jinja2's sandbox.

In a ruleset::

    ticket_url: "https://tickets.example.com/browse/{id}"
    templates:
      wallboard:
        title: "{{ total }} × {{ group.level | upper }} {{ group.provider }}"
        body: |
          {% for item in items %}
          {{ item.ticket_id }} {{ item.ticket.customer }}: {{ item.sla.stage }} due {{ item.sla.due_at | time }}
            {{ item.link }}
          {% endfor %}
          {% if more %}… and {{ more }} more{% endif %}
    receivers:
      command-center: {urls: ["console://"], template: wallboard}

A template sees ``receiver``, ``group`` (the group's labels), ``items`` (the listed
notifications), ``more`` (how many only counted), ``total``, ``now``, ``ruleset`` and
``timezone``; each item has ``ticket`` (the ticket's fields), ``sla`` (its SLA status:
stage, level, elapsed, target, due_at, …), ``rule``, ``why``, ``level``, ``policy``,
``kind``, ``urgent``, ``labels``, ``link``, ``ticket_id`` and ``key``.  The ``time``
filter shows an ISO time in the ruleset's ticket timezone (or a zone given:
``| time("Europe/Berlin")``).  Receivers without ``template`` use ``default``, which a
ruleset may override.

A receiver's template is for ticket notifications.  A schedule's message (one per tick
and receiver, never grouped) is rendered with its action's template, ``digest``,
``indicators`` or ``inspections``, which sees the schedule's payload as ``schedule``
(the fields are listed in ``docs/alerting.md``); a ruleset overrides one by declaring a
template of the same name.

Safety: ticket data and ruleset text are both untrusted.  Templates run in Jinja2's
``ImmutableSandboxedEnvironment`` (no attribute starting with ``_``, no mutation, no
unsafe ``str.format``), ticket data is only ever a *value* in the context, never template
text, and ``ticket_url`` uses a restricted ``{field}`` substitution that URL-encodes
values; nothing is passed to ``str.format``.  A template that fails to render falls back
to a plain message built without any template engine, so a notification is never lost
to a template error.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import ChainableUndefined, Template, TemplateSyntaxError, Undefined, pass_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import AfterValidator, field_validator

from ..notifications import Notification
from ..ruleset.types import StrictModel

__all__ = [
    "TemplateSpec",
    "TicketUrl",
    "DEFAULT_TEMPLATE",
    "DEFAULT_TEMPLATE_NAME",
    "SCHEDULE_TEMPLATES",
    "Rendered",
    "Renderer",
    "render_link",
    "placeholder_names",
    "fill_placeholders",
    "plain_message",
    "item_context",
    "is_urgent",
    "notify_type",
    "MAX_TITLE",
    "MAX_BODY",
]

log = logging.getLogger("spm_rules.alerting")

MAX_TITLE = 250
MAX_BODY = 32_000
DEFAULT_TEMPLATE_NAME = "default"


@pass_context
def _time(context: Context, value: Any, zone: str | None = None) -> str:
    """An ISO time (or datetime) as ``YYYY-MM-DD HH:MM TZ`` in ``zone`` or the message's zone."""
    if value is None or value == "":
        return ""
    try:
        instant = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        name = zone or context.get("timezone") or "UTC"
        if instant.tzinfo is None:
            return instant.strftime("%Y-%m-%d %H:%M")
        return instant.astimezone(ZoneInfo(str(name))).strftime("%Y-%m-%d %H:%M %Z")
    except (ValueError, TypeError, KeyError, OSError):
        return str(value)


#: The names a plain dict answers as attributes (any other name on one is only a key).
_DICT_ATTRIBUTES = frozenset(dir({}))


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox, where an unsafe attribute fails the template at once
    instead of rendering as an empty (lenient) undefined: a template that tries
    ``''.__class__`` is a ruleset to fix, and its message falls back to plain text."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``obj.attribute`` as Jinja looks it up (the attribute, else the item), with the
        key of a plain dict read at once: nearly every look-up in a message is one (``item.
        ticket.customer``), and Jinja reaches it only after the attribute look-up fails."""
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(f"access to attribute {attribute!r} of a {type(obj).__name__!r} object is unsafe")


def _environment() -> ImmutableSandboxedEnvironment:
    env = _Sandbox(
        undefined=ChainableUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=lambda value: "" if value is None else value,
    )
    env.filters["time"] = _time
    return env


_ENV = _environment()


def _compiles(text: str) -> str:
    try:
        _ENV.parse(text)
    except TemplateSyntaxError as exc:
        raise ValueError(f"template syntax error on its line {exc.lineno}: {exc.message}") from None
    return text


class TemplateSpec(StrictModel):
    """A title and a body, Jinja2 text checked for syntax when the ruleset loads."""

    title: str
    body: str

    @field_validator("title", "body")
    @classmethod
    def _syntax(cls, value: str) -> str:
        return _compiles(value)


_LINK_PART = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def placeholder_names(pattern: str, where: str, kind: str = "field") -> list[str]:
    """The names of a ``{field}`` pattern's placeholders (``ticket_url``, customer status
    texts), in order; a ValueError saying ``where`` for a stray brace or a bad name."""
    names = []
    for found in _LINK_PART.finditer(pattern):
        text = found.group(0)
        if text in ("{{", "}}"):
            continue
        if found.group(1) is None or not _FIELD.fullmatch(found.group(1)):
            raise ValueError(f"bad placeholder {text!r} in {where}: write {{field}} with a {kind} name, {{{{ or }}}} for a brace")
        names.append(found.group(1))
    return names


@lru_cache(maxsize=256)
def _pieces(pattern: str) -> tuple[tuple[str, str | None], ...]:
    """``pattern`` split once into its pieces: (text, None) for text as it stands, ("", name)
    for a placeholder (a stray brace is the placeholder with the empty name)."""
    pieces: list[tuple[str, str | None]] = []
    start = 0
    for found in _LINK_PART.finditer(pattern):
        pieces.append((pattern[start : found.start()], None))
        text = found.group(0)
        pieces.append((text[0], None) if text in ("{{", "}}") else ("", found.group(1) or ""))
        start = found.end()
    pieces.append((pattern[start:], None))
    return tuple(piece for piece in pieces if piece != ("", None))


def fill_placeholders(pattern: str, value: Callable[[str], str]) -> str:
    """``pattern`` with each ``{name}`` replaced by ``value(name)`` and ``{{``/``}}`` by a brace.
    Never ``str.format``: a placeholder is a name, nothing is looked up on an object.  The
    pattern is parsed once (a ticket link is filled for every notification listed)."""
    return "".join(text if name is None else value(name) for text, name in _pieces(pattern))


def _link_pattern(value: str) -> str:
    placeholder_names(value, "ticket_url", "ticket field")
    return value


#: The ``ticket_url`` pattern: ``{field}`` placeholders (dotted for nested fields).
TicketUrl = Annotated[str, AfterValidator(_link_pattern)]


def _lookup(fields: Mapping[str, Any], dotted: str) -> Any:
    if dotted in fields:
        return fields[dotted]
    value: Any = fields
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def render_link(pattern: str | None, *sources: Mapping[str, Any]) -> str:
    """The ticket link: each ``{field}`` replaced by the URL-encoded value from the first
    source that has it; empty when there is no pattern or a field is missing."""
    if not pattern:
        return ""
    missing = False

    def encoded(name: str) -> str:
        nonlocal missing
        value = None
        for source in sources:
            value = _lookup(source, name)
            if value is not None:
                break
        if value is None or isinstance(value, (dict, list)):
            missing = True
            return ""
        return quote(str(value), safe="")

    link = fill_placeholders(pattern, encoded)
    return "" if missing else link


def is_urgent(notification: Notification) -> bool:
    """Whether the notification's level is marked urgent (payload ``urgent`` or label)."""
    return notification.payload.get("urgent") is True or notification.labels.get("urgent", "").lower() == "true"


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def item_context(notification: Notification, labels: Mapping[str, str], ticket_url: str | None) -> dict[str, Any]:
    """What a template sees of one notification."""
    payload = _mapping(notification.payload)
    ticket = _mapping(payload.get("ticket"))
    sla = _mapping(payload.get("sla"))
    why = payload.get("why") or payload.get("reason") or ""
    rules = payload.get("rules")
    return {
        "key": notification.key,
        "kind": notification.kind,
        "ticket_id": notification.ticket_id or str(ticket.get("id") or ""),
        "level": labels.get("level") or sla.get("level") or "",
        "policy": labels.get("policy") or sla.get("policy") or "",
        "rule": payload.get("rule") or (rules[0] if isinstance(rules, list) and rules else "") or labels.get("rule") or "",
        "why": "; ".join(map(str, why)) if isinstance(why, list) else why,
        "urgent": is_urgent(notification),
        "ticket": ticket,
        "sla": sla,
        "labels": dict(labels),
        "payload": payload,
        "link": render_link(ticket_url, ticket, labels),
        "created_at": notification.created_at,
    }


def notify_type(notifications: Iterable[Notification]) -> str:
    """Apprise's message type for a group: failure if anything is urgent or a meta-alert,
    success if everything is resolved, info for tests and schedule reports, warning otherwise."""
    items = list(notifications)
    if any(n.kind == "meta" or is_urgent(n) for n in items):
        return "failure"
    if items and all(n.kind == "resolved" for n in items):
        return "success"
    if items and all(n.kind in ("test", "schedule") for n in items):
        return "info"
    return "warning"


DEFAULT_TEMPLATE = TemplateSpec(
    title=(
        "{% if total == 1 %}[{{ items[0].level or items[0].kind }}] {{ items[0].ticket_id or items[0].key }}"
        "{{ (' · ' ~ items[0].ticket.provider) if items[0].ticket.provider }}"
        "{% else %}{{ total }} notifications"
        "{% for name, value in group | dictsort %}{{ (' · ' ~ name ~ ' ' ~ value) if value }}{% endfor %}"
        "{% endif %}"
    ),
    body="""\
{% for item in items %}
{{ item.ticket_id or item.key }} [{{ item.level or item.kind }}]{{ ' URGENT' if item.urgent }}\
{{ (' provider ' ~ item.ticket.provider) if item.ticket.provider }}{{ (' stage ' ~ item.sla.stage) if item.sla.stage }}
{% if item.sla.due_at %}
  due {{ item.sla.due_at | time }}{{ (' (used ' ~ item.sla.elapsed ~ ' of ' ~ item.sla.target ~ ')') if item.sla.elapsed }}
{% endif %}
{% if item.rule %}
  rule {{ item.rule }}
{% elif item.why %}
  {{ item.why }}
{% endif %}
{% if item.link %}
  {{ item.link }}
{% endif %}
{% endfor %}
{% if more %}
… and {{ more }} more
{% endif %}
""",
)


_HEADER = """\
{% if schedule.description %}
{{ schedule.description }}

{% endif %}
"""
_PLURAL = '{{ "s" if %s != 1 }}'

#: The built-in templates of the schedule actions, by action; each sees ``schedule``.
SCHEDULE_TEMPLATES: dict[str, TemplateSpec] = {
    "digest": TemplateSpec(
        title=(
            "{{ schedule.schedule }} {{ schedule.scheduled_at | time(schedule.timezone) }}: "
            "{{ schedule.open_total }} open escalation" + _PLURAL % "schedule.open_total"
        ),
        body=_HEADER
        + """\
{% for level in schedule.levels %}
{{ level.level | upper }}: {{ level.count }} open
{% for group in level.providers %}
  {{ group.provider or "no provider" }}: {{ group.count }}
{% for item in group["items"] %}
    {{ item.ticket }} {{ item.customer or "(no customer)" }} · {{ item.tier or "no tier" }} · {{ item.policy }} \
· for {{ item.age }}, since {{ item.opened_at | time }}\
{{ (" · acknowledged" ~ ((" by " ~ item.acknowledged_by) if item.acknowledged_by else "")) if item.acknowledged }}
{% endfor %}
{% if group.count > group["items"] | length %}
    … and {{ group.count - group["items"] | length }} more
{% endif %}
{% endfor %}
{% else %}
No open escalations.
{% endfor %}

Total: {{ schedule.open_total }} open escalation"""
        + _PLURAL % "schedule.open_total"
        + """\
{% if schedule.levels %} ({% for level in schedule.levels %}{{ level.level }} {{ level.count }}{{ ", " if not loop.last }}{% endfor %}){% endif %}
""",
    ),
    "indicators": TemplateSpec(
        title=(
            "{{ schedule.schedule }} {{ schedule.day }}: "
            "{% for figure in schedule.total.figures[:2] %}{{ figure.label }} {{ figure.text }}{{ ', ' if not loop.last }}{% endfor %}"
        ),
        body=_HEADER
        + """\
{% macro line(figure) %}{{ figure.label }} {{ figure.text }} (day before {{ figure.day_before_text }}, \
7-day {{ figure.trailing_text }}{{ "/day" if figure.kind == "count" }}){% endmacro %}
Figures of {{ schedule.day }} ({{ schedule.report_timezone }}) by {{ schedule.by }}, against the day before and the 7 days before it.

{% if schedule.movers %}
Worst movers:
{% for mover in schedule.movers %}
  {{ mover.name }}: {{ mover.label }} {{ mover.text }} (7-day {{ mover.trailing_text }}, {{ mover.change_text }})
{% endfor %}
{% else %}
No figure is worse than over the 7 days before.
{% endif %}
{% for group in (schedule.groups or []) + [schedule.total] %}

{{ "All" if loop.last else group.name }}:
{% for figure in group.figures if figure.value is not none or figure.day_before is not none or figure.trailing is not none %}
  {{ line(figure) }}
{% endfor %}
{% endfor %}
{% if schedule.report_url %}

Report: {{ schedule.report_url }}
{% elif schedule.report_problem %}

No report: {{ schedule.report_problem }}
{% endif %}
""",
    ),
    "inspections": TemplateSpec(
        title=(
            "{{ schedule.schedule }} {{ schedule.scheduled_at | time(schedule.timezone) }}: "
            "{{ schedule.customers | length }} customer" + _PLURAL % "schedule.customers | length" + " to inspect"
        ),
        body=_HEADER
        + """\
{% set tiers = "tier" ~ ("s" if schedule.tiers | length != 1 else "") ~ " " ~ schedule.tiers | join(", ") %}
{% if schedule.customers %}
Customers of {{ tiers }}:
{% for customer in schedule.customers %}
  {{ customer.customer }} · {{ ("region " ~ customer.region) if customer.region else "no region" }} \
· {{ customer.tickets }} ticket{{ "s" if customer.tickets != 1 }}
{% endfor %}
{% else %}
No customers in {{ tiers }}.
{% endif %}
""",
    ),
}


def _schedule_payload(items: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The payload of a schedule's message (which stands for exactly one notification)."""
    if len(items) == 1 and items[0].get("kind") == "schedule":
        return _mapping(items[0].get("payload"))
    return None


@dataclass(frozen=True)
class Rendered:
    """A rendered message; ``error`` says why the template failed when the plain fallback
    was used instead."""

    title: str
    body: str
    error: str | None = None


class Renderer:
    """The templates of a ruleset, each compiled once, when first used (a delivery uses a
    few of them: compiling the schedule actions' large ones too cost each run about 50 ms),
    and the context they render with."""

    def __init__(self, templates: Mapping[str, TemplateSpec], ticket_url: str | None, timezone: str | None, ruleset: str = "") -> None:
        self._specs = {DEFAULT_TEMPLATE_NAME: DEFAULT_TEMPLATE, **SCHEDULE_TEMPLATES, **templates}
        self._compiled: dict[str, tuple[Template, Template]] = {}
        self.ticket_url = ticket_url
        self.timezone = timezone or "UTC"
        self.ruleset = ruleset

    @property
    def names(self) -> list[str]:
        """The template names available (``default`` and the schedule actions' included)."""
        return list(self._specs)

    def _templates(self, name: str) -> tuple[Template, Template]:
        """The compiled title and body of template ``name`` (KeyError: no such template)."""
        if name not in self._compiled:
            spec = self._specs[name]
            self._compiled[name] = (_ENV.from_string(spec.title), _ENV.from_string(spec.body))
        return self._compiled[name]

    def render(
        self,
        template: str | None,
        receiver: str,
        group: Mapping[str, str],
        items: Sequence[Mapping[str, Any]],
        more: int,
        now: datetime,
    ) -> Rendered:
        """Render the message for one group with ``template`` (the receiver's) or, for a
        schedule's message, its action's template; on any template error, the plain fallback."""
        schedule = _schedule_payload(items)
        context = {
            "receiver": receiver,
            "group": dict(group),
            "items": list(items),
            "more": more,
            "total": len(items) + more,
            "now": now,
            "ruleset": self.ruleset,
            "timezone": self.timezone,
            "schedule": schedule or {},
        }
        action = str(schedule.get("action")) if schedule is not None else ""
        name = action if action in self._specs else template or DEFAULT_TEMPLATE_NAME
        try:
            title_template, body_template = self._templates(name)
            title = " ".join(title_template.render(context).split())
            body = body_template.render(context).strip("\n")
        except Exception as exc:  # any failure of ruleset text on ticket data: never lose the message
            error = f"template {name!r} failed for receiver {receiver!r}: {type(exc).__name__}: {exc}"
            log.warning("%s; sending the plain message instead", error)
            title, body = plain_message(receiver, items, more)
            return Rendered(title[:MAX_TITLE], body[:MAX_BODY], error)
        return Rendered(title[:MAX_TITLE], body[:MAX_BODY])


def plain_message(receiver: str, items: Sequence[Mapping[str, Any]], more: int) -> tuple[str, str]:
    """A title and body built without any template engine (the fallback)."""
    total = len(items) + more
    title = f"spm-rules: {total} notification{'s' if total != 1 else ''} for {receiver}"
    lines = []
    for item in items:
        parts = [str(item.get("ticket_id") or item.get("key") or ""), str(item.get("level") or item.get("kind") or "")]
        if item.get("rule"):
            parts.append("rule " + str(item["rule"]))
        lines.append("- " + " ".join(part for part in parts if part))
        if item.get("why"):
            lines.append("  " + str(item["why"]))
        if item.get("link"):
            lines.append("  " + str(item["link"]))
    if more:
        lines.append(f"… and {more} more")
    return title, "\n".join(lines)
