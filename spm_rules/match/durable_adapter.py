"""The durable_rules adapter: the one module in spm-rules that imports durable_rules.

Rule conditions are compiled to durable_rules' JSON ruleset form, facts are asserted in
batches, and the matches come back through action callbacks.  durable_rules 2.0.28 has
traps, each handled here (``tests/match/test_durable_adapter.py`` shows every one):

* **Comparisons differ from** :func:`~spm_rules.ruleset.conditions.holds`.  durable_rules
  finds ``1 == "1"``, ``1 == True``, ``"10" < 5`` and ``"a" < True``, lets ``$ex`` hold
  for null, and compares text with C ``strcmp`` (an embedded NUL ends the text).  So no
  fact value ever reaches it: every field becomes kind-tagged keys holding small
  integers.  A text value becomes its *rank* among the rule constants for that field
  (``2k+1`` when equal to the k-th constant, ``2k`` when between constants k-1 and k),
  numbers likewise, and bools 0/1, so equality and order are decided by Python once and
  durable_rules only compares integers.  A missing or null field has no key;
  a NaN gets a key of its own (it equals nothing, yet ``ne`` holds for it).
* **``not`` does not exist** in its expressions, so negation is pushed down to the
  comparisons (De Morgan), where ``not (x == v)`` becomes ``x missing or x != v``.
* **An event fires one rule only**, so facts are asserted (every matching rule fires)
  and retracted again after the batch.
* **A batch with one message that matches nothing raises** ``MessageNotHandledException``
  and runs no action at all, not even for the messages that matched: a catch-all rule
  matches every fact, which also proves that each fact was seen.
* **A rule that holds for a message without our keys also matches the session-state
  document** durable_rules asserts after every action, and re-fires forever: every rule
  also requires the fact's index key ``i``.
* **Two different facts can be taken for one**: without an ``id`` a fact is known by a
  hash of its content, and ``{"v": 10534}`` and ``{"v": 78577}`` asserted together raise
  ``MessageObservedException``: every message carries its index in the batch as its id.
* **One ruleset holds at most 1024 sessions**, then ``MemoryError``: all facts go to one
  session, and each batch is retracted, so the session is left as empty as it started.
* **``Host.delete_state`` segfaults**: never called; nothing needs it (see above).
* **``Host()`` starts two daemon threads** that dispatch pending actions and timers, which
  would race with the synchronous matching here: :class:`_QuietHost` starts none, so
  durable_rules' timers (whose ``_unix_now()`` is off by the UTC offset) never run either.
* **Rulesets are registered per host by name**: each compiled ruleset gets its own host
  and a process-unique name, and is reused for an identical definition, because
  durable_rules never frees a ruleset's session memory (about 0.1–0.3 MB each).
* **Action exceptions are swallowed** into the session state: the callback catches its
  own errors and the batch raises :class:`~spm_rules.errors.SpmError` instead.
* **Capacity limits that crash or hang instead of failing**: a batched fact with 253
  properties segfaults; more than 64 tests holding at once for one fact fail the batch
  (error 303), so a ruleset works until such a fact arrives; more than 15
  ``$and``/``$or`` groups in one rule are refused (113); 256 rules ending on one test
  segfault (rules with one condition are merged here, so none share an end); 513 tests
  below one test hang the registration.  Only the fields rules read
  are encoded, and rules are split (alternatives of a rule become separate durable
  rules) and packed into as many durable rulesets as the budgets below require, checked
  on a model of the network durable_rules builds; a rule that cannot be made to fit
  raises :class:`DurableLimitError`.
"""

from __future__ import annotations

import bisect
import itertools
import json
import sys
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterable, Iterator, Mapping, Sequence, Union

from ..batches import batched
from ..errors import SpmError
from ..ruleset.conditions import All, AnyOf, Compare, Condition, Not, Present
from .python_matcher import NUMBER, SCALAR_KINDS, TEXT, check_fact, is_nan, value_kind

try:
    from durable import engine as _engine
except ImportError as _exc:  # CPython 3.13+: its C engine needs PyEval_CallObject, now gone
    _engine = None
    _IMPORT_ERROR: ImportError | None = _exc
else:
    _IMPORT_ERROR = None

__all__ = ["DurableMatcher", "DurableLimitError", "durable_available", "BATCH_SIZE"]

#: Facts asserted per durable_rules call; also each rule's ``cap``, so that one action
#: receives every match of the batch (``cap`` is an unsigned short in the engine).
BATCH_SIZE = 1000
#: The one session every fact goes to (durable_rules' default).
_SESSION = "0"
#: The key every encoded fact carries: its index in the batch.
_INDEX = "i"
#: The catch-all rule's name; the others are r0, r1, ...
_SEEN = "seen"

# Budgets, each below a limit measured on durable_rules 2.0.28 (see the module docstring).
_MAX_GROUPS_PER_RULE = 15  # 16 $and/$or groups in one rule: error 113 at registration
_MAX_STACK = 60  # the alpha walk's stack holds 64 nodes: error 303, only once such a fact comes
_MAX_TESTS_PER_NODE = 400  # 513 tests below one node fill its hash set: registration hangs
_MAX_LISTED_PER_NODE = 120  # 129 $nex tests or alternatives below one node: error 107
_MAX_KEYS_PER_FACT = 240  # a batched message with 253 properties segfaults
_MAX_FRAMES_PER_RULE = 16  # how often one fact may reach a rule (each time it is copied)
_MAX_PIECES_PER_RULE = 64
_MAX_LABELS = 4096

_LOCK = threading.Lock()
_NAMES = itertools.count()


def durable_available() -> bool:
    """Whether durable_rules imports on this Python."""
    return _IMPORT_ERROR is None


class DurableLimitError(SpmError):
    """A rule that durable_rules 2.0.28 cannot run without crashing; the Python matcher can."""


# --- Expressions over encoded keys ------------------------------------------------------
#
# An expression is a tuple: ("and", children), ("or", children), ("ex", key),
# ("nex", key), (op, key, code) for op in eq/neq/lt/lte/gt/gte, or TRUE/FALSE.

Expr = tuple
TRUE: Expr = ("true",)
FALSE: Expr = ("false",)
_NEGATED = {"eq": "neq", "neq": "eq", "lt": "gte", "gte": "lt", "lte": "gt", "gt": "lte"}
_DURABLE_OP = {"neq": "$neq", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}
_GUARD: Expr = ("ex", _INDEX)


def _group(kind: str, items: Iterable[Expr]) -> Expr:
    """``and``/``or`` of the items: flattened, constants folded, repeats dropped."""
    absorbing, neutral = (FALSE, TRUE) if kind == "and" else (TRUE, FALSE)
    children: list[Expr] = []
    for item in items:
        if item == absorbing:
            return absorbing
        if item == neutral:
            continue
        for child in item[1] if item[0] == kind else (item,):
            if child not in children:
                children.append(child)
    if not children:
        return neutral
    if len(children) == 1:
        return children[0]
    return (kind, tuple(children))


def _groups(expr: Expr) -> int:
    if expr[0] in ("and", "or"):
        return 1 + sum(_groups(child) for child in expr[1])
    return 0


def _most_at_once(tests: Iterable[Expr]) -> int:
    """How many of these atomic tests can hold for one fact at the same time.

    Tests of different keys are independent.  Those of one key all hold when it is
    absent (``$nex``) or are counted at every code next to one they compare with, which
    covers every value: between those codes the count cannot change.
    """
    by_key: dict[str, list[Expr]] = {}
    for test in tests:
        by_key.setdefault(test[1], []).append(test)
    total = 0
    for same in by_key.values():
        codes: dict[str, list[int]] = {op: [] for op in ("eq", "neq", "lt", "lte", "gt", "gte")}
        for test in same:
            if len(test) == 3:
                codes[test[0]].append(test[2])
        for listed in codes.values():
            listed.sort()
        exists = sum(1 for test in same if test[0] == "ex")
        candidates = {code + step for listed in codes.values() for code in listed for step in (-1, 0, 1)} or {0}
        present = max(
            exists
            + bisect.bisect_right(codes["eq"], value) - bisect.bisect_left(codes["eq"], value)
            + len(codes["neq"]) - (bisect.bisect_right(codes["neq"], value) - bisect.bisect_left(codes["neq"], value))
            + len(codes["lt"]) - bisect.bisect_right(codes["lt"], value)
            + len(codes["lte"]) - bisect.bisect_left(codes["lte"], value)
            + bisect.bisect_left(codes["gt"], value)
            + bisect.bisect_right(codes["gte"], value)
            for value in candidates
        )
        total += max(sum(1 for test in same if test[0] == "nex"), present)
    return total


def _frames(expr: Expr, entries: int = 1) -> int:
    """How often a fact can reach the end of ``expr``, at most.

    Each alternative of an ``$or`` that holds leads the fact on once more, so a rule of
    ``and`` over ``or`` groups fires once per combination of alternatives that hold.
    """
    if expr[0] == "and":
        for child in expr[1]:
            entries = _frames(child, entries)
        return entries
    if expr[0] == "or":
        atoms = [child for child in expr[1] if child[0] not in ("and", "or")]
        groups = [child for child in expr[1] if child[0] in ("and", "or")]
        return entries * _most_at_once(atoms) + sum(_frames(child, entries) for child in groups)
    return entries


def _keys_of(expr: Expr) -> Iterator[str]:
    if expr[0] in ("and", "or"):
        for child in expr[1]:
            yield from _keys_of(child)
    else:
        yield expr[1]


class _Node:
    """An alpha node as durable_rules builds them: a test (None for a join) and its successors."""

    __slots__ = ("test", "children")

    def __init__(self, test: Expr | None) -> None:
        self.test = test
        self.children: list[_Node] = []


def _stack_depth(root: _Node) -> int:
    """The deepest the depth-first walk's stack can get below ``root``.

    The walk pushes every successor whose test holds, then takes the last one pushed,
    so its siblings wait while that branch is walked.  (Iterative: a long ``not_in``
    is a chain deeper than Python's recursion limit.)
    """
    depth: dict[int, int] = {}
    pending: list[tuple[_Node, bool]] = [(root, False)]
    while pending:
        node, expanded = pending.pop()
        if id(node) in depth:
            continue
        if not expanded:
            pending.append((node, True))
            pending.extend((child, False) for child in node.children)
            continue
        if not node.children:
            depth[id(node)] = 0
            continue
        tests = [child.test for child in node.children if child.test is not None]
        waiting = _most_at_once(tests) + len(node.children) - len(tests)
        depth[id(node)] = max(waiting, waiting - 1 + max(depth[id(child)] for child in node.children))
    return depth[id(root)]


def _crowded(root: _Node) -> bool:
    """Whether some node has more successors than durable_rules' fixed tables hold."""
    seen: set[int] = set()
    pending = [root]
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        listed = sum(1 for child in node.children if child.test is None or child.test[0] == "nex")
        if listed > _MAX_LISTED_PER_NODE or len(node.children) - listed > _MAX_TESTS_PER_NODE:
            return True
        pending.extend(node.children)
    return False


class _Network:
    """The alpha network of one durable ruleset, built as durable_rules builds it.

    An ``$and`` is a chain of tests; an ``$or`` starts every alternative at the same
    node and joins them in a new forward node; a test equal to one already below the
    same node is shared.  The network is only a model, to check the budgets before
    durable_rules is given a ruleset that would crash or hang it.
    """

    def __init__(self, key_cost: Mapping[str, int]) -> None:
        self._key_cost = key_cost
        self._fields: set[str] = set()
        self._journal: list[tuple[_Node, int]] = []
        self.root = _Node(None)
        self.guard = self._attach(_GUARD, self.root)

    def _link(self, parent: _Node, child: _Node) -> None:
        self._journal.append((parent, len(parent.children)))
        parent.children.append(child)

    def _attach(self, expr: Expr, parent: _Node) -> _Node:
        if expr[0] == "and":
            for child in expr[1]:
                parent = self._attach(child, parent)
            return parent
        if expr[0] == "or":
            join = _Node(None)
            for child in expr[1]:
                self._link(self._attach(child, parent), join)
            return join
        for node in parent.children:
            if node.test == expr:
                return node
        node = _Node(expr)
        self._link(parent, node)
        return node

    def add(self, expr: Expr) -> bool:
        """Add ``expr`` as a rule if every budget still holds; leave the network as it was if not."""
        self._journal = []
        fields = self._fields | {key[1:] for key in _keys_of(expr)}
        self._attach(expr, self.guard)
        if (
            sum(self._key_cost[slot] for slot in fields) > _MAX_KEYS_PER_FACT
            or _stack_depth(self.root) > _MAX_STACK
            or _crowded(self.root)
        ):
            for node, length in reversed(self._journal):
                del node.children[length:]
            return False
        self._fields = fields
        return True


def _fits(expr: Expr, key_cost: Mapping[str, int]) -> bool:
    """Whether ``expr`` can be one durable rule, in a ruleset of its own if need be."""
    return (
        _groups(_group("and", (_GUARD, expr))) <= _MAX_GROUPS_PER_RULE
        and _frames(expr) <= _MAX_FRAMES_PER_RULE
        and _Network(key_cost).add(expr)
    )


def _pieces(expr: Expr, rule: str, key_cost: Mapping[str, int]) -> list[Expr]:
    """Split ``expr`` into alternatives that each fit one durable rule (their union is ``expr``)."""
    done: list[Expr] = []
    todo = [expr]
    while todo:
        current = todo.pop()
        if _fits(current, key_cost):
            done.append(current)
        elif current[0] == "or":
            half = len(current[1]) // 2
            todo.extend((_group("or", current[1][:half]), _group("or", current[1][half:])))
        elif current[0] == "and" and any(child[0] == "or" for child in current[1]):
            index = next(i for i, child in enumerate(current[1]) if child[0] == "or")
            rest = current[1][:index] + current[1][index + 1 :]
            todo.extend(_group("and", rest + (branch,)) for branch in current[1][index][1])
        else:
            raise DurableLimitError(f"rule {rule!r} has more tests in one conjunction than durable_rules can hold")
        if len(done) + len(todo) > _MAX_PIECES_PER_RULE:
            raise DurableLimitError(
                f"rule {rule!r} is too complex for durable_rules (more than {_MAX_PIECES_PER_RULE} alternatives)"
            )
    return done


def _to_json(expr: Expr) -> dict[str, Any]:
    op = expr[0]
    if op in ("and", "or"):
        return {f"${op}": [_to_json(child) for child in expr[1]]}
    if op in ("ex", "nex"):
        return {f"${op}": {expr[1]: 1}}
    if op == "eq":
        return {expr[1]: expr[2]}
    return {_DURABLE_OP[op]: {expr[1]: expr[2]}}


# --- Fields: keys and codes -------------------------------------------------------------


class _Ranks:
    """Rank codes of values among sorted constants: 2k+1 equal to the k-th, 2k just below it."""

    def __init__(self, constants: Iterable[Any]) -> None:
        self._sorted = sorted(set(constants))
        self._exact = {value: 2 * k + 1 for k, value in enumerate(self._sorted)}

    def code(self, value: Any) -> int:
        code = self._exact.get(value)
        return 2 * bisect.bisect_left(self._sorted, value) if code is None else code


@dataclass
class _Field:
    """One fact field the rules read, with the keys it is encoded into."""

    name: str
    slot: int
    texts: set[str] = field(default_factory=set)
    numbers: set[Union[int, float]] = field(default_factory=set)
    uses_text: bool = False
    uses_number: bool = False
    uses_bool: bool = False
    uses_present: bool = False

    def key(self, kind: str) -> str:
        """The message key for one kind: its letter, then the field's slot number."""
        return f"{kind}{self.slot}"

    def max_keys(self) -> int:
        """Keys one fact can get for this field: one for its value, one for presence."""
        return int(self.uses_text or self.uses_number or self.uses_bool) + int(self.uses_present)

    @cached_property
    def text_ranks(self) -> _Ranks:
        """Codes for text values; read only once every rule has been collected."""
        return _Ranks(self.texts)

    @cached_property
    def number_ranks(self) -> _Ranks:
        """Codes for numbers; read only once every rule has been collected."""
        return _Ranks(self.numbers)

    def encoder(self) -> tuple[Any, ...]:
        """What :func:`_encode` needs for this field: its name, keys and codes."""
        return (
            self.name,
            self.key("t") if self.uses_text else None,
            self.text_ranks if self.uses_text else None,
            self.key("n") if self.uses_number else None,
            self.key("x") if self.uses_number else None,
            self.number_ranks if self.uses_number else None,
            self.key("b") if self.uses_bool else None,
            self.key("p") if self.uses_present else None,
        )


def _normalise(condition: Condition) -> Condition:
    """The same condition with ``in``/``not_in`` spelled as ``any``/``all`` of eq/ne."""
    if isinstance(condition, Compare):
        if condition.op == "in":
            return AnyOf(tuple(Compare(condition.field, "eq", v) for v in condition.value))  # type: ignore[union-attr]
        if condition.op == "not_in":
            if not condition.value:
                return Present(condition.field, True)  # holds(): every test of nothing passes
            return All(tuple(Compare(condition.field, "ne", v) for v in condition.value))  # type: ignore[union-attr]
        return condition
    if isinstance(condition, (All, AnyOf)):
        return type(condition)(tuple(_normalise(item) for item in condition.items))
    if isinstance(condition, Not):
        return Not(_normalise(condition.item))
    return condition


def _collect(condition: Condition, fields: dict[str, _Field]) -> None:
    if isinstance(condition, (All, AnyOf)):
        for item in condition.items:
            _collect(item, fields)
        return
    if isinstance(condition, Not):
        _collect(condition.item, fields)
        return
    spec = fields.setdefault(condition.field, _Field(condition.field, len(fields)))
    if isinstance(condition, Present):
        spec.uses_present = True
        return
    kind = value_kind(condition.value)
    if kind == TEXT:
        spec.uses_text = True
        spec.texts.add(condition.value)  # type: ignore[arg-type]
    elif kind == NUMBER:
        spec.uses_number = True
        if not is_nan(condition.value):
            spec.numbers.add(condition.value)  # type: ignore[arg-type]
    else:
        spec.uses_bool = True


def _compile(condition: Condition, negate: bool, fields: dict[str, _Field]) -> Expr:
    """The condition (or its negation) as an expression over encoded keys."""
    if isinstance(condition, Not):
        return _compile(condition.item, not negate, fields)
    if isinstance(condition, (All, AnyOf)):
        kind = "and" if isinstance(condition, All) == (not negate) else "or"
        return _group(kind, (_compile(item, negate, fields) for item in condition.items))
    spec = fields[condition.field]
    if isinstance(condition, Present):
        return ("ex" if condition.present != negate else "nex", spec.key("p"))
    return _compile_compare(spec, condition.op, condition.value, negate)


def _compile_compare(spec: _Field, op: str, value: Any, negate: bool) -> Expr:
    """``field op value`` (or its negation) over the field's kind-tagged keys and codes."""
    kind = value_kind(value)
    if kind == NUMBER:
        number, nan = spec.key("n"), spec.key("x")
        if is_nan(value):
            # Only ne holds against NaN, and then for every number.
            is_number = _group("or", (("ex", number), ("ex", nan)))
            if op == "ne":
                return _group("and", (("nex", number), ("nex", nan))) if negate else is_number
            return TRUE if negate else FALSE
        key, code = number, spec.number_ranks.code(value)
    elif kind == TEXT:
        key, code = spec.key("t"), spec.text_ranks.code(value)
    else:
        key, code = spec.key("b"), int(value)
    test = "neq" if op == "ne" else op
    if not negate:
        if op == "ne" and kind == NUMBER:
            return _group("or", ((test, key, code), ("ex", spec.key("x"))))
        return (test, key, code)
    # Not (x op v): x is missing, of another kind, or fails the test.
    negated = _group("or", (("nex", key), (_NEGATED[test], key, code)))
    if op == "ne" and kind == NUMBER:
        return _group("and", (("nex", spec.key("x")), negated))
    return negated


# --- The durable_rules side -------------------------------------------------------------

if _engine is not None:

    class _QuietHost(_engine.Host):
        """A durable_rules Host that starts no background threads.

        ``Host._run`` starts two daemon timers that keep dispatching pending actions and
        timers on their own threads; they would take actions away from the synchronous
        matching here, and run durable_rules' timers, which this project never uses.
        """

        def _run(self) -> None:
            """Start nothing."""


class _DurableRuleset:
    """One compiled ruleset registered on its own host; every fact goes to one session."""

    def __init__(self, definition: str) -> None:
        self._definition = definition
        self.rule_count = len(json.loads(definition)) - 1
        self._hits: list[list[int]] = []
        self._errors: list[BaseException] = []
        self._register()

    def _register(self) -> None:
        rules = json.loads(self._definition)
        for name, rule in rules.items():
            rule["run"] = self._action(self.rule_count if name == _SEEN else int(name[1:]))
        self.name = f"spm-match-{next(_NAMES)}"
        self._host = _QuietHost()
        self._host.register_rulesets({self.name: rules})

    def _action(self, index: int) -> Any:
        def action(c: Any) -> None:
            try:
                self._record(index, c.m)
            except BaseException as exc:  # durable_rules would bury it in the session state
                self._errors.append(exc)

        return action

    def _record(self, index: int, messages: list[Any]) -> None:
        self._hits[index].extend(message[_INDEX] for message in messages)

    def stored_facts(self) -> list[dict[str, Any]]:
        """What the session holds: nothing between batches, since each batch is retracted."""
        return self._host.get_facts(self.name, _SESSION)

    def run(self, messages: list[dict[str, Any]]) -> list[list[int]]:
        """Assert and retract one batch; for each rule, the batch indices it matched."""
        self._hits = [[] for _ in range(self.rule_count + 1)]
        self._errors = []
        try:
            self._host.assert_facts(self.name, messages)
            self._host.retract_facts(self.name, messages)
        except Exception as exc:
            # The session may still hold part of the batch: start over on a fresh ruleset.
            self._register()
            raise SpmError(f"durable_rules failed to match a batch of {len(messages)} facts: {_brief(exc)}") from exc
        if self._errors:
            error = self._errors[0]
            if not isinstance(error, Exception):
                raise error
            raise SpmError(f"a durable_rules action failed: {_brief(error)}") from error
        if sorted(self._hits[-1]) != list(range(len(messages))):
            self._register()
            raise SpmError(f"durable_rules saw {len(set(self._hits[-1]))} of {len(messages)} facts in a batch")
        return self._hits[:-1]


def _brief(exc: BaseException) -> str:
    """The exception in one short line: durable_rules puts whole batches into its messages."""
    text = str(exc)
    return f"{type(exc).__name__}: {text[:200]}{'...' if len(text) > 200 else ''}"


_RULESETS: dict[str, _DurableRuleset] = {}


def _ruleset_for(definition: str) -> _DurableRuleset:
    """The registered ruleset for a definition, reused because durable_rules never frees one."""
    ruleset = _RULESETS.get(definition)
    if ruleset is None:
        ruleset = _RULESETS[definition] = _DurableRuleset(definition)
    return ruleset


@dataclass
class _Part:
    """One durable ruleset of a matcher: its rules' masks and the fields it reads."""

    ruleset: _DurableRuleset
    masks: list[int]
    always: int
    encoders: list[tuple[Any, ...]]


def _kind_or_error(value: Any, name: str, index: int) -> str:
    try:
        return value_kind(value)  # type: ignore[return-value]
    except SpmError as exc:
        raise SpmError(f"fact {index}: field {name!r}: {exc}") from None


def _encode(facts: Sequence[Mapping[str, Any]], start: int, encoders: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Each fact as a durable_rules message of integer codes under kind-tagged keys."""
    messages = []
    for offset, fact in enumerate(facts):
        message: dict[str, Any] = {_INDEX: offset, "id": offset, "sid": _SESSION}
        for name, text_key, texts, number_key, nan_key, numbers, bool_key, present_key in encoders:
            value = fact.get(name)
            if value is None:
                continue
            kind = SCALAR_KINDS.get(type(value)) or _kind_or_error(value, name, start + offset)
            if kind is TEXT:
                if text_key:
                    message[text_key] = texts.code(value)
            elif kind is NUMBER:
                if number_key:
                    if value != value:  # NaN
                        message[nan_key] = 1
                    else:
                        message[number_key] = numbers.code(value)
            elif bool_key:
                message[bool_key] = int(value)
            if present_key:
                message[present_key] = 1
        messages.append(message)
    return messages


class DurableMatcher:
    """Matches facts against rules with durable_rules (see the module docstring for how)."""

    engine = "durable"

    def __init__(self, rules: Sequence[tuple[str, Condition]]) -> None:
        if _IMPORT_ERROR is not None:
            raise SpmError(
                f"durable_rules is not available on Python {sys.version.split()[0]} ({_IMPORT_ERROR}); "
                "use the pure-Python matcher (engine='python')"
            )
        self._names = [name for name, _ in rules]
        normalised = [_normalise(condition) for _, condition in rules]
        fields: dict[str, _Field] = {}
        for condition in normalised:
            _collect(condition, fields)
        key_cost = {str(spec.slot): spec.max_keys() for spec in fields.values()}
        alternatives: dict[Expr, int] = {}
        always = 0
        for index, condition in enumerate(normalised):
            expr = _compile(condition, False, fields)
            if expr == TRUE:
                always |= 1 << index
            elif expr != FALSE:
                for piece in _pieces(expr, self._names[index], key_cost):
                    alternatives[piece] = alternatives.get(piece, 0) | 1 << index
        self._parts = self._pack(alternatives, always, fields, key_cost)
        encoded = {encoder[0] for part in self._parts for encoder in part.encoders}
        # Fields no durable rule reads (their tests folded away) are still checked, as in
        # the Python matcher, so that both refuse the same facts.
        self._unchecked = sorted(set(fields) - encoded)
        self._labels: dict[int, tuple[str, ...]] = {}

    @staticmethod
    def _pack(
        alternatives: dict[Expr, int], always: int, fields: dict[str, _Field], key_cost: Mapping[str, int]
    ) -> list[_Part]:
        """Distribute the durable rules over as few durable rulesets as the budgets allow."""
        groups: list[list[tuple[Expr, int]]] = [[]]
        network = _Network(key_cost)
        for expr, mask in alternatives.items():
            if not network.add(expr):
                groups.append([])
                network = _Network(key_cost)
                network.add(expr)
            groups[-1].append((expr, mask))
        by_slot = {str(spec.slot): spec for spec in fields.values()}
        parts = []
        for number, group in enumerate(groups):
            definition = {
                f"r{k}": {"all": [{"m": _to_json(_group("and", (_GUARD, expr)))}], "cap": BATCH_SIZE}
                for k, (expr, _) in enumerate(group)
            }
            definition[_SEEN] = {"all": [{"m": _to_json(_GUARD)}], "cap": BATCH_SIZE}
            read = sorted({by_slot[key[1:]].name for expr, _ in group for key in _keys_of(expr)})
            with _LOCK:
                ruleset = _ruleset_for(json.dumps(definition))
            parts.append(
                _Part(ruleset, [mask for _, mask in group], always if number == 0 else 0, [fields[n].encoder() for n in read])
            )
        return parts

    def match(self, facts: Sequence[Mapping[str, Any]]) -> list[list[str]]:
        """For each fact, the names of the rules whose condition holds, in declaration order."""
        result: list[list[str]] = []
        start = 0
        for batch in batched(facts, BATCH_SIZE):
            if self._unchecked:
                for offset, fact in enumerate(batch):
                    check_fact(fact, self._unchecked, start + offset)
            masks = [0] * len(batch)
            for part in self._parts:
                messages = _encode(batch, start, part.encoders)
                with _LOCK:
                    hits = part.ruleset.run(messages)
                if part.always:
                    masks = [mask | part.always for mask in masks]
                for mask, indices in zip(part.masks, hits):
                    for index in indices:
                        masks[index] |= mask
            result.extend(list(self._label(mask)) for mask in masks)
            start += len(batch)
        return result

    def _label(self, mask: int) -> tuple[str, ...]:
        """The rule names in ``mask``, in declaration order (recent masks are remembered)."""
        names = self._labels.get(mask)
        if names is None:
            if len(self._labels) >= _MAX_LABELS:
                self._labels.clear()
            found = []
            rest = mask
            while rest:
                lowest = rest & -rest
                found.append(self._names[lowest.bit_length() - 1])
                rest ^= lowest
            names = self._labels[mask] = tuple(found)
        return names
