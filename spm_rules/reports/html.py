"""The HTML reports: a scorecard, or the next-day indicators, as one self-contained page.

Opening a report needs no network: the style is inline, the charts are SVG drawn here
(one ``<svg>`` per chart, one ``rect.bar`` per bar, one ``circle.point`` per point), and
the page loads nothing and runs no script.  Every text that comes from tickets or the
ruleset (group names, policies, levels, descriptions) is escaped.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from typing import Callable, Sequence
from zoneinfo import ZoneInfo

from .indicators import Indicators
from .scorecard import GroupFigures, Scorecard, StageFigures, duration_text, group_name, percent

__all__ = ["scorecard_html", "indicators_html"]

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans","PingFang SC","Microsoft YaHei",sans-serif;margin:2rem;color:#111;background:#fff;max-width:72rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:2px solid #ddd}
p.meta{color:#444;margin-top:0}
table{border-collapse:collapse;margin:.8rem 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
th{background:#f2f2f2}tr.total td{font-weight:bold;background:#fafafa}
td.worse{color:#b00020;font-weight:bold}
figure{margin:1rem 0}figcaption{font-weight:bold;margin-bottom:.3rem}
svg text{font-size:12px;fill:#222}svg .bar{fill:#2b6cb0}svg .target{stroke:#b00020;stroke-dasharray:4 3}
svg .line{fill:none;stroke:#2b6cb0;stroke-width:2}svg .point{fill:#2b6cb0}svg .axis{stroke:#999}
ul.movers li{margin:.2rem 0}
"""

_WIDTH = 640
_LABEL = 170
_BAR = 22


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _page(title: str, body: list[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], total: Sequence[str] | None = None) -> str:
    """A table; every cell is already escaped (or markup this module made)."""
    head = "".join(f"<th>{cell}</th>" for cell in headers)
    lines = ["<table>", f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    lines += ["<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows]
    if total is not None:
        lines.append('<tr class="total">' + "".join(f"<td>{cell}</td>" for cell in total) + "</tr>")
    lines += ["</tbody>", "</table>"]
    return "\n".join(lines)


def _bar_chart(title: str, labels: Sequence[str], values: Sequence[float | None], text: Callable[[float | None], str], *, maximum: float | None = None, target: float | None = None) -> str:
    """Horizontal bars, one per label (a missing value draws an empty bar)."""
    top = maximum if maximum is not None else max([v for v in values if v is not None] + [target or 0, 0])
    scale = (_WIDTH - _LABEL - 90) / top if top else 0
    height = _BAR * len(labels) + 20
    parts = [f'<figure><figcaption>{_e(title)}</figcaption>', f'<svg role="img" width="{_WIDTH}" height="{height}" viewBox="0 0 {_WIDTH} {height}">', f"<title>{_e(title)}</title>"]
    for index, (label, value) in enumerate(zip(labels, values)):
        y = 10 + index * _BAR
        width = max(0.0, (value or 0) * scale)
        parts.append(f'<text x="{_LABEL - 8}" y="{y + 15}" text-anchor="end">{_e(label)}</text>')
        parts.append(f'<rect class="bar" x="{_LABEL}" y="{y + 3}" width="{width:.1f}" height="{_BAR - 6}"><title>{_e(label)}: {_e(text(value))}</title></rect>')
        parts.append(f'<text x="{_LABEL + width + 6:.1f}" y="{y + 15}">{_e(text(value))}</text>')
    if target is not None and scale:
        x = _LABEL + target * scale
        parts.append(f'<line class="target" x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{height - 4}"><title>target {_e(text(target))}</title></line>')
    parts.append(f'<line class="axis" x1="{_LABEL}" y1="4" x2="{_LABEL}" y2="{height - 4}"/>')
    parts += ["</svg>", "</figure>"]
    return "\n".join(parts)


def _line_chart(title: str, labels: Sequence[str], values: Sequence[float | None], text: Callable[[float | None], str], *, maximum: float | None = None) -> str:
    """A line through one point per value (a day without a value has no point)."""
    height, left, right, top_pad, bottom_pad = 220, 50, 20, 20, 40
    top = maximum if maximum is not None else max([v for v in values if v is not None] + [1])
    step = (_WIDTH - left - right) / max(1, len(labels) - 1)
    points = []
    for index, value in enumerate(values):
        if value is not None:
            x = left + index * step
            y = top_pad + (1 - value / top) * (height - top_pad - bottom_pad) if top else height - bottom_pad
            points.append((x, y, labels[index], value))
    parts = [f'<figure><figcaption>{_e(title)}</figcaption>', f'<svg role="img" width="{_WIDTH}" height="{height}" viewBox="0 0 {_WIDTH} {height}">', f"<title>{_e(title)}</title>"]
    parts.append(f'<line class="axis" x1="{left}" y1="{height - bottom_pad}" x2="{_WIDTH - right}" y2="{height - bottom_pad}"/>')
    parts.append(f'<text x="{left - 6}" y="{top_pad + 4}" text-anchor="end">{_e(text(top))}</text>')
    for index, label in enumerate(labels):
        parts.append(f'<text x="{left + index * step:.1f}" y="{height - bottom_pad + 18}" text-anchor="middle">{_e(label)}</text>')
    if len(points) > 1:
        parts.append('<polyline class="line" points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points) + '"/>')
    for x, y, label, value in points:
        parts.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="4"><title>{_e(label)}: {_e(text(value))}</title></circle>')
    parts += ["</svg>", "</figure>"]
    return "\n".join(parts)


def _hours(value: float | None) -> str:
    return duration_text(timedelta(seconds=value)) if value is not None else "-"


def _local(value: datetime, zone: str) -> str:
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def _ack_levels(card: Scorecard) -> list[tuple[str, str]]:
    return [(ack.policy, ack.level) for ack in card.total.acknowledgements]


def _overview(card: Scorecard) -> str:
    acks = _ack_levels(card)
    headers = [_e(card.by), "closed", "on time", *(["first-call"] if card.total.first_call is not None else []), "reopened", "re-routes", "escalated"]
    headers += [f"ack after {_e(level)} ({_e(policy)}), mean" for policy, level in acks]

    def row(g: GroupFigures, name: str) -> list[str]:
        cells = [_e(name), str(g.tickets), percent(g.on_time.rate)]
        if g.first_call is not None:
            cells.append(percent(g.first_call.rate))
        cells += [percent(g.reopened.rate), str(g.reroutes), str(g.escalated)]
        cells += [duration_text(g.acknowledgement(policy, level).mean) for policy, level in acks]
        return cells

    return _table(headers, [row(g, group_name(g.group, card.by)) for g in card.groups], row(card.total, "all"))


def _clock_row(name: str, stage: StageFigures) -> list[str]:
    return [
        _e(name),
        str(stage.on_time.of),
        percent(stage.on_time.rate),
        duration_text(stage.business.mean),
        duration_text(stage.business.median),
        duration_text(stage.business.p90),
        duration_text(stage.wall.mean),
        duration_text(stage.wall.median),
        duration_text(stage.wall.p90),
        *(str(count) for count in stage.levels.values()),
    ]


def _scorecard_sections(card: Scorecard) -> list[str]:
    labels = [group_name(g.group, card.by) for g in card.groups]
    body = ["<h2>Overview</h2>", _overview(card)]
    body.append(_bar_chart("Tickets closed", labels, [g.tickets for g in card.groups], lambda v: "-" if v is None else f"{v:g}"))
    body.append(_bar_chart("On time on every clock", labels, [g.on_time.rate for g in card.groups], percent, maximum=1.0))
    if card.total.first_call is not None:
        body.append(_bar_chart("First-call resolution", labels, [g.first_call.rate if g.first_call else None for g in card.groups], percent, maximum=1.0, target=card.first_call_target))
    for policy in card.total.policies:
        body.append(f"<h2>Policy {_e(policy.policy)}</h2>")
        for stage in policy.stages:
            clock = "end to end" if stage.end_to_end else f"stage {stage.stage}"
            body.append(f"<h3>{_e(clock)}</h3>")
            headers = [_e(card.by), "measured", "on time", "business mean", "business median", "business p90", "wall mean", "wall median", "wall p90"]
            headers += [f"reached {_e(level)}" for level in stage.levels]
            rows = [_clock_row(group_name(g.group, card.by), found) for g in card.groups if (found := g.stage(policy.policy, stage.stage)) is not None]
            body.append(_table(headers, rows, _clock_row("all", stage)))
            medians = [found.business.median.total_seconds() if (found := g.stage(policy.policy, stage.stage)) and found.business.median is not None else None for g in card.groups]
            body.append(_bar_chart(f"{policy.policy}, {clock}: median business time", labels, medians, _hours))
    return body


def scorecard_html(card: Scorecard, description: str | None = None) -> str:
    """The scorecard as one self-contained HTML page."""
    title = f"Scorecard {card.ruleset}"
    period = f"{_local(card.since, card.timezone)} – {_local(card.until, card.timezone)} ({card.timezone}), by {card.by}"
    body = [f"<h1>{_e(title)}</h1>", f'<p class="meta">{_e(period)}; {card.total.tickets} tickets closed.</p>']
    if description:
        body.append(f"<p>{_e(description)}</p>")
    body += _scorecard_sections(card)
    body.append('<p class="meta">Every figure is defined in the spm-rules documentation, docs/reports.md.</p>')
    return _page(f"{title} {period}", body)


def indicators_html(found: Indicators, ruleset: str, description: str | None = None) -> str:
    """The next-day indicators as one self-contained HTML page: the movers, every group's
    figures against the day before and the trailing days, the daily trend, and
    yesterday's full scorecard."""
    day = found.day.isoformat()
    title = f"Indicators {ruleset} {day}"
    body = [f"<h1>{_e(title)}</h1>", f'<p class="meta">{_e(day)} ({_e(found.timezone)}) by {_e(found.by)}, compared with the day before and the 7 days before it.</p>']
    if description:
        body.append(f"<p>{_e(description)}</p>")
    body.append("<h2>Worst movers</h2>")
    if found.movers:
        items = [
            f"<li>{_e(m.group.name)}: {_e(m.figure.label)} {_e(m.figure.text(m.figure.value))} "
            f"(7-day {_e(m.figure.text(m.figure.trailing))}, {_e(m.figure.to_json()['change_text'])})</li>"
            for m in found.movers
        ]
        body.append('<ul class="movers">' + "".join(items) + "</ul>")
    else:
        body.append("<p>No figure is worse than its 7-day level.</p>")
    body.append("<h2>Figures</h2>")
    rows = []
    for group in [*found.groups, found.total]:
        for figure in group.figures:
            data = figure.to_json()
            change = f'<span class="worse">{_e(data["change_text"])}</span>' if data["worse"] else _e(data["change_text"])
            rows.append([_e(group.name), _e(figure.label), _e(data["text"]), _e(data["day_before_text"]), _e(data["trailing_text"]), change])
    body.append(_table([_e(found.by), "figure", "yesterday", "day before", "7-day", "change"], rows))
    labels = [d.strftime("%m-%d") for d, _ in found.daily]
    body.append(_line_chart("Tickets closed per day", labels, [g.tickets for _, g in found.daily], lambda v: "-" if v is None else f"{v:g}"))
    body.append(_line_chart("On time on every clock, per day", labels, [g.on_time.rate for _, g in found.daily], percent, maximum=1.0))
    body.append(f"<h2>Scorecard of {_e(day)}</h2>")
    body += _scorecard_sections(found.scorecard)
    body.append('<p class="meta">Every figure is defined in the spm-rules documentation, docs/reports.md.</p>')
    return _page(title, body)
