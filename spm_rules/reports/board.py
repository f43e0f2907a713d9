"""The command center's wallboard: every open ticket, most urgent first, coloured by level.

``board_data(ruleset, states, now)`` recomputes each open ticket's SLA statuses from the
facts the state keeps (at ``now``, on the policies' calendars) and gives each ticket one
colour, the most severe of its statuses' (see :func:`level_color`):

* ``ok``: no level reached;
* ``yellow``: a level reached before the target is used up (``at`` below 100 %, ``before_due``);
* ``red``: the first level at or past the due time (``at: 100%``, ``after_due: 0s``);
* ``escalated``: a later level past the due time (``after_due: 2h``, ``at: 150%``).

A ruleset may map level names to colours itself (``board: {colors: {late: yellow}}``).
Rows are sorted by colour (escalated first), then by the time left on that status (most
overdue first), then by ticket id.  :func:`render_page` turns the data into one
self-contained HTML page (inline CSS and JavaScript, the data embedded); the page
re-renders itself from fresh data every ``refresh`` seconds (see docs/board.md).

Pure but for :func:`read_board`, which reads the state store (read-only).
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import TYPE_CHECKING, Any, Iterable, Literal, Mapping
from zoneinfo import ZoneInfo

from pydantic import Field

from ..durations import format_duration
from ..ruleset.types import Duration, StrictModel

if TYPE_CHECKING:
    from ..clock.status import SlaStatus
    from ..engine import Engine
    from ..ruleset.schema import PolicySpec, Ruleset
    from ..state.records import TicketState
    from ..state.store import Store

__all__ = [
    "Color",
    "COLORS",
    "COLOR_STYLES",
    "BoardSpec",
    "BoardRow",
    "BoardData",
    "level_color",
    "board_data",
    "read_board",
    "render_page",
    "UNASSIGNED",
]

Color = Literal["ok", "yellow", "red", "escalated"]
#: The colours, least severe first.
COLORS: tuple[Color, ...] = ("ok", "yellow", "red", "escalated")
_SEVERITY = {color: rank for rank, color in enumerate(COLORS)}
#: Each colour's row background and text colour on the page (high contrast on black).
COLOR_STYLES: dict[Color, tuple[str, str]] = {
    "ok": ("#0b3d1e", "#ffffff"),
    "yellow": ("#ffd600", "#000000"),
    "red": ("#d50000", "#ffffff"),
    "escalated": ("#7c1fd1", "#ffffff"),
}
#: How the board names a ticket no provider is assigned to.
UNASSIGNED = "unassigned"


class BoardSpec(StrictModel):
    """The ruleset's ``board:``: colours per level name, and how often the page refreshes."""

    colors: dict[str, Color] = {}
    refresh: Duration = Field(default=timedelta(seconds=15), description="how often the page fetches fresh data")


def level_color(policy: PolicySpec, status: SlaStatus, overrides: Mapping[str, Color] | None = None) -> Color:
    """The board colour of a ticket's status under ``policy``: the ruleset's ``board.colors``
    for the level's name, else by where the level stands against the due time (see the module)."""
    if status.level is None:
        return "ok"
    if overrides and status.level in overrides:
        return overrides[status.level]
    ordered = sorted((level.threshold(status.target), index, level.name) for index, level in enumerate(policy.levels))
    past_due = [name for threshold, _, name in ordered if threshold >= status.target]
    if status.level not in past_due:
        return "yellow"
    return "red" if past_due.index(status.level) == 0 else "escalated"


@dataclass(frozen=True)
class BoardRow:
    """One open ticket on the board, described by its most urgent SLA status (if any)."""

    ticket_id: str
    color: Color
    level: str | None
    policy: str | None
    stage: str | None
    tier: str
    region: str | None
    provider: str | None
    customer: str | None
    remaining: timedelta | None
    due_at: datetime | None
    paused: bool = False
    acknowledged: bool = False

    def sort_key(self) -> tuple[int, float, str]:
        """Most urgent first: colour, then least time left (most overdue), then id."""
        left = self.remaining.total_seconds() if self.remaining is not None else float("inf")
        return (-_SEVERITY[self.color], left, self.ticket_id)

    def to_json(self, zone: ZoneInfo, now: datetime) -> dict[str, Any]:
        """The row as the page reads it (times in the ruleset's zone)."""
        return {
            "id": self.ticket_id,
            "color": self.color,
            "level": self.level,
            "policy": self.policy,
            "stage": self.stage,
            "tier": self.tier,
            "region": self.region,
            "provider": self.provider or UNASSIGNED,
            "customer": self.customer,
            "remaining": self.remaining.total_seconds() if self.remaining is not None else None,
            "remaining_text": _remaining_text(self.remaining, self.paused),
            "due_at": self.due_at.isoformat() if self.due_at is not None else None,
            "due": _clock_text(self.due_at, zone, now),
            "paused": self.paused,
            "acknowledged": self.acknowledged,
        }


def _remaining_text(remaining: timedelta | None, paused: bool) -> str:
    if remaining is None:
        return ""
    minutes = abs(int(remaining.total_seconds())) // 60
    if remaining > timedelta(0):
        text = f"{format_duration(timedelta(minutes=minutes)) if minutes else '<1m'} left"
    else:
        text = f"{format_duration(timedelta(minutes=minutes))} over" if minutes else "due now"
    return f"paused {text.removesuffix(' left')}" if paused else text


def _clock_text(value: datetime | None, zone: ZoneInfo, now: datetime) -> str:
    """``14:00`` on the board's day, ``11-26 09:40`` on another."""
    if value is None:
        return ""
    local = value.astimezone(zone)
    return local.strftime("%H:%M") if local.date() == now.astimezone(zone).date() else local.strftime("%m-%d %H:%M")


@dataclass(frozen=True)
class BoardData:
    """What the board shows at ``as_of``: its rows in urgency order, and what it left out."""

    ruleset: str
    as_of: datetime
    timezone: str
    refresh: int
    rows: tuple[BoardRow, ...]
    unmeasured: tuple[str, ...] = ()

    @property
    def local_as_of(self) -> str:
        """When the board was measured, on the wall clock of the ruleset's zone."""
        return self.as_of.astimezone(ZoneInfo(self.timezone)).strftime("%Y-%m-%d %H:%M")

    def counts(self) -> dict[str, Any]:
        """Tickets per colour, and per provider and colour (with a total), providers by name."""
        levels = {color: 0 for color in reversed(COLORS)}
        providers: dict[str, dict[str, int]] = {}
        for row in self.rows:
            levels[row.color] += 1
            counts = providers.setdefault(row.provider or UNASSIGNED, {"total": 0} | {color: 0 for color in reversed(COLORS)})
            counts[row.color] += 1
            counts["total"] += 1
        return {"levels": levels, "providers": dict(sorted(providers.items()))}

    def to_json(self) -> dict[str, Any]:
        """The document ``/board.json`` serves and the page embeds."""
        zone = ZoneInfo(self.timezone)
        return {
            "ruleset": self.ruleset,
            "as_of": self.as_of.isoformat(),
            "as_of_text": self.local_as_of,
            "timezone": self.timezone,
            "refresh": self.refresh,
            "colors": list(reversed(COLORS)),
            "counts": self.counts(),
            "unmeasured": list(self.unmeasured),
            "rows": [row.to_json(zone, self.as_of) for row in self.rows],
        }


def _row(ticket_id: str, statuses: Iterable[SlaStatus], policies: Mapping[str, PolicySpec], overrides: Mapping[str, Color], **fields: Any) -> BoardRow:
    """The row of one ticket: its most severe status, the least time left among equals."""
    lead: tuple[Color, SlaStatus] | None = None
    for status in statuses:
        color = level_color(policies[status.policy], status, overrides)
        if lead is None or (_SEVERITY[color], -status.remaining) > (_SEVERITY[lead[0]], -lead[1].remaining):
            lead = (color, status)
    if lead is None:
        return BoardRow(ticket_id, "ok", None, None, remaining=None, due_at=None, **fields)
    color, status = lead
    return BoardRow(ticket_id, color, status.level, status.policy, remaining=status.remaining, due_at=status.due_at, paused=status.paused, **fields)


def board_data(
    ruleset: Ruleset,
    states: Iterable[TicketState],
    now: datetime,
    *,
    acknowledged: Iterable[str] = (),
    engine: Engine | None = None,
) -> BoardData:
    """The board of the open tickets ``states`` at ``now``, most urgent first.  Pure.

    A state whose facts cannot give a ticket back (a row from before schema 4, or facts
    the ticket model no longer accepts) is left out and named in ``unmeasured``.
    ``acknowledged`` names the tickets with an acknowledged open escalation.
    """
    from pydantic import ValidationError

    from ..engine import Engine, ticket_fact
    from ..errors import StateError
    from .status import effective_ticket

    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(timezone.utc)
    engine = engine if engine is not None else Engine(ruleset, "python")
    policies = {policy.name: policy for policy in ruleset.policies}
    overrides = ruleset.board.colors
    acked = set(acknowledged)
    rows, unmeasured = [], []
    for state in states:
        try:
            ticket = effective_ticket(state)
        except (StateError, ValidationError):
            unmeasured.append(state.ticket_id)
            continue
        statuses = engine.statuses(ticket, now, ticket_fact(ticket, state.provider))
        fields = {
            "stage": ticket.stage,
            "tier": ticket.tier,
            "region": ticket.region,
            "provider": ticket.provider,
            "customer": ticket.customer,
            "acknowledged": ticket.id in acked,
        }
        rows.append(_row(ticket.id, statuses, policies, overrides, **fields))
    rows.sort(key=BoardRow.sort_key)
    return BoardData(
        ruleset=ruleset.name,
        as_of=now,
        timezone=ruleset.ticket_timezone or "UTC",
        refresh=max(1, int(ruleset.board.refresh.total_seconds())),
        rows=tuple(rows),
        unmeasured=tuple(sorted(unmeasured)),
    )


def read_board(store: Store, ruleset: Ruleset, now: datetime, *, engine: Engine | None = None) -> BoardData:
    """The board of the tickets the state keeps open, at ``now`` (reads only)."""
    states = store.open_tickets(ruleset.terminal_statuses)
    return board_data(ruleset, states, now, acknowledged=store.acknowledged_tickets(), engine=engine)


def _embedded(document: Mapping[str, Any]) -> str:
    """JSON safe inside a ``<script>`` element: no ``</script>`` or ``<!--`` can end it early."""
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _color_css() -> str:
    return "\n".join(
        f"tr.c-{color} td, .chip.c-{color}, .n.c-{color} {{ background: {background}; color: {text}; }}"
        for color, (background, text) in COLOR_STYLES.items()
    )


def render_page(data: BoardData, *, live: bool) -> str:
    """The board as one self-contained HTML page with ``data`` embedded.

    ``live``: the page polls ``board.json`` beside it (``spm-rules board --serve``);
    otherwise it re-reads its own file (``--out``, served by any web server; opened
    from disk it reloads itself).
    """
    template = resources.files(__package__).joinpath("board.html").read_text(encoding="utf-8")
    replacements = {
        "__TITLE__": html.escape(data.ruleset),
        "__MODE__": "live" if live else "static",
        "/*__COLORS__*/": _color_css(),
        "__DATA__": _embedded(data.to_json()),
    }
    # One pass, so that a value containing a marker is never replaced again.
    return re.sub("|".join(re.escape(marker) for marker in replacements), lambda found: replacements[found.group(0)], template)
