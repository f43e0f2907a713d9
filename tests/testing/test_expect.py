"""Comparing a step's expectations with what happened (pure): each difference is one
failure saying what was expected and what was got, and matching expected notifications to
sent messages never depends on the order either is listed in."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spm_rules import Engine, Ticket, load_ruleset
from spm_rules.testing.expect import SentMessage, check_step, describe_expected, match_messages, message_mismatches
from spm_rules.testing.model import DecisionExpectation, NotificationExpectation
from spm_rules.testing.suite import ExpectedLevel, ExpectedMessage, ExpectedTicket, Step
from tests.fixtures.processes import ROOT

UTC = timezone.utc
START = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
RED = SentMessage(
    "command-center",
    "RED EC-1 Northern Grid",
    "EC-1 [red] P2 Northern Grid: disk array degraded\n  partner partner-north",
    {"provider": "partner-north", "level": "red"},
    ("escalation",),
    ("EC-1",),
)


def _expect(**fields: object) -> NotificationExpectation:
    return NotificationExpectation.model_validate(fields)


@pytest.mark.parametrize(
    ("fields", "differences"),
    [
        ({"receiver": "command-center"}, []),
        ({"receiver": "partner-desk"}, [("receiver", "partner-desk", "command-center")]),
        ({"kind": "escalation", "title": "RED EC-1 Northern Grid"}, []),
        ({"kind": "repeat"}, [("kind", "repeat", "escalation")]),
        ({"kind": ["escalation"]}, []),
        ({"title": "YELLOW EC-1 Northern Grid"}, [("title", "'YELLOW EC-1 Northern Grid'", "'RED EC-1 Northern Grid'")]),
        ({"group": {"level": "red"}}, []),
        ({"group": {"level": "yellow", "region": "north"}}, [("group.level", "yellow", "red"), ("group.region", "north", "(no such group label)")]),
        ({"body": "partner partner-north"}, []),
        ({"body": ["disk array degraded", "used 2h"]}, [("body", "a body with 'used 2h'", "a body without it")]),
        ({"tickets": ["EC-1"]}, []),
        ({"tickets": ["EC-1", "EC-2"]}, [("tickets", "EC-1, EC-2", "EC-1")]),
    ],
)
def test_only_the_written_fields_of_an_expected_notification_are_compared(fields: dict[str, object], differences: list[tuple[str, str, str]]) -> None:
    assert message_mismatches(_expect(**fields), RED) == differences


def test_an_expected_notification_and_a_message_read_as_one_line() -> None:
    assert describe_expected(_expect(receiver="duty-manager", kind="repeat", title="T", group={"level": "red"}, tickets=[], body=["x"])) == (
        "receiver duty-manager, kind repeat, title 'T', group level=red, tickets none, body with 'x'"
    )
    assert RED.describe() == "command-center · escalation · 'RED EC-1 Northern Grid' · group provider=partner-north, level=red · tickets EC-1"


RECEIVERS = ["a", "b"]
TITLES = ["x", "y"]
sent_messages = st.lists(st.builds(lambda r, t: SentMessage(r, t, "", {}, ("escalation",), ()), st.sampled_from(RECEIVERS), st.sampled_from(TITLES)), max_size=4)
expectations = st.lists(
    st.tuples(st.sampled_from([None, *RECEIVERS]), st.sampled_from([None, *TITLES]))
    .filter(lambda fields: fields != (None, None))
    .map(lambda fields: _expect(**{k: v for k, v in zip(("receiver", "title"), fields) if v is not None})),
    max_size=4,
)


def _best(expected: list[NotificationExpectation], sent: list[SentMessage]) -> int:
    """The largest matching of ``expected`` (no longer than ``sent``), by trying every assignment (the oracle)."""
    return max(
        (sum(not message_mismatches(spec, sent[j]) for spec, j in zip(expected, chosen)) for chosen in itertools.permutations(range(len(sent)), len(expected))),
        default=0,
    )


@settings(max_examples=200, deadline=None)
@given(expectations, sent_messages, st.randoms())
def test_matching_finds_the_largest_one_to_one_matching_in_any_order(expected: list[NotificationExpectation], sent: list[SentMessage], rnd: object) -> None:
    matched = match_messages(expected, sent)
    assert len(set(matched.values())) == len(matched)
    assert all(not message_mismatches(expected[i], sent[j]) for i, j in matched.items())
    shuffled_expected, shuffled_sent = list(expected), list(sent)
    rnd.shuffle(shuffled_expected)  # type: ignore[attr-defined]
    rnd.shuffle(shuffled_sent)  # type: ignore[attr-defined]
    assert len(match_messages(shuffled_expected, shuffled_sent)) == len(matched)
    if len(expected) <= len(sent):
        assert len(matched) >= _best(expected, sent)


def _result(ticket: dict[str, object], minutes: int):  # type: ignore[no-untyped-def]
    engine = Engine(load_ruleset(ROOT / "rulesets" / "enterprise-command-center.yaml"), "python")
    (result,) = engine.evaluate([Ticket.model_validate(ticket)], START + timedelta(minutes=minutes))
    return result


EC1 = {
    "id": "EC-1",
    "tier": "P2",
    "status": "open",
    "region": "north",
    "product_line": "rack",
    "created_at": START.isoformat(),
    "stage_history": [{"stage": "hotline", "entered_at": START.isoformat()}, {"stage": "dispatched", "entered_at": (START + timedelta(minutes=15)).isoformat()}],
}


def _step(tickets: tuple[ExpectedTicket, ...] = (), notifications: tuple[ExpectedMessage, ...] | None = None, exactly: bool = False) -> Step:
    return Step(2, START + timedelta(minutes=105), "+1h45m", 20, tickets=tickets, notifications=notifications, exactly=exactly)


def test_a_ticket_that_does_what_is_written_passes() -> None:
    result = _result(EC1, 105)
    expected = ExpectedTicket(
        "EC-1",
        {"response": ExpectedLevel("yellow", START + timedelta(minutes=135), False), "resolution": ExpectedLevel("ok")},
        "partner-north",
        (DecisionExpectation(rule="dispatch-request", action="route", arguments={"provider": "partner-north"}), DecisionExpectation(rule="response-yellow")),
        21,
    )
    assert check_step(_step((expected,)), "+1h45m", {"EC-1": result}, [], UTC) == []


def test_each_difference_of_a_ticket_is_one_failure_with_expected_and_got() -> None:
    result = _result(EC1, 105)
    expected = ExpectedTicket(
        "EC-1",
        {"response": ExpectedLevel("red", START + timedelta(minutes=120), True, 22), "resolution": ExpectedLevel(None, line=23)},
        "partner-east",
        (DecisionExpectation(rule="response-red"),),
        21,
    )
    failures = check_step(_step((expected,)), "+1h45m", {"EC-1": result}, [], UTC)
    assert [(f.subject, f.what, f.expected, f.got, f.line) for f in failures] == [
        ("ticket EC-1", "levels.response", "red", "yellow", 22),
        ("ticket EC-1", "levels.response.due", "2026-11-25T02:00+00:00", "2026-11-25T02:15+00:00", 22),
        ("ticket EC-1", "levels.response.paused", "true", "false", 22),
        ("ticket EC-1", "levels.resolution", "not measured", "ok", 23),
        ("ticket EC-1", "provider", "partner-east", "partner-north", 21),
        (
            "ticket EC-1",
            "decisions",
            "a decision of rule response-red",
            "dispatch-request route provider=partner-north strategy=least_open reason=the only eligible provider\n"
            'response-yellow notify receivers=["partner-desk"]',
            21,
        ),
    ]
    assert {f.at for f in failures} == {"+1h45m"} and {f.step for f in failures} == {2}


def test_an_empty_decision_list_means_none_is_taken() -> None:
    failures = check_step(_step((ExpectedTicket("EC-1", {}, ExpectedTicket.UNSET, (), 21),)), "+1h45m", {"EC-1": _result(EC1, 105)}, [], UTC)
    assert [(f.what, f.expected) for f in failures] == [("decisions", "no decision")]


def test_a_missing_notification_shows_the_closest_message_and_what_was_sent() -> None:
    yellow = SentMessage("partner-desk", "YELLOW EC-1 Northern Grid", "", {"provider": "partner-north", "level": "yellow"}, ("escalation",), ("EC-1",))
    expected = (ExpectedMessage(_expect(receiver="command-center", title="YELLOW EC-1 Northern Grid"), 0, 30),)
    (failure,) = check_step(_step(notifications=expected), "+1h45m", {}, [RED, yellow], UTC)
    assert (failure.subject, failure.what, failure.line) == ("notifications", "expected notification 1", 30)
    assert failure.expected == "receiver command-center, title 'YELLOW EC-1 Northern Grid'"
    assert failure.got == "no message matches"
    assert failure.detail == (
        f"closest: {RED.describe()}",
        "  title:",
        "    expected: 'YELLOW EC-1 Northern Grid'",
        "    got:      'RED EC-1 Northern Grid'",
        "sent at this step:",
        f"  {RED.describe()}",
        f"  {yellow.describe()}",
    )


@pytest.mark.parametrize(
    ("written", "exactly", "unexpected"),
    [([], False, 1), ([{"receiver": "command-center"}], False, 0), ([{"receiver": "command-center"}], True, 0), ([{"title": "RED EC-1 Northern Grid"}], True, 0)],
)
def test_other_messages_fail_only_with_exactly_or_an_empty_list(written: list[dict[str, str]], exactly: bool, unexpected: int) -> None:
    extra = SentMessage("partner-desk", "RED EC-1 Northern Grid", "", {}, ("escalation",), ("EC-1",))
    sent = [RED] if not written or not exactly else [RED, extra]
    expected = tuple(ExpectedMessage(_expect(**fields), i, 30 + i) for i, fields in enumerate(written))
    failures = check_step(_step(notifications=expected, exactly=exactly), "+1h45m", {}, sent, UTC)
    if exactly and written:
        assert [(f.what, f.expected, f.got) for f in failures] == [("unexpected message", "no other message (exactly: true)", extra.describe())]
    else:
        assert [f.what for f in failures] == ["unexpected message"] * unexpected
        assert all(f.expected == "nothing sent at this step" for f in failures)


def test_nothing_expected_about_notifications_checks_none() -> None:
    assert check_step(_step(), "+1h45m", {}, [RED], UTC) == []
