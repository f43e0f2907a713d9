"""``spm-rules receivers``, ``routes`` and ``silences`` as an operator runs them."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from spm_rules.alerting import AlertPipeline
from spm_rules.cli import EXIT_INVALID, EXIT_OK, EXIT_USAGE, main
from spm_rules.ruleset.loader import load_ruleset
from spm_rules.state.store import Store
from tests.alerting.helpers import note
from tests.fixtures.servers import HttpServer

ROOT = Path(__file__).resolve().parents[2]
ENTERPRISE = str(ROOT / "rulesets" / "enterprise-command-center.yaml")
AT = "2026-11-25T14:00:00+08:00"


def _ruleset(tmp_path: Path, http: HttpServer) -> str:
    path = tmp_path / "r.yaml"
    path.write_text(
        f"""\
name: cli
tiers: {{P4: {{response: 4h}}}}
stages: [dispatched]
terminal_statuses: [resolved]
receivers:
  web:
    urls: ["{http.json_url('web')}", "json://u:${{CLI_TEST_PW}}@127.0.0.1:{http.port}/second"]
    repeat: 30m
  broken:
    urls: ["json://127.0.0.1:1/nothing-listens", "{http.json_url('ok')}"]
route:
  receiver: web
  routes:
    - {{match: {{level: red}}, receiver: broken, continue: true}}
"""
    )
    return str(path)


def test_receivers_list_shows_masked_destinations(tmp_path: Path, http_server: HttpServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["receivers", "list", "--ruleset", _ruleset(tmp_path, http_server)]) == EXIT_OK
    assert capsys.readouterr().out.splitlines() == [
        "web  (repeat 30m)",
        f"  json://127.0.0.1:{http_server.port}/web",
        f"  json://u:${{CLI_TEST_PW}}@127.0.0.1:{http_server.port}/second",
        "broken",
        "  json://127.0.0.1:1/nothing-listens",
        f"  json://127.0.0.1:{http_server.port}/ok",
    ]


def test_receivers_test_reports_each_destination(
    tmp_path: Path, http_server: HttpServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLI_TEST_PW", "cli-secret-pw-1")
    path = _ruleset(tmp_path, http_server)
    assert main(["receivers", "test", "web", "--ruleset", path, "--at", AT]) == EXIT_OK
    assert capsys.readouterr().out.splitlines() == [
        f"delivered  json://127.0.0.1:{http_server.port}/web",
        f"delivered  json://u:****@127.0.0.1:{http_server.port}/second",
    ]
    assert [r.json()["type"] for r in http_server.requests] == ["info", "info"]
    assert "Test notification from spm-rules (ruleset cli) to receiver web" in http_server.requests[0].json()["message"]

    assert main(["receivers", "test", "broken", "--ruleset", path, "--at", AT]) == EXIT_INVALID
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("FAILED     json://127.0.0.1:1/nothing-listens: not delivered")
    assert lines[1] == f"delivered  json://127.0.0.1:{http_server.port}/ok"


def test_receivers_test_of_an_unknown_receiver(tmp_path: Path, http_server: HttpServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["receivers", "test", "webb", "--ruleset", _ruleset(tmp_path, http_server)]) == EXIT_INVALID
    assert capsys.readouterr().err == "error: unknown receiver 'webb' (declared: broken, web)\n"


@pytest.mark.parametrize(
    ("args", "lines"),
    [
        (["--labels", "level=red"], ["broken  (via route.routes.0; group_by: -; max_items: 20)"]),
        (["--labels", "level=yellow"], ["web  (via route; group_by: -; max_items: 20)"]),
        (["level=red", "--receiver", "web"], ["web  (via rule; group_by: -; max_items: 20)", "broken  (via route.routes.0; group_by: -; max_items: 20)"]),
    ],
)
def test_routes_test_prints_the_receivers_reached(
    tmp_path: Path, http_server: HttpServer, capsys: pytest.CaptureFixture[str], args: list[str], lines: list[str]
) -> None:
    assert main(["routes", "test", "--ruleset", _ruleset(tmp_path, http_server), *args]) == EXIT_OK
    assert capsys.readouterr().out.splitlines() == lines


def test_routes_test_on_the_shipped_enterprise_ruleset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes", "test", "--ruleset", ENTERPRISE, "--labels", "level=escalate,provider=partner-east", "--receiver", "duty-manager"]) == EXIT_OK
    assert capsys.readouterr().out.splitlines() == ["duty-manager  (via rule; group_by: policy, level; max_items: 20)"]


def test_routes_test_rejects_a_bad_label(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes", "test", "--ruleset", ENTERPRISE, "--labels", "level"]) == EXIT_USAGE
    assert "'level' is not label=value" in capsys.readouterr().err


def test_silences_add_list_expire_and_the_pipeline_honours_them(
    state_url: str, tmp_path: Path, http_server: HttpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--state", state_url, "--at", AT]
    assert main(["silences", "add", 'provider="partner-east"', "level=~red|escalate", "--duration", "2h", "--comment", "partner-east maintenance", "--by", "ops", *args]) == EXIT_OK
    silence_id = capsys.readouterr().out.strip()
    assert len(silence_id) == 32

    assert main(["silences", "list", *args]) == EXIT_OK
    assert capsys.readouterr().out.splitlines() == [
        f'{silence_id}  active  2026-11-25T06:00:00+00:00 → 2026-11-25T08:00:00+00:00  {{provider="partner-east", level=~"red|escalate"}}  (partner-east maintenance by ops)'
    ]

    ruleset = load_ruleset(_ruleset(tmp_path, http_server))
    now = datetime(2026, 11, 25, 7, 0, tzinfo=timezone.utc)
    with Store(state_url) as store:
        pipeline = AlertPipeline(ruleset, silences=store.active_silences)
        outcomes = pipeline.deliver([note("EC-1", "red", receivers=("web",)), note("EC-2", "red", receivers=("web",), provider="partner-west")], now)
    assert [(o.status, o.detail) for o in outcomes][0] == ("silenced", f"silenced by {silence_id}: partner-east maintenance")
    assert outcomes[1].status != "silenced"

    assert main(["silences", "expire", silence_id, "--state", state_url, "--at", "2026-11-25T15:00:00+08:00"]) == EXIT_OK
    assert capsys.readouterr().out == f"expired {silence_id}\n"
    assert main(["silences", "list", "--state", state_url, "--at", "2026-11-25T15:00:00+08:00"]) == EXIT_OK
    assert capsys.readouterr().out == ""
    assert main(["silences", "expire", silence_id, "--state", state_url, "--at", "2026-11-25T15:00:00+08:00"]) == EXIT_INVALID
    assert capsys.readouterr().err == f"error: no silence {silence_id!r} in force or pending\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["level"], "Invalid value for MATCHERS: bad matcher 'level' at column 6: expected an operator (=, !=, =~ or !~) after the label name, found the end"),
        (
            ["provider=partner-east level=red", "--duration", "2h"],
            "bad matcher 'provider=partner-east level=red' at column 23: expected ',' between matchers, found 'level'",
        ),
        (
            ['region=""', 'level=~".*"', "--duration", "2h"],
            'Invalid value for MATCHERS: every matcher of this silence matches an empty label ({region="", level=~".*"}), so it would mute almost everything',
        ),
        (["{}", "--duration", "2h"], "a silence needs at least one matcher"),
        (["level=red"], "give exactly one of --duration and --ends"),
        (["level=red", "--duration", "2hrs"], "bad duration '2hrs'"),
        (["level=red", "--ends", "2026-11-25T20:00:00"], "give an offset"),
    ],
)
def test_silences_add_rejects_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    assert main(["silences", "add", *args, "--comment", "c", "--state", state, "--at", AT]) == EXIT_USAGE
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "arguments",
    [
        ["provider=partner-east,level=red"],
        ['{provider="partner-east", level="red"}'],
        ["provider=partner-east", "level=red"],
        ['provider="partner-east",', "{level=red}"],
    ],
)
def test_silences_add_reads_matcher_lists_as_alertmanager_does(tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str]) -> None:
    args = ["--state", f"sqlite:///{tmp_path / 'state.db'}", "--at", AT]
    assert main(["silences", "add", *arguments, "--duration", "2h", "--comment", "east maintenance", *args]) == EXIT_OK
    silence_id = capsys.readouterr().out.strip()
    assert main(["silences", "list", *args]) == EXIT_OK
    assert capsys.readouterr().out.splitlines() == [
        f'{silence_id}  active  2026-11-25T06:00:00+00:00 → 2026-11-25T08:00:00+00:00  {{provider="partner-east", level="red"}}  (east maintenance)'
    ]
