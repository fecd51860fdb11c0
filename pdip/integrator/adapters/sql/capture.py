"""What the two log captures share: start-up refusals, and the resumable copy of the tables.

A capture source (`capture_postgres.py`, `capture_mariadb.py`) reads its settings, opens an
engine and refuses what it cannot capture before any reader starts; when a check fails, the
engine it opened is disposed of before the error leaves the constructor. Its first run copies
the captured tables from a consistent snapshot (`copied`): each table's rows in key order as
`insert` entries, each batch's position saying which table and key the copy reached, so that
an interrupted copy goes on after the last key it stored (docs/adr/0030, 0033).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import sqlalchemy as sa

from pdip.integrator.adapters.base import ReadRequest, Source
from pdip.integrator.adapters.sql.rows import engine_for
from pdip.integrator.batch import Batch
from pdip.integrator.changes import entries_batch
from pdip.integrator.errors import OperationError
from pdip.tracking.entry import ChangeLogEntry

LAG_EVERY = 1.0  # seconds between two questions of where the server's log ends (a batch's `lag`)


class CaptureError(OperationError):
    """A capture that cannot start: the message names the setting and how to fix it."""


class CapturedTable:
    """One captured table as the copy reads it: its name (the entries' `entity`), its key
    columns, and how a row read is made what the stream gives (`values`, as it is by default)."""

    def __init__(self, name: str, key: list[str]):
        self.name, self.key = name, key

    def values(self, row: dict[str, Any]) -> dict[str, Any]:
        return row

    def key_of(self, row: dict[str, Any]) -> Any:
        """The entry's key: the one key column's value, or a list of them."""
        if len(self.key) == 1:
            return row.get(self.key[0])
        return [row.get(column) for column in self.key]


class CaptureSource(Source):
    """The base of a log capture: its settings read (`read_settings`), then the engine, then `check` (in the
    calling process too, so a refusal comes before any reader starts)."""

    resumes_between_runs = True  # a stream: every run continues where the last one stopped
    dialect = ""  # the SQLAlchemy dialect the capture reads
    reads = ""  # what the capture reads, in words, for the refusal of another database

    def __init__(self, connection, context):
        super().__init__(connection, context)
        self._log_end: Any = None  # where the server's log ended when last asked (`lagging`), and when
        self._log_asked = float("-inf")
        self.read_settings(connection.settings)
        self.engine = engine_for(connection, context)
        try:
            if self.engine.dialect.name != self.dialect:
                capture = connection.settings.get("capture")
                raise CaptureError(
                    f"{self._label()}: capture: {capture} reads {self.reads}; this is {self.engine.dialect.name}"
                )
            self.check()
        except BaseException:
            self.engine.dispose()
            raise

    def read_settings(self, settings: dict[str, Any]) -> None:
        """Read the connection's settings, refusing a bad one (no server asked yet)."""

    def check(self) -> None:
        """Refuse what cannot be captured, naming the setting and the fix."""

    def _label(self) -> str:
        name = self.connection.name
        return f"{self.connection.kind} connection {name!r}" if name else f"{self.connection.kind} capture source"

    def log_end(self, db: sa.Connection) -> Any:  # pragma: no cover - each gives its own
        """Where the server's log ends now, in the terms `behind` takes."""
        raise NotImplementedError

    def behind(self, end: Any, position: dict) -> int | None:  # pragma: no cover - each gives its own
        """Bytes of log the server had written past `position` when its log ended at `end`."""
        raise NotImplementedError

    def lagging(self, batch: Batch) -> Batch:
        """`batch` with the bytes of log written past it (`Batch.lag`, reported with the batch).
        The log's messages carry their own positions, not where the server's log ends, so that
        is asked, at most once a second: a batch read within that second is measured against
        the end seen then."""
        now = time.monotonic()
        if now - self._log_asked >= LAG_EVERY:
            with self.engine.connect() as db:
                self._log_end = self.log_end(db)
            self._log_asked = now
        batch.lag = self.behind(self._log_end, batch.position)
        return batch

    def captured_table(self, db: sa.Connection, name: str) -> CapturedTable:  # pragma: no cover - each gives its own
        raise NotImplementedError

    def copied(
        self, db: sa.Connection, request: ReadRequest, tables: Iterable[str], copying: dict, position: dict
    ) -> Iterator[Batch]:
        """The rows of `tables` as inserts, in name and key order, read in `db`'s snapshot;
        `copying` says where an interrupted copy stopped (`{"table", "after"}`). Each batch's
        position is `position` and how far the copy reached; the last batch (an empty one when
        there was nothing to copy) has `position` alone: the copy is done."""
        names = sorted(tables)
        if copying.get("table") in names:
            names = names[names.index(copying["table"]) :]
        held = None  # each batch goes out once the next is read: the last one says the copy is done
        for name in names:
            after = copying.get("after") if name == copying.get("table") else None
            for batch in self._copied_table(db, request, self.captured_table(db, name), after, position):
                if held is not None:
                    yield held
                held = batch
        if held is None:  # a copy of nothing still says it is done: the next run must not copy again
            held = entries_batch([])
        held.position = dict(position)
        yield held

    def _copied_table(
        self, db: sa.Connection, request: ReadRequest, table: CapturedTable, after: list | None, position: dict
    ) -> Iterator[Batch]:
        quote = db.dialect.identifier_preparer.quote
        order = ", ".join(quote(column) for column in table.key)
        where = ""
        if after is not None:
            where = f" WHERE ({order}) > ({', '.join(f':k{index}' for index in range(len(table.key)))})"
        statement = sa.text(f"SELECT * FROM {quoted_table(quote, table.name)}{where} ORDER BY {order}")
        parameters = {f"k{index}": value for index, value in enumerate(after or ())}
        result = db.execution_options(stream_results=True, yield_per=request.batch_size).execute(statement, parameters)
        columns = list(result.keys())
        values, key_of = table.values, table.key_of
        for rows in result.partitions(request.batch_size):
            entries = []
            for row in rows:
                after_row = values(dict(zip(columns, row, strict=True)))
                entries.append(ChangeLogEntry("insert", entity=table.name, key=key_of(after_row), after=after_row))
            last = [entries[-1].after[column] for column in table.key]
            yield entries_batch(entries, position={**position, "snapshot": {"table": table.name, "after": last}})


def quoted_table(quote: Callable[[str], str], table: str) -> str:
    """`table` or `schema.table`, each part quoted."""
    return ".".join(quote(part) for part in table.split(".", 1))
