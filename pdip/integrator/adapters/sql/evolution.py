"""A SQL target whose table differs from what the source sends: `Integration.schema` decides.

What happens to a source column the table lacks, by `schema`:
- `evolve`: it is added (`ALTER TABLE ... ADD COLUMN`, its type from the one type map), and a
  column whose source type is wider (a bigger integer, a longer varchar or text, a decimal with
  more digits) is widened;
- `freeze`: the run is refused, naming the columns, before the batch that shows them is written;
- `discard_row`: each row with a value there is dead-lettered with the reason; rows with NULL
  there lose nothing and are written;
- `discard_value`: rows are written without those columns; the values dropped are counted per
  column and reported with the run.
A wider type is widened only under `evolve`. A `schema: freeze` the integration names refuses the
run for it too (the table must stay as it is, and the source match it); otherwise (the default
freeze of a table pdip did not create, or a discard) the column keeps its type and a value it
cannot hold is refused by the database, its row dead-lettered with the reason (never cut).
SQLite enforces neither integer sizes nor lengths, so there nothing is wider.

Without a `schema`, a table pdip created is evolved and any other frozen: pdip records the tables
it creates in `pdip_created_table` in the target's database (docs/adr/0015).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from pdip.data.times import UtcDateTime, utcnow
from pdip.integrator.adapters.base import WriteResult
from pdip.integrator.adapters.sql.dialects import dialect_of
from pdip.integrator.adapters.sql.tables import columns_for
from pdip.integrator.batch import Batch
from pdip.integrator.errors import SchemaRefusedError
from pdip.integrator.state import create_tables
from pdip.integrator.types import sql_types

METADATA = sa.MetaData()

CREATED_TABLES = sa.Table(
    "pdip_created_table",
    METADATA,
    sa.Column("table_name", sa.String(400), primary_key=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
)


def _key(schema: str | None, name: str) -> str:
    return f"{schema}.{name}" if schema else name


def mark_created(engine: sa.Engine, schema: str | None, name: str) -> None:
    """Record that pdip created the table `schema.name` (so it may evolve it by default)."""
    create_tables(engine, METADATA, [CREATED_TABLES])
    key = _key(schema, name)
    with engine.begin() as connection:
        connection.execute(CREATED_TABLES.delete().where(CREATED_TABLES.c.table_name == key))
        connection.execute(CREATED_TABLES.insert().values(table_name=key, created_at=utcnow()))


def created_by_pdip(engine: sa.Engine, schema: str | None, name: str) -> bool:
    if not sa.inspect(engine).has_table(CREATED_TABLES.name):
        return False
    query = sa.select(CREATED_TABLES.c.table_name).where(CREATED_TABLES.c.table_name == _key(schema, name))
    with engine.connect() as connection:
        return connection.execute(query).first() is not None


# -- what differs ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Difference:
    """Source columns the table lacks, and columns whose source type is wider: (name, the
    table's type, the type to widen it to)."""

    added: list[str]
    widened: list[tuple[str, sa.types.TypeEngine, sa.types.TypeEngine]]

    def __bool__(self) -> bool:
        return bool(self.added or self.widened)


def difference(table: sa.Table, columns: Sequence[str], declared: Any, dialect: sa.Dialect) -> Difference:
    added = [name for name in columns if name not in table.c]
    widened = []
    if dialect.name != "sqlite":  # SQLite keeps any integer in INTEGER and enforces no length
        for name, kind in zip(columns, sql_types(declared, columns, dialect), strict=True):
            wider = wider_type(table.c[name].type, kind) if name in table.c and kind is not None else None
            if wider is not None:
                widened.append((name, table.c[name].type, wider))
    return Difference(added, widened)


def wider_type(current: sa.types.TypeEngine, source: sa.types.TypeEngine) -> sa.types.TypeEngine | None:
    """The type a column of type `current` must become to hold every value of `source`, when it
    is the same kind of type, wider (None: it holds them, or the kinds differ)."""
    if _integer(current) and _integer(source):
        return source if _integer_bits(source) > _integer_bits(current) else None
    if _text(current) and _text(source):
        if current.length is None or (source.length is not None and source.length <= current.length):
            return None
        return source
    if _decimal(current) and _decimal(source):
        return _wider_decimal(current, source)
    return None


def _integer(kind: sa.types.TypeEngine) -> bool:
    return isinstance(kind, sa.Integer) and not isinstance(kind, sa.Boolean)


def _integer_bits(kind: sa.Integer) -> int:
    """Bits of a signed integer that holds the type's every value (an unsigned one needs one more)."""
    named = {"TINYINT": 8, "MEDIUMINT": 24}.get(type(kind).__name__.upper())
    bits = named or (64 if isinstance(kind, sa.BigInteger) else 16 if isinstance(kind, sa.SmallInteger) else 32)
    return bits + (1 if getattr(kind, "unsigned", False) else 0)


def _text(kind: sa.types.TypeEngine) -> bool:
    return isinstance(kind, sa.String) and not isinstance(kind, sa.Enum)


def _decimal(kind: sa.types.TypeEngine) -> bool:
    return isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float)


def _wider_decimal(current: sa.Numeric, source: sa.Numeric) -> sa.types.TypeEngine | None:
    if current.precision is None:
        return None  # PostgreSQL's NUMERIC: any number of digits
    if source.precision is None:
        return source
    scale, source_scale = current.scale or 0, source.scale or 0
    whole = max(current.precision - scale, source.precision - source_scale)
    wider_scale = max(scale, source_scale)
    if whole + wider_scale <= current.precision and wider_scale <= scale:
        return None
    return sa.Numeric(whole + wider_scale, wider_scale)


# -- what is done about it ----------------------------------------------------------------------


def refuse(difference: Difference, table: str, choice: str, chosen_by: str, widened_too: bool = False) -> None:
    """Raise `SchemaRefusedError` when `choice` is freeze and the table lacks source columns, or
    (`widened_too`: freeze was asked for by name) a column's type is narrower than the source's."""
    if choice != "freeze":
        return
    if difference.added:
        names = ", ".join(repr(name) for name in difference.added)
        raise SchemaRefusedError(
            f"table {table!r} lacks the source's column(s) {names}, and schema: freeze ({chosen_by}) refuses "
            "to change it; schema: evolve adds them, discard_row dead-letters the rows with a value there, "
            "discard_value writes the rows without those values"
        )
    if difference.widened and widened_too:
        shown = "; ".join(
            f"column {name!r} is {_shown(current)} at the table and {_shown(wider)} at the source"
            for name, current, wider in difference.widened
        )
        raise SchemaRefusedError(
            f"table {table!r}: {shown}, and schema: freeze ({chosen_by}) refuses to widen it; schema: evolve "
            "widens it, and without a schema the values it cannot hold are dead-lettered row by row"
        )


def evolve(engine: sa.Engine, table: sa.Table, difference: Difference, batch: Batch) -> list[str]:
    """Add and widen the table's columns in one transaction (where the database has them);
    what was done, in words."""
    preparer = engine.dialect.identifier_preparer
    target = preparer.format_table(table)
    statements, changes = [], []
    if difference.added:
        columns = columns_for(batch.columns, lambda: batch.rows, batch.types, engine, only=difference.added)
        for column in columns:
            kind = column.type.compile(dialect=engine.dialect)
            statements.append(dialect_of(engine.dialect.name).added_column(target, preparer.quote(column.name), kind))
            changes.append(f"added column {column.name!r} {kind}")
    for name, current, wider in difference.widened:
        statements.append(_widen(engine, target, table.c[name], wider))
        changes.append(f"widened column {name!r} from {_shown(current)} to {_shown(wider, engine.dialect)}")
    with engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
    return changes


def _widen(engine: sa.Engine, target: str, column: sa.Column, wider: sa.types.TypeEngine) -> str:
    quoted, kind = engine.dialect.identifier_preparer.quote(column.name), wider.compile(dialect=engine.dialect)
    if engine.dialect.name in ("mysql", "mariadb"):
        # MySQL restates the whole column: its nullability is kept (a default or a comment is not)
        return f"ALTER TABLE {target} MODIFY COLUMN {quoted} {kind} {'NULL' if column.nullable else 'NOT NULL'}"
    return dialect_of(engine.dialect.name).widened_column(target, quoted, kind, column.nullable)


def _shown(kind: sa.types.TypeEngine, dialect: sa.Dialect | None = None) -> str:
    try:
        return str(kind.compile(dialect=dialect))
    except sa.exc.SQLAlchemyError:  # pragma: no cover - a reflected type always compiles in its dialect
        return repr(kind)


# -- a batch fitted to the table ----------------------------------------------------------------


@dataclasses.dataclass
class Fitted:
    """A batch as the table takes it, and what fitting it did: schema changes made, rows refused
    (as they were read), values dropped per column."""

    batch: Batch
    changes: list[str] = dataclasses.field(default_factory=list)
    refused: list[tuple[tuple, str]] = dataclasses.field(default_factory=list)
    discarded: dict[str, int] = dataclasses.field(default_factory=dict)
    restore: Callable[[tuple], tuple] = lambda row: row

    def as_read(self, rejected: list[tuple[tuple, str]]) -> list[tuple[tuple, str]]:
        """Rows of `batch` refused, each whole as the source read it."""
        return [(self.restore(row), reason) for row, reason in rejected]

    def told(self, result: WriteResult) -> WriteResult:
        """`result` of writing `batch`, in the terms of the batch as read: refused rows whole,
        with the rows fitting refused, the changes made and the values dropped."""
        result.rejected = self.as_read(result.rejected) + self.refused
        result.schema_changes = self.changes
        result.values_discarded = self.discarded
        return result


class AddsNamedColumns:
    """For a target that knows its table's columns by name (`_known`) and can add those it lacks
    (`_add_columns(batch, added)`, what it did in words): `_fitted` deals with a batch's new
    columns as `_schema_choice()` says, deciding once per set of columns (`_fitting`)."""

    _known: Mapping[str, Any]
    _fitting: dict[tuple, Callable[[Batch], Fitted]]
    connection: Any

    def _schema_choice(self) -> tuple[str, str]:  # pragma: no cover - each target gives its own
        raise NotImplementedError

    def _add_columns(self, batch: Batch, added: list[str]) -> list[str]:  # pragma: no cover - as above
        raise NotImplementedError

    def _fitted(self, batch: Batch) -> Fitted:
        """The batch as the table takes it: a source column the table lacks added, refused or
        dropped as the integration's `schema` says."""
        seen = tuple(batch.columns)
        if seen in self._fitting:
            return self._fitting[seen](batch)
        added = [name for name in batch.columns if name not in self._known]
        if not added:
            self._fitting[seen] = Fitted
            return Fitted(batch)
        choice, chosen_by = self._schema_choice()
        refuse(Difference(added, []), self.connection.get("table"), choice, chosen_by)
        if choice == "evolve":
            return Fitted(batch, changes=self._add_columns(batch, added))
        self._fitting[seen] = lambda batch: FITS[choice](batch, lacking=added)
        return self._fitting[seen](batch)

    def _refuse_frozen(self, batch: Batch) -> None:
        """Before the table is emptied: refuse a batch with new columns the schema choice freezes."""
        added = [name for name in batch.columns if name not in self._known]
        if added:
            refuse(Difference(added, []), self.connection.get("table"), *self._schema_choice())


def without_rows(batch: Batch, lacking: Sequence[str]) -> Fitted:
    """`discard_row`: each row with a value in a column of `lacking` refused, with the reason."""
    indexes = [batch.columns.index(name) for name in lacking]
    kept, refused = [], []
    for row in batch.rows:
        carried = [batch.columns[index] for index in indexes if row[index] is not None]
        if carried:
            names = ", ".join(repr(name) for name in carried)
            refused.append((row, f"the target table lacks column(s) {names} (schema: discard_row)"))
        else:
            kept.append(row)
    fitted, restore = _projected(batch, indexes, kept)
    return Fitted(fitted, refused=refused, restore=restore)


def without_values(batch: Batch, lacking: Sequence[str]) -> Fitted:
    """`discard_value`: the rows without the columns of `lacking`; the values dropped counted."""
    indexes = [batch.columns.index(name) for name in lacking]
    rows = batch.rows
    counted = {name: sum(row[index] is not None for row in rows) for name, index in zip(lacking, indexes, strict=True)}
    fitted, restore = _projected(batch, indexes, rows)
    return Fitted(fitted, discarded={name: count for name, count in counted.items() if count}, restore=restore)


def _projected(batch: Batch, dropped: Sequence[int], rows: list[tuple]) -> tuple[Batch, Callable[[tuple], tuple]]:
    """A batch of `rows` without the columns at `dropped`, and how to give one of its rows back
    as it was read (a row the target rebuilt comes back with None where values were dropped)."""
    keep = [index for index in range(len(batch.columns)) if index not in dropped]
    originals: dict[int, tuple] = {}
    projected = []
    for row in rows:
        fitted = tuple(row[index] for index in keep)
        originals[id(fitted)] = row
        projected.append(fitted)

    def restore(row: tuple) -> tuple:
        if id(row) in originals:
            return originals[id(row)]
        values = iter(row)
        return tuple(None if index in dropped else next(values) for index in range(len(batch.columns)))

    columns = [batch.columns[index] for index in keep]
    return Batch(columns, projected, position=batch.position, partition=batch.partition), restore


FITS = {"discard_row": without_rows, "discard_value": without_values}
