"""The columns of a table a SQL target creates: from the source's declared types, and only for a
column it knows nothing of, from the first non-null value.

A SQL source hands its columns' SQLAlchemy types (as reflected) with every batch
(`ColumnTypes`). A target of the same database kind creates its table with exactly those types,
which is also what lets PostgreSQL's binary COPY pass through; another kind gets their generic
form (`TypeEngine.as_generic()`: PostgreSQL's DOUBLE PRECISION becomes a double on MariaDB),
without collations, which every database names its own way. A Parquet file's Arrow types and a
CSV file's `types:` go through the same map (`pdip.integrator.types`). A type with no generic
form this database can create (an array on SQLite), or a column the source knows nothing of,
leaves the choice to the first non-null value of the column.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from pdip.integrator.types import ColumnTypes, sql_types

__all__ = ["ColumnTypes", "columns_for"]

# Column types for a table created from data: the first non-null value of each column decides.
_TYPES: list[tuple[type, sa.types.TypeEngine]] = [
    (bool, sa.Boolean()),
    (int, sa.BigInteger()),
    (float, sa.Float()),
    (decimal.Decimal, sa.Numeric(38, 10)),
    (dt.datetime, sa.DateTime(timezone=True)),
    (dt.date, sa.Date()),
    (dt.time, sa.Time()),
    (bytes, sa.LargeBinary()),
]


def columns_for(
    columns: Sequence[str],
    rows: Callable[[], Sequence[tuple]],
    declared: Any,
    engine: sa.Engine,
    only: Collection[str] | None = None,
) -> list[sa.Column]:
    """The columns of a new table in `engine`'s database (`only` those named, when given): the
    source's declared types (see `pdip.integrator.types`), and where it declared none, the
    first non-null value in `rows()` (only then are the rows asked for: a raw batch is not
    decoded for nothing)."""
    kinds = sql_types(declared, columns, engine.dialect)
    return [
        sa.Column(name, _to_the_microsecond(kind if kind is not None else _inferred_type(rows(), index), engine))
        for index, (name, kind) in enumerate(zip(columns, kinds, strict=True))
        if only is None or name in only
    ]


def _to_the_microsecond(kind: sa.types.TypeEngine, engine: sa.Engine) -> sa.types.TypeEngine:
    """MySQL's DATETIME and TIME keep whole seconds unless told otherwise, and would round every
    fraction away: a created column keeps microseconds, as Python's datetimes do."""
    if engine.dialect.name not in ("mysql", "mariadb") or getattr(kind, "fsp", None):
        return kind
    if isinstance(kind, sa.DateTime) and not isinstance(kind, sa.TIMESTAMP):
        return mysql.DATETIME(fsp=6)
    if isinstance(kind, sa.Time):
        return mysql.TIME(fsp=6)
    return kind


def _inferred_type(rows: Sequence[tuple], index: int) -> sa.types.TypeEngine:
    sample = next((row[index] for row in rows if row[index] is not None), None)
    kind = next((sql_type for python_type, sql_type in _TYPES if isinstance(sample, python_type)), None)
    if kind is None:
        longest = max((len(str(row[index])) for row in rows if row[index] is not None), default=0)
        kind = sa.String(255) if longest <= 255 else sa.Text()
    return kind
