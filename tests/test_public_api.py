"""The public API: every name in ``spm_rules.__all__`` resolves, and the pure path stays light."""

import subprocess
import sys
from pathlib import Path

import spm_rules


def test_every_public_name_resolves() -> None:
    missing = [name for name in spm_rules.__all__ if getattr(spm_rules, name, None) is None]
    assert missing == []


def test_evaluating_imports_neither_sqlalchemy_nor_apprise() -> None:
    code = (
        "import sys, spm_rules\n"
        "from spm_rules import Engine, load_ruleset\n"
        "Engine(load_ruleset('rulesets/enterprise-command-center.yaml'), 'python')\n"
        "print(sorted(m for m in ('sqlalchemy', 'apprise') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"
