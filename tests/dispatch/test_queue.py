"""The queue of tickets waiting for a provider: drained in dispatch order (creation time,
then id) whatever the order they were added in, each with its row digest; a ticket added
again counts by its last row, and one discarded leaves the queue."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from spm_rules.dispatch.decide import dispatch_order
from spm_rules.dispatch.queue import DispatchQueue

from .test_decide import DAY, ticket

#: Ids that sort as text sorts them: prefixes of one another, digits, accents, another script.
IDS = ["A", "AB", "A0", "B", "a", "é", "éa", "漢", "Z-10", "Z-9", "0"]


@given(
    st.lists(st.tuples(st.sampled_from(IDS), st.integers(-3, 3), st.one_of(st.none(), st.text("0123456789abcdef", min_size=32, max_size=32))), max_size=30),
    st.sets(st.sampled_from(IDS), max_size=3),
)
def test_the_queue_drains_in_dispatch_order_the_last_row_of_each_ticket(
    added: list[tuple[str, int, str | None]], discarded: set[str]
) -> None:
    queue = DispatchQueue()
    expected = {}
    for ticket_id, minutes, digest in added:
        item = ticket(ticket_id, at=DAY + timedelta(minutes=minutes), note=f"{ticket_id} at {minutes}")
        queue.add(item, digest)
        expected[ticket_id] = (item, digest)
    for ticket_id in discarded:
        queue.discard(ticket_id)
        expected.pop(ticket_id, None)
    drained = list(queue.drain())
    queue.close()
    assert [(item, digest) for item, digest in drained] == sorted(expected.values(), key=lambda pair: dispatch_order(pair[0]))
