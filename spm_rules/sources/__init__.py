"""Where tickets come from: files (:mod:`.files`), databases (:mod:`.sql`), both through
the ruleset's field mapping (:mod:`.mapping`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..ruleset.schema import Ruleset
    from .files import TicketReader

__all__ = ["ticket_reader", "is_database_url"]

_SCHEMES = ("sqlite:", "postgresql:", "postgresql+", "postgres:", "mysql:", "mysql+", "mariadb:", "mariadb+", "oracle:", "oracle+", "mssql:", "mssql+")


def is_database_url(location: str) -> bool:
    """Whether ``--tickets`` names a database (``postgresql://…``, ``sqlite:///…``) rather than a file."""
    return location.lower().startswith(_SCHEMES) and "://" in location


def ticket_reader(location: str, ruleset: "Ruleset", *, encoding: str = "utf-8", query: str | None = None, since: datetime | None = None) -> "TicketReader":
    """The reader of ``--tickets``: a database URL (with the ruleset's ``source:`` or
    ``query``; ``since`` binds ``:since``), else a file or ``-``.  ValueError for a query
    given to a file."""
    if is_database_url(location):
        from .sql import SqlTicketReader

        return SqlTicketReader(location, ruleset=ruleset, query=query, since=since)
    if query is not None:
        raise ValueError("--query reads a database: give --tickets a database URL (postgresql://… or sqlite:///…)")
    from .files import TicketReader

    return TicketReader(location, encoding=encoding, ruleset=ruleset)
