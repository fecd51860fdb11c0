"""Writing rows by key: the upserts shared by `write: merge` (`rows.py`) and change streams
(`changes.py`), and the merge of a row batch.

A merge folds the rows of a batch that share a key into the last one (a key is written once per
statement: PostgreSQL refuses to touch a row twice in one `INSERT ... ON CONFLICT`), deletes the
keys whose `delete_column` is set (true, a number other than 0, or any other value but NULL: a
flag or a deletion time) and upserts the others:
- PostgreSQL (psycopg 3): the batch goes by `COPY` (binary and CSV batches as they came) into a
  temporary table dropped at commit, then one `MERGE ... USING (SELECT DISTINCT ON (key) ...)`
  applies it (before PostgreSQL 15: one `DELETE ... USING` and one `INSERT ... SELECT DISTINCT
  ON (key) ... ON CONFLICT`), the last row of a key winning by its place in the temporary
  table; a row equal to the one there is left out (`comparable`);
- SQLite (`INSERT ... ON CONFLICT`; a rowid range of another SQLite file copied inside the
  database, `sqlite.copy_range`) and MariaDB/MySQL (`INSERT ... ON DUPLICATE KEY UPDATE`):
  folded here, deleted and upserted in bulk (MariaDB/MySQL from a temporary table `LOAD DATA`
  filled, `mysql.Loader.merge`; PyMySQL's multi-row inserts where the server refuses it);
- SQL Server and Oracle: folded here, deleted in bulk and upserted by one `MERGE` per row, sent
  as one `executemany` (`dialects`).
The key is the integration's `key`, else the table's primary key; it must be the primary key or
a unique constraint of the table, or the database could not find the row to update.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from pdip.integrator.adapters.sql.dialects import dialect_of
from pdip.integrator.errors import OperationError

_IN_CHUNK = 1000
_UPSERTING = ("postgresql", "sqlite", "mysql", "mariadb")  # an INSERT that updates on a conflict


def upsert(dialect: str, table: sa.Table, key: Sequence[str], columns: Sequence[str]) -> Any:
    """An insert of `columns` that updates the row with the same `key` instead (SQLAlchemy Core,
    for `executemany`); a row of only key columns is left as it is when there."""
    updated = [column for column in columns if column not in key]
    if dialect in ("postgresql", "sqlite"):
        module = __import__(f"sqlalchemy.dialects.{dialect}", fromlist=["insert"])
        statement = module.insert(table)
        if not updated:
            return statement.on_conflict_do_nothing(index_elements=list(key))
        return statement.on_conflict_do_update(
            index_elements=list(key), set_={column: statement.excluded[column] for column in updated}
        )
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert

        statement = insert(table)
        names = updated or [key[0]]
        return statement.on_duplicate_key_update({column: statement.inserted[column] for column in names})
    raise OperationError(f"writing by key supports PostgreSQL, MariaDB/MySQL and SQLite, not {dialect}")


def on_conflict(quote: Callable[[str], str], key: Sequence[str], columns: Sequence[str]) -> str:
    """PostgreSQL's `ON CONFLICT` clause of an insert of `columns` (its new values: `EXCLUDED`)."""
    updated = [column for column in columns if column not in key]
    keys = ", ".join(quote(column) for column in key)
    if not updated:
        return f"ON CONFLICT ({keys}) DO NOTHING"
    return f"ON CONFLICT ({keys}) DO UPDATE SET " + ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in updated)


# Types whose values PostgreSQL compares with `=`, so `IS DISTINCT FROM` works on them (with
# `jsonb`); `json`, `xml`, arrays and types SQLAlchemy does not know are left out: a table with
# one is always updated. `Float` (`real`, `double precision`) is named apart: since SQLAlchemy 2.1
# it is no `Numeric`. `Text` and `Enum` are `String`s, `bytea` a `LargeBinary`.
_COMPARABLE = (
    sa.Integer,
    sa.Numeric,
    sa.Float,
    sa.String,
    sa.Boolean,
    sa.Date,
    sa.DateTime,
    sa.Time,
    sa.Uuid,
    sa.LargeBinary,
)


def comparable(table: sa.Table, columns: Sequence[str]) -> bool:
    """Whether PostgreSQL can tell whether each of `columns` of `table` changed (`_COMPARABLE`)."""
    from sqlalchemy.dialects.postgresql import JSONB

    return all(isinstance(table.c[name].type, (*_COMPARABLE, JSONB)) for name in columns if name in table.c)


def is_unique(engine: sa.Engine, table: sa.Table, key: Sequence[str]) -> bool:
    """Whether `key` is the table's primary key or one of its unique constraints or indexes."""
    wanted = set(key)
    if {column.name for column in table.primary_key.columns} == wanted:
        return True
    inspector = sa.inspect(engine)
    constraints = inspector.get_unique_constraints(table.name, schema=table.schema)
    indexes = [index for index in inspector.get_indexes(table.name, schema=table.schema) if index.get("unique")]
    return any(set(item["column_names"]) == wanted for item in (*constraints, *indexes))


def key_problems(
    engine: sa.Engine, table: sa.Table, key: Sequence[str] | None, where: str
) -> tuple[tuple[str, ...], list[str]]:
    """The columns rows are upserted by in `table` (`key`, else its primary key) and what makes
    them unusable, each problem starting with `where`: none at all, columns the table lacks, or
    columns that are neither its primary key nor a unique constraint (the database could not find
    the row to update). `write: merge` and change-log targets both ask this."""
    chosen = tuple(key) if key else tuple(column.name for column in table.primary_key.columns)
    if not chosen:
        return chosen, [
            f"{where} needs a key: table {table.name!r} has no primary key; name its key columns with key: [...]"
        ]
    missing = [column for column in chosen if column not in table.c]
    if missing:
        return chosen, [f"{where}: key: table {table.name!r} has no column {', '.join(missing)}"]
    if not is_unique(engine, table, chosen):
        return chosen, [
            f"{where}: key: ({', '.join(chosen)}) is neither the primary key nor a unique constraint of table "
            f"{table.name!r}; an upsert needs one"
        ]
    return chosen, []


def deleted(value: Any) -> bool:
    """Whether a `delete_column` value deletes its row: a flag that is set, or a deletion time."""
    return value is not None and value is not False and not (isinstance(value, int | float) and value == 0)


def fold(
    columns: Sequence[str], rows: Sequence[tuple], key: Sequence[str], delete_column: str | None
) -> tuple[list[tuple], list[tuple]]:
    """The rows to upsert (the last row of each key) and the keys to delete."""
    indexes = [columns.index(column) for column in key]
    if len(indexes) == 1:
        index = indexes[0]
        last = {row[index]: row for row in rows}
    else:
        last = {tuple(row[i] for i in indexes): row for row in rows}
    if delete_column is None:
        return list(last.values()), []
    flag = columns.index(delete_column)
    kept, removed = [], []
    for row in last.values():
        if deleted(row[flag]):
            removed.append(tuple(row[i] for i in indexes))
        else:
            kept.append(row)
    return kept, removed


def delete_keys(connection: sa.Connection, table: sa.Table, key: Sequence[str], keys: list[tuple]) -> None:
    """Delete the rows of `keys` (tuples of the key's values), in bulk."""
    if len(key) == 1:
        column = table.c[key[0]]
        values = [item[0] for item in keys]
        for start in range(0, len(values), _IN_CHUNK):
            connection.execute(table.delete().where(column.in_(values[start : start + _IN_CHUNK])))
        return
    where = sa.and_(*(table.c[c] == sa.bindparam(f"k_{c}") for c in key))
    connection.execute(
        table.delete().where(where), [{f"k_{c}": v for c, v in zip(key, item, strict=True)} for item in keys]
    )


def merge_rows(
    connection: sa.Connection, table: sa.Table, key: Sequence[str], columns: Sequence[str], rows: Sequence[tuple]
) -> None:
    """Upsert already folded rows in bulk (SQLite, MariaDB/MySQL, PostgreSQL without COPY); on
    another database by its own MERGE (`dialects`), or refused naming it when it has none."""
    if not rows:
        return
    if connection.dialect.name not in _UPSERTING:  # pragma: no cover - SQL Server, Oracle: PDIP_TEST_*_URL
        dialect_of(connection.dialect.name).merge(connection, table, key, columns, rows)
        return
    statement = upsert(connection.dialect.name, table, key, columns)
    connection.execute(statement, [dict(zip(columns, row, strict=True)) for row in rows])


def merge_staged(
    connection: sa.Connection,
    target: str,
    stage: str,
    columns: Sequence[str],
    key: Sequence[str],
    deletion: str | None,
    compare: bool = False,
    merges: bool = False,
) -> None:
    """PostgreSQL: apply the rows `COPY`ed into `stage` to `target`: the last row of each key
    (by its place in the stage, `ctid`) deletes its key when `deletion` (a condition on the
    stage's row, `s`) holds, and is upserted otherwise; with `compare`, a row already there with
    the same values is left out, so it is neither written nor locked (docs/adr/0014: an
    update-heavy merge writes only what changed). With `merges` (PostgreSQL 15 and later) one
    `MERGE` does it all; otherwise a `DELETE ... USING` and an `INSERT ... ON CONFLICT`."""
    quote = connection.dialect.identifier_preparer.quote
    names = ", ".join(quote(column) for column in columns)
    keys = ", ".join(quote(column) for column in key)
    last = f"SELECT DISTINCT ON ({keys}) {names} FROM {stage} ORDER BY {keys}, ctid DESC"
    updated = [column for column in columns if column not in key]
    matched = " AND ".join(f"t.{quote(c)} = s.{quote(c)}" for c in key)
    differs = ""
    if compare and updated:
        held = ", ".join(f"t.{quote(c)}" for c in updated)
        given = ", ".join(f"s.{quote(c)}" for c in updated)
        differs = f"({held}) IS DISTINCT FROM ({given})"
    if merges:
        connection.exec_driver_sql(_merge_statement(quote, target, last, columns, updated, matched, deletion, differs))
        return
    kept = ""
    if deletion is not None:
        connection.exec_driver_sql(f"DELETE FROM {target} AS t USING ({last}) AS s WHERE {matched} AND {deletion}")
        kept = f" WHERE NOT ({deletion})"
    if compare:  # only rows that are new or differ: a join with the target leaves the others out
        new = f"t.{quote(key[0])} IS NULL" + (f" OR {differs}" if differs else "")
        kept = f" WHERE ({new})" + (f" AND NOT ({deletion})" if deletion is not None else "")
        source = f"({last}) AS s LEFT JOIN {target} AS t ON {matched}"
        selected = ", ".join(f"s.{quote(c)}" for c in columns)
    else:
        source, selected = f"({last}) AS s", names
    connection.exec_driver_sql(
        f"INSERT INTO {target} ({names}) SELECT {selected} FROM {source}{kept} {on_conflict(quote, key, columns)}"
    )


def _merge_statement(
    quote: Callable[[str], str],
    target: str,
    last: str,
    columns: Sequence[str],
    updated: Sequence[str],
    matched: str,
    deletion: str | None,
    differs: str,
) -> str:
    """PostgreSQL 15's `MERGE` of the rows `last` selects (`s`) into `target` (`t`): a key there
    is deleted when `deletion` holds, else updated when it `differs` (always, when empty); a key
    not there is inserted unless `deletion` holds. It finds each row once, by the join, where
    `INSERT ... ON CONFLICT` looks it up again and locks it before updating it (a third more WAL
    records, docs/adr/0014)."""
    clauses = []
    if deletion is not None:
        clauses.append(f"WHEN MATCHED AND {deletion} THEN DELETE")
    if updated:
        condition = f" AND {differs}" if differs else ""
        changes = ", ".join(f"{quote(c)} = s.{quote(c)}" for c in updated)
        clauses.append(f"WHEN MATCHED{condition} THEN UPDATE SET {changes}")
    values = ", ".join(f"s.{quote(c)}" for c in columns)
    kept = f" AND NOT ({deletion})" if deletion is not None else ""
    clauses.append(f"WHEN NOT MATCHED{kept} THEN INSERT ({', '.join(quote(c) for c in columns)}) VALUES ({values})")
    return f"MERGE INTO {target} AS t USING ({last}) AS s ON {matched} " + " ".join(clauses)


def deletion_condition(quote: Callable[[str], str], column: sa.Column) -> str:
    """PostgreSQL: when a `delete_column` value of the stage's row `s` deletes it (see `deleted`)."""
    name = f"s.{quote(column.name)}"
    if isinstance(column.type, sa.Boolean):
        return f"{name} IS TRUE"
    if isinstance(column.type, sa.Integer | sa.Numeric | sa.Float):  # a number deletes when not 0
        return f"({name} IS NOT NULL AND {name} <> 0)"
    return f"{name} IS NOT NULL"
