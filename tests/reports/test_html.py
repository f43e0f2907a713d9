"""The HTML reports are well-formed, self-contained pages: every chart an inline SVG with one
bar (or point) per value, nothing loaded from anywhere, every ticket value escaped."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest

from spm_rules.reports.html import indicators_html, scorecard_html
from spm_rules.reports.indicators import next_day_indicators
from spm_rules.reports.scorecard import AUDIT_KINDS, Measurer, aggregate, scorecard
from spm_rules.reports.archive import closed_tickets
from spm_rules.state.store import Store
from tests.fixtures.browser import BrowserPage
from tests.reports.dataset import cst, ruleset, run_hourly

RULES = ruleset()
VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base", "wbr", "source", "track", "param", "embed"}
#: SVG elements this module writes without children, as self-closed tags.
SELF_CLOSED = {"line", "polyline"}
HOSTILE = "<script>alert('x')</script> & \"partner\""


@dataclass
class Page(HTMLParser):
    """A parsed page: its tags, the attributes they carry, its charts, and whether it nests well."""

    problems: list[str] = field(default_factory=list)
    stack: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    attributes: list[tuple[str, str]] = field(default_factory=list)
    charts: list[dict[str, int]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(name, value or "") for name, value in attrs]
        classes = dict(attrs).get("class") or ""
        if tag == "svg":
            self.charts.append({"bars": 0, "points": 0})
        elif tag == "rect" and "bar" in classes.split():
            self.charts[-1]["bars"] += 1
        elif tag == "circle" and "point" in classes.split():
            self.charts[-1]["points"] += 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(name, value or "") for name, value in attrs]
        if tag not in SELF_CLOSED | VOID:
            self.problems.append(f"<{tag}/> self-closed")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(document: str) -> Page:
    page = Page()
    page.feed(document)
    page.close()
    assert page.problems == [] and page.stack == [], (page.problems, page.stack)
    assert document.startswith("<!DOCTYPE html>") and page.tags[:2] == ["html", "head"]
    return page


def assert_self_contained(document: str, page: Page) -> None:
    assert "http://" not in document and "https://" not in document and "//" not in "".join(value for _, value in page.attributes)
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(page.tags)
    assert not [name for name, _ in page.attributes if name in ("src", "href") or name.startswith("on")]


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('html') / 'state.db'}"
    run_hourly(url, RULES)
    return url


def test_the_scorecard_page_has_one_svg_per_chart_and_one_bar_per_group(state: str) -> None:
    with Store(state) as store:
        card = scorecard(store, RULES, cst(25, 0), cst(27, 0))
    document = scorecard_html(card, "Partners' figures")
    page = parse(document)
    assert_self_contained(document, page)
    # Tickets closed, on time, first-call resolution, then the median business time of each clock
    # (response/dispatched, resolution end to end); each with one bar per group: east, north, south, none.
    assert page.charts == [{"bars": 4, "points": 0}] * 5
    text = " ".join(page.text)
    assert "partner-east" in text and "no provider" in text and "2h40m" in text and "Partners' figures" in text


def test_ticket_values_are_escaped(state: str) -> None:
    with Store(state) as store:
        measurer = Measurer(RULES)
        measures = [replace(m, group=HOSTILE) if m.group == "partner-east" else m for m in map(measurer.measure, closed_tickets(store, RULES, cst(25, 0), cst(27, 0), audit_kinds=AUDIT_KINDS))]
    document = scorecard_html(aggregate(measures, RULES, cst(25, 0), cst(27, 0)), HOSTILE)
    page = parse(document)
    assert_self_contained(document, page)
    assert "<script>" not in document and HOSTILE in " ".join(page.text)  # shown as text, never as markup


def test_the_indicators_page_has_the_trend_and_the_days_scorecard(state: str, tmp_path: Path) -> None:
    with Store(state) as store:
        found = next_day_indicators(store, RULES, date(2026, 11, 26))
    document = indicators_html(found, RULES.name, "Yesterday per partner.")
    page = parse(document)
    assert_self_contained(document, page)
    # The trend over the eight days (19th-26th): a point per day for tickets closed; on time only on the
    # days that closed tickets (24th, 25th, 26th).  Then the 26th's scorecard: east, north and south.
    assert page.charts[:2] == [{"bars": 0, "points": 8}, {"bars": 0, "points": 3}]
    assert page.charts[2:] == [{"bars": 3, "points": 0}] * 5
    text = " ".join(page.text)
    assert "partner-north: on time 0.0 % (7-day 100.0 %, -100.0 pts)" in text


@pytest.mark.parametrize("report", ["scorecard", "indicators"])
def test_the_pages_open_in_a_browser_with_every_chart_drawn(state: str, tmp_path: Path, browser_page: BrowserPage, report: str) -> None:
    """Each chart is laid out by a real browser: every bar and point has a place on the page (a bar
    for a zero value has no length), and the bars of a chart differ in length where their values do."""
    with Store(state) as store:
        if report == "scorecard":
            document = scorecard_html(scorecard(store, RULES, cst(25, 0), cst(27, 0)), "Partners' figures")
        else:
            document = indicators_html(next_day_indicators(store, RULES, date(2026, 11, 26)), RULES.name, "Yesterday per partner.")
    path = tmp_path / f"{report}.html"
    path.write_text(document, encoding="utf-8")
    browser_page.open(path)
    drawn = browser_page.js(
        "return [...document.querySelectorAll('svg')].map(svg => {"
        " const box = svg.getBoundingClientRect();"
        " const marks = [...svg.querySelectorAll('rect.bar, circle.point')].map(m => m.getBoundingClientRect());"
        " return {width: box.width, height: box.height, marks: marks.length,"
        "         drawn: marks.filter(m => m.height > 0).length, long: marks.filter(m => m.width > 0).length,"
        "         lengths: [...new Set(marks.map(m => Math.round(m.width)))].length}; });"
    )
    expected = parse(document).charts
    assert len(drawn) == len(expected) > 0
    for chart, marks in zip(drawn, expected):
        assert chart["width"] > 100 and chart["height"] > 20, chart
        assert chart["marks"] == chart["drawn"] == marks["bars"] + marks["points"], chart
    assert sum(chart["long"] > 0 for chart in drawn) >= 3 and any(chart["lengths"] > 1 for chart in drawn), drawn
    assert browser_page.console_errors() == []
    browser_page.screenshot(f"{report}.png")
