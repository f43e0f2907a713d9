"""Secrets never leave unmasked: not in output, log records (DEBUG, Apprise's too), outcomes or exceptions."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from spm_rules.alerting import AlertPipeline, ReceiverError, UrlEntry
from spm_rules.alerting.receivers import resolve_url
from spm_rules.cli import cli
from spm_rules.errors import RulesetError
from spm_rules.ruleset.loader import load_ruleset, parse_ruleset
from tests.alerting.helpers import NOW, note, secret_forms
from tests.fixtures.servers import HttpServer, SmtpServer

SECRETS = {
    "SPM_TEST_WEBHOOK_TOKEN": "tok-9f8e7d6c5b4a3",
    "SPM_TEST_SMTP_PASSWORD": "smtp-Pa55w0rd.x~y",
    "SPM_TEST_API_KEY": "key-ABCDEF123456",
}
FILE_TOKEN = "file-token-777888999"


def _ruleset_text(http: HttpServer, smtp: SmtpServer, url_file: Path) -> str:
    mail = smtp.mailto_url(to="ops@example.com", credentials="alerts:${SPM_TEST_SMTP_PASSWORD}")
    return f"""\
name: secrets
tiers: {{P4: {{response: 4h}}}}
stages: [dispatched]
terminal_statuses: [resolved]
delivery: {{timeout: 2s, concurrency: 4}}
receivers:
  web:
    urls: ["json://bot:${{SPM_TEST_API_KEY}}@127.0.0.1:{http.port}/hook/${{SPM_TEST_WEBHOOK_TOKEN}}?+X-Token=${{SPM_TEST_API_KEY}}"]
  mail:
    urls: ["{mail}"]
  filed:
    urls: [{{url_file: "{url_file}"}}]
  dead:
    urls: ["json://127.0.0.1:1/${{SPM_TEST_WEBHOOK_TOKEN}}"]
  hooked:
    hook: leaky
route:
  receiver: web
  routes:
    - {{match: {{level: red}}, receiver: mail, continue: true}}
    - {{match: {{level: red}}, receiver: filed, continue: true}}
    - {{match: {{level: red}}, receiver: dead, continue: true}}
    - {{match: {{level: red}}, receiver: hooked}}
"""


def _leaky_hook(message: object) -> None:
    raise RuntimeError(f"upstream refused key {SECRETS['SPM_TEST_API_KEY']} and {FILE_TOKEN}")


def test_no_secret_in_any_output_log_or_exception(
    http_server: HttpServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    http_server.responses = [500]  # every web delivery fails
    smtp_server.accounts = {"alerts": "a-different-password"}  # every login fails
    url_file = tmp_path / "filed-url"
    url_file.write_text(f"json://127.0.0.1:{http_server.port}/filed/{FILE_TOKEN}\n")
    ruleset_file = tmp_path / "secrets.yaml"
    ruleset_file.write_text(_ruleset_text(http_server, smtp_server, url_file))
    caplog.set_level(logging.DEBUG)
    for name in ("spm_rules", "apprise", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)

    texts: list[str] = []
    ruleset = load_ruleset(ruleset_file)
    texts += [ruleset.model_dump_json(), repr(ruleset), str(ruleset.model_dump())]

    # forced failures through the pipeline, and receiver tests
    pipeline = AlertPipeline(ruleset, hooks={"leaky": _leaky_hook})
    outcomes = pipeline.deliver([note("EC-1", "red"), note("EC-2", "yellow")], NOW)
    assert [o.status for o in outcomes] == ["failed", "failed"]
    texts += [repr(o) for o in outcomes]
    for receiver in ruleset.receivers:
        texts += [repr(r) for r in pipeline.test_receiver(receiver, NOW)]

    # the CLI: dump the configuration, test receivers, test routes
    runner = CliRunner()
    for args in (
        ["receivers", "list", "--ruleset", str(ruleset_file)],
        ["receivers", "test", "web", "--ruleset", str(ruleset_file), "--at", "2026-11-25T06:00:00Z"],
        ["receivers", "test", "mail", "--ruleset", str(ruleset_file), "--at", "2026-11-25T06:00:00Z"],
        ["receivers", "test", "filed", "--ruleset", str(ruleset_file), "--at", "2026-11-25T06:00:00Z"],
        ["routes", "test", "--ruleset", str(ruleset_file), "--labels", "level=red"],
        ["validate", str(ruleset_file)],
    ):
        result = runner.invoke(cli, args, catch_exceptions=True)
        texts += [result.output, repr(result.exception)]

    # exceptions about receivers and rulesets name the place, never the value
    with pytest.raises(ReceiverError) as missing:
        resolve_url("web", 0, UrlEntry(url="json://h/${SPM_TEST_NOT_SET}"), {})
    texts.append(str(missing.value))
    with pytest.raises(RulesetError) as invalid:
        parse_ruleset(
            "name: x\ntiers: {P4: {}}\nstages: [s]\nterminal_statuses: [r]\n"
            f"receivers: {{web: {{urls: [{{url: 'json://u:{SECRETS['SPM_TEST_API_KEY']}@h/x', url_file: /x}}]}}}}\n",
            "bad.yaml",
        )
    texts.append(str(invalid.value))

    captured = capfd.readouterr()
    texts += [captured.out, captured.err]
    for record in caplog.records:
        texts += [record.getMessage(), record.exc_text or "", str(record.args or "")]

    # the secrets were really used…
    assert any(FILE_TOKEN in r.path for r in http_server.requests)
    assert any(SECRETS["SPM_TEST_WEBHOOK_TOKEN"] in r.path for r in http_server.requests)
    assert ("alerts", SECRETS["SPM_TEST_SMTP_PASSWORD"]) in smtp_server.logins
    # …Apprise did log the request URLs at DEBUG, masked…
    assert any("JSON POST URL: http://127.0.0.1:" in t and "/hook/****" in t for t in texts)
    # …and no secret appears anywhere
    everything = "\n".join(texts)
    for secret in [*SECRETS.values(), FILE_TOKEN]:
        for form in secret_forms(secret):
            assert form not in everything, f"a secret leaked in its form {form[:4]}…"
