"""Run ruleset tests: simulated cron runs over a temporary state, nothing sent anywhere.

Each test gets its own SQLite state in a temporary folder.  At each step's instant the
runner applies what the step says happens first (ticket updates, new tickets,
acknowledgements, silences added or expired), evaluates the tickets as the ticket system
reports them then (for the levels, decisions and provider a step expects), and makes one
real stateful run (:func:`spm_rules.run.run`) with delivery through the real
:class:`~spm_rules.alerting.AlertPipeline`: silences, inhibition, routing, active hours,
grouping and templates all apply.  Only the last hop differs: every receiver's URLs are
replaced by a hook that captures the rendered message, so no URL (``console://``
included) is contacted and no secret is needed.  The state carries from one step to the
next, so repeats, acknowledgements, held messages and schedules behave as in cron.
"""

from __future__ import annotations

import fnmatch
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ..alerting import notification_labels
from ..alerting.receivers import AlertMessage
from ..alerting.routes import RoutingTree
from ..engine import Engine, TicketResult
from ..errors import SpmError
from ..ruleset.schema import Ruleset
from .expect import Failure, SentMessage, check_step
from .suite import Case, Step, Suite, Timeline

if TYPE_CHECKING:
    from ..state.store import Store
    from ..tickets import Ticket

__all__ = ["CAPTURE_HOOK", "Coverage", "CaseResult", "capturing_ruleset", "run_case", "run_suite", "select_cases"]

#: The hook every receiver of a ruleset under test delivers to.
CAPTURE_HOOK = "spm-rules-test-capture"


def capturing_ruleset(ruleset: Ruleset) -> Ruleset:
    """``ruleset`` with every receiver's destinations replaced by the capture hook (its
    template, active hours, repeat and send_resolved kept)."""
    receivers = {name: spec.model_copy(update={"urls": [], "hook": CAPTURE_HOOK}) for name, spec in ruleset.receivers.items()}
    return ruleset.model_copy(update={"receivers": receivers})


@dataclass
class Coverage:
    """What the tests of one ruleset exercised: rules that took a decision, receivers that
    got a message, routes a delivered notification matched, schedules that fired, and
    (policy, level) pairs some ticket reached."""

    ruleset: str
    rules: set[str] = field(default_factory=set)
    receivers: set[str] = field(default_factory=set)
    routes: set[str] = field(default_factory=set)
    schedules: set[str] = field(default_factory=set)
    levels: set[tuple[str, str]] = field(default_factory=set)

    def add(self, other: "Coverage") -> None:
        """Merge ``other`` (of the same ruleset) into this one."""
        self.rules |= other.rules
        self.receivers |= other.receivers
        self.routes |= other.routes
        self.schedules |= other.schedules
        self.levels |= other.levels

    def record(self, results: Iterable[TicketResult], sent: Sequence[SentMessage], tree: RoutingTree) -> None:
        """Note what one step's evaluation and messages exercised."""
        for result in results:
            self.rules.update(decision.rule for decision in result.decisions)
            self.levels.update((status.policy, status.level) for status in result.statuses if status.level)
        for message in sent:
            self.receivers.add(message.receiver)
            for labels in message.labels:
                self.routes.update(match.path for match in tree.match(labels))
                if labels.get("kind") == "schedule" and "schedule" in labels:
                    self.schedules.add(labels["schedule"])


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one test: its failures (empty: passed), or an error that stopped it."""

    file: str
    name: str
    line: int | None
    steps: int
    failures: tuple[Failure, ...]
    coverage: Coverage
    error: str | None = None

    @property
    def passed(self) -> bool:
        """No failure and no error."""
        return not self.failures and self.error is None

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--format json``."""
        return {
            "name": self.name,
            "line": self.line,
            "passed": self.passed,
            "steps": self.steps,
            "error": self.error,
            "failures": [failure.to_json() for failure in self.failures],
        }


class _Capture:
    """The hook receivers deliver to: it keeps each rendered message (called from
    delivery's worker threads)."""

    def __init__(self) -> None:
        self.messages: list[AlertMessage] = []
        self._lock = threading.Lock()

    def __call__(self, message: AlertMessage) -> bool:
        with self._lock:
            self.messages.append(message)
        return True

    def take(self) -> list[SentMessage]:
        """The messages captured since the last call, in a stable order."""
        with self._lock:
            taken, self.messages = self.messages, []
        sent = [SentMessage.of(m, [notification_labels(note) for note in m.notifications]) for m in taken]
        return sorted(sent, key=lambda m: (m.receiver, m.title, m.tickets, m.body))


def select_cases(cases: Iterable[Case], pattern: str | None) -> list[Case]:
    """The tests whose name matches the glob ``pattern`` (all without one)."""
    return [case for case in cases if pattern is None or fnmatch.fnmatchcase(case.name, pattern)]


def run_suite(suite: Suite, *, select: str | None = None, matcher: str = "auto", engine: Engine | None = None) -> list[CaseResult]:
    """Run the tests of ``suite`` (those matching the glob ``select``), one engine for all."""
    engine = engine or Engine(suite.ruleset, matcher)
    return [run_case(suite, case, engine=engine) for case in select_cases(suite.cases, select)]


def run_case(suite: Suite, case: Case, *, engine: Engine | None = None) -> CaseResult:
    """Run one test of ``suite``; a state or delivery error ends it with ``error`` set."""
    from ..alerting.pipeline import AlertPipeline
    from ..dispatch.claims import StoreDispatchState
    from ..dispatch.decide import dispatch_order
    from ..run import active_alert_labels, run
    from ..state.store import Store

    engine = engine or Engine(suite.ruleset)
    ruleset = capturing_ruleset(suite.ruleset)
    coverage = Coverage(suite.ruleset_path)
    tree = RoutingTree(ruleset.route)
    capture = _Capture()
    failures: list[Failure] = []
    timelines: dict[str, Timeline] = {timeline.id: timeline for timeline in case.tickets}
    done = 0
    try:
        with tempfile.TemporaryDirectory(prefix="spm-rules-test-") as folder, Store(f"sqlite:///{Path(folder) / 'state.db'}", now=case.start) as store:
            pipeline = AlertPipeline(ruleset, silences=store.active_silences, active_alerts=active_alert_labels(store), hooks={CAPTURE_HOOK: capture})
            for step in case.steps:
                label = case.label(step)
                failures += _before_run(store, step, label, timelines)
                feed = [timeline.view(step.at) for timeline in timelines.values() if timeline.exists(step.at)]
                # What the run is about to decide: dispatch sees the same loads and standing assignments.
                state = StoreDispatchState(store, ruleset, step.at) if ruleset.providers else None
                deferred: list[Ticket] = []
                results = {result.ticket.id: result for result in engine.evaluate(feed, step.at, state, deferred)}
                results.update((result.ticket.id, result) for result in engine.evaluate(sorted(deferred, key=dispatch_order), step.at, state))
                run(store, ruleset, feed, step.at, pipeline, engine=engine)
                sent = capture.take()
                coverage.record(results.values(), sent, tree)
                failures += check_step(step, label, results, sent, case.zone)
                done += 1
    except SpmError as exc:
        return CaseResult(suite.path, case.name, case.line, done, tuple(failures), coverage, f"{type(exc).__name__}: {exc}")
    return CaseResult(suite.path, case.name, case.line, done, tuple(failures), coverage)


def _before_run(store: "Store", step: Step, label: str, timelines: dict[str, Timeline]) -> list[Failure]:
    """Apply what happens at ``step`` before its run; a failure for an acknowledgement or an
    expiry that found nothing to act on (the test expected something that is not there)."""
    failures = []
    for timeline in step.added:
        timelines[timeline.id] = timeline
    for change in step.changes:
        timelines[change.ticket] = timelines[change.ticket].changed(change)
    for ack in step.acks:
        if not store.acknowledge(ack.ticket, step.at, policy=ack.policy, level=ack.level, by=ack.by):
            which = "/".join(part for part in (ack.policy, ack.level) if part)
            wanted = "an open, unacknowledged escalation" + (f" {which}" if which else "")
            failures.append(Failure(step.index, label, step.line, f"ack {ack.ticket}", "ack", wanted, "none to acknowledge"))
    for silence in step.silences:
        store.add_silence(list(silence.matchers), step.at, silence.ends, now=step.at, comment=silence.comment, created_by=silence.by, silence_id=silence.id)
    for name in step.expired:
        if not store.expire_silence(name, step.at):
            failures.append(Failure(step.index, label, step.line, f"expire {name}", "expire", "a silence in force or pending", "it had already ended"))
    return failures
