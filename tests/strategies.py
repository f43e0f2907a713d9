"""Hypothesis strategies for whole rulesets whose rules can be permuted, and tickets for them.

The rules read ticket fields, SLA fields or both, and act with every kind of action; the
route rules route to one provider (no conflicts) or to two (conflicts possible), and one
policy measures only what partner-a holds, so that a route changes the ticket's statuses
as well as what the other rules see.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

from spm_rules.tickets import Ticket

__all__ = ["ORDER_NOW", "order_rulesets", "order_tickets"]

ORDER_NOW = datetime(2026, 11, 25, 18, 0, tzinfo=timezone.utc)

_TICKET_CONDITIONS = (
    {"field": "vip", "eq": True},
    {"field": "region", "eq": "east"},
    {"field": "provider", "present": False},
    {"field": "provider", "eq": "partner-a"},
    {"field": "provider", "eq": "partner-b"},
    {"field": "provider_reported", "present": True},
    {"field": "tier", "eq": "P2"},
)
_SLA_CONDITIONS = (
    {"field": "sla.level", "eq": "red"},
    {"field": "sla.policy", "eq": "response"},
    {"field": "sla.level_rank", "gte": 1},
    {"field": "sla.overdue", "eq": True},
    {"all": [{"field": "sla.policy", "eq": "care"}, {"field": "sla.level", "eq": "late"}]},
)


@st.composite
def _conditions(draw: st.DrawFn) -> dict | None:
    ticket_side, sla_side = st.sampled_from(_TICKET_CONDITIONS), st.sampled_from(_SLA_CONDITIONS)
    return draw(
        st.one_of(
            st.none(),
            ticket_side,
            sla_side,
            st.builds(lambda a, b: {"all": [a, b]}, ticket_side, sla_side),
            st.builds(lambda a, b: {"any": [a, b]}, ticket_side, sla_side),
            st.builds(lambda a: {"not": a}, ticket_side),
        )
    )


@st.composite
def order_rulesets(draw: st.DrawFn, conflicts: bool = True) -> dict:
    """A ruleset (as data) with rules that read ticket fields, SLA fields or both, and
    route rules to one provider (no conflicts) or, with ``conflicts``, maybe to two."""
    providers = draw(st.sampled_from((["partner-a"], ["partner-a", "partner-b"]) if conflicts else (["partner-a"],)))
    action = st.one_of(
        st.builds(lambda names: {"notify": names}, st.lists(st.sampled_from(["desk", "center"]), min_size=1, max_size=2, unique=True)),
        st.builds(lambda tag: {"tag": tag}, st.sampled_from(["vip", "late", "east"])),
        st.builds(lambda to: {"escalate": {"to": to}}, st.sampled_from(["manager", "director"])),
        st.builds(lambda provider: {"route": {"provider": provider}}, st.sampled_from(providers)),
    )
    rules = []
    for index in range(draw(st.integers(1, 7))):
        rule: dict = {"name": f"r{index}", "then": draw(st.lists(action, min_size=1, max_size=2))}
        when = draw(_conditions())
        if when is not None:
            rule["when"] = when
        rules.append(rule)
    return {
        "name": "order-property",
        "tiers": {"P2": {"response": "2h"}, "P4": {"response": "4h"}},
        "stages": ["hotline", "dispatched"],
        "terminal_statuses": ["resolved"],
        "policies": [
            {"name": "response", "targets": {"dispatched": "response"}, "levels": [
                {"name": "yellow", "at": "75%"}, {"name": "red", "at": "100%"}, {"name": "escalate", "after_due": "2h"}]},
            # Measures only what partner-a holds: a route to partner-a changes the ticket's statuses.
            {"name": "care", "applies_to": {"field": "provider", "eq": "partner-a"}, "targets": {"dispatched": "1h"}, "levels": [{"name": "late", "at": "100%"}]},
        ],
        "rules": rules,
        "receivers": {"desk": {"urls": ["console://desk"]}, "center": {"urls": ["console://center"]}},
    }


@st.composite
def order_tickets(draw: st.DrawFn) -> list[Ticket]:
    found = []
    for index in range(draw(st.integers(1, 5))):
        dispatched = ORDER_NOW - timedelta(minutes=draw(st.integers(10, 600)))
        found.append(
            Ticket(
                id=f"T{index}",
                tier=draw(st.sampled_from(["P2", "P4"])),
                status="open",
                region=draw(st.sampled_from(["east", "west"])),
                provider=draw(st.sampled_from([None, "partner-a", "partner-b"])),
                vip=draw(st.booleans()),
                created_at=dispatched - timedelta(minutes=20),
                stage_history=[{"stage": "hotline", "entered_at": dispatched - timedelta(minutes=20)}, {"stage": "dispatched", "entered_at": dispatched}],
            )
        )
    return found
