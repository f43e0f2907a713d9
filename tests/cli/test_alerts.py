"""``spm-rules receivers``, ``routes`` and ``silences`` as an operator runs them."""

from __future__ import annotations

import json
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

    assert main(["silences", "list", *args, "--format", "json"]) == EXIT_OK
    [listed] = json.loads(capsys.readouterr().out)["silences"]
    assert (listed["id"], listed["state"], listed["starts_at"], listed["ends_at"]) == (silence_id, "active", "2026-11-25T06:00:00+00:00", "2026-11-25T08:00:00+00:00")
    assert (listed["matchers"], listed["comment"], listed["created_by"]) == (['provider="partner-east"', 'level=~"red|escalate"'], "partner-east maintenance", "ops")

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
    assert capsys.readouterr().out == "no silences in force or pending\n"
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
    assert main(["silences", "list", *args, "--format", "json"]) == EXIT_OK
    [listed] = json.loads(capsys.readouterr().out)["silences"]
    assert (listed["id"], listed["matchers"], listed["comment"]) == (silence_id, ['provider="partner-east"', 'level="red"'], "east maintenance")


@pytest.mark.parametrize(
    ("expect", "code", "verdict"),
    [
        ("duty-manager", EXIT_OK, ["ok: the receivers are the ones expected (duty-manager)"]),
        (" duty-manager ,", EXIT_OK, ["ok: the receivers are the ones expected (duty-manager)"]),
        (
            "partner-desk,duty-manager",
            EXIT_INVALID,
            ["FAILED: expected duty-manager, partner-desk; reached duty-manager", "  - partner-desk  (expected, not reached)"],
        ),
        ("command-center", EXIT_INVALID, ["FAILED: expected command-center; reached duty-manager", "  - command-center  (expected, not reached)", "  + duty-manager  (reached, not expected)"]),
    ],
)
def test_routes_test_expect_verifies_the_receivers(capsys: pytest.CaptureFixture[str], expect: str, code: int, verdict: list[str]) -> None:
    args = ["routes", "test", "--ruleset", ENTERPRISE, "--labels", "level=escalate,provider=partner-east", "--expect", expect]
    assert main(args) == code
    assert capsys.readouterr().out.splitlines() == ["duty-manager  (via route.routes.0; group_by: policy, level; max_items: 20)", *verdict]


def test_routes_test_expect_is_order_insensitive_over_rule_and_route_receivers(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["routes", "test", "--ruleset", ENTERPRISE, "-l", "level=escalate", "--receiver", "partner-desk", "--expect", "duty-manager,partner-desk"]
    assert main(args) == EXIT_OK
    assert capsys.readouterr().out.splitlines()[-1] == "ok: the receivers are the ones expected (duty-manager, partner-desk)"
    assert main(["routes", "test", "--ruleset", ENTERPRISE, "-l", "level=red", "--expect", ","]) == EXIT_USAGE
    assert "name at least one receiver" in capsys.readouterr().err


def test_routes_show_prints_the_shipped_trees(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes", "show", "--ruleset", ENTERPRISE]) == EXIT_OK
    assert capsys.readouterr().out.splitlines() == [
        "enterprise-command-center routing tree: a notification goes to the receivers its rule names and those the routes it matches name; "
        "the default receiver gets only what reaches nobody else",
        "route  (every notification)  default → command-center  group_by: policy, level  max_items: 20",
        '  route.routes.0  {level="escalate"}  → duty-manager  group_by: policy, level  max_items: 20  continue',
        '  route.routes.1  {provider=~"partner-.*"}  → (no receiver of its own: settings only)  group_by: provider, level  max_items: 20',
    ]
    assert main(["routes", "show", "--ruleset", str(ROOT / "rulesets" / "repair-network.yaml"), "--format", "json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out) == {
        "ruleset": "repair-network",
        "route": {
            "path": "route",
            "matchers": [],
            "receiver": "service-manager",
            "receiver_inherited": False,
            "group_by": ["provider"],
            "max_items": 25,
            "repeat_interval": None,
            "continue": False,
            "routes": [],
        },
    }


def test_routes_show_nested_routes_with_inherited_settings(tmp_path: Path, http_server: HttpServer, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nested.yaml"
    path.write_text(
        Path(_ruleset(tmp_path, http_server)).read_text().replace(
            "    - {match: {level: red}, receiver: broken, continue: true}\n",
            "    - {match: {level: red}, receiver: broken, continue: true}\n"
            "    - match_re: {provider: 'partner-.*'}\n      group_by: [provider]\n      repeat_interval: 1h\n"
            "      routes:\n        - {matchers: ['region!=\"north\"'], max_items: 5}\n",
        )
    )
    assert main(["routes", "show", "--ruleset", str(path)]) == EXIT_OK
    assert capsys.readouterr().out.splitlines()[1:] == [
        "route  (every notification)  default → web  group_by: -  max_items: 20",
        '  route.routes.0  {level="red"}  → broken  group_by: -  max_items: 20  continue',
        '  route.routes.1  {provider=~"partner-.*"}  → (no receiver of its own: settings only)  group_by: provider  max_items: 20  repeat_interval: 1h',
        '    route.routes.1.routes.0  {region!="north"}  → (no receiver of its own: settings only)  group_by: provider  max_items: 5  repeat_interval: 1h',
    ]
