"""Tickets for reports, read from the state store: the one place reports read tickets.

Scorecards, next-day indicators, customer status and the wallboard all start from what
the stateful runs recorded, and none of them changes it.  This module reads it: the
stored ticket row (:class:`~spm_rules.state.records.TicketState`), the ticket as its
source last reported it (``facts``, histories included, validated back into a
:class:`~spm_rules.tickets.Ticket`), its escalation records and, on request, some kinds
of its audit entries, as one :class:`ReportTicket`.

* :func:`closed_tickets`: the archived tickets a period contains, by the ticket's own
  close time (:func:`close_time`), not by when a run noticed it;
* :func:`open_tickets`: every open ticket a run has seen;
* :func:`find_ticket`: one ticket, open or closed.

Tickets stream in pages of ``batch`` rows (ticket-id order), so a year of archive never
sits in memory at once.  The provider of a ticket in every report is the one it is
assigned to (:attr:`ReportTicket.provider`: a route decision's, else the reported one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Collection, Iterable, Iterator

from pydantic import ValidationError

from ..engine import ticket_fact
from ..state.records import Escalation, TicketState, Transition
from ..tickets import Ticket

if TYPE_CHECKING:
    from ..ruleset.schema import Ruleset
    from ..state.store import Store

__all__ = ["ReportTicket", "closed_tickets", "open_tickets", "find_ticket", "close_time", "BATCH"]

#: Ticket rows read per query.
BATCH = 500


@dataclass(frozen=True)
class ReportTicket:
    """One ticket as reports see it.

    ``state`` is the stored row; ``ticket`` the ticket as its source last reported it
    (None when the row keeps no facts, written before state version 4, or they no longer
    validate); ``closed_at`` its own close time (:func:`close_time`; None while open);
    ``escalations`` every escalation record of it (open and closed, current episode
    each); ``audit`` its audit entries of the kinds asked for, oldest first.
    """

    state: TicketState
    ticket: Ticket | None
    closed_at: datetime | None = None
    escalations: tuple[Escalation, ...] = ()
    audit: tuple[Transition, ...] = ()

    @property
    def ticket_id(self) -> str:
        """The ticket's id."""
        return self.state.ticket_id

    @property
    def provider(self) -> str | None:
        """The provider the ticket is assigned to: a route decision's, else the reported one."""
        return self.state.assigned_provider

    @property
    def effective(self) -> Ticket | None:
        """The ticket with ``provider`` = the assigned provider (what rules and policies saw)."""
        if self.ticket is None or self.ticket.provider == self.provider:
            return self.ticket
        return self.ticket.model_copy(update={"provider": self.provider})

    def fact(self) -> dict[str, Any]:
        """The effective ticket's flat fact (``provider`` assigned, ``provider_reported`` beside
        it), as rule conditions see it; the stored columns when there are no facts."""
        effective = self.effective
        if effective is not None:
            return ticket_fact(effective, self.ticket.provider if self.ticket is not None else None)
        state = self.state
        return {
            "id": state.ticket_id,
            "tier": state.tier,
            "stage": state.stage,
            "status": state.status,
            "region": state.region,
            "provider": self.provider,
            "customer": state.customer,
            "provider_reported": state.provider,
        }


def close_time(ticket: Ticket | None, terminal: Collection[str], recorded: datetime | None) -> datetime | None:
    """When a closed ticket closed, by its own record.

    The time of the first entry of the trailing run of terminal statuses in the ticket's
    ``status_history`` (``resolved`` then ``archived`` closed at ``resolved``), provided
    the history's last entry is the ticket's current status; never later than
    ``recorded``, the run that first recorded it closed.  Without such a history, the
    recorded time: the ticket system did not say when.
    """
    history = ticket.status_history if ticket is not None else ()
    if ticket is None or not history or history[-1].status != ticket.status or ticket.status not in terminal:
        return recorded
    index = len(history) - 1
    while index > 0 and history[index - 1].status in terminal:
        index -= 1
    own = history[index].at
    return min(own, recorded) if recorded is not None else own


def _ticket(state: TicketState) -> Ticket | None:
    if state.facts is None:
        return None
    try:
        return Ticket.model_validate(state.facts)
    except ValidationError:
        return None


def _pages(store: Store, *, archived: bool, closed_since: datetime | None, batch: int) -> Iterator[list[TicketState]]:
    after: str | None = None
    while True:
        page = store.report_tickets(archived=archived, closed_since=closed_since, after=after, limit=batch)
        if not page:
            return
        yield page
        after = page[-1].ticket_id


def _complete(store: Store, states: Iterable[tuple[TicketState, Ticket | None, datetime | None]], audit_kinds: Collection[str]) -> list[ReportTicket]:
    """Report tickets for ``states`` with their escalation records and audit entries."""
    chosen = list(states)
    ids = [state.ticket_id for state, _, _ in chosen]
    if not ids:
        return []
    records = store.report_escalations(ids)
    audit = store.report_audit(ids, audit_kinds) if audit_kinds else {}
    return [
        ReportTicket(state, ticket, closed, tuple(records.get(state.ticket_id, ())), tuple(audit.get(state.ticket_id, ())))
        for state, ticket, closed in chosen
    ]


def closed_tickets(
    store: Store, ruleset: Ruleset, since: datetime, until: datetime, *, audit_kinds: Collection[str] = (), batch: int = BATCH
) -> Iterator[ReportTicket]:
    """The closed (archived) tickets whose own close time (:func:`close_time`) lies in
    ``[since, until)``, in ticket-id order, with their escalations and the audit entries
    of ``audit_kinds``.  A ticket reopened since is open, not in any period."""
    terminal = frozenset(ruleset.terminal_statuses)
    for page in _pages(store, archived=True, closed_since=since, batch=batch):
        inside = []
        for state in page:
            ticket = _ticket(state)
            closed = close_time(ticket, terminal, state.closed_at)
            if closed is not None and since <= closed < until:
                inside.append((state, ticket, closed))
        yield from _complete(store, inside, audit_kinds)


def open_tickets(store: Store, *, audit_kinds: Collection[str] = (), batch: int = BATCH) -> Iterator[ReportTicket]:
    """Every open ticket a run has processed, in ticket-id order, with its escalations and
    the audit entries of ``audit_kinds``."""
    for page in _pages(store, archived=False, closed_since=None, batch=batch):
        yield from _complete(store, ((state, _ticket(state), None) for state in page), audit_kinds)


def find_ticket(store: Store, ruleset: Ruleset, ticket_id: str, *, audit_kinds: Collection[str] = ()) -> ReportTicket | None:
    """One ticket, open or closed (with its own close time), or None if no run processed it."""
    terminal = frozenset(ruleset.terminal_statuses)
    for archived in (False, True):
        for state in store.report_tickets(archived=archived, ids=[ticket_id], limit=1):
            ticket = _ticket(state)
            closed = close_time(ticket, terminal, state.closed_at) if archived else None
            return _complete(store, [(state, ticket, closed)], audit_kinds)[0]
    return None
