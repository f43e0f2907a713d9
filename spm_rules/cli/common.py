"""What every subcommand needs: a ruleset loaded with its problems printed, an instant from an
option, the options several commands share, and an engine built with the CLI's words.

The CLI's modules import at the top only what defining the commands needs (click and the
standard library), and the rest inside the commands, so that ``spm-rules --help`` does not
load pydantic, SQLAlchemy, Apprise or durable_rules (``tests/cli/test_startup.py``).
"""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Mapping, TextIO, TypeVar
from zoneinfo import ZoneInfo

import click

from .. import jsontext
from ..errors import RulesetError
from ..state import DEFAULT_STATE_URL

if TYPE_CHECKING:
    from ..engine import Engine
    from ..ruleset.schema import Ruleset
    from ..sources.files import TicketReader

__all__ = ["listen", "load_or_report", "parse_instant", "state_option", "matcher_option", "encoding_option", "build_engine", "JsonStream", "tickets_option", "query_option", "open_tickets"]

#: The ``--state`` option every command that reads or writes the state store takes.
state_option = click.option(
    "--state",
    "state_url",
    envvar="SPM_RULES_STATE",
    default=DEFAULT_STATE_URL,
    show_default=True,
    help="State database URL: sqlite:///FILE or postgresql://USER@HOST/DB (env SPM_RULES_STATE).",
)

#: The ``--matcher`` option of the commands that evaluate rules.
matcher_option = click.option(
    "--matcher",
    type=click.Choice(["auto", "durable", "python"]),
    default="auto",
    show_default=True,
    help="Rule matcher: durable_rules, pure Python, or auto (durable_rules where it imports).",
)


def _codec(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    from ..sources.files import check_encoding

    try:
        check_encoding(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


#: The ``--encoding`` option of the commands that read tickets.
encoding_option = click.option(
    "--encoding",
    default="utf-8",
    show_default=True,
    callback=_codec,
    help="Text encoding of the tickets (gbk for a CSV a Chinese Excel saved); a UTF-8 byte order mark is skipped.",
)


def tickets_option(required: bool = True) -> Callable[[Any], Any]:
    """The ``--tickets`` option of the commands that read tickets from a file or a database."""
    return click.option(
        "--tickets",
        "tickets_path",
        required=required,
        help="Tickets: JSONL, JSON array or CSV file, - for standard input, or a database URL (postgresql://…, sqlite:///…) with the ruleset's source: or --query.",
    )


#: The ``--query`` option that goes with a database ``--tickets``.
query_option = click.option(
    "--query",
    default=None,
    help="The tickets query when --tickets is a database URL (instead of the ruleset's source.query); may use :since.",
)


def open_tickets(location: str, ruleset: "Ruleset", *, encoding: str, query: str | None, since: datetime | None = None) -> "TicketReader":
    """The reader for ``--tickets`` (and ``--query``); a usage error for a query given to a file."""
    from ..sources import ticket_reader

    try:
        return ticket_reader(location, ruleset, encoding=encoding, query=query, since=since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--query") from None


def build_engine(ruleset: Ruleset, matcher: str) -> "Engine":
    """The engine for ``--matcher``; a usage error naming the flag to use when durable_rules
    does not import here (the library's own message speaks of ``engine='python'``)."""
    from ..engine import Engine
    from ..match import durable_available

    if matcher == "durable" and not durable_available():
        raise click.BadParameter(
            f"durable_rules does not import on Python {platform.python_version()}; use --matcher python (or auto)", param_hint="--matcher"
        )
    return Engine(ruleset, matcher)


Server = TypeVar("Server")


def listen(make: Callable[[tuple[str, int]], Server], host: str, port: int) -> Server | None:
    """The server ``make`` opens on ``host:port``, or None once stderr says why it cannot listen."""
    try:
        return make((host, port))
    except OSError as exc:
        click.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        return None


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
    An instant outside the range tickets may have is refused too (it would overflow in
    the clocks and retention after the run committed).
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
    from ..tickets import out_of_range

    problem = out_of_range(value)
    if problem is not None:
        raise click.BadParameter(problem, param_hint=option)
    return value.astimezone(timezone.utc)


class JsonStream:
    """One JSON object written to ``out`` as it is produced, so that ``--format json`` stays one
    document while memory stays flat over a million tickets.

    Fields are written in the order given; one field may be an array whose items are
    written as they come, one compact item per line (``begin_array``, ``item``,
    ``end_array``).  ``close`` ends the object and the line.
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._fields = 0
        self._items = -1
        out.write("{")

    def _key(self, key: str) -> None:
        self.out.write(("," if self._fields else "") + "\n" + json.dumps(key) + ": ")
        self._fields += 1

    def fields(self, values: Mapping[str, Any]) -> None:
        """Write whole fields."""
        for key, value in values.items():
            self._key(key)
            self.out.write(json.dumps(value, ensure_ascii=False))

    def begin_array(self, key: str) -> None:
        """Start the array field ``key``; its items follow with ``item``."""
        self._key(key)
        self.out.write("[")
        self._items = 0

    def item(self, value: Any) -> None:
        """Write one item of the open array."""
        self.out.write(("," if self._items else "") + "\n" + jsontext.compact(value))
        self._items += 1

    def end_array(self) -> None:
        """Close the open array."""
        self.out.write("\n]" if self._items else "]")
        self._items = -1

    def close(self) -> None:
        """End the document."""
        self.out.write("\n}\n")
