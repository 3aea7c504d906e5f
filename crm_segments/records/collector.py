"""Keep Python's cyclic garbage collector out of the way of an import.

An import allocates a few dozen container objects per row (cells, validated values, COPY lines)
that reference counting frees on its own, yet each allocation counts towards the collector's
thresholds: at 50,000 profiles its full collections walked the whole heap eight times, 1.5 s of an
8 s import. While rows are read, checked and written, automatic collection is off; only the young
generations are collected every few chunks, which frees any cycles those chunks made (SQLAlchemy's
statements make a few) so memory stays flat.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic cyclic collection inside; the collector is as it was afterwards (it is one per
    process: a second import at the same time leaves it to the first to turn it back on)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def collect_young() -> None:
    """Free the cycles made since the last call (generations 0 and 1: cheap, the heap is not walked)."""
    gc.collect(1)
