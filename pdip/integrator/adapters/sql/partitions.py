"""Where a SQL read starts and stops: key ranges for parallel readers, and resumable positions.

A table (or query) with an integer key splits into up to N ranges of equal width between the
key's lowest and highest values; the first range also takes rows below the lowest value seen,
the last one rows above the highest, so rows added meanwhile are not missed. Each range is one
condition on the key alone (`id < 250000`, `id >= 250000 AND id < 500000`), which an index on
the key answers by reading just that range. Rows whose key is NULL, when the key may hold
NULL and some row does, are one more partition (`id IS NULL`), read in no particular order.
A key of another type (text, a date) is not split: the read stays whole.

A read in key order says where each batch ended with the last row's key values and the rows
read so far (`{"key": [42], "rows": 1000}`); resuming after it reads the rows whose key is
greater (a row-value comparison for a compound key). A read in no particular order says only
how many rows it read, and resuming skips that many (`OFFSET`): exact when the table has not
changed in between and the database returns its rows in the same order, which SQLite (rowid),
MariaDB (clustered index) and PostgreSQL (a sequential scan, with `synchronize_seqscans` off
for the reading session) do for an unchanged table. Give the integration a `key` to make a
resume exact whatever changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa


def split(low: int, high: int, count: int) -> list[tuple[int | None, int | None]]:
    """Up to `count` half-open ranges [start, stop) covering every integer (None: unbounded)."""
    count = max(1, min(count, high - low + 1))
    width = -(-(high - low + 1) // count)
    starts = [low + index * width for index in range(count)]
    starts = [start for start in starts if start <= high]
    ranges: list[tuple[int | None, int | None]] = []
    for index, start in enumerate(starts):
        stop = starts[index + 1] if index + 1 < len(starts) else None
        ranges.append((None if index == 0 else start, stop))
    return ranges


def within(column: sa.ColumnElement, bounds: dict[str, Any]) -> sa.ColumnElement:
    """The rows of one range, or of the partition of NULL keys (`{"nulls": True}`)."""
    if bounds.get("nulls"):
        return column.is_(None)
    low, high = bounds.get("low"), bounds.get("high")
    if low is None and high is None:
        return sa.true()
    if low is None:
        return column < high
    if high is None:
        return column >= low
    return sa.and_(column >= low, column < high)


def is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def after(columns: Sequence[sa.ColumnElement], values: Sequence[Any], row_values: bool = True) -> sa.ColumnElement:
    """Rows whose key comes after `values` in key order. The values are bound with the types
    of their own Python values, so a stored form (SQLite's timestamp text) compares as stored.
    A compound key is one row-value comparison, or where the database has none (SQL Server),
    the same order spelt out: `a > 1 OR (a = 1 AND b > 2)`."""
    literals = [sa.literal(value) for value in values]
    if len(columns) == 1:
        return columns[0] > literals[0]
    if row_values:
        return sa.tuple_(*columns) > sa.tuple_(*literals)
    terms = []
    for index, column in enumerate(columns):
        equal = [columns[before] == literals[before] for before in range(index)]
        terms.append(sa.and_(*equal, column > literals[index]))
    return sa.or_(*terms)


def resume_point(resume: Any) -> tuple[list[Any] | None, int]:
    """(key values to continue after or None, rows already read) from a stored position."""
    if resume is None:
        return None, 0
    if isinstance(resume, dict):
        return resume.get("key"), int(resume.get("rows", 0))
    return None, int(resume)


def positions(key_indexes: list[int] | None, rows_before: int) -> Callable[[int, Sequence[Any]], Any]:
    """How a batch's position is made from the rows read by this read and its last row."""
    if key_indexes is None:
        return lambda count, last: rows_before + count
    return lambda count, last: {"key": [last[index] for index in key_indexes], "rows": rows_before + count}
