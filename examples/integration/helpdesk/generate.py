"""Create the help-desk schema of the cron example and fill it with seeded tickets.

A typical ticket system's tables, in its own words (not spm-rules'): ``tickets`` with a
numeric priority code, the customer's site city and naive local times, and
``ticket_events``, one row per stage or status change.  The same seed gives the same
tickets on every machine and database, so the example's output can be checked::

    python examples/integration/helpdesk/generate.py sqlite:///helpdesk.db --tickets 10000
    python examples/integration/helpdesk/generate.py postgresql://helpdesk@db/helpdesk

Tickets are opened over the three days before ``--until`` (Asia/Shanghai wall time): some
are still on the hotline, most were dispatched, some are on site, about half are
resolved; a few wait for the customer (the clock pauses).  The ``sla_level`` column is
where the example's cron job writes each ticket's level back (``job.py``), and
``follow_up_tasks`` where its custom receiver opens a task per escalation
(``followup.py``).
"""

from __future__ import annotations

import argparse
import random
from datetime import datetime, timedelta

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, Text, create_engine, insert

metadata = MetaData()
tickets = Table(
    "tickets",
    metadata,
    Column("ticket_no", Integer, primary_key=True, autoincrement=False),
    Column("subject", Text, nullable=False),
    Column("priority_code", Integer, nullable=False),
    Column("site_city", Text, nullable=False),
    Column("product_line", Text, nullable=False),
    Column("customer_name", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("opened_at", DateTime, nullable=False),
    Column("closed_at", DateTime),
    Column("sla_level", Text),
    Column("sla_level_at", DateTime),
)
ticket_events = Table(
    "ticket_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("ticket_no", Integer, nullable=False, index=True),
    Column("field", Text, nullable=False),
    Column("new_value", Text, nullable=False),
    Column("changed_at", DateTime, nullable=False),
)

follow_up_tasks = Table(
    "follow_up_tasks",
    metadata,
    Column("notification_key", Text, primary_key=True),
    Column("ticket_no", Integer, nullable=False, index=True),
    Column("assignee", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

CITIES = ["Beijing", "Shenyang", "Shanghai", "Hangzhou", "Guangzhou", "Shenzhen", "Wuhan", "Chengdu", "Xi'an", "Lhasa"]
PRODUCTS = ["rack-server", "rack-server", "storage", "core-server"]
SUBJECTS = ["disk failure", "PSU alarm", "memory ECC errors", "fan noise", "RAID degraded", "BMC unreachable"]


def generate(count: int, until: datetime, seed: int) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """``count`` tickets and their events, opened in the three days before ``until`` (naive local time)."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    events: list[dict[str, object]] = []

    def event(ticket_no: int, field: str, value: str, at: datetime) -> None:
        events.append({"id": len(events) + 1, "ticket_no": ticket_no, "field": field, "new_value": value, "changed_at": at})

    for number in range(1, count + 1):
        ticket_no = 100000 + number
        opened = until - timedelta(minutes=rng.randrange(10, 3 * 24 * 60))
        event(ticket_no, "stage", "hotline", opened)
        event(ticket_no, "status", "open", opened)
        at, state, closed = opened, "open", None
        progress = rng.random()
        if progress > 0.15:
            at = min(at + timedelta(minutes=rng.randrange(5, 90)), until)
            event(ticket_no, "stage", "dispatched", at)
            if rng.random() < 0.1:
                paused = min(at + timedelta(minutes=rng.randrange(10, 120)), until)
                event(ticket_no, "status", "waiting_customer", paused)
                state = "waiting_customer"
                if rng.random() < 0.5:
                    at = min(paused + timedelta(minutes=rng.randrange(10, 240)), until)
                    event(ticket_no, "status", "open", at)
                    state = "open"
        if progress > 0.45 and state == "open":
            at = min(at + timedelta(minutes=rng.randrange(30, 600)), until)
            event(ticket_no, "stage", "onsite", at)
        if progress > 0.55 and state == "open":
            at = min(at + timedelta(minutes=rng.randrange(30, 600)), until)
            event(ticket_no, "status", "resolved", at)
            state, closed = "resolved", at
        rows.append(
            {
                "ticket_no": ticket_no,
                "subject": rng.choice(SUBJECTS),
                "priority_code": rng.choice([1, 2, 2, 3, 3, 3]),
                "site_city": rng.choice(CITIES),
                "product_line": rng.choice(PRODUCTS),
                "customer_name": f"Customer {rng.randrange(1, 400):03d}",
                "state": state,
                "opened_at": opened,
                "closed_at": closed,
                "sla_level": None,
                "sla_level_at": None,
            }
        )
    return rows, events


def create(url: str, count: int, until: datetime, seed: int) -> None:
    """(Re)create the help-desk tables at ``url`` and fill them."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url)
    rows, events = generate(count, until, seed)
    with engine.begin() as conn:
        metadata.drop_all(conn)
        metadata.create_all(conn)
        for start in range(0, len(rows), 2000):
            conn.execute(insert(tickets), rows[start : start + 2000])
        for start in range(0, len(events), 5000):
            conn.execute(insert(ticket_events), events[start : start + 5000])
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="database URL: sqlite:///helpdesk.db or postgresql://user@host/db")
    parser.add_argument("--tickets", type=int, default=10_000, help="how many tickets (default 10000)")
    parser.add_argument("--until", default="2026-11-25T14:00:00", help="the last instant, naive Asia/Shanghai time (default 2026-11-25T14:00:00)")
    parser.add_argument("--seed", type=int, default=14, help="the random seed (default 14)")
    args = parser.parse_args()
    create(args.url, args.tickets, datetime.fromisoformat(args.until), args.seed)
    print(f"{args.tickets} tickets written")


if __name__ == "__main__":
    main()
