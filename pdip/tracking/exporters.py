"""Exporters: observers that write change-log entries out of the process, in batches.

- `JsonLinesExporter(path)`: one `entry.to_json()` per line, appended; `flush()` fsyncs.
- `SqlExporter(engine_or_url)`: rows in the change-log table (`pdip.tracking.table`), one
  transaction per flushed batch, through SQLAlchemy 2 Core.
- `KafkaExporter` (`pdip.tracking.kafka_exporter`): entries to a topic, with the same client
  settings as the integrator's Kafka adapter.
- `HttpExporter` (`pdip.tracking.http_exporter`): one POST of a JSON array per batch.
- `S3Exporter` (`pdip.tracking.s3_exporter`): one JSON Lines object per batch, through boto3.

An exporter turns each entry into what it writes (a JSON line, a row, a message) as the entry
arrives, so the log shows the values as they were at the change, not as they are at the write.
An entry that cannot be turned (a value no change log can hold, such as an open file) is
refused: logged with its sequence, path and the reason (never its values), counted in
`refused`, and the exporter goes on with the next; it never blocks the entries after it.

An exporter buffers what it made and writes it when `batch_size` entries have arrived since its
last write, when the oldest waiting entry is older than `max_delay` seconds (checked as entries
arrive: there is no timer thread), on `flush()` and on `close()` (`with` closes it too). A write
that fails raises to the caller (the tracker logs and counts it) and keeps the entries for the
next write, which again waits for `batch_size` new entries, so a database that is down is not
asked again at every change. At most `max_pending` entries wait: beyond that the oldest are
dropped and counted in `dropped`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pdip.tracking.entry import ChangeLogEntry

if TYPE_CHECKING:
    import sqlalchemy as sa

# What turning an entry into JSON or a row raises for a value it cannot hold (RecursionError: a
# value that contains itself).
UNWRITABLE = (TypeError, ValueError, OverflowError, RecursionError)


class BatchingExporter:
    """The buffering every exporter shares; subclasses turn an entry into what they write in
    `_prepare` and write a batch of those in `_write`."""

    def __init__(
        self,
        *,
        batch_size: int = 100,
        max_delay: float | None = None,
        max_pending: int = 100_000,
        priority: int = 0,
        logger: Any = None,
    ):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size is a number of entries (1 or more); got {batch_size!r}")
        self.batch_size = batch_size
        self.max_delay = max_delay
        self.priority = priority
        self.dropped = 0
        self.refused = 0
        self.written = 0
        self.closed = False
        self.logger = logger if logger is not None else logging.getLogger("pdip.tracking")
        self._pending: deque[Any] = deque(maxlen=max(max_pending, batch_size))
        self._arrived = 0  # entries since the last write (or attempt)
        self._oldest = 0.0  # when the oldest of those arrived
        self._unsynced = False
        self._lock = threading.RLock()

    def __call__(self, entry: ChangeLogEntry) -> None:
        with self._lock:
            if self.closed:
                raise ValueError(f"{self!r} is closed")
            try:
                prepared = self._prepare(entry)
            except UNWRITABLE as error:
                self._refuse(entry, error)
                return
            if len(self._pending) == self._pending.maxlen:
                self.dropped += 1  # the deque lets the oldest go
            self._pending.append(prepared)
            if not self._arrived:
                self._oldest = time.monotonic()
            self._arrived += 1
            if self._arrived >= self.batch_size or (
                self.max_delay is not None and time.monotonic() - self._oldest >= self.max_delay
            ):
                self.flush()

    def _refuse(self, entry: ChangeLogEntry, error: BaseException) -> None:
        self.refused += 1
        self.logger.warning(
            "%r refused change %s (%s %s): %s: %s; the exporter goes on",
            self,
            entry.sequence,
            entry.action,
            entry.path,
            type(error).__name__,
            error,
        )

    @property
    def pending(self) -> int:
        """How many entries wait to be written."""
        return len(self._pending)

    def flush(self) -> None:
        """Write what waits, then make it durable; on failure the entries wait for the next try."""
        with self._lock:
            self._arrived = 0
            if self._pending:
                batch = list(self._pending)
                self._write(batch)
                self._pending.clear()
                self.written += len(batch)
                self._unsynced = True
            if self._unsynced:
                self._sync()
                self._unsynced = False

    def close(self) -> None:
        """Flush, then release the file or engine; closing twice is harmless."""
        with self._lock:
            if self.closed:
                return
            try:
                self.flush()
            finally:
                self.closed = True
                self._release()

    def __enter__(self) -> BatchingExporter:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _prepare(self, entry: ChangeLogEntry) -> Any:
        """What is written for `entry` (one of `UNWRITABLE` refuses it); the entry itself by default."""
        return entry

    def _write(self, batch: list[Any]) -> None:
        """Write what `_prepare` made for a batch of entries, in order."""
        raise NotImplementedError

    def _sync(self) -> None:
        """Make written data durable (fsync); nothing to do by default."""

    def _release(self) -> None:
        """Release resources after the last flush; nothing to do by default."""


class JsonLinesExporter(BatchingExporter):
    """Appends one JSON line per entry to `path` (created with its folder if missing).

    `flush()` (and so every full batch) ends with `os.fsync` unless `fsync=False`; the file is
    opened at the first write and kept open until `close()`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        batch_size: int = 100,
        max_delay: float | None = None,
        max_pending: int = 100_000,
        fsync: bool = True,
        priority: int = 0,
        logger: Any = None,
    ):
        super().__init__(
            batch_size=batch_size, max_delay=max_delay, max_pending=max_pending, priority=priority, logger=logger
        )
        self.path = Path(path)
        self.fsync = fsync
        self._file: Any = None

    def _prepare(self, entry: ChangeLogEntry) -> str:
        return entry.to_json() + "\n"

    def _write(self, batch: list[str]) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open across batches
        self._file.write("".join(batch))

    def _sync(self) -> None:  # called after a write, so the file is open
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())

    def _release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __repr__(self) -> str:
        return f"JsonLinesExporter({str(self.path)!r}, pending={self.pending})"


def read_json_lines(path: str | os.PathLike[str]) -> Iterator[ChangeLogEntry]:
    """The entries of a JSON Lines change log, in file order (blank lines are skipped)."""
    with open(path, encoding="utf-8") as file:
        for line in file:
            if line.strip():
                yield ChangeLogEntry.from_json(line)


class SqlExporter(BatchingExporter):
    """Inserts entries into a change-log table, one transaction per flushed batch.

    `target` is an SQLAlchemy `Engine` (yours: not disposed on close) or a URL (the exporter's
    own engine, disposed on close). `create_table=True` creates the table (and its indexes) if
    missing. The database numbers rows itself (`sequence` is the table's key across all
    writers), so an entry's own sequence is not stored.
    """

    def __init__(
        self,
        target: sa.Engine | str,
        *,
        table: str | None = None,
        schema: str | None = None,
        create_table: bool = False,
        batch_size: int = 500,
        max_delay: float | None = None,
        max_pending: int = 100_000,
        priority: int = 0,
        logger: Any = None,
    ):
        super().__init__(
            batch_size=batch_size, max_delay=max_delay, max_pending=max_pending, priority=priority, logger=logger
        )
        import sqlalchemy as sa  # only exporters to SQL pay for importing SQLAlchemy

        from pdip.tracking.table import TABLE_NAME, change_log_table, entry_to_row

        self._prepare = entry_to_row  # type: ignore[method-assign] - an entry's row, made as it arrives

        self._owns_engine = isinstance(target, str)
        self.engine: sa.Engine = sa.create_engine(target) if isinstance(target, str) else target
        self.table = change_log_table(sa.MetaData(), table or TABLE_NAME, schema)
        if create_table:
            self.table.metadata.create_all(self.engine, tables=[self.table])

    def _write(self, batch: list[dict[str, Any]]) -> None:
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # the transaction's id before its sequence numbers: how a relay knows when a
                # number below the newest one can no longer be written (pdip.data.outbox)
                connection.exec_driver_sql("SELECT pg_current_xact_id()")
            connection.execute(self.table.insert(), batch)

    def _release(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def __repr__(self) -> str:
        return f"SqlExporter({self.table.fullname!r}, pending={self.pending})"
