"""Label matchers: Alertmanager's operators, anchored regexes, missing labels, written forms,
and the matcher text grammar (single matchers, brace and comma lists, quoting)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from spm_rules.alerting.matchers import LabelMatcher, combine, format_matchers, matchers_from_json, matchers_to_json, parse_matchers

LABELS = {"provider": "partner-east", "level": "red", "region": ""}


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ('level="red"', True),
        ("level=red", True),
        ("level!=red", False),
        ('provider=~"partner-.*"', True),
        ('provider=~"partner"', False),  # anchored: the whole value must match
        ('provider=~"east"', False),
        ('provider!~"partner-(north|south)"', True),
        ('missing=""', True),  # a missing label is the empty string
        ("missing!=x", True),
        ('region=""', True),
        ('missing=~".+"', False),
        ('customer="张三"', False),
    ],
)
def test_text_matchers(written: str, expected: bool) -> None:
    assert LabelMatcher.model_validate(written).matches(LABELS) is expected


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("level=red", [("level", "=", "red")]),
        ('level="red"', [("level", "=", "red")]),
        ('level!~"yellow|red"', [("level", "!~", "yellow|red")]),
        ("level=~yellow|red", [("level", "=~", "yellow|red")]),
        ("provider=~partner-.*", [("provider", "=~", "partner-.*")]),
        (' level  =  "red" ', [("level", "=", "red")]),
        ('"level"="red"', [("level", "=", "red")]),
        ("account.vip=true", [("account.vip", "=", "true")]),
        ('region=""', [("region", "=", "")]),
        ("customer=张三", [("customer", "=", "张三")]),
        ('{a="b", c=~"d"}', [("a", "=", "b"), ("c", "=~", "d")]),
        ("{level=red,}", [("level", "=", "red")]),
        ("a=b, c!=d", [("a", "=", "b"), ("c", "!=", "d")]),
        ("a=b,c!=d,", [("a", "=", "b"), ("c", "!=", "d")]),
        # the issue: this was one matcher with the value 'partner-east,level=red'
        ("provider=partner-east,level=red", [("provider", "=", "partner-east"), ("level", "=", "red")]),
        ("", []),
        ("{}", []),
        (" { } ", []),
        ('note="a,b}{c=d"', [("note", "=", "a,b}{c=d")]),
        (r'note="say \"hi\", \\ok\n"', [("note", "=", 'say "hi", \\ok\n')]),
        (r'note="tab\tbell\a"', [("note", "=", "tab\tbell\a")]),
        (r'emoji="\U0001f642 \u263a"', [("emoji", "=", "🙂 ☺")]),
        (r'emoji="\xf0\x9f\x99\x82"', [("emoji", "=", "🙂")]),
        (r'octal="\101"', [("octal", "=", "A")]),
        ("path=~\"C:\\\\\\\\temp\"", [("path", "=~", "C:\\\\temp")]),
    ],
)
def test_matcher_text_parses_exactly(text: str, parsed: list[tuple[str, str, str]]) -> None:
    assert [(m.name, m.op, m.value) for m in parse_matchers(text)] == parsed


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("level", "bad matcher 'level' at column 6: expected an operator (=, !=, =~ or !~) after the label name, found the end"),
        ("level yellow", "bad matcher 'level yellow' at column 7: expected an operator (=, !=, =~ or !~) after the label name, found 'yellow'"),
        (
            "provider=partner-east level=red",
            "bad matcher 'provider=partner-east level=red' at column 23: expected ',' between matchers, found 'level'"
            " (quote a value that holds spaces or any of {}!=~,\"'`\\)",
        ),
        ("region=north america", "bad matcher 'region=north america' at column 14: expected ',' between matchers, found 'america' (quote a value that holds spaces or any of {}!=~,\"'`\\)"),
        ("level=", "bad matcher 'level=' at column 7: expected a value after '=', found the end (write level=\"\" for the empty value)"),
        ("level=,tier=P2", "bad matcher 'level=,tier=P2' at column 7: expected a value after '=', found ',' (write level=\"\" for the empty value)"),
        ("level!red", "bad matcher 'level!red' at column 7: expected '=' or '~' after '!', found 'r'"),
        ("level~red", "bad matcher 'level~red' at column 6: unexpected '~': put it inside a double-quoted value"),
        ("level='red'", "bad matcher \"level='red'\" at column 7: unexpected \"'\": quote values with double quotes"),
        ("level=a\\b", "bad matcher 'level=a\\\\b' at column 8: unexpected '\\\\': put it inside a double-quoted value"),
        (",", "bad matcher ',' at column 1: expected a label name, found ','"),
        ("a=b,,c=d", "bad matcher 'a=b,,c=d' at column 5: expected a label name, found ','"),
        ("{level=red", "bad matcher '{level=red' at column 11: expected '}' to close the '{' at column 1, found the end"),
        ("{level=red level=x}", "bad matcher '{level=red level=x}' at column 12: expected ',' or '}' after a matcher, found 'level' (quote a value that holds spaces or any of {}!=~,\"'`\\)"),
        ("{", "bad matcher '{' at column 2: expected '}' to close the '{' at column 1, found the end"),
        ("level=red}", "bad matcher 'level=red}' at column 10: found '}' without an opening '{'"),
        ("{level=red}}", "bad matcher '{level=red}}' at column 12: expected the end after '}', found '}'"),
        ('level="red', "bad matcher 'level=\"red' at column 7: the double quote is never closed"),
        ('level="a\\qb"', "bad matcher 'level=\"a\\\\qb\"' at column 9: bad escape '\\q' in a quoted value (write \\\" \\\\ \\n \\t \\xHH \\uHHHH or \\UHHHHHHHH)"),
        ('level="a\nb"', "bad matcher 'level=\"a\\nb\"' at column 9: a quoted value cannot hold a line break: write \\n"),
        ('emoji="\\xf0\\x9f"', "bad matcher 'emoji=\"\\\\xf0\\\\x9f\"' at column 7: the escaped bytes of the quoted value are not valid UTF-8"),
        ('9lives="x"', "bad matcher '9lives=\"x\"' at column 1: bad label name '9lives': a label name starts with a letter or _ and holds letters, digits, _, . and -"),
        ('provider=~"(unclosed"', "bad matcher 'provider=~\"(unclosed\"' at column 11: bad regular expression for label 'provider': missing ), unterminated subpattern at position 0"),
    ],
)
def test_bad_matcher_text_is_refused_with_its_column(text: str, error: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_matchers(text)
    assert str(info.value) == error


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("level", "bad matcher 'level' at column 6: expected an operator"),
        ('provider=~"(unclosed"', "bad regular expression for label 'provider'"),
        ('9lives="x"', "bad label name '9lives'"),
        ("provider=partner-east,level=red", "'provider=partner-east,level=red' holds 2 matchers (provider=\"partner-east\", level=\"red\"): a list item takes one matcher; write each as its own item"),
        ("{}", "'{}' holds no matcher: write label=value, label!=value, label=~regex or label!~regex"),
    ],
)
def test_one_matcher_per_list_item(written: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        LabelMatcher.model_validate(written)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("api", "text"),
    [
        ({"name": "level", "value": "red", "isRegex": False, "isEqual": True}, 'level="red"'),
        ({"name": "level", "value": "red", "isRegex": False, "isEqual": False}, 'level!="red"'),
        ({"name": "p", "value": "a.*", "isRegex": True, "isEqual": True}, 'p=~"a.*"'),
        ({"name": "p", "value": "a.*", "isRegex": True, "isEqual": False}, 'p!~"a.*"'),
    ],
)
def test_api_form_round_trips(api: dict, text: str) -> None:
    matcher = LabelMatcher.model_validate(api)
    assert str(matcher) == text
    assert matcher.to_api() == api
    assert matchers_from_json(matchers_to_json([matcher])) == (matcher,)


def test_the_three_forms_combine_and_all_must_hold() -> None:
    matchers = combine({"level": "red"}, {"provider": "partner-.*"}, [LabelMatcher.model_validate("region!=north")])
    assert [str(m) for m in matchers] == ['level="red"', 'provider=~"partner-.*"', 'region!="north"']
    assert all(m.matches(LABELS) for m in matchers)
    assert not all(m.matches(LABELS | {"region": "north"}) for m in matchers)


def test_a_matcher_list_renders_as_alertmanager_text() -> None:
    matchers = parse_matchers('provider=partner-east, level=~"red|escalate", note="a \\"b\\", c"')
    assert format_matchers(matchers) == '{provider="partner-east", level=~"red|escalate", note="a \\"b\\", c"}'
    assert format_matchers([]) == "{}"


def test_stored_matchers_must_be_a_list() -> None:
    with pytest.raises(ValueError, match="must be a JSON list"):
        matchers_from_json('{"name": "level"}')


_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,12}", fullmatch=True)
#: Text with the characters that need care: quotes, commas, braces, backslashes, operators,
#: whitespace and line breaks, control characters, and non-ASCII (CJK, emoji).
_VALUES = st.text(st.one_of(st.sampled_from(list('"\\,{}=!~\'` \t\n\r')), st.characters(codec="utf-8")), max_size=20)


@st.composite
def _matchers(draw: st.DrawFn) -> LabelMatcher:
    op = draw(st.sampled_from(["=", "!=", "=~", "!~"]))
    value = draw(_VALUES)
    if op in ("=~", "!~"):
        value = re.escape(value)  # any text becomes a valid regular expression
    return LabelMatcher(name=draw(_NAMES), op=op, value=value)


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_matchers(), max_size=5))
def test_rendering_and_parsing_a_matcher_list_round_trips(matchers: list[LabelMatcher]) -> None:
    assert parse_matchers(format_matchers(matchers)) == matchers
    assert parse_matchers(", ".join(str(m) for m in matchers)) == matchers
    for matcher in matchers:
        assert LabelMatcher.model_validate(str(matcher)) == matcher
