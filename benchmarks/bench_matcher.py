"""Matcher throughput: 27 rules of mixed shape against 50,000 ticket facts.

Run with ``python -m benchmarks.bench_matcher``.  Prints facts per second for the
durable_rules and pure-Python matchers and, as a baseline from the same run on the same
machine, for ``json.loads`` of the same facts serialised one per line; each engine is
also given as a ratio to that baseline, which is what to compare between machines.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any, Callable

from spm_rules.match import build_matcher, durable_available
from spm_rules.ruleset.conditions import Condition, parse_condition

__all__ = ["RULES", "make_facts", "measure", "main"]

FACTS = 50_000
SEED = 20240601
REPEATS = 3

_RULES_YAML: list[tuple[str, dict[str, Any]]] = [
    ("red-gold", {"all": [{"field": "sla.level", "eq": "red"}, {"field": "tier", "eq": "gold"}]}),
    ("red-any", {"field": "sla.level", "eq": "red"}),
    ("yellow", {"field": "sla.level", "eq": "yellow"}),
    ("escalate", {"field": "sla.level", "in": ["escalate", "critical"]}),
    ("no-level", {"field": "sla.level", "present": False}),
    ("overdue", {"field": "sla.overdue", "eq": True}),
    ("paused", {"field": "sla.paused", "eq": True}),
    ("late-4h", {"field": "sla.elapsed", "gte": "4h"}),
    ("nearly-due", {"all": [{"field": "sla.remaining", "lt": "30m"}, {"field": "sla.remaining", "gte": "0s"}]}),
    ("share-75", {"field": "sla.share", "gte": 75}),
    ("share-band", {"all": [{"field": "sla.share", "gte": 50}, {"field": "sla.share", "lt": 100}]}),
    ("rank-2", {"field": "sla.level_rank", "gte": 2}),
    ("unassigned", {"field": "provider", "present": False}),
    ("north-south", {"field": "region", "in": ["north", "south"]}),
    ("not-central", {"not": {"field": "region", "eq": "central"}}),
    ("partner-east", {"all": [{"field": "region", "eq": "east"}, {"field": "provider", "present": True}]}),
    ("own-engineers", {"field": "product", "in": ["core-server", "mainframe"]}),
    ("parts-stage", {"field": "stage", "eq": "parts"}),
    ("repair-red", {"all": [{"field": "stage", "eq": "repair"}, {"field": "sla.level", "eq": "red"}]}),
    ("vip", {"field": "customer.vip", "eq": True}),
    ("vip-late", {"all": [{"field": "customer.vip", "eq": True}, {"any": [{"field": "sla.level", "eq": "yellow"}, {"field": "sla.level", "eq": "red"}]}]}),
    ("not-bronze", {"field": "tier", "not_in": ["bronze"]}),
    ("platinum-or-vip", {"any": [{"field": "tier", "eq": "platinum"}, {"field": "customer.vip", "eq": True}]}),
    ("open", {"field": "status", "ne": "resolved"}),
    ("reopened", {"all": [{"field": "status", "eq": "reopened"}, {"not": {"field": "provider", "eq": "p1"}}]}),
    ("silver-late", {"all": [{"field": "tier", "eq": "silver"}, {"field": "sla.elapsed", "gt": "6h"}, {"not": {"field": "sla.paused", "eq": True}}]}),
    ("catch-all", {"all": []}),
]

RULES: list[tuple[str, Condition]] = [(name, parse_condition(raw)) for name, raw in _RULES_YAML]


def make_facts(count: int, seed: int = SEED) -> list[dict[str, Any]]:
    """Ticket facts as the engine builds them: flat, some fields missing or null."""
    rng = random.Random(seed)

    def maybe(value: Any, missing: float = 0.1) -> Any:
        return None if rng.random() < missing else value

    facts = []
    for number in range(count):
        target = rng.choice((7200, 14400, 21600))
        elapsed = rng.randrange(0, 3 * target)
        fact = {
            "id": f"T{number:07d}",
            "tier": maybe(rng.choice(("bronze", "silver", "gold", "platinum"))),
            "stage": rng.choice(("request", "parts", "repair")),
            "status": rng.choice(("open", "open", "open", "reopened", "resolved")),
            "region": maybe(rng.choice(("north", "south", "east", "west", "central"))),
            "provider": maybe(rng.choice(("p1", "p2", "p3", "p4", "p5")), missing=0.3),
            "product": rng.choice(("laptop", "desktop", "core-server", "mainframe", "printer")),
            "customer.vip": maybe(rng.random() < 0.1),
            "sla.level": maybe(rng.choice(("yellow", "red", "escalate")), missing=0.4),
            "sla.level_rank": rng.randrange(0, 4),
            "sla.elapsed": elapsed,
            "sla.remaining": target - elapsed,
            "sla.target": target,
            "sla.share": round(100 * elapsed / target, 2),
            "sla.paused": rng.random() < 0.05,
            "sla.overdue": elapsed >= target,
        }
        facts.append(fact)
    return facts


def measure(run: Callable[[], object], count: int) -> float:
    """Facts per second of the fastest of ``REPEATS`` runs."""
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return count / best


def main() -> None:
    facts = make_facts(FACTS)
    lines = [json.dumps(fact) for fact in facts]
    baseline = measure(lambda: [json.loads(line) for line in lines], FACTS)
    print(f"{len(RULES)} rules, {FACTS} facts, best of {REPEATS} runs")
    print(f"{'json.loads (baseline)':24} {baseline:12,.0f} facts/s   1.000x")
    engines = ["durable", "python"] if durable_available() else ["python"]
    results: dict[str, list[list[str]]] = {}
    for engine in engines:
        started = time.perf_counter()
        matcher = build_matcher(RULES, engine)
        built = time.perf_counter() - started
        rate = measure(lambda: results.__setitem__(engine, matcher.match(facts)), FACTS)
        print(f"{engine + ' matcher':24} {rate:12,.0f} facts/s   {rate / baseline:.3f}x   (built in {built * 1000:.1f} ms)")
    if len(results) == 2 and results["durable"] != results["python"]:
        raise SystemExit("the durable and python matchers disagree")
    if not durable_available():
        print("durable_rules does not import on this Python; only the Python matcher was measured")


if __name__ == "__main__":
    main()
