"""Seeded fleets of realistic tickets for the scale benchmarks, streamed as JSON Lines.

A fleet is shaped like ``examples/enterprise-tickets.jsonl`` or
``examples/repair-tickets.jsonl`` and has the mix a real fleet has at one instant
(``--at``): every tier, every region, tickets with no provider yet, core servers kept in
house, stage histories (hotline → dispatched → onsite, or request → parts → repair),
pauses in ``waiting_customer``, reopened stages, tier changes, some closed tickets, and
clocks spread so that every SLA level of the shipped ruleset occurs.

Ticket ``i`` of a fleet depends only on ``(seed, i, at)``: the same seed gives the same
bytes, and a fleet of a million tickets is written one line at a time (nothing is kept).
:func:`next_feed` turns a feed into the one a later run sees: the same fleet with a given
fraction changed (a stage advanced, a status changed, some resolved) and some new tickets.

Command line::

    python -m benchmarks.fleet --count 100000 --seed 7 --ruleset enterprise --out fleet.jsonl
    python -m benchmarks.fleet --next-of fleet.jsonl --fraction 0.01 --minutes 5 --ruleset enterprise --out next.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

__all__ = [
    "AT",
    "PROFILES",
    "Profile",
    "ticket",
    "tickets",
    "next_feed",
    "write_lines",
    "write_fleet",
    "main",
]

#: The default instant fleets are generated for (the README's quick-start instant).
AT = datetime(2026, 11, 25, 14, 0, tzinfo=timezone(timedelta(hours=8)))
#: Ticket times are written in the ticket system's zone (China, no daylight saving time).
ZONE = timezone(timedelta(hours=8))
HOUR = timedelta(hours=1)

REGIONS = ("north", "northeast", "east", "south", "central", "west", "southwest", "northwest")
CITIES = {
    "north": ("beijing", "tianjin", "shijiazhuang"),
    "northeast": ("harbin", "shenyang", "dalian"),
    "east": ("shanghai", "hangzhou", "nanjing", "suzhou"),
    "south": ("guangzhou", "shenzhen", "xiamen"),
    "central": ("wuhan", "changsha", "zhengzhou"),
    "west": ("chengdu", "chongqing"),
    "southwest": ("kunming", "guiyang"),
    "northwest": ("xian", "lanzhou", "urumqi"),
}
#: The regional partner each enterprise region's dispatch rule picks.
PARTNERS = {
    "north": "partner-north",
    "northeast": "partner-north",
    "east": "partner-east",
    "south": "partner-south",
    "central": "partner-central",
    "west": "partner-west",
    "southwest": "partner-west",
    "northwest": "partner-west",
}
INDUSTRIES = ("Bank", "Grid", "Rail", "Hospital", "University", "Insurance", "Logistics", "Steel", "Media", "Telecom", "Water", "Port")
FAULTS = (
    "disk array degraded", "PSU failure", "fan module alarm", "memory errors", "CPU board fault",
    "controller failover", "BIOS update failed", "RAID rebuild", "NIC down", "boot loop", "overheating",
)  # fmt: skip
PRODUCT_LINES = (
    ("rack", ("rack server R740", "rack server R650", "rack server R450"), 45),
    ("blade", ("blade chassis", "blade node B220"), 14),
    ("storage", ("storage array", "all-flash array AF500"), 16),
    ("tower", ("tower server T350", "tower server T150"), 12),
    ("core-server", ("mainframe MX9", "core server C980"), 13),
)
REPAIR_PRODUCTS = ("laptop X1", "laptop T14", "laptop E14", "laptop X13", "desktop M90", "desktop M70", "workstation P620", "tablet Tab P11")
PEOPLE = ("李雷", "韩梅梅", "王芳", "张伟", "刘洋", "陈静", "杨帆", "赵敏")
TARGETS = {"P2": 2 * HOUR, "P4": 4 * HOUR, "P6": 6 * HOUR}


@dataclass(frozen=True)
class Profile:
    """One reference process: its ticket id prefix, how to make ticket ``i`` and how to change one."""

    name: str
    prefix: str
    make: Callable[[random.Random, str, datetime], dict[str, Any]]
    change: Callable[[random.Random, dict[str, Any], datetime], None]


def _iso(moment: datetime) -> str:
    return moment.astimezone(ZONE).isoformat()


def _minutes(rng: random.Random, low: float, high: float) -> timedelta:
    """A whole number of minutes between ``low`` and ``high``."""
    return timedelta(minutes=round(rng.uniform(low, high)))


def _weighted(rng: random.Random, choices: Sequence[tuple[Any, float]]) -> Any:
    return rng.choices([value for value, _ in choices], [weight for _, weight in choices])[0]


def _customer(rng: random.Random, region: str) -> str:
    return f"{rng.choice(CITIES[region]).title()} {rng.choice(INDUSTRIES)} {rng.randrange(1, 200)}"


def _status_history(rng: random.Random, created: datetime, first: datetime, now: datetime, paused_now: bool) -> list[dict[str, str]]:
    """Open from ``created``; a pause in waiting_customer after ``first``: over (then open again) or still running."""
    start = first + (now - first) * rng.uniform(0.1, 0.6)
    history = [{"status": "open", "at": _iso(created)}, {"status": "waiting_customer", "at": _iso(start)}]
    if not paused_now:
        history.append({"status": "open", "at": _iso(start + (now - start) * rng.uniform(0.2, 0.8))})
    return history


def _tier_history(rng: random.Random, tiers: Sequence[str], tier: str, created: datetime, now: datetime) -> list[dict[str, str]]:
    """The customer bought another level after the ticket was opened: from another tier to ``tier``."""
    before = rng.choice([other for other in tiers if other != tier])
    return [{"tier": before, "at": _iso(created)}, {"tier": tier, "at": _iso(created + (now - created) * rng.uniform(0.2, 0.7))}]


def _head(ticket_id: str, tier: str, status: str, created: datetime, stages: Sequence[tuple[str, datetime]], region: str) -> dict[str, Any]:
    """The fields every ticket starts with, in the order the examples write them."""
    return {
        "id": ticket_id,
        "tier": tier,
        "status": status,
        "created_at": _iso(created),
        "stage_history": [{"stage": stage, "entered_at": _iso(entered)} for stage, entered in stages],
        "region": region,
    }


def _finish(rng: random.Random, ticket: dict[str, Any], tiers: Sequence[str], created: datetime, now: datetime) -> dict[str, Any]:
    """Pauses and tier changes, shared by both processes; the clock-relevant time is ``now``."""
    if ticket["status"] in ("open", "waiting_customer"):
        paused_now = ticket["status"] == "waiting_customer"
        stages = ticket["stage_history"]
        first = datetime.fromisoformat(stages[-1]["entered_at"])
        if paused_now or rng.random() < 0.08:
            ticket["status_history"] = _status_history(rng, created, first, now, paused_now)
    if rng.random() < 0.03:
        ticket["tier_history"] = _tier_history(rng, tiers, ticket["tier"], created, now)
    return ticket


# -- the enterprise command center --------------------------------------------------


def _response_elapsed(rng: random.Random, target: timedelta) -> timedelta:
    """Time in the dispatched stage, spread over every level of the response policy."""
    band = _weighted(rng, (("ok", 50), ("yellow", 14), ("red", 16), ("escalate", 20)))
    if band == "ok":
        return target * rng.uniform(0.02, 0.74)
    if band == "yellow":
        return target * rng.uniform(0.76, 0.99)
    if band == "red":
        return target + (2 * HOUR) * rng.uniform(0.02, 0.98)
    return target + 2 * HOUR + HOUR * rng.expovariate(1 / 6)


def enterprise_ticket(rng: random.Random, ticket_id: str, at: datetime) -> dict[str, Any]:
    """One command-center request as the hotline system would export it at ``at``."""
    tier = _weighted(rng, (("P2", 20), ("P4", 45), ("P6", 35)))
    region = rng.choice(REGIONS)
    line, products, _ = rng.choices(PRODUCT_LINES, [weight for *_, weight in PRODUCT_LINES])[0]
    shape = _weighted(rng, (
        ("hotline", 8), ("first_call_resolved", 7), ("dispatched", 47), ("reopened", 4),
        ("onsite", 24), ("resolved", 8), ("cancelled", 2),
    ))  # fmt: skip
    hotline = _minutes(rng, 5, 60)
    status = "open"
    if shape in ("hotline", "first_call_resolved"):
        created = at - _minutes(rng, 1, 55 if shape == "hotline" else 72 * 60)
        stages = [("hotline", created)]
        status = "open" if shape == "hotline" else "first_call_resolved"
    elif shape in ("dispatched", "reopened"):
        dispatched = at - _response_elapsed(rng, TARGETS[tier])
        dispatched = dispatched.replace(second=0, microsecond=0)
        if shape == "reopened":  # on site, then sent back: the wrong part was brought
            first = dispatched - _minutes(rng, 3 * 60, 20 * 60)
            onsite = first + (dispatched - first) * rng.uniform(0.3, 0.7)
            onsite = onsite.replace(second=0, microsecond=0)
            created = first - hotline
            stages = [("hotline", created), ("dispatched", first), ("onsite", onsite), ("dispatched", dispatched)]
        else:
            created = dispatched - hotline
            stages = [("hotline", created), ("dispatched", dispatched)]
    else:
        created = at - _minutes(rng, 60, 4 * 24 * 60)
        dispatched = created + hotline
        onsite = dispatched + (at - dispatched) * rng.uniform(0.05, 0.6)
        onsite = onsite.replace(second=0, microsecond=0)
        stages = [("hotline", created), ("dispatched", dispatched), ("onsite", onsite)]
        status = {"onsite": _weighted(rng, (("open", 92), ("waiting_customer", 8))), "resolved": "resolved", "cancelled": "cancelled"}[shape]
    if status == "open" and shape in ("dispatched", "reopened") and rng.random() < 0.06:
        status = "waiting_customer"
    ticket = _head(ticket_id, tier, status, created, stages, region)
    # Core servers stay with the maker's engineers (a rule routes them); other requests go
    # to the region's partner, except those the hotline has not assigned yet.
    if line != "core-server" and len(stages) > 1 and rng.random() < 0.85:
        ticket["provider"] = PARTNERS[region]
    ticket["product"] = rng.choice(products)
    ticket["product_line"] = line
    ticket["customer"] = _customer(rng, region)
    ticket["fault"] = rng.choice(FAULTS)
    return _finish(rng, ticket, tuple(TARGETS), created, at)


def _advance(ticket: dict[str, Any], flow: Sequence[str], when: datetime, done: str) -> None:
    """The next stage of ``flow`` entered at ``when``, or ``done`` once the last stage is passed."""
    current = ticket["stage_history"][-1]["stage"]
    position = flow.index(current) if current in flow else len(flow) - 1
    if position + 1 < len(flow):
        ticket["stage_history"].append({"stage": flow[position + 1], "entered_at": _iso(when)})
    else:
        _set_status(ticket, done, when)


def _set_status(ticket: dict[str, Any], status: str, when: datetime) -> None:
    history = ticket.get("status_history") or [{"status": ticket["status"], "at": ticket["created_at"]}]
    ticket["status"] = status
    ticket["status_history"] = [*history, {"status": status, "at": _iso(when)}]


def _change(flow: Sequence[str], done: str) -> Callable[[random.Random, dict[str, Any], datetime], None]:
    def change(rng: random.Random, ticket: dict[str, Any], when: datetime) -> None:
        kind = _weighted(rng, (("advance", 55), ("pause", 20), ("resolve", 25)))
        if kind == "advance":
            _advance(ticket, flow, when, done)
        elif kind == "pause":
            _set_status(ticket, "open" if ticket["status"] == "waiting_customer" else "waiting_customer", when)
        else:
            _set_status(ticket, done, when)

    return change


# -- the repair network -------------------------------------------------------------


def repair_ticket(rng: random.Random, ticket_id: str, at: datetime) -> dict[str, Any]:
    """One repair ticket as the station network would export it at ``at``."""
    tier = _weighted(rng, (("standard", 85), ("key-account", 15)))
    region = rng.choice(REGIONS)
    city = rng.choice(CITIES[region])
    shape = _weighted(rng, (("request", 30), ("parts", 24), ("repair", 24), ("reopened", 6), ("resolved", 12), ("cancelled", 4)))
    # Real-time ages; the station-hours calendar turns them into business time, so recent
    # tickets dominate (a stage entered yesterday evening has used little station time).
    mean_age = {"request": 9, "parts": 30, "repair": 14, "reopened": 20, "resolved": 60, "cancelled": 40}[shape]
    entered = (at - _minutes(rng, 1, 60) - HOUR * rng.expovariate(1 / mean_age)).replace(second=0, microsecond=0)
    stages: list[tuple[str, datetime]] = []
    if shape == "request":
        created = entered
        stages = [("request", created)]
    elif shape == "parts":
        created = entered - _minutes(rng, 30, 10 * 60)
        stages = [("request", created), ("parts", entered)]
    else:
        parts = entered - _minutes(rng, 6 * 60, 48 * 60)
        created = parts - _minutes(rng, 30, 8 * 60)
        if rng.random() < 0.25:  # a long diagnosis: the end-to-end target is at risk
            created -= _minutes(rng, 3 * 24 * 60, 12 * 24 * 60)
        stages = [("request", created), ("parts", parts), ("repair", entered)]
        if shape == "reopened":  # the repair needed a second part: parts again, then repair again
            again = entered + (at - entered) * rng.uniform(0.1, 0.4)
            back = again + (at - again) * rng.uniform(0.3, 0.7)
            stages += [("parts", again.replace(second=0, microsecond=0)), ("repair", back.replace(second=0, microsecond=0))]
    status = {"resolved": "resolved", "cancelled": "cancelled"}.get(shape, "open")
    if status == "open" and rng.random() < 0.05:
        status = "waiting_customer"
    ticket = _head(ticket_id, tier, status, created, stages, region)
    if rng.random() < 0.9:  # the others wait for the regional central station to assign one
        ticket["provider"] = f"station-{city}-{rng.randrange(1, 12):02d}"
    ticket["product"] = rng.choice(REPAIR_PRODUCTS)
    ticket["customer"] = rng.choice(PEOPLE) if tier == "standard" and rng.random() < 0.7 else _customer(rng, region)
    if any(stage == "parts" for stage, _ in stages) and rng.random() < 0.4:
        ticket["ships_from"] = f"central-{rng.choice(CITIES[region])}"
    return _finish(rng, ticket, ("standard", "key-account"), created, at)


PROFILES: dict[str, Profile] = {
    "enterprise": Profile("enterprise", "EC", enterprise_ticket, _change(("hotline", "dispatched", "onsite"), "resolved")),
    "repair": Profile("repair", "RP", repair_ticket, _change(("request", "parts", "repair"), "resolved")),
}


# -- fleets -------------------------------------------------------------------------


def _rng(seed: int, index: int, salt: int = 0) -> random.Random:
    """Ticket ``index``'s own generator: independent of every other ticket, so fleets stream."""
    return random.Random((seed * 1_000_003 + index) * 7 + salt)


def _ticket_id(profile: Profile, index: int) -> str:
    return f"{profile.prefix}-{index:07d}"


def ticket(profile: str, seed: int, index: int, at: datetime = AT) -> dict[str, Any]:
    """Ticket ``index`` of the fleet ``(profile, seed)`` as seen at ``at``."""
    chosen = PROFILES[profile]
    return chosen.make(_rng(seed, index), _ticket_id(chosen, index), at)


def tickets(profile: str, count: int, seed: int, at: datetime = AT, start: int = 0) -> Iterator[dict[str, Any]]:
    """Tickets ``start`` … ``start + count - 1`` of the fleet, one at a time."""
    for index in range(start, start + count):
        yield ticket(profile, seed, index, at)


def next_feed(
    lines: Iterable[str], profile: str, fraction: float, seed: int, at: datetime, later: datetime
) -> Iterator[dict[str, Any]]:
    """The feed a run at ``later`` sees, given the feed ``lines`` of a run at ``at``.

    About ``fraction`` of the tickets differ: four in five of them are open tickets that
    changed between the two instants (advanced a stage, paused or resumed, resolved), one
    in five is new (created since ``at``).  Which ticket changes, and how, depends only
    on the seed and the ticket id.  Streams: one ticket in memory at a time.
    """
    chosen = PROFILES[profile]
    count = 0
    for line in lines:
        data = json.loads(line)
        count += 1
        rng = random.Random(f"{seed}:{data['id']}")
        if data["status"] in ("open", "waiting_customer") and rng.random() < fraction * 0.8:
            chosen.change(rng, data, at + (later - at) * rng.uniform(0.05, 0.95))
        yield data
    for index in range(count, count + round(count * fraction * 0.2)):
        rng = _rng(seed, index, salt=1)
        fresh = chosen.make(rng, _ticket_id(chosen, index), later)
        yield fresh


def write_lines(rows: Iterable[dict[str, Any]], out: Path) -> int:
    """Write ``rows`` as JSON Lines (UTF-8, one ticket a line); return how many."""
    written = 0
    with open(out, "w", encoding="utf-8", newline="\n") as stream:
        for row in rows:
            stream.write(json.dumps(row, ensure_ascii=False))
            stream.write("\n")
            written += 1
    return written


def write_fleet(out: Path, profile: str, count: int, seed: int, at: datetime = AT) -> int:
    """Write a fleet of ``count`` tickets to ``out``; return the count."""
    return write_lines(tickets(profile, count, seed, at), out)


def main(argv: Sequence[str] | None = None) -> None:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fleet", description=__doc__.splitlines()[0])
    parser.add_argument("--ruleset", choices=sorted(PROFILES), default="enterprise", help="which reference process")
    parser.add_argument("--count", type=int, default=10_000, help="tickets in the fleet")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--at", type=datetime.fromisoformat, default=AT, help="the instant the fleet is seen at (ISO 8601 with offset)")
    parser.add_argument("--out", type=Path, required=True, help="the JSON Lines file to write")
    parser.add_argument("--next-of", type=Path, default=None, help="write the next feed of this feed instead of a new fleet")
    parser.add_argument("--fraction", type=float, default=0.01, help="with --next-of: the share of tickets that change or are new")
    parser.add_argument("--minutes", type=float, default=5.0, help="with --next-of: minutes between the two feeds")
    args = parser.parse_args(argv)
    if args.at.tzinfo is None:
        parser.error("--at needs an offset, e.g. 2026-11-25T14:00:00+08:00")
    if args.next_of is not None:
        with open(args.next_of, encoding="utf-8") as source:
            later = args.at + timedelta(minutes=args.minutes)
            written = write_lines(next_feed(source, args.ruleset, args.fraction, args.seed, args.at, later), args.out)
    else:
        written = write_fleet(args.out, args.ruleset, args.count, args.seed, args.at)
    print(f"{written} tickets written to {args.out}")


if __name__ == "__main__":
    main()
