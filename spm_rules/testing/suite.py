"""Load a ruleset test file: located YAML, the models, then every name and time checked.

:func:`load_suite` gives a :class:`Suite` ready to run: the ruleset it tests, and each
test with its times resolved to instants, its tickets as timelines and its steps in
order.  Everything wrong with the file is reported at once, each problem located (file,
line, key) like a ruleset's, with a did-you-mean hint for a misspelt name: a test file
that loads runs without a surprise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from ..alerting.matchers import combine
from ..alerting.silences import silence_problem
from ..errors import Location, RulesetError, RulesetProblem, TicketError, did_you_mean
from ..ruleset.loader import LineMap, load_ruleset, read_located_yaml, read_text, validation_problems
from ..ruleset.schema import Ruleset
from ..sources.files import read_tickets
from ..tickets import Ticket
from .model import (
    HISTORY_KEYS,
    AckSpec,
    CaseSpec,
    DecisionExpectation,
    Expectation,
    History,
    NotificationExpectation,
    StepSilence,
    StepSpec,
    SuiteSpec,
    TicketSpec,
    TicketUpdate,
    TimeRef,
    format_offset,
)

__all__ = [
    "Suite",
    "Case",
    "Step",
    "Timeline",
    "TicketChange",
    "Ack",
    "NewSilence",
    "ExpectedLevel",
    "ExpectedTicket",
    "ExpectedMessage",
    "load_suite",
    "parse_suite",
]

Path_ = tuple[str | int, ...]
_UNSET: Any = object()
#: Keys of a ticket (or its defaults) that are not passed on as ticket fields.
_NOT_FIELDS = ("id", "created", "tier", "status", "stage", *HISTORY_KEYS)


@dataclass(frozen=True)
class Timeline:
    """A ticket through a test: its fields and its dated histories.  At each instant the
    run sees the ticket as the ticket system knew it then: history entries dated later
    are not known yet, and the current stage, status and tier are the last ones entered."""

    id: str
    fields: Mapping[str, Any]
    created: datetime
    tier: str | None = None
    status: str | None = None
    stage: str | None = None
    stages: tuple[tuple[str, datetime], ...] = ()
    statuses: tuple[tuple[str, datetime], ...] = ()
    tiers: tuple[tuple[str, datetime], ...] = ()

    @classmethod
    def of_ticket(cls, ticket: Ticket) -> "Timeline":
        """A ticket as a file gives it (its histories dated as written)."""
        known = ("id", "tier", "status", "stage", "created_at", *HISTORY_KEYS.values())
        fields = {k: v for k, v in ticket.model_dump(mode="json").items() if k not in known}
        return cls(
            ticket.id,
            fields,
            ticket.created_at,
            ticket.tier,
            ticket.status,
            ticket.stage if not ticket.stage_history else None,
            tuple((e.stage, e.entered_at) for e in ticket.stage_history),
            tuple((e.status, e.at) for e in ticket.status_history),
            tuple((e.tier, e.at) for e in ticket.tier_history),
        )

    def exists(self, now: datetime) -> bool:
        """The ticket is in the feed at ``now`` (it was created by then)."""
        return self.created <= now

    def view(self, now: datetime) -> Ticket:
        """The ticket as reported at ``now``; ValueError (pydantic's) when it is not a valid ticket."""

        def known(entries: tuple[tuple[str, datetime], ...]) -> list[tuple[str, datetime]]:
            return [entry for entry in entries if entry[1] <= now]

        def current(entries: list[tuple[str, datetime]], written: str | None, every: tuple[tuple[str, datetime], ...]) -> str | None:
            if entries:
                return entries[-1][0]
            return written if written is not None else (every[0][0] if every else None)

        stages, statuses, tiers = known(self.stages), known(self.statuses), known(self.tiers)
        data: dict[str, Any] = {
            **self.fields,
            "id": self.id,
            "tier": current(tiers, self.tier, self.tiers),
            "status": current(statuses, self.status, self.statuses) or "open",
            "created_at": self.created,
            "stage_history": [{"stage": name, "entered_at": at} for name, at in stages],
            "status_history": [{"status": name, "at": at} for name, at in statuses],
            "tier_history": [{"tier": name, "at": at} for name, at in tiers],
        }
        if not self.stages and self.stage is not None:
            data["stage"] = self.stage
        return Ticket.model_validate(data)

    def changed(self, change: "TicketChange") -> "Timeline":
        """The timeline after ``change``."""
        fields = dict(self.fields)
        for name, value in change.fields.items():
            if value is None:
                fields.pop(name, None)
            else:
                fields[name] = value
        updated = replace(self, fields=fields)
        if change.stage is not None:
            updated = replace(updated, stages=(*updated.stages, (change.stage, change.at)), stage=None)
        if change.status is not None:
            updated = replace(updated, statuses=(*updated.statuses, (change.status, change.at)))
        if change.tier is not None:
            updated = replace(updated, tiers=(*updated.tiers, (change.tier, change.at)))
        return updated


@dataclass(frozen=True)
class TicketChange:
    """An update of one ticket before a step's run (a stage, status or tier entered at ``at``; fields set)."""

    ticket: str
    at: datetime
    stage: str | None = None
    status: str | None = None
    tier: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ack:
    """Acknowledge ``ticket``'s open escalations (one policy/level when given)."""

    ticket: str
    policy: str | None
    level: str | None
    by: str


@dataclass(frozen=True)
class NewSilence:
    """A silence added to the state at the step's instant."""

    id: str
    matchers: tuple[dict[str, Any], ...]
    ends: datetime
    comment: str
    by: str


@dataclass(frozen=True)
class ExpectedLevel:
    """A policy's expected level (None: the policy does not measure the ticket; ``ok``: no level yet)."""

    level: str | None
    due: datetime | None = None
    paused: bool | None = None
    line: int | None = None


@dataclass(frozen=True)
class ExpectedTicket:
    """What a step expects of one ticket; ``provider`` is ``ExpectedTicket.UNSET`` when not written."""

    UNSET = _UNSET

    id: str
    levels: Mapping[str, ExpectedLevel]
    provider: Any
    decisions: tuple[DecisionExpectation, ...] | None
    line: int | None


@dataclass(frozen=True)
class ExpectedMessage:
    """An expected notification: the written fields and where they stand."""

    spec: NotificationExpectation
    index: int
    line: int | None


@dataclass(frozen=True)
class Step:
    """One evaluation instant of a test, ready to run."""

    index: int
    at: datetime
    written: str
    line: int | None
    changes: tuple[TicketChange, ...] = ()
    added: tuple[Timeline, ...] = ()
    acks: tuple[Ack, ...] = ()
    silences: tuple[NewSilence, ...] = ()
    expired: tuple[str, ...] = ()
    tickets: tuple[ExpectedTicket, ...] = ()
    notifications: tuple[ExpectedMessage, ...] | None = None
    exactly: bool = False


@dataclass(frozen=True)
class Case:
    """One test: its start, zone, tickets and steps."""

    name: str
    description: str | None
    line: int | None
    start: datetime
    zone: tzinfo
    tickets: tuple[Timeline, ...]
    steps: tuple[Step, ...]

    def label(self, step: Step) -> str:
        """``+2h15m (2026-11-25 10:15 +08:00)``: a step's instant as written and in the test's zone."""
        local = step.at.astimezone(self.zone)
        relative = step.written if step.written.startswith(("+", "-")) else format_offset(step.at - self.start)
        return f"{relative} ({local:%Y-%m-%d %H:%M} {local.isoformat()[-6:]})"


@dataclass(frozen=True)
class Suite:
    """A loaded test file: where it is, the ruleset it tests, and its tests."""

    path: str
    ruleset: Ruleset
    cases: tuple[Case, ...]

    @property
    def ruleset_path(self) -> str:
        """The ruleset file, as loaded."""
        return self.ruleset.source or "<ruleset>"


class _Problems:
    """Located problems of one test file, collected so that all are reported at once."""

    def __init__(self, source: str, lines: LineMap) -> None:
        self.source = source
        self.lines = lines
        self.found: list[RulesetProblem] = []

    def add(self, path: Path_, message: str, hint: str | None = None) -> None:
        self.found.append(RulesetProblem(Location(self.source, self.lines.line(path), ".".join(map(str, path)) or None), message, hint))

    def unknown(self, path: Path_, what: str, name: str, known: Iterable[str]) -> None:
        self.add(path, f"unknown {what} {name!r}", did_you_mean(name, known))


def load_suite(path: str | Path) -> Suite:
    """Load the test file at ``path`` and the ruleset it names; RulesetError with every located problem."""
    return parse_suite(read_text(path, "ruleset test file"), str(path))


def parse_suite(text: str, source: str) -> Suite:
    """Parse a test file's text (``source`` names it, and relative ruleset paths start from its folder)."""
    data, lines = read_located_yaml(text, source)
    if not isinstance(data, dict):
        raise RulesetError([RulesetProblem(Location(source, 1), "a ruleset test file is a mapping with ruleset: and tests: (see docs/testing.md)")])
    try:
        spec = SuiteSpec.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, lines, source, SuiteSpec)
        problems.sort(key=lambda p: (p.location.line or 0, p.location.key or ""))
        raise RulesetError(problems) from None
    ruleset_path = Path(os.path.normpath(Path(source).parent / spec.ruleset))
    try:
        ruleset = load_ruleset(ruleset_path)
    except RulesetError as exc:
        where = RulesetProblem(Location(source, lines.line(("ruleset",)), "ruleset"), f"the ruleset {spec.ruleset} cannot be loaded")
        raise RulesetError([where, *exc.problems]) from None
    problems = _Problems(source, lines)
    cases = tuple(_case(spec, index, case, ruleset, problems) for index, case in enumerate(spec.tests))
    seen: dict[str, int] = {}
    for index, case in enumerate(spec.tests):
        if case.name in seen:
            problems.add(("tests", index, "name"), f"a second test named {case.name!r} (the first is tests.{seen[case.name]})")
        seen.setdefault(case.name, index)
    if problems.found:
        problems.found.sort(key=lambda p: (p.location.line or 0, p.location.key or ""))
        raise RulesetError(problems.found)
    return Suite(source, ruleset, tuple(case for case in cases if case is not None))


def _zone(name: str | None) -> tzinfo | None:
    return ZoneInfo(name) if name else None


def _case(suite: SuiteSpec, index: int, spec: CaseSpec, ruleset: Ruleset, problems: _Problems) -> Case | None:
    here: Path_ = ("tests", index)
    zone = _zone(spec.timezone or suite.timezone or ruleset.ticket_timezone)
    written_start = spec.start or suite.start
    where = here + ("start",) if spec.start is not None else ("start",)
    if written_start is None:
        problems.add(here, f"test {spec.name!r} has no start: give start (an ISO 8601 time) in the test or at the top of the file")
        return None
    try:
        start = written_start.absolute(zone)
    except ValueError as exc:
        problems.add(where, f"start is the instant relative times count from: {exc}")
        return None
    defaults = {**suite.ticket_defaults, **spec.ticket_defaults}
    for key in defaults.keys() & {"id", "created", *HISTORY_KEYS}:
        where = here + ("ticket_defaults", key) if key in spec.ticket_defaults else ("ticket_defaults", key)
        problems.add(where, f"{key} cannot be a default: each ticket has its own")
    compiler = _CaseCompiler(ruleset, problems, here, start, zone, defaults)
    exactly = spec.exactly if spec.exactly is not None else suite.exactly
    tickets = [timeline for position, name in enumerate(spec.tickets_from) for timeline in compiler.from_file(name, here + ("tickets_from", position))]
    tickets += [compiler.timeline(ticket, here + ("tickets", position), None) for position, ticket in enumerate(spec.tickets)]
    steps = [compiler.step(step, position, exactly) for position, step in enumerate(spec.steps)]
    return Case(spec.name, spec.description, problems.lines.line(here), start, zone or timezone.utc, tuple(t for t in tickets if t), tuple(s for s in steps if s))


class _CaseCompiler:
    """Resolves one test's times and checks its names against the ruleset, step by step,
    replaying the updates so that each ticket is checked as every run will see it."""

    def __init__(self, ruleset: Ruleset, problems: _Problems, here: Path_, start: datetime, zone: tzinfo | None, defaults: Mapping[str, Any]) -> None:
        self.ruleset = ruleset
        self.problems = problems
        self.here = here
        self.start = start
        self.zone = zone
        self.defaults = defaults
        self.timelines: dict[str, Timeline] = {}
        self.defined_at: dict[str, Path_] = {}
        self.silences: set[str] = set()
        self.broken: set[str] = set()
        self.previous: datetime | None = None
        self.levels = {policy.name: [level.name for level in policy.levels] for policy in ruleset.policies}
        self.rules = [rule.name for rule in ruleset.rules]

    def time(self, ref: TimeRef, path: Path_) -> datetime | None:
        try:
            return ref.resolve(self.start, self.zone)
        except ValueError as exc:
            self.problems.add(path, str(exc))
            return None

    def _history(self, entries: list[History], path: Path_, known: list[str] | None, what: str) -> tuple[tuple[str, datetime], ...]:
        found = []
        for position, entry in enumerate(entries):
            at = self.time(entry.at, path + (position,))
            if known is not None and entry.name not in known:
                self.problems.unknown(path + (position, entry.name), what, entry.name, known)
            if at is not None:
                found.append((entry.name, at))
        return tuple(found)

    def timeline(self, spec: TicketSpec, path: Path_, added_at: datetime | None) -> Timeline | None:
        if spec.id in self.defined_at:
            self.problems.add(path + ("id",), f"ticket {spec.id!r} is already defined at {'.'.join(map(str, self.defined_at[spec.id]))}")
            return None
        self.defined_at[spec.id] = path
        defaults = self.defaults
        tier = spec.tier if spec.tier is not None else defaults.get("tier")
        status = spec.status if spec.status is not None else defaults.get("status")
        stage = spec.stage if spec.stage is not None else (defaults.get("stage") if not spec.stages else None)
        fields = {**{k: v for k, v in defaults.items() if k not in _NOT_FIELDS}, **spec.fields}
        stages = self._history(spec.stages, path + ("stages",), self.ruleset.stages, "stage")
        statuses = self._history(spec.statuses, path + ("statuses",), None, "status")
        tiers = self._history(spec.tiers, path + ("tiers",), list(self.ruleset.tiers), "tier")
        if tier is None and not tiers:
            self.problems.add(path, f"ticket {spec.id!r} has no tier: give tier, tiers, or ticket_defaults.tier")
            return None
        if tier is not None and tier not in self.ruleset.tiers:
            self.problems.unknown(path + ("tier",), "tier", tier, self.ruleset.tiers)
        if stage is not None and stage not in self.ruleset.stages:
            self.problems.unknown(path + ("stage",), "stage", stage, self.ruleset.stages)
        if spec.created is not None:
            created = self.time(spec.created, path + ("created",))
        else:
            firsts = [entries[0][1] for entries in (stages, statuses, tiers) if entries]
            created = min(firsts) if firsts else (added_at or self.start)
        if created is None:
            return None
        timeline = Timeline(spec.id, fields, created, tier, status, stage, stages, statuses, tiers)
        self.timelines[spec.id] = timeline
        self._check_view(timeline, max([created, *(at for _, at in (*stages, *statuses, *tiers))]), path)
        return timeline

    def from_file(self, name: str, path: Path_) -> list[Timeline]:
        """The tickets of a file (relative to the test file), each as a timeline."""
        try:
            tickets, problems = read_tickets([Path(self.problems.source).parent / name], self.ruleset.ticket_timezone)
        except TicketError as exc:
            self.problems.add(path, f"cannot read the tickets of {name}: {exc}")
            return []
        for problem in problems:
            self.problems.add(path, f"cannot read a ticket of {name}: {problem}")
        found = []
        for ticket in tickets:
            if ticket.id in self.defined_at:
                self.problems.add(path, f"ticket {ticket.id!r} of {name} is already defined at {'.'.join(map(str, self.defined_at[ticket.id]))}")
                continue
            self.defined_at[ticket.id] = path
            self.timelines[ticket.id] = Timeline.of_ticket(ticket)
            found.append(self.timelines[ticket.id])
        return found

    def _check_view(self, timeline: Timeline, now: datetime, path: Path_) -> None:
        if timeline.id in self.broken:
            return
        try:
            timeline.view(now)
        except ValidationError as exc:
            self.broken.add(timeline.id)
            error = exc.errors()[0]
            names = {"stage_history": "stages", "status_history": "statuses", "tier_history": "tiers", "created_at": "created"}
            loc = [names.get(str(part), part) for part in error["loc"]]
            message = error["msg"].removeprefix("Value error, ")
            self.problems.add(path, f"ticket {timeline.id!r} is not a valid ticket at {format_offset(now - self.start)}: {'.'.join(map(str, loc)) or 'ticket'}: {message}")

    def _known_ticket(self, ticket: str, path: Path_) -> bool:
        if ticket in self.timelines:
            return True
        self.problems.add(path, f"no ticket {ticket!r} in this test (by this step)", did_you_mean(ticket, self.timelines))
        return False

    def step(self, spec: StepSpec, position: int, exactly: bool) -> Step | None:
        path = self.here + ("steps", position)
        at = self.time(spec.at, path + ("at",))
        if at is None:
            return None
        if self.previous is not None and at <= self.previous:
            self.problems.add(path + ("at",), f"steps must go forward in time: {spec.at.text} is not after the step before")
        self.previous = at
        added = tuple(t for i, ticket in enumerate(spec.add) if (t := self.timeline(ticket, path + ("add", i), at)) is not None)
        changes = tuple(c for ticket, update in spec.update.items() if (c := self._change(ticket, update, at, path + ("update", ticket))) is not None)
        acks = tuple(self._ack(ack, path + ("ack", i)) for i, ack in enumerate(spec.ack))
        silences = tuple(s for i, silence in enumerate(spec.silence) if (s := self._silence(silence, at, path + ("silence", i), position, i)) is not None)
        for i, name in enumerate(spec.expire):
            if name not in self.silences:
                self.problems.add(path + ("expire", i), f"no silence {name!r} was added before in this test", did_you_mean(name, self.silences))
        for timeline in self.timelines.values():
            if timeline.exists(at):
                self._check_view(timeline, at, path)
        tickets, notifications, step_exactly = self._expectation(spec.expect, path + ("expect",), at)
        return Step(
            position,
            at,
            spec.at.text,
            self.problems.lines.line(path),
            changes,
            added,
            tuple(a for a in acks if a is not None),
            silences,
            tuple(spec.expire),
            tickets,
            notifications,
            exactly if step_exactly is None else step_exactly,
        )

    def _change(self, ticket: str, update: TicketUpdate, at: datetime, path: Path_) -> TicketChange | None:
        if not self._known_ticket(ticket, path):
            return None
        when = self.time(update.at, path + ("at",)) if update.at is not None else at
        if when is None:
            return None
        if when > at:
            self.problems.add(path + ("at",), f"an update is known at its step: {update.at.text if update.at else ''} is after the step's instant")
        status = update.status
        if update.close is True:
            status = self.ruleset.terminal_statuses[0]
        elif isinstance(update.close, str):
            status = update.close
            if status not in self.ruleset.terminal_statuses:
                self.problems.unknown(path + ("close",), "terminal status", status, self.ruleset.terminal_statuses)
        if update.stage is not None and update.stage not in self.ruleset.stages:
            self.problems.unknown(path + ("stage",), "stage", update.stage, self.ruleset.stages)
        if update.tier is not None and update.tier not in self.ruleset.tiers:
            self.problems.unknown(path + ("tier",), "tier", update.tier, self.ruleset.tiers)
        change = TicketChange(ticket, when, update.stage, status, update.tier, update.fields)
        self.timelines[ticket] = self.timelines[ticket].changed(change)
        return change

    def _ack(self, ack: AckSpec, path: Path_) -> Ack | None:
        if not self._known_ticket(ack.ticket, path):
            return None
        self._policy_level(ack.policy, ack.level, path)
        return Ack(ack.ticket, ack.policy, ack.level, ack.by)

    def _policy_level(self, policy: str | None, level: str | None, path: Path_) -> None:
        if policy is not None and policy not in self.levels:
            self.problems.unknown(path + ("policy",), "policy", policy, self.levels)
        elif level is not None:
            known = self.levels.get(policy) if policy is not None else sorted({name for names in self.levels.values() for name in names})
            if level not in (known or []):
                self.problems.unknown(path + ("level",), "level", level, known or [])

    def _silence(self, spec: StepSilence, at: datetime, path: Path_, step: int, position: int) -> NewSilence | None:
        matchers = combine(spec.match, spec.match_re, spec.matchers)
        problem = silence_problem(matchers)
        if problem is not None:
            self.problems.add(path, problem)
            return None
        ends = at + spec.for_ if spec.for_ is not None else self.time(spec.ends, path + ("ends",))
        if ends is None:
            return None
        if ends <= at:
            self.problems.add(path + ("ends",), "a silence must end after the step that adds it")
            return None
        name = spec.id or f"test-silence-{step}-{position}"
        if name in self.silences:
            self.problems.add(path + ("id",), f"a second silence with id {name!r} in this test")
        self.silences.add(name)
        return NewSilence(name, tuple(m.to_api() for m in matchers), ends, spec.comment, spec.by)

    def _expectation(
        self, spec: Expectation | None, path: Path_, at: datetime
    ) -> tuple[tuple[ExpectedTicket, ...], tuple[ExpectedMessage, ...] | None, bool | None]:
        if spec is None:
            return (), None, None
        tickets = []
        for ticket, expected in spec.tickets.items():
            where = path + ("tickets", ticket)
            if not self._known_ticket(ticket, where):
                continue
            if not self.timelines[ticket].exists(at):
                self.problems.add(where, f"ticket {ticket!r} is created after this step ({format_offset(self.timelines[ticket].created - self.start)})")
            levels = {}
            for policy, level in expected.levels.items():
                if policy not in self.levels:
                    self.problems.unknown(where + ("levels", policy), "policy", policy, self.levels)
                    continue
                if level is None:
                    levels[policy] = ExpectedLevel(None, line=self.problems.lines.line(where + ("levels", policy)))
                    continue
                if level.level != "ok" and level.level not in self.levels[policy]:
                    self.problems.unknown(where + ("levels", policy), f"level of policy {policy!r}", level.level, ["ok", *self.levels[policy]])
                due = self.time(level.due, where + ("levels", policy, "due")) if level.due is not None else None
                levels[policy] = ExpectedLevel(level.level, due, level.paused, self.problems.lines.line(where + ("levels", policy)))
            for i, decision in enumerate(expected.decisions or []):
                if decision.rule not in self.rules:
                    self.problems.unknown(where + ("decisions", i), "rule", decision.rule, self.rules)
            provider = expected.provider if "provider" in expected.model_fields_set else ExpectedTicket.UNSET
            decisions = tuple(expected.decisions) if expected.decisions is not None else None
            tickets.append(ExpectedTicket(ticket, levels, provider, decisions, self.problems.lines.line(where)))
        messages = None
        if spec.notifications is not None:
            messages = []
            for i, note in enumerate(spec.notifications):
                where = path + ("notifications", i)
                if note.receiver is not None and note.receiver not in self.ruleset.receivers:
                    self.problems.unknown(where + ("receiver",), "receiver", note.receiver, self.ruleset.receivers)
                for j, ticket in enumerate(note.tickets or []):
                    self._known_ticket(ticket, where + ("tickets", j))
                messages.append(ExpectedMessage(note, i, self.problems.lines.line(where)))
        return tuple(tickets), tuple(messages) if messages is not None else None, spec.exactly
