"""`write: replace` at a SQL target: load a twin of the table, then swap it in, in one step.

Readers of the target never see it empty or half-written: the run's batches go into an empty twin
(`<table>_pdip_replace`, made with the table's columns, keys and constraints: `LIKE` on
PostgreSQL and MariaDB/MySQL, the table's own `CREATE TABLE` on SQLite), each batch committed with
its position as usual, so a killed run resumes into the same twin. When the whole integration
succeeded, the twin takes the table's place:
- PostgreSQL, SQLite: `DROP TABLE` and `ALTER TABLE ... RENAME` in one transaction (SQLite's
  indexes are made again on the new table in it too);
- MariaDB/MySQL: one `RENAME TABLE table TO old, twin TO table`, atomic for readers, then the old
  table is dropped;
- other databases: the twin is made by SQLAlchemy from the table's columns and keys, and swapped
  in as each database renames a table (`dialects`: SQL Server's `sp_rename` in the transaction;
  Oracle commits each DDL statement, so its readers may find no table for a moment).
A run that fails leaves the table as it was (and the twin, for `--resume`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from pdip.integrator.adapters.sql.dialects import as_sent, dialect_of

_HEAD = re.compile(
    r'\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?("(?:[^"]|"")*"|\[[^\]]*\]|`(?:[^`]|``)*`|[^\s(]+)', re.IGNORECASE
)
_MYSQL = ("mysql", "mariadb")


def stage_name(table: str) -> str:
    """The twin's name; short enough for every database (PostgreSQL takes 63 bytes)."""
    return f"{table[:40]}_pdip_replace"


def exists(engine: sa.Engine, name: str, schema: str | None = None) -> bool:
    return sa.inspect(engine).has_table(name, schema=schema)


def create_twin(engine: sa.Engine, table: sa.Table, name: str) -> None:
    """(Re)create `name` empty, with `table`'s columns, keys and constraints."""
    quote = engine.dialect.identifier_preparer.quote
    twin, original = _qualified(quote, table.schema, name), _qualified(quote, table.schema, table.name)
    dialect = engine.dialect.name
    with engine.begin() as connection:
        _run(connection, f"DROP TABLE IF EXISTS {twin}")
        if dialect == "postgresql":
            _run(connection, f"CREATE TABLE {twin} (LIKE {original} INCLUDING ALL)")
        elif dialect in _MYSQL:
            _run(connection, f"CREATE TABLE {twin} LIKE {original}")
        elif dialect == "sqlite":
            _run(connection, _renamed(_sqlite_definition(connection, table), twin))
        else:  # pragma: no cover - SQL Server, Oracle: PDIP_TEST_*_URL (create_twin is run on SQLite by a test)
            dialect_of(dialect).create_twin(connection, table, name)


def swap(engine: sa.Engine, twin: sa.Table, name: str, within: Callable[[sa.Connection], Any]) -> None:
    """Put `twin` in the place of the table `name`; `within(connection)` runs in the same
    transaction (the positions of the run are forgotten there)."""
    quote = engine.dialect.identifier_preparer.quote
    target, loaded = _qualified(quote, twin.schema, name), _qualified(quote, twin.schema, twin.name)
    dialect = engine.dialect.name
    if dialect in _MYSQL:
        old = _qualified(quote, twin.schema, f"{name[:40]}_pdip_old")
        with engine.begin() as connection:
            _run(connection, f"DROP TABLE IF EXISTS {old}")
            _run(connection, f"RENAME TABLE {target} TO {old}, {loaded} TO {target}")
            _run(connection, f"DROP TABLE {old}")
        with engine.begin() as connection:
            within(connection)
        return
    if dialect == "sqlite":
        _swap_sqlite(engine, target, loaded, name, quote(name), within)
        return
    with engine.begin() as connection:
        for statement in dialect_of(dialect).swap_statements(target, loaded, twin.schema, name, quote):
            _run(connection, statement)
        within(connection)


def _swap_sqlite(
    engine: sa.Engine, target: str, loaded: str, name: str, renamed: str, within: Callable[[sa.Connection], Any]
) -> None:
    """SQLite: Python's sqlite3 would run DDL outside any transaction; here one is begun by hand,
    so the drop, the rename and the indexes are committed together or not at all."""
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        level = driver.isolation_level
        driver.isolation_level = None  # the transaction is begun and ended below, not by sqlite3
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            indexes = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (name,)
            ).all()
            connection.exec_driver_sql(f"DROP TABLE {target}")
            connection.exec_driver_sql(f"ALTER TABLE {loaded} RENAME TO {renamed}")
            for (statement,) in indexes:
                connection.exec_driver_sql(statement)
            within(connection)
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            driver.isolation_level = level


def _sqlite_definition(connection: sa.Connection, table: sa.Table) -> str:
    return connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table.name,)
    ).scalar_one()


def _renamed(definition: str, name: str) -> str:
    """A `CREATE TABLE` statement for the table `name` (quoted) instead of its own."""
    head = _HEAD.match(definition)
    return definition[: head.start(1)] + name + definition[head.end(1) :]


def _qualified(quote: Callable[[str], str], schema: str | None, name: str) -> str:
    return ".".join(quote(part) for part in (schema, name) if part)


def _run(connection: sa.Connection, statement: str) -> None:
    """SQL text through the driver's cursor, without parameters (a `%` is no placeholder)."""
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(as_sent(connection.dialect, statement))
    finally:
        cursor.close()
