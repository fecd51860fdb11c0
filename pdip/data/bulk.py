"""Many rows into one table through the database driver itself.

SQLAlchemy's per-row parameter handling costs more than the database's own work on bulk
inserts, so hot paths (the outbox, the integrator's SQL target) go around it: PostgreSQL's
`COPY ... FROM STDIN`, multi-row INSERTs of SQL literals for PyMySQL (`_insert_literals`), or one
DB-API `executemany` of tuples. One row (the outbox entry of an API request's insert) is one INSERT: COPY takes two
round trips and, for one row, more CPU than the INSERT (measured: ~190 against ~125 µs).
Identifiers are still quoted by the dialect, and each column's own bind processor (SQLite's text
form of a datetime, say) still runs, so what is stored is what SQLAlchemy would have stored.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

_POSITIONAL = {"qmark": "?", "format": "%s", "pyformat": "%s", "numeric": ":{}"}
# Characters of one multi-row INSERT: at most 4 bytes each in UTF-8, so 1 MiB on the wire, far
# below any server's max_allowed_packet (PyMySQL's own executemany stops near the same size).
STATEMENT_CHARACTERS = 256 * 1024
_NO_BACKSLASH_ESCAPES = 512  # SERVER_STATUS_NO_BACKSLASH_ESCAPES: the session's sql_mode has it


def bulk_insert(connection: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """Insert `rows` (tuples in the order of `columns`) into `table` in the connection's transaction."""
    dialect = connection.dialect
    marker = _POSITIONAL.get(dialect.paramstyle)
    if marker is None:  # a driver that only takes named parameters: SQLAlchemy's own path
        connection.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    target, names, insert, active = _plan(dialect, table, tuple(columns))
    rows = _processed(rows, active)
    driver = connection.connection.driver_connection
    copies = dialect.name == "postgresql" and type(driver).__module__.startswith("psycopg")  # psycopg 3 has COPY
    if copies and len(rows) > 1:
        with driver.cursor() as cursor, cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    if len(rows) > 1 and type(driver).__module__.startswith("pymysql"):
        _insert_literals(driver, f"INSERT INTO {target} ({names}) VALUES ", rows)
        return
    cursor = driver.cursor()
    try:
        if len(rows) == 1:
            cursor.execute(insert, rows[0])
        else:
            cursor.executemany(insert, rows)
    finally:
        cursor.close()


def bound_rows(dialect: sa.Dialect, table: sa.Table, columns: Sequence[str], rows: Sequence[tuple]) -> Sequence[tuple]:
    """`rows` with each column's bind processor applied: the values the driver should be given."""
    return _processed(rows, _plan(dialect, table, tuple(columns))[3])


@functools.lru_cache(maxsize=256)
def _plan(dialect: sa.Dialect, table: sa.Table, columns: tuple[str, ...]) -> tuple[str, str, str, tuple]:
    """The quoted table and column names of an insert into `table`, its INSERT with the driver's
    positional markers (None for a driver without them), and the bind processors of its columns
    by position. Kept per table and columns: rebuilding them cost a third of the outbox's
    insert of one change-log row, on every API request that writes (issue #19)."""
    quote = dialect.identifier_preparer.quote
    target = ".".join(quote(part) for part in (table.schema, table.name) if part)
    names = ", ".join(quote(name) for name in columns)
    marker = _POSITIONAL.get(dialect.paramstyle, "")
    placeholders = ", ".join(marker.format(index + 1) for index in range(len(columns)))
    insert = f"INSERT INTO {target} ({names}) VALUES ({placeholders})"
    processors = (
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) if name in table.c else None
        for name in columns
    )
    active = tuple((index, process) for index, process in enumerate(processors) if process is not None)
    return target, names, insert, active


def _processed(rows: Sequence[tuple], active: tuple) -> Sequence[tuple]:
    if not active:
        return rows
    processed = []
    for row in rows:
        values = list(row)
        for index, process in active:
            values[index] = process(values[index])
        processed.append(tuple(values))
    return processed


def _insert_literals(driver: Any, prefix: str, rows: Sequence[tuple]) -> None:
    """PyMySQL: `rows` written as SQL literals into multi-row INSERTs of at most
    STATEMENT_CHARACTERS. PyMySQL's `executemany` does the same, but escapes each text through
    a per-character translation table: for the JSON columns of change-log rows that cost several
    times the rest of the insert (measured: ~40 against ~5 µs a row)."""
    literal = _literal(driver)
    cursor = driver.cursor()
    try:
        values: list[str] = []
        size = len(prefix)
        for row in rows:
            written = "(" + ",".join(map(literal, row)) + ")"
            if values and size + len(written) > STATEMENT_CHARACTERS:
                cursor.execute(prefix + ",".join(values))  # no arguments: the text is not %-formatted
                values, size = [], len(prefix)
            values.append(written)
            size += len(written) + 1
        cursor.execute(prefix + ",".join(values))
    finally:
        cursor.close()


def _literal(driver: Any) -> Callable[[Any], str]:
    """The SQL literal of a value for this PyMySQL connection. Text is escaped with `str.replace`
    (a backslash, a quote and NUL, the only characters a quoted literal cannot hold as they are;
    a quote doubled when the session's sql_mode has NO_BACKSLASH_ESCAPES); other values as
    PyMySQL writes them (`escape`, what its own `executemany` calls)."""
    quote_only = driver.server_status & _NO_BACKSLASH_ESCAPES
    moments: dict[dt.datetime, str] = {}

    def literal(value: Any) -> str:
        kind = type(value)
        if kind is str:
            if quote_only:
                return "'" + value.replace("'", "''") + "'"
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\0", "\\0") + "'"
        if value is None:
            return "NULL"
        if kind is int:
            return str(value)
        if kind is dt.datetime:  # the rows of one flush share their timestamp: written once
            known = moments.get(value)
            if known is None:
                known = moments[value] = driver.escape(value)
            return known
        return driver.escape(value)

    return literal
