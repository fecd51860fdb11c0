"""SQLite's fast paths: between two SQLite files the rows never leave the database engine;
otherwise values as SQLite stores them, from one database file to another.

Rowid ranges (`sqlite-rowid-range`): a table of a SQLite file read whole, or in the order of
its rowid (its INTEGER PRIMARY KEY), goes as batches that only say which rows they hold: the
reader walks the rowids (and the key a position needs) and sends, per batch, the range of
rowids and the read's conditions (a key range, a resume point); the SQLite target attaches the
source's file once and copies each range with one `INSERT ... SELECT` in the batch's
transaction, its position with it. A range's rows are read when its batch is written. Whatever
needs the values (a refused row, a merge) reads them from the source's file (`decode_range`).

Stored values (`sqlite-values`): SQLAlchemy turns a SQLite timestamp (text) into a `datetime`
when it reads and back into the same text when it writes; between two SQLite databases both steps
are wasted. A source asked for `sqlite-values` reads the driver's own tuples (integers, floats,
text, bytes, None) and pickles each batch once, in the reader; a SQLite target unpickles it and
inserts it with one `executemany` in one transaction per batch, with no per-value conversion.
Decoded (for dead letters or a target of another kind), a batch holds those stored values: a
timestamp stays the text SQLite keeps.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa

from pdip.integrator.batch import Batch

RAW_FORMAT = "sqlite-values"


def read_values(
    connection: sa.Connection,
    statement: sa.Select,
    batch_size: int,
    positions: Callable[[list[str]], Callable[[int, tuple], Any]],
) -> Iterator[Batch]:
    """Batches of the rows `statement` selects, as stored; SQLAlchemy binds the parameters but
    the rows come straight from the driver's cursor. `positions(columns)` says how a batch's
    position is made from the rows read so far and its last row."""
    cursor = connection.execute(statement).cursor
    columns = [column[0] for column in cursor.description]
    position = positions(columns)
    count = 0
    while rows := cursor.fetchmany(batch_size):
        count += len(rows)
        payload = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
        yield Batch.raw(columns, RAW_FORMAT, payload, len(rows), position(count, rows[-1]))


def decode_values(batch: Batch) -> list[tuple]:
    return pickle.loads(batch.payload)  # written by read_values, in the reader process of this run


def insert_statement(connection: sa.Connection, target: str, names: list[str]) -> str:
    quote = connection.dialect.identifier_preparer.quote
    return f"INSERT INTO {target} ({', '.join(quote(name) for name in names)}) VALUES ({', '.join('?' * len(names))})"


def write_values(connection: sa.Connection, statement: str, rows: list[tuple]) -> None:
    """Insert stored values as they are, in the connection's open transaction."""
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.executemany(statement, rows)
    finally:
        cursor.close()


# -- between two database files: rowid ranges copied by the database itself ------------------------

RANGE_FORMAT = "sqlite-rowid-range"
ATTACHED = "pdip_source"  # the name a target gives the source's file it copies from


@dataclasses.dataclass(frozen=True)
class RowidRange:
    """The rows of one batch, where they are: a table of a database file, the rows of `where`
    (SQL over the table's own name, or None) whose rowid is from `first` to `last`."""

    database: str
    table: str
    columns: tuple[str, ...]
    where: str | None
    first: int
    last: int

    def select(self, schema: str | None) -> tuple[str, tuple[int, int]]:
        """The SELECT of these rows in rowid order, the table in `schema` (an attached name)."""
        source = f"{schema}.{self.table} AS {self.table}" if schema else self.table
        condition = f" AND ({self.where})" if self.where else ""
        sql = f"SELECT {', '.join(self.columns)} FROM {source} WHERE rowid BETWEEN ? AND ?{condition} ORDER BY rowid"
        return sql, (self.first, self.last)


def rowid_order(connection: sa.Connection, table: sa.Table, order: list[str]) -> bool:
    """Whether reading `table` in rowid order is reading it in `order` (none, or its rowid alias):
    a rowid table with no column named rowid, ordered by nothing or by its INTEGER PRIMARY KEY."""
    if "rowid" in (column.name.lower() for column in table.c):
        return False
    name = connection.dialect.identifier_preparer.quote(table.name)
    info = connection.exec_driver_sql(f"PRAGMA table_info({name})").fetchall()
    keys = [(column[1], str(column[2]).upper()) for column in info if column[5]]
    if order and not (len(order) == 1 and keys == [(order[0], "INTEGER")]):
        return False
    try:
        connection.exec_driver_sql(f"SELECT rowid FROM {name} LIMIT 0")  # a WITHOUT ROWID table has none
    except sa.exc.OperationalError:
        return False
    return True


def read_ranges(
    connection: sa.Connection,
    statement: sa.Select,
    table: sa.Table,
    order: list[sa.ColumnElement],
    batch_size: int,
    positions: Callable[[list[str]], Callable[[int, tuple], Any]],
) -> Iterator[Batch]:
    """Batches that say which rows `statement` selects, not what they hold: the reader walks
    only the rowids (and the `order` columns a position needs), in rowid order; the target copies
    each range with one `INSERT ... SELECT` from the source's file (`copy_range`). A range is
    read when its batch is written: its rows are as the source has them then."""
    quote = connection.dialect.identifier_preparer.quote
    database = os.path.abspath(connection.engine.url.database)
    columns = [column.name for column in statement.selected_columns]
    where = statement.whereclause
    literal = {"literal_binds": True}
    where_sql = None if where is None else str(where.compile(dialect=connection.dialect, compile_kwargs=literal))
    rowid = sa.literal_column(f"{quote(table.name)}.rowid")
    walk = statement.with_only_columns(rowid, *order, maintain_column_froms=True)
    if not order:
        walk = walk.order_by(rowid)
    position = positions([column.name for column in order])
    quoted = tuple(quote(name) for name in columns)
    count = 0
    cursor = connection.execute(walk).cursor
    while rows := cursor.fetchmany(batch_size):
        count += len(rows)
        found = RowidRange(database, quote(table.name), quoted, where_sql, rows[0][0], rows[-1][0])
        payload = pickle.dumps(found, protocol=pickle.HIGHEST_PROTOCOL)
        yield Batch.raw(columns, RANGE_FORMAT, payload, len(rows), position(count, rows[-1][1:]))


def decode_range(batch: Batch) -> list[tuple]:
    """The values of a range's rows as stored, read from the source's file."""
    found: RowidRange = pickle.loads(batch.payload)  # written by read_ranges, in this run
    sql, parameters = found.select(None)
    connection = sqlite3.connect(f"file:{urllib.parse.quote(found.database)}?mode=ro", uri=True, timeout=15)
    try:
        return connection.execute(sql, parameters).fetchall()
    finally:
        connection.close()


def copy_range(connection: sa.Connection, target: str, names: str, batch: Batch, conflict: str = "") -> int:
    """Copy a range's rows into `target` inside the database, in the connection's open
    transaction, and say how many (the source as it is now); the source's file is attached to
    the connection once and stays attached. `conflict`: an `ON CONFLICT` clause (a merge: SQLite
    applies the rows in rowid order, so the last row of a key wins)."""
    found: RowidRange = pickle.loads(batch.payload)
    cursor = connection.connection.driver_connection.cursor()
    try:
        attached = {row[1]: row[2] for row in cursor.execute("PRAGMA database_list")}
        if attached.get(ATTACHED) not in (None, found.database):
            cursor.execute(f"DETACH DATABASE {ATTACHED}")
        if attached.get(ATTACHED) != found.database:
            cursor.execute(f"ATTACH DATABASE ? AS {ATTACHED}", (found.database,))
        sql, parameters = found.select(ATTACHED)
        cursor.execute(f"INSERT INTO {target} ({names}) {sql} {conflict}".rstrip(), parameters)
        return cursor.rowcount
    finally:
        cursor.close()


def holds_stored_values(batch: Batch) -> bool:
    """Whether the batch's values are SQLite's stored values (a target inserts them as they are)."""
    return batch.raw_format in (RAW_FORMAT, RANGE_FORMAT)


def savepoints_nest(connection: sa.Connection) -> None:
    """Begin the connection's transaction in SQLite itself, so that savepoints opened next nest
    in it. Python's sqlite3 (in the mode SQLAlchemy uses) begins one only before a statement
    that changes rows; a SAVEPOINT that comes first begins a transaction of its own, which its
    RELEASE commits whatever the enclosing one does later. Does nothing on other databases."""
    if connection.dialect.name == "sqlite" and not connection.connection.driver_connection.in_transaction:
        connection.exec_driver_sql("BEGIN")
