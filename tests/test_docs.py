"""The documentation cannot silently fall behind the code: every ruleset key the models
accept is in the reference, in the section of its place, and every link resolves in a clone."""

from __future__ import annotations

import re
import types
import typing
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from spm_rules.ruleset.loader import parse_ruleset
from spm_rules.ruleset.schema import Ruleset
from spm_rules.sources.files import read_tickets
from spm_rules.tickets import Ticket
from tests.fixtures.processes import ROOT

REFERENCE = ROOT / "docs" / "ruleset.md"
TOP_LEVEL = "Top-level keys"


def _nested(annotation: Any) -> typing.Iterator[tuple[str, type[BaseModel]]]:
    """The models inside a field's annotation, each with the path suffix that leads to it:
    ``[]`` through a list, ``.<name>`` through a mapping, nothing through a union."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield "", annotation
    elif origin is typing.Annotated:
        yield from _nested(args[0])
    elif origin in (list, tuple, set, frozenset):
        for arg in args:
            for suffix, model in _nested(arg):
                yield "[]" + suffix, model
    elif origin is dict:
        for suffix, model in _nested(args[1]):
            yield ".<name>" + suffix, model
    elif origin in (typing.Union, types.UnionType):
        for arg in args:
            yield from _nested(arg)


def _models() -> dict[type[BaseModel], str]:
    """Every model a ruleset file is made of, with the YAML path where it first appears
    (breadth first from the top level, whose path is empty)."""
    found: dict[type[BaseModel], str] = {}
    queue: deque[tuple[type[BaseModel], str]] = deque([(Ruleset, "")])
    while queue:
        model, path = queue.popleft()
        if model in found:
            continue
        found[model] = path
        for name, info in model.model_fields.items():
            key = info.alias or name
            for suffix, nested in _nested(info.annotation):
                queue.append((nested, f"{path}.{key}{suffix}".lstrip(".")))
    return found


def _keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _section(text: str, heading: str) -> str:
    """The text under the first heading that contains ``heading``, up to the next heading."""
    lines = text.splitlines()
    starts = [index for index, line in enumerate(lines) if line.startswith("#") and heading in line]
    assert starts, f"docs/ruleset.md has no heading with {heading}"
    body = []
    for line in lines[starts[0] + 1 :]:
        if line.startswith("#"):
            break
        body.append(line)
    return "\n".join(body)


MODELS = _models()


def test_the_models_walk_reaches_the_nested_sections() -> None:
    paths = set(MODELS.values())
    assert {"", "policies[].levels[]", "rules[].then[].notify", "calendars.<name>.holidays[]", "route.routes[]", "receivers.<name>.urls[]"} <= paths


@pytest.mark.parametrize("model", list(MODELS), ids=lambda model: MODELS[model] or "top-level")
def test_every_key_of_every_ruleset_model_is_in_the_reference(model: type[BaseModel]) -> None:
    path = MODELS[model]
    section = _section(REFERENCE.read_text(encoding="utf-8"), f"`{path}`" if path else TOP_LEVEL)
    missing = [key for key in _keys(model) if f"`{key}`" not in section]
    assert missing == [], f"the section of {path or 'the top level'} in docs/ruleset.md does not document {missing}"
    # …and the section's table documents no key the model lacks (a renamed or removed key)
    listed = re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE)
    assert listed, f"the section of {path or 'the top level'} has no key table"
    assert sorted(set(listed) - set(_keys(model))) == []


def test_every_ticket_field_is_in_the_ticket_format() -> None:
    text = (ROOT / "docs" / "tickets.md").read_text(encoding="utf-8")
    models: list[type[BaseModel]] = [Ticket]
    for info in Ticket.model_fields.values():
        models += [model for _, model in _nested(info.annotation)]
    missing = [f"{model.__name__}.{key}" for model in models for key in _keys(model) if f"`{key}`" not in text]
    assert missing == []


DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    targets = re.findall(r"\]\((?!https?://|mailto:|#)([^)#\s]+)", text) + re.findall(r"`(\.\./[^`]+)`", text)
    broken = []
    for target in targets:
        resolved = (document.parent / target).resolve()
        if not resolved.exists() or ROOT.resolve() not in resolved.parents:
            broken.append(target)
    assert broken == []


def test_the_readme_links_the_design_documents() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("docs/design.md", "docs/tickets.md", "docs/ruleset.md", "docs/alerting.md"):
        assert f"]({name})" in text
    assert "../shared" not in text


def _blocks(document: Path, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", document.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("language", ["jsonl", "json", "csv"])
def test_the_ticket_examples_read_without_a_problem(language: str, tmp_path: Path) -> None:
    (example,) = _blocks(ROOT / "docs" / "tickets.md", language)
    path = tmp_path / f"tickets.{language}"
    path.write_text(example, encoding="utf-8")
    tickets, problems = read_tickets([path], "Asia/Shanghai")
    assert problems == [] and len(tickets) >= 2
    _, without_zone = read_tickets([path])
    assert language == "json" or any("time has no timezone" in problem.message for problem in without_zone)


def test_the_complete_small_ruleset_of_the_reference_loads() -> None:
    example = _blocks(REFERENCE, "yaml")[0]
    ruleset = parse_ruleset(example, "docs/ruleset.md")
    assert (ruleset.name, [level.name for level in ruleset.policies[0].levels]) == ("command-center", ["yellow", "red", "escalate"])


def _named_tests(text: str) -> typing.Iterator[tuple[str, str | None]]:
    """The tests a page names, as (file, test or None for a whole file); ``…::name`` is a
    test of the file named last before it."""
    last = ""
    for found in re.finditer(r"`(tests/[\w/]+\.py|…)(?:::(\w+))?", text):
        path = last if found.group(1) == "…" else found.group(1)
        last = path
        yield path, found.group(2)


def test_every_test_reliability_md_names_exists() -> None:
    """A guarantee is only as good as the test that proves it: every test RELIABILITY.md
    names is a test function in the file it says."""
    named = list(_named_tests((ROOT / "RELIABILITY.md").read_text(encoding="utf-8")))
    assert len(named) > 30
    missing = []
    for path, name in named:
        source = ROOT / path
        if not source.is_file() or (name is not None and not re.search(rf"^def {name}\(", source.read_text(encoding="utf-8"), re.M)):
            missing.append(f"{path}::{name}" if name else path)
    assert missing == []
