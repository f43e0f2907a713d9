"""What the distribution declares matches what the code and the tests import, and what a
user of the package gets: the version, the license, type information, the extras."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

import spm_rules
from spm_rules.cli import EXIT_INVALID, main
from tests.fixtures.processes import ROOT, python
DIST = "spm-rules"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements() -> dict[str, set[str]]:
    """Distribution name → the extras that require it ("" for a core dependency)."""
    found: dict[str, set[str]] = {}
    for line in importlib.metadata.requires(DIST) or []:
        name = _canonical(re.match(r"[A-Za-z0-9._-]+", line)[0])
        extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", line)
        found.setdefault(name, set()).add(extra[1] if extra else "")
    return found


def _imported_distributions(folder: Path) -> dict[str, str]:
    """Installed distribution → a file under ``folder`` that imports one of its modules."""
    providers = importlib.metadata.packages_distributions()
    ours = {"spm_rules", "tests", "benchmarks"}
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.partition(".")[0]
                if top in sys.stdlib_module_names or top in ours:
                    continue
                for dist in providers.get(top, []):  # not installed here (durable_rules on 3.13+): nothing to check
                    found.setdefault(_canonical(dist), str(path.relative_to(ROOT)))
    return found


#: Modules that only their host loads, with the host's distribution: the pytest plugin runs
#: inside pytest, so pytest is there whenever it is imported (it is not a dependency).  Any
#: other module importing pytest is still reported (the first importer in file order is).
HOSTED = {"spm_rules/testing/pytest_plugin.py": "pytest"}


def test_every_module_the_package_imports_is_a_declared_dependency() -> None:
    required = _requirements()
    imported = _imported_distributions(ROOT / "spm_rules")
    undeclared = {dist: where for dist, where in imported.items() if "" not in required.get(dist, set()) and HOSTED.get(where) != dist}
    assert undeclared == {}


def test_the_test_extra_pulls_everything_the_test_suite_imports() -> None:
    required = _requirements()
    # the test extra includes the postgres extra (spm-rules[postgres]), as pip resolves it
    pulled = {dist for dist, extras in required.items() if extras & {"", "test", "postgres"}}
    assert "postgres" in {extra for extras in required.values() for extra in extras}
    assert any(line.startswith(f"{DIST}[postgres]") and "test" in line for line in importlib.metadata.requires(DIST) or [])
    missing = {dist: where for dist, where in _imported_distributions(ROOT / "tests").items() if dist not in pulled}
    assert missing == {}


def test_the_postgres_driver_is_an_extra_not_a_core_dependency() -> None:
    assert _requirements()["psycopg"] == {"postgres"}


def test_the_version_comes_from_the_installed_distribution_with_a_fallback() -> None:
    assert spm_rules.__version__ == importlib.metadata.version(DIST)
    code = (
        "import importlib.metadata as m\n"
        "def missing(name): raise m.PackageNotFoundError(name)\n"
        "m.version = missing\n"
        "import spm_rules\n"
        "print(spm_rules.__version__)\n"
    )
    assert python("-c", code).stdout.strip() == "0+unknown"


def test_version_option_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"spm-rules, version {spm_rules.__version__}\n"


def test_the_license_file_is_the_apache_2_0_text_the_metadata_names() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    for passage in ("Apache License", "Version 2.0, January 2004", "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION", "9. Accepting Warranty or Additional Liability.", "END OF TERMS AND CONDITIONS"):
        assert passage in text
    metadata = importlib.metadata.metadata(DIST)
    assert metadata["License-Expression"] == "Apache-2.0"
    assert "LICENSE" in (metadata.get_all("License-File") or [])


def test_type_information_ships_with_the_package() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    assert (ROOT / "spm_rules" / "py.typed").is_file()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["spm_rules"]


def test_the_project_says_where_it_lives_and_what_it_is() -> None:
    metadata = importlib.metadata.metadata(DIST)
    urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL") or [])
    assert {"Documentation", "Source", "Issues"} <= set(urls)
    classifiers = metadata.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers and "Programming Language :: Python :: 3.13" in classifiers


BLOCK_PSYCOPG = "import sys\nsys.modules['psycopg'] = None  # as if the postgres extra were not installed\n"


def test_a_postgres_url_without_the_driver_names_the_extra() -> None:
    code = BLOCK_PSYCOPG + (
        "from spm_rules import Store, StateError\n"
        "try:\n"
        "    Store('postgresql://spm:hunter2@127.0.0.1:5432/state')\n"
        "except StateError as exc:\n"
        "    print(exc)\n"
    )
    said = python("-c", code).stdout
    assert "install spm-rules[postgres]" in said
    assert said.startswith("state URL 'postgresql://spm:***@127.0.0.1:5432/state': ") and "hunter2" not in said


def test_the_cli_says_which_extra_to_install_without_a_traceback(tmp_path: Path) -> None:
    code = BLOCK_PSYCOPG + "from spm_rules.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    args = ["history", "EC-1001", "--state", "postgresql://spm:hunter2@127.0.0.1:5432/state"]
    result = python("-c", code, *args, cwd=tmp_path, check=False)
    assert result.returncode == EXIT_INVALID
    assert result.stderr.startswith("error: state URL 'postgresql://spm:***@127.0.0.1:5432/state': ")
    assert "pip install 'spm-rules[postgres]'" in result.stderr
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr
