"""spm_rules.jsontext: orjson's text where it can, the standard library's where it cannot,
and the same values read back either way."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spm_rules import jsontext

VALUES: list[Any] = [
    {"ticket": "EC-1", "sla": [{"elapsed_seconds": 21600.0, "level": None, "paused": False}], "tags": ["a", "b"]},
    {"text": 'quote " backslash \\ newline \n tab \t bell \x07 accents é 漢字 emoji 🚒 line sep \u2028'},
    [1, -2, 3.5, 0.1, 1e300, True, False, None, ""],
    {"nested": {"z": 1, "a": {"y": [], "b": {}}}},
]

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@pytest.mark.parametrize("value", VALUES)
def test_text_is_the_standard_librarys_compact_text(value: Any) -> None:
    assert jsontext.compact(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert jsontext.canonical(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"big": 2**70}, '{"big":1180591620717411303424}'),
        ({1: "int key"}, '{"1":"int key"}'),
        ({"row": "undecoded \udcff byte"}, '{"row":"undecoded \udcff byte"}'),
    ],
    ids=["integer beyond 64 bits", "key not a string", "undecoded byte"],
)
def test_what_orjson_refuses_is_written_as_the_standard_library_writes_it(value: Any, text: str) -> None:
    assert jsontext.compact(value) == text
    assert jsontext.canonical(value) == text


def test_what_orjson_refuses_to_read_is_read_as_the_standard_library_reads_it() -> None:
    assert jsontext.parse('{"big": 1180591620717411303424}') == {"big": 2**70}
    assert math.isnan(jsontext.parse("[NaN]")[0])
    with pytest.raises(json.JSONDecodeError, match="Expecting value"):
        jsontext.parse('{"broken": }')


@given(JSON_VALUES)
def test_every_value_reads_back_as_itself(value: Any) -> None:
    assert jsontext.parse(jsontext.compact(value)) == value
    assert jsontext.parse(jsontext.canonical(value)) == json.loads(json.dumps(value, sort_keys=True))
    assert json.loads(jsontext.canonical(value)) == json.loads(json.dumps(value))
