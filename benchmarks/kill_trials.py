"""SIGKILL trials: kill a run at a random point (during evaluation, before or after a
batch commits, while receivers are being sent to, after a delivery batch settles), recover
with a normal run, and count what was lost and what was delivered twice.

Each trial uses a fresh state: a first run at 04:00, then the killed run at 04:30 (in its
own process, ``tests/state/run_driver.py``: its deliverer writes every key it sends to a
file, fsynced, so what the receivers got survives the kill), then a recovery run at 04:30.
What the receivers got in all is compared with an uninterrupted reference run:

* **lost**: a notification the reference sent that neither the killed run nor the
  recovery sent;
* **duplicated**: a notification sent twice (always under the same idempotency key: the
  ones in flight at the kill);
* **state differs**: the recovered state is not the reference's, table by table.

Usage::

    python -m benchmarks.kill_trials --trials 20 --backend sqlite
    python -m benchmarks.kill_trials --trials 20 --backend postgresql [--postgres-url URL]

``--postgres-url`` defaults to ``SPM_TEST_POSTGRES_URL``; each trial gets a new schema.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from spm_rules.state.store import Store
from tests.fixtures.database import POSTGRES_ENV, fresh_postgres_schema
from tests.state.helpers import RecordingDeliverer, run_driver, snapshot, wait_for_aborted_sessions
from tests.state.run_driver import POINTS
from tests.state.test_crash import BATCH, T2, prepare_trial, run_once

__all__ = ["TrialFigures", "trial", "main"]


@dataclass
class TrialFigures:
    """The totals over the trials."""

    trials: int = 0
    killed: int = 0
    lost: int = 0
    duplicated: int = 0
    state_differs: int = 0
    points: Counter[str] = field(default_factory=Counter)

    def line(self, backend: str) -> str:
        points = ", ".join(f"{point} {count}" for point, count in sorted(self.points.items()))
        return (
            f"{backend}: {self.trials} trials ({self.killed} killed: {points}); lost {self.lost}, "
            f"duplicated {self.duplicated} (same key, in flight at the kill), recovered state different {self.state_differs}"
        )


def trial(url: str, folder: Path, rng: random.Random, figures: TrialFigures) -> None:
    """One trial on the empty state ``url``, with scratch files in ``folder``."""
    rules, tickets, reference_url, reference = prepare_trial(url, folder)

    point = rng.choice(POINTS)
    after = rng.randint(1, 7 if point == "during-delivery" else 3)
    log = folder / "delivered.log"
    done = run_driver(url, rules, tickets, T2, log, "--kill-at", point, "--kill-after", str(after), *BATCH)
    figures.trials += 1
    if done.returncode == -signal.SIGKILL:
        figures.killed += 1
        figures.points[point] += 1
    wait_for_aborted_sessions(url)
    before_kill = log.read_text().split() if log.exists() else []
    recovery = RecordingDeliverer()
    run_once(url, T2, recovery)
    everything = Counter(before_kill + recovery.keys)
    figures.lost += len(set(reference.keys) - set(everything))
    figures.duplicated += sum(count - 1 for count in everything.values() if count > 1)
    with Store(url) as store, Store(reference_url) as ref:
        figures.state_differs += snapshot(store) != snapshot(ref)


@contextmanager
def _fresh_state(backend: str, folder: Path, postgres_url: str | None) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'state.db'}"
        return
    assert postgres_url is not None
    with fresh_postgres_schema(postgres_url) as url:
        yield url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--postgres-url", default=os.environ.get(POSTGRES_ENV))
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a new one, printed)")
    args = parser.parse_args(argv)
    if args.backend == "postgresql" and not args.postgres_url:
        parser.error(f"--backend postgresql needs --postgres-url or {POSTGRES_ENV}")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    rng = random.Random(seed)
    figures = TrialFigures()
    for _ in range(args.trials):
        with tempfile.TemporaryDirectory() as scratch, _fresh_state(args.backend, Path(scratch), args.postgres_url) as url:
            trial(url, Path(scratch), rng, figures)
    print(figures.line(args.backend) + f" (seed {seed})")
    return 1 if figures.lost or figures.state_differs else 0


if __name__ == "__main__":
    sys.exit(main())
