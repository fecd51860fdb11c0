"""What differs per SQL dialect beyond PostgreSQL, MariaDB/MySQL and SQLite: `kind: mssql`,
`kind: oracle`, and any other database `kind: sql` reaches by a SQLAlchemy URL.

The SQL adapter (`rows`) is the one adapter for all of them; a dialect here only says what its
database does its own way:
- its bulk path: SQL Server through pyodbc binds a whole batch at once (`fast_executemany`, set
  on the engine); through pymssql, whose `executemany` sends one statement per row, a batch goes
  as multi-row `INSERT ... VALUES` of at most 1000 rows and 2100 parameters (the server's
  limits); Oracle's driver binds a batch as one array (`executemany` is array DML);
- its upsert: one `MERGE` per row, sent with `executemany` (SQL Server and Oracle); a database
  without one refuses `write: merge` with its name;
- its DDL: `ADD` (SQL Server) or `ADD (...)` (Oracle) for a new column, how a column is widened,
  how the twin of `write: replace` is made (the table's columns, primary key and unique
  constraints, by SQLAlchemy) and swapped in (SQL Server: `DROP` and `sp_rename` in one
  transaction; Oracle commits each DDL statement by itself, so there the swap is two steps);
- whether it compares row values (`(a, b) > (1, 2)`), which SQL Server does not;
- whether `OFFSET` needs an `ORDER BY` (SQL Server: it does).
A dialect this module does not know gets the generic answers (SQLAlchemy's `executemany`,
`ALTER TABLE ... ADD COLUMN`, no upsert): reading and appending work on any database SQLAlchemy
has a dialect for (docs/adr/0032).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from pdip.data.bulk import bulk_insert
from pdip.integrator.errors import OperationError

_MSSQL_PARAMETERS = 2100  # SQL Server's limit of parameters in one statement
_MSSQL_ROWS = 1000  # and of rows in one VALUES list


@dataclasses.dataclass(frozen=True)
class SqlDialect:
    """One database's own ways (see the module's docstring); the defaults are the generic ones."""

    name: str
    merges: bool = False  # has a MERGE statement (`merge_statement`)
    row_values: bool = True  # compares row values: (a, b) > (1, 2)
    offset_needs_order: bool = False
    add_column: str = "ALTER TABLE {table} ADD COLUMN {column} {kind}"
    widen_column: str = "ALTER TABLE {table} ALTER COLUMN {column} TYPE {kind}"
    merge_source: str = "SELECT {values}"  # the one-row source of a MERGE
    merge_end: str = ""
    multi_row_drivers: tuple[str, ...] = ()  # drivers whose `executemany` sends a statement per row

    def engine_options(self, url: sa.URL) -> dict[str, Any]:
        """Arguments of `create_engine` for this database's bulk path."""
        if self.name == "mssql" and url.get_driver_name() == "pyodbc":
            return {"fast_executemany": True}
        return {}

    def insert(self, connection: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[tuple]) -> None:
        """Append `rows` in the connection's transaction, by the database's bulk path."""
        if connection.dialect.driver in self.multi_row_drivers:
            for statement in multi_row_inserts(table, columns, rows):
                connection.execute(statement)
            return
        bulk_insert(connection, table, columns, rows)

    def merge_statement(
        self, dialect: sa.Dialect, table: sa.Table, key: Sequence[str], columns: Sequence[str]
    ) -> sa.TextClause:
        """The MERGE of one row of `columns` into `table` by `key`, its values bound by column
        name with the column's type (a row of only key columns is left as it is when there)."""
        if not self.merges:
            raise OperationError(
                f"writing by key (write: merge) is not supported on {self.name}: "
                "it has no MERGE statement pdip knows; use write: append or replace"
            )
        quote = dialect.identifier_preparer.quote
        target = ".".join(quote(part) for part in (table.schema, table.name) if part)
        marks = {column: f"p{index}" for index, column in enumerate(columns)}
        values = ", ".join(f":{marks[column]} AS {quote(column)}" for column in columns)
        matched = " AND ".join(f"t.{quote(column)} = s.{quote(column)}" for column in key)
        updated = [column for column in columns if column not in key]
        update = ", ".join(f"{quote(column)} = s.{quote(column)}" for column in updated)  # unqualified: PostgreSQL too
        names = ", ".join(quote(column) for column in columns)
        inserted = ", ".join(f"s.{quote(column)}" for column in columns)
        sql = f"MERGE INTO {target} t USING ({self.merge_source.format(values=values)}) s ON ({matched})"
        if updated:
            sql += f" WHEN MATCHED THEN UPDATE SET {update}"
        sql += f" WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({inserted}){self.merge_end}"
        binds = [sa.bindparam(marks[column], type_=table.c[column].type) for column in columns]
        return sa.text(sql).bindparams(*binds)

    def merge(
        self,
        connection: sa.Connection,
        table: sa.Table,
        key: Sequence[str],
        columns: Sequence[str],
        rows: Sequence[tuple],
    ) -> None:
        """Upsert already folded rows: one MERGE, executed for every row in one `executemany`."""
        if not rows:
            return
        statement = self.merge_statement(connection.dialect, table, key, columns)
        marks = [f"p{index}" for index in range(len(columns))]
        connection.execute(statement, [dict(zip(marks, row, strict=True)) for row in rows])

    def added_column(self, table: str, column: str, kind: str) -> str:
        return self.add_column.format(table=table, column=column, kind=kind)

    def widened_column(self, table: str, column: str, kind: str, nullable: bool) -> str:
        null = "NULL" if nullable else "NOT NULL"
        return self.widen_column.format(table=table, column=column, kind=kind, null=null)

    def create_twin(self, connection: sa.Connection, table: sa.Table, name: str) -> None:
        """`name`, empty, with `table`'s columns, primary key and unique constraints (their
        names left to the database: a constraint's name is unique per schema in some)."""
        columns = [
            sa.Column(column.name, column.type, nullable=column.nullable, primary_key=column.primary_key)
            for column in table.c
        ]
        unique = [
            sa.UniqueConstraint(*constraint.columns.keys())
            for constraint in table.constraints
            if isinstance(constraint, sa.UniqueConstraint)
        ]
        sa.Table(name, sa.MetaData(schema=table.schema), *columns, *unique).create(connection)

    def swap_statements(self, target: str, loaded: str, schema: str | None, name: str, quote: Any) -> list[str]:
        """The statements that put the table `loaded` in the place of `target` (named `name`)."""
        if self.name == "mssql":
            old = f"{schema}.{loaded.split('.')[-1]}" if schema else loaded
            return [f"DROP TABLE {target}", f"EXEC sp_rename '{_literal(old)}', '{_literal(name)}'"]
        return [f"DROP TABLE {target}", f"ALTER TABLE {loaded} RENAME TO {quote(name)}"]


def as_sent(dialect: sa.Dialect, sql: str) -> str:
    """`sql` made with the dialect's quoting, as the server must read it when the driver is
    given no parameters (COPY, LOAD DATA). For drivers whose parameters are marked with `%`
    (psycopg, PyMySQL), SQLAlchemy's quoting doubles a `%` in a name, and only the driver's
    filling-in of parameters undoubles it."""
    return sql.replace("%%", "%") if dialect.paramstyle in ("format", "pyformat") else sql


def multi_row_inserts(table: sa.Table, columns: Sequence[str], rows: Sequence[tuple]) -> list[sa.Insert]:
    """`rows` as INSERTs of many rows each, within SQL Server's limits of rows and parameters."""
    size = max(1, min(_MSSQL_ROWS, _MSSQL_PARAMETERS // max(1, len(columns)) - 1))
    statements = []
    for start in range(0, len(rows), size):
        part = [dict(zip(columns, row, strict=True)) for row in rows[start : start + size]]
        statements.append(table.insert().values(part))
    return statements


def _literal(text: str) -> str:
    return text.replace("'", "''")


DIALECTS: dict[str, SqlDialect] = {
    "mssql": SqlDialect(
        "mssql",
        merges=True,
        row_values=False,
        offset_needs_order=True,
        add_column="ALTER TABLE {table} ADD {column} {kind}",
        widen_column="ALTER TABLE {table} ALTER COLUMN {column} {kind} {null}",
        merge_end=";",  # SQL Server requires a MERGE to end with one
        multi_row_drivers=("pymssql",),
    ),
    "oracle": SqlDialect(
        "oracle",
        merges=True,
        add_column="ALTER TABLE {table} ADD ({column} {kind})",
        widen_column="ALTER TABLE {table} MODIFY ({column} {kind})",
        merge_source="SELECT {values} FROM dual",
    ),
}


def dialect_of(name: str) -> SqlDialect:
    """The ways of the dialect named `name` (SQLAlchemy's name), generic when it has none here."""
    return DIALECTS.get(name) or SqlDialect(name)
