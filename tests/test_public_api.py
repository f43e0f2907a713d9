"""The public API: every name in ``spm_rules.__all__`` imports as what it is documented to
be, in any order of imports, and the pure path stays light."""

from __future__ import annotations

import inspect
import json

import pytest

import spm_rules
from tests.fixtures.processes import python

#: What each public name is: a class, an exception class or a function.
KINDS = {
    "AlertPipeline": "class",
    "CustomerStatus": "class",
    "Decision": "class",
    "DeliveryError": "exception",
    "DeliveryOutcome": "class",
    "Engine": "class",
    "EventOutcome": "class",
    "Indicators": "class",
    "Location": "class",
    "LookupTable": "class",
    "Notification": "class",
    "RunReport": "class",
    "Scorecard": "class",
    "Ruleset": "class",
    "RulesetError": "exception",
    "RulesetProblem": "class",
    "SlaStatus": "class",
    "SpmError": "exception",
    "StageEntry": "class",
    "StateError": "exception",
    "StatusEntry": "class",
    "Store": "class",
    "Ticket": "class",
    "TicketError": "exception",
    "TicketProblem": "class",
    "TicketReader": "class",
    "TicketResult": "class",
    "TierEntry": "class",
    "WorkerSlot": "class",
    "customer_status": "function",
    "evaluate": "function",
    "load_ruleset": "function",
    "lookup": "function",
    "next_day_indicators": "function",
    "parse_ruleset": "function",
    "process_event": "function",
    "read_tickets": "function",
    "register_hook": "function",
    "register_write_back": "function",
    "run": "function",
    "scorecard": "function",
    "sweep": "function",
    "unregister_hook": "function",
}

# Run in a child process: for each public name, a forked child imports it on its own (so
# no name's import can hide another's), first into a fresh interpreter, then into one that
# has imported every submodule of the package; prints {scenario: {name: "kind name | attribute: kind name"}}.
PROBE = """
import importlib, inspect, json, os, pkgutil, sys, types

def kind(value):
    if isinstance(value, types.ModuleType):
        return "module " + value.__name__
    if inspect.isclass(value):
        return ("exception " if issubclass(value, BaseException) else "class ") + value.__name__
    if inspect.isfunction(value):
        return "function " + value.__name__
    return type(value).__name__

def import_everything():
    import spm_rules
    for info in pkgutil.walk_packages(spm_rules.__path__, "spm_rules."):
        if info.name != "spm_rules.__main__":
            importlib.import_module(info.name)

def probe(name):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            namespace = {}
            exec(f"from spm_rules import {name}", namespace)
            import spm_rules
            shown = kind(namespace[name]) + " | attribute: " + kind(getattr(spm_rules, name))
        except BaseException as exc:
            shown = f"error {type(exc).__name__}: {exc}"
        os.write(write, shown.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        shown = pipe.read()
    os.waitpid(pid, 0)
    return shown

names = json.loads(sys.argv[1])
seen = {"fresh": {name: probe(name) for name in names}}
import_everything()
seen["after every submodule"] = {name: probe(name) for name in names}
print(json.dumps(seen))
"""


def _expected(name: str) -> str:
    shown = f"{KINDS[name]} {name}"
    return f"{shown} | attribute: {shown}"


def test_every_public_name_is_classified() -> None:
    assert sorted(spm_rules.__all__) == sorted(KINDS)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="the probe forks one child per name")
def test_every_public_name_imports_as_documented_in_any_import_order() -> None:
    names = sorted(KINDS)
    seen = json.loads(python("-c", PROBE, json.dumps(names)).stdout)
    wrong = {f"{scenario}: {name}": shown for scenario, found in seen.items() for name, shown in found.items() if shown != _expected(name)}
    assert wrong == {}
    assert sorted(seen) == ["after every submodule", "fresh"] and all(sorted(found) == names for found in seen.values())


@pytest.mark.parametrize(
    "statement",
    [
        "import spm_rules.run",
        "from spm_rules.run import RunReport",
        "import importlib; importlib.import_module('spm_rules.run')",
        "from spm_rules import RunReport",
        "import spm_rules.cli.runs",
    ],
)
def test_spm_rules_run_stays_the_function_whatever_imported_the_module(statement: str) -> None:
    code = (
        f"{statement}\n"
        "import inspect, sys, spm_rules\n"
        "from spm_rules import run\n"
        "module = sys.modules['spm_rules.run']\n"
        "print(inspect.isfunction(spm_rules.run), run is spm_rules.run is module.run, inspect.ismodule(module))\n"
    )
    assert python("-c", code).stdout.split() == ["True", "True", "True"]


def test_dir_lists_the_lazy_names() -> None:
    assert set(spm_rules.__all__) <= set(dir(spm_rules))


def test_public_functions_and_classes_say_what_they_do() -> None:
    undocumented = [name for name in spm_rules.__all__ if not inspect.getdoc(getattr(spm_rules, name))]
    assert undocumented == []


def test_evaluating_imports_neither_sqlalchemy_nor_apprise() -> None:
    code = (
        "import sys, spm_rules\n"
        "from spm_rules import Engine, load_ruleset\n"
        "Engine(load_ruleset('rulesets/enterprise-command-center.yaml'), 'python')\n"
        "print(sorted(m for m in ('sqlalchemy', 'apprise') if m in sys.modules))\n"
    )
    assert python("-c", code).stdout.strip() == "[]"
