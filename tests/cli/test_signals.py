"""SIGTERM and SIGINT sent to a real ``spm-rules run``: it stops at the next batch boundary
with every batch before it committed, says so on standard error and exits 143 / 130; the
next run finishes the work, and every ticket is processed and notified exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from spm_rules.run import BATCH_SIZE
from spm_rules.state.store import Store
from tests.state.helpers import ROOT, at, ticket, write_ruleset, write_tickets

TICKETS = 3 * BATCH_SIZE


def test_sigterm_stops_the_run_at_a_batch_boundary_with_everything_committed(state_url: str, tmp_path: Path) -> None:
    stop_and_finish(state_url, tmp_path, signal.SIGTERM, 143)


def test_sigint_stops_the_run_the_same_way(tmp_path: Path) -> None:
    stop_and_finish(f"sqlite:///{tmp_path / 'state.db'}", tmp_path, signal.SIGINT, 130)


def stop_and_finish(state_url: str, tmp_path: Path, signum: signal.Signals, code: int) -> None:
    rules = write_ruleset(tmp_path / "cc.yaml")
    tickets = write_tickets(tmp_path / "tickets.jsonl", [ticket(f"T{n:05d}") for n in range(TICKETS)])
    command = [sys.executable, "-m", "spm_rules", "run", "--ruleset", str(rules), "--tickets", str(tickets), "--state", state_url]
    command += ["--at", at(4).isoformat(), "--no-deliver", "--format", "json", "--log-level", "debug", "--log-format", "json"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert child.stderr is not None
    # The first transition is logged after the first batch committed; the run then blocks
    # writing its log to the pipe this test stops reading, so the signal comes mid-run.
    seen = []
    for line in child.stderr:
        seen.append(line)
        if '"transition"' in line:
            break
    child.send_signal(signum)
    out, err = child.communicate(timeout=300)
    err = "".join(seen) + err
    assert child.returncode == code, err[-2000:]
    assert f"spm-rules run: stopped by {signum.name} after" in err and "Traceback" not in err
    document = json.loads(out)
    assert document["stopped"] is True

    with Store(state_url) as store:
        processed = len(store.open_tickets())
        pending = {entry.key for entry in store.outbox_entries()}
    assert 0 < processed < TICKETS and processed % BATCH_SIZE == 0, "the run stops between batches, each batch whole"
    assert processed == document["tickets"]["evaluated"]
    assert pending == {f"T{n:05d}|response|red|1" for n in range(processed)}, "each committed batch has its notifications"

    finish = subprocess.run(command[:-6] + ["--format", "json"], capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert finish.returncode == 0, finish.stderr[-2000:]
    with Store(state_url) as store:
        assert len(store.open_tickets()) == TICKETS
        keys = [entry.key for entry in store.outbox_entries()]
        history = store.history("T00000")
    assert sorted(keys) == sorted(f"T{n:05d}|response|red|1" for n in range(TICKETS))
    assert [entry.kind for entry in history].count("new") == 1
