"""Compare what a step expects with what the run did (pure): one Failure per difference.

Only what is written is checked.  A ticket's levels, provider and decisions are compared
with the evaluation at the step's instant; expected notifications are matched one to one
with the messages sent at that instant (any order; a message matches when every written
field holds), and with ``exactly`` a message no expectation matched is a failure too.
Every failure says what was expected and what was got, in words a ruleset's author reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Iterable, Mapping, Sequence

from ..alerting.receivers import AlertMessage
from ..engine import Decision, TicketResult
from .model import DecisionExpectation, NotificationExpectation
from .suite import ExpectedMessage, ExpectedTicket, Step

__all__ = ["Failure", "SentMessage", "check_step", "describe_decision", "describe_expected", "match_messages", "message_mismatches"]

#: Shown for a policy that does not measure the ticket.
NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class Failure:
    """One difference at one step: ``subject`` (``ticket EC-1``, ``notifications``,
    ``ack EC-1``) and ``what`` (``levels.response``, ``expected notification 2``…) say
    where, ``line`` is the expectation's line in the test file, ``detail`` adds lines
    (the closest message and its differing fields, what was sent)."""

    step: int
    at: str
    line: int | None
    subject: str
    what: str
    expected: str
    got: str
    detail: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--format json``."""
        return {
            "step": self.step,
            "at": self.at,
            "line": self.line,
            "subject": self.subject,
            "what": self.what,
            "expected": self.expected,
            "got": self.got,
            "detail": list(self.detail),
        }


@dataclass(frozen=True)
class SentMessage:
    """A message a receiver got at a step (captured instead of sent)."""

    receiver: str
    title: str
    body: str
    group: Mapping[str, str]
    kinds: tuple[str, ...]
    tickets: tuple[str, ...]
    labels: tuple[Mapping[str, str], ...] = ()

    @classmethod
    def of(cls, message: AlertMessage, labels: Sequence[Mapping[str, str]] = ()) -> "SentMessage":
        """The captured ``message`` (``labels``: each notification's, for route coverage)."""
        kinds = tuple(sorted({note.kind for note in message.notifications}))
        tickets = tuple(dict.fromkeys(note.ticket_id for note in message.notifications if note.ticket_id is not None))
        return cls(message.receiver, message.title, message.body, dict(message.group), kinds, tickets, tuple(labels))

    @property
    def kind(self) -> str:
        """The kind of the notifications it stands for (``escalation+repeat`` when mixed)."""
        return "+".join(self.kinds)

    def describe(self) -> str:
        """One line: receiver, kind, title, group labels and tickets."""
        group = ", ".join(f"{k}={v}" for k, v in self.group.items() if v)
        parts = [self.receiver, self.kind, repr(self.title)]
        if group:
            parts.append(f"group {group}")
        if self.tickets:
            parts.append("tickets " + ", ".join(self.tickets))
        return " · ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--format json``."""
        return {"receiver": self.receiver, "kind": self.kind, "title": self.title, "body": self.body, "group": dict(self.group), "tickets": list(self.tickets)}


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def describe_decision(decision: Decision) -> str:
    """``response-red notify receivers=[command-center, partner-desk] repeat=30m``."""
    arguments = " ".join(f"{name}={_plain(value)}" for name, value in decision.arguments.items())
    return f"{decision.rule} {decision.action}" + (f" {arguments}" if arguments else "")


def _describe_decision_expectation(expected: DecisionExpectation) -> str:
    text = f"a decision of rule {expected.rule}"
    if expected.action:
        text += f" ({expected.action}"
        text += "".join(f" {name}={_plain(value)}" for name, value in expected.arguments.items()) + ")"
    elif expected.arguments:
        text += " (" + " ".join(f"{name}={_plain(value)}" for name, value in expected.arguments.items()) + ")"
    return text


def describe_expected(spec: NotificationExpectation) -> str:
    """The written fields of an expected notification, on one line."""
    parts = []
    if spec.receiver is not None:
        parts.append(f"receiver {spec.receiver}")
    if spec.kind is not None:
        parts.append("kind " + (spec.kind if isinstance(spec.kind, str) else "+".join(sorted(spec.kind))))
    if spec.title is not None:
        parts.append(f"title {spec.title!r}")
    if spec.group is not None:
        parts.append("group " + ", ".join(f"{k}={v}" for k, v in spec.group.items()))
    if spec.tickets is not None:
        parts.append("tickets " + (", ".join(spec.tickets) or "none"))
    for line in spec.body_lines:
        parts.append(f"body with {line!r}")
    return ", ".join(parts)


def message_mismatches(spec: NotificationExpectation, message: SentMessage) -> list[tuple[str, str, str]]:
    """The written fields ``message`` does not satisfy: (field, expected, got) each."""
    found: list[tuple[str, str, str]] = []
    if spec.receiver is not None and spec.receiver != message.receiver:
        found.append(("receiver", spec.receiver, message.receiver))
    if spec.kind is not None:
        kinds = {spec.kind} if isinstance(spec.kind, str) else set(spec.kind)
        if kinds != set(message.kinds):
            found.append(("kind", "+".join(sorted(kinds)), message.kind))
    if spec.title is not None and spec.title != message.title:
        found.append(("title", repr(spec.title), repr(message.title)))
    for name, value in (spec.group or {}).items():
        if message.group.get(name) != value:
            found.append((f"group.{name}", value, message.group.get(name) or "(no such group label)"))
    if spec.tickets is not None and sorted(spec.tickets) != sorted(message.tickets):
        found.append(("tickets", ", ".join(spec.tickets) or "none", ", ".join(message.tickets) or "none"))
    for line in spec.body_lines:
        if line not in message.body:
            found.append(("body", f"a body with {line!r}", "a body without it"))
    return found


def match_messages(expected: Sequence[NotificationExpectation], sent: Sequence[SentMessage]) -> dict[int, int]:
    """A one-to-one matching of expected notifications to sent messages (expected index →
    sent index) that matches as many expectations as possible, so that the order in which
    they are written never matters (Kuhn's augmenting paths; the lists are short)."""
    fits = [[j for j, message in enumerate(sent) if not message_mismatches(spec, message)] for spec in expected]
    owner: dict[int, int] = {}

    def assign(i: int, seen: set[int]) -> bool:
        for j in fits[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or assign(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in range(len(expected)):
        assign(i, set())
    return {i: j for j, i in owner.items()}


def _local(value: datetime | None, zone: tzinfo) -> str:
    return value.astimezone(zone).isoformat(timespec="minutes") if value is not None else "none"


def _ticket_failures(expected: ExpectedTicket, result: TicketResult | None, zone: tzinfo) -> Iterable[tuple[str, str, str, int | None]]:
    """(what, expected, got, line) for each difference of one ticket."""
    if result is None:
        yield "ticket", "evaluated at this step", "not in the feed", expected.line
        return
    statuses = {status.policy: status for status in result.statuses}
    for policy, level in expected.levels.items():
        status = statuses.get(policy)
        got = (status.level or "ok") if status is not None else NOT_MEASURED
        wanted = level.level if level.level is not None else NOT_MEASURED
        if got != wanted:
            yield f"levels.{policy}", wanted, got, level.line
        if status is None:
            continue
        if level.due is not None and status.due_at != level.due:
            yield f"levels.{policy}.due", _local(level.due, zone), _local(status.due_at, zone), level.line
        if level.paused is not None and status.paused != level.paused:
            yield f"levels.{policy}.paused", str(level.paused).lower(), str(status.paused).lower(), level.line
    if expected.provider is not ExpectedTicket.UNSET and result.ticket.provider != expected.provider:
        yield "provider", expected.provider or "none", result.ticket.provider or "none", expected.line
    if expected.decisions is not None:
        taken = "\n".join(describe_decision(d) for d in result.decisions) or "no decision"
        if not expected.decisions and result.decisions:
            yield "decisions", "no decision", taken, expected.line
        for wanted_decision in expected.decisions:
            if not any(_decision_fits(wanted_decision, d) for d in result.decisions):
                yield "decisions", _describe_decision_expectation(wanted_decision), taken, expected.line


def _decision_fits(expected: DecisionExpectation, decision: Decision) -> bool:
    if expected.rule != decision.rule or (expected.action is not None and expected.action != decision.action):
        return False
    return all(decision.arguments.get(name) == value for name, value in expected.arguments.items())


def _closest(spec: NotificationExpectation, candidates: Sequence[SentMessage]) -> tuple[SentMessage, list[tuple[str, str, str]]] | None:
    """The sent message with the fewest differing fields (the same receiver first)."""
    if not candidates:
        return None
    scored = [(len(message_mismatches(spec, m)), spec.receiver not in (None, m.receiver), index) for index, m in enumerate(candidates)]
    best = candidates[min(scored)[2]]
    return best, message_mismatches(spec, best)


def check_step(step: Step, label: str, results: Mapping[str, TicketResult], sent: Sequence[SentMessage], zone: tzinfo) -> list[Failure]:
    """Every difference between what ``step`` expects and what its run did."""
    failures: list[Failure] = []
    for expected in step.tickets:
        for what, wanted, got, line in _ticket_failures(expected, results.get(expected.id), zone):
            failures.append(Failure(step.index, label, line, f"ticket {expected.id}", what, wanted, got))
    if step.notifications is None:
        return failures
    specs = [item.spec for item in step.notifications]
    matched = match_messages(specs, sent)
    spare = [message for index, message in enumerate(sent) if index not in set(matched.values())]
    sent_lines = tuple(f"  {message.describe()}" for message in sent)
    shown: list[SentMessage] = []  # closest to a missing expectation: reported there, not again
    for position, item in enumerate(step.notifications):
        if position in matched:
            continue
        failure, closest = _missing(step, label, item, spare, sent_lines)
        failures.append(failure)
        if closest is not None:
            shown.append(closest)
    if step.exactly or not step.notifications:
        for message in spare:
            if any(message is other for other in shown):
                continue
            why = "nothing sent at this step" if not step.notifications else "no other message (exactly: true)"
            failures.append(Failure(step.index, label, step.line, "notifications", "unexpected message", why, message.describe()))
    return failures


def _missing(
    step: Step, label: str, item: ExpectedMessage, spare: Sequence[SentMessage], sent_lines: tuple[str, ...]
) -> tuple[Failure, SentMessage | None]:
    """The failure of an expectation no message matched, and the closest message it shows."""
    what = f"expected notification {item.index + 1}"
    closest = _closest(item.spec, spare)
    if closest is None:
        got = "no message was sent at this step" if not sent_lines else "no message left to match (each message matches one expectation)"
        detail = ("sent at this step:", *sent_lines) if sent_lines else ()
        return Failure(step.index, label, item.line, "notifications", what, describe_expected(item.spec), got, detail), None
    message, differences = closest
    detail = [f"closest: {message.describe()}"]
    for name, wanted, got in differences:
        detail += [f"  {name}:", f"    expected: {wanted}", f"    got:      {got}"]
    detail += ["sent at this step:", *sent_lines]
    return Failure(step.index, label, item.line, "notifications", what, describe_expected(item.spec), "no message matches", tuple(detail)), message
