"""End-to-end evaluation throughput: tickets per second through ``Engine.evaluate``.

Generates enterprise command-center tickets (a fixed seed), evaluates them at one instant
with each available matcher, and reports each as a ratio to a baseline measured in the
same run: validating the same tickets from JSON into ``Ticket`` models (the floor any
evaluation pays).  Run: ``python -m benchmarks.bench_engine [N]``.
"""

from __future__ import annotations

import json
import random
import sys
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from spm_rules.engine import Engine
from spm_rules.match import durable_available
from spm_rules.ruleset.loader import load_ruleset
from spm_rules.tickets import Ticket

ROOT = Path(__file__).resolve().parents[1]
AT = datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc)


def generate(count: int, seed: int = 7) -> list[str]:
    """Ticket JSON lines with varied tiers, regions, stages and pauses."""
    rng = random.Random(seed)
    lines = []
    for index in range(count):
        created = AT - timedelta(minutes=rng.randint(10, 60 * 30))
        dispatched = created + timedelta(minutes=rng.randint(5, 40))
        ticket = {
            "id": f"B-{index}",
            "tier": rng.choice(["P2", "P4", "P6"]),
            "status": rng.choice(["open"] * 8 + ["waiting_customer", "resolved"]),
            "created_at": created.isoformat(),
            "region": rng.choice(["north", "east", "south", "central", "west", "northeast"]),
            "product_line": rng.choice(["rack", "blade", "core-server", "storage"]),
            "stage_history": [{"stage": "hotline", "entered_at": created.isoformat()}]
            + ([{"stage": "dispatched", "entered_at": dispatched.isoformat()}] if dispatched < AT else []),
        }
        if rng.random() < 0.5:
            ticket["provider"] = f"partner-{ticket['region']}"
        lines.append(json.dumps(ticket))
    return lines


def measure(label: str, work: Callable[[], int]) -> float:
    """Tickets per second of ``work`` (timed alone), then its peak traced memory (a second pass:
    tracemalloc slows Python code several times over, so it never runs while timing)."""
    started = time.perf_counter()
    count = work()
    seconds = time.perf_counter() - started
    tracemalloc.start()
    work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rate = count / seconds
    print(f"{label:<28} {rate:>12,.0f} tickets/s   peak {peak / 2**20:7.1f} MiB")
    return rate


def main(count: int = 20_000) -> None:
    ruleset = load_ruleset(ROOT / "rulesets" / "enterprise-command-center.yaml")
    lines = generate(count)
    print(f"{count:,} tickets, ruleset {ruleset.name} ({len(ruleset.rules)} rules, {len(ruleset.policies)} policies)")
    baseline = measure("baseline: parse + validate", lambda: sum(1 for line in lines if Ticket.model_validate_json(line)))
    for matcher in ["python"] + (["durable"] if durable_available() else []):
        engine = Engine(ruleset, matcher)

        def run() -> int:
            tickets = (Ticket.model_validate_json(line) for line in lines)
            return sum(1 for _ in engine.evaluate(tickets, AT))

        rate = measure(f"evaluate ({matcher})", run)
        print(f"{'':<28} ratio to baseline {rate / baseline:.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
