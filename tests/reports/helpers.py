"""Shared material for the report tests: the shipped enterprise ruleset, its example
tickets, and a stateful run of them at the README's quick-start instant."""

from __future__ import annotations

from pathlib import Path

from spm_rules.cli import EXIT_OK, main
from tests.fixtures.processes import ROOT

__all__ = ["ENTERPRISE", "EXAMPLES", "QUICK_START", "run_enterprise"]

ENTERPRISE = ROOT / "rulesets" / "enterprise-command-center.yaml"
EXAMPLES = ROOT / "examples" / "enterprise-tickets.jsonl"
#: The README's quick-start instant.
QUICK_START = "2026-11-25T14:00:00+08:00"


def run_enterprise(state: str, when: str = QUICK_START, tickets: Path = EXAMPLES) -> None:
    """``spm-rules run`` of the enterprise ruleset over ``tickets`` into ``state`` at ``when`` (nothing delivered)."""
    command = ["run", "--ruleset", str(ENTERPRISE), "--tickets", str(tickets), "--state", state, "--at", when, "--no-deliver", "--quiet"]
    assert main(command) == EXIT_OK
