"""The customer's view of a ticket: the stages done, the current stage, the expected completion.

``customer_status(ruleset, ticket, now, lang)`` answers the question a customer asks by
phone, SMS or web ("how far has my repair come?") in plain language, as one SMS text and
as JSON for a web page.  What it may show is declared in one place,
:data:`FIELD_VISIBILITY`: the output is built only from public fields and from what is
computed from them (stage labels, times, the expected completion), so an internal field
(escalation levels, providers and their contacts, rule and receiver names, notes, tags)
has no way into it.  A ruleset may publish more of the ticket's own extra fields
(``customer_status.public_fields``), never one marked internal here.

The expected completion is a due time on the policies' business calendars (see
docs/status.md): the end-to-end (``clock: created``) policy's due time when one measures
the ticket, else the current stage's.  Pure: ``now`` is a parameter; the state is read by
the caller (``spm-rules status``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, Mapping
from zoneinfo import ZoneInfo

from pydantic import model_validator

from ..alerting.templates import fill_placeholders, placeholder_names
from ..errors import StateError
from ..ruleset.types import StrictModel
from ..tickets import Ticket

if TYPE_CHECKING:
    from ..clock.status import SlaStatus
    from ..engine import Engine
    from ..ruleset.schema import Ruleset
    from ..state.records import TicketState

__all__ = [
    "FIELD_VISIBILITY",
    "PUBLIC_FIELDS",
    "LANGUAGES",
    "SITUATIONS",
    "PLACEHOLDERS",
    "DEFAULT_TEMPLATES",
    "StageLabels",
    "StatusTemplates",
    "CustomerStatusSpec",
    "StageStep",
    "SmsFit",
    "CustomerStatus",
    "customer_status",
    "effective_ticket",
    "fit_sms",
    "sms_length",
]

Visibility = Literal["public", "internal"]
Language = Literal["zh", "en"]
Situation = Literal["on_track", "late", "waiting", "in_progress", "done"]

#: Every field the customer's view could draw on, marked public or internal: the one place
#: that says what a customer may see.  A ticket's other fields are internal unless the
#: ruleset lists them in ``customer_status.public_fields`` (which may not name a field
#: marked internal here).  ``stage`` and ``stage_history`` are shown through the ruleset's
#: customer labels; ``status`` only through the plain-language situation it gives.
FIELD_VISIBILITY: dict[str, Visibility] = {
    # The ticket's own fields (spm_rules.tickets.Ticket).
    "id": "public",
    "product": "public",
    "created_at": "public",
    "stage": "public",
    "stage_history": "public",
    "status": "internal",
    "status_history": "internal",
    "tier": "internal",
    "tier_history": "internal",
    "region": "internal",
    "provider": "internal",
    "customer": "internal",
    # What the engine and the state add to a ticket.
    "provider_reported": "internal",
    "routed_to": "internal",
    "levels": "internal",
    "escalations": "internal",
    "tags": "internal",
    "rules": "internal",
    "receivers": "internal",
    # Extra fields ticket systems send that never reach a customer, whatever a ruleset says.
    "notes": "internal",
    "internal_notes": "internal",
    "contact": "internal",
    "contacts": "internal",
    "engineer": "internal",
    "phone": "internal",
    "email": "internal",
}

#: The fields the customer's view shows without any ruleset saying so.
PUBLIC_FIELDS = tuple(name for name, visibility in FIELD_VISIBILITY.items() if visibility == "public")

LANGUAGES: tuple[Language, ...] = ("zh", "en")

#: Where the ticket stands for its customer; each has its own template.
SITUATIONS: tuple[Situation, ...] = ("on_track", "late", "waiting", "in_progress", "done")

#: The values a template may use (beside the ruleset's public fields), all from public fields.
PLACEHOLDERS = ("id", "product", "created", "stage", "since", "done", "expected", "stage_due", "closed")

#: The built-in templates, per language and situation (``{done}`` carries its own separators).
DEFAULT_TEMPLATES: dict[Language, dict[Situation, str]] = {
    "zh": {
        "on_track": "服务单{id}：{done}当前{stage}，预计{expected}前完成。",
        "late": "服务单{id}：{done}当前{stage}，已晚于预计的{expected}，我们正在加紧处理。",
        "waiting": "服务单{id}：{done}当前{stage}，正在等待您的回复，回复后继续处理。",
        "in_progress": "服务单{id}：{done}当前{stage}，正在处理中。",
        "done": "服务单{id}已于{closed}完成，感谢您的耐心。",
    },
    "en": {
        "on_track": "Request {id}: {done}now {stage}; expected completion by {expected}.",
        "late": "Request {id}: {done}now {stage}; behind the expected {expected}, we are on it.",
        "waiting": "Request {id}: {done}now {stage}; waiting for your reply to go on.",
        "in_progress": "Request {id}: {done}now {stage}; in progress.",
        "done": "Request {id} was completed on {closed}. Thank you for your patience.",
    },
}

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _fill(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``{name}`` replaced by its value (names checked at load), on one line."""
    return " ".join(fill_placeholders(template, lambda name: values.get(name, "")).split())


class StageLabels(StrictModel):
    """What a stage is called for customers, per language (default: the stage's name)."""

    zh: str | None = None
    en: str | None = None


class StatusTemplates(StrictModel):
    """One language's templates, per situation; a plain text is the template of every situation."""

    on_track: str | None = None
    late: str | None = None
    waiting: str | None = None
    in_progress: str | None = None
    done: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {situation: value for situation in SITUATIONS} if isinstance(value, str) else value


class CustomerStatusSpec(StrictModel):
    """The ruleset's ``customer_status:``: templates, stage labels, and extra public fields."""

    templates: dict[Language, StatusTemplates] = {}
    public_fields: list[str] = []
    stages: dict[str, StageLabels] = {}

    @model_validator(mode="after")
    def _only_public(self) -> "CustomerStatusSpec":
        for name in self.public_fields:
            if FIELD_VISIBILITY.get(name) == "internal" or FIELD_VISIBILITY.get(name.split(".")[0]) == "internal":
                raise ValueError(f"public_fields: {name!r} is internal (spm_rules.reports.status.FIELD_VISIBILITY) and never shown to a customer")
            if name in PLACEHOLDERS:
                raise ValueError(f"public_fields: {name!r} is a built-in placeholder already")
        known = set(PLACEHOLDERS) | set(self.public_fields)
        for lang, templates in self.templates.items():
            for situation in SITUATIONS:
                text = getattr(templates, situation)
                if text is None:
                    continue
                unknown = sorted(set(placeholder_names(text, f"templates.{lang}.{situation}")) - known)
                if unknown:
                    raise ValueError(
                        f"templates.{lang}.{situation}: unknown placeholder(s) {', '.join(unknown)}; "
                        f"use {', '.join(sorted(known))} (a field must be in public_fields first)"
                    )
        return self

    def template(self, lang: Language, situation: Situation) -> str:
        """The ruleset's template for the situation, else the built-in one."""
        declared = self.templates.get(lang)
        text = getattr(declared, situation) if declared is not None else None
        return text if text is not None else DEFAULT_TEMPLATES[lang][situation]

    def label(self, stage: str, lang: Language) -> str:
        """The customer's word for a stage in ``lang``."""
        labels = self.stages.get(stage)
        text = getattr(labels, lang) if labels is not None else None
        return text if text else stage.replace("_", " ").replace("-", " ")


# -- SMS ---------------------------------------------------------------------------------

#: GSM 03.38's basic character set (one septet each) and its extension table (two).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")
#: One SMS segment: 160 GSM-7 septets, or 70 UCS-2 code units once any other character is used.
GSM_LIMIT, UCS2_LIMIT = 160, 70


def _gsm(text: str) -> bool:
    return all(char in _GSM_BASIC or char in _GSM_EXTENDED for char in text)


def _cost(char: str, gsm: bool) -> int:
    if gsm:
        return 2 if char in _GSM_EXTENDED else 1
    return 2 if ord(char) > 0xFFFF else 1


def sms_length(text: str) -> tuple[int, int, str]:
    """(length, limit of one segment, encoding) of ``text`` as an SMS: GSM-7 septets out of
    160 when every character is in the GSM alphabet, else UCS-2 code units out of 70."""
    gsm = _gsm(text)
    return sum(_cost(char, gsm) for char in text), GSM_LIMIT if gsm else UCS2_LIMIT, "gsm7" if gsm else "ucs2"


@dataclass(frozen=True)
class SmsFit:
    """How a text fits one SMS segment."""

    length: int
    limit: int
    encoding: str
    truncated: bool

    def to_json(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {"length": self.length, "limit": self.limit, "encoding": self.encoding, "truncated": self.truncated}


def fit_sms(text: str) -> tuple[str, SmsFit]:
    """``text`` cut to one SMS segment (ending in an ellipsis when cut), and how it fits."""
    length, limit, encoding = sms_length(text)
    if length <= limit:
        return text, SmsFit(length, limit, encoding, False)
    gsm = encoding == "gsm7"
    ellipsis = "..." if gsm else "…"
    budget, kept = limit - len(ellipsis), []
    for char in text:
        budget -= _cost(char, gsm)
        if budget < 0:
            break
        kept.append(char)
    cut = "".join(kept).rstrip() + ellipsis
    length, _, _ = sms_length(cut)
    return cut, SmsFit(length, limit, encoding, True)


# -- the view ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StageStep:
    """One stage on the customer's way: done (entered and left), current, or upcoming."""

    stage: str
    label: str
    state: Literal["done", "current", "upcoming"]
    entered_at: datetime | None = None
    left_at: datetime | None = None


@dataclass(frozen=True)
class CustomerStatus:
    """What a customer is told about one ticket at ``as_of``: the steps, the situation,
    the expected completion, the public fields, and the text (one SMS)."""

    ticket_id: str
    lang: Language
    as_of: datetime
    timezone: str
    situation: Situation
    steps: tuple[StageStep, ...]
    created_at: datetime
    expected_at: datetime | None
    stage_due_at: datetime | None
    completion_due_at: datetime | None
    closed_at: datetime | None
    fields: dict[str, Any]
    text: str
    sms: SmsFit

    @property
    def current(self) -> StageStep | None:
        """The stage the ticket is in (None once done)."""
        return next((step for step in self.steps if step.state == "current"), None)

    def to_json(self) -> dict[str, Any]:
        """Plain data for a web page: times in ISO 8601 and as the text shows them."""
        zone = ZoneInfo(self.timezone)

        def when(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        def local(value: datetime | None) -> str | None:
            return _local_text(value, zone, self.lang, self.as_of) if value is not None else None

        steps = [
            {
                "stage": step.stage,
                "label": step.label,
                "state": step.state,
                "entered_at": when(step.entered_at),
                "left_at": when(step.left_at),
                "entered": local(step.entered_at),
                "left": local(step.left_at),
            }
            for step in self.steps
        ]
        return {
            "ticket": self.ticket_id,
            "lang": self.lang,
            "as_of": when(self.as_of),
            "timezone": self.timezone,
            "situation": self.situation,
            "text": self.text,
            "sms": self.sms.to_json(),
            "created_at": when(self.created_at),
            "stages": steps,
            "current_stage": next((step for step in steps if step["state"] == "current"), None),
            "expected": {
                "at": when(self.expected_at),
                "text": local(self.expected_at),
                "stage_due_at": when(self.stage_due_at),
                "completion_due_at": when(self.completion_due_at),
            },
            "closed_at": when(self.closed_at),
            "fields": dict(self.fields),
        }


def _local_text(value: datetime, zone: ZoneInfo, lang: Language, now: datetime) -> str:
    """A time as a customer reads it: ``11月25日14:00`` / ``25 Nov 14:00`` (the year only
    when it is not the current one)."""
    local = value.astimezone(zone)
    other_year = local.year != now.astimezone(zone).year
    if lang == "zh":
        return (f"{local.year}年" if other_year else "") + f"{local.month}月{local.day}日{local:%H:%M}"
    return f"{local.day} {_MONTHS[local.month - 1]}" + (f" {local.year}" if other_year else "") + f" {local:%H:%M}"


def _done_item(label: str, time: str, lang: Language) -> str:
    """How one stage done reads inside ``{done}`` (with its own separator)."""
    return f"{label}{time}完成；" if lang == "zh" else f"{label} done {time}; "


def effective_ticket(state: TicketState) -> Ticket:
    """The ticket a stored state stands for, as the engine sees it: the source's facts
    with ``provider`` = the assigned provider.  StateError for a row without facts."""
    if state.facts is None:
        raise StateError(f"ticket {state.ticket_id}: the state keeps no facts for it yet (a row from before schema 4); the next run that sees it records them")
    ticket = Ticket.model_validate(state.facts)
    assigned = state.assigned_provider
    return ticket if ticket.provider == assigned else ticket.model_copy(update={"provider": assigned})


def _closed_at(ticket: Ticket, stored: datetime | None) -> datetime | None:
    """When the ticket closed: its status history's time of the current (terminal) status,
    else when a run saw it closed."""
    history = ticket.status_history
    if history and history[-1].status == ticket.status:
        return history[-1].at
    return stored


def _steps(ticket: Ticket, spec: CustomerStatusSpec, ruleset: Ruleset, lang: Language, now: datetime, closed_at: datetime | None) -> list[StageStep]:
    visits = [(entry.stage, entry.entered_at) for entry in ticket.stage_history if entry.entered_at <= now]
    if not visits and ticket.stage is not None:
        visits = [(ticket.stage, ticket.created_at)]
    steps = []
    for index, (stage, entered) in enumerate(visits):
        last = index == len(visits) - 1
        left = visits[index + 1][1] if not last else closed_at
        state: Literal["done", "current"] = "current" if last and closed_at is None else "done"
        steps.append(StageStep(stage, spec.label(stage, lang), state, entered, left))
    if closed_at is None and visits and visits[-1][0] in ruleset.stages:
        for stage in ruleset.stages[ruleset.stages.index(visits[-1][0]) + 1 :]:
            steps.append(StageStep(stage, spec.label(stage, lang), "upcoming"))
    return steps


def _due(statuses: tuple[SlaStatus, ...], clocks: Mapping[str, str], clock: str) -> datetime | None:
    """The latest due time among the statuses whose policy runs ``clock``."""
    dues = [status.due_at for status in statuses if clocks.get(status.policy) == clock and status.due_at is not None]
    return max(dues) if dues else None


def customer_status(
    ruleset: Ruleset,
    ticket: Ticket | TicketState,
    now: datetime,
    lang: Language = "zh",
    *,
    engine: Engine | None = None,
) -> CustomerStatus:
    """The customer's view of ``ticket`` at ``now`` in ``lang`` (``zh`` or ``en``).

    ``ticket`` is a ticket as its source reports it, or a stored ``TicketState`` (its
    facts, the assigned provider and the time a run saw it close).  ``engine`` (built for
    ``ruleset``) saves compiling the ruleset again for many tickets.  Pure.
    """
    from ..engine import Engine, ticket_fact

    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r}: use one of {', '.join(LANGUAGES)}")
    now = now.astimezone(timezone.utc)
    stored_closed: datetime | None = None
    reported: str | None
    if isinstance(ticket, Ticket):
        reported = ticket.provider
    else:
        stored_closed, reported = ticket.closed_at, ticket.provider
        ticket = effective_ticket(ticket)
    spec = ruleset.customer_status
    zone_name = ruleset.ticket_timezone or "UTC"
    zone = ZoneInfo(zone_name)
    engine = engine if engine is not None else Engine(ruleset, "python")

    closed_at = _closed_at(ticket, stored_closed) if ticket.status in ruleset.terminal_statuses else None
    statuses = engine.statuses(ticket, now, ticket_fact(ticket, reported))
    clocks = {policy.name: policy.clock for policy in ruleset.policies}
    stage_due, completion_due = _due(statuses, clocks, "stage"), _due(statuses, clocks, "created")
    expected = completion_due or stage_due
    if closed_at is not None:
        situation: Situation = "done"
    elif ticket.status in ruleset.pausing_statuses:
        situation = "waiting"
    elif expected is None:
        situation = "in_progress"
    else:
        situation = "late" if expected <= now else "on_track"

    steps = _steps(ticket, spec, ruleset, lang, now, closed_at)
    fact = ticket.fact()
    fields = {name: fact.get(name) for name in ("product", *spec.public_fields)}

    def local(value: datetime | None) -> str:
        return _local_text(value, zone, lang, now) if value is not None else ""

    current = next((step for step in steps if step.state == "current"), None)
    done = [step for step in steps if step.state == "done"]
    values = {name: "" if value is None else str(value) for name, value in fields.items()} | {
        "id": ticket.id,
        "created": local(ticket.created_at),
        "stage": current.label if current is not None else "",
        "since": local(current.entered_at) if current is not None else "",
        "expected": local(expected),
        "stage_due": local(stage_due),
        "closed": local(closed_at),
    }

    def render(shown: list[StageStep]) -> str:
        items = "".join(_done_item(step.label, local(step.left_at), lang) for step in shown)
        return _fill(spec.template(lang, situation), values | {"done": items})

    text = render(done)
    if sms_length(text)[0] > sms_length(text)[1] and len(done) > 1:
        text = render(done[-1:])  # the latest stage done says the most; the web page has them all
    text, sms = fit_sms(text)
    return CustomerStatus(
        ticket_id=ticket.id,
        lang=lang,
        as_of=now,
        timezone=zone_name,
        situation=situation,
        steps=tuple(steps),
        created_at=ticket.created_at,
        expected_at=expected,
        stage_due_at=stage_due,
        completion_due_at=completion_due,
        closed_at=closed_at,
        fields=fields,
        text=text,
        sms=sms,
    )
