"""The command center's wallboard (``spm-rules board``): colours, urgency order, counts,
the page, its server, and the page in a real headless browser."""

from __future__ import annotations

import functools
import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spm_rules.cli import EXIT_INVALID, EXIT_OK, EXIT_USAGE, main
from spm_rules.clock.status import SlaStatus
from spm_rules.engine import Engine
from spm_rules.errors import StateError
from spm_rules.reports.board import COLOR_STYLES, BoardData, board_data, level_color, read_board, render_page
from spm_rules.reports.board_server import BoardServer
from spm_rules.ruleset.loader import load_ruleset, parse_ruleset
from spm_rules.sources.files import read_tickets
from spm_rules.state.records import TicketState
from spm_rules.state.store import Store
from spm_rules.tickets import Ticket
from tests.fixtures.browser import BrowserPage
from tests.fixtures.processes import ROOT
from tests.reports.helpers import ENTERPRISE, EXAMPLES, run_enterprise
from tests.state.helpers import restore_spm_logger  # noqa: F401 (autouse fixture)

SHANGHAI = timezone(timedelta(hours=8))
AT_14 = datetime(2026, 11, 25, 14, tzinfo=SHANGHAI)

#: The quick-start board at 14:00, worked out by hand from examples/enterprise-tickets.jsonl.
#: Escalated (2 h past the response level): EC-1001 (P2, dispatched 08:20, due 10:20, 3h40m
#: over), EC-1003 (P4, 07:00, due 11:00, 3h over), EC-1010 (P6, 05:30, due 11:30, 2h30m
#: over).  Red: EC-1011 (P4, 09:50, due 13:50, 10m over; routed to partner-east by its
#: region), EC-1002 (P4, 10:00, due 14:00: due now).  Ok, least time left first: EC-1005
#: (P2, 13:25, due 15:25; core server, routed to maker-engineers), EC-1006 (P4, 12:45, due
#: 16:45), EC-1007 (P4, 50 min used before its pause: 3h10m left, paused), EC-1004 (P6,
#: 12:10, due 18:10), EC-1008 (on site; its 12 h resolution from 07:00 is due 19:00).
#: EC-1009 was resolved on the first call: not on the board.
QUICK_START_BOARD = [
    ("EC-1001", "escalated", "partner-north", "3h40m over"),
    ("EC-1003", "escalated", "partner-south", "3h over"),
    ("EC-1010", "escalated", "partner-central", "2h30m over"),
    ("EC-1011", "red", "partner-east", "10m over"),
    ("EC-1002", "red", "partner-east", "due now"),
    ("EC-1005", "ok", "maker-engineers", "1h25m left"),
    ("EC-1006", "ok", "partner-north", "2h45m left"),
    ("EC-1007", "ok", "partner-east", "paused 3h10m"),
    ("EC-1004", "ok", "partner-west", "4h10m left"),
    ("EC-1008", "ok", "partner-north", "5h left"),
]
QUICK_START_ORDER = [ticket_id for ticket_id, *_ in QUICK_START_BOARD]


@pytest.fixture(scope="module")
def enterprise() -> Any:
    return load_ruleset(ENTERPRISE)


def _rows(data: BoardData) -> list[tuple[str, str, str, str]]:
    return [(row["id"], row["color"], row["provider"], row["remaining_text"]) for row in data.to_json()["rows"]]


# -- colours ------------------------------------------------------------------------------------

LEVELS = {
    "enterprise": "[{name: yellow, at: 75%}, {name: red, at: 100%}, {name: escalate, after_due: 2h}]",
    "repair": "[{name: reminder, at: 75%}, {name: overdue, at: 100%}, {name: escalate, at: 150%}]",
    "late-only": "[{name: late, at: 100%}]",
    "no-100": "[{name: warn, before_due: 1h}, {name: chase, after_due: 1h}, {name: boss, after_due: 3h}]",
    "written-out-of-order": "[{name: boss, at: 200%}, {name: warn, at: 50%}, {name: due, at: 100%}]",
}


def _status(policy: str, level: str | None, target: timedelta = timedelta(hours=4)) -> SlaStatus:
    start = datetime(2026, 11, 25, tzinfo=timezone.utc)
    return SlaStatus(policy, "dispatched", "P4", "24x7", start, target, target, timedelta(0), None, level, 0, None, None, False, ())


def _policy(levels: str, colors: str = "{}") -> Any:
    yaml = (
        "version: 1\nname: colours\ntiers: {P4: {}}\nstages: [dispatched]\nterminal_statuses: [done]\n"
        f"policies: [{{name: p, targets: {{dispatched: 4h}}, levels: {levels}}}]\nboard: {{colors: {colors}}}\n"
    )
    ruleset = parse_ruleset(yaml, "colours.yaml")
    return ruleset.policies[0], ruleset.board.colors


@pytest.mark.parametrize(
    ("levels", "level", "color"),
    [
        ("enterprise", None, "ok"),
        ("enterprise", "yellow", "yellow"),
        ("enterprise", "red", "red"),
        ("enterprise", "escalate", "escalated"),
        ("repair", "reminder", "yellow"),
        ("repair", "overdue", "red"),
        ("repair", "escalate", "escalated"),
        ("late-only", "late", "red"),
        ("no-100", "warn", "yellow"),
        ("no-100", "chase", "red"),
        ("no-100", "boss", "escalated"),
        ("written-out-of-order", "warn", "yellow"),
        ("written-out-of-order", "due", "red"),
        ("written-out-of-order", "boss", "escalated"),
    ],
)
def test_each_level_has_the_colour_of_where_it_stands_against_the_due_time(levels: str, level: str | None, color: str) -> None:
    policy, overrides = _policy(LEVELS[levels])
    assert level_color(policy, _status("p", level), overrides) == color


def test_a_ruleset_maps_level_names_to_colours_itself() -> None:
    policy, overrides = _policy(LEVELS["enterprise"], "{red: escalated, yellow: ok}")
    assert [level_color(policy, _status("p", level), overrides) for level in ("yellow", "red", "escalate")] == ["ok", "escalated", "escalated"]


@pytest.mark.parametrize(
    ("colors", "message"),
    [("{redd: red}", "unknown level 'redd'"), ("{red: crimson}", "board.colors.red")],
)
def test_board_colours_name_known_levels_and_colours(colors: str, message: str) -> None:
    from spm_rules.errors import RulesetError

    with pytest.raises(RulesetError) as caught:
        _policy(LEVELS["enterprise"], colors)
    assert message in "\n".join(str(problem) for problem in caught.value.problems)


# -- the shipped ruleset through the state ------------------------------------------------------


def test_the_quick_start_board_puts_escalated_and_red_first_with_the_assigned_partners(state_url: str, enterprise: Any) -> None:
    run_enterprise(state_url)
    with Store(state_url) as store:
        data = read_board(store, enterprise, AT_14)
        assert store.last_run_at() == AT_14
    assert _rows(data) == QUICK_START_BOARD
    counts = data.counts()
    assert counts["levels"] == {"escalated": 3, "red": 2, "yellow": 0, "ok": 5}
    assert counts["providers"]["partner-east"] == {"total": 3, "escalated": 0, "red": 2, "yellow": 0, "ok": 1}
    assert list(counts["providers"]) == sorted(counts["providers"])
    document = data.to_json()
    assert (document["as_of_text"], document["timezone"], document["refresh"]) == ("2026-11-25 14:00", "Asia/Shanghai", 15)
    assert [row["due"] for row in document["rows"][:5]] == ["10:20", "11:00", "11:30", "13:50", "14:00"]


def test_the_board_follows_the_state_closed_tickets_leave_and_acknowledgements_show(tmp_path: Path, enterprise: Any) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    run_enterprise(state)
    tickets = [json.loads(line) for line in EXAMPLES.read_text(encoding="utf-8").splitlines()]
    for item in tickets:
        if item["id"] == "EC-1003":
            item["status"] = "resolved"
    later = tmp_path / "later.jsonl"
    later.write_text("".join(json.dumps(item) + "\n" for item in tickets), encoding="utf-8")
    run_enterprise(state, "2026-11-25T15:00:00+08:00", later)
    with Store(state) as store:
        store.acknowledge("EC-1001", AT_14 + timedelta(hours=1), by="duty")
        assert {ticket.ticket_id for ticket in store.open_tickets(enterprise.terminal_statuses)} == set(QUICK_START_ORDER) - {"EC-1003"}
        assert store.acknowledged_tickets() == {"EC-1001"}
        data = read_board(store, enterprise, AT_14 + timedelta(hours=1))
    rows = {row.ticket_id: row for row in data.rows}
    assert "EC-1003" not in rows and "EC-1009" not in rows
    assert [ticket_id for ticket_id, row in rows.items() if row.acknowledged] == ["EC-1001"]
    # 15:00: EC-1005 (P2, due 15:25) has passed 75 % of its response level.
    assert rows["EC-1005"].color == "yellow"


def _example_states(ruleset: Any, now: datetime) -> list[TicketState]:
    """The example tickets as a run leaves them: facts as reported, provider as routed."""
    tickets, _ = read_tickets([EXAMPLES], ruleset.ticket_timezone)
    results = Engine(ruleset, "python").evaluate(tickets, now)
    return [
        TicketState(
            result.ticket.id,
            status=result.ticket.status,
            provider=result.provider_reported,
            routed_to=result.route.arguments["provider"] if result.route else None,
            facts=result.as_reported.model_dump(mode="json"),
        )
        for result in results
        if result.ticket.status not in ruleset.terminal_statuses
    ]


@settings(max_examples=25, deadline=None)
@given(order=st.permutations(range(10)))
def test_the_board_does_not_depend_on_the_order_tickets_are_read_in(order: list[int]) -> None:
    ruleset = load_ruleset(ENTERPRISE)
    states = _example_states(ruleset, AT_14)
    assert [row.ticket_id for row in board_data(ruleset, [states[i] for i in order], AT_14).rows] == QUICK_START_ORDER


def test_a_state_without_facts_is_left_out_and_named(enterprise: Any) -> None:
    states = _example_states(enterprise, AT_14) + [TicketState("OLD-1", status="open")]
    data = board_data(enterprise, states, AT_14)
    assert data.unmeasured == ("OLD-1",) and "OLD-1" not in [row.ticket_id for row in data.rows]


# -- the page -----------------------------------------------------------------------------------


def _page_data(page: str) -> dict[str, Any]:
    found = re.search(r'<script id="board-data" type="application/json">(.*?)</script>', page, flags=re.DOTALL)
    assert found is not None
    return json.loads(found.group(1))


HOSTILE = [
    ("X-1", '</script><script>window.__pwned = 1</script>'),
    ("X-2", '<img src=x onerror="window.__pwned = 2">'),
    ("<b>X-3</b>", "<!-- & \u2028 '\""),
]


def _hostile_states() -> list[TicketState]:
    states = []
    for ticket_id, customer in HOSTILE:
        facts = {"id": ticket_id, "tier": "P4", "status": "open", "created_at": "2026-11-25T09:00:00+08:00", "customer": customer, "region": customer}
        states.append(TicketState(ticket_id, status="open", facts=Ticket.model_validate(facts).model_dump(mode="json")))
    return states


@pytest.mark.parametrize("live", [True, False])
def test_the_page_is_self_contained_and_embeds_its_data_safely(enterprise: Any, live: bool) -> None:
    data = board_data(enterprise, _example_states(enterprise, AT_14) + _hostile_states(), AT_14)
    page = render_page(data, live=live)
    # No external asset: nothing outside the embedded data refers to another resource.
    code = re.sub(r'(<script id="board-data" type="application/json">).*?(</script>)', r"\1\2", page, flags=re.DOTALL)
    assert re.findall(r"""(?i)\b(?:src|href)\s*=\s*(?!["']?data:)|url\(|@import|https?://""", code) == []
    # The data cannot end its element early, however hostile the tickets.
    assert page.count("<script") == 2 and page.count("</script>") == 2 and "<!--" not in page.split('"board-data"')[1]
    assert _page_data(page) == json.loads(json.dumps(data.to_json()))
    assert f'var MODE = "{"live" if live else "static"}"' in page
    assert "<title>enterprise-command-center · wallboard</title>" in page


def test_board_out_writes_the_page_after_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    run_enterprise(state)
    capsys.readouterr()
    out = tmp_path / "board.html"
    assert main(["board", "--ruleset", str(ENTERPRISE), "--state", state, "--at", "last-run", "--out", str(out)]) == EXIT_OK
    assert capsys.readouterr().out == f"wrote {out}: 10 open tickets (3 escalated, 2 red, 0 yellow, 5 ok) as of 2026-11-25 14:00 Asia/Shanghai\n"
    document = _page_data(out.read_text(encoding="utf-8"))
    assert [row["id"] for row in document["rows"]] == QUICK_START_ORDER
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".board.html")] == []  # no temporary file left


def test_a_page_that_cannot_be_written_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "missing" / "board.html"
    assert main(["board", "--ruleset", str(ENTERPRISE), "--state", f"sqlite:///{tmp_path / 'state.db'}", "--out", str(out)]) == EXIT_INVALID
    assert f"error: cannot write {out}: No such file or directory" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give exactly one of --serve and --out FILE"),
        (["--serve", "--out", "x.html"], "give exactly one of --serve and --out FILE"),
        (["--out", "x.html", "--at", "yesterday"], "'yesterday' is not an ISO 8601 time"),
    ],
)
def test_board_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        code = main(["board", "--ruleset", str(ENTERPRISE), "--state", f"sqlite:///{tmp_path / 'state.db'}", *args])
    assert code == EXIT_USAGE and message in capsys.readouterr().err


# -- the server ---------------------------------------------------------------------------------


@contextmanager
def served_board(state: str, *extra: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``spm-rules board --serve`` in its own process on a free port; yields its URL."""
    command = [sys.executable, "-m", "spm_rules", "board", "--ruleset", str(ENTERPRISE), "--state", state, "--serve", "--port", "0", *extra]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        found = re.search(r"board at (http://127\.0\.0\.1:\d+/) ", line)
        assert found, f"the board did not start: {line}{process.stderr.read() if process.poll() is not None else ''}"
        yield found.group(1), process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _get(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _poll(url: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        document = json.loads(_get(url)[2])
        if check(document) or time.monotonic() > deadline:
            return document
        time.sleep(0.2)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_server_reads_the_state_on_each_poll_and_stops_cleanly(state_url: str, stop: signal.Signals) -> None:
    run_enterprise(state_url)
    with served_board(state_url, "--at", "last-run", "--refresh", "1") as (url, process):
        status, headers, body = _get(url + "board.json")
        assert (status, headers["Content-Type"], headers["Cache-Control"]) == (200, "application/json", "no-store")
        assert [(row["id"], row["color"]) for row in json.loads(body)["rows"]] == [(ticket_id, color) for ticket_id, color, *_ in QUICK_START_BOARD]
        status, headers, page = _get(url)
        assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
        assert 'var MODE = "live"' in page.decode("utf-8") and _page_data(page.decode("utf-8"))["rows"][0]["id"] == "EC-1001"
        assert _get(url, "HEAD")[0] == 200 and _get(url, "HEAD")[2] == b""
        assert _get(url + "secrets")[0] == 404
        # A later run: the next poll shows it (EC-1002 is 2 h past its response level at 16:00).
        run_enterprise(state_url, "2026-11-25T16:00:00+08:00")
        later = _poll(url + "board.json", lambda document: document["as_of_text"] == "2026-11-25 16:00")
        assert {row["id"]: row["color"] for row in later["rows"]}["EC-1002"] == "escalated"
        process.send_signal(stop)
        assert process.wait(timeout=30) == EXIT_OK
        assert process.stderr is not None and f"board stopped ({stop.name})" in process.stderr.read()


def test_the_server_answers_503_when_the_state_cannot_be_read() -> None:
    def failing() -> BoardData:
        raise StateError("state sqlite:///gone.db: cannot read open tickets: unable to open database file")

    server = BoardServer(("127.0.0.1", 0), failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        status, _, body = _get(server.url + "board.json")
        assert status == 503 and json.loads(body) == {"error": "state sqlite:///gone.db: cannot read open tickets: unable to open database file"}
    finally:
        server.shutdown()
        server.server_close()


def test_a_busy_port_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    holder = ThreadingHTTPServer(("127.0.0.1", 0), SimpleHTTPRequestHandler)
    try:
        port = str(holder.server_address[1])
        code = main(["board", "--ruleset", str(ENTERPRISE), "--state", f"sqlite:///{tmp_path / 'state.db'}", "--serve", "--port", port])
    finally:
        holder.server_close()
    assert code == EXIT_INVALID and f"error: cannot listen on 127.0.0.1:{port}:" in capsys.readouterr().err


# -- in a real browser --------------------------------------------------------------------------

#: Each board row as the browser draws it: id, colour, computed background and text colour, partner cell.
ROWS_JS = """
return Array.from(document.querySelectorAll('#rows tr[data-id]')).map(function (row) {
  var cell = getComputedStyle(row.cells[0]);
  return [row.dataset.id, row.dataset.color, cell.backgroundColor, cell.color, row.cells[5].textContent];
});
"""


def _rgb(hex_color: str) -> str:
    red, green, blue = (int(hex_color[index : index + 2], 16) for index in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def _assert_colors(rows: list[list[str]]) -> None:
    for ticket_id, color, background, text, _ in rows:
        assert (background, text) == tuple(_rgb(value) for value in COLOR_STYLES[color]), ticket_id  # type: ignore[index]


def test_the_served_board_in_a_browser_orders_colours_filters_and_refreshes_itself(tmp_path: Path, browser_page: BrowserPage) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    run_enterprise(state)
    with served_board(state, "--at", "last-run", "--refresh", "1") as (url, _):
        browser_page.open(url)
        browser_page.wait_until("document.querySelectorAll('#rows tr[data-id]').length === 10", what="the ten open tickets")
        rows = browser_page.js(ROWS_JS)
        assert [(ticket_id, color, partner) for ticket_id, color, _, _, partner in rows] == [(t, c, p) for t, c, p, _ in QUICK_START_BOARD]
        _assert_colors(rows)
        counts = browser_page.js("return ['escalated','red','yellow','ok'].map(function (c) { return document.getElementById('count-' + c).textContent; })")
        assert counts == ["ESCALATED 3", "RED 2", "YELLOW 0", "OK 5"]
        partners = browser_page.js("return Array.from(document.querySelectorAll('#providers .p')).map(function (p) { return p.textContent; })")
        assert partners[:2] == ["partner-north 3 1", "partner-central 1 1"] and "partner-east 3 2" in partners
        browser_page.screenshot("board.png")

        browser_page.select("#filter-provider", "partner-east")
        browser_page.wait_until("document.querySelectorAll('#rows tr[data-id]').length === 3", what="partner-east's three tickets")
        assert [row[0] for row in browser_page.js(ROWS_JS)] == ["EC-1011", "EC-1002", "EC-1007"]
        assert browser_page.js("return document.getElementById('count-red').textContent + ' / ' + document.getElementById('shown').textContent") == "RED 2 / 3 of 10 open"
        assert browser_page.js("return location.hash") == "#provider=partner-east"

        # A later run on the same state: the page shows it without reloading.
        browser_page.js("window.__same_page = true; return true")
        run_enterprise(state, "2026-11-25T16:00:00+08:00")
        browser_page.wait_until("document.querySelector('#rows tr[data-id=\"EC-1002\"]').dataset.color === 'escalated'", what="EC-1002 to turn escalated")
        assert browser_page.js("return window.__same_page === true && document.body.dataset.asOf") == "2026-11-25T08:00:00+00:00"
        rows = browser_page.js(ROWS_JS)
        # 16:00: EC-1011 (due 13:50) and EC-1002 (due 14:00) are both 2 h past due; the filter holds.
        assert [(row[0], row[1]) for row in rows] == [("EC-1011", "escalated"), ("EC-1002", "escalated"), ("EC-1007", "ok")]
        _assert_colors(rows)
        browser_page.screenshot("board-refreshed.png")
        assert browser_page.console_errors() == []


def test_the_written_page_refreshes_from_any_web_server_and_opens_from_disk(tmp_path: Path, browser_page: BrowserPage) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    site = tmp_path / "site"
    site.mkdir()
    board = ["board", "--ruleset", str(ENTERPRISE), "--state", state, "--at", "last-run", "--refresh", "1", "--out", str(site / "board.html")]
    run_enterprise(state)
    assert main(board) == EXIT_OK

    browser_page.open(site / "board.html")
    browser_page.wait_until("document.querySelectorAll('#rows tr[data-id]').length === 10", what="the page opened from disk")
    assert browser_page.js("return document.getElementById('as-of').textContent") == "as of 2026-11-25 14:00"

    web = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(SimpleHTTPRequestHandler, directory=str(site)))
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        browser_page.open(f"http://127.0.0.1:{web.server_address[1]}/board.html#tier=P4")
        browser_page.wait_until("document.querySelectorAll('#rows tr[data-id]').length === 5", what="the P4 tickets")
        browser_page.js("window.__same_page = true; return true")
        run_enterprise(state, "2026-11-25T16:00:00+08:00")
        assert main(board) == EXIT_OK
        browser_page.wait_until("document.querySelector('#rows tr[data-id=\"EC-1002\"]').dataset.color === 'escalated'", what="EC-1002 to turn escalated")
        assert browser_page.js("return window.__same_page === true && document.getElementById('filter-tier').value") == "P4"
        _assert_colors(browser_page.js(ROWS_JS))
        assert browser_page.console_errors() == []
    finally:
        web.shutdown()
        web.server_close()


def _many_states(count: int, now: datetime) -> list[TicketState]:
    """``count`` open tickets dispatched over the last 14 hours, in every tier, region and partner."""
    states = []
    for index in range(count):
        created = now - timedelta(minutes=7 * (index % 120) + 20)
        facts = {
            "id": f"T-{index:05d}",
            "tier": ("P2", "P4", "P6")[index % 3],
            "status": "open",
            "created_at": created.isoformat(),
            "stage_history": [{"stage": "hotline", "entered_at": created.isoformat()}, {"stage": "dispatched", "entered_at": (created + timedelta(minutes=10)).isoformat()}],
            "region": ("north", "east", "south", "west", "central")[index % 5],
            "provider": f"partner-{index % 17:02d}",
            "customer": f"Customer {index}",
        }
        states.append(TicketState(facts["id"], status="open", provider=facts["provider"], facts=Ticket.model_validate(facts).model_dump(mode="json")))
    return states


def test_five_thousand_open_tickets_render_and_filter(tmp_path: Path, browser_page: BrowserPage, enterprise: Any) -> None:
    ruleset = enterprise.model_copy(update={"board": enterprise.board.model_copy(update={"refresh": timedelta(hours=1)})})
    data = board_data(ruleset, _many_states(5000, AT_14), AT_14)
    assert {row.color for row in data.rows} == {"ok", "yellow", "red", "escalated"}
    path = tmp_path / "board.html"
    path.write_text(render_page(data, live=False), encoding="utf-8")

    browser_page.open(path)
    browser_page.wait_until("document.querySelectorAll('#rows tr[data-id]').length === 5000", what="5,000 rows")
    drawn = browser_page.js("return Array.from(document.querySelectorAll('#rows tr[data-id]')).map(function (row) { return row.dataset.id + ' ' + row.dataset.color; })")
    assert drawn == [f"{row.ticket_id} {row.color}" for row in data.rows]
    assert browser_page.js("return document.getElementById('shown').textContent") == "5000 of 5000 open"
    assert len(browser_page.js("return document.querySelectorAll('#providers .p')")) == 13  # 12 partners and "+5 more"
    browser_page.screenshot("board-5000.png")

    east = [row for row in data.rows if row.region == "east"]
    browser_page.select("#filter-region", "east")
    browser_page.wait_until(f"document.querySelectorAll('#rows tr[data-id]').length === {len(east)}", what="the east region's rows")
    cells = browser_page.js("return Array.from(document.querySelectorAll('#rows tr[data-id]')).map(function (row) { return row.cells[1].textContent + ' ' + row.cells[4].textContent; })")
    assert cells == [f"{row.ticket_id} east" for row in east]
    shown = browser_page.js("return ['escalated','red','yellow','ok'].map(function (c) { return +document.getElementById('count-' + c).dataset.count; })")
    assert shown == [sum(row.color == color for row in east) for color in ("escalated", "red", "yellow", "ok")]
    assert browser_page.console_errors() == []


def test_ticket_data_is_shown_as_text_never_run(tmp_path: Path, browser_page: BrowserPage, enterprise: Any) -> None:
    path = tmp_path / "board.html"
    path.write_text(render_page(board_data(enterprise, _hostile_states(), AT_14), live=False), encoding="utf-8")
    browser_page.open(path)
    browser_page.wait_until("document.querySelectorAll('#rows tr[data-id]').length === 3", what="the three rows")
    shown = browser_page.js("return Array.from(document.querySelectorAll('#rows tr[data-id]')).map(function (row) { return [row.dataset.id, row.cells[2].textContent]; })")
    assert sorted(map(tuple, shown)) == sorted(HOSTILE)
    assert browser_page.js("return [window.__pwned === undefined, document.querySelectorAll('#rows img, #rows script, #rows b').length]") == [True, 0]
    options = browser_page.js("return Array.from(document.querySelectorAll('#filter-region option')).map(function (o) { return o.value; })")
    assert sorted(options) == sorted(["", *(customer for _, customer in HOSTILE)])


@pytest.mark.parametrize(("required", "outcome"), [("1", pytest.fail.Exception), ("", pytest.skip.Exception)], ids=["ci-fails", "elsewhere-skips"])
def test_a_missing_browser_fails_under_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch, required: str, outcome: type[BaseException]) -> None:
    from tests.fixtures import browser

    monkeypatch.setenv(browser.REQUIRE_BROWSER_ENV, required)
    with pytest.raises(outcome, match="no headless browser: /nowhere/chromium is not an executable file"):
        browser._unavailable("/nowhere/chromium is not an executable file")
