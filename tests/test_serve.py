"""spm-rules serve: ticket events over HTTP, authenticated, recorded at once, answered with
their decisions; concurrent posts end in the state sequential posts give."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from spm_rules.engine import Engine
from spm_rules.ruleset.loader import load_ruleset
from spm_rules.serve import EventServer, EventService
from spm_rules.state.store import Store
from tests.fixtures.processes import ROOT

RULESET = ROOT / "rulesets" / "enterprise-command-center.yaml"
NOW = datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc)
TOKEN = "s3cret-token"
RED = {
    "id": "E-1",
    "tier": "P2",
    "status": "open",
    "region": "east",
    "customer": "Bank of Example",
    "product_line": "rack",
    "created_at": "2026-11-25T09:00:00+08:00",
    "stage_history": [{"stage": "hotline", "entered_at": "2026-11-25T09:00:00+08:00"}, {"stage": "dispatched", "entered_at": "2026-11-25T11:30:00+08:00"}],
}


def post(url: str, body: Any, token: str | None = TOKEN) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[EventServer, Store]]:
    ruleset = load_ruleset(RULESET)
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    server = EventServer(("127.0.0.1", 0), EventService(store, ruleset, engine=Engine(ruleset, "python"), clock=lambda: NOW), TOKEN)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, store
    server.shutdown()
    server.server_close()
    thread.join()
    store.close()


def test_an_event_is_recorded_at_once_and_answered_with_its_decisions(served: tuple[EventServer, Store]) -> None:
    server, store = served
    status, answer = post(server.url, RED)
    assert status == 200 and answer["rejected"] == []
    (result,) = answer["results"]
    assert (result["ticket"], result["provider"], result["routed_by"]) == ("E-1", "partner-east", "dispatch-request")
    assert [(d["rule"], d["action"]) for d in result["decisions"]] == [("dispatch-request", "route"), ("response-red", "notify"), ("response-red", "tag")]
    assert "response-red" in result["decisions"][1]["why"]
    assert {(t["kind"], t["level"]) for t in result["transitions"]} >= {("new", None), ("entered", "red")}
    assert result["notifications"] == ["E-1|response|red|1"]
    # recorded in the state: a run or `spm-rules history` sees it
    assert store.ticket("E-1").levels == {"response": "red", "resolution": None}
    assert [e.level for e in store.escalations_of("E-1")] == ["red"]
    # the same event again changes nothing
    again = post(server.url, RED)[1]["results"][0]
    assert again["transitions"] == [] and again["notifications"] == []


@pytest.mark.parametrize(
    ("body", "token", "status", "error"),
    [
        (RED, None, 401, "missing or wrong bearer token"),
        (RED, "wrong", 401, "missing or wrong bearer token"),
        (b"{not json", TOKEN, 400, "the body is not JSON"),
        ([], TOKEN, 400, "no ticket"),
    ],
    ids=["no-token", "wrong-token", "not-json", "empty-list"],
)
def test_requests_refused_with_a_reason(served: tuple[EventServer, Store], body: Any, token: str | None, status: int, error: str) -> None:
    server, store = served
    answer = post(server.url, body, token)
    assert answer[0] == status and answer[1]["error"].startswith(error)
    assert store.ticket("E-1") is None


def test_bad_tickets_are_rejected_by_row_and_field_and_the_rest_recorded(served: tuple[EventServer, Store]) -> None:
    server, store = served
    status, answer = post(server.url, [{"id": "X"}, RED])
    assert status == 200 and [r["ticket"] for r in answer["results"]] == ["E-1"]
    assert {(p["source"], p["row"], p["field"]) for p in answer["rejected"]} == {("/events", 1, "tier"), ("/events", 1, "status"), ("/events", 1, "created_at")}
    assert post(server.url, {"id": "X"})[0] == 422


def test_wrong_paths_and_methods(served: tuple[EventServer, Store]) -> None:
    server, _store = served
    assert post(server.url.replace("/events", "/other"), RED)[0] == 404
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(server.url, timeout=10)
    assert caught.value.code == 405


def _levels(store: Store) -> dict[str, Any]:
    return {state.ticket_id: (state.levels, state.routed_to, state.next_change_at) for state in store.open_tickets()}


def test_concurrent_events_end_in_the_state_sequential_ones_give(tmp_path: Path, served: tuple[EventServer, Store]) -> None:
    server, store = served
    tickets = [RED | {"id": f"E-{n}", "tier": ["P2", "P4", "P6"][n % 3], "region": ["east", "south", "north"][n % 3]} for n in range(24)]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda ticket: post(server.url, ticket)[0], reversed(tickets)))
    assert statuses == [200] * 24
    ruleset = load_ruleset(RULESET)
    with Store(f"sqlite:///{tmp_path / 'sequential.db'}") as sequential:
        service = EventService(sequential, ruleset, engine=Engine(ruleset, "python"), clock=lambda: NOW)
        for ticket in tickets:
            service.handle(ticket)
        assert _levels(store) == _levels(sequential)
        assert len(_levels(store)) == 24


def test_spm_rules_serve_takes_its_token_from_the_environment(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "spm_rules", "serve", "--ruleset", str(RULESET), "--state", f"sqlite:///{tmp_path / 's.db'}", "--port", "0", "--no-deliver"]
    refused = subprocess.run(command, capture_output=True, text=True, env={k: v for k, v in os.environ.items() if k != "SPM_RULES_TOKEN"}, timeout=120)
    assert refused.returncode == 1 and "SPM_RULES_TOKEN" in refused.stderr
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=os.environ | {"SPM_RULES_TOKEN": TOKEN})
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        url = line.split(" at ", 1)[1].split(" ", 1)[0]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/events")
        ticket = RED | {"created_at": datetime.now(timezone.utc).isoformat(), "stage_history": []}
        status, answer = post(url, ticket)
        assert status == 200 and answer["results"][0]["provider"] == "partner-east"
        assert post(url, ticket, "nope")[0] == 401
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode == 0
