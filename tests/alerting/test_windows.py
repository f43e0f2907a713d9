"""Active windows: outside its hours a receiver is held until they begin, unless urgent."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from spm_rules.alerting import AlertPipeline
from tests.alerting.helpers import note, ruleset_with
from tests.fixtures.servers import HttpServer

CST = timezone(timedelta(hours=8))


def _ruleset(server: HttpServer):  # noqa: ANN202
    return ruleset_with(
        f"""\
        calendars:
          berlin-office: {{timezone: Europe/Berlin, hours: {{mon-fri: ["09:00-17:00"]}}}}
        receivers:
          station:
            urls: ["{server.json_url('station')}"]
            active: {{timezone: Asia/Shanghai, hours: {{mon-sat: ["08:30-18:00"]}}, holidays: ["2026-12-01"]}}
          berlin:
            urls: ["{server.json_url('berlin')}"]
            active: berlin-office
          always:
            urls: ["{server.json_url('always')}"]
        """
    )


@pytest.mark.parametrize(
    ("at", "status", "retry_at"),
    [
        (datetime(2026, 11, 25, 10, 0, tzinfo=CST), "sent", None),  # Wednesday 10:00
        (datetime(2026, 11, 25, 23, 30, tzinfo=CST), "held", datetime(2026, 11, 26, 8, 30, tzinfo=CST)),  # at night
        (datetime(2026, 11, 28, 18, 0, tzinfo=CST), "held", datetime(2026, 11, 30, 8, 30, tzinfo=CST)),  # Saturday close to Monday
        (datetime(2026, 11, 30, 19, 0, tzinfo=CST), "held", datetime(2026, 12, 2, 8, 30, tzinfo=CST)),  # over a holiday
    ],
)
def test_station_hours(http_server: HttpServer, at: datetime, status: str, retry_at: datetime | None) -> None:
    (outcome,) = AlertPipeline(_ruleset(http_server)).deliver([note(receivers=("station",))], at)
    assert (outcome.status, outcome.retry_at) == (status, retry_at)
    assert len(http_server.requests) == (1 if status == "sent" else 0)


def test_a_named_calendar_in_its_own_zone(http_server: HttpServer) -> None:
    at = datetime(2026, 11, 25, 15, 0, tzinfo=CST)  # 08:00 in Berlin
    (outcome,) = AlertPipeline(_ruleset(http_server)).deliver([note(receivers=("berlin",))], at)
    assert outcome.status == "held"
    assert outcome.retry_at == datetime(2026, 11, 25, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    assert outcome.detail == "held: outside the active hours of berlin until 2026-11-25T08:00:00+00:00"


def test_urgent_levels_and_meta_alerts_bypass_windows(http_server: HttpServer) -> None:
    night = datetime(2026, 11, 25, 23, 30, tzinfo=CST)
    batch = [note("EC-1", "escalate", receivers=("station",), urgent=True), note("EC-2", "red", receivers=("station",), kind="meta")]
    outcomes = AlertPipeline(_ruleset(http_server)).deliver(batch, night)
    assert [o.status for o in outcomes] == ["sent", "sent"]
    assert len(http_server.requests) == 1  # both in one group message


def test_open_receivers_get_it_now_the_closed_one_later(http_server: HttpServer) -> None:
    night = datetime(2026, 11, 25, 23, 30, tzinfo=CST)
    (outcome,) = AlertPipeline(_ruleset(http_server)).deliver([note(receivers=("station", "always"))], night)
    assert outcome.status == "held"
    assert outcome.retry_at == datetime(2026, 11, 26, 8, 30, tzinfo=CST)
    assert outcome.detail == "held for station until 2026-11-26T00:30:00+00:00; sent to always"
    assert [r.path for r in http_server.requests] == ["/always"]
