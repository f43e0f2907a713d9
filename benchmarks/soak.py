"""The soak: simulated days of ``spm-rules run`` every 5 minutes over a fleet of tickets
with arrivals, stage changes, pauses, tier changes, closures and reopens, each run checked
against an independent oracle.

The oracle never calls the engine: it computes each ticket's level from the ticket's own
times with the soak ruleset's calendar-free policy (24x7, the ``dispatched`` stage's last
visit minus pauses, against the current tier's target: yellow at 75 %, red at 100 %), and
from those levels what must have happened.  After every run it checks that

* every open ticket's stored level is the oracle's, and the open escalations are exactly
  the oracle's yellow and red tickets (none for a closed ticket);
* each red episode is notified when it starts and then once per repeat interval (1 h),
  never more, and no idempotency key is ever used twice (pruned tickets that come back
  included);
* the state stays bounded by the retention: no archived ticket and no finished
  notification older than the retention (plus one run) is left.

A short profile runs in the test suite (``tests/benchmarks/test_soak.py``); the full one::

    python -m benchmarks.soak --days 30 --tickets 10000 [--state sqlite:///soak.db] [--seed 1]

prints one line per simulated day and exits 1 at the first violation.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from spm_rules.notifications import DeliveryOutcome, Notification
from spm_rules.ruleset.loader import parse_ruleset
from spm_rules.ruleset.schema import Ruleset
from spm_rules.run import run
from spm_rules.state.store import Store
from spm_rules.tickets import Ticket

__all__ = ["SOAK_RULESET", "Timeline", "fleet", "oracle_level", "soak", "SoakResult", "main"]

START = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)
STEP = timedelta(minutes=5)
REPEAT = timedelta(hours=1)
TARGETS = {"P2": timedelta(hours=2), "P4": timedelta(hours=4)}
CLOSED_KEPT = timedelta(hours=6)
FEED_KEEPS_CLOSED = timedelta(hours=2)
NOTIFICATIONS_KEPT = timedelta(hours=6)

SOAK_RULESET = f"""\
version: 1
name: soak
tiers:
  P2: {{response: 2h}}
  P4: {{response: 4h}}
stages: [hotline, dispatched, onsite]
terminal_statuses: [resolved]
pausing_statuses: [waiting_customer]
policies:
  - name: response
    targets: {{dispatched: response}}
    reopen: restart
    levels:
      - {{name: yellow, at: 75%}}
      - {{name: red, at: 100%}}
rules:
  - name: red-desk
    when: {{field: sla.level, eq: red}}
    then: [{{notify: {{receivers: [desk], repeat: 1h}}}}]
receivers:
  desk: {{urls: ["json://127.0.0.1:9/desk"]}}
retention: {{closed_tickets: {int(CLOSED_KEPT.total_seconds() // 3600)}h, notifications: {int(NOTIFICATIONS_KEPT.total_seconds() // 3600)}h, audit: 1d}}
"""


@dataclass
class Timeline:
    """One ticket's life: (instant, what, value) events, in time order."""

    ticket_id: str
    events: list[tuple[datetime, str, str]]

    @property
    def arrival(self) -> datetime:
        return self.events[0][0]

    def at(self, now: datetime) -> Ticket | None:
        """The ticket as its source reports it at ``now`` (None: not arrived, or closed and out of the feed)."""
        seen = [event for event in self.events if event[0] <= now]
        if not seen:
            return None
        stages = [{"stage": value, "entered_at": when.isoformat()} for when, what, value in seen if what == "stage"]
        statuses = [{"status": value, "at": when.isoformat()} for when, what, value in seen if what == "status"]
        tier = [value for _, what, value in seen if what == "tier"][-1]
        status = statuses[-1]["status"]
        if status == "resolved" and now - datetime.fromisoformat(statuses[-1]["at"]) > FEED_KEEPS_CLOSED:
            return None
        return Ticket.model_validate(
            {"id": self.ticket_id, "tier": tier, "status": status, "created_at": self.arrival.isoformat(), "stage_history": stages, "status_history": statuses}
        )


def _timeline(ticket_id: str, rng: random.Random, start: datetime, span: timedelta) -> Timeline:
    """A random life: arrival, dispatch, maybe a pause, a tier change, onsite, closure, a reopen."""
    t = start + timedelta(seconds=rng.randrange(int(span.total_seconds()))) + timedelta(seconds=17)
    tier = rng.choice(("P2", "P4"))
    events = [(t, "stage", "hotline"), (t, "status", "open"), (t, "tier", tier)]

    def later(low: int, high: int) -> datetime:
        nonlocal t
        t = t + timedelta(minutes=rng.randrange(low, high))
        return t

    for life in range(2):
        events.append((later(5, 60), "stage", "dispatched"))
        if rng.random() < 0.3:
            events.append((later(10, 120), "status", "waiting_customer"))
            events.append((later(30, 180), "status", "open"))
        if rng.random() < 0.2:
            tier = "P2" if tier == "P4" else "P4"
            events.append((later(10, 120), "tier", tier))
        if rng.random() < 0.5:
            events.append((later(30, 300), "stage", "onsite"))
        events.append((later(10, 400), "status", "resolved"))
        if life == 1 or rng.random() >= 0.25:
            break
        events.append((later(60, 900), "status", "open"))  # reopened: back to dispatch
    return Timeline(ticket_id, events)


def fleet(count: int, days: float, seed: int) -> list[Timeline]:
    """``count`` tickets arriving over the first ``days`` (a fifth of them already there at the start)."""
    rng = random.Random(seed)
    span = timedelta(days=days)
    return [_timeline(f"S{i:06d}", rng, START - timedelta(hours=6) if i % 5 == 0 else START, span if i % 5 else timedelta(hours=6)) for i in range(count)]


def oracle_level(ticket: Ticket, now: datetime) -> str | None:
    """The level the soak ruleset gives ``ticket`` at ``now``, from its own times (no engine code)."""
    if ticket.status == "resolved" or ticket.stage != "dispatched":
        return None
    entered = ticket.stage_history[-1].entered_at
    paused = timedelta(0)
    statuses = list(ticket.status_history)
    for index, change in enumerate(statuses):
        if change.status != "waiting_customer":
            continue
        until = statuses[index + 1].at if index + 1 < len(statuses) else now
        low, high = max(change.at, entered), min(until, now)
        if high > low:
            paused += high - low
    elapsed = now - entered - paused
    target = TARGETS[ticket.tier or "P4"]
    if elapsed >= target:
        return "red"
    if elapsed >= target * 0.75:
        return "yellow"
    return None


@dataclass
class _Recorder:
    """The deliverer: every notification is sent (and recorded) at once."""

    sent: list[tuple[datetime, Notification]] = field(default_factory=list)

    def deliver(self, notifications: Iterable[Notification], now: datetime) -> list[DeliveryOutcome]:
        batch = list(notifications)
        self.sent.extend((now, note) for note in batch)
        return [DeliveryOutcome(note.key, "sent") for note in batch]


@dataclass
class SoakResult:
    """What a soak did: runs, notifications, the largest state seen, and the violations found."""

    runs: int = 0
    notifications: int = 0
    largest: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _state_size(store: Store) -> Counter[str]:
    from sqlalchemy import func, select

    from spm_rules.state import tables

    with store.engine.connect() as conn:
        return Counter({table.name: conn.execute(select(func.count()).select_from(table)).scalar() or 0 for table in tables.metadata.sorted_tables})


def _check(store: Store, timelines: Sequence[Timeline], now: datetime, ruleset: Ruleset, red_since: dict[str, datetime], last_red: dict[str, datetime], sent_now: list[Notification]) -> list[str]:
    """The oracle's checks after the run at ``now``; returns the violations."""
    problems: list[str] = []
    expected_levels: dict[str, str] = {}
    expected_red: set[str] = set()
    for line in timelines:
        ticket = line.at(now)
        if ticket is None or ticket.status == "resolved":
            red_since.pop(line.ticket_id, None)
            continue
        level = oracle_level(ticket, now)
        if level is not None:
            expected_levels[line.ticket_id] = level
        if level == "red":
            if line.ticket_id not in red_since or now - last_red[line.ticket_id] >= REPEAT:
                expected_red.add(line.ticket_id)
            red_since.setdefault(line.ticket_id, now)
        else:
            red_since.pop(line.ticket_id, None)
    stored = {state.ticket_id: state.levels.get("response") for state in store.open_tickets(ruleset.terminal_statuses)}
    for ticket_id, level in expected_levels.items():
        if stored.get(ticket_id) != level:
            problems.append(f"{now.isoformat()}: {ticket_id} stored level {stored.get(ticket_id)!r}, oracle {level!r}")
    for ticket_id, level in stored.items():
        if level is not None and ticket_id not in expected_levels:
            problems.append(f"{now.isoformat()}: {ticket_id} stored level {level!r}, oracle none")
    open_escalations = {(esc.ticket_id, esc.level) for esc, _ in store.open_escalations()}
    if open_escalations != set(expected_levels.items()):
        extra = sorted(open_escalations - set(expected_levels.items()))[:5]
        missing = sorted(set(expected_levels.items()) - open_escalations)[:5]
        problems.append(f"{now.isoformat()}: open escalations differ from the oracle: extra {extra}, missing {missing}")
    notified = Counter(note.ticket_id for note in sent_now if note.kind in ("escalation", "repeat"))
    for ticket_id in sorted(set(notified) | expected_red):
        if notified.get(ticket_id, 0) != (1 if ticket_id in expected_red else 0):
            problems.append(f"{now.isoformat()}: {ticket_id} notified {notified.get(ticket_id, 0)} time(s), oracle {1 if ticket_id in expected_red else 0}")
    for ticket_id in expected_red:
        last_red[ticket_id] = now
    return problems


def _check_bounded(store: Store, now: datetime) -> list[str]:
    from sqlalchemy import func, select

    from spm_rules.state import tables

    with store.engine.connect() as conn:
        old_tickets = conn.execute(
            select(func.count()).select_from(tables.tickets).where(tables.tickets.c.archived.is_(True), tables.tickets.c.closed_at < now - CLOSED_KEPT)
        ).scalar()
        old_outbox = conn.execute(
            select(func.count()).select_from(tables.outbox).where(tables.outbox.c.status == "sent", tables.outbox.c.done_at < now - NOTIFICATIONS_KEPT)
        ).scalar()
    return [f"{now.isoformat()}: {old_tickets} archived tickets and {old_outbox} sent notifications older than the retention"] if old_tickets or old_outbox else []


def soak(days: float, tickets: int, state_url: str, *, seed: int = 1, progress: Any = None, max_violations: int = 20) -> SoakResult:
    """Run the soak; stop early once ``max_violations`` are found."""
    ruleset = parse_ruleset(SOAK_RULESET, "soak.yaml")
    timelines = fleet(tickets, days, seed)
    result = SoakResult()
    recorder = _Recorder()
    red_since: dict[str, datetime] = {}
    last_red: dict[str, datetime] = {}
    keys: Counter[str] = Counter()
    started = time.perf_counter()
    now = START
    end = START + timedelta(days=days)
    with Store(state_url, now=START) as store:
        while now <= end and len(result.violations) < max_violations:
            feed = [ticket for ticket in (line.at(now) for line in timelines) if ticket is not None]
            before = len(recorder.sent)
            run(store, ruleset, feed, now, recorder)
            sent_now = [note for _, note in recorder.sent[before:]]
            keys.update(note.key for note in sent_now)
            result.violations += _check(store, timelines, now, ruleset, red_since, last_red, sent_now)
            result.violations += _check_bounded(store, now)
            result.violations += [f"{now.isoformat()}: key {key} used {count} times" for key, count in keys.items() if count > 1 and key in {n.key for n in sent_now}]
            result.runs += 1
            if result.runs % 12 == 0:
                result.largest |= _state_size(store)
            if progress is not None and (now - START) % timedelta(days=1) == timedelta(0) and now > START:
                progress(now, result)
            now += STEP
    result.notifications = len(recorder.sent)
    result.seconds = time.perf_counter() - started
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--state", default=None, help="state URL (default: a new SQLite file in a temporary directory)")
    args = parser.parse_args(argv)

    def progress(now: datetime, result: SoakResult) -> None:
        print(f"day {(now - START).days}: {result.runs} runs, {len(result.violations)} violations, largest state {dict(result.largest)}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as folder:
        url = args.state or f"sqlite:///{Path(folder) / 'soak.db'}"
        result = soak(args.days, args.tickets, url, seed=args.seed, progress=progress)
    print(f"{result.runs} runs over {args.days:g} days, {args.tickets} tickets: {result.notifications} notifications, "
          f"largest state {dict(result.largest)}, {len(result.violations)} violations, {result.seconds:.0f}s")
    for violation in result.violations:
        print("  " + violation)
    return 1 if result.violations else 0


if __name__ == "__main__":
    sys.exit(main())
