"""The customer's view of a ticket (``spm-rules status``, ``spm_rules.customer_status``):
plain language, one SMS, JSON for the web, and never an internal field."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spm_rules
from spm_rules.cli import EXIT_INVALID, EXIT_OK, main
from spm_rules.errors import RulesetError
from spm_rules.reports.status import FIELD_VISIBILITY, PUBLIC_FIELDS, customer_status, fit_sms, sms_length
from spm_rules.ruleset.loader import load_ruleset, parse_ruleset
from spm_rules.sources.files import read_tickets
from spm_rules.state.records import TicketState
from spm_rules.tickets import Ticket
from tests.reports.helpers import ENTERPRISE, EXAMPLES, QUICK_START, run_enterprise
from tests.state.helpers import restore_spm_logger  # noqa: F401 (autouse fixture)

SHANGHAI = timezone(timedelta(hours=8))


def shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def enterprise() -> Any:
    return load_ruleset(ENTERPRISE)


@pytest.fixture(scope="module")
def examples(enterprise: Any) -> dict[str, Ticket]:
    tickets, problems = read_tickets([EXAMPLES], enterprise.ticket_timezone)
    assert problems == []
    return {ticket.id: ticket for ticket in tickets}


# -- the shipped ruleset, end to end through the state ------------------------------------------


def _status(capsys: pytest.CaptureFixture[str], state: str, ticket: str, *extra: str) -> str:
    capsys.readouterr()
    assert main(["status", ticket, "--ruleset", str(ENTERPRISE), "--state", state, "--at", QUICK_START, *extra]) == EXIT_OK
    return capsys.readouterr().out


def test_a_customer_reads_how_far_the_request_has_come_in_chinese_and_english(state_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """EC-1002 (P4, called 09:40, dispatched 10:00) at the quick-start instant 14:00: the
    hotline stage is done, the engineer is being dispatched, and the end-to-end target
    (P4: 1 day from the call) says when it should be done: 26 Nov 09:40.  Internally the
    ticket is red (its 4 h response is used up); the customer is not told about levels."""
    run_enterprise(state_url)
    assert _status(capsys, state_url, "EC-1002", "--lang", "zh") == "服务单EC-1002：热线受理11月25日10:00完成；当前派工，预计11月26日09:40前完成。\n"
    assert _status(capsys, state_url, "EC-1002", "--lang", "en") == (
        "Request EC-1002: hotline call done 25 Nov 10:00; now engineer dispatch; expected completion by 26 Nov 09:40.\n"
    )
    document = json.loads(_status(capsys, state_url, "EC-1002", "--lang", "en", "--format", "json"))
    assert document["situation"] == "on_track"
    assert [(step["label"], step["state"], step["left"]) for step in document["stages"]] == [
        ("hotline call", "done", "25 Nov 10:00"),
        ("engineer dispatch", "current", None),
        ("on-site service", "upcoming", None),
    ]
    assert document["expected"] == {
        "at": "2026-11-26T01:40:00+00:00",
        "text": "26 Nov 09:40",
        "stage_due_at": "2026-11-25T06:00:00+00:00",
        "completion_due_at": "2026-11-26T01:40:00+00:00",
    }
    assert document["fields"] == {"product": "rack server R650"}
    assert document["sms"] == {"length": len(document["text"]), "limit": 160, "encoding": "gsm7", "truncated": False}


#: What the command center knows of EC-1002 and its customer must not (the shipped
#: ruleset's names: policies, levels, rules, receivers, partners; the ticket's internal fields).
def _internal_names(ruleset: Any, ticket: Ticket) -> set[str]:
    names = {policy.name for policy in ruleset.policies}
    names |= {level.name for policy in ruleset.policies for level in policy.levels}
    names |= {rule.name for rule in ruleset.rules} | set(ruleset.receivers)
    names |= {str(action.route.provider) for rule in ruleset.rules for action in rule.then if action.route is not None}
    names |= {"response-missed", "resolution-late", "partner-manager", "L2"}  # tags and escalation the rules set
    fields = (ticket.customer, ticket.region, ticket.provider, ticket.tier, ticket.status, ticket.extra_fields["fault"])
    return names | {str(value) for value in fields if value is not None}


@pytest.fixture(scope="module")
def quick_start_state(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A state after the README's quick-start run (SQLite)."""
    state = f"sqlite:///{tmp_path_factory.mktemp('quick-start') / 'state.db'}"
    run_enterprise(state)
    return state


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("ticket_id", ["EC-1002", "EC-1011", "EC-1001", "EC-1007", "EC-1009"])
def test_the_shipped_ruleset_tells_no_customer_an_internal_name(
    quick_start_state: str, capsys: pytest.CaptureFixture[str], enterprise: Any, examples: dict[str, Ticket], lang: str, fmt: str, ticket_id: str
) -> None:
    out = _status(capsys, quick_start_state, ticket_id, "--lang", lang, "--format", fmt)
    assert ticket_id in out
    leaked = sorted(name for name in _internal_names(enterprise, examples[ticket_id]) if re.search(rf"(?<![A-Za-z]){re.escape(name)}(?![A-Za-z])", out))
    assert leaked == []


def test_status_of_a_ticket_no_run_has_seen_is_an_error(quick_start_state: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["status", "EC-9999", "--ruleset", str(ENTERPRISE), "--state", quick_start_state]) == EXIT_INVALID
    captured = capsys.readouterr()
    assert captured.out == "" and "no run has seen ticket EC-9999" in captured.err


def test_the_library_call_is_exported_and_reads_a_stored_state(enterprise: Any, examples: dict[str, Ticket]) -> None:
    """A stored state gives the assigned provider and the closing time a run saw; the view is the same as from the ticket."""
    ticket = examples["EC-1011"]
    state = TicketState("EC-1011", status="open", provider=None, routed_to="partner-east", facts=ticket.model_dump(mode="json"))
    from_state = spm_rules.customer_status(enterprise, state, shanghai(25, 14), "en")
    assert isinstance(from_state, spm_rules.CustomerStatus)
    assert from_state.text == customer_status(enterprise, ticket, shanghai(25, 14), "en").text
    assert from_state.text == "Request EC-1011: hotline call done 25 Nov 09:50; now engineer dispatch; expected completion by 26 Nov 09:30."


# -- situations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ticket_id", "when", "situation", "zh", "en"),
    [
        (
            "EC-1002",
            shanghai(26, 10),
            "late",
            "服务单EC-1002：热线受理11月25日10:00完成；当前派工，已晚于预计的11月26日09:40，我们正在加紧处理。",
            "Request EC-1002: hotline call done 25 Nov 10:00; now engineer dispatch; behind the expected 26 Nov 09:40, we are on it.",
        ),
        (
            "EC-1007",
            shanghai(25, 14),
            "waiting",
            "服务单EC-1007：热线受理11月25日08:10完成；当前派工，正在等待您的回复，回复后继续处理。",
            "Request EC-1007: hotline call done 25 Nov 08:10; now engineer dispatch; waiting for your reply to go on.",
        ),
        (
            "EC-1008",
            shanghai(25, 14),
            "on_track",
            "服务单EC-1008：热线受理11月25日07:10完成；派工11月25日08:50完成；当前上门服务，预计11月25日19:00前完成。",
            "Request EC-1008: hotline call done 25 Nov 07:10; engineer dispatch done 25 Nov 08:50; now on-site service; expected completion by 25 Nov 19:00.",
        ),
    ],
)
def test_each_situation_reads_plainly(
    enterprise: Any, examples: dict[str, Ticket], ticket_id: str, when: datetime, situation: str, zh: str, en: str
) -> None:
    views = {lang: customer_status(enterprise, examples[ticket_id], when, lang) for lang in ("zh", "en")}
    assert {view.situation for view in views.values()} == {situation}
    assert (views["zh"].text, views["en"].text) == (zh, en)
    assert not views["zh"].sms.truncated and views["zh"].sms.limit == 70


def test_a_closed_ticket_is_done_at_the_time_its_status_history_gives(enterprise: Any, examples: dict[str, Ticket]) -> None:
    history = [{"status": "open", "at": "2026-11-25T09:00:00+08:00"}, {"status": "first_call_resolved", "at": "2026-11-25T09:12:00+08:00"}]
    ticket = Ticket.model_validate(examples["EC-1009"].model_dump(mode="json") | {"status_history": history})
    view = customer_status(enterprise, ticket, shanghai(25, 14), "zh")
    assert view.situation == "done" and view.current is None
    assert view.text == "服务单EC-1009已于11月25日09:12完成，感谢您的耐心。"
    # Without a history, the time a run saw it closed.
    state = TicketState("EC-1009", status="first_call_resolved", closed_at=shanghai(25, 13, 5), archived=True, facts=examples["EC-1009"].model_dump(mode="json"))
    assert customer_status(enterprise, state, shanghai(25, 14), "en").text == "Request EC-1009 was completed on 25 Nov 13:05. Thank you for your patience."


def test_a_stage_no_policy_measures_is_in_progress_without_a_promise() -> None:
    ruleset = parse_ruleset(
        "version: 1\nname: plain\ntiers: {std: {}}\nstages: [intake, repair]\nterminal_statuses: [done]\n", "plain.yaml"
    )
    ticket = Ticket.model_validate({"id": "T-1", "tier": "std", "status": "open", "created_at": "2026-11-25T08:00:00Z", "stage_history": [{"stage": "intake", "entered_at": "2026-11-25T08:00:00Z"}]})
    view = customer_status(ruleset, ticket, datetime(2026, 11, 25, 9, tzinfo=timezone.utc), "en")
    assert (view.situation, view.expected_at, view.text) == ("in_progress", None, "Request T-1: now intake; in progress.")
    assert [step.state for step in view.steps] == ["current", "upcoming"]


def test_the_year_is_written_only_when_it_is_not_the_current_one(enterprise: Any, examples: dict[str, Ticket]) -> None:
    view = customer_status(enterprise, examples["EC-1002"], datetime(2027, 1, 2, tzinfo=timezone.utc), "en")
    assert "25 Nov 2026 10:00" in view.text and "26 Nov 2026 09:40" in view.text


# -- a ruleset's own words ----------------------------------------------------------------------

CUSTOM = """\
version: 1
name: custom
ticket_timezone: Asia/Shanghai
tiers: {P4: {response: 4h}}
stages: [hotline, dispatched, onsite]
terminal_statuses: [resolved]
policies:
  - {name: response, targets: {dispatched: response}, levels: [{name: red, at: 100%}]}
customer_status:
  public_fields: [fault, device.serial]
  stages:
    dispatched: {zh: 工程师已出发, en: engineer on the way}
  templates:
    en: "{id} ({fault}, serial {device.serial}): {stage} since {since}, by {stage_due}."
    zh:
      on_track: "{id}：{stage}，{stage_due}前到达。"
"""


def test_a_ruleset_publishes_its_own_fields_and_words() -> None:
    ruleset = parse_ruleset(CUSTOM, "custom.yaml")
    ticket = Ticket.model_validate(
        {
            "id": "T-7",
            "tier": "P4",
            "status": "open",
            "created_at": "2026-11-25T09:00:00+08:00",
            "stage_history": [{"stage": "hotline", "entered_at": "2026-11-25T09:00:00+08:00"}, {"stage": "dispatched", "entered_at": "2026-11-25T09:30:00+08:00"}],
            "fault": "PSU failure",
            "device": {"serial": "SN-42"},
            "notes": "customer is difficult",
        }
    )
    en = customer_status(ruleset, ticket, shanghai(25, 10), "en")
    assert en.text == "T-7 (PSU failure, serial SN-42): engineer on the way since 25 Nov 09:30, by 25 Nov 13:30."
    assert en.fields == {"product": None, "fault": "PSU failure", "device.serial": "SN-42"}
    zh = customer_status(ruleset, ticket, shanghai(25, 10), "zh")
    assert zh.text == "T-7：工程师已出发，11月25日13:30前到达。"
    assert "difficult" not in json.dumps(en.to_json()) + json.dumps(zh.to_json(), ensure_ascii=False)
    # Situations the ruleset leaves out keep the built-in template.
    late = customer_status(ruleset, ticket, shanghai(25, 15), "zh")
    assert late.text == "服务单T-7：hotline11月25日09:30完成；当前工程师已出发，已晚于预计的11月25日13:30，我们正在加紧处理。"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("customer_status: {public_fields: [provider]}", "'provider' is internal"),
        ("customer_status: {public_fields: [notes.private]}", "'notes.private' is internal"),
        ("customer_status: {public_fields: [stage]}", "'stage' is a built-in placeholder"),
        ("customer_status: {templates: {en: 'Ticket {id} with {provider}'}}", "unknown placeholder(s) provider"),
        ("customer_status: {templates: {en: 'Ticket {id'}}", "bad placeholder '{'"),
        ("customer_status: {templates: {fr: 'Billet {id}'}}", "customer_status.templates.fr"),
        ("customer_status: {stages: {dispatch: {en: on the way}}}", "unknown stage 'dispatch'"),
    ],
)
def test_a_ruleset_cannot_publish_an_internal_field_or_a_wrong_name(section: str, message: str) -> None:
    base = CUSTOM.split("customer_status:")[0]
    with pytest.raises(RulesetError) as caught:
        parse_ruleset(base + section + "\n", "custom.yaml")
    text = "\n".join(str(problem) for problem in caught.value.problems)
    assert message in text and "custom.yaml" in text


def test_every_field_of_a_ticket_is_marked_public_or_internal() -> None:
    assert set(Ticket.model_fields) <= set(FIELD_VISIBILITY)
    assert set(PUBLIC_FIELDS) == {"id", "product", "created_at", "stage", "stage_history"}


# -- one SMS ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "length", "limit", "encoding"),
    [
        ("a" * 160, 160, 160, "gsm7"),
        ("€" * 80, 160, 160, "gsm7"),  # the extension table costs two septets
        ("服" * 70, 70, 70, "ucs2"),
        ("a" * 69 + "服", 70, 70, "ucs2"),  # one character outside GSM makes it UCS-2
        ("😀" * 35, 70, 70, "ucs2"),  # outside the BMP: two UTF-16 units each
    ],
)
def test_sms_length_counts_as_a_phone_does(text: str, length: int, limit: int, encoding: str) -> None:
    assert sms_length(text) == (length, limit, encoding)
    assert fit_sms(text) == (text, fit_sms(text)[1]) and not fit_sms(text)[1].truncated


@pytest.mark.parametrize(
    ("text", "cut"),
    [
        ("a" * 161, "a" * 157 + "..."),
        ("€" * 81, "€" * 78 + "..."),
        ("服" * 71, "服" * 69 + "…"),
        ("😀" * 36, "😀" * 34 + "…"),
    ],
)
def test_a_text_too_long_for_one_sms_is_cut_with_an_ellipsis(text: str, cut: str) -> None:
    fitted, fit = fit_sms(text)
    assert fitted == cut and fit.truncated and fit.length <= fit.limit


LABEL = st.text(alphabet=st.sampled_from("abcdefgh ijk-服务维修工程师派遣上门"), min_size=1, max_size=40).filter(str.strip)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    labels=st.lists(LABEL, min_size=3, max_size=3),
    ticket_id=st.text(alphabet="ABCDEFG-0123456789服", min_size=1, max_size=40),
    visits=st.integers(min_value=1, max_value=6),
    hours=st.integers(min_value=0, max_value=60),
    lang=st.sampled_from(["zh", "en"]),
)
def test_the_text_always_fits_one_sms(labels: list[str], ticket_id: str, visits: int, hours: int, lang: str) -> None:
    stages = ["s1", "s2", "s3"]
    yaml = (
        "version: 1\nname: sms\ntiers: {std: {}}\nstages: [s1, s2, s3]\nterminal_statuses: [done]\n"
        "policies: [{name: e2e, clock: created, target: 1d, levels: [{name: late, at: 100%}]}]\n"
        "customer_status:\n  stages:\n" + "".join(f"    {stage}: {{zh: {json.dumps(label, ensure_ascii=False)}, en: {json.dumps(label, ensure_ascii=False)}}}\n" for stage, label in zip(stages, labels))
    )
    ruleset = parse_ruleset(yaml, "sms.yaml")
    start = datetime(2026, 11, 25, 8, tzinfo=timezone.utc)
    history = [{"stage": stages[index % 3], "entered_at": (start + timedelta(hours=index)).isoformat()} for index in range(visits)]
    ticket = Ticket.model_validate({"id": ticket_id, "tier": "std", "status": "open", "created_at": start.isoformat(), "stage_history": history})
    view = customer_status(ruleset, ticket, start + timedelta(hours=hours), lang)  # type: ignore[arg-type]
    length, limit, _ = sms_length(view.text)
    assert length <= limit and (view.sms.length, view.sms.limit) == (length, limit)
    assert view.sms.truncated == view.text.endswith(("...", "…"))
    assert view.text.startswith(("服务单", "Request"))


# -- no internal field leaks --------------------------------------------------------------------

#: Markers are made of letters no template, stage label or time uses in a row.
MARKER = st.text(alphabet="QXZJKVW", min_size=10, max_size=14).map(lambda text: "Qx" + text)
#: The public marker shares no character with the internal one, so neither contains the other.
PUBLIC_MARKER = st.text(alphabet="0123456789", min_size=8, max_size=12).map(lambda text: "pb" + text)

MARKED_RULESET = """\
version: 1
name: rs-MARK
ticket_timezone: Asia/Shanghai
tiers: {P4: {response: 4h}}
stages: [hotline, dispatched, onsite]
terminal_statuses: [resolved]
pausing_statuses: [waiting_customer]
policies:
  - name: pol-MARK
    targets: {dispatched: response}
    levels: [{name: lvl1-MARK, at: 75%}, {name: lvl2-MARK, at: 100%}, {name: lvl3-MARK, after_due: 2h}]
  - name: e2e-MARK
    clock: created
    target: 1d
    levels: [{name: lvl4-MARK, at: 100%}]
rules:
  - name: rule-MARK
    when: {field: sla.level, eq: lvl2-MARK}
    then: [{notify: [rcv-MARK]}, {tag: tag-MARK}, {escalate: {to: role-MARK, level: esc-MARK}}]
receivers:
  rcv-MARK: {urls: ["console://rcv-MARK"]}
"""


@settings(max_examples=40, deadline=None)
@given(
    marker=MARKER,
    public=PUBLIC_MARKER,
    status=st.sampled_from(["open", "waiting_customer", "resolved", "in-progress-MARK"]),
    stages=st.integers(min_value=1, max_value=3),
    hours=st.integers(min_value=0, max_value=40),
    closed=st.booleans(),
)
def test_no_internal_field_reaches_the_customer(marker: str, public: str, status: str, stages: int, hours: int, closed: bool) -> None:
    """Every internal field and every ruleset name carries the marker; the public product
    carries another, which must appear (so the view is not simply empty)."""
    ruleset = parse_ruleset(MARKED_RULESET.replace("MARK", marker), "marked.yaml")
    start = datetime(2026, 11, 25, 1, tzinfo=timezone.utc)
    history = [{"stage": stage, "entered_at": (start + timedelta(minutes=30 * index)).isoformat()} for index, stage in enumerate(["hotline", "dispatched", "onsite"][:stages])]
    status = status.replace("MARK", marker)
    facts = {
        "id": "T-1",
        "tier": "P4",
        "status": status,
        "created_at": start.isoformat(),
        "stage_history": history,
        "status_history": [{"status": "open", "at": start.isoformat()}, {"status": status, "at": (start + timedelta(minutes=40)).isoformat()}],
        "region": f"region-{marker}",
        "provider": f"reported-{marker}",
        "customer": f"customer-{marker}",
        "product": f"product-{public}",
        "notes": f"notes-{marker}",
        "contact": {"phone": f"phone-{marker}", "name": f"name-{marker}"},
        "fault": f"fault-{marker}",
        "tags": [f"tag-{marker}"],
    }
    ticket = Ticket.model_validate(facts)
    state = TicketState(
        "T-1",
        status=status,
        provider=f"reported-{marker}",
        routed_to=f"assigned-{marker}",
        region=f"region-{marker}",
        customer=f"customer-{marker}",
        tier="P4",
        levels={f"pol-{marker}": f"lvl2-{marker}"},
        tags=(f"tag-{marker}",),
        closed_at=start + timedelta(hours=hours) if closed else None,
        facts=ticket.model_dump(mode="json"),
    )
    now = start + timedelta(hours=hours)
    for lang in ("zh", "en"):
        for source in (ticket, state):
            view = customer_status(ruleset, source, now, lang)  # type: ignore[arg-type]
            shown = view.text + json.dumps(view.to_json(), ensure_ascii=False)
            assert marker not in shown
            assert public in json.dumps(view.to_json()["fields"])
