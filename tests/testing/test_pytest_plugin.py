"""pytest collects ruleset test files: one item per test, the same readable diff as the
failure report, located problems as a collection error; the ini option picks the files,
and a conftest can load the plugin when autoloading is off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from spm_rules.testing import load_suite
from tests.fixtures.processes import ROOT

ENTERPRISE = ROOT / "rulesets" / "enterprise-command-center.yaml"

PASSING = f"""\
ruleset: {ENTERPRISE}
start: 2026-11-25T08:00:00+08:00
tests:
  - name: routed north
    tickets: [{{id: N1, tier: P4, region: north, product_line: rack, stages: [{{dispatched: +0m}}]}}]
    steps:
      - at: +0m
        expect:
          tickets: {{N1: {{provider: partner-north}}}}
  - name: yellow after three hours
    tickets: [{{id: N2, tier: P4, region: north, product_line: rack, customer: Grid, stages: [{{dispatched: +0m}}]}}]
    steps:
      - at: +0m
      - at: +3h
        expect:
          notifications: [{{receiver: partner-desk, title: YELLOW N2 Grid}}]
"""


def _pytest(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_each_test_of_a_test_file_is_an_item_and_a_failure_reads_as_expected_and_got(tmp_path: Path) -> None:
    (tmp_path / "ok.test.yaml").write_text(PASSING, encoding="utf-8")
    (tmp_path / "broken.test.yaml").write_text(PASSING.replace("title: YELLOW N2 Grid", "title: RED N2 Grid"), encoding="utf-8")
    done = _pytest(tmp_path, "-rf")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 3 passed" in done.stdout
    assert "FAILED broken.test.yaml::yellow after three hours" in done.stdout
    assert "ruleset test 'yellow after three hours' (broken.test.yaml:10) failed" in done.stdout
    assert "    expected: receiver partner-desk, title 'RED N2 Grid'\n    got:      no message matches\n" in done.stdout
    assert "        expected: 'RED N2 Grid'\n        got:      'YELLOW N2 Grid'\n" in done.stdout
    assert "Traceback" not in done.stdout


def test_one_test_is_picked_by_its_name(tmp_path: Path) -> None:
    (tmp_path / "ok.test.yaml").write_text(PASSING, encoding="utf-8")
    done = _pytest(tmp_path, "ok.test.yaml::routed north", "-vv")
    assert done.returncode == 0 and "ok.test.yaml::routed north PASSED" in done.stdout and "1 passed" in done.stdout


def test_an_invalid_test_file_is_a_collection_error_with_located_problems(tmp_path: Path) -> None:
    path = tmp_path / "bad.test.yaml"
    path.write_text(PASSING.replace("product_line: rack, customer", "product_line: rack, custmer: x, customer").replace("partner-desk", "partner-dsk"), encoding="utf-8")
    done = _pytest(tmp_path)
    assert done.returncode == 2
    assert "ERROR collecting bad.test.yaml" in done.stdout
    assert f"{path}:16: tests.1.steps.1.expect.notifications.0.receiver: unknown receiver 'partner-dsk' (hint: did you mean 'partner-desk'?)" in done.stdout
    assert "Traceback" not in done.stdout


def test_the_ini_option_names_the_files_collected(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\nspm_rules_test_files = *.rules.yaml\n", encoding="utf-8")
    (tmp_path / "ok.rules.yaml").write_text(PASSING, encoding="utf-8")
    (tmp_path / "ignored.test.yaml").write_text(PASSING, encoding="utf-8")
    done = _pytest(tmp_path)
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout


def test_a_file_of_another_tool_with_the_same_name_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "ok.test.yaml").write_text(PASSING, encoding="utf-8")
    (tmp_path / "k8s.test.yaml").write_text("apiVersion: v1\nkind: Pod\n", encoding="utf-8")
    done = _pytest(tmp_path)
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout


def test_a_conftest_loads_the_plugin_when_autoloading_is_off(tmp_path: Path) -> None:
    (tmp_path / "ok.test.yaml").write_text(PASSING, encoding="utf-8")
    off = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    assert "no tests ran" in _pytest(tmp_path, env=off).stdout
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["spm_rules.testing.pytest_plugin"]\n', encoding="utf-8")
    done = _pytest(tmp_path, env=off)
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout + done.stderr


def test_this_repository_collects_the_shipped_test_files() -> None:
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    collected = {line for line in done.stdout.splitlines() if ".test.yaml::" in line}
    expected = {
        f"{path.relative_to(ROOT)}::{case.name}" for path in sorted((ROOT / "rulesets" / "tests").glob("*.test.yaml")) for case in load_suite(path).cases
    }
    assert expected and collected == expected
