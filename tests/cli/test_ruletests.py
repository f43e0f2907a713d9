"""``spm-rules test`` as a ruleset's author and CI run it: a report per test, a readable
diff per failure, exit 1 on any failure or invalid file, JSON and coverage on request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spm_rules.cli import EXIT_INVALID, EXIT_OK, EXIT_USAGE, main
from spm_rules.testing import load_suite
from tests.cli.test_startup import NEVER_AT_START, PROBE, RULESET_READING, TERMINAL
from tests.fixtures.processes import ROOT, python

TESTS = ROOT / "rulesets" / "tests"
ENTERPRISE_TESTS = TESTS / "enterprise-command-center.test.yaml"
SHIPPED_CASES = [case.name for path in sorted(TESTS.glob("*.test.yaml")) for case in load_suite(path).cases]


def _broken(tmp_path: Path) -> Path:
    text = ENTERPRISE_TESTS.read_text(encoding="utf-8").replace("ruleset: ../enterprise-command-center.yaml", f"ruleset: {ROOT / 'rulesets' / 'enterprise-command-center.yaml'}")
    text = text.replace("tickets_from: ../../examples/", f"tickets_from: {ROOT / 'examples'}/")
    text = text.replace("W1: {provider: partner-west, decisions: [dispatch-request]}", "W1: {provider: partner-south, decisions: [dispatch-request]}")
    path = tmp_path / "broken.test.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_tests_pass(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(TESTS)]) == EXIT_OK
    out, err = capfd.readouterr()
    lines = out.splitlines()
    assert [line.split("  ", 2)[2].rsplit(" (", 1)[0] for line in lines if line.startswith("  PASS")] == SHIPPED_CASES
    assert lines[-1] == f"{len(SHIPPED_CASES)} tests: {len(SHIPPED_CASES)} passed, 0 failed"
    assert f"{ENTERPRISE_TESTS} (ruleset {ROOT / 'rulesets' / 'enterprise-command-center.yaml'})" in lines
    assert err == ""  # console:// receivers print nothing: every message was captured


def test_a_failing_test_prints_expected_and_got_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _broken(tmp_path)
    line = next(i for i, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if "W1: {provider: partner-south" in text)
    assert main(["test", str(path)]) == EXIT_INVALID
    out = capsys.readouterr().out
    case_line = next(i for i, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if "each region's requests" in text)
    assert (
        f"  FAIL  each region's requests go to its partner, core servers stay in house ({path}:{case_line})\n"
        "        at +0m (2026-11-25 08:00 +08:00), step 1:\n"
        f"          ticket W1: provider (line {line})\n"
        "            expected: partner-south\n"
        "            got:      partner-west\n"
    ) in out
    assert out.splitlines()[-1] == f"{len(load_suite(path).cases)} tests: {len(load_suite(path).cases) - 1} passed, 1 failed"


@pytest.mark.parametrize(("pattern", "count"), [("each region*", 1), ("*silence*", 1), ("a*", 5), ("each region's requests go to its partner, core servers stay in house", 1)])
def test_run_picks_tests_by_glob(pattern: str, count: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(ENTERPRISE_TESTS), "--run", pattern]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.count("  PASS  ") == count and out.splitlines()[-1].startswith(f"{count} test")


def test_run_matching_nothing_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(ENTERPRISE_TESTS), "--run", "no such test"]) == EXIT_INVALID
    assert capsys.readouterr().err == "error: no test matches --run 'no such test'\n"


def test_json_is_one_document_with_failures_and_coverage(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(_broken(tmp_path)), str(TESTS / "repair-network.test.yaml"), "--format", "json", "--coverage"]) == EXIT_INVALID
    out, err = capfd.readouterr()
    document = json.loads(out)
    assert err == ""
    assert document["summary"] == {"tests": len(SHIPPED_CASES), "passed": len(SHIPPED_CASES) - 1, "failed": 1, "invalid_files": 0}
    failed = [test for file in document["files"] for test in file["tests"] if not test["passed"]]
    assert [(t["name"], [(f["subject"], f["what"], f["expected"], f["got"]) for f in t["failures"]]) for t in failed] == [
        ("each region's requests go to its partner, core servers stay in house", [("ticket W1", "provider", "partner-south", "partner-west")])
    ]
    coverage = {item["ruleset"]: item for item in document["coverage"]}
    assert sorted(Path(name).name for name in coverage) == ["enterprise-command-center.yaml", "repair-network.yaml"]
    assert all(entry[kind]["missing"] == [] and entry[kind]["covered"] == entry[kind]["total"] for entry in coverage.values() for kind in ("rules", "receivers", "routes", "schedules", "levels"))


def test_coverage_lists_what_no_selected_test_exercised(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(ENTERPRISE_TESTS), "--run", "each region*", "--coverage"]) == EXIT_OK
    out = capsys.readouterr().out
    ruleset = ROOT / "rulesets" / "enterprise-command-center.yaml"
    lines = ruleset.read_text(encoding="utf-8").splitlines()
    yellow = next(i for i, line in enumerate(lines, 1) if "- name: response-yellow" in line)
    assert f"coverage of {ruleset}: rules 1/5, receivers 0/3, routes 0/3, schedules 0/2, levels 0/4" in out
    assert f"  {ruleset}:{yellow}: rule response-yellow took no decision in any test" in out


def test_an_invalid_file_is_reported_located_and_the_others_still_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.test.yaml"
    bad.write_text(f"ruleset: {ROOT / 'rulesets' / 'repair-network.yaml'}\nstart: 2026-11-23T08:30:00+08:00\ntests:\n  - name: x\n    stepz: []\n", encoding="utf-8")
    assert main(["test", str(bad), str(ENTERPRISE_TESTS), "--run", "each region*"]) == EXIT_INVALID
    captured = capsys.readouterr()
    assert f"{bad}:5: tests.0.stepz: unknown key 'stepz' (hint: did you mean 'steps'?)" in captured.err
    assert f"{bad}:4: tests.0.steps: missing required key 'steps'" in captured.err
    assert captured.out.splitlines()[-1] == "1 test: 1 passed, 0 failed; 1 invalid test file"


def test_a_folder_without_test_files_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(tmp_path)]) == EXIT_INVALID
    assert "error: no test files (*.test.yaml, *.test.yml) in" in capsys.readouterr().err


def test_test_needs_a_path() -> None:
    assert main(["test"]) == EXIT_USAGE


@pytest.mark.parametrize("command", ["test", "init"])
def test_help_stays_light(command: str) -> None:
    *printed, last = python("-c", PROBE, json.dumps([command, "--help"]), json.dumps(NEVER_AT_START + RULESET_READING + TERMINAL)).stdout.splitlines()
    assert json.loads(last) == {"code": 0, "loaded": []}
    assert any(command in line for line in printed)
