"""A custom receiver: each escalation opens a follow-up task in the ticket system.

spm-rules calls a Python hook like any receiver (``hook: open-follow-up`` in the ruleset):
it gets the rendered message and the notifications it stands for, and succeeds unless it
returns False or raises (then spm-rules retries it with backoff, as for any receiver).
The task's key is the notification's idempotency key, so a retry after a crash never
opens a second task for the same escalation.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Table, insert, select

from spm_rules.alerting import AlertMessage

#: The help desk writes local times without an offset (as the ruleset's mapping says).
LOCAL = ZoneInfo("Asia/Shanghai")


class FollowUpReceiver:
    """Opens one task per (ticket, escalation notification) in the ``follow_up_tasks`` table."""

    def __init__(self, engine: Engine, tasks: Table, assignee: str = "duty-manager") -> None:
        self.engine = engine
        self.tasks = tasks
        self.assignee = assignee

    def __call__(self, message: AlertMessage) -> bool:
        with self.engine.begin() as conn:
            done = set(conn.execute(select(self.tasks.c.notification_key).where(self.tasks.c.notification_key.in_([n.key for n in message.notifications]))).scalars())
            rows = [
                {
                    "notification_key": note.key,
                    "ticket_no": int(note.ticket_id or 0),
                    "assignee": self.assignee,
                    "title": f"Follow up {note.ticket_id}: {note.labels.get('level', '')} ({message.title})"[:200],
                    "created_at": (note.created_at or message.created_at).astimezone(LOCAL).replace(tzinfo=None),
                }
                for note in message.notifications
                if note.ticket_id is not None and note.key not in done
            ]
            if rows:
                conn.execute(insert(self.tasks), rows)
        return True


def opened_since(engine: Engine, tasks: Table, since: datetime) -> list[tuple[int, str]]:
    """(ticket, title) of the tasks opened since ``since`` (naive local time), for the job's summary."""
    with engine.connect() as conn:
        return [(row.ticket_no, row.title) for row in conn.execute(select(tasks).where(tasks.c.created_at >= since).order_by(tasks.c.ticket_no))]
