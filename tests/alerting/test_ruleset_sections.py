"""The alerting sections of a ruleset: strict models, located errors, cross-references, safe dumps."""

from __future__ import annotations

import json
import textwrap
from datetime import timedelta

import pytest

from spm_rules.errors import RulesetError
from spm_rules.ruleset.loader import parse_ruleset
from spm_rules.ruleset.schema import Ruleset

HEAD = """\
name: t
tiers: {P4: {response: 4h}}
stages: [dispatched]
terminal_statuses: [resolved]
"""


def problems_of(alerting: str) -> list[str]:
    with pytest.raises(RulesetError) as info:
        parse_ruleset(HEAD + textwrap.dedent(alerting), "r.yaml")
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(
    ("alerting", "problems"),
    [
        (
            "receivers: {ops: {urls: [{url: 'json://h/x', url_file: /run/secrets/x}]}}\n",
            ["r.yaml:5: receivers.ops.urls.0: give exactly one of url (with ${VAR} references for secrets) and url_file, not both or neither"],
        ),
        (
            "receivers: {ops: {urls: ['json://h/${1BAD}']}}\n",
            ["r.yaml:5: receivers.ops.urls.0: bad ${...} reference: write ${NAME} with letters, digits and _ (or $${ for a literal ${)"],
        ),
        (
            "receivers: {ops: {urls: ['localhost:8080/x']}}\n",
            ["r.yaml:5: receivers.ops.urls.0: not an Apprise URL: write scheme://… such as json://host/path or mailto://…"],
        ),
        ("receivers: {ops: {description: nothing}}\n", ["r.yaml:5: receivers.ops: a receiver needs urls, a hook, or both"]),
        (
            "receivers: {ops: {urls: ['console://'], template: wallbord}}\ntemplates: {wallboard: {title: t, body: b}}\n",
            ["r.yaml:5: receivers.ops.template: unknown template 'wallbord' (hint: did you mean 'wallboard'?)"],
        ),
        (
            "receivers: {ops: {urls: ['console://'], active: office}}\n",
            ["r.yaml:5: receivers.ops.active: unknown calendar 'office' (hint: declared: 24x7)"],
        ),
        (
            """\
            receivers: {ops: {urls: ['console://']}}
            route:
              receiver: ops
              routes:
                - {match: {level: red}, receiver: opps}
            """,
            ["r.yaml:9: route.routes.0.receiver: unknown receiver 'opps' (hint: did you mean 'ops'?)"],
        ),
        (
            "receivers: {ops: {urls: ['console://']}}\nroute: {group_by: [provider]}\n",
            ["r.yaml:6: route: the root route needs a receiver: the default for notifications no other route takes"],
        ),
        (
            "receivers: {ops: {urls: ['console://']}}\nroute: {receiver: ops, match: {level: red}}\n",
            ["r.yaml:6: route: the root route matches every notification; put match/match_re/matchers on child routes"],
        ),
        (
            "receivers: {ops: {urls: ['console://']}}\nroute: {receiver: ops, routes: [{match_re: {provider: '(x'}, recevier: ops}]}\n",
            [
                "r.yaml:6: route.routes.0.match_re.provider: bad regular expression '(x': missing ), unterminated subpattern at position 0",
                "r.yaml:6: route.routes.0.recevier: unknown key 'recevier' (hint: did you mean 'receiver'?)",
            ],
        ),
        (
            "receivers: {ops: {urls: ['console://']}}\ndelivery: {fallback_receiver: oops}\n",
            ["r.yaml:6: delivery.fallback_receiver: unknown receiver 'oops' (hint: did you mean 'ops'?)"],
        ),
        (
            """\
            silences:
              - {starts_at: 2026-11-25T00:00:00+08:00, ends_at: 2026-11-25T06:00:00+08:00, comment: all}
              - {matchers: ['level=red'], starts_at: 2026-11-25T06:00:00+08:00, ends_at: 2026-11-25T00:00:00+08:00, comment: backwards}
              - {matchers: ['level=red'], starts_at: 2026-11-25T00:00:00, ends_at: 2026-11-26T00:00:00+08:00, comment: naive}
            """,
            [
                "r.yaml:6: silences.0: a silence needs at least one matcher (match, match_re or matchers); it would mute everything",
                "r.yaml:7: silences.1: a silence must end after it starts",
                "r.yaml:8: silences.2.starts_at: Input should have timezone info",
            ],
        ),
        (
            "templates:\n  bad:\n    title: ok\n    body: '{% for item in items %}{{ item }}'\n",
            ["r.yaml:8: templates.bad.body: template syntax error on its line 1: Unexpected end of template. "
             "Jinja was looking for the following tags: 'endfor' or 'else'. The innermost block that needs to be closed is 'for'."],
        ),
        ('ticket_url: "https://t.example.com/{id}/{0.__class__}"\n', ["r.yaml:5: ticket_url: bad placeholder '{0.__class__}' in ticket_url: write {field} with a ticket field name, {{ or }} for a brace"]),
        (
            "inhibit_rules: [{source_match: {level: red}, target_matchers: ['level yellow'], equal: [ticket]}]\n",
            [
                "r.yaml:5: inhibit_rules.0.target_matchers.0: bad matcher 'level yellow' at column 7: "
                "expected an operator (=, !=, =~ or !~) after the label name, found 'yellow'"
            ],
        ),
        (
            """\
            receivers: {ops: {urls: ['console://']}}
            route:
              receiver: ops
              routes:
                - receiver: ops
                  matchers:
                    - tier=P2
                    - provider=partner-east,level=red
            """,
            [
                "r.yaml:12: route.routes.0.matchers.1: 'provider=partner-east,level=red' holds 2 matchers "
                '(provider="partner-east", level="red"): a list item takes one matcher; write each as its own item'
            ],
        ),
        (
            """\
            silences:
              - {matchers: ['region=""', 'level=~".*"'], starts_at: 2026-11-25T00:00:00+08:00, ends_at: 2026-11-25T06:00:00+08:00, comment: all}
              - {match: {region: ""}, starts_at: 2026-11-25T00:00:00+08:00, ends_at: 2026-11-25T06:00:00+08:00, comment: all}
              - {matchers: ['level!=red'], starts_at: 2026-11-25T00:00:00+08:00, ends_at: 2026-11-25T06:00:00+08:00, comment: all}
              - {matchers: ['region=""', level=red], starts_at: 2026-11-25T00:00:00+08:00, ends_at: 2026-11-25T06:00:00+08:00, comment: fine}
            """,
            [
                'r.yaml:6: silences.0: every matcher of this silence matches an empty label ({region="", level=~".*"}), '
                "so it would mute almost everything: add a matcher that needs a value, such as provider=\"partner-east\"",
                'r.yaml:7: silences.1: every matcher of this silence matches an empty label ({region=""}), '
                "so it would mute almost everything: add a matcher that needs a value, such as provider=\"partner-east\"",
                'r.yaml:8: silences.2: every matcher of this silence matches an empty label ({level!="red"}), '
                "so it would mute almost everything: add a matcher that needs a value, such as provider=\"partner-east\"",
            ],
        ),
    ],
    ids=lambda value: value[0][:40] if isinstance(value, list) else None,
)
def test_located_problems(alerting: str, problems: list[str]) -> None:
    assert problems_of(alerting) == problems


def test_a_full_alerting_setup_loads_and_exports_a_json_schema() -> None:
    ruleset = parse_ruleset(
        HEAD
        + textwrap.dedent(
            """\
            calendars:
              office: {timezone: Europe/Berlin, hours: {mon-fri: ["09:00-17:00"]}}
            receivers:
              ops:
                urls: ["mailto://alerts:${SMTP_PASSWORD}@mail.example.com?to=ops@example.com", {url_file: /run/secrets/hook}]
                template: short
                active: office
                repeat: 30m
              app: {hook: write-back}
            route:
              receiver: ops
              group_by: [provider]
              routes: [{matchers: ['level=~"red|escalate"'], receiver: app, continue: true, max_items: 5}]
            inhibit_rules: [{source_match: {level: red}, target_match: {level: yellow}, equal: [ticket]}]
            templates: {short: {title: "{{ total }}", body: "{{ items | length }}"}}
            ticket_url: "https://t.example.com/{id}"
            """
        ),
        "full.yaml",
    )
    assert ruleset.receivers["ops"].repeat == timedelta(minutes=30)
    assert ruleset.route is not None and ruleset.route.routes[0].continue_ is True
    schema = json.dumps(Ruleset.model_json_schema())
    assert '"continue"' in schema and '"inhibit_rules"' in schema


def test_dumping_a_ruleset_masks_inline_passwords_and_keeps_references() -> None:
    ruleset = parse_ruleset(
        HEAD + "receivers: {ops: {urls: ['mailto://alerts:inline-Secret-99@mail.example.com?token=abc123xyz', 'json://u:${PW}@h/x']}}\n",
        "dump.yaml",
    )
    dumped = ruleset.model_dump_json()
    assert "inline-Secret-99" not in dumped and "abc123xyz" not in dumped
    assert "mailto://alerts:****@mail.example.com?token=****" in dumped
    assert "json://u:${PW}@h/x" in dumped
