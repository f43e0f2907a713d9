"""The help desk's cron job: read its tickets in place, run, write each level back.

Every five minutes (cron, a systemd timer or a Kubernetes CronJob, see ../systemd and
../kubernetes)::

    python examples/integration/helpdesk/job.py --tickets-db postgresql://spm@db/helpdesk \\
        --state postgresql://spm@db/spm_state

1. a stateful run (:func:`spm_rules.run`) over the help desk's open tickets and those
   closed since the last run, read by the ruleset's ``source:`` and ``mapping:``;
2. delivery, with the custom receiver of ``followup.py`` registered as the hook
   ``open-follow-up`` (each escalation opens a follow-up task);
3. write-back: each ticket's response level goes to ``tickets.sla_level`` with one SQL
   UPDATE per changed ticket (run as a batch), so the agents see it in the help desk.

Database URLs come from the options or ``HELPDESK_DB`` / ``SPM_RULES_STATE``; their
passwords are never printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, create_engine, or_, update

sys.path.insert(0, str(Path(__file__).resolve().parent))

from followup import LOCAL, FollowUpReceiver  # noqa: E402
from generate import follow_up_tasks, tickets  # noqa: E402

from spm_rules import AlertPipeline, SpmError, Store, load_ruleset, register_hook, run  # noqa: E402
from spm_rules.run import active_alert_labels  # noqa: E402
from spm_rules.sources.sql import SqlTicketReader  # noqa: E402
from spm_rules.state.store import mask_url  # noqa: E402

RULESET = Path(__file__).resolve().parent / "helpdesk.yaml"
#: The level written back for a ticket measured below every level.
BELOW = "ok"


def driver_url(url: str) -> str:
    """Plain postgresql:// URLs use psycopg 3, as spm-rules' own do."""
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


def write_back(store: Store, tickets_db: Any, now: datetime) -> int:
    """Put each open ticket's response level into ``tickets.sla_level``; return the rows changed."""
    rows = [
        {"b_no": int(state.ticket_id), "b_level": state.levels.get("response") or BELOW, "b_at": now.astimezone(LOCAL).replace(tzinfo=None)}
        for state in store.open_tickets()
    ]
    if not rows:
        return 0
    stmt = (
        update(tickets)
        .where(tickets.c.ticket_no == bindparam("b_no"), or_(tickets.c.sla_level.is_(None), tickets.c.sla_level != bindparam("b_level")))
        .values(sla_level=bindparam("b_level"), sla_level_at=bindparam("b_at"))
    )
    with tickets_db.begin() as conn:
        return conn.execute(stmt, rows).rowcount


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The help desk's spm-rules cron job: run, deliver, write levels back.")
    parser.add_argument("--tickets-db", default=os.environ.get("HELPDESK_DB"), help="the help desk's database URL (env HELPDESK_DB)")
    parser.add_argument("--state", default=os.environ.get("SPM_RULES_STATE", "sqlite:///spm-state.db"), help="the state URL (env SPM_RULES_STATE)")
    parser.add_argument("--at", default=None, help="run at this ISO 8601 instant (simulated time) instead of now")
    args = parser.parse_args(argv)
    if not args.tickets_db:
        parser.error("give --tickets-db or set HELPDESK_DB")
    now = datetime.fromisoformat(args.at) if args.at else datetime.now(timezone.utc)
    ruleset = load_ruleset(RULESET)
    tickets_db = create_engine(driver_url(args.tickets_db))
    register_hook("open-follow-up", FollowUpReceiver(tickets_db, follow_up_tasks))
    try:
        with Store(args.state) as store:
            reader = SqlTicketReader(args.tickets_db, ruleset=ruleset, since=store.last_run_at())
            pipeline = AlertPipeline(ruleset, silences=store.active_silences, active_alerts=active_alert_labels(store))
            report = run(store, ruleset, reader, now, pipeline)
            changed = write_back(store, tickets_db, now)
    except SpmError as exc:  # messages name databases with their passwords masked
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        tickets_db.dispose()
    for problem in reader.problems:
        print(f"rejected: {problem}", file=sys.stderr)
    delivered = ", ".join(f"{count} {result}" for result, count in sorted(report.delivery.items())) or "nothing delivered"
    print(f"{mask_url(args.tickets_db)}: {report.evaluated} tickets evaluated, {len(reader.problems)} rejected; {report.enqueued} notifications ({delivered}); {changed} levels written back")
    return 3 if reader.problems else 0


if __name__ == "__main__":
    sys.exit(main())
