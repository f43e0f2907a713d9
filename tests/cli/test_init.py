"""``spm-rules init``: a starter project from the installed package (the wheel ships it)
that validates with --strict and whose tests pass; existing files are never overwritten
without --force."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from spm_rules.cli import EXIT_INVALID, EXIT_OK, main
from spm_rules.cli.init import STARTER_FILES, starter_text
from tests.fixtures.processes import ROOT

STARTER = ROOT / "spm_rules" / "starter"


def test_init_writes_the_starter_files_and_says_what_to_do_next(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "spm"
    assert main(["init", str(target)]) == EXIT_OK
    for name in STARTER_FILES:
        assert (target / name).read_bytes() == (STARTER / name).read_bytes() == starter_text(name)
    out = capsys.readouterr().out
    assert out.splitlines()[:4] == [
        f"wrote {target / 'service-desk.yaml'} (the ruleset), {target / 'tickets.jsonl'} (example tickets) and {target / 'tests' / 'service-desk.test.yaml'} (its unit tests)",
        "next:",
        f"  spm-rules validate --strict {target / 'service-desk.yaml'}",
        f"  spm-rules test {target / 'tests'}",
    ]


def test_what_init_writes_validates_strictly_and_its_tests_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == EXIT_OK
    capsys.readouterr()
    assert main(["validate", "--strict", "service-desk.yaml"]) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out == "service-desk.yaml: ok (2 policies, 6 rules, 3 receivers)\n" and "warning" not in captured.err
    assert main(["test", "tests", "--coverage"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "coverage of service-desk.yaml: rules 6/6, receivers 3/3, routes 1/1, schedules 1/1, levels 4/4" in out
    assert out.splitlines()[-1] == "4 tests: 4 passed, 0 failed"
    assert main(["evaluate", "--ruleset", "service-desk.yaml", "--tickets", "tickets.jsonl", "--at", "2026-03-02T12:00:00Z", "--format", "json"]) == EXIT_OK


def test_init_never_overwrites_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "tests").mkdir()
    mine = tmp_path / "tests" / "service-desk.test.yaml"
    mine.write_text("my own tests\n", encoding="utf-8")
    assert main(["init", str(tmp_path)]) == EXIT_INVALID
    assert capsys.readouterr().err == f"error: {mine} exists; not overwritten (use --force to replace the starter files)\n"
    assert mine.read_text(encoding="utf-8") == "my own tests\n"
    assert not (tmp_path / "service-desk.yaml").exists() and not (tmp_path / "tickets.jsonl").exists()
    assert main(["init", str(tmp_path), "--force"]) == EXIT_OK
    assert mine.read_bytes() == starter_text("tests/service-desk.test.yaml")


def test_the_wheel_ships_the_starter_files_and_the_pytest_plugin(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    # The wheel maps the shipped rulesets and examples into the package (spm_rules.rulesets, .examples).
    for folder in ("spm_rules", "rulesets", "examples"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("spm_rules-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        for name in STARTER_FILES:
            assert archive.read(f"spm_rules/starter/{name}") == (STARTER / name).read_bytes()
        (entry_points,) = [info.filename for info in archive.infolist() if info.filename.endswith(".dist-info/entry_points.txt")]
        assert "[pytest11]\nspm_rules = spm_rules.testing.pytest_plugin" in archive.read(entry_points).decode()
        assert "spm_rules/testing/pytest_plugin.py" in archive.namelist()
