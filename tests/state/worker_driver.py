"""A worker process for the concurrent-workers test: several runs, in step with its peers.

    python worker_driver.py --state URL --ruleset FILE --tickets-dir DIR --rounds ISO,ISO,…
                            --name K --peers N --barrier DIR --log FILE --report FILE
                            [--worker K/N] [--rotate N]

Before each round every worker waits at a file barrier for its peers, then runs at that
round's instant on ``DIR/round-<i>.jsonl`` (rotated by ``--rotate`` tickets, so the
workers start in different places and contend for the same rows).  Delivered keys go to
``--log``; the counts of each round's report to ``--report`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path

from spm_rules.ruleset.loader import load_ruleset
from spm_rules.run import WorkerSlot, run
from spm_rules.sources.files import TicketReader
from spm_rules.state.store import Store
from tests.state.run_driver import FileDeliverer


def barrier(directory: Path, round_index: int, name: str, peers: int, timeout: float = 120.0) -> None:
    (directory / f"{round_index}-{name}").touch()
    deadline = time.monotonic() + timeout
    while len(list(directory.glob(f"{round_index}-*"))) < peers:
        if time.monotonic() > deadline:
            raise SystemExit(f"worker {name}: peers never reached round {round_index}")
        time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser()
    for option in ("--state", "--ruleset", "--tickets-dir", "--rounds", "--name", "--barrier", "--log", "--report"):
        parser.add_argument(option, required=True)
    parser.add_argument("--peers", type=int, required=True)
    parser.add_argument("--worker", default="1/1")
    parser.add_argument("--rotate", type=int, default=0)
    args = parser.parse_args()

    ruleset = load_ruleset(args.ruleset)
    slot = WorkerSlot.parse(args.worker)
    deliverer = FileDeliverer(args.log, None)
    reports = []
    with Store(args.state) as store:
        for index, text in enumerate(args.rounds.split(",")):
            tickets = list(TicketReader(Path(args.tickets_dir) / f"round-{index}.jsonl", ruleset.ticket_timezone))
            tickets = tickets[args.rotate % len(tickets):] + tickets[: args.rotate % len(tickets)]
            barrier(Path(args.barrier), index, args.name, args.peers)
            report = run(store, ruleset, tickets, datetime.fromisoformat(text), deliverer, worker=slot, batch_size=5, delivery_batch=3)
            reports.append(
                {
                    "evaluated": report.evaluated,
                    "transitions": len(report.transitions),
                    "locked_elsewhere": report.locked_elsewhere,
                    "delivery": dict(report.delivery),
                }
            )
    Path(args.report).write_text(json.dumps(reports))


if __name__ == "__main__":
    main()
