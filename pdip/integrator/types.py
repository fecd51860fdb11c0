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

import dataclasses
import datetime as dt
import decimal
import json
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    import pyarrow


@dataclasses.dataclass(frozen=True)
class MappedType:
    """One row of the type map: a type in the user's words, as a generic SQLAlchemy type, and the
    file `types:` names that mean it. Its form in each database and in Arrow follows from
    `sql_types` and `sql_to_arrow`; `type_table()` shows them all (docs/integrator.md, "Types")."""

    name: str
    sql: sa.types.TypeEngine
    files: tuple[str, ...] = ()


# A file's decimal has unknown digits (PostgreSQL's NUMERIC takes any; a Parquet file takes the
# first values' scale); a file's datetime may carry an offset, so it is kept with its time zone
# (a naive one is taken as UTC, as a table created from values does).
TYPE_MAP: tuple[MappedType, ...] = (
    MappedType("16-bit integer", sa.SmallInteger()),
    MappedType("32-bit integer", sa.Integer()),
    MappedType("64-bit integer", sa.BigInteger(), ("int", "integer")),
    MappedType("4-byte float", sa.Float(24)),
    MappedType("8-byte float", sa.Double(), ("float",)),
    MappedType("decimal (12, 2)", sa.Numeric(12, 2)),
    MappedType("decimal of any digits", sa.Numeric(), ("decimal",)),
    MappedType("boolean", sa.Boolean(), ("bool", "boolean")),
    MappedType("text", sa.Text(), ("text", "str", "string")),
    MappedType("text of at most 40", sa.String(40)),
    MappedType("date", sa.Date(), ("date",)),
    MappedType("time", sa.Time()),
    MappedType("timestamp", sa.DateTime()),
    MappedType("timestamp with time zone", sa.DateTime(timezone=True), ("datetime", "timestamp")),
    MappedType("UUID", sa.Uuid()),
    MappedType("JSON", sa.JSON()),
    MappedType("bytes", sa.LargeBinary()),
)
_NAMED: dict[str, sa.types.TypeEngine] = {name: row.sql for row in TYPE_MAP for name in row.files}
FILE_TYPE_NAMES: tuple[str, ...] = tuple(_NAMED)

# Column types for a table created from data: the first non-null value of each column decides.
_VALUE_TYPES: list[tuple[type, sa.types.TypeEngine]] = [
    (bool, sa.Boolean()),
    (int, sa.BigInteger()),
    (float, sa.Float()),
    (decimal.Decimal, sa.Numeric(38, 10)),
    (dt.datetime, sa.DateTime(timezone=True)),
    (dt.date, sa.Date()),
    (dt.time, sa.Time()),
    (bytes, sa.LargeBinary()),
    (uuid.UUID, sa.Uuid()),
    (dict, sa.JSON()),
]


def type_of_values(values: Sequence[Any]) -> sa.types.TypeEngine:
    """The type of a column the source declared nothing of: its first non-null value's, or text
    (a varchar of 255 when no value is longer)."""
    sample = next((value for value in values if value is not None), None)
    kind = next((sql_type for python_type, sql_type in _VALUE_TYPES if isinstance(sample, python_type)), None)
    if kind is None:
        longest = max((len(str(value)) for value in values if value is not None), default=0)
        kind = sa.String(255) if longest <= 255 else sa.Text()
    return kind


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


def created_type(kind: sa.types.TypeEngine, dialect: sa.Dialect) -> sa.types.TypeEngine:
    """`kind` as a column pdip creates: MySQL's DATETIME and TIME keep whole seconds unless told
    otherwise, and would round every fraction away, so a created one keeps microseconds, as
    Python's datetimes do. SQL Server and Oracle: see `_mssql_type` and `_oracle_type`."""
    if dialect.name in _OWN_TYPES:
        return _OWN_TYPES[dialect.name](kind)
    if dialect.name not in ("mysql", "mariadb") or getattr(kind, "fsp", None):
        return kind
    from sqlalchemy.dialects import mysql  # loaded with the dialect: not imported by runs that never meet MySQL

    if isinstance(kind, sa.DateTime) and not isinstance(kind, sa.TIMESTAMP):
        return mysql.DATETIME(fsp=6)
    if isinstance(kind, sa.Time):
        return mysql.TIME(fsp=6)
    return kind


def _mssql_type(kind: sa.types.TypeEngine) -> sa.types.TypeEngine:
    """SQL Server's VARCHAR holds only its collation's code page: created text is NVARCHAR; its
    DATETIME keeps 1/300 s: a created timestamp is DATETIME2, which keeps microseconds."""
    from sqlalchemy.dialects import mssql

    if isinstance(kind, sa.String) and not isinstance(kind, (sa.Unicode, sa.UnicodeText, sa.Enum)):
        return sa.UnicodeText() if isinstance(kind, sa.Text) or kind.length is None else sa.Unicode(kind.length)
    if isinstance(kind, sa.DateTime) and not kind.timezone:
        return mssql.DATETIME2(precision=6)
    return kind


def _oracle_type(kind: sa.types.TypeEngine) -> sa.types.TypeEngine:
    """Oracle's DATE keeps whole seconds: a created timestamp is a TIMESTAMP; it has no time of
    day: a created one is its text; a float is IEEE's (BINARY_FLOAT, BINARY_DOUBLE)."""
    from sqlalchemy.dialects import oracle

    if isinstance(kind, sa.DateTime):
        return oracle.TIMESTAMP(timezone=kind.timezone)
    if isinstance(kind, sa.Time):
        return sa.String(15)
    if isinstance(kind, sa.Float):
        single = not isinstance(kind, sa.Double) and kind.precision is not None and kind.precision <= 24
        return oracle.BINARY_FLOAT() if single else oracle.BINARY_DOUBLE()
    return kind


_OWN_TYPES = {"mssql": _mssql_type, "oracle": _oracle_type}


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


# -- the map as a table -------------------------------------------------------------------------


def type_table() -> str:
    """The type map as a Markdown table, for the docs (a test keeps docs/integrator.md equal to
    it): each type's file `types:` names, the column pdip creates in each database, its Arrow type."""
    from sqlalchemy.dialects import mssql, mysql, oracle, postgresql, sqlite
    from sqlalchemy.dialects.mysql import mariadb

    server, database = mssql.dialect(), oracle.dialect()
    # as SQLAlchemy sets them up on connecting to SQL Server 2022 and Oracle 23
    server.server_version_info, server.deprecate_large_types, server._supports_nvarchar_max = (16,), True, True
    database.server_version_info, database._supports_bool = (23,), True
    dialects = (sqlite.dialect(), postgresql.dialect(), mariadb.MariaDBDialect(), mysql.dialect(), server, database)
    lines = [
        "| type | file `types:` | SQLite | PostgreSQL | MariaDB | MySQL | SQL Server | Oracle | Arrow |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in TYPE_MAP:
        declared = ColumnTypes("", (row.sql,), ("c",))
        created = [created_type(sql_types(declared, ["c"], dialect)[0], dialect) for dialect in dialects]
        arrow = sql_to_arrow(row.sql)
        cells = [
            row.name,
            ", ".join(f"`{name}`" for name in row.files) or "-",
            *(kind.compile(dialect=dialect) for kind, dialect in zip(created, dialects, strict=True)),
            "the values decide" if arrow is None else str(arrow),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
