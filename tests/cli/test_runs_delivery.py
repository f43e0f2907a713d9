"""``spm-rules run`` delivering: the messages a person reads from a shipped ruleset, exit 4
when delivery fails, and nothing locked while receivers are called (``ack``, ``history``
and reports work during a run, and ``--lock-timeout`` bounds another run's wait)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spm_rules.cli import EXIT_INVALID, EXIT_OK, EXIT_UNDELIVERED, main
from spm_rules.state.store import Store
from tests.fixtures.processes import ROOT
from tests.fixtures.servers import HttpServer
from tests.state.helpers import restore_spm_logger  # noqa: F401 (autouse fixture)

ENTERPRISE = ROOT / "rulesets" / "enterprise-command-center.yaml"
EXAMPLES = ROOT / "examples" / "enterprise-tickets.jsonl"
#: The README's quick-start instant.
README_AT = "2026-11-25T14:00:00+08:00"


def loopback_ruleset(tmp_path: Path, server: HttpServer, extra: str = "", query: str = "") -> Path:
    """The shipped command center with every receiver's ``console://NAME`` replaced by a
    ``json://`` URL posting to ``/NAME`` on the loopback server (plus ``extra`` YAML, and
    ``query`` Apprise URL arguments)."""
    text = re.sub(r'"console://([\w-]+)"', lambda found: json.dumps(server.json_url(found.group(1)) + query), ENTERPRISE.read_text(encoding="utf-8"))
    path = tmp_path / "enterprise.yaml"
    path.write_text(text + extra, encoding="utf-8")
    return path


def run_args(rules: Path, state: str, *extra: str) -> list[str]:
    return ["run", "--ruleset", str(rules), "--tickets", str(EXAMPLES), "--state", state, "--at", README_AT, "--quiet", *extra]


def test_the_command_center_examples_reach_a_loopback_receiver_as_a_person_reads_them(tmp_path: Path, http_server: HttpServer) -> None:
    rules = loopback_ruleset(tmp_path, http_server)
    state = f"sqlite:///{tmp_path / 'state.db'}"
    assert main(run_args(rules, state)) == EXIT_OK
    messages = {(request.path, request.json()["title"]): request.json()["message"] for request in http_server.requests}
    wallboard = messages[("/command-center", "2 × RED · partner-east")]
    assert wallboard.splitlines()[:3] == [
        "EC-1002 [red] P4 Eastern Bank: PSU failure",
        "  partner partner-east, dispatched due 2026-11-25 14:00 CST (used 4h of 4h)",
        "  https://command-center.example.com/requests/EC-1002",
    ]
    assert "EC-1011 [red] P4 Hangzhou Logistics: RAID controller offline" in wallboard
    assert messages[("/partner-desk", "2 × RED · partner-east")] == wallboard
    duty = messages[("/duty-manager", "3 notifications · level escalate · policy response")]
    assert "EC-1001 [escalate] URGENT provider partner-north stage dispatched" in duty
    assert "[yellow]" not in "".join(messages.values()), "red and escalate inhibit yellow of the same request"
    with Store(state) as store:
        statuses = {entry.key: entry.status for entry in store.outbox_entries()}
    assert statuses and set(statuses.values()) <= {"sent", "suppressed"}
    sent = len(http_server.requests)
    assert main(run_args(rules, state)) == EXIT_OK
    assert len(http_server.requests) == sent, "a second run at the same instant sends nothing"


def test_a_run_whose_deliveries_fail_exits_4_and_sets_its_metric(tmp_path: Path, http_server: HttpServer, capsys: pytest.CaptureFixture[str]) -> None:
    http_server.responses = [500]
    rules = loopback_ruleset(tmp_path, http_server)
    state = f"sqlite:///{tmp_path / 'state.db'}"
    metrics = tmp_path / "spm.prom"
    assert main(run_args(rules, state, "--metrics", str(metrics))) == EXIT_UNDELIVERED
    err = capsys.readouterr().err
    assert re.search(r"delivery failed for \d+ notifications \(\d+ to retry, 0 dead-lettered", err), err
    assert "127.0.0.1" not in err.split("delivery failed")[1], "the summary names no URL"
    assert 'spm_rules_run_delivery_failed{ruleset="enterprise-command-center",worker="1/1"} 1' in metrics.read_text()
    http_server.responses = [200]
    retry_at = "2026-11-25T14:10:00+08:00"  # past the first backoff
    assert main(["run", "--ruleset", str(rules), "--tickets", str(EXAMPLES), "--state", state, "--at", retry_at, "--quiet", "--metrics", str(metrics)]) == EXIT_OK
    assert 'spm_rules_run_delivery_failed{ruleset="enterprise-command-center",worker="1/1"} 0' in metrics.read_text()


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "spm_rules", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def _wait_for(condition: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_ack_history_and_another_run_do_not_wait_for_a_run_stuck_on_a_hanging_receiver(tmp_path: Path, http_server: HttpServer) -> None:
    """Issue 13 item 4: the run used to hold SQLite's write lock while it waited on a
    receiver, so ``ack`` failed with 'database is locked' and another run waited past its
    ``--lock-timeout``."""
    http_server.delay = 60.0  # hangs; the ruleset's and the socket's read timeouts are longer still
    rules = loopback_ruleset(tmp_path, http_server, "delivery: {timeout: 90s}\n", "?rto=90")
    state = f"sqlite:///{tmp_path / 'state.db'}"
    running = _cli(*run_args(rules, state))
    try:
        _wait_for(lambda: http_server.requests or running.poll() is not None, "the run to reach the receiver")
        assert running.poll() is None, running.communicate()
        ack = _cli("ack", "EC-1002", "--state", state, "--by", "oncall", "--at", README_AT)
        history = _cli("history", "EC-1002", "--state", state, "--format", "json")
        escalations = _cli("escalations", "--state", state, "--format", "json")
        second = _cli(*run_args(rules, state, "--lock-timeout", "1"))
        for process in (ack, history, escalations, second):
            process.wait(timeout=120)
        assert running.poll() is None, "the run is still waiting on the receiver"
        ack_out, ack_err = ack.communicate()
        assert ack.returncode == EXIT_OK, ack_err
        assert "acknowledged EC-1002 response/red" in ack_out
        history_out, history_err = history.communicate()
        assert history.returncode == EXIT_OK, history_err
        assert json.loads(history_out)["ticket"] == "EC-1002"
        assert escalations.wait() == EXIT_OK, escalations.communicate()[1]
        _, second_err = second.communicate()
        assert second.returncode == EXIT_INVALID
        assert "another run holds the run lock" in second_err and "gave up after waiting 1s" in second_err
        assert "database is locked" not in ack_err + history_err + second_err
    finally:
        running.kill()
        running.communicate()
