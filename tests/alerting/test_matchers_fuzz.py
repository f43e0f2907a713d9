"""Fuzzing matcher text (issue 13 item 11): ``parse_matchers`` returns matchers or raises
MatcherSyntaxError with the column, whatever the text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from spm_rules.alerting.matchers import MatcherSyntaxError, parse_matchers

#: The characters the matcher grammar gives a meaning to, and some it refuses.
MATCHER_TEXT = st.text(alphabet=st.sampled_from(list('{}=!~,"\\\'` \t\nabc.-_*+?()[]|^$xu0123456789') + ["\u00e9", "\x00", "\udcff"]), max_size=60)


@settings(max_examples=300, deadline=None)
@given(text=MATCHER_TEXT | st.text(max_size=40))
def test_any_matcher_text_parses_or_names_its_column(text: str) -> None:
    try:
        matchers = parse_matchers(text)
    except MatcherSyntaxError as exc:
        assert 1 <= exc.column <= len(text) + 1 and exc.problem
        return
    for matcher in matchers:
        assert matcher.name and matcher.op in ("=", "!=", "=~", "!~")
