"""One notification, several receivers: each receiver gets each key once.

Delivery can succeed for one receiver and fail (or be held) for another.  The outcome
names the receivers that have the key (``delivered_to``); handed back with the retry,
they are skipped, so the retry reaches only the others.  Over loopback HTTP, no mocks.

The receivers post to paths of one recording server, except ``flaky`` where a test
scripts a 500: each receiver has its own concurrency slots, so sends to two receivers run
at once and only a server of its own answers ``flaky`` predictably.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from spm_rules.alerting import AlertPipeline
from spm_rules.ruleset.schema import Ruleset
from tests.alerting.helpers import NOW, note, ruleset_with
from tests.fixtures.servers import HttpServer, serve_http

CST = timezone(timedelta(hours=8))
#: Wednesday 23:30 in Shanghai: the station is closed until Thursday 08:30.
NIGHT = datetime(2026, 11, 25, 23, 30, tzinfo=CST)
MORNING = datetime(2026, 11, 26, 8, 30, tzinfo=CST)


def _ruleset(server: HttpServer, flaky: HttpServer | None = None) -> Ruleset:
    return ruleset_with(
        f"""\
        receivers:
          flaky: {{urls: ["{(flaky or server).json_url('flaky')}"]}}
          good: {{urls: ["{server.json_url('good')}"]}}
          station:
            urls: ["{server.json_url('station')}"]
            active: {{timezone: Asia/Shanghai, hours: {{mon-sat: ["08:30-18:00"]}}}}
        route: {{receiver: good, group_by: [provider]}}
        """,
        delivery="{timeout: 3s, concurrency: 1}",
    )


def _paths(server: HttpServer) -> list[str]:
    return [request.path for request in server.requests]


def test_a_failed_receiver_is_retried_alone(http_server: HttpServer) -> None:
    with serve_http() as flaky:
        flaky.responses = [500, 200]
        pipeline = AlertPipeline(_ruleset(http_server, flaky))
        sent = note("EC-1", receivers=("flaky", "good"))

        (first,) = pipeline.deliver([sent], NOW)
        assert (first.status, first.delivered_to) == ("failed", ("good",))
        assert first.detail.startswith(f"flaky json://127.0.0.1:{flaky.port}/flaky: ")
        assert first.detail.endswith("; sent to good")

        (second,) = pipeline.deliver([replace(sent, delivered_to=first.delivered_to)], NOW + timedelta(minutes=1))
        assert (second.status, second.detail, second.delivered_to) == ("sent", "sent to flaky; already sent to good", ("good", "flaky"))
        assert (_paths(flaky), _paths(http_server)) == (["/flaky", "/flaky"], ["/good"])


def test_a_held_receiver_gets_it_when_its_window_opens_and_the_open_one_only_once(http_server: HttpServer) -> None:
    pipeline = AlertPipeline(_ruleset(http_server))
    sent = note("EC-1", receivers=("station", "good"))

    (first,) = pipeline.deliver([sent], NIGHT)
    assert (first.status, first.retry_at, first.delivered_to) == ("held", MORNING, ("good",))
    assert _paths(http_server) == ["/good"]

    # Before the window opens only the station is left, so nothing is sent at all.
    (early,) = pipeline.deliver([replace(sent, delivered_to=first.delivered_to)], NIGHT + timedelta(hours=1))
    assert (early.status, early.retry_at, early.delivered_to) == ("held", MORNING, ("good",))
    assert early.detail == "held: outside the active hours of station until 2026-11-26T00:30:00+00:00; already sent to good"
    assert _paths(http_server) == ["/good"]

    (opened,) = pipeline.deliver([replace(sent, delivered_to=early.delivered_to)], MORNING)
    assert (opened.status, opened.detail, opened.delivered_to) == ("sent", "sent to station; already sent to good", ("good", "station"))
    assert _paths(http_server) == ["/good", "/station"]


def test_a_key_every_receiver_has_is_sent_without_a_send(http_server: HttpServer) -> None:
    (outcome,) = AlertPipeline(_ruleset(http_server)).deliver([replace(note(receivers=("flaky", "good")), delivered_to=("good", "flaky"))], NOW)
    assert (outcome.status, outcome.detail, outcome.delivered_to) == ("sent", "already sent to good, flaky", ("good", "flaky"))
    assert http_server.requests == []


def test_a_receiver_that_has_the_key_is_skipped_even_if_the_ruleset_dropped_it(http_server: HttpServer) -> None:
    (outcome,) = AlertPipeline(_ruleset(http_server)).deliver([replace(note(receivers=("retired", "good")), delivered_to=("retired",))], NOW)
    assert (outcome.status, outcome.detail, outcome.delivered_to) == ("sent", "sent to good; already sent to retired", ("retired", "good"))
    assert _paths(http_server) == ["/good"]


def test_a_group_message_lists_only_the_notifications_its_receiver_lacks(http_server: HttpServer) -> None:
    batch = [replace(note("EC-1"), delivered_to=("good",)), note("EC-2")]
    outcomes = AlertPipeline(_ruleset(http_server)).deliver(batch, NOW)
    assert [(o.key, o.status, o.delivered_to) for o in outcomes] == [
        ("EC-1|response|red|1", "sent", ("good",)),
        ("EC-2|response|red|1", "sent", ("good",)),
    ]
    (request,) = http_server.requests
    assert request.json()["title"] == "[red] EC-2 · partner-east"


def test_silences_still_settle_the_whole_key_and_keep_who_has_it(http_server: HttpServer) -> None:
    maintenance = {
        "id": "m1",
        "matchers": [{"name": "provider", "value": "partner-east", "isRegex": False, "isEqual": True}],
        "starts_at": NOW - timedelta(hours=1),
        "ends_at": NOW + timedelta(hours=1),
    }
    pipeline = AlertPipeline(_ruleset(http_server), silences=[maintenance])
    (outcome,) = pipeline.deliver([replace(note(receivers=("flaky", "good")), delivered_to=("good",))], NOW)
    assert (outcome.status, outcome.delivered_to) == ("silenced", ("good",))
    assert http_server.requests == []
