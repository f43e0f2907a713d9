"""A ticket system posting its changes to ``spm-rules serve`` (event mode).

Call :func:`post_ticket` from the help desk's "ticket changed" hook (or run this file with a
ticket number): it sends the ticket in the help desk's own shape (its column names and
codes; the ruleset's ``mapping:`` translates them on the server) with its stage and status
histories, and gets back the decisions spm-rules took::

    SPM_RULES_TOKEN=… python examples/integration/events/post_event.py sqlite:///helpdesk.db 100042

Only the standard library and the help desk's own database access are needed here.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from typing import Any

from sqlalchemy import create_engine, text

DEFAULT_URL = "http://127.0.0.1:8787/events"


def ticket_document(db_url: str, ticket_no: int) -> dict[str, Any]:
    """The help desk's row of one ticket with its histories from ``ticket_events``."""
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1) if db_url.startswith("postgresql://") else db_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT ticket_no, subject, priority_code, site_city, product_line, customer_name, state, opened_at FROM tickets WHERE ticket_no = :no"),
                {"no": ticket_no},
            ).mappings().one()
            events = conn.execute(text("SELECT field, new_value, changed_at FROM ticket_events WHERE ticket_no = :no ORDER BY changed_at, id"), {"no": ticket_no}).all()
    finally:
        engine.dispose()
    document = {key: str(value) if key == "opened_at" else value for key, value in row.items()}
    document["stage_history"] = [{"stage": value, "entered_at": str(at)} for field, value, at in events if field == "stage"]
    document["status_history"] = [{"status": value, "at": str(at)} for field, value, at in events if field == "status"]
    return document


def post_ticket(document: dict[str, Any], url: str = DEFAULT_URL, token: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """Post one ticket to spm-rules serve; return its answer (results with decisions, rejected rows)."""
    request = urllib.request.Request(url, data=json.dumps(document).encode("utf-8"), method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {token or os.environ['SPM_RULES_TOKEN']}")
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.loads(answer.read())


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: post_event.py HELPDESK_DB_URL TICKET_NO [SERVE_URL]", file=sys.stderr)
        return 2
    answer = post_ticket(ticket_document(argv[0], int(argv[1])), argv[2] if len(argv) == 3 else DEFAULT_URL)
    for result in answer["results"]:
        levels = ", ".join(f"{status['policy']} {status['level'] or 'ok'}" for status in result["sla"]) or "not measured"
        print(f"{result['ticket']}: {levels}; " + ("; ".join(f"{d['rule']}: {d['action']}" for d in result["decisions"]) or "no decision"))
    for problem in answer["rejected"]:
        print(f"rejected: row {problem['row']}: {problem['field']}: {problem['message']}", file=sys.stderr)
    return 0 if answer["results"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
