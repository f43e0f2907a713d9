"""Bounded batches of a stream: how every stage keeps memory flat on a million tickets."""

from __future__ import annotations

from itertools import islice
from typing import Iterable, Iterator, TypeVar

__all__ = ["batched"]

T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most ``size`` items, reading ``items`` only as each batch is asked for.

    (``itertools.batched`` arrived in Python 3.12; this project supports 3.10.)
    """
    if size < 1:
        raise ValueError("a batch holds at least one item")
    source = iter(items)
    while batch := list(islice(source, size)):
        yield batch
