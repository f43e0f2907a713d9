"""Templates: rendering, links, non-ASCII over real transports, fallback, and injection safety."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest

from spm_rules.alerting import AlertPipeline
from spm_rules.alerting.pipeline import notification_labels
from spm_rules.alerting.templates import DEFAULT_TEMPLATE, Renderer, TemplateSpec, item_context, plain_message, render_link
from spm_rules.ruleset.loader import load_ruleset
from tests.alerting.helpers import NOW, note, ruleset_with
from tests.fixtures.servers import HttpServer, SmtpServer

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [load_ruleset(path) for path in sorted((ROOT / "rulesets").glob("*.yaml"))]


@pytest.mark.parametrize(
    ("pattern", "fields", "link"),
    [
        ("https://t.example.com/r/{id}", {"id": "EC-1"}, "https://t.example.com/r/EC-1"),
        ("https://t.example.com/r/{id}?c={customer.name}", {"id": "A B/C", "customer": {"name": "张三"}}, "https://t.example.com/r/A%20B%2FC?c=%E5%BC%A0%E4%B8%89"),
        ("https://t.example.com/{{literal}}/{id}", {"id": "1"}, "https://t.example.com/{literal}/1"),
        ("https://t.example.com/r/{missing}", {"id": "1"}, ""),  # no half-built links
        (None, {"id": "1"}, ""),
    ],
)
def test_ticket_links(pattern: str | None, fields: dict, link: str) -> None:
    assert render_link(pattern, fields) == link


def test_a_custom_template_sees_ticket_sla_rule_and_link() -> None:
    ruleset = ruleset_with(
        """\
        ticket_url: "https://t.example.com/r/{id}"
        templates:
          ops:
            title: "{{ group.provider }}: {{ total }} × {{ items[0].level }}"
            body: |
              {% for item in items %}
              {{ item.ticket_id }} {{ item.ticket.customer }} {{ item.sla.stage }} {{ item.sla.due_at | time }} {{ item.rule }} {{ item.link }}
              {% endfor %}
              {{ now | time("Europe/Berlin") }}
        receivers: {ops: {urls: ["console://"], template: ops}}
        route: {receiver: ops, group_by: [provider]}
        """
    )
    (message,) = AlertPipeline(ruleset).plan([note("EC-7"), note("EC-8")], NOW).messages
    assert message.title == "partner-east: 2 × red"
    assert message.body.splitlines() == [
        "EC-7 Eastern Bank dispatched 2026-11-25 13:00 CST response-red https://t.example.com/r/EC-7",
        "EC-8 Eastern Bank dispatched 2026-11-25 13:00 CST response-red https://t.example.com/r/EC-8",
        "2026-11-25 07:00 CET",
    ]
    assert not message.fallback


def test_chinese_text_over_json_and_mail(http_server: HttpServer, smtp_server: SmtpServer) -> None:
    ruleset = ruleset_with(
        f"""\
        templates:
          station:
            title: "维修提醒 {{{{ group.provider }}}}：{{{{ total }}}} 张工单"
            body: "{{% for item in items %}}{{{{ item.ticket_id }}}}（{{{{ item.ticket.customer }}}}）阶段 {{{{ item.sla.stage }}}}{{% endfor %}}"
        receivers:
          station:
            urls: ["{http_server.json_url('station')}", "{smtp_server.mailto_url(to='station@example.com')}"]
            template: station
        route: {{receiver: station, group_by: [provider]}}
        """
    )
    batch = [note("RP-1", ticket_fields={"customer": "李雷"}, provider="北京三站")]
    assert [o.status for o in AlertPipeline(ruleset).deliver(batch, NOW)] == ["sent"]
    (request,) = http_server.requests
    assert request.json()["title"] == "维修提醒 北京三站：1 张工单"
    assert request.json()["message"] == "RP-1（李雷）阶段 dispatched"
    (mail,) = smtp_server.messages
    assert mail.subject == "维修提醒 北京三站：1 张工单"
    assert mail.text().strip() == "RP-1（李雷）阶段 dispatched"


def test_a_template_error_falls_back_to_a_plain_message_and_is_still_sent(http_server: HttpServer, caplog: pytest.LogCaptureFixture) -> None:
    ruleset = ruleset_with(
        f"""\
        ticket_url: "https://t.example.com/r/{{id}}"
        templates:
          broken: {{title: "{{{{ items[0].nothing() }}}}", body: "x"}}
        receivers: {{ops: {{urls: ["{http_server.json_url()}"], template: broken}}}}
        route: {{receiver: ops}}
        """
    )
    assert [o.status for o in AlertPipeline(ruleset).deliver([note("EC-1")], NOW)] == ["sent"]
    payload = http_server.requests[0].json()
    assert payload["title"] == "spm-rules: 1 notification for ops"
    assert payload["message"].splitlines() == [
        "- EC-1 red rule response-red",
        "  rule 'response-red': sla.level == 'red'",
        "  https://t.example.com/r/EC-1",
    ]
    assert "template 'broken' failed for receiver 'ops': UndefinedError" in caplog.text


# -- untrusted data and untrusted template text ---------------------------------------------

HOSTILE = [
    "{0.__class__.__init__.__globals__}",
    "{{ ''.__class__.__mro__ }}",
    "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ 7*191 }}",
    "%(password)s %s ${HOME} $HOME",
    "{{ cycler.__init__.__globals__.os }}",
]
#: What any evaluation of the strings above would leave in the output.
EVALUATED = ("<class '", "'__name__'", "1337", "<module ", "builtins", "/root")


def _every_template() -> list[tuple[str, TemplateSpec, str | None]]:
    found: list[tuple[str, TemplateSpec, str | None]] = [("default", DEFAULT_TEMPLATE, "https://t.example.com/r/{id}?c={customer}")]
    for ruleset in SHIPPED:
        found += [(f"{ruleset.name}:{name}", spec, ruleset.ticket_url) for name, spec in ruleset.templates.items()]
    return found


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize(("name", "spec", "ticket_url"), _every_template(), ids=lambda v: v if isinstance(v, str) and ":" in v or v == "default" else "")
def test_hostile_ticket_fields_render_literally_in_every_template(name: str, spec: TemplateSpec, ticket_url: str | None, hostile: str) -> None:
    fields = {key: hostile for key in ("id", "tier", "customer", "product", "provider", "fault", "stage")}
    notification = note(hostile, "red", provider=hostile, ticket_fields=fields, region=hostile)
    notification.payload["why"] = [hostile]
    notification.payload["sla"].update(stage=hostile, due_at=hostile, elapsed=hostile, target=hostile)
    labels = notification_labels(notification)
    item = item_context(notification, labels, ticket_url)
    rendered = Renderer({name: spec}, ticket_url, "Asia/Shanghai").render(name, "ops", {"provider": hostile, "level": "red"}, [item], 0, NOW)
    text = rendered.title + "\n" + rendered.body
    assert rendered.error is None, rendered.error
    assert hostile in text  # shown literally…
    assert not any(marker in text for marker in EVALUATED), text  # …and nothing evaluated
    if ticket_url:
        assert quote(hostile, safe="") in item["link"]
    plain = "\n".join(plain_message("ops", [item], 0))
    assert hostile in plain and not any(marker in plain for marker in EVALUATED)


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ items.__class__.__init__.__globals__ }}",
        "{{ '{0.__class__.__init__.__globals__}'.format(items) }}",
        "{{ cycler.__init__.__globals__.os.environ }}",
        "{% set x = items.append(1) %}{{ items }}",
    ],
)
def test_hostile_template_text_is_rejected_and_the_message_still_goes_out(http_server: HttpServer, template: str) -> None:
    ruleset = ruleset_with(
        f"templates: {{evil: {{title: t, body: {json.dumps(template)}}}}}\n"
        f"receivers: {{ops: {{urls: ['{http_server.json_url()}'], template: evil}}}}\nroute: {{receiver: ops}}\n"
    )
    (message,) = AlertPipeline(ruleset).plan([note("EC-1")], NOW).messages
    assert message.fallback
    assert message.title == "spm-rules: 1 notification for ops"
    assert not any(marker in message.body for marker in EVALUATED)
    assert [o.status for o in AlertPipeline(ruleset).deliver([note("EC-1")], NOW)] == ["sent"]
    assert "<class" not in http_server.requests[0].json()["message"]


def test_hostile_fields_over_the_wire_stay_literal(http_server: HttpServer) -> None:
    ruleset = ruleset_with(f"receivers: {{ops: {{urls: ['{http_server.json_url()}']}}}}\nroute: {{receiver: ops}}\n")
    batch = [note(f"EC-{i}", provider=value, ticket_fields={"customer": value}) for i, value in enumerate(HOSTILE)]
    assert {o.status for o in AlertPipeline(ruleset).deliver(batch, NOW)} == {"sent"}
    body = http_server.requests[0].json()["message"]
    assert all(value in body for value in HOSTILE)
    assert not any(marker in body for marker in EVALUATED)
