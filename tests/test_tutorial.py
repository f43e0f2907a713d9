"""The tutorial stays true: its walk from ``spm-rules init`` through a change (tests that
fail with the shown diff, the linter's warning, coverage, a new test) is replayed here
with the snippets the tutorial shows, and every output it shows is what the commands print."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spm_rules.cli import EXIT_INVALID, EXIT_OK, main
from tests.fixtures.processes import ROOT

TUTORIAL = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", TUTORIAL, flags=re.MULTILINE | re.DOTALL)


def _shown(block: str) -> list[str]:
    """The lines of an output block the tutorial shows, without the command and elisions."""
    return [line for line in block.splitlines() if not line.startswith("$ ") and line != "…"]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _in_order(shown: list[str], printed: str) -> None:
    lines = printed.splitlines()
    position = 0
    for line in shown:
        assert line in lines[position:], f"the tutorial shows {line!r}, the command printed:\n{printed}"
        position = lines.index(line, position) + 1


def test_the_tutorial_walk_prints_what_the_tutorial_shows(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    yaml_blocks, text_blocks = _blocks("yaml"), _blocks("text")
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run(capsys, "init", "spm")
    assert code == EXIT_OK and out.splitlines()[:5] == _shown(text_blocks[0])
    monkeypatch.chdir(tmp_path / "spm")
    ruleset, tests = Path("service-desk.yaml"), Path("tests/service-desk.test.yaml")

    code, out, _ = _run(capsys, "test", "tests/")
    assert code == EXIT_OK and out.splitlines() == _shown(text_blocks[1])

    # silver buys 2 hours: the example test fails, with the diff the tutorial shows
    silver = yaml_blocks[0].splitlines()[1]
    text = ruleset.read_text(encoding="utf-8")
    ruleset.write_text(re.sub(r"^  silver: .*$", silver, text, count=1, flags=re.MULTILINE), encoding="utf-8")
    code, out, _ = _run(capsys, "test", "tests/")
    assert code == EXIT_INVALID
    _in_order(_shown(text_blocks[2]), out)

    # the expectation follows the intended change
    sd102, *notifications = yaml_blocks[1].splitlines()
    text = tests.read_text(encoding="utf-8")
    text = re.sub(r"^            SD-102: .*$", sd102, text, count=1, flags=re.MULTILINE)
    start = text.index("          notifications:\n")
    end = text.index("          exactly: true\n", start) + len("          exactly: true\n")
    tests.write_text(text[:start] + "\n".join(notifications) + "\n" + text[end:], encoding="utf-8")
    assert _run(capsys, "test", "tests/")[0] == EXIT_OK

    # a security team: the route rule before route-service-desk makes the linter warn
    text = ruleset.read_text(encoding="utf-8")
    ruleset.write_text(text.replace("  - name: route-service-desk\n", yaml_blocks[2] + "  - name: route-service-desk\n", 1), encoding="utf-8")
    code, out, err = _run(capsys, "validate", "--strict", "service-desk.yaml")
    assert code == EXIT_INVALID and err.splitlines() == _shown(text_blocks[3])

    # conditions that exclude each other; the new rule is not covered yet
    when = yaml_blocks[3].splitlines()[1]
    text = ruleset.read_text(encoding="utf-8")
    start = text.index("  - name: route-service-desk\n")
    ruleset.write_text(text[:start] + re.sub(r"^    when: .*$", when, text[start:], count=1, flags=re.MULTILINE), encoding="utf-8")
    code, out, err = _run(capsys, "validate", "--strict", "service-desk.yaml")
    assert (code, out, err) == (EXIT_OK, "service-desk.yaml: ok (2 policies, 7 rules, 3 receivers)\n", "")
    code, out, _ = _run(capsys, "test", "tests/", "--coverage")
    assert code == EXIT_OK
    _in_order(_shown(text_blocks[4]), out)

    # the new test covers it
    tests.write_text(tests.read_text(encoding="utf-8") + "\n" + yaml_blocks[4], encoding="utf-8")
    code, out, _ = _run(capsys, "test", "tests/", "--run", "security*")
    assert code == EXIT_OK and out.splitlines() == _shown(text_blocks[5])
    code, out, _ = _run(capsys, "test", "tests/", "--coverage")
    assert code == EXIT_OK and "coverage of service-desk.yaml: rules 7/7, receivers 3/3, routes 1/1, schedules 1/1, levels 4/4" in out

    # real channels: the receivers the tutorial shows load, and the tests still pass without their secrets
    text = ruleset.read_text(encoding="utf-8")
    start, end = text.index("receivers:\n"), text.index("ticket_url:")
    ruleset.write_text(text[:start] + yaml_blocks[5] + "\n" + text[end:], encoding="utf-8")
    assert _run(capsys, "validate", "--strict", "service-desk.yaml")[0] == EXIT_OK
    assert _run(capsys, "test", "tests/")[0] == EXIT_OK
