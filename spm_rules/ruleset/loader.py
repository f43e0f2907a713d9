"""Load a ruleset file: safe YAML with line numbers, strict validation, whole-file checks.

Every problem comes back located (file, line, key path) and all problems of a file are
reported together, so an operator fixes a ruleset in one pass instead of one error per run.

YAML is read with a safe loader restricted to YAML 1.2 scalars: only ``true``/``false``
are booleans (``no``, ``off`` stay text: the Norway problem) and ``09:30`` is text, not
the sexagesimal number 570.  Duplicate keys are errors instead of silently keeping the last.

Hostile YAML is refused fast, with the place: a file over :data:`MAX_RULESET_BYTES`
before it is read, aliases that would expand to more than :data:`MAX_ALIAS_NODES` nodes
(the "billion laughs" alias bomb) or that name the collection they stand in (a recursive
structure) at the alias, and nesting deeper than :data:`MAX_DEPTH` at the line it reaches.
Tags outside the YAML core schema (``!!python/object/apply``) are never constructed.
"""

from __future__ import annotations

import difflib
import re
import sys
from pathlib import Path
from typing import Any, ForwardRef, Iterable, get_args

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import Location, RulesetError, RulesetProblem
from ..dispatch.tables import load_tables
from .checks import check_references
from .conditions import ConditionSyntaxError
from .schema import Ruleset

__all__ = [
    "load_ruleset",
    "parse_ruleset",
    "origin_of",
    "LineMap",
    "read_located_yaml",
    "read_text",
    "validation_problems",
    "MAX_RULESET_BYTES",
    "MAX_ALIAS_NODES",
    "MAX_DEPTH",
]

Path_ = tuple[str | int, ...]

#: The largest YAML file read (a ruleset is a few hundred kilobytes at most).
MAX_RULESET_BYTES = 4 * 1024 * 1024
#: The nodes aliases may add to a document once expanded (an alias bomb adds billions).
MAX_ALIAS_NODES = 100_000
#: The deepest nesting of mappings and sequences read.
MAX_DEPTH = 100
_TOO_LARGE = f"the file is larger than {MAX_RULESET_BYTES:,} bytes, the most a YAML file of spm-rules may have"
_TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans and no sexagesimal numbers, refusing alias bombs,
    recursive aliases and deep nesting while composing (before anything is expanded)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._alias_nodes = 0
        self._sizes: dict[int, int] = {}
        self._open_anchors: list[str | None] = []

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open_anchors:
                raise yaml.composer.ComposerError(None, None, f"alias *{event.anchor} stands inside the collection it names (a recursive structure)", event.start_mark)
            target = self.anchors.get(event.anchor)
            if target is not None:
                self._alias_nodes += _expanded_size(target, self._sizes)
                if self._alias_nodes > MAX_ALIAS_NODES:
                    message = f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes (an alias bomb?); write the repeated parts out or use fewer aliases"
                    raise yaml.composer.ComposerError(None, None, message, event.start_mark)
            return super().compose_node(parent, index)
        if not isinstance(event, yaml.CollectionStartEvent):
            return super().compose_node(parent, index)
        if len(self._open_anchors) >= MAX_DEPTH:
            raise yaml.composer.ComposerError(None, None, _TOO_DEEP, event.start_mark)
        self._open_anchors.append(event.anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._open_anchors.pop()


def _flow_too_deep(text: str) -> int | None:
    """The line where ``[``/``{`` first open more than :data:`MAX_DEPTH` levels, else None.

    PyYAML's scanner takes time quadratic in the flow nesting, so this is checked on the
    text before YAML reads it (brackets inside quoted text count too, which only matters
    for text holding a hundred unclosed brackets)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None
    depth = 0
    for found in _BRACKETS.finditer(text):
        depth = depth + 1 if found.group() in "[{" else max(depth - 1, 0)
        if depth > MAX_DEPTH:
            return text.count("\n", 0, found.start()) + 1
    return None


_BRACKETS = re.compile(r"[\[\]{}]")


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many nodes ``node`` stands for once its aliases are expanded (memoised by node)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(item, sizes) for item in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(key, sizes) + _expanded_size(value, sizes) for key, value in node.value)
    else:
        size = 1
    sizes[id(node)] = size
    return size


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789"))
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+)$"),
    list("-+0123456789."),
)


class LineMap:
    """Key path → 1-based line, built from the YAML node tree."""

    def __init__(self) -> None:
        self.lines: dict[Path_, int] = {}
        self.kinds: dict[Path_, type[yaml.Node]] = {}

    def line(self, path: Iterable[str | int]) -> int | None:
        """The line of the deepest part of ``path`` that exists in the file."""
        parts = tuple(path)
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return self.lines.get(())

    def as_written(self, loc: Iterable[str | int]) -> Path_:
        """``loc`` without the parts a shorthand introduced (``notify: [ops]`` validates as
        ``notify.receivers.0``; the file only has ``notify.0``)."""
        kept: Path_ = ()
        for part in loc:
            kind = self.kinds.get(kept)
            if isinstance(part, str) and kind in (yaml.SequenceNode, yaml.ScalarNode):
                continue
            if isinstance(part, int) and kind in (yaml.MappingNode, yaml.ScalarNode):
                continue
            kept += (part,)
        return kept


def _walk(node: yaml.Node, path: Path_, lines: LineMap, source: str, problems: list[RulesetProblem]) -> None:
    lines.lines.setdefault(path, node.start_mark.line + 1)
    lines.kinds[path] = type(node)
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                problems.append(
                    RulesetProblem(Location(source, key_node.start_mark.line + 1, _dotted(path + (key,))), f"duplicate key {key!r}")
                )
            seen.add(key)
            lines.lines[path + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, path + (key,), lines, source, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.lines[path + (index,)] = item.start_mark.line + 1
            _walk(item, path + (index,), lines, source, problems)


def _dotted(path: Iterable[str | int]) -> str:
    return ".".join(str(p) for p in path)


def read_located_yaml(text: str, source: str) -> tuple[Any, LineMap]:
    """One YAML 1.2 document and where each key stands; RulesetError with every located
    problem (malformed YAML, duplicate keys, an empty file).  Other YAML files of the
    project (ruleset test files) are read with it, so their errors read like a ruleset's."""
    if len(text) > MAX_RULESET_BYTES:
        raise RulesetError([RulesetProblem(Location(source), _TOO_LARGE)])
    deep = _flow_too_deep(text)
    if deep is not None:
        raise RulesetError([RulesetProblem(Location(source, deep), f"malformed YAML: {_TOO_DEEP}")])
    problems: list[RulesetProblem] = []
    lines = LineMap()
    try:
        loader = _Yaml12Loader(text)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, other controls)
        where = Location(source, text.count("\n", 0, exc.position) + 1)
        raise RulesetError([RulesetProblem(where, f"malformed YAML: the character U+{exc.character:04X} is not allowed in YAML")]) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise RulesetError([RulesetProblem(Location(source, 1), "the file is empty")])
        _walk(node, (), lines, source, problems)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise RulesetError([RulesetProblem(Location(source, line), f"malformed YAML: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise RulesetError([RulesetProblem(Location(source), f"malformed YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if problems:
        raise RulesetError(problems)
    return data, lines


def _read_yaml(text: str, source: str) -> tuple[Any, LineMap]:
    data, lines = read_located_yaml(text, source)
    if not isinstance(data, dict):
        raise RulesetError([RulesetProblem(Location(source, 1), "a ruleset is a mapping of sections (name, tiers, stages, policies, rules, …)")])
    return data, lines


def _known_keys(model: Any, loc: tuple[Any, ...]) -> list[str]:
    """The keys (as written, so aliases) the model at ``loc`` accepts, for a 'did you mean' hint."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        fields = {field.alias or name: field for name, field in getattr(current, "model_fields", {}).items()}
        if part not in fields:
            return []
        current = _model_of(fields[part].annotation, current)
    if current is None or not (isinstance(current, type) and issubclass(current, BaseModel)):
        return []
    return [field.alias or name for name, field in current.model_fields.items()]


def _model_of(annotation: Any, owner: type) -> Any:
    """The pydantic model inside a field's annotation (``list[X]``, ``X | None``); a forward
    reference left as text (Python 3.10 keeps ``list['X']`` unresolved) is looked up in
    the module of the model that declares the field."""
    if isinstance(annotation, (str, ForwardRef)):
        name = annotation if isinstance(annotation, str) else annotation.__forward_arg__
        annotation = vars(sys.modules[owner.__module__]).get(name)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg, owner)
        if found is not None:
            return found
    return None


def validation_problems(exc: ValidationError, lines: LineMap, source: str, model: type[BaseModel] = Ruleset) -> list[RulesetProblem]:
    """``exc``'s errors as problems located in the file (line and key path as written), with
    a did-you-mean hint for an unknown key among the keys ``model`` accepts there."""
    problems = []
    for error in exc.errors():
        loc = lines.as_written(part for part in error["loc"] if not (isinstance(part, str) and ("[" in part or part.startswith("function-"))))
        message = error["msg"]
        hint = None
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ConditionSyntaxError):
            loc = loc + cause.path
            message = cause.message
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        named = str(error["loc"][-1]) if error["loc"] else ""  # the key itself, even one the filter above drops ("a[")
        if error["type"] == "extra_forbidden":
            key = named
            message = f"unknown key {key!r}"
            close = difflib.get_close_matches(key, _known_keys(model, loc), n=1)
            hint = f"did you mean {close[0]!r}?" if close else None
        elif error["type"] == "missing":
            message = f"missing required key {named!r}"
        problems.append(RulesetProblem(Location(source, lines.line(loc), _dotted(loc) or None), message, hint))
    return problems


def parse_ruleset(text: str, source: str = "<ruleset>") -> Ruleset:
    """Parse and check a ruleset from YAML text; raise RulesetError listing every located problem."""
    data, lines = _read_yaml(text, source)
    problems: list[RulesetProblem] = []
    ruleset = None
    try:
        ruleset = Ruleset.model_validate(data)
    except ValidationError as exc:
        problems.extend(validation_problems(exc, lines, source))
    problems.extend(check_references(data, lines, source))
    tables = None
    if ruleset is not None and ruleset.tables:
        base = Path(source).parent if source != "<ruleset>" else Path.cwd()
        tables, table_problems = load_tables(ruleset.tables, base, source, lines.line, ruleset.providers or None)
        problems.extend(table_problems)
    if problems or ruleset is None:
        problems.sort(key=lambda p: (p.location.line or 0, p.location.key or ""))
        raise RulesetError(problems)
    loaded = ruleset.model_copy(update={"source": source})
    loaded._origin = (data, lines)
    loaded._tables = tables if tables is not None else {}
    return loaded


def origin_of(ruleset: Ruleset) -> tuple[dict[str, Any], LineMap] | None:
    """The YAML data and line map ``ruleset`` was parsed from; None for one built in code."""
    origin = ruleset._origin
    return origin if isinstance(origin, tuple) else None


def read_text(path: str | Path, what: str = "ruleset") -> str:
    """The UTF-8 text of the file at ``path``; a located RulesetError when it cannot be read."""
    file = Path(path)
    try:
        if file.stat().st_size > MAX_RULESET_BYTES:
            raise RulesetError([RulesetProblem(Location(str(file)), _TOO_LARGE)])
        return file.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesetError([RulesetProblem(Location(str(file)), f"cannot read {what}: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise RulesetError([RulesetProblem(Location(str(file)), f"not UTF-8 text: {exc.reason}")]) from None


def load_ruleset(path: str | Path) -> Ruleset:
    """Load, validate and cross-check the ruleset file at ``path``."""
    return parse_ruleset(read_text(path), str(Path(path)))
