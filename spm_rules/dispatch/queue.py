"""The tickets waiting for a provider until every other ticket of an evaluation is in:
dispatch takes them oldest first (:func:`~spm_rules.dispatch.decide.dispatch_order`),
whatever the order of the feed.  They wait in a temporary file, not in memory: a first
run over a million tickets may hold hundreds of thousands of them."""

from __future__ import annotations

import os
import tempfile
from array import array
from datetime import datetime, timedelta, timezone
from typing import IO, Iterator

from ..tickets import Ticket
from .decide import dispatch_order

__all__ = ["DispatchQueue"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
_BIAS = 1 << 63


class DispatchQueue:
    """The tickets a run dispatches after all the others, in :func:`dispatch_order`, each
    with its row digest.  They wait in a temporary file, not in memory: a first run may
    hold hundreds of thousands of tickets without a provider.  Of a ticket added twice,
    the last row counts; one evaluated in full after it was added leaves the queue.

    In memory each waiting ticket keeps its id and three integers (its creation time in
    microseconds, and where its record lies in the file), and the drain sorts one packed
    key per ticket rather than tuples of objects."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._index: dict[str, int] = {}  # ticket id -> its slot in the arrays below
        self._created = array("q")  # microseconds since the epoch
        self._offset = array("q")
        self._size = array("q")
        self.draining = False

    def add(self, ticket: Ticket, digest: str | None) -> None:
        """Queue ``ticket`` (its row digest ``digest``, None when it keeps none)."""
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="spm-rules-dispatch-")
        record = (digest or "").encode("ascii") + b"\n" + ticket.model_dump_json().encode("utf-8")
        self._offset.append(self._file.seek(0, os.SEEK_END))
        self._file.write(record)
        self._size.append(len(record))
        created, _ = dispatch_order(ticket)
        self._created.append((created - _EPOCH) // _MICROSECOND)
        self._index.pop(ticket.id, None)
        self._index[ticket.id] = len(self._offset) - 1

    def discard(self, ticket_id: str) -> None:
        """Take ``ticket_id`` out of the queue (a later row of it was evaluated in full)."""
        if not self.draining:
            self._index.pop(ticket_id, None)

    def drain(self) -> Iterator[tuple[Ticket, str | None]]:
        """The queued tickets in dispatch order, with their digests."""
        self.draining = True
        assert self._file is not None or not self._index
        # One bytes key per ticket, ordered as dispatch_order: the creation time (biased to
        # sort unsigned), the id (no NUL: tickets refuse it), then the slot to read.
        keys = sorted(
            (self._created[slot] + _BIAS).to_bytes(8, "big") + ticket_id.encode("utf-8", "surrogatepass") + b"\0" + slot.to_bytes(8, "big")
            for ticket_id, slot in self._index.items()
        )
        for key in keys:
            slot = int.from_bytes(key[-8:], "big")
            self._file.seek(self._offset[slot])  # type: ignore[union-attr]
            digest, _, data = self._file.read(self._size[slot]).partition(b"\n")  # type: ignore[union-attr]
            yield Ticket.model_validate_json(data), digest.decode("ascii") or None

    def close(self) -> None:
        """Remove the temporary file."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._index.clear()
