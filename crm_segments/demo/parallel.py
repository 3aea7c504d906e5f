"""Load COPY batches over several PostgreSQL connections at once.

The database's share of a bulk load (foreign-key checks, index inserts) runs in the backend
process of the connection, one core per connection; on two cores one connection leaves the
database half idle while it waits on itself. Each batch holds whole profiles with all their
records, so every connection's rows refer only to its own rows and to the committed catalog.

The connections commit only after all of them have loaded their share; if any fails, all roll
back. (Between the first and the last commit a crash could leave part of the data, a window of
milliseconds.)
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack

from sqlalchemy.engine import Engine

from crm_segments.demo.background import FormattedBatch
from crm_segments.demo.loader import PostgresCopyWriter


def load_in_parallel(engine: Engine, batches: Iterator[FormattedBatch], *, connections: int,
                     progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """COPY ``batches`` over ``connections`` connections; returns rows written per table."""
    pending: queue.Queue[FormattedBatch | None] = queue.Queue(maxsize=connections)
    failures: list[BaseException] = []
    rows: dict[str, int] = {}
    lock = threading.Lock()
    loaded_profiles = 0

    def load(writer: PostgresCopyWriter) -> None:
        nonlocal loaded_profiles
        while (batch := pending.get()) is not None:
            if failures:
                continue  # keep draining so the producer never blocks
            try:
                for table, count, data in batch.tables:
                    writer.write_formatted(table, data)
                    with lock:
                        rows[table] = rows.get(table, 0) + count
                with lock:
                    loaded_profiles += batch.profiles
                    if progress is not None:
                        progress(loaded_profiles)
            except BaseException as exc:  # re-raised in the calling thread
                failures.append(exc)

    with ExitStack() as stack:
        transactions = []
        threads = []
        for number in range(connections):
            connection = stack.enter_context(engine.connect())
            transactions.append(connection.begin())
            # The loaders never contend for locks; if something else makes one wait, fail rather
            # than wait forever on a transaction that only ends when every loader is done.
            connection.exec_driver_sql("SET LOCAL lock_timeout = '60s'")
            thread = threading.Thread(target=load, args=(PostgresCopyWriter(connection),),
                                      name=f"demo-loader-{number}", daemon=True)
            thread.start()
            threads.append(thread)
        try:
            for batch in batches:
                if failures:
                    break
                pending.put(batch)
        finally:
            for _ in threads:
                pending.put(None)
            for thread in threads:
                thread.join()
        if failures:
            for transaction in transactions:
                transaction.rollback()
            raise failures[0]
        for transaction in transactions:
            transaction.commit()
    return rows
