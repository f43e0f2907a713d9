"""``spm-rules test``: run ruleset unit tests (``*.test.yaml``) with simulated time.

Each test runs its steps as cron runs over a temporary state, with every receiver
replaced by a capturing hook: nothing is sent, no URL is contacted.  A failing test
prints, per step and per ticket, what was expected and what was got; the command exits 1
when any test fails, a test file is invalid (each problem located), or ``--run`` matches
no test.  ``--coverage`` lists the rules, receivers, routes, schedules and levels that
no test exercised.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import EXIT_INVALID, EXIT_OK, cli
from .common import build_engine, matcher_option

if TYPE_CHECKING:
    from ..ruleset.schema import Ruleset
    from ..testing import CaseResult

__all__ = ["test_command", "test_files"]

#: The names test files go by when a folder is given.
TEST_FILE_PATTERNS = ("*.test.yaml", "*.test.yml")


def test_files(paths: tuple[str, ...]) -> list[Path]:
    """The files named, and the test files under each folder named (sorted)."""
    found: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            found += sorted({file for pattern in TEST_FILE_PATTERNS for file in path.rglob(pattern)})
        else:
            found.append(path)
    return found


def _text_report(file: Path, ruleset: "Ruleset", results: list["CaseResult"]) -> None:
    from ..testing import format_failures

    click.echo(f"{file} (ruleset {ruleset.source})")
    for result in results:
        if result.passed:
            click.echo(f"  {click.style('PASS', fg='green')}  {result.name} ({result.steps} step{'s' if result.steps != 1 else ''})")
            continue
        click.echo(f"  {click.style('FAIL', fg='red', bold=True)}  {result.name} ({file}:{result.line})")
        for line in format_failures(result).splitlines():
            click.echo(f"        {line}")


@cli.command("test")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--run", "select", default=None, metavar="NAME", help="Only the tests whose name matches this glob (e.g. 'red*').")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--coverage", is_flag=True, help="Also list the rules, receivers, routes, schedules and levels no test exercised.")
@matcher_option
def test_command(paths: tuple[str, ...], select: str | None, fmt: str, coverage: bool, matcher: str) -> int:
    """Run the ruleset tests in PATHS (test files, or folders holding *.test.yaml files).

    Exit 0 when every test passed; 1 when a test failed, a test file is invalid, or --run
    matches no test."""
    from ..errors import RulesetError
    from ..logs import setup_logging
    from ..testing import Coverage, coverage_items, coverage_to_json, format_coverage, load_suite, run_suite
    from .render import print_problems

    setup_logging("text", "ERROR")  # a test's runs log route conflicts and schedules: the report says what matters
    files = test_files(paths)
    if not files:
        click.echo(f"error: no test files ({', '.join(TEST_FILE_PATTERNS)}) in {', '.join(paths)}", err=True)
        return EXIT_INVALID
    documents: list[dict[str, Any]] = []
    covered: dict[str, tuple[Ruleset, "Coverage"]] = {}
    invalid = 0
    results_all: list[CaseResult] = []
    for file in files:
        try:
            suite = load_suite(file)
        except RulesetError as exc:
            invalid += 1
            print_problems(exc.problems)
            documents.append({"file": str(file), "ruleset": None, "problems": [str(p) for p in exc.problems], "tests": []})
            continue
        results = run_suite(suite, select=select, engine=build_engine(suite.ruleset, matcher))
        results_all += results
        if results:
            _, merged = covered.setdefault(suite.ruleset_path, (suite.ruleset, Coverage(suite.ruleset_path)))
            for result in results:
                merged.add(result.coverage)
        if fmt == "json":
            documents.append({"file": str(file), "ruleset": suite.ruleset_path, "problems": [], "tests": [r.to_json() for r in results]})
        elif results:
            _text_report(file, suite.ruleset, results)
    failed = sum(not r.passed for r in results_all)
    unmatched = select is not None and not results_all and not invalid
    if fmt == "json":
        document: dict[str, Any] = {
            "files": documents,
            "summary": {"tests": len(results_all), "passed": len(results_all) - failed, "failed": failed, "invalid_files": invalid},
        }
        if coverage:
            document["coverage"] = [coverage_to_json(r, coverage_items(r, c)) for r, c in covered.values()]
        json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        if coverage:
            for ruleset, merged in covered.values():
                click.echo(format_coverage(ruleset, coverage_items(ruleset, merged)))
        summary = f"{len(results_all)} test{'s' if len(results_all) != 1 else ''}: {len(results_all) - failed} passed, {failed} failed"
        if invalid:
            summary += f"; {invalid} invalid test file{'s' if invalid != 1 else ''}"
        click.echo(summary)
    if unmatched:
        click.echo(f"error: no test matches --run {select!r}", err=True)
    return EXIT_INVALID if failed or invalid or unmatched else EXIT_OK
