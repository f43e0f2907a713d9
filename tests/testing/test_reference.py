"""docs/testing.md cannot fall behind the code: every key of the test-file format is in
its section, and the first example there loads and passes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from spm_rules.testing import format_failures, parse_suite, run_suite
from spm_rules.testing.model import (
    AckSpec,
    CaseSpec,
    DecisionExpectation,
    Expectation,
    LevelExpectation,
    NotificationExpectation,
    StepSilence,
    StepSpec,
    SuiteSpec,
    TicketExpectation,
    TicketSpec,
    TicketUpdate,
)
from tests.fixtures.processes import ROOT

REFERENCE = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
SECTIONS = {
    SuiteSpec: "### Top level",
    CaseSpec: "### `tests[]`",
    TicketSpec: "### `tickets[]`",
    StepSpec: "### `steps[]`",
    TicketUpdate: "### `steps[]`",
    AckSpec: "### `steps[]`",
    StepSilence: "### `steps[]`",
    Expectation: "### `expect`",
    TicketExpectation: "### `expect`",
    LevelExpectation: "### `expect`",
    DecisionExpectation: "### `expect`",
    NotificationExpectation: "### `expect`",
}


def _section(heading: str) -> str:
    start = REFERENCE.index(f"\n{heading}\n")
    following = re.search(r"^#{1,3} ", REFERENCE[start + len(heading) + 2 :], flags=re.MULTILINE)
    return REFERENCE[start : start + len(heading) + 2 + following.start()] if following else REFERENCE[start:]


@pytest.mark.parametrize("model", list(SECTIONS), ids=lambda model: model.__name__)
def test_every_key_of_the_format_is_documented_in_its_section(model: type[BaseModel]) -> None:
    section = _section(SECTIONS[model])
    missing = [info.alias or name for name, info in model.model_fields.items() if not re.search(rf"\b{re.escape(info.alias or name)}\b", section)]
    assert missing == []


def test_the_first_example_of_the_reference_passes(tmp_path: Path) -> None:
    example = re.findall(r"^```yaml\n(.*?)^```", REFERENCE, flags=re.MULTILINE | re.DOTALL)[0]
    text = example.replace("ruleset: ../enterprise-command-center.yaml", f"ruleset: {ROOT / 'rulesets' / 'enterprise-command-center.yaml'}")
    (result,) = run_suite(parse_suite(text, str(tmp_path / "example.test.yaml")))
    assert result.passed, format_failures(result)
    assert result.steps == 5
