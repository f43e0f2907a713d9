"""The library-level work of the scale benchmarks, one piece per process.

``benchmarks.suite`` starts each of these in a fresh interpreter so that its CPU time and
peak memory are its own; each prints one JSON line to standard output: how many items it
handled and the CPU and wall seconds of its measured part alone (the process figures also
count the interpreter start and the imports).

    python -m benchmarks.drivers loads TICKETS
    python -m benchmarks.drivers facts RULESET TICKETS AT OUT
    python -m benchmarks.drivers match RULESET FACTS
    python -m benchmarks.drivers evaluate RULESET TICKETS AT [MATCHER]
    python -m benchmarks.drivers channel URL COUNT CONCURRENCY
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

__all__ = ["DRIVERS", "loads", "facts", "match", "evaluate", "channel", "main"]


def _measured(work: Callable[[], int]) -> dict[str, Any]:
    cpu, wall = time.process_time(), time.perf_counter()
    count = work()
    return {"count": count, "inner_cpu": round(time.process_time() - cpu, 3), "inner_wall": round(time.perf_counter() - wall, 3)}


def loads(tickets: str) -> dict[str, Any]:
    """Baseline: read the ticket file and ``json.loads`` each line, nothing else."""

    def work() -> int:
        count = 0
        with open(tickets, encoding="utf-8") as stream:
            for line in stream:
                if json.loads(line):
                    count += 1
        return count

    return _measured(work)


def facts(ruleset_path: str, tickets: str, at: str, out: str) -> dict[str, Any]:
    """Set-up for ``match``: the facts the engine hands its matcher for these tickets at ``at``,
    one JSON line each (a ticket's fields plus one policy's ``sla.*``; a ticket with no status
    gives one fact of its own fields; closed tickets none)."""
    from spm_rules import Engine, TicketReader, load_ruleset

    ruleset = load_ruleset(ruleset_path)
    engine = Engine(ruleset, "python")
    now = datetime.fromisoformat(at)
    terminal = set(ruleset.terminal_statuses)

    def work() -> int:
        written = 0
        with open(out, "w", encoding="utf-8") as stream:
            for ticket in TicketReader(tickets, ruleset.ticket_timezone):
                if ticket.status in terminal:
                    continue
                base = ticket.fact()
                for status in engine.statuses(ticket, now, base) or (None,):
                    stream.write(json.dumps(base | status.fact() if status is not None else base, ensure_ascii=False) + "\n")
                    written += 1
        return written

    return _measured(work)


def match(ruleset_path: str, facts_path: str) -> dict[str, Any]:
    """Baseline: the ruleset's rules over precomputed facts with the pure-Python matcher, in
    the engine's batch size, streamed.  The process figures include reading the facts
    (``json.loads``); ``inner_*`` is the matching alone."""
    from spm_rules.batches import batched
    from spm_rules.engine import BATCH_SIZE, Engine
    from spm_rules.ruleset.loader import load_ruleset

    matcher = Engine(load_ruleset(ruleset_path), "python").matcher
    count, cpu, wall = 0, 0.0, 0.0
    with open(facts_path, encoding="utf-8") as stream:
        for lines in batched(stream, BATCH_SIZE):
            batch = [json.loads(line) for line in lines]
            started, began = time.process_time(), time.perf_counter()
            matcher.match(batch)
            cpu, wall = cpu + time.process_time() - started, wall + time.perf_counter() - began
            count += len(batch)
    return {"count": count, "inner_cpu": round(cpu, 3), "inner_wall": round(wall, 3)}


def evaluate(ruleset_path: str, tickets: str, at: str, matcher: str = "auto") -> dict[str, Any]:
    """``Engine.evaluate`` over the ticket file, results consumed and dropped (no output)."""
    from spm_rules import Engine, TicketReader, load_ruleset

    ruleset = load_ruleset(ruleset_path)
    engine = Engine(ruleset, matcher)
    now = datetime.fromisoformat(at)

    def work() -> int:
        return sum(1 for _ in engine.evaluate(TicketReader(tickets, ruleset.ticket_timezone), now))

    return _measured(work)


def channel(url: str, count: str, concurrency: str) -> dict[str, Any]:
    """Baseline for delivery: Apprise alone sending ``count`` messages the size of a
    grouped notification to one URL, ``concurrency`` at once (what the channel itself
    needs, with none of spm-rules' work).  ``count`` is how many were delivered."""
    import asyncio

    import apprise

    from spm_rules.alerting.apprise_delivery import register_schemes

    register_schemes()  # spmfile:// and console://, as delivery does before its first send
    body = "\n".join(f"EC-{n:05d} [red] P4 Eastern Bank: PSU failure\n  partner partner-east, dispatched due 2026-11-25 14:00 CST" for n in range(4))

    async def send_all() -> int:
        bound = asyncio.Semaphore(int(concurrency))

        async def one(index: int) -> bool:
            async with bound:
                sender = apprise.Apprise()
                sender.add(url)
                return bool(await sender.async_notify(body=body, title=f"4 × RED · partner-east ({index})"))

        return sum(await asyncio.gather(*(one(index) for index in range(int(count)))))

    return _measured(lambda: asyncio.run(send_all()))


DRIVERS: dict[str, Callable[..., dict[str, Any]]] = {"loads": loads, "facts": facts, "match": match, "evaluate": evaluate, "channel": channel}


def main(argv: Sequence[str] | None = None) -> None:
    """Run one driver and print its JSON line."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in DRIVERS:
        raise SystemExit(f"usage: python -m benchmarks.drivers {{{'|'.join(DRIVERS)}}} ARGS…")
    print(json.dumps(DRIVERS[args[0]](*args[1:])))


if __name__ == "__main__":
    main()
