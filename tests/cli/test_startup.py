"""The command starts light: ``--help``, ``--version`` and ``validate`` import none of the
heavy dependencies they do not use (the time this saves is measured by
``benchmarks/bench_startup.py``; here only what is loaded, which cannot flake)."""

from __future__ import annotations

import json

import pytest

import spm_rules
from tests.fixtures.processes import ROOT, python

SHIPPED = sorted(str(path) for path in (ROOT / "rulesets").glob("*.yaml"))

#: Needed only by commands that touch state, evaluate or deliver (durable_rules' modules are
#: ``durable`` and its C extension ``durable_rules_engine``).
NEVER_AT_START = ("sqlalchemy", "psycopg", "apprise", "durable", "durable_rules_engine")
#: Needed to read a ruleset, not to print help.
RULESET_READING = ("pydantic", "yaml", "jinja2", "croniter")
#: Terminal tables: validate prints plain lines.
TERMINAL = ("rich",)

PROBE = """
import json, sys
from spm_rules.cli import main
code = main(json.loads(sys.argv[1]))
print(json.dumps({"code": code, "loaded": sorted(name for name in json.loads(sys.argv[2]) if name in sys.modules)}))
"""


@pytest.mark.parametrize(
    ("args", "forbidden"),
    [
        (["--help"], NEVER_AT_START + RULESET_READING + TERMINAL),
        (["--version"], NEVER_AT_START + RULESET_READING + TERMINAL),
        (["run", "--help"], NEVER_AT_START + RULESET_READING + TERMINAL),
        (["validate", *SHIPPED], NEVER_AT_START + TERMINAL),
    ],
    ids=["help", "version", "run-help", "validate"],
)
def test_start_up_imports_only_what_the_command_uses(args: list[str], forbidden: tuple[str, ...]) -> None:
    *printed, last = python("-c", PROBE, json.dumps(args), json.dumps(forbidden)).stdout.splitlines()
    result = json.loads(last)
    assert result == {"code": 0, "loaded": []}
    assert printed, "the command printed nothing"
    if args == ["--version"]:
        assert printed == [f"spm-rules, version {spm_rules.__version__}"]
    if args[0] == "validate":
        assert [line.partition(": ok (")[0] for line in printed] == SHIPPED
