"""MariaDB/MySQL's fast path: `LOAD DATA LOCAL INFILE` of a batch written as tab-separated text.

A multi-row `INSERT` makes the server parse every value as SQL; `LOAD DATA` reads plain text and
is about twice as fast here. PyMySQL sends a local file, so each batch is written to a private
temporary file and loaded from it, in the batch's transaction. It needs `local_infile` on the
connection (the SQL target sets it) and on the server. A server that refuses it is remembered
and the batch, like every later one, goes in as a multi-row `INSERT` (PyMySQL's `executemany`).
A merged batch (`write: merge`) is loaded the same way into a temporary table and applied from
there by one `INSERT ... SELECT ... ON DUPLICATE KEY UPDATE` (`Loader.merge`).

With LOCAL the server turns bad values into warnings instead of errors (it cannot stop the
client mid-file), so a load that warns or loads another number of rows than it was given is
undone and reported as an error: the target then writes the batch row by row and each refused
row is dead-lettered with the database's reason, as with any other store. A batch holding values
that have no plain-text form here (bytes, JSON, intervals) also goes in as an `INSERT`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from pdip.data.bulk import bound_rows, bulk_insert
from pdip.integrator.adapters.sql.dialects import as_sent

_STAGE = "pdip_merge"  # the temporary table a merged batch is loaded into
_REFUSED = {1148, 3948, 4166}  # local infile not allowed: by the server, or by the client
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


class _NoTextForm(Exception):
    """A value this module does not write as LOAD DATA text."""


class Loader:
    """Loads batches into one MariaDB/MySQL table; remembers whether the server allows it."""

    def __init__(self):
        self.allowed = True
        self._folder: str | None = None

    def load(self, connection: sa.Connection, table: sa.Table, columns: Sequence[str], rows: list[tuple]) -> None:
        if self.allowed:
            try:
                data = _text(bound_rows(connection.dialect, table, columns, rows))
            except _NoTextForm:
                data = None
            if data is not None and self._load(connection, table, columns, data, len(rows)):
                return
        bulk_insert(connection, table, columns, rows)

    def merge(
        self, connection: sa.Connection, table: sa.Table, columns: Sequence[str], rows: list[tuple], key: Sequence[str]
    ) -> None:
        """Upsert `rows` (one per key: folded already) into `table` by `key`: loaded as `load`
        loads a batch into a temporary table of the same columns, then put in by one `INSERT ...
        SELECT ... ON DUPLICATE KEY UPDATE` from it, so the server parses no SQL per row. A table
        a failed batch left (its rows rolled back with it) is dropped first. The statements go
        through SQLAlchemy, whose MySQL quoting doubles a `%` in a name for the driver."""
        quote = connection.dialect.identifier_preparer.quote
        target = ".".join(quote(part) for part in (table.schema, table.name) if part)
        names = ", ".join(quote(name) for name in columns)
        updated = [name for name in columns if name not in key] or [key[0]]
        sets = ", ".join(f"{quote(name)} = s.{quote(name)}" for name in updated)
        connection.exec_driver_sql(f"DROP TEMPORARY TABLE IF EXISTS {_STAGE}")
        connection.exec_driver_sql(f"CREATE TEMPORARY TABLE {_STAGE} SELECT {names} FROM {target} LIMIT 0")
        stage = sa.Table(_STAGE, sa.MetaData(), *(sa.Column(name, table.c[name].type) for name in columns))
        self.load(connection, stage, columns, rows)
        connection.exec_driver_sql(
            f"INSERT INTO {target} ({names}) SELECT {names} FROM {_STAGE} AS s ON DUPLICATE KEY UPDATE {sets}",
        )
        connection.exec_driver_sql(f"DROP TEMPORARY TABLE {_STAGE}")

    def _load(
        self, connection: sa.Connection, table: sa.Table, columns: Sequence[str], data: bytes, count: int
    ) -> bool:
        """True when the rows are in; False when the server refuses LOAD DATA LOCAL."""
        import pymysql

        if self._folder is None:
            self._folder = tempfile.mkdtemp(prefix="pdip-load-data-")
        path = os.path.join(self._folder, "batch.tsv")
        with open(path, "wb") as stream:
            stream.write(data)
        driver = connection.connection.driver_connection
        quote = connection.dialect.identifier_preparer.quote
        target = as_sent(connection.dialect, ".".join(quote(part) for part in (table.schema, table.name) if part))
        names = as_sent(connection.dialect, ", ".join(quote(name) for name in columns))
        statement = (
            f"LOAD DATA LOCAL INFILE {driver.escape(path)} INTO TABLE {target} CHARACTER SET utf8mb4 "
            f"FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({names})"
        )
        cursor = driver.cursor()
        try:
            loaded = cursor.execute(statement)
            cursor.execute("SELECT @@warning_count")
            warnings = cursor.fetchone()[0]
        except (pymysql.err.OperationalError, pymysql.err.ProgrammingError) as error:
            if error.args and error.args[0] in _REFUSED:
                self.allowed = False
                return False
            raise
        finally:
            cursor.close()
        if warnings or loaded != count:  # an error for the target, which then goes row by row
            raise pymysql.err.DataError(
                0, f"LOAD DATA into {table.name} loaded {loaded} of {count} rows with {warnings} warnings"
            )
        return True

    def close(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


def _text(rows: Sequence[tuple]) -> bytes:
    """Rows as LOAD DATA's tab-separated text: `\\N` is NULL, backslash escapes the rest. Each
    column is encoded as a whole, by one function for its type, so most of the work runs in C."""
    columns = [_column(values) for values in zip(*rows, strict=True)]
    return ("\n".join(map("\t".join, zip(*columns, strict=True))) + "\n").encode("utf-8")


def _column(values: tuple) -> list[str]:
    kinds = set(map(type, values))
    nulls = type(None) in kinds
    kinds.discard(type(None))
    if not kinds:
        return ["\\N"] * len(values)
    kind = kinds.pop()
    if kinds or kind not in _ENCODERS:  # mixed types: value by value
        return [_field(value) for value in values]
    if kind is str and not _needs_escapes("".join(filter(None, values))):
        encode = str  # nothing to escape: the text as it is
    elif kind is dt.datetime and any(value is not None and value.tzinfo is not None for value in values):
        encode = _field
    else:
        encode = _ENCODERS[kind]
    if not nulls:
        return list(map(encode, values))
    return ["\\N" if value is None else encode(value) for value in values]


def _needs_escapes(text: str) -> bool:
    return any(special in text for special in _SPECIAL)


def _field(value: Any) -> str:
    kind = type(value)
    if value is None:
        return "\\N"
    if kind is dt.datetime:  # as PyMySQL writes them: the wall-clock time, without an offset
        return value.replace(tzinfo=None).isoformat(" ")
    encode = _ENCODERS.get(kind)
    if encode is None:
        raise _NoTextForm(kind.__name__)
    return encode(value)


_SPECIAL = ("\\", "\t", "\n", "\r", "\0")
_ENCODERS: dict[type, Callable[[Any], str]] = {
    str: lambda value: value.translate(_ESCAPES),
    int: str,
    float: repr,
    decimal.Decimal: str,
    bool: {True: "1", False: "0"}.__getitem__,
    dt.datetime: lambda value: value.isoformat(" "),
    dt.date: dt.date.isoformat,
    dt.time: dt.time.isoformat,
}
