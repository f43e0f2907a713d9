"""Delivery over loopback: json:// to HTTP, mailto:// to SMTP, failures, timeouts, bounds, hooks, custom schemes."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from spm_rules.alerting import AlertMessage, AlertPipeline, register_hook, unregister_hook
from spm_rules.alerting.apprise_delivery import interpret_result
from tests.alerting.helpers import NOW, note, ruleset_with
from tests.fixtures.servers import HttpServer, SmtpServer


def _one_receiver(url: str, **extra: str) -> str:
    options = "".join(f", {k}: {v}" for k, v in extra.items())
    return f"receivers: {{ops: {{urls: ['{url}']{options}}}}}\nroute: {{receiver: ops}}\n"


def test_json_to_a_local_http_server(http_server: HttpServer) -> None:
    ruleset = ruleset_with(_one_receiver(http_server.json_url("ops/alerts")))
    (outcome,) = AlertPipeline(ruleset).deliver([note("EC-1", "red")], NOW)
    assert (outcome.key, outcome.status, outcome.detail, outcome.retry_at) == ("EC-1|response|red|1", "sent", "sent to ops", None)
    (request,) = http_server.requests
    assert (request.method, request.path, request.headers["Content-Type"]) == ("POST", "/ops/alerts", "application/json")
    payload = request.json()
    assert payload["title"] == "[red] EC-1 · partner-east"
    assert payload["type"] == "warning"
    assert payload["message"].splitlines()[0] == "EC-1 [red] provider partner-east stage dispatched"


def test_mailto_to_a_local_smtp_server_with_a_password_from_the_environment(smtp_server: SmtpServer) -> None:
    smtp_server.accounts = {"alerts": "pa55-from-env"}
    url = smtp_server.mailto_url(to="ops@example.com", credentials="alerts:${SMTP_PASSWORD}")
    ruleset = ruleset_with(_one_receiver(url))
    (outcome,) = AlertPipeline(ruleset, environ={"SMTP_PASSWORD": "pa55-from-env"}).deliver([note("EC-1", "escalate", urgent=True)], NOW)
    assert outcome.status == "sent"
    assert smtp_server.logins == [("alerts", "pa55-from-env")]
    (mail,) = smtp_server.messages
    assert mail.rcpt_tos == ("ops@example.com",)
    assert mail.subject == "[escalate] EC-1 · partner-east"
    assert mail.text().startswith("EC-1 [escalate] URGENT provider partner-east")


def test_a_wrong_smtp_password_is_a_failure(smtp_server: SmtpServer) -> None:
    smtp_server.accounts = {"alerts": "right"}
    ruleset = ruleset_with(_one_receiver(smtp_server.mailto_url(credentials="alerts:${SMTP_PASSWORD}")))
    (outcome,) = AlertPipeline(ruleset, environ={"SMTP_PASSWORD": "wrong-password"}).deliver([note()], NOW)
    assert outcome.status == "failed"
    assert "wrong-password" not in outcome.detail
    assert smtp_server.messages == []


def test_a_500_fails_and_the_next_delivery_of_the_same_key_succeeds(http_server: HttpServer) -> None:
    http_server.responses = [500, 200]
    pipeline = AlertPipeline(ruleset_with(_one_receiver(http_server.json_url())))
    first = pipeline.deliver([note("EC-1")], NOW)
    assert [(o.key, o.status) for o in first] == [("EC-1|response|red|1", "failed")]
    assert first[0].detail.startswith("ops json://127.0.0.1:")
    assert "error=500" in first[0].detail
    second = pipeline.deliver([note("EC-1")], NOW)
    assert [(o.key, o.status) for o in second] == [("EC-1|response|red|1", "sent")]
    assert [r.json()["title"] for r in http_server.requests] == ["[red] EC-1 · partner-east"] * 2


def test_a_notification_is_sent_only_when_every_receiver_got_it(http_server: HttpServer) -> None:
    http_server.responses = [200]
    ruleset = ruleset_with(
        f"""\
        receivers:
          good: {{urls: ["{http_server.json_url('good')}"]}}
          bad: {{urls: ["json://127.0.0.1:1/closed-port"]}}
        """
    )
    (outcome,) = AlertPipeline(ruleset).deliver([note(receivers=("good", "bad"))], NOW)
    assert outcome.status == "failed"
    assert outcome.detail.startswith("bad json://127.0.0.1:1/closed-port: not delivered")
    assert outcome.detail.endswith("; sent to good")


def test_a_slow_receiver_times_out(http_server: HttpServer) -> None:
    http_server.delay = 4.0
    ruleset = ruleset_with(_one_receiver(http_server.json_url()), delivery="{timeout: 1s}")
    started = time.monotonic()
    (outcome,) = AlertPipeline(ruleset).deliver([note()], NOW)
    assert outcome.status == "failed"
    assert time.monotonic() - started < 3.0


@pytest.mark.parametrize(
    ("receivers", "most_at_once"),
    [
        ({"ops": ("", 6)}, 2),  # one receiver: never more than delivery.concurrency at once
        ({"a": ("concurrency: 1, ", 3), "b": ("", 3)}, 3),  # each receiver its own slots: 1 + 2
    ],
)
def test_sends_run_concurrently_within_each_receivers_bound(http_server: HttpServer, receivers: dict[str, tuple[str, int]], most_at_once: int) -> None:
    http_server.delay = 0.3
    lines = [
        f"  {name}: {{{extra}urls: [{', '.join(repr(http_server.json_url(f'{name}{i}')) for i in range(count))}]}}\n"
        for name, (extra, count) in receivers.items()
    ]
    ruleset = ruleset_with("receivers:\n" + "".join(lines), delivery="{timeout: 3s, concurrency: 2}")
    outcomes = AlertPipeline(ruleset).deliver([note(receivers=tuple(receivers))], NOW)
    assert [o.status for o in outcomes] == ["sent"]
    assert len(http_server.requests) == sum(count for _, count in receivers.values())
    assert http_server.max_in_flight == most_at_once  # concurrent, and never more than the bounds


@pytest.mark.parametrize(
    ("url", "environ", "detail"),
    [
        ("nosuchscheme://host/x", {}, "ops nosuchscheme://host/x: not a usable Apprise URL (unknown scheme or bad arguments)"),
        ("json://127.0.0.1/${NOPE}", {}, "ops json://127.0.0.1/${NOPE}: receiver 'ops' urls[0]: environment variable NOPE is not set"),
    ],
)
def test_unusable_urls_fail_with_a_reason(url: str, environ: dict, detail: str) -> None:
    (outcome,) = AlertPipeline(ruleset_with(_one_receiver(url)), environ=environ).deliver([note()], NOW)
    assert (outcome.status, outcome.detail) == ("failed", detail)


@pytest.mark.parametrize(
    ("receivers", "route", "detail"),
    [
        (("ghost",), "", "unknown receiver 'ghost'"),
        ((), "", "no receiver: the rule named none and the ruleset has no route"),
    ],
)
def test_undeliverable_notifications_fail(receivers: tuple[str, ...], route: str, detail: str) -> None:
    (outcome,) = AlertPipeline(ruleset_with("receivers: {ops: {urls: ['console://']}}\n" + route)).deliver([note(receivers=receivers)], NOW)
    assert (outcome.status, outcome.detail) == ("failed", detail)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (None, (False, "nothing was sent (Apprise answered None)")),
        (False, (False, "not delivered")),
        (True, (True, "delivered")),
    ],
)
def test_apprise_answers(answer: object, expected: tuple[bool, str]) -> None:
    assert interpret_result(answer) == expected


#: What each custom Apprise scheme's function returns; the schemes called, in order.
_PLUGIN_ANSWERS = {"spmtestnone": None, "spmtesttrue": True, "spmtestfalse": False}
_CALLS: list[str] = []


def _register_answering_schemes() -> None:
    """Register each scheme of ``_PLUGIN_ANSWERS`` once per process (Apprise refuses a second time)."""
    from apprise.decorators import notify

    from spm_rules.alerting.apprise_delivery import scheme_available

    for scheme, answer in _PLUGIN_ANSWERS.items():
        if not scheme_available(scheme):

            def send(body: str, title: str, notify_type: str, meta: dict, *args: object, answer: object = answer, scheme: str = scheme, **kwargs: object) -> object:
                _CALLS.append(scheme)
                return answer

            notify(on=scheme, name=f"test {scheme}")(send)


@pytest.mark.parametrize(("scheme", "status"), [("spmtestnone", "sent"), ("spmtesttrue", "sent"), ("spmtestfalse", "failed")])
def test_a_custom_apprise_scheme_that_returns_none_counts_as_sent_as_apprise_documents(scheme: str, status: str) -> None:
    """Apprise maps a decorated function's None to success; spm-rules keeps that contract
    (docs/alerting.md, "Your own Apprise scheme"), so such a plugin is not re-sent forever."""
    _register_answering_schemes()
    _CALLS.clear()
    (outcome,) = AlertPipeline(ruleset_with(_one_receiver(f"{scheme}://ticketdb/comments"))).deliver([note("EC-1")], NOW)
    assert _CALLS == [scheme]
    assert outcome.status == status


def test_url_file_holds_the_whole_url(http_server: HttpServer, tmp_path: Path) -> None:
    secret_file = tmp_path / "url"
    secret_file.write_text(http_server.json_url("from-file") + "\n")
    ruleset = ruleset_with(f"receivers: {{ops: {{urls: [{{url_file: '{secret_file}'}}]}}}}\nroute: {{receiver: ops}}\n")
    pipeline = AlertPipeline(ruleset)
    assert [o.status for o in pipeline.deliver([note()], NOW)] == ["sent"]
    assert [r.path for r in http_server.requests] == ["/from-file"]
    (tested,) = pipeline.test_receiver("ops", NOW)
    assert (tested.target, tested.delivered) == (f"(url_file {secret_file})", True)


# -- hooks (callable receivers) ---------------------------------------------------------------


def test_a_registered_hook_receives_the_rendered_message() -> None:
    received: list[AlertMessage] = []

    @register_hook("ticket-system")
    def write_back(message: AlertMessage) -> None:
        received.append(message)

    try:
        ruleset = ruleset_with("receivers: {tickets: {hook: ticket-system}}\nroute: {receiver: tickets, group_by: [provider]}\n")
        outcomes = AlertPipeline(ruleset).deliver([note("EC-1"), note("EC-2")], NOW)
    finally:
        unregister_hook("ticket-system")
    assert [(o.status, o.detail) for o in outcomes] == [("sent", "sent to tickets")] * 2
    (message,) = received
    assert (message.receiver, message.group, message.title) == ("tickets", {"provider": "partner-east"}, "2 notifications · provider partner-east")
    assert [n.ticket_id for n in message.notifications] == ["EC-1", "EC-2"]


async def _async_hook(message: AlertMessage) -> bool:
    return message.receiver == "tickets"


def _refusing_hook(message: AlertMessage) -> bool:
    return False


def _crashing_hook(message: AlertMessage) -> None:
    raise RuntimeError("ticket system said no to token tok-" + "1234567")


@pytest.mark.parametrize(
    ("hooks", "status", "detail"),
    [
        ({"ts": _async_hook}, "sent", "sent to tickets"),
        ({"ts": _refusing_hook}, "failed", "tickets hook ts: the hook returned False"),
        ({"ts": _crashing_hook}, "failed", "tickets hook ts: RuntimeError: ticket system said no to token tok-1234567"),
        ({}, "failed", "tickets hook ts: receiver 'tickets': no hook 'ts' is registered"),
    ],
    ids=["async", "returns-false", "raises", "missing"],
)
def test_hook_outcomes(hooks: dict, status: str, detail: str) -> None:
    ruleset = ruleset_with("receivers: {tickets: {hook: ts}}\nroute: {receiver: tickets}\n")
    (outcome,) = AlertPipeline(ruleset, hooks=hooks).deliver([note()], NOW)
    assert (outcome.status, outcome.detail) == (status, detail)


# -- the custom schemes ---------------------------------------------------------------------


def test_spmfile_appends_json_lines_with_owner_only_permissions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    absolute = tmp_path / "abs" / "alerts.jsonl"
    ruleset = ruleset_with(f"receivers: {{ops: {{urls: ['spmfile://out/alerts.jsonl', 'spmfile://?path={absolute}']}}}}\nroute: {{receiver: ops}}\n")
    pipeline = AlertPipeline(ruleset)
    assert [o.status for o in pipeline.deliver([note("EC-1")], NOW) + pipeline.deliver([note("EC-2", "yellow")], NOW)] == ["sent", "sent"]
    for path in (tmp_path / "out" / "alerts.jsonl", absolute):
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert [(line["title"], line["type"]) for line in lines] == [("[red] EC-1 · partner-east", "warning"), ("[yellow] EC-2 · partner-east", "warning")]
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_console_prints_to_the_terminal_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    ruleset = ruleset_with("receivers: {ops: {urls: ['console://']}}\nroute: {receiver: ops}\n")
    assert [o.status for o in AlertPipeline(ruleset).deliver([note("EC-1")], NOW)] == ["sent"]
    captured = capsys.readouterr()
    assert captured.err.startswith("──────── warning: [red] EC-1 · partner-east ────────\nEC-1 [red]")
    assert captured.out == ""  # standard output is for machine output (--format json)


def test_console_label_names_whose_screen_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    ruleset = ruleset_with("receivers: {ops: {urls: ['console://command-center']}}\nroute: {receiver: ops}\n")
    assert [o.status for o in AlertPipeline(ruleset).deliver([note("EC-1")], NOW)] == ["sent"]
    assert capsys.readouterr().err.startswith("──────── → command-center · warning: [red] EC-1 · partner-east ────────\n")
