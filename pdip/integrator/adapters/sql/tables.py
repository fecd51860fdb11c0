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

from collections.abc import Callable, Collection, Sequence
from typing import Any

import sqlalchemy as sa

from pdip.integrator.types import ColumnTypes, created_type, sql_types, type_of_values

__all__ = ["ColumnTypes", "columns_for"]


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
        sa.Column(name, created_type(kind if kind is not None else _inferred_type(rows(), index), engine.dialect))
        for index, (name, kind) in enumerate(zip(columns, kinds, strict=True))
        if only is None or name in only
    ]


def _inferred_type(rows: Sequence[tuple], index: int) -> sa.types.TypeEngine:
    return type_of_values([row[index] for row in rows])
