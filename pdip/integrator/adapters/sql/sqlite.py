"""SQLite's fast path: values as SQLite stores them, from one database file to another.

SQLAlchemy turns a SQLite timestamp (text) into a `datetime` when it reads and back into the same
text when it writes; between two SQLite databases both steps are wasted. A source asked for
`sqlite-values` reads the driver's own tuples (integers, floats, text, bytes, None) and pickles
each batch once, in the reader; a SQLite target unpickles it and inserts it with one
`executemany` in one transaction per batch, with no per-value conversion. Decoded (for dead
letters or a target of another kind), a batch holds those stored values: a timestamp stays the
text SQLite keeps.
"""

from __future__ import annotations

import pickle
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
