"""pytest runs ruleset tests: each test of a ``*.test.yaml`` file is one pytest item.

Installed with spm-rules, pytest loads this plugin by itself (entry point ``pytest11``
named ``spm_rules``); with plugin autoloading off, load it with ``-p spm_rules`` or
``pytest_plugins = ["spm_rules.testing.pytest_plugin"]`` in the root ``conftest.py``.
Which files are collected is the ini option ``spm_rules_test_files`` (glob patterns on
the file name; default ``*.test.yaml *.test.yml``); a matching file without a top-level
``ruleset:`` key belongs to another tool and is left alone.  A failing test's report is the same
expected-versus-got text ``spm-rules test`` prints; an invalid test file is a collection
error listing each problem with file, line and key.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:
    from ..engine import Engine
    from .runner import CaseResult
    from .suite import Case, Suite

__all__ = ["RulesetTestFile", "RulesetTestItem", "RulesetTestFailed", "DEFAULT_PATTERNS"]

#: The file names collected unless ``spm_rules_test_files`` says otherwise.
DEFAULT_PATTERNS = ["*.test.yaml", "*.test.yml"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("spm_rules_test_files", type="args", default=DEFAULT_PATTERNS, help="glob patterns of ruleset test files (default: *.test.yaml *.test.yml)")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> "RulesetTestFile | None":
    patterns = parent.config.getini("spm_rules_test_files")
    if any(fnmatch.fnmatch(file_path.name, pattern) for pattern in patterns) and _names_a_ruleset(file_path):
        return RulesetTestFile.from_parent(parent, path=file_path)  # type: ignore[no-any-return]
    return None


def _names_a_ruleset(path: Path) -> bool:
    """The file has a top-level ``ruleset:`` key (unreadable files are collected, to be reported)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return True
    return re.search(r"^ruleset\s*:", text, flags=re.MULTILINE) is not None


class RulesetTestFailed(Exception):
    """A ruleset test did not do what its file expects; carries the result to report."""

    def __init__(self, result: "CaseResult") -> None:
        super().__init__(result.name)
        self.result = result


class RulesetTestFile(pytest.File):
    """A ruleset test file: loaded once, one item per test, one engine shared by them."""

    suite: "Suite"
    _engine: "Engine | None" = None

    def collect(self) -> Iterator["RulesetTestItem"]:
        from ..errors import RulesetError
        from .suite import load_suite

        try:
            self.suite = load_suite(self.path)
        except RulesetError as exc:
            raise self.CollectError("\n".join(str(problem) for problem in exc.problems)) from None
        for case in self.suite.cases:
            yield RulesetTestItem.from_parent(self, name=case.name, case=case)

    @property
    def engine(self) -> "Engine":
        """The engine of the file's ruleset, built for the first item that runs."""
        if self._engine is None:
            from ..engine import Engine

            self._engine = Engine(self.suite.ruleset)
        return self._engine


class RulesetTestItem(pytest.Item):
    """One test of a ruleset test file."""

    def __init__(self, *, case: "Case", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        from .runner import run_case

        assert isinstance(self.parent, RulesetTestFile)
        result = run_case(self.parent.suite, self.case, engine=self.parent.engine)
        if not result.passed:
            raise RulesetTestFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, RulesetTestFailed):
            from .report import format_failures

            result = excinfo.value.result
            return f"ruleset test {result.name!r} ({self.path.name}:{result.line}) failed\n{format_failures(result)}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line = self.case.line - 1 if self.case.line is not None else None
        return self.path, line, f"ruleset test: {self.case.name}"
