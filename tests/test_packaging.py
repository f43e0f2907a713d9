"""What the distribution declares matches what the code and the tests import, and what a
user of the package gets: the version, the license, type information, the extras."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tarfile
import zipfile
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
#: Modules importing an optional extra's distribution, guarded (the code runs without it):
#: durable_rules needs a compiler, so it is the ``durable`` extra.
OPTIONAL = {"spm_rules/match/durable_adapter.py": "durable-rules"}


def test_every_module_the_package_imports_is_a_declared_dependency() -> None:
    required = _requirements()
    imported = _imported_distributions(ROOT / "spm_rules")
    undeclared = {dist: where for dist, where in imported.items() if "" not in required.get(dist, set()) and dist not in (HOSTED.get(where), OPTIONAL.get(where))}
    assert undeclared == {}


def test_the_test_extra_pulls_everything_the_test_suite_imports() -> None:
    required = _requirements()
    # the test extra includes the postgres and durable extras (spm-rules[durable,postgres]), as pip resolves it
    pulled = {dist for dist, extras in required.items() if extras & {"", "test", "postgres", "durable"}}
    assert "postgres" in {extra for extras in required.values() for extra in extras}
    assert any(line.startswith(f"{DIST}[") and "postgres" in line.partition("]")[0] and "test" in line for line in importlib.metadata.requires(DIST) or [])
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


def test_the_matcher_that_needs_a_compiler_is_an_extra() -> None:
    required = _requirements()
    assert required["durable-rules"] == {"durable"}
    assert any(line.startswith(f"{DIST}[") and "durable" in line.partition("]")[0] and "test" in line for line in importlib.metadata.requires(DIST) or [])


def test_every_package_folder_is_listed_for_setuptools() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    folders = {str(path.parent.relative_to(ROOT)).replace("/", ".") for path in (ROOT / "spm_rules").rglob("__init__.py")}
    assert folders <= listed and listed - folders == {"spm_rules.rulesets", "spm_rules.examples"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel and sdist ``python -m build`` makes of this checkout."""
    out = tmp_path_factory.mktemp("dist")
    python("-m", "build", "--outdir", str(out), str(ROOT))
    return out


def test_the_wheel_and_sdist_ship_the_rulesets_and_examples(built: Path) -> None:
    (wheel,) = built.glob("*.whl")
    (sdist,) = built.glob("*.tar.gz")
    assert wheel.name.endswith("-py3-none-any.whl")  # pure Python: no compiler on any CPython
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in (ROOT / "rulesets").glob("*.yaml"):
        assert f"spm_rules/rulesets/{shipped.name}" in names
    assert {"spm_rules/examples/enterprise-tickets.jsonl", "spm_rules/examples/integration/helpdesk/helpdesk.yaml", "spm_rules/starter/service-desk.yaml"} <= names
    metadata = zipfile.ZipFile(wheel).read(next(name for name in names if name.endswith("/METADATA"))).decode("utf-8")
    assert "Requires-Dist: durable-rules==2.0.28; python_version < \"3.13\" and extra == \"durable\"" in metadata
    assert not any(line.startswith("Requires-Dist: durable-rules") and "extra" not in line for line in metadata.splitlines())
    with tarfile.open(sdist) as archive:
        members = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"rulesets/enterprise-command-center.yaml", "examples/integration/kubernetes/cronjob.yaml", "CHANGELOG.md", "LICENSE"} <= members


def test_the_wheel_installs_in_a_fresh_virtualenv_and_runs_the_readme_main_command(built: Path, tmp_path: Path) -> None:
    (wheel,) = built.glob("*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    bin_dir = venv / ("Scripts" if sys.platform == "win32" else "bin")
    # the dependencies come from the index (or pip's cache); spm-rules from the wheel just built
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)], check=True, timeout=900, capture_output=True)
    where = subprocess.run(
        [str(bin_dir / "python"), "-c", "import importlib.resources as r; print(r.files('spm_rules') / 'rulesets'); print(r.files('spm_rules') / 'examples')"],
        check=True, capture_output=True, text=True, cwd=tmp_path, timeout=120,
    ).stdout.split()
    rulesets, examples = Path(where[0]), Path(where[1])
    assert venv in rulesets.parents  # the installed copy, not this checkout
    command = [str(bin_dir / "spm-rules"), "run", "--ruleset", str(rulesets / "enterprise-command-center.yaml"), "--tickets", str(examples / "enterprise-tickets.jsonl"), "--at", "2026-11-25T14:00:00+08:00"]
    first = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "enterprise-command-center run at 2026-11-25T14:00+08:00" in first.stdout
    # the notifications, as console:// prints them for the person at the terminal
    assert "→ duty-manager · URGENT: 3 notifications · level escalate" in first.stderr
    assert "EC-1001 [escalate] URGENT provider partner-north stage dispatched" in first.stderr
    assert (tmp_path / "spm-state.db").is_file()
    again = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert again.returncode == 0 and "transitions this run: none" in again.stdout and "→ " not in again.stderr
