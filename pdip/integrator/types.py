"""The one type map: a column's declared type as SQL (SQLAlchemy), as Arrow, and as a file's
`types:` name.

A source that knows its columns' types declares them, on every batch (`Batch.types`) and before
reading (`Source.schema`), in one of two forms:
- `ColumnTypes`: SQLAlchemy types and the dialect they are of. A SQL table's types as reflected;
  a CSV or JSON Lines file's `types:` setting as generic types (dialect "").
- a `pyarrow.Schema`: a Parquet file's, or an Arrow table's or DataFrame's in memory.

A target that creates a table or a file asks here for each column's type in its own terms:
`sql_types` for a SQL table, `arrow_fields` for a Parquet file. A column the source knows nothing
of (None; Arrow's `null` type) is left to its values, which is the only case where values decide.
Types are never narrowed on the way: a SQL float of unknown width is a double, an unsigned
integer becomes the next wider signed one, a decimal keeps its digits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    import pyarrow

# A file's `types:` names as SQL types. A decimal's digits are unknown (PostgreSQL's NUMERIC takes
# any; a Parquet file takes the first values' scale); a datetime may carry an offset, so it is
# kept with its time zone (a naive one is taken as UTC, as a table created from values does).
_NAMED: dict[str, sa.types.TypeEngine] = {
    "int": sa.BigInteger(),
    "integer": sa.BigInteger(),
    "float": sa.Double(),
    "decimal": sa.Numeric(),
    "bool": sa.Boolean(),
    "boolean": sa.Boolean(),
    "text": sa.Text(),
    "str": sa.Text(),
    "string": sa.Text(),
    "date": sa.Date(),
    "datetime": sa.DateTime(timezone=True),
    "timestamp": sa.DateTime(timezone=True),
}


class ColumnTypes(NamedTuple):
    """Columns' SQLAlchemy types (None: unknown) and the dialect they are of ("" for generic
    types): a target of the same dialect creates its table with exactly these, another with
    their generic form. `names` are the columns' (empty: the batch's columns, in order)."""

    dialect: str
    types: tuple[sa.types.TypeEngine | None, ...]
    names: tuple[str, ...] = ()


def named_types(columns: Sequence[str], names: dict[str, str], default: str | None) -> ColumnTypes:
    """A file's columns with their `types:` names; the others are `default` (None: unknown)."""
    found = [names.get(column, default) for column in columns]
    return ColumnTypes("", tuple(None if name is None else _NAMED[name.lower()] for name in found), tuple(columns))


def column_names(declared: Any) -> list[str]:
    """The columns a declaration names (none when it names none)."""
    if declared is None:
        return []
    return list(declared.names)


def _by_name(declared: Any, columns: Sequence[str]) -> list[Any]:
    """The declared entry (an Arrow field or a SQLAlchemy type) of each of `columns`, None when
    the declaration does not know the column."""
    if declared is None:
        return [None] * len(columns)
    if isinstance(declared, ColumnTypes):
        names = declared.names or tuple(columns)
        known = dict(zip(names, declared.types, strict=True))
    else:
        known = {field.name: field for field in declared}
    return [known.get(column) for column in columns]


# -- SQL ----------------------------------------------------------------------------------------


def sql_types(declared: Any, columns: Sequence[str], dialect: sa.Dialect) -> list[sa.types.TypeEngine | None]:
    """The type of each of `columns` in a table of `dialect`, None where the values must decide."""
    same = isinstance(declared, ColumnTypes) and declared.dialect == dialect.name
    found = []
    for entry in _by_name(declared, columns):
        if entry is None or same:
            found.append(entry)
        else:
            kind = entry if isinstance(entry, sa.types.TypeEngine) else arrow_to_sql(entry.type)
            found.append(_generic(kind, dialect) if kind is not None else None)
    return found


def _generic(kind: sa.types.TypeEngine, dialect: sa.Dialect) -> sa.types.TypeEngine | None:
    """`kind`'s generic form, if this dialect can create it (an array on SQLite: it cannot)."""
    try:
        generic = kind.as_generic()
    except NotImplementedError:
        return None
    if isinstance(generic, sa.Float):
        # PostgreSQL's DOUBLE PRECISION comes back as Float(53) or Double(53), SQLite's REAL (8
        # bytes) as Float(); a binary precision means nothing to MySQL, which refuses it alone
        eight = isinstance(generic, sa.Double) or generic.precision is None or generic.precision > 24
        generic = sa.Double() if eight else sa.Float()
    unsized = isinstance(generic, sa.Numeric) and not isinstance(generic, sa.Float) and generic.precision is None
    if unsized and dialect.name in ("mysql", "mariadb"):
        generic = sa.Numeric(38, 10)  # MySQL's DECIMAL alone is DECIMAL(10, 0), which rounds every fraction away
    if getattr(generic, "collation", None):  # a collation is named differently in every database
        generic.collation = None
    try:
        generic.compile(dialect=dialect)
    except sa.exc.SQLAlchemyError:
        return None
    return generic


# Arrow's canonical extension types with a SQL type of their own (a UUID; JSON text)
_EXTENSIONS: dict[str, type[sa.types.TypeEngine]] = {"arrow.uuid": sa.Uuid, "arrow.json": sa.JSON}


def arrow_to_sql(kind: pyarrow.DataType) -> sa.types.TypeEngine | None:
    """An Arrow type as a generic SQL type (None for nested types and `null`)."""
    import pyarrow.types as is_

    if is_.is_dictionary(kind):
        kind = kind.value_type
    extension = getattr(kind, "extension_name", None)
    if extension in _EXTENSIONS:
        return _EXTENSIONS[extension]()
    if is_.is_boolean(kind):
        return sa.Boolean()
    if is_.is_integer(kind):
        bits = kind.bit_width + (1 if is_.is_unsigned_integer(kind) else 0)  # an unsigned one needs a sign bit more
        if bits > 64:
            return sa.Numeric(20, 0)
        return sa.SmallInteger() if bits <= 16 else sa.Integer() if bits <= 32 else sa.BigInteger()
    if is_.is_floating(kind):
        return sa.Double() if kind.bit_width == 64 else sa.Float(precision=24)  # a 4-byte float
    if is_.is_decimal(kind):
        return sa.Numeric(kind.precision, kind.scale)
    if is_.is_string(kind) or is_.is_large_string(kind):
        return sa.Text()
    if is_.is_binary(kind) or is_.is_large_binary(kind) or is_.is_fixed_size_binary(kind):
        return sa.LargeBinary()
    if is_.is_timestamp(kind):
        return sa.DateTime(timezone=kind.tz is not None)
    if is_.is_date(kind):
        return sa.Date()
    if is_.is_time(kind):
        return sa.Time()
    if is_.is_duration(kind):
        return sa.Interval()
    return None


# -- Arrow --------------------------------------------------------------------------------------


def arrow_fields(declared: Any, columns: Sequence[str]) -> list[pyarrow.Field | None]:
    """The Arrow field of each of `columns`, None where the values must decide."""
    import pyarrow

    fields = []
    for name, entry in zip(columns, _by_name(declared, columns), strict=True):
        if isinstance(entry, sa.types.TypeEngine):
            kind = sql_to_arrow(entry)
            entry = pyarrow.field(name, kind) if kind is not None else None
        elif entry is not None and pyarrow.types.is_null(entry.type):  # Arrow's "no values seen"
            entry = None
        fields.append(entry)
    return fields


def sql_to_arrow(kind: sa.types.TypeEngine) -> pyarrow.DataType | None:
    """A SQL type as an Arrow type (None where Arrow has no faithful one: JSON, UUID, arrays)."""
    import pyarrow

    if isinstance(kind, sa.Boolean):
        return pyarrow.bool_()
    if isinstance(kind, sa.Integer):
        return _integer(kind)
    if isinstance(kind, sa.Float):  # before Numeric, which it is a kind of
        single = not isinstance(kind, sa.Double) and kind.precision is not None and kind.precision <= 24
        return pyarrow.float32() if single else pyarrow.float64()
    if isinstance(kind, sa.Numeric):
        if kind.precision is None:
            return None  # PostgreSQL's NUMERIC: any number of digits; the values say how many
        decimal = pyarrow.decimal128 if kind.precision <= 38 else pyarrow.decimal256
        return decimal(kind.precision, kind.scale or 0)
    if isinstance(kind, sa.DateTime):
        return pyarrow.timestamp("us", tz="UTC" if kind.timezone else None)
    if isinstance(kind, sa.Date):
        return pyarrow.date32()
    if isinstance(kind, sa.Time):
        return pyarrow.time64("us")
    if isinstance(kind, sa.Interval):
        return pyarrow.duration("us")
    if isinstance(kind, (sa.String, sa.Enum)):
        return pyarrow.string()
    if isinstance(kind, sa.LargeBinary):
        return pyarrow.binary()
    if isinstance(kind, sa.Uuid):
        return pyarrow.uuid()
    if isinstance(kind, sa.JSON):
        return pyarrow.json_()
    return None


def _integer(kind: sa.Integer) -> pyarrow.DataType:
    import pyarrow

    widths = [pyarrow.int16(), pyarrow.int32(), pyarrow.int64(), pyarrow.uint64()]
    width = 0 if isinstance(kind, sa.SmallInteger) else 2 if isinstance(kind, sa.BigInteger) else 1
    if getattr(kind, "unsigned", False):  # MySQL's UNSIGNED: the next wider type holds every value
        width += 1
    return widths[width]


# -- values between Arrow and Python ------------------------------------------------------------


def python_values(column: Any) -> list[Any]:
    """An Arrow column's values in Python: JSON text (`arrow.json`) parsed, so a JSON value is
    the same object whether it came from a SQL JSON column or from Arrow."""
    values = column.to_pylist()
    if getattr(column.type, "extension_name", None) == "arrow.json":
        return [None if value is None else json.loads(value) for value in values]
    return values


def arrow_array(values: Sequence[Any], kind: pyarrow.DataType) -> pyarrow.Array:
    """Python values as an Arrow array of `kind`: a JSON value as its text, a UUID as a UUID
    (its text is parsed); other types as Arrow converts them."""
    import uuid

    import pyarrow

    extension = getattr(kind, "extension_name", None)
    if extension == "arrow.json":
        values = [value if value is None or isinstance(value, str) else json.dumps(value) for value in values]
    elif extension == "arrow.uuid":
        values = [uuid.UUID(value) if isinstance(value, str) else value for value in values]
    return pyarrow.array(values, type=kind)


# -- values a database's driver takes ------------------------------------------------------------


def driver_rows(columns: Sequence[str], rows: list[tuple], table: sa.Table, dialect: str) -> list[tuple]:
    """`rows` with the values their driver cannot take as they are written in the column's terms:
    into PostgreSQL's JSON (written as text by COPY) a non-text value as its JSON text; a UUID
    into a column that is no UUID (SQLite's and MySQL's CHAR(32)) as its 32 hex digits, as
    SQLAlchemy stores one there. `rows` itself when nothing needs it."""
    import uuid

    convert: dict[int, Any] = {}
    for index, name in enumerate(columns):
        kind = table.c[name].type if name in table.c else None
        if dialect == "postgresql" and isinstance(kind, sa.JSON):
            convert[index] = lambda value: value if value is None or isinstance(value, str) else json.dumps(value)
        elif dialect != "postgresql" and not isinstance(kind, sa.Uuid):
            first = next((row[index] for row in rows if row[index] is not None), None)
            if isinstance(first, uuid.UUID):
                convert[index] = lambda value: value.hex if isinstance(value, uuid.UUID) else value
    if not convert:
        return rows
    return [
        tuple(convert[index](value) if index in convert else value for index, value in enumerate(row)) for row in rows
    ]
