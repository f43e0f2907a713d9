"""No secret leaves a real run (issue 13 item 8): ``spm-rules run`` as cron starts it,
with secrets in every receiver URL of the shipped command-center ruleset (a loopback
webhook with a user and password, mailto with a password on the loopback SMTP server,
and the hosted channels the shipped rulesets and the starter name: wecombot, dingtalk,
slack, msteams, which fail here since their hosts are unreachable; their secrets are
split across ``${VAR}`` references as a user would) and a PostgreSQL
state URL with a password, logging at DEBUG in both log formats.  Every output is
searched: standard output (``--format json`` and the table), standard error (spm-rules'
and Apprise's DEBUG lines), the metrics file, the other commands' output and errors, and
a dump of every state table (the audit included).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from spm_rules.alerting import AlertPipeline
from spm_rules.ruleset.loader import parse_ruleset
from spm_rules.state.store import Store
from tests.alerting.helpers import NOW, note, secret_forms
from tests.fixtures.processes import ROOT, python
from tests.fixtures.servers import HttpServer, SmtpServer
from tests.state.helpers import snapshot

SECRETS = {
    "SPM_TEST_HOOK_PASSWORD": "hookPa55-word-31337",
    "SPM_TEST_HOOK_TOKEN": "hooktok-8f7e6d5c4b3a",
    "SPM_TEST_SMTP_PASSWORD": "smtpPa55-word-42424",
    "WECOM_BOT_KEY": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
    "DINGTALK_TOKEN": "dingtok9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f",
    "SLACK_TOKEN": "T1A2B3C4D/B5E6F7G8H/slacksecret0987654321",
    "TEAMS_A": "8b12c1a6-1b33-4f54-a1e4-1a2b3c4d5e6f@9c8d7e6f-5a4b-3c2d-1e0f-a1b2c3d4e5f6",
    "TEAMS_B": "0123456789abcdef0123456789abcdef",
    "TEAMS_C": "7a6b5c4d-3e2f-1a0b-9c8d-7e6f5a4b3c2d",
}
PG_PASSWORD = "pgPa55-word-77777"


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port or 5432}"))


def _ruleset(http: HttpServer, smtp: SmtpServer) -> str:
    text = (ROOT / "rulesets" / "enterprise-command-center.yaml").read_text(encoding="utf-8")
    hook = f"json://bot:${{SPM_TEST_HOOK_PASSWORD}}@127.0.0.1:{http.port}/hook/${{SPM_TEST_HOOK_TOKEN}}"
    mail = smtp.mailto_url(to="cc@example.com", credentials="alerts:${SPM_TEST_SMTP_PASSWORD}")
    hosted = ["wecombot://${WECOM_BOT_KEY}", "dingtalk://${DINGTALK_TOKEN}", "slack://${SLACK_TOKEN}/#duty", "msteams://mycorp/${TEAMS_A}/${TEAMS_B}/${TEAMS_C}/"]
    replaced = {
        '["console://command-center"]': json.dumps([hook]),
        '["console://partner-desk"]': json.dumps([mail]),
        '["console://duty-manager"]': json.dumps(hosted),
    }
    for old, new in replaced.items():
        assert old in text
        text = text.replace(old, new)
    return text + "delivery: {timeout: 3s, max_attempts: 2, fallback_receiver: command-center}\n"


def test_a_run_leaks_no_secret_to_output_logs_metrics_state_or_audit(http_server: HttpServer, smtp_server: SmtpServer, postgres_url: str, tmp_path: Path) -> None:
    smtp_server.accounts = {"alerts": SECRETS["SPM_TEST_SMTP_PASSWORD"]}
    rules = tmp_path / "cc.yaml"
    rules.write_text(_ruleset(http_server, smtp_server), encoding="utf-8")
    state = _with_password(postgres_url, PG_PASSWORD)
    unreachable = "postgresql://postgres:" + PG_PASSWORD + "@127.0.0.1:1/nowhere"
    # The hosted channels' hosts are unreachable: a proxy on a closed port fails them at once.
    env = {**SECRETS, "HTTPS_PROXY": "http://127.0.0.1:1", "HTTP_PROXY": "http://127.0.0.1:1", "NO_PROXY": "127.0.0.1,localhost"}
    tickets = str(ROOT / "examples" / "enterprise-tickets.jsonl")
    metrics = tmp_path / "run.prom"
    base = ["-m", "spm_rules", "run", "--ruleset", str(rules), "--tickets", tickets, "--metrics", str(metrics)]
    commands = [
        [*base, "--state", state, "--at", "2026-11-25T14:00:00+08:00", "--format", "json", "--log-level", "debug", "--log-format", "json"],
        [*base, "--state", state, "--at", "2026-11-25T16:30:00+08:00", "--log-level", "debug"],
        [*base, "--state", unreachable, "--at", "2026-11-25T16:30:00+08:00"],
        ["-m", "spm_rules", "history", "EC-1002", "--state", state, "--format", "json"],
        ["-m", "spm_rules", "outbox", "--state", state, "--format", "json"],
        ["-m", "spm_rules", "history", "EC-1002", "--state", unreachable],
        ["-m", "spm_rules", "receivers", "list", "--ruleset", str(rules)],
    ]
    texts: list[str] = []
    done = []
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        for args in commands:
            result = python(*args, check=False)
            done.append(result)
            texts += [result.stdout, result.stderr]
            if args[2] == "run" and metrics.exists():
                texts.append(metrics.read_text(encoding="utf-8"))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    with Store(postgres_url) as store:
        dump = snapshot(store, skip=())
    texts.append(json.dumps(dump))

    # the runs ran, delivered with the secrets, and logged at DEBUG (Apprise's lines too)
    first = json.loads(done[0].stdout)
    assert first["notifications"]["enqueued"] > 0 and first["notifications"].get("sent", 0) > 0, done[0].stderr
    assert any(SECRETS["SPM_TEST_HOOK_TOKEN"] in request.path for request in http_server.requests)
    assert any(request.headers.get("Authorization") for request in http_server.requests)
    assert ("alerts", SECRETS["SPM_TEST_SMTP_PASSWORD"]) in smtp_server.logins
    assert dump["transitions"] and dump["outbox"]  # the audit log is the transitions table
    assert '"level":"debug"' in done[0].stderr and '"event":"notification"' in done[0].stderr
    assert " debug   spm_rules.run: transition " in done[1].stderr
    assert done[2].returncode != 0 and done[5].returncode != 0  # the unreachable state URL is an error…
    assert "127.0.0.1:1" in done[2].stderr  # …that names the place
    everything = "\n".join(texts)
    for secret in [*SECRETS.values(), PG_PASSWORD]:
        for form in secret_forms(secret):
            assert form not in everything, f"a secret leaked in its form {form[:6]}…"


#: What Apprise logs at DEBUG for each channel of the shipped rulesets and the starter
#: (with the secret where Apprise puts it, masked): the request URL it sends to, then on
#: failure "Socket Exception: …" with that URL again.  The starter's ``msteams://`` has
#: no plugin in this Apprise (Microsoft retired the connectors; ``workflows://`` replaces
#: them): it is refused as not usable, its tokens masked in that message too.
APPRISE_DEBUG = [
    "JSON POST URL: http://127.0.0.1:{port}/hook/****",
    "WeCom Bot GET URL: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=****",
    "DingTalk URL: https://oapi.dingtalk.com/robot/send?access_token=****",
    "Slack POST URL: https://hooks.slack.com/services/****",
]


def test_apprise_debug_lines_for_every_shipped_channel_are_masked(
    http_server: HttpServer, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Apprise's plugins log the full request URL at DEBUG, and the socket error with it:
    through spm-rules' redaction every secret in them is masked."""
    for name, value in {**SECRETS, "HTTPS_PROXY": "http://127.0.0.1:1", "HTTP_PROXY": "http://127.0.0.1:1", "NO_PROXY": "127.0.0.1,localhost"}.items():
        monkeypatch.setenv(name, value)
    smtp_server.accounts = {"alerts": SECRETS["SPM_TEST_SMTP_PASSWORD"]}
    for logger in ("apprise", "urllib3", "spm_rules"):
        caplog.set_level(logging.DEBUG, logger=logger)
    ruleset = parse_ruleset(_ruleset(http_server, smtp_server), "cc.yaml")
    notification = note("EC-1002", "red", receivers=("command-center", "partner-desk", "duty-manager"))
    (outcome,) = AlertPipeline(ruleset).deliver([notification], NOW)
    assert outcome.status == "failed"  # the hosted channels are unreachable here
    assert smtp_server.messages and http_server.requests  # the loopback ones got it
    lines = [record.getMessage() for record in caplog.records]
    for expected in APPRISE_DEBUG:
        assert any(expected.format(port=http_server.port) in line for line in lines), expected
    assert any(line.startswith("Socket Exception:") for line in lines)
    assert any("msteams://mycorp/****/****/****/: not a usable Apprise URL" in line for line in lines)
    everything = "\n".join(lines + [repr(outcome)])
    for secret in SECRETS.values():
        for form in secret_forms(secret):
            assert form not in everything, f"a secret leaked in its form {form[:6]}…"
