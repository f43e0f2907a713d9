"""Label matchers: Alertmanager's operators, anchored regexes, missing labels, written forms."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from spm_rules.alerting.matchers import LabelMatcher, combine, matchers_from_json, matchers_to_json

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


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("level", "bad matcher 'level'"),
        ('provider=~"(unclosed"', "bad regular expression for label 'provider'"),
        ('9lives="x"', "bad matcher"),
        ('level="unterminated\\"', "bad quoted value"),
    ],
)
def test_bad_matchers_are_rejected_with_a_reason(written: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
        LabelMatcher.model_validate(written)


def test_the_three_forms_combine_and_all_must_hold() -> None:
    matchers = combine({"level": "red"}, {"provider": "partner-.*"}, [LabelMatcher.model_validate("region!=north")])
    assert [str(m) for m in matchers] == ['level="red"', 'provider=~"partner-.*"', 'region!="north"']
    assert all(m.matches(LABELS) for m in matchers)
    assert not all(m.matches(LABELS | {"region": "north"}) for m in matchers)


def test_stored_matchers_must_be_a_list() -> None:
    with pytest.raises(ValueError, match="must be a JSON list"):
        matchers_from_json('{"name": "level"}')
