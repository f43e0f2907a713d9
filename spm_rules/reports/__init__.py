"""Reports read from the state store: they never change state.

This package is imported by the ruleset schema (the ``customer_status:`` and ``board:``
sections' models live beside the code that uses them), so it must stay light: import
submodules explicitly (``from spm_rules.reports.status import customer_status``).
"""

from __future__ import annotations

__all__: list[str] = []
