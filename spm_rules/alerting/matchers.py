"""Label matchers, as in Alertmanager: what routes, silences and inhibit rules match on.

A matcher compares one label with ``=``, ``!=``, ``=~`` or ``!~``; regular expressions
are fully anchored (``partner-.*`` matches ``partner-east``, not ``my-partner-east``) and
a missing label reads as the empty string, so ``region=""`` matches tickets without one.

Three ways to write them, all usable together (every matcher must hold):

* ``match: {level: red}`` and ``match_re: {provider: "partner-.*"}`` (Alertmanager's
  classic form);
* ``matchers: ['level="red"', 'provider=~"partner-.*"', "region!=north"]``, one matcher
  per list item, in Alertmanager's matcher text (see :func:`parse_matchers`);
* in stored silences, Alertmanager's API form
  ``{"name": "provider", "value": "partner-east", "isRegex": false, "isEqual": true}``.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Iterable, Literal, Mapping, NamedTuple

from pydantic import AfterValidator, WithJsonSchema, model_serializer, model_validator

from ..ruleset.types import StrictModel

__all__ = [
    "LabelMatcher",
    "Matcher",
    "MatcherSyntaxError",
    "Regex",
    "MatchOp",
    "parse_matchers",
    "format_matchers",
    "combine",
    "matches_all",
    "matchers_to_json",
    "matchers_from_json",
]

MatchOp = Literal["=", "!=", "=~", "!~"]

_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_OPERATORS: tuple[str, ...] = ("=~", "!~", "!=", "=")
#: Outside double quotes these end a word (Alertmanager's reserved characters, with whitespace).
_RESERVED = frozenset("{}!=~,\\\"'`")
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_ESCAPES_HINT = '\\" \\\\ \\n \\t \\xHH \\uHHHH or \\UHHHHHHHH'
_QUOTE_HINT = " (quote a value that holds spaces or any of {}!=~,\"'`\\)"


class MatcherSyntaxError(ValueError):
    """Matcher text that does not parse: the text, the 1-based column and what is wrong."""

    def __init__(self, text: str, column: int, problem: str) -> None:
        super().__init__(f"bad matcher {text!r} at column {column}: {problem}")
        self.text, self.column, self.problem = text, column, problem


class _Token(NamedTuple):
    kind: str  # "{", "}", ",", "op", "word" (unquoted) or "quoted"
    text: str  # as written
    value: str  # the operator, the word, or the unquoted text of a quoted string
    at: int  # 0-based offset


def _name_problem(name: str) -> str | None:
    """What is wrong with a label name (None: nothing)."""
    if not _LABEL.fullmatch(name):
        return f"bad label name {name!r}: a label name starts with a letter or _ and holds letters, digits, _, . and -"
    return None


def _regex_problem(name: str, op: str, value: str) -> str | None:
    """What is wrong with a regular expression matcher's value (None: nothing)."""
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            return f"bad regular expression for label {name!r}: {exc}"
    return None


def _escape(text: str, at: int) -> tuple[bytes, int]:
    """The bytes of the escape sequence at ``text[at]`` (a backslash) and the offset after it."""
    code = text[at + 1 : at + 2]
    if code in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[code].encode("utf-8"), at + 2
    if code in _HEX_ESCAPES:
        size, first, digits = _HEX_ESCAPES[code], at + 2, "0123456789abcdefABCDEF"
    else:  # \ooo: three octal digits, one byte
        size, first, digits = 3, at + 1, "01234567"
    number = text[first : first + size]
    if len(number) == size and all(char in digits for char in number):
        point = int(number, 16 if code in _HEX_ESCAPES else 8)
        if code in ("u", "U") and point <= 0x10FFFF and not 0xD800 <= point <= 0xDFFF:
            return chr(point).encode("utf-8"), first + size
        if code not in ("u", "U") and point <= 0xFF:
            return bytes([point]), first + size
    raise MatcherSyntaxError(text, at + 1, f"bad escape '\\{code}' in a quoted value (write {_ESCAPES_HINT})")


def _unquote(text: str, start: int) -> tuple[str, int]:
    """The double-quoted string at ``text[start]``, with Go's escapes: its value and the offset after it."""
    data = bytearray()
    at = start + 1
    while at < len(text):
        char = text[at]
        if char == '"':
            try:
                return data.decode("utf-8"), at + 1
            except UnicodeDecodeError:
                raise MatcherSyntaxError(text, start + 1, "the escaped bytes of the quoted value are not valid UTF-8") from None
        if char == "\n":
            raise MatcherSyntaxError(text, at + 1, "a quoted value cannot hold a line break: write \\n")
        if char == "\\" and at + 1 < len(text):
            escaped, at = _escape(text, at)
            data += escaped
        else:
            data += char.encode("utf-8")
            at += 1
    raise MatcherSyntaxError(text, start + 1, "the double quote is never closed")


def _tokens(text: str) -> list[_Token]:
    """Alertmanager's matcher tokens: braces, commas, operators, words and quoted strings."""
    found: list[_Token] = []
    at = 0
    while at < len(text):
        char = text[at]
        if char.isspace():
            at += 1
        elif char in "{},":
            found.append(_Token(char, char, char, at))
            at += 1
        elif char in "=!":
            op = next((op for op in _OPERATORS if text.startswith(op, at)), None)
            if op is None:
                shown = repr(text[at + 1]) if at + 1 < len(text) else "the end"
                raise MatcherSyntaxError(text, at + 2, f"expected '=' or '~' after '!', found {shown}")
            found.append(_Token("op", op, op, at))
            at += len(op)
        elif char == '"':
            value, end = _unquote(text, at)
            found.append(_Token("quoted", text[at:end], value, at))
            at = end
        elif char in _RESERVED:
            hint = "quote values with double quotes" if char in "'`" else "put it inside a double-quoted value"
            raise MatcherSyntaxError(text, at + 1, f"unexpected {char!r}: {hint}")
        else:
            end = at
            while end < len(text) and not (text[end].isspace() or text[end] in _RESERVED):
                end += 1
            found.append(_Token("word", text[at:end], text[at:end], at))
            at = end
    return found


_UNDECODED = re.compile("[\ud800-\udfff]")


def parse_matchers(text: str) -> list["LabelMatcher"]:
    """Parse Alertmanager's matcher text into matchers, or raise :class:`MatcherSyntaxError`.

    The grammar of Alertmanager's ``matcher/parse`` package: an optional ``{ … }``
    around zero or more matchers separated by commas (a trailing comma is allowed);
    a matcher is a label name, an operator (``=``, ``!=``, ``=~``, ``!~``) and a value.
    Names and values are double-quoted strings with Go's escapes (``\\"``, ``\\\\``,
    ``\\n``, ``\\t``, ``\\xHH``, ``\\uHHHH`` …) or unquoted words without whitespace
    and without any of ``{}!=~,\\"'`` and a backquote.  Whitespace between tokens is
    ignored.  So ``provider=partner-east,level=red`` is two matchers, and
    ``region=north america`` is refused (quote it: ``region="north america"``).  Label
    names are the project's (letters, digits, ``_``, ``.``, ``-``), and regular
    expressions must compile.  Text holding a byte that did not decode (a lone surrogate,
    as Python reads such a command-line argument) is refused at that byte.
    """
    undecoded = _UNDECODED.search(text)
    if undecoded is not None:
        raise MatcherSyntaxError(text, undecoded.start() + 1, "a byte that is not valid UTF-8 text")
    tokens = _tokens(text)
    end = _Token("end", "", "", len(text))

    def at(index: int) -> _Token:
        return tokens[index] if index < len(tokens) else end

    def shown(token: _Token) -> str:
        return "the end" if token.kind == "end" else repr(token.text)

    def fail(token: _Token, problem: str) -> MatcherSyntaxError:
        return MatcherSyntaxError(text, token.at + 1, problem)

    braced = at(0).kind == "{"
    index = 1 if braced else 0
    found: list[LabelMatcher] = []
    while True:
        token = at(index)
        if token.kind == "end":
            if braced:
                raise fail(token, "expected '}' to close the '{' at column 1, found the end")
            return found
        if token.kind == "}":
            if not braced:
                raise fail(token, "found '}' without an opening '{'")
            if at(index + 1).kind != "end":
                raise fail(at(index + 1), f"expected the end after '}}', found {shown(at(index + 1))}")
            return found
        name, op, value = token, at(index + 1), at(index + 2)
        if name.kind not in ("word", "quoted"):
            raise fail(name, f"expected a label name, found {shown(name)}")
        if op.kind != "op":
            raise fail(op, f"expected an operator (=, !=, =~ or !~) after the label name, found {shown(op)}")
        if value.kind not in ("word", "quoted"):
            hint = f" (write {name.value}{op.value}\"\" for the empty value)" if value.kind in (",", "}", "end") else ""
            raise fail(value, f"expected a value after {op.value!r}, found {shown(value)}{hint}")
        for culprit, problem in ((name, _name_problem(name.value)), (value, _regex_problem(name.value, op.value, value.value))):
            if problem is not None:
                raise fail(culprit, problem)
        found.append(LabelMatcher(name=name.value, op=op.value, value=value.value))  # type: ignore[arg-type]
        after = at(index + 3)
        if after.kind == ",":
            index += 4
        elif after.kind in ("end", "}"):
            index += 3
        else:
            expected = "expected ',' or '}' after a matcher" if braced else "expected ',' between matchers"
            hint = _QUOTE_HINT if after.kind in ("word", "quoted") else ""
            raise fail(after, f"{expected}, found {shown(after)}{hint}")


def format_matchers(matchers: Iterable["LabelMatcher"]) -> str:
    """Matchers as Alertmanager's brace list, ``{level="red", provider=~"partner-.*"}``:
    what :func:`parse_matchers` reads back to the same matchers."""
    return "{" + ", ".join(str(matcher) for matcher in matchers) + "}"


class LabelMatcher(StrictModel):
    """One label compared with one value or anchored regular expression."""

    name: str
    op: MatchOp = "="
    value: str = ""

    @model_validator(mode="before")
    @classmethod
    def _forms(cls, raw: Any) -> Any:
        if isinstance(raw, str):
            found = parse_matchers(raw)
            if len(found) != 1:
                if not found:
                    raise ValueError(f"{raw!r} holds no matcher: write label=value, label!=value, label=~regex or label!~regex")
                listed = ", ".join(map(str, found))
                raise ValueError(f"{raw!r} holds {len(found)} matchers ({listed}): a list item takes one matcher; write each as its own item")
            return {"name": found[0].name, "op": found[0].op, "value": found[0].value}
        if isinstance(raw, dict) and ("isRegex" in raw or "isEqual" in raw):
            regex, equal = bool(raw.get("isRegex", False)), bool(raw.get("isEqual", True))
            op = ("=~" if equal else "!~") if regex else ("=" if equal else "!=")
            return {"name": raw.get("name"), "op": op, "value": raw.get("value", "")}
        return raw

    @model_validator(mode="after")
    def _valid(self) -> "LabelMatcher":
        problem = _name_problem(self.name) or _regex_problem(self.name, self.op, self.value)
        if problem is not None:
            raise ValueError(problem)
        return self

    @model_serializer
    def _as_text(self) -> str:
        return f"{self.name}{self.op}{json.dumps(self.value, ensure_ascii=False)}"

    def __str__(self) -> str:
        return self._as_text()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this matcher (a missing label is the empty string)."""
        value = labels.get(self.name, "")
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        hit = _compiled(self.value).fullmatch(value) is not None
        return hit if self.op == "=~" else not hit

    def to_api(self) -> dict[str, Any]:
        """Alertmanager's API form (what the silence store keeps as JSON)."""
        return {"name": self.name, "value": self.value, "isRegex": self.op in ("=~", "!~"), "isEqual": self.op in ("=", "=~")}


#: A matcher as a ruleset field: written as text (``level="red"``), validated as a model.
Matcher = Annotated[
    LabelMatcher,
    WithJsonSchema(
        {
            "type": "string",
            "description": 'one matcher: label="value", label!="value", label=~"regex" or label!~"regex" (Alertmanager\'s matcher text)',
            "examples": ['level="red"', 'provider=~"partner-.*"'],
        }
    ),
]


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"bad regular expression {value!r}: {exc}") from None
    return value


#: A regular expression as a ruleset value (``match_re``), checked when the ruleset loads.
Regex = Annotated[str, AfterValidator(_regex)]

_cache: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    found = _cache.get(pattern)
    if found is None:
        found = _cache[pattern] = re.compile(pattern)
    return found


def combine(
    match: Mapping[str, str] | None = None,
    match_re: Mapping[str, str] | None = None,
    matchers: Iterable[LabelMatcher] = (),
) -> tuple[LabelMatcher, ...]:
    """All three written forms as one tuple of matchers (every one must hold)."""
    found = [LabelMatcher(name=k, op="=", value=v) for k, v in (match or {}).items()]
    found += [LabelMatcher(name=k, op="=~", value=v) for k, v in (match_re or {}).items()]
    return tuple(found) + tuple(matchers)


def matches_all(matchers: Iterable[LabelMatcher], labels: Mapping[str, str]) -> bool:
    """True when every matcher holds for ``labels`` (no matchers: always).

    A plain loop, not ``all()`` over a generator: routing, silences and inhibition ask
    this several times per notification, and the generator doubled its cost."""
    for matcher in matchers:
        if not matcher.matches(labels):
            return False
    return True


def matchers_to_json(matchers: Iterable[LabelMatcher]) -> str:
    """Matchers as the JSON text a silence record stores (Alertmanager's API form)."""
    return json.dumps([matcher.to_api() for matcher in matchers], ensure_ascii=False, sort_keys=True)


def matchers_from_json(value: str | list[Any]) -> tuple[LabelMatcher, ...]:
    """Matchers from a stored silence record: JSON text or an already decoded list."""
    items = json.loads(value) if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ValueError("silence matchers must be a JSON list")
    return tuple(LabelMatcher.model_validate(item) for item in items)
