"""SQL databases as source and target: SQLite, PostgreSQL (psycopg 3) and MariaDB/MySQL (PyMySQL).

Settings: the database as `url` (a SQLAlchemy URL) or as the `DATABASE` parts (`type`, `host`,
`port`, `database`, `user`, `password`; the kind may stand for the type: `kind: postgresql`);
then `table` (and `schema`) or, for a source, `query`.

This is the generic path, through SQLAlchemy Core: a source streams rows with a server-side
cursor where the driver has one; a target inserts each batch with one multi-row statement in
one transaction. Identifiers are always quoted by the dialect, never formatted into SQL. When a
batch fails on a constraint or a bad value, it is retried row by row inside savepoints, so the
good rows are written and each bad one is reported with the database's reason (and dead-lettered
by the integrator). The native fast paths (PostgreSQL COPY, LOAD DATA) come next.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from pdip.configuration import DatabaseConfig
from pdip.data.bulk import bulk_insert
from pdip.integrator.adapters.base import Adapter, Capabilities, ReadRequest, Source, Target, WriteResult
from pdip.integrator.batch import Batch
from pdip.integrator.errors import OperationError

KINDS = ("sql", "sqlite", "postgresql", "postgres", "mysql", "mariadb")
_DATABASE_KEYS = ("type", "host", "port", "database", "user", "password", "connection_string")

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


def engine_for(connection, context: Any) -> sa.Engine:
    """An engine for the connection's database (one per source or target; disposed at close)."""
    settings = connection.settings
    url = settings.get("url") or settings.get("connection_string")
    if not url:
        kind = connection.kind.lower()
        parts = {key: settings[key] for key in _DATABASE_KEYS if key in settings}
        parts.setdefault("type", kind if kind != "sql" else None)
        if not parts.get("type"):
            raise OperationError("a sql connection needs `url`, or `type` (sqlite, postgresql, mysql) and its parts")
        url = DatabaseConfig(**parts).url(getattr(context, "root", None))
    engine = sa.create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        sa.event.listen(engine, "connect", _sqlite_write_ahead_log)
    return engine


def _sqlite_write_ahead_log(dbapi_connection: Any, _: Any) -> None:
    """SQLite in WAL mode lets a source read a file while a target writes to it (SQLite to the
    same SQLite file), where the default journal would answer `database is locked`."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _table(engine: sa.Engine, connection, reflect: bool = True) -> sa.Table:
    name = connection.get("table")
    if not name:
        raise OperationError(f"a {connection.kind} connection needs `table` (or, for a source, `query`)")
    metadata = sa.MetaData(schema=connection.get("schema"))
    if not reflect:
        return sa.Table(name, metadata)
    try:
        return sa.Table(name, metadata, autoload_with=engine)
    except sa.exc.NoSuchTableError:
        raise OperationError(f"table {name!r} does not exist in {_shown(engine)}") from None


class SqlSource(Source):
    def __init__(self, connection, context):
        super().__init__(connection, context)
        self.engine = engine_for(connection, context)

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        query = self._query(request)
        read = 0
        with self.engine.connect().execution_options(stream_results=True, yield_per=request.batch_size) as connection:
            result = connection.execute(query)
            columns = list(result.keys())
            while rows := result.fetchmany(request.batch_size):
                read += len(rows)
                yield Batch(columns, [tuple(row) for row in rows], position=read)

    def _query(self, request: ReadRequest) -> sa.Select:
        text = self.connection.get("query")
        if text:  # the user's own SQL, wrapped so a cursor filter and order can be added
            source = sa.select(sa.literal_column("*")).select_from(sa.text(f"({text}) source_query"))
            if request.cursor is None:
                return source
            cursor = sa.literal_column(self.engine.dialect.identifier_preparer.quote(request.cursor))
        else:
            table = _table(self.engine, self.connection)
            columns = [table.c[name] for name in request.columns] if request.columns else [table]
            source = sa.select(*columns)
            if request.cursor is None:
                return source
            cursor = table.c[request.cursor]
        if request.after is not None:
            source = source.where(cursor > request.after)
        return source.order_by(cursor)

    def describe(self) -> str:
        what = self.connection.get("table") or "query"
        return f"{self.engine.dialect.name}:{what}"

    def close(self) -> None:
        self.engine.dispose()


class SqlTarget(Target):
    def __init__(self, connection, context):
        super().__init__(connection, context)
        self.engine = engine_for(connection, context)
        self.table: sa.Table | None = None

    def prepare(self, columns: Sequence[str], create: bool, truncate: bool) -> None:
        self._create = create
        self._columns = list(columns)
        self._truncate = truncate

    def write(self, batch: Batch) -> WriteResult:
        if self.table is None:
            self.table = self._ready(batch)
        rows = batch.rows
        if not rows:
            return WriteResult(0)
        with self.engine.connect() as connection:
            try:
                with connection.begin():
                    bulk_insert(connection, self.table, batch.columns, rows)
                return WriteResult(len(rows))
            except (sa.exc.SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error):
                records = [dict(zip(batch.columns, row, strict=True)) for row in rows]
                return self._row_by_row(connection, rows, records)

    def _row_by_row(self, connection, rows: list[tuple], records: list[dict]) -> WriteResult:
        """Find the rows the database refuses: write each in a savepoint, keep the good ones."""
        written, rejected = 0, []
        with connection.begin():
            for row, record in zip(rows, records, strict=True):
                try:
                    with connection.begin_nested():
                        connection.execute(self.table.insert(), [record])
                    written += 1
                except sa.exc.SQLAlchemyError as error:
                    rejected.append((row, _reason(error)))
        return WriteResult(written, rejected)

    def _ready(self, batch: Batch) -> sa.Table:
        """The target table: created from the first batch's columns and values when asked, emptied
        when asked; otherwise it must exist."""
        name, schema = self.connection.get("table"), self.connection.get("schema")
        if not name:
            raise OperationError(f"a {self.connection.kind} target needs `table`")
        inspector = sa.inspect(self.engine)
        exists = inspector.has_table(name, schema=schema)
        if not exists and not self._create:
            raise OperationError(
                f"table {name!r} does not exist in {_shown(self.engine)}; set create_target: true to create it"
            )
        if not exists:
            table = sa.Table(name, sa.MetaData(schema=schema), *_columns_for(batch))
            table.create(self.engine)
        else:
            table = _table(self.engine, self.connection)
        if self._truncate:
            with self.engine.begin() as connection:
                connection.execute(table.delete())
        return table

    def run(self, sql: str) -> None:
        with self.engine.begin() as connection:
            for statement in _statements(sql):
                connection.exec_driver_sql(statement)

    def describe(self) -> str:
        return f"{self.engine.dialect.name}:{self.connection.get('table') or 'statements'}"

    def close(self) -> None:
        self.engine.dispose()


def _columns_for(batch: Batch) -> list[sa.Column]:
    columns = []
    for index, name in enumerate(batch.columns):
        sample = next((row[index] for row in batch.rows if row[index] is not None), None)
        kind = next((sql_type for python_type, sql_type in _TYPES if isinstance(sample, python_type)), None)
        if kind is None:
            longest = max((len(str(row[index])) for row in batch.rows if row[index] is not None), default=0)
            kind = sa.String(255) if longest <= 255 else sa.Text()
        columns.append(sa.Column(name, kind))
    return columns


def _statements(sql: str) -> list[str]:
    """Statements separated by `;` at the end of a line (so `;` inside a string literal is safe)."""
    return [statement.strip() for statement in re.split(r";\s*(?:\n|$)", sql) if statement.strip()]


def _reason(error: sa.exc.SQLAlchemyError) -> str:
    original = getattr(error, "orig", None) or error
    return f"{type(original).__name__}: {str(original).strip().splitlines()[0]}"


def _shown(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


ADAPTER = Adapter(KINDS, SqlSource, SqlTarget, Capabilities(transactions=True))
