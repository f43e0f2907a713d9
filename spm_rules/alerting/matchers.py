"""Label matchers, as in Alertmanager: what routes, silences and inhibit rules match on.

A matcher compares one label with ``=``, ``!=``, ``=~`` or ``!~``; regular expressions
are fully anchored (``partner-.*`` matches ``partner-east``, not ``my-partner-east``) and
a missing label reads as the empty string, so ``region=""`` matches tickets without one.

Three ways to write them, all usable together (every matcher must hold):

* ``match: {level: red}`` and ``match_re: {provider: "partner-.*"}`` (Alertmanager's
  classic form);
* ``matchers: ['level="red"', 'provider=~"partner-.*"', "region!=north"]``;
* in stored silences, Alertmanager's API form
  ``{"name": "provider", "value": "partner-east", "isRegex": false, "isEqual": true}``.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Iterable, Literal, Mapping

from pydantic import AfterValidator, WithJsonSchema, model_serializer, model_validator

from ..ruleset.types import StrictModel

__all__ = ["LabelMatcher", "Matcher", "Regex", "MatchOp", "parse_matcher", "combine", "matches_all", "matchers_to_json", "matchers_from_json"]

MatchOp = Literal["=", "!=", "=~", "!~"]

_LABEL = r"[A-Za-z_][A-Za-z0-9_.\-]*"
_TEXT_FORM = re.compile(rf"^\s*(?P<name>{_LABEL})\s*(?P<op>=~|!~|!=|=)\s*(?P<value>.*?)\s*$", re.DOTALL)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return str(json.loads(value))
        except ValueError:
            raise ValueError(f"bad quoted value {value}: use JSON string escapes") from None
    return value


def parse_matcher(text: str) -> tuple[str, MatchOp, str]:
    """Split ``name op value`` (value optionally double-quoted) or raise ValueError."""
    found = _TEXT_FORM.match(text)
    if not found:
        raise ValueError(f"bad matcher {text!r}: write label=value, label!=value, label=~regex or label!~regex")
    return found["name"], found["op"], _unquote(found["value"])  # type: ignore[return-value]


class LabelMatcher(StrictModel):
    """One label compared with one value or anchored regular expression."""

    name: str
    op: MatchOp = "="
    value: str = ""

    @model_validator(mode="before")
    @classmethod
    def _forms(cls, raw: Any) -> Any:
        if isinstance(raw, str):
            name, op, value = parse_matcher(raw)
            return {"name": name, "op": op, "value": value}
        if isinstance(raw, dict) and ("isRegex" in raw or "isEqual" in raw):
            regex, equal = bool(raw.get("isRegex", False)), bool(raw.get("isEqual", True))
            op = ("=~" if equal else "!~") if regex else ("=" if equal else "!=")
            return {"name": raw.get("name"), "op": op, "value": raw.get("value", "")}
        return raw

    @model_validator(mode="after")
    def _valid(self) -> "LabelMatcher":
        if not re.fullmatch(_LABEL, self.name):
            raise ValueError(f"bad label name {self.name!r}")
        if self.op in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"bad regular expression for label {self.name!r}: {exc}") from None
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
            "description": 'label="value", label!="value", label=~"regex" or label!~"regex"',
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
    """True when every matcher holds for ``labels`` (no matchers: always)."""
    return all(matcher.matches(labels) for matcher in matchers)


def matchers_to_json(matchers: Iterable[LabelMatcher]) -> str:
    """Matchers as the JSON text a silence record stores (Alertmanager's API form)."""
    return json.dumps([matcher.to_api() for matcher in matchers], ensure_ascii=False, sort_keys=True)


def matchers_from_json(value: str | list[Any]) -> tuple[LabelMatcher, ...]:
    """Matchers from a stored silence record: JSON text or an already decoded list."""
    items = json.loads(value) if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ValueError("silence matchers must be a JSON list")
    return tuple(LabelMatcher.model_validate(item) for item in items)
