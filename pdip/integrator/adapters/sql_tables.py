"""The columns of a table a SQL target creates: from the source's types when it knows them,
otherwise from the first batch's values.

A SQL source hands its columns' SQLAlchemy types (as reflected) with every batch
(`ColumnTypes`). A target of the same database kind creates its table with exactly those types,
which is also what lets PostgreSQL's binary COPY pass through; another kind gets their generic
form (`TypeEngine.as_generic()`: PostgreSQL's DOUBLE PRECISION becomes a double on MariaDB),
without collations, which every database names its own way. A type with no generic form this
database can create (an array on SQLite), or a source that knows no types, leaves the choice to
the first non-null value of the column.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import NamedTuple

import sqlalchemy as sa

from pdip.integrator.batch import Batch

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


class ColumnTypes(NamedTuple):
    """A SQL source's column types (SQLAlchemy types, as reflected) and the dialect they are of:
    a target of the same dialect creates its table with exactly these, another with their
    generic form."""

    dialect: str
    types: tuple[sa.types.TypeEngine, ...]


def columns_for(batch: Batch, declared: ColumnTypes | None, engine: sa.Engine) -> list[sa.Column]:
    """The columns of a new table for `batch` in `engine`'s database."""
    columns = []
    for index, name in enumerate(batch.columns):
        kind = _declared_type(declared, index, engine) if declared is not None else None
        columns.append(sa.Column(name, kind if kind is not None else _inferred_type(batch, index)))
    return columns


def _declared_type(declared: ColumnTypes, index: int, engine: sa.Engine) -> sa.types.TypeEngine | None:
    """The source's type: as it is in the same dialect, its generic form in another (None when
    it has none this database can create, and the values decide)."""
    kind = declared.types[index]
    if declared.dialect == engine.dialect.name:
        return kind
    try:
        generic = kind.as_generic()
    except NotImplementedError:
        return None
    if isinstance(generic, sa.Float):  # PostgreSQL's DOUBLE PRECISION comes back as Float(53)
        generic = sa.Double() if generic.precision is None or generic.precision > 24 else sa.Float()
    if getattr(generic, "collation", None):  # a collation is named differently in every database
        generic.collation = None
    try:
        generic.compile(dialect=engine.dialect)
    except sa.exc.SQLAlchemyError:
        return None
    return generic


def _inferred_type(batch: Batch, index: int) -> sa.types.TypeEngine:
    rows = batch.rows
    sample = next((row[index] for row in rows if row[index] is not None), None)
    kind = next((sql_type for python_type, sql_type in _TYPES if isinstance(sample, python_type)), None)
    if kind is None:
        longest = max((len(str(row[index])) for row in rows if row[index] is not None), default=0)
        kind = sa.String(255) if longest <= 255 else sa.Text()
    return kind
