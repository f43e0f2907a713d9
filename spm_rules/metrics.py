"""Run metrics in the Prometheus text format, for node_exporter's textfile collector.

``run_metrics`` turns a run report and the store's counts into metric families;
``write_metrics`` writes them atomically (a temporary file in the same directory, then
a rename), so the collector never reads half a file.  Every run metric carries the
worker (``K/N``): give each worker its own file.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Literal, Mapping

if TYPE_CHECKING:
    from .errors import TicketProblem
    from .run import RunReport

__all__ = ["Metric", "render", "run_metrics", "write_metrics", "write_atomically"]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass
class Metric:
    """One metric family: name, help, type and its samples (labels → value)."""

    name: str
    help: str
    type: Literal["gauge", "counter"] = "gauge"
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float, **labels: str | None) -> "Metric":
        """Add a sample; labels whose value is None are written as empty."""
        self.samples.append(({k: "" if v is None else str(v) for k, v in labels.items()}, value))
        return self


def render(metrics: Iterable[Metric]) -> str:
    """The exposition text: ``# HELP``, ``# TYPE`` and one line per sample, for each family."""
    lines: list[str] = []
    for metric in metrics:
        lines.append(f"# HELP {metric.name} {metric.help.replace(chr(92), chr(92) * 2).replace(chr(10), ' ')}")
        lines.append(f"# TYPE {metric.name} {metric.type}")
        for labels, value in metric.samples:
            text = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
            lines.append(f"{metric.name}{{{text}}} {_number(value)}" if text else f"{metric.name} {_number(value)}")
    return "\n".join(lines) + "\n"


def run_metrics(
    report: "RunReport",
    open_escalations: Iterable[tuple[str, str, str | None, int]],
    outbox: Mapping[str, int],
    ticket_warnings: Iterable["TicketProblem"] = (),
) -> list[Metric]:
    """The metric families of one run: its duration and counts, tickets read with a warning
    (by field; every field always present, so an alert can watch it), open escalations,
    outbox by status."""
    from .tickets import TICKET_WARNING_FIELDS  # pydantic: kept out of the light start of ``run --help``

    worker = str(report.worker)
    run = {"ruleset": report.ruleset, "worker": worker}
    tickets = Metric("spm_rules_run_tickets", "Tickets in the last run, by result.")
    for result, count in (
        ("evaluated", report.evaluated),
        ("unchanged", report.unchanged),
        ("rejected", report.rejected),
        ("other_workers", report.other_workers),
        ("locked_elsewhere", report.locked_elsewhere),
        ("stale", report.stale),
    ):
        tickets.add(count, result=result, **run)
    warned = Counter(warning.field for warning in ticket_warnings)
    warnings = Metric("spm_rules_run_ticket_warnings", "Tickets of the last run whose SLA clock cannot run as the ruleset says, by field.")
    for name in sorted({*TICKET_WARNING_FIELDS, *warned}):
        warnings.add(warned[name], field=name, **run)
    transitions = Metric("spm_rules_run_transitions", "Ticket transitions in the last run, by kind.")
    for kind, count in sorted(report.transition_counts.items()):
        transitions.add(count, kind=kind, **run)
    notifications = Metric("spm_rules_run_notifications", "Notifications of the last run: enqueued, and delivery results.")
    notifications.add(report.enqueued, result="enqueued", **run)
    for result in ("sent", "failed", "held", "dead", "suppressed"):
        notifications.add(report.delivery.get(result, 0), result=result, **run)
    escalations = Metric("spm_rules_escalations_open", "Open escalations by policy, level and provider.")
    for policy, level, provider, count in open_escalations:
        escalations.add(count, ruleset=report.ruleset, policy=policy, level=level, provider=provider)
    statuses = Metric("spm_rules_outbox_notifications", "Outbox notifications by status (pending and failed are still to deliver).")
    for status in ("pending", "failed", "sent", "dead", "suppressed"):
        statuses.add(outbox.get(status, 0), ruleset=report.ruleset, status=status)
    return [
        Metric("spm_rules_run_duration_seconds", "Wall time of the last run.").add(round(report.duration, 6), **run),
        Metric("spm_rules_run_time_seconds", "The instant the last run evaluated at (Unix time).").add(report.now.timestamp(), **run),
        tickets,
        warnings,
        transitions,
        notifications,
        Metric("spm_rules_run_schedules_fired", "Schedule ticks fired by the last run.").add(len(report.schedules_fired), **run),
        escalations,
        statuses,
    ]


def write_metrics(path: str | Path, metrics: Iterable[Metric]) -> None:
    """Write the exposition text to ``path`` atomically (see :func:`write_atomically`)."""
    write_atomically(path, render(metrics))


def write_atomically(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a temporary file in the same directory, then
    a rename, so that a reader (node_exporter, a web server) never sees half a file."""
    target = Path(path)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
