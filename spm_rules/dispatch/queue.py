"""The tickets waiting for a provider until every other ticket of an evaluation is in:
dispatch takes them oldest first (:func:`~spm_rules.dispatch.decide.dispatch_order`),
whatever the order of the feed.  They wait in a temporary file, not in memory: a first
run over a million tickets may hold hundreds of thousands of them."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from typing import IO, Iterator

from ..tickets import Ticket
from .decide import dispatch_order

__all__ = ["DispatchQueue"]


class DispatchQueue:
    """The tickets a run dispatches after all the others, in :func:`dispatch_order`, each
    with its row digest.  They wait in a temporary file, not in memory: a first run may
    hold hundreds of thousands of tickets without a provider.  Of a ticket added twice,
    the last row counts; one evaluated in full after it was added leaves the queue."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._index: dict[str, tuple[tuple[datetime, str], int, int, str | None]] = {}
        self.draining = False

    def add(self, ticket: Ticket, digest: str | None) -> None:
        """Queue ``ticket`` (its row digest ``digest``, None when it keeps none)."""
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="spm-rules-dispatch-")
        data = ticket.model_dump_json().encode("utf-8")
        offset = self._file.seek(0, os.SEEK_END)
        self._file.write(data)
        self._index.pop(ticket.id, None)
        self._index[ticket.id] = (dispatch_order(ticket), offset, len(data), digest)

    def discard(self, ticket_id: str) -> None:
        """Take ``ticket_id`` out of the queue (a later row of it was evaluated in full)."""
        if not self.draining:
            self._index.pop(ticket_id, None)

    def drain(self) -> Iterator[tuple[Ticket, str | None]]:
        """The queued tickets in dispatch order, with their digests."""
        self.draining = True
        assert self._file is not None or not self._index
        for _order, offset, size, digest in sorted(self._index.values(), key=lambda entry: entry[0]):
            self._file.seek(offset)  # type: ignore[union-attr]
            yield Ticket.model_validate_json(self._file.read(size)), digest  # type: ignore[union-attr]

    def close(self) -> None:
        """Remove the temporary file."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._index.clear()
