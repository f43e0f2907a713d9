"""Silences: time-bounded matchers from the ruleset and from stored records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spm_rules.alerting import AlertPipeline, silence_from_record
from spm_rules.alerting.matchers import LabelMatcher
from spm_rules.alerting.silences import Silence, SilenceIndex, silenced_by
from tests.alerting.helpers import NOW, note, ruleset_with
from tests.fixtures.servers import HttpServer

START = datetime(2026, 11, 25, 0, 0, tzinfo=timezone(timedelta(hours=8)))
END = START + timedelta(hours=6)

RULESET_SILENCE = """\
silences:
  - matchers: ['provider="partner-east"']
    starts_at: 2026-11-25T00:00:00+08:00
    ends_at: 2026-11-25T06:00:00+08:00
    comment: partner-east maintenance window
    created_by: ops
"""


@dataclass
class StoredSilence:
    """The shape of the state store's silence record (an object, matchers decoded)."""

    id: str
    matchers: list[dict]
    starts_at: datetime
    ends_at: datetime
    comment: str = ""
    created_by: str = ""
    extra: dict = field(default_factory=dict)


@pytest.mark.parametrize(
    ("at", "active"),
    [
        (START - timedelta(microseconds=1), False),
        (START, True),  # starts_at is inclusive
        (END - timedelta(microseconds=1), True),
        (END, False),  # ends_at is exclusive
    ],
)
def test_a_ruleset_silence_is_active_from_start_to_end(at: datetime, active: bool) -> None:
    pipeline = AlertPipeline(ruleset_with("receivers: {ops: {urls: ['console://']}}\n" + RULESET_SILENCE))
    plan = pipeline.plan([note(receivers=("ops",))], at)
    assert (plan.decided.get("EC-1|response|red|1") is not None) is active
    if active:
        outcome = plan.decided["EC-1|response|red|1"]
        assert (outcome.status, outcome.detail) == ("silenced", "silenced by ruleset:0: partner-east maintenance window")


@pytest.mark.parametrize(
    "record",
    [
        {"id": "s1", "matchers": '[{"name": "level", "value": "yel.*", "isRegex": true, "isEqual": true}]', "starts_at": "2026-11-25T05:00:00Z", "ends_at": "2026-11-25T07:00:00+00:00"},
        StoredSilence("s1", [{"name": "level", "value": "yel.*", "isRegex": True, "isEqual": True}], NOW - timedelta(hours=1), NOW + timedelta(hours=1)),
        # SQLite hands back naive UTC
        {"id": "s1", "matchers": [{"name": "level", "value": "yel.*", "isRegex": True, "isEqual": True}], "starts_at": datetime(2026, 11, 25, 5), "ends_at": datetime(2026, 11, 25, 7)},
    ],
    ids=["mapping-json", "object-list", "naive-utc"],
)
def test_store_records_in_any_shape(record: object) -> None:
    silence = silence_from_record(record)
    assert silence.active(NOW)
    assert silence.matches({"level": "yellow"}) and not silence.matches({"level": "red"})


def test_a_broken_store_record_is_skipped_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    broken = {"id": "bad", "matchers": "not json", "starts_at": NOW, "ends_at": NOW + timedelta(hours=1)}
    pipeline = AlertPipeline(ruleset_with("receivers: {ops: {urls: ['console://']}}\n"), silences=[broken])
    assert pipeline.silences_at(NOW) == []
    assert "ignoring a stored silence: silence bad: bad matchers" in caplog.text


def test_silenced_notifications_are_not_delivered_the_others_are(http_server: HttpServer) -> None:
    inside = START + timedelta(hours=1)
    stored = StoredSilence("s-42", [{"name": "ticket", "value": "EC-3", "isRegex": False, "isEqual": True}], START, END, "customer asked")
    ruleset = ruleset_with(f"receivers: {{ops: {{urls: ['{http_server.json_url('ops')}']}}}}\n" + RULESET_SILENCE)
    pipeline = AlertPipeline(ruleset, silences=lambda now: [stored])
    batch = [
        note("EC-1", provider="partner-east", receivers=("ops",)),
        note("EC-2", provider="partner-west", receivers=("ops",)),
        note("EC-3", provider="partner-west", receivers=("ops",)),
    ]
    outcomes = [(o.key.split("|")[0], o.status, o.detail) for o in pipeline.deliver(batch, inside)]
    assert outcomes == [
        ("EC-1", "silenced", "silenced by ruleset:0: partner-east maintenance window"),
        ("EC-2", "sent", "sent to ops"),
        ("EC-3", "silenced", "silenced by s-42: customer asked"),
    ]
    assert [r.json()["title"] for r in http_server.requests] == ["[red] EC-2 · partner-west"]
    # once both silences have ended, the same notifications go out
    assert [o.status for o in pipeline.deliver([batch[0], batch[2]], END)] == ["sent", "sent"]
    assert len(http_server.requests) == 2


_NAMES = ("provider", "level", "region")
_VALUES = ("", "a", "b")
_MATCHER = st.builds(LabelMatcher, name=st.sampled_from(_NAMES), op=st.sampled_from(["=", "!=", "=~", "!~"]), value=st.sampled_from([*_VALUES, "a|b"]))
_LABELS = st.dictionaries(st.sampled_from(_NAMES), st.sampled_from(_VALUES[1:]))


@given(st.lists(st.lists(_MATCHER, max_size=3), max_size=6), st.lists(_LABELS, min_size=1, max_size=5))
@settings(max_examples=200, deadline=None)
def test_the_silence_index_finds_what_a_scan_of_every_silence_finds(matcher_lists: list, label_sets: list) -> None:
    silences = [Silence(f"s{index}", tuple(matchers), START, END) for index, matchers in enumerate(matcher_lists)]
    index = SilenceIndex(silences)
    for labels in label_sets:
        assert index.first(labels) == silenced_by(silences, labels)
