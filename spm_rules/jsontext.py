"""JSON text through orjson, where a million tickets' documents and state rows are
encoded and decoded: about five times faster than the standard library's C encoder.

The text is what ``json`` writes with ``ensure_ascii=False`` and compact separators, with
one difference of notation: a float below 1e-4 or from 1e16 is written with a plain or
an unsigned exponent (``0.00005``, ``1e16``; ``json`` writes ``5e-05``, ``1e+16``), the
same number when read back.  What orjson refuses (integers beyond 64 bits, keys that are
not strings, text with undecoded bytes, ``NaN``) goes through ``json`` as before, so no
value reads back differently for going through here.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["compact", "canonical", "parse"]

_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_CANONICAL = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def compact(value: Any) -> str:
    """``value`` as compact JSON text, keys in their order."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _COMPACT.encode(value)


def canonical(value: Any) -> str:
    """``value`` as compact JSON text with sorted keys: one text per value, as stored."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode("utf-8")
    except TypeError:
        return _CANONICAL.encode(value)


def parse(text: str) -> Any:
    """The value of JSON ``text`` (as ``json.loads`` reads it)."""
    try:
        return orjson.loads(text)
    except ValueError:  # orjson.JSONDecodeError is a ValueError; json says what is wrong, if anything
        return json.loads(text)
