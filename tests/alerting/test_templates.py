"""Templates: rendering, links, non-ASCII over real transports, fallback, and injection safety."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest

from spm_rules.alerting import AlertPipeline
from spm_rules.alerting.pipeline import notification_labels
from spm_rules.alerting.templates import DEFAULT_TEMPLATE, Renderer, TemplateSpec, item_context, plain_message, render_link
from spm_rules.reports.indicators import Figure
from spm_rules.ruleset.loader import load_ruleset
from tests.alerting.helpers import NOW, note, ruleset_with, schedule_note
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


def test_a_dict_answers_its_keys_and_its_own_attributes_as_in_jinja() -> None:
    """Keys read straight from a dict are what Jinja's look-up would give: a dict's own
    attribute (``items``) still wins over a key of that name, a missing key is undefined."""
    spec = TemplateSpec(title="{{ group.level }}|{{ group.missing }}|{{ group['items'] }}|{{ group.items is callable }}|{{ group.get('level') }}", body="b")
    rendered = Renderer({"t": spec}, None, "UTC").render("t", "ops", {"level": "red", "items": "listed"}, [], 0, NOW)
    assert (rendered.title, rendered.error) == ("red||listed|True|red", None)


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


# -- schedule messages --------------------------------------------------------------------

_HEAD = {"scheduled_at": "2026-11-26T00:30:00+00:00", "timezone": "Asia/Shanghai"}
DIGEST = {
    **_HEAD,
    "schedule": "morning-digest",
    "action": "digest",
    "description": "Open escalations for the morning meeting.",
    "open_total": 3,
    "listed": 2,
    "levels": [
        {
            "level": "escalate",
            "rank": 3,
            "count": 2,
            "providers": [
                {
                    "provider": "partner-east",
                    "count": 2,  # one listed, one cut by the listing limit
                    "items": [
                        {"ticket": "EC-1002", "policy": "response", "level": "escalate", "provider": "partner-east", "customer": "Eastern Bank", "tier": "P4",
                         "region": "east", "stage": "dispatched", "opened_at": "2026-11-25T06:00:00+00:00", "age": "18h30m", "acknowledged": True, "acknowledged_by": "ops"},
                    ],
                }
            ],
        },
        {
            "level": "late",
            "rank": 1,
            "count": 1,
            "providers": [
                {
                    "provider": None,
                    "count": 1,
                    "items": [
                        {"ticket": "EC-1005", "policy": "resolution", "level": "late", "provider": None, "customer": None, "tier": "P2",
                         "region": None, "stage": "hotline", "opened_at": "2026-11-25T22:30:00+00:00", "age": "2h", "acknowledged": False, "acknowledged_by": None},
                    ],
                }
            ],
        },
    ],
}
def _figure(name: str, label: str, kind: str, value: float | None, day_before: float | None, trailing: float | None, better: str | None = None) -> dict:
    return Figure(name, label, kind, better, value, day_before, trailing).to_json()


_EAST = [
    _figure("tickets", "closed", "count", 2, 1, 3 / 7),
    _figure("on_time", "on time", "rate", 0.5, 1.0, 0.9, "higher"),
    _figure("reopened", "reopened", "rate", 0.0, 0.0, 0.1, "lower"),
]
INDICATORS = {
    **_HEAD,
    "schedule": "next-day-indicators",
    "action": "indicators",
    "scheduled_at": "2026-11-25T23:00:00+00:00",
    "description": "Yesterday's figures per partner.",
    "day": "2026-11-25",
    "day_before": "2026-11-24",
    "trailing": {"from": "2026-11-18", "to": "2026-11-24", "days": 7},
    "report_timezone": "Asia/Shanghai",
    "by": "provider",
    "period": {"from": "2026-11-25T00:00:00+08:00", "to": "2026-11-26T00:00:00+08:00"},
    "groups": [
        {"group": "partner-east", "name": "partner-east", "figures": _EAST},
        {"group": None, "name": "no provider", "figures": [_figure("tickets", "closed", "count", 0, 1, 1 / 7), _figure("on_time", "on time", "rate", None, 1.0, None, "higher")]},
    ],
    "total": {"group": None, "name": "all", "figures": [_figure("tickets", "closed", "count", 2, 2, 4 / 7), _figure("on_time", "on time", "rate", 0.5, 1.0, 0.75, "higher")]},
    "movers": [{"group": "partner-east", "name": "partner-east", **_EAST[1]}],
    "report_url": "https://reports.example.com/next-day-indicators-2026-11-25.html",
    "report_problem": None,
}

INSPECTIONS = {
    **_HEAD,
    "schedule": "key-account-inspections",
    "action": "inspections",
    "scheduled_at": "2026-12-07T01:00:00+00:00",
    "description": "Preventive inspections for key accounts.",
    "tiers": ["key-account"],
    "customers": [{"customer": "Eastern Insurance", "region": "east", "tickets": 2}, {"customer": "中国银行", "region": None, "tickets": 1}],
}


@pytest.mark.parametrize(
    ("payload", "title", "body"),
    [
        (
            DIGEST,
            "morning-digest 2026-11-26 08:30 CST: 3 open escalations",
            [
                "Open escalations for the morning meeting.",
                "",
                "ESCALATE: 2 open",
                "  partner-east: 2",
                "    EC-1002 Eastern Bank · P4 · response · for 18h30m, since 2026-11-25 14:00 CST · acknowledged by ops",
                "    … and 1 more",
                "LATE: 1 open",
                "  no provider: 1",
                "    EC-1005 (no customer) · P2 · resolution · for 2h, since 2026-11-26 06:30 CST",
                "",
                "Total: 3 open escalations (escalate 2, late 1)",
            ],
        ),
        (
            {**DIGEST, "description": None, "open_total": 0, "listed": 0, "levels": []},
            "morning-digest 2026-11-26 08:30 CST: 0 open escalations",
            ["No open escalations.", "", "Total: 0 open escalations"],
        ),
        (
            INDICATORS,
            "next-day-indicators 2026-11-25: closed 2, on time 50.0 %",
            [
                "Yesterday's figures per partner.",
                "",
                "Figures of 2026-11-25 (Asia/Shanghai) by provider, against the day before and the 7 days before it.",
                "",
                "Worst movers:",
                "  partner-east: on time 50.0 % (7-day 90.0 %, -40.0 pts)",
                "",
                "partner-east:",
                "  closed 2 (day before 1, 7-day 0.4/day)",
                "  on time 50.0 % (day before 100.0 %, 7-day 90.0 %)",
                "  reopened 0.0 % (day before 0.0 %, 7-day 10.0 %)",
                "",
                "no provider:",
                "  closed 0 (day before 1, 7-day 0.1/day)",
                "  on time - (day before 100.0 %, 7-day -)",
                "",
                "All:",
                "  closed 2 (day before 2, 7-day 0.6/day)",
                "  on time 50.0 % (day before 100.0 %, 7-day 75.0 %)",
                "",
                "Report: https://reports.example.com/next-day-indicators-2026-11-25.html",
            ],
        ),
        (
            {
                **INDICATORS,
                "description": None,
                "groups": [],
                "movers": [],
                "total": {"group": None, "name": "all", "figures": [_figure("tickets", "closed", "count", 0, 0, 0), _figure("on_time", "on time", "rate", None, None, None, "higher")]},
                "report_url": None,
                "report_problem": "the HTML report could not be written to '/srv/reports': Permission denied",
            },
            "next-day-indicators 2026-11-25: closed 0, on time -",
            [
                "Figures of 2026-11-25 (Asia/Shanghai) by provider, against the day before and the 7 days before it.",
                "",
                "No figure is worse than over the 7 days before.",
                "",
                "All:",
                "  closed 0 (day before 0, 7-day 0/day)",
                "",
                "No report: the HTML report could not be written to '/srv/reports': Permission denied",
            ],
        ),
        (
            INSPECTIONS,
            "key-account-inspections 2026-12-07 09:00 CST: 2 customers to inspect",
            [
                "Preventive inspections for key accounts.",
                "",
                "Customers of tier key-account:",
                "  Eastern Insurance · region east · 2 tickets",
                "  中国银行 · no region · 1 ticket",
            ],
        ),
        (
            {**INSPECTIONS, "description": None, "tiers": ["key-account", "gold"], "customers": []},
            "key-account-inspections 2026-12-07 09:00 CST: 0 customers to inspect",
            ["No customers in tiers key-account, gold."],
        ),
    ],
    ids=["digest", "empty-digest", "indicators", "quiet-day", "inspections", "no-customers"],
)
def test_each_schedule_action_has_a_template_that_shows_its_payload(payload: dict, title: str, body: list[str]) -> None:
    # The receiver's own template is for ticket notifications: the wallboard must not be used.
    ruleset = ruleset_with(
        """\
        receivers: {ops: {urls: ['console://'], template: wallboard}}
        templates: {wallboard: {title: "{{ items[0].ticket.customer }}", body: "[{{ items[0].level }}] {{ items[0].ticket.customer }}"}}
        """
    )
    (message,) = AlertPipeline(ruleset).plan([schedule_note(payload)], NOW).messages
    assert (message.title, message.body.splitlines(), message.fallback, message.notify_type) == (title, body, False, "info")


def test_a_ruleset_overrides_a_schedule_template_by_declaring_one_of_the_same_name() -> None:
    ruleset = ruleset_with(
        """\
        receivers: {ops: {urls: ['console://'], template: short}}
        templates:
          short: {title: "ticket {{ items[0].ticket_id }}", body: "{{ items[0].level }}"}
          digest:
            title: "晨会 {{ schedule.scheduled_at | time(schedule.timezone) }}"
            body: "{% for level in schedule.levels %}{{ level.level }}={{ level.count }}{{ ' ' if not loop.last }}{% endfor %}"
        """
    )
    plan = AlertPipeline(ruleset).plan([schedule_note(DIGEST), schedule_note(INSPECTIONS), note("EC-9", receivers=("ops",))], NOW)
    bodies = {m.title: m.body for m in plan.messages}
    inspections = "key-account-inspections 2026-12-07 09:00 CST: 2 customers to inspect"  # the built-in template
    assert bodies.keys() == {"晨会 2026-11-26 08:30 CST", inspections, "ticket EC-9"}
    assert (bodies["晨会 2026-11-26 08:30 CST"], bodies["ticket EC-9"]) == ("escalate=2 late=1", "red")
    assert "Eastern Insurance · region east · 2 tickets" in plan.messages[1].body


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_fields_in_schedule_data_render_literally(hostile: str) -> None:
    item = {**DIGEST["levels"][0]["providers"][0]["items"][0], "ticket": hostile, "customer": hostile, "tier": hostile, "age": hostile, "acknowledged_by": hostile}
    digest = {**DIGEST, "description": hostile, "levels": [{"level": hostile, "rank": 1, "count": 1, "providers": [{"provider": hostile, "count": 1, "items": [item]}]}]}
    customers = {**INSPECTIONS, "customers": [{"customer": hostile, "region": hostile, "tickets": 1}]}
    figure = {**_EAST[1], "label": hostile, "text": hostile}
    indicators = {**INDICATORS, "groups": [{"group": hostile, "name": hostile, "figures": [figure]}], "movers": [{"group": hostile, "name": hostile, **figure}]}
    ruleset = ruleset_with("receivers: {ops: {urls: ['console://']}}\n")
    for message in AlertPipeline(ruleset).plan([schedule_note(digest), schedule_note(customers), schedule_note(indicators)], NOW).messages:
        text = message.title + "\n" + message.body
        assert hostile in text and not message.fallback
        assert not any(marker in text for marker in EVALUATED), text
