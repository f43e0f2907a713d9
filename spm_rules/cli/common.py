"""What every subcommand needs: a ruleset loaded with its problems printed, an instant from an option.

The CLI's modules import at the top only what defining the commands needs (click and the
standard library), and the rest inside the commands, so that ``spm-rules --help`` does not
load pydantic, SQLAlchemy, Apprise or durable_rules (``tests/cli/test_startup.py``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from ..errors import RulesetError
from ..state import DEFAULT_STATE_URL

if TYPE_CHECKING:
    from ..ruleset.schema import Ruleset

__all__ = ["load_or_report", "parse_instant", "state_option"]

#: The ``--state`` option every command that reads or writes the state store takes.
state_option = click.option(
    "--state",
    "state_url",
    envvar="SPM_RULES_STATE",
    default=DEFAULT_STATE_URL,
    show_default=True,
    help="State database URL: sqlite:///FILE or postgresql://USER@HOST/DB (env SPM_RULES_STATE).",
)


def load_or_report(path: str) -> Ruleset | None:
    """The ruleset at ``path``, or None after printing each located problem to standard error."""
    from ..ruleset.loader import load_ruleset
    from .render import print_problems

    try:
        return load_ruleset(path)
    except RulesetError as exc:
        print_problems(exc.problems)
        return None


def parse_instant(text: str | None, option: str, zone: str | None = None) -> datetime:
    """The instant an option names (now when absent), in UTC.

    A time without an offset is read in ``zone`` (the ruleset's ticket_timezone) and
    refused when there is none: guessing the server's local zone is how SLA clocks drift.
    """
    if text is None:
        return datetime.now(timezone.utc)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time such as 2026-11-25T14:00:00+08:00", param_hint=option) from None
    if value.tzinfo is None:
        if zone is None:
            raise click.BadParameter("give an offset (…+08:00 or …Z): the ruleset declares no ticket_timezone", param_hint=option)
        value = value.replace(tzinfo=ZoneInfo(zone))
    return value.astimezone(timezone.utc)
