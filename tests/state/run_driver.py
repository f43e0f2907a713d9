"""One stateful run in its own process, for the restart and SIGKILL tests.

    python run_driver.py --state URL --ruleset FILE --tickets FILE --at ISO --log FILE
                         [--kill-at POINT --kill-after N] [--batch-size N] [--delivery-batch N]

The deliverer writes each notification key to ``--log`` (flushed and fsynced: what the
receivers got, even if the process dies right after) and answers ``sent``.  With
``--kill-at`` the driver wraps one function of the run so that the process sends itself
SIGKILL at that point, the ``--kill-after``-th time it gets there:

* ``after-evaluation``: a batch was evaluated, nothing of it written (entering apply_batch);
* ``before-commit``: a batch's state and outbox rows are written, its transaction not committed;
* ``after-commit``: a batch's transaction committed;
* ``during-delivery``: receivers got that many notifications, none is marked sent yet;
* ``after-delivery``: a delivery batch was settled and committed.

Production code has no hooks for this: the wrapping happens here, in the test driver.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
from datetime import datetime
from typing import Any, Callable, Sequence

from spm_rules.notifications import DeliveryOutcome, Notification
from spm_rules.ruleset.loader import load_ruleset
from spm_rules.sources.files import TicketReader
from spm_rules.state.store import StateTx, Store

# The module, not the function: the attribute spm_rules.run is the function run().
run_module = importlib.import_module("spm_rules.run")

POINTS = ("after-evaluation", "before-commit", "after-commit", "during-delivery", "after-delivery")


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class Countdown:
    """Kill the process the ``after``-th time ``tick`` is called."""

    def __init__(self, after: int) -> None:
        self.left = after

    def tick(self) -> None:
        self.left -= 1
        if self.left == 0:
            die()


class FileDeliverer:
    """Record each key to the log file, durably, then answer sent."""

    def __init__(self, path: str, countdown: Countdown | None) -> None:
        self.handle = open(path, "a", encoding="utf-8")
        self.countdown = countdown

    def deliver(self, notifications: Sequence[Notification], now: datetime) -> list[DeliveryOutcome]:
        outcomes = []
        for note in notifications:
            self.handle.write(note.key + "\n")
            self.handle.flush()
            os.fsync(self.handle.fileno())
            if self.countdown is not None:
                self.countdown.tick()
            outcomes.append(DeliveryOutcome(note.key, "sent"))
        return outcomes


def wrap(owner: Any, name: str, before: Callable[[], None] | None = None, after: Callable[[], None] | None = None) -> None:
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if before is not None:
            before()
        result = original(*args, **kwargs)
        if after is not None:
            after()
        return result

    setattr(owner, name, wrapper)


def install(point: str, countdown: Countdown) -> None:
    if point == "after-evaluation":
        wrap(run_module, "apply_batch", before=countdown.tick)
    elif point == "before-commit":
        wrap(StateTx, "enqueue", after=countdown.tick)
    elif point == "after-commit":
        wrap(run_module, "apply_batch", after=countdown.tick)
    elif point == "after-delivery":
        original = Store.transaction

        def transaction(self: Store, what: str, work: Any, **kwargs: Any) -> Any:
            result = original(self, what, work, **kwargs)
            if what == "deliver notifications":
                countdown.tick()
            return result

        Store.transaction = transaction  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", required=True)
    parser.add_argument("--ruleset", required=True)
    parser.add_argument("--tickets", required=True)
    parser.add_argument("--at", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--kill-at", choices=POINTS)
    parser.add_argument("--kill-after", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=run_module.BATCH_SIZE)
    parser.add_argument("--delivery-batch", type=int, default=run_module.DELIVERY_BATCH)
    args = parser.parse_args()

    countdown = Countdown(args.kill_after) if args.kill_at else None
    if args.kill_at and args.kill_at != "during-delivery":
        assert countdown is not None
        install(args.kill_at, countdown)
    ruleset = load_ruleset(args.ruleset)
    tickets = list(TicketReader(args.tickets, ruleset.ticket_timezone))
    deliverer = FileDeliverer(args.log, countdown if args.kill_at == "during-delivery" else None)
    with Store(args.state) as store:
        run_module.run(
            store, ruleset, tickets, datetime.fromisoformat(args.at), deliverer, batch_size=args.batch_size, delivery_batch=args.delivery_batch
        )


if __name__ == "__main__":
    main()
