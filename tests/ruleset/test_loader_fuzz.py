"""Fuzzing the ruleset loader (issue 13 item 11): whatever the text, ``parse_ruleset``
returns a ruleset or raises RulesetError with located problems, never anything else,
never expands an alias bomb and never constructs a Python object from a tag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spm_rules.errors import RulesetError
from spm_rules.ruleset.loader import parse_ruleset

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = (ROOT / "rulesets" / "enterprise-command-center.yaml").read_text(encoding="utf-8")
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Characters YAML gives a meaning to, so that random text reaches the parser's corners.
YAML_TEXT = st.text(alphabet=st.sampled_from(list(":-[]{}&*!|>'\"#%@`,? \n\t") + ["a", "1", "x", "~", "\u00e9", "\x00", "\ufeff"]), max_size=200)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
SECTIONS = ["name", "tiers", "stages", "terminal_statuses", "pausing_statuses", "policies", "rules", "receivers", "routes", "calendars", "schedules", "templates", "delivery", "retention", "inhibit_rules", "ticket_timezone"]
DOCUMENTS = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(SECTIONS) | st.text(max_size=8), inner, max_size=4), max_leaves=30)


def _loads_or_located_error(text: str) -> None:
    try:
        parse_ruleset(text, "fuzz.yaml")
    except RulesetError as exc:
        assert exc.problems and all(problem.location.file == "fuzz.yaml" for problem in exc.problems)


@FUZZ
@given(text=YAML_TEXT)
def test_any_text_loads_or_gives_located_problems(text: str) -> None:
    _loads_or_located_error(text)


@FUZZ
@given(document=st.dictionaries(st.sampled_from(SECTIONS), DOCUMENTS, max_size=8))
def test_any_yaml_document_of_ruleset_sections_loads_or_gives_located_problems(document: dict[str, Any]) -> None:
    _loads_or_located_error(yaml.safe_dump(document, allow_unicode=True))


@FUZZ
@given(cut=st.integers(0, len(SHIPPED)), length=st.integers(0, 40), insert=YAML_TEXT)
def test_a_shipped_ruleset_damaged_anywhere_loads_or_gives_located_problems(cut: int, length: int, insert: str) -> None:
    _loads_or_located_error(SHIPPED[:cut] + insert + SHIPPED[cut + length :])


@settings(max_examples=25, deadline=None)
@given(levels=st.integers(2, 30), width=st.integers(2, 12), key=st.sampled_from(["name", "stages", "rules", "x"]))
def test_alias_bombs_of_any_shape_are_refused_at_an_alias(levels: int, width: int, key: str) -> None:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    text = "\n".join(lines) + f"\n{key}: *a{levels - 1}\n"
    if width**levels <= 100_000:
        _loads_or_located_error(text)
        return
    with pytest.raises(RulesetError) as info:
        parse_ruleset(text, "fuzz.yaml")
    (problem,) = info.value.problems
    assert "aliases expand to more than 100,000 nodes" in problem.message and problem.location.line is not None


@pytest.mark.parametrize(
    "tag",
    ["!!python/object/apply:os.system ['touch {marker}']", "!!python/object/new:os.system ['touch {marker}']", "!!python/name:os.system", "!!python/module:os"],
)
def test_python_tags_are_never_constructed(tmp_path: Path, tag: str) -> None:
    marker = tmp_path / "executed"
    with pytest.raises(RulesetError) as info:
        parse_ruleset(SHIPPED.replace("name: enterprise-command-center", "name: " + tag.format(marker=marker), 1), "fuzz.yaml")
    assert "could not determine a constructor" in str(info.value)
    assert not marker.exists()
