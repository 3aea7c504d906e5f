"""Read and validate a CSV file in a child process while this one writes what it has read.

The read-ahead thread (read_ahead.py) takes the reading off the writer's path, but not off its
interpreter: reading and validating a profile (≈ 25 µs) and formatting it for COPY share one lock,
so the writer waits for the reader and the database waits for both. A child process reads and
validates on the other core and hands back ready chunks (unpickling a row costs the writer ≈ 3 µs).

The child is forked, not spawned: it starts with the reader, the schemas and the open stream it
needs (a spawned interpreter spends over a second importing the app). Forking copies only the
calling thread, and a lock another thread held at that moment stays held in the child; so only a
caller that owns its process asks for a child (the ``import`` command), and the web app, whose
threads serve requests meanwhile, reads on a thread.

The interface is ReadAhead's: chunks in file order, a reading error raised at the chunk where it
happened, and leaving the ``with`` block early ends the child.
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Iterator
from itertools import islice
from multiprocessing.connection import Connection
from typing import Any

from crm_segments.records.csv_rows import CsvRow
from crm_segments.records.read_ahead import Check, Chunk, ReadAhead


def read_ahead(rows: Iterator[CsvRow], *, size: int, check: Check,
               in_child: bool = False) -> ReadAhead | ReadInChild:
    """A child process if asked for and this system forks, else a thread."""
    if in_child and "fork" in multiprocessing.get_all_start_methods():
        return ReadInChild(rows, size=size, check=check)
    return ReadAhead(rows, size=size, check=check)


class ReadInChild:
    """Iterate over ``Chunk``s read in a forked child; use as a context manager so the child ends.

    The pipe holds less than a chunk, so the child is at most about one chunk ahead: memory stays flat.
    """

    def __init__(self, rows: Iterator[CsvRow], *, size: int, check: Check) -> None:
        context = multiprocessing.get_context("fork")
        self._receiver, sender = context.Pipe(duplex=False)
        self._process = context.Process(target=_produce, args=(rows, size, check, sender),
                                         name="csv-reader", daemon=True)
        self._process.start()
        sender.close()  # the child's copy is the only writer left: its end shows as EOF here

    def __enter__(self) -> ReadInChild:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Chunk]:
        while True:
            try:
                item = self._receiver.recv()
            except EOFError:
                raise RuntimeError(f"the CSV reading process ended (exit code {self._process.exitcode}) "
                                   "before the end of the file") from None
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    @property
    def exitcode(self) -> int | None:
        """None while the child runs."""
        return self._process.exitcode

    def close(self) -> None:
        if self._process.is_alive():
            self._process.terminate()  # stopped early: the rest of the file is not wanted
        self._process.join()
        self._receiver.close()


def _produce(rows: Iterator[CsvRow], size: int, check: Check, sender: Connection) -> None:
    """The child: each chunk with its usable rows checked, then None, or the error that stopped it."""
    try:
        while chunk := list(islice(rows, size)):
            sender.send(Chunk(chunk, {row.line: check(row) for row in chunk if row.usable}))
        sender.send(None)
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, raised there
        sender.send(_picklable(exc))
    finally:
        sender.close()


def _picklable(exc: BaseException) -> Any:
    try:
        pickle.dumps(exc)
    except Exception:  # noqa: BLE001 - any error that cannot cross the pipe is named instead
        return RuntimeError(f"reading the CSV failed: {exc!r}")
    return exc
