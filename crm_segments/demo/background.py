"""Generate demo rows and format them as COPY data in a second process.

Measured on two cores: PostgreSQL spends about as long indexing and checking the rows as Python
spends making and formatting them. In one process the two take turns; with the Python half in a
child process both cores work at once. The parent only streams the finished bytes into COPY, in
its own transaction, so the load stays all-or-nothing.
"""

from __future__ import annotations

import multiprocessing
import queue
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from crm_segments.demo.errors import DemoDataError
from crm_segments.demo.generator import GeneratorSpec
from crm_segments.demo.loader import format_copy_rows

# Batches formatted ahead of the loader; each is a few MB per 10k profiles.
QUEUE_DEPTH = 2


@dataclass(frozen=True, slots=True)
class FormattedBatch:
    profiles: int
    tables: list[tuple[str, int, bytes]]  # (table, rows, COPY text data)


def formatted_batches(spec: GeneratorSpec, *, conninfo: str, batch_size: int) -> Iterator[FormattedBatch]:
    """Yield ``spec``'s batches as COPY data, made in a child process.

    ``conninfo`` lets the child open a connection whose adapters format the values exactly as the
    parent's COPY would; the child writes nothing.
    """
    context = multiprocessing.get_context("spawn")  # never fork a process holding connections
    results: Any = context.Queue(maxsize=QUEUE_DEPTH)
    process = context.Process(target=_produce, args=(spec, conninfo, batch_size, results),
                              name="crm-demo-generator", daemon=True)
    process.start()
    try:
        while True:
            try:
                item = results.get(timeout=1.0)
            except queue.Empty:
                if not process.is_alive():
                    raise DemoDataError(
                        f"the demo data generator process stopped unexpectedly (exit code {process.exitcode})"
                    ) from None
                continue
            if item is None:
                return
            if isinstance(item, str):
                raise DemoDataError(f"generating demo data failed:\n{item}")
            yield item
    finally:
        if process.is_alive():
            process.terminate()
        process.join()
        results.close()


def _produce(spec: GeneratorSpec, conninfo: str, batch_size: int, results: Any) -> None:
    try:
        import psycopg

        with psycopg.connect(conninfo, autocommit=True) as connection, connection.cursor() as cursor:
            for batch in spec.generator().batches(batch_size):
                results.put(FormattedBatch(batch.profiles, [
                    (table, len(rows), format_copy_rows(cursor, table, rows))
                    for table, rows in batch.rows.items()
                ]))
        results.put(None)
    except Exception:
        results.put(traceback.format_exc())
