"""SQL databases as source and target: SQLite, PostgreSQL (psycopg 3) and MariaDB/MySQL (PyMySQL).

Settings: the database as `url` (a SQLAlchemy URL) or as the `DATABASE` parts (`type`, `host`,
`port`, `database`, `user`, `password`; the kind may stand for the type: `kind: postgresql`);
then `table` (and `schema`) or, for a source, `query`.

Each store's fastest path is used where it applies, with SQLAlchemy Core as the general path:
- PostgreSQL to PostgreSQL: binary `COPY` out and in, passed through undecoded (`postgres`);
  a CSV file's records go into `COPY ... CSV` as they are (`file_csv_raw`); other batches go in
  with a text `COPY`, the server parsing each value.
- SQLite file to SQLite file: each batch a range of the source table's rowids, copied by the
  target with one `INSERT ... SELECT` from the source's file attached (`sqlite`); the values as
  stored, one `executemany` per batch, for a read that is not in rowid order.
- MariaDB/MySQL: `LOAD DATA LOCAL INFILE` when allowed, multi-row `INSERT` otherwise (`mysql`).
- anything else: a server-side cursor where the driver has one; one `executemany`.
Every batch is written in one transaction with its position, when the integrator asks for it
(`position_slot`), so a resumed run skips exactly what is already there. When a batch fails on a
constraint or a bad value, the rows refused are found by halves, each half loaded the bulk way
inside a savepoint (a raw batch is decoded first): the good rows land and each bad one is
reported with the database's reason, to be dead-lettered. Identifiers are always quoted by the
dialect, never formatted raw. A read can be split into key ranges read in parallel and resumed
after its last durable batch (`partitions`); a created table takes the source's column types
(`tables`). A lost connection, a deadlock or a serialization failure refuses no row: it fails
the batch, which the integration tries again (`transient`, docs/adr/0029).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import os
import re
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from pdip.configuration import DatabaseConfig
from pdip.configuration.settings import Setting
from pdip.integrator.adapters.base import (
    Adapter,
    Capabilities,
    ReadRequest,
    Source,
    Target,
    WriteResult,
    partition_slot,
)
from pdip.integrator.adapters.sql import evolution, exact, mysql, partitions, postgres, replace, sqlite
from pdip.integrator.adapters.sql.dialects import as_sent, dialect_of
from pdip.integrator.adapters.sql.merge import (
    comparable,
    delete_keys,
    deleted,
    deletion_condition,
    fold,
    key_problems,
    merge_rows,
    merge_staged,
    on_conflict,
)
from pdip.integrator.adapters.sql.positions import (
    ensure_table,
    forget_positions,
    forget_positions_in,
    load_position,
    store_position,
)
from pdip.integrator.adapters.sql.tables import ColumnTypes, columns_for
from pdip.integrator.adapters.sql.transient import passes as transient_error
from pdip.integrator.batch import ARROW, Batch
from pdip.integrator.errors import OperationError, StoreUnreachableError
from pdip.integrator.state import commits_waiting, sqlite_write_ahead_log
from pdip.integrator.types import arrow_fields, driver_rows

CSV = "csv"  # CSV records as a file source hands them over (`file_csv_raw`)
# A value the driver cannot send refuses its row, not the run (sqlite3: an int beyond 64 bits).
_UNBINDABLE = OverflowError
_UNIQUE_VIOLATION = "23505"
KINDS = ("sql", "sqlite", "postgresql", "postgres", "mysql", "mariadb", "mssql", "oracle")
_DATABASE_KEYS = ("type", "host", "port", "database", "user", "password", "connection_string")
SETTINGS = (
    Setting("url", str, secret=True, help="a SQLAlchemy URL; or the parts below"),
    Setting("connection_string", str, secret=True, help="the same as `url`"),
    Setting("type", str, allowed=tuple(k for k in KINDS if k != "sql"), help="the database (kind `sql` only)"),
    Setting("host", str, default="127.0.0.1"),
    Setting("port", int, help="default: the database's"),
    Setting("database", str, help="the database's name; for SQLite a file (default: in memory)"),
    Setting("user", str),
    Setting("password", str, secret=True),
    Setting("table", str, help="the table read or written"),
    Setting("schema", str, help="the table's schema"),
    Setting("query", str, help="a source's SELECT, instead of `table`"),
)
_MYSQL = ("mysql", "mariadb")  # SQLAlchemy names MariaDB's dialect `mariadb` for mariadb:// URLs
_COMMITS_WITHOUT_WAITING = ("postgresql", "sqlite")  # dialects whose commits can return before the disk has them
_RAW_FORMATS = {"postgresql": (postgres.RAW_FORMAT, CSV), "sqlite": (sqlite.RANGE_FORMAT, sqlite.RAW_FORMAT)}


def engine_for(connection, context: Any, read_only: bool = False, **connect_args: Any) -> sa.Engine:
    """An engine for the connection's database (one per source or target; disposed at close).
    A SQLite file is opened `read_only` for a source (reading never changes it, not even its
    journal mode); a target's is switched to WAL mode (see `SqlTarget._commits`)."""
    settings = connection.settings
    url = settings.get("url") or settings.get("connection_string")
    if not url:
        kind = connection.kind.lower()
        parts = {key: settings[key] for key in _DATABASE_KEYS if key in settings}
        parts.setdefault("type", kind if kind != "sql" else None)
        if not parts.get("type"):
            raise OperationError("a sql connection needs `url`, or `type` (sqlite, postgresql, mysql) and its parts")
        url = DatabaseConfig(**parts).url(getattr(context, "root", None))
    url = sa.make_url(url)
    arguments = connect_args if url.get_backend_name() in _MYSQL else {}
    on_file = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    if on_file and read_only:
        return sa.create_engine(url, pool_pre_ping=True, creator=_read_only_sqlite(url.database))
    options = dialect_of(url.get_backend_name()).engine_options(url)
    engine = sa.create_engine(url, pool_pre_ping=True, connect_args=arguments, **options)
    if on_file:
        sa.event.listen(engine, "connect", sqlite_write_ahead_log)
    return engine


def _read_only_sqlite(path: str) -> Callable[[], sqlite3.Connection]:
    """Connections to the SQLite file at `path` that cannot write to it (`mode=ro`); a reader
    waits up to 15 s for a writer of the same file, as the WAL setup's busy timeout does."""
    absolute = os.path.abspath(path)
    uri = f"file:{urllib.parse.quote(absolute)}?mode=ro"

    def connect() -> sqlite3.Connection:
        if not os.path.isfile(absolute):  # SQLite would only say "unable to open database file"
            raise OperationError(f"SQLite file {absolute} does not exist (a source is read, never created)")
        return sqlite3.connect(uri, uri=True, timeout=15, check_same_thread=False)

    return connect


def _table(engine: sa.Engine, connection) -> sa.Table:
    name = connection.get("table")
    if not name:
        raise OperationError(f"a {connection.kind} connection needs `table` (or, for a source, `query`)")
    try:
        return reflected(engine, name, connection.get("schema"))
    except sa.exc.NoSuchTableError:
        raise OperationError(f"table {name!r} does not exist in {shown_url(engine)}") from None


def reflected(engine: sa.Engine, name: str, schema: str | None) -> sa.Table:
    """The table `schema.name` as the database describes it, its columns typed as they are meant."""
    metadata = sa.MetaData(schema=schema)
    return sa.Table(name, metadata, autoload_with=engine, listeners=[("column_reflect", _reflected_as_meant)])


def _reflected_as_meant(inspector: sa.Inspector, table: sa.Table, column: dict[str, Any]) -> None:
    """A floating-point column is read as floats: SQLAlchemy reflects MySQL's DOUBLE and REAL as
    decimals rounded to 10 places, which would round and retype every value. MySQL's BOOLEAN is
    a TINYINT(1), reflected as an integer: it is read as booleans, as it was written; MariaDB's
    JSON is a LONGTEXT checked by `json_valid`, read as JSON."""
    kind = column["type"]
    if isinstance(kind, sa.Float) and kind.asdecimal:
        kind.asdecimal = False
    if inspector.dialect.name not in _MYSQL:
        return
    from sqlalchemy.dialects import mysql as mysql_types  # loaded with the dialect

    if isinstance(kind, mysql_types.TINYINT) and kind.display_width == 1:
        column["type"] = sa.Boolean()
    if isinstance(kind, mysql_types.LONGTEXT) and column["name"] in _json_checked(inspector, table):
        column["type"] = sa.JSON()


def _json_checked(inspector: sa.Inspector, table: sa.Table) -> set[str]:
    """The columns of a MariaDB table declared JSON (a `json_valid` check each), looked up once."""
    key = ("pdip_json_columns", table.schema, table.name)
    if key not in inspector.info_cache:
        query = sa.text(
            "SELECT check_clause FROM information_schema.check_constraints "
            "WHERE constraint_schema = COALESCE(:schema, DATABASE()) AND table_name = :table"
        )
        clauses = inspector.bind.execute(query, {"schema": table.schema, "table": table.name}).scalars()  # reflecting
        found = {match for clause in clauses for match in re.findall(r"json_valid\(`([^`]+)`\)", clause)}
        inspector.info_cache[key] = found
    return inspector.info_cache[key]


# -- reading ------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Read:
    """One read, planned: the SELECT, the columns it orders by (its position's key), where it
    resumes, and for a whole table read with nothing else, the table to COPY directly."""

    select: sa.Select
    order: list[str]
    rows_before: int
    types: ColumnTypes | None
    whole_table: str | None


class SqlSource(Source):
    replays_from_stored_position = True  # a crash's lost commits are read again after the target's position
    transient = staticmethod(transient_error)  # a lost connection, a deadlock (`sql.transient`)

    def __init__(self, connection, context):
        super().__init__(connection, context)
        self.engine = engine_for(connection, context, read_only=True)
        self._reflected: sa.Table | None = None

    def inherit(self, planner: Source) -> None:
        """The table `planner` reflected, when it reads the same one: a reader process then
        starts reading without reflecting it again on a connection of its own (a new server
        session answers SQLAlchemy's eight catalog queries in 0.06-0.12 s), just as the one
        source of the inline executor reflects it once."""
        if isinstance(planner, SqlSource) and planner.connection == self.connection and self._reflected is None:
            self._reflected = planner._reflected

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        plan = self._plan(request)
        dialect = self.engine.dialect.name
        own = [name for name in _raw_formats(self.engine) if name != CSV]  # this database's own fast paths
        raw = any(name in request.accept for name in own)
        with self.engine.connect() as connection:
            if dialect == "postgresql" and not plan.order:  # the same order again for a resume by OFFSET
                connection.exec_driver_sql("SET synchronize_seqscans = off")
            if raw and dialect == "postgresql":
                batches = self._copy_binary(connection, plan, request)
            elif bool(own) and ARROW in request.accept and dialect == "postgresql":
                batches = self._copy_binary(connection, plan, request, arrow=True)
            elif sqlite.RANGE_FORMAT in request.accept and self._in_rowid_order(connection, plan):
                order = [self._table().c[name] for name in plan.order]
                batches = sqlite.read_ranges(
                    connection,
                    plan.select,
                    self._table(),
                    order,
                    request.batch_size,
                    lambda columns: self._positions(plan, columns),
                )
            elif raw:
                batches = sqlite.read_values(
                    connection, plan.select, request.batch_size, lambda columns: self._positions(plan, columns)
                )
            else:
                batches = self._rows(connection, plan, request)
            with contextlib.closing(batches):  # a read stopped early ends its COPY before the connection
                for batch in batches:
                    batch.partition, batch.types = request.partition, plan.types
                    yield batch

    def _in_rowid_order(self, connection: sa.Connection, plan: _Read) -> bool:
        """Whether this read can go as rowid ranges: a table of a SQLite file (no `schema`, no
        `query`) read whole or in the order of its rowid."""
        on_file = self.engine.dialect.name == "sqlite" and self.engine.url.database not in (None, "", ":memory:")
        if not on_file or self.connection.get("query") or self.connection.get("schema"):
            return False
        return sqlite.rowid_order(connection, self._table(), plan.order)

    def _rows(self, connection: sa.Connection, plan: _Read, request: ReadRequest) -> Iterator[Batch]:
        streamed = connection.execution_options(stream_results=True, yield_per=request.batch_size)
        result = streamed.execute(plan.select)
        columns = list(result.keys())
        position = self._positions(plan, columns)
        count = 0
        while rows := result.fetchmany(request.batch_size):
            count += len(rows)
            yield Batch(columns, [tuple(row) for row in rows], position=position(count, rows[-1]))

    def _copy_binary(
        self, connection: sa.Connection, plan: _Read, request: ReadRequest, arrow: bool = False
    ) -> Iterator[Batch]:
        """Binary COPY rows: passed on undecoded, or (`arrow`) decoded into Arrow record batches
        of the columns' declared types, a column at a time (`copy_arrow`)."""
        sql = postgres.literal_sql(connection, plan.select)
        columns, oids = postgres.describe(connection, sql)
        position = self._positions(plan, columns)
        if plan.order:
            load = postgres.loader(oids)
            decoded = position
            position = lambda count, last: decoded(count, load.load_sequence(postgres.fields(last)))  # noqa: E731
        source = plan.whole_table or f"({sql})"
        statement = f"COPY {source} TO STDOUT (FORMAT BINARY)"
        made = postgres.raw_batch
        if arrow:
            from pdip.integrator.adapters.sql import copy_arrow  # numpy, for this path only

            fields = arrow_fields(plan.types, columns)
            made = lambda names, types, rows, at: Batch(  # noqa: E731
                names, arrow=copy_arrow.record_batch(rows, types, names, fields), position=at
            )
        yield from postgres.read_copy_binary(connection, statement, columns, oids, request.batch_size, position, made)

    @staticmethod
    def _positions(plan: _Read, columns: list[str]) -> Callable[[int, Sequence[Any]], Any]:
        keyed = plan.order and all(name in columns for name in plan.order)
        indexes = [columns.index(name) for name in plan.order] if keyed else None
        return partitions.positions(indexes, plan.rows_before)

    def schema(self, request: ReadRequest) -> ColumnTypes | None:
        """A table's columns as reflected (a query's are known only from its rows)."""
        return self._source(request)[2]

    def _plan(self, request: ReadRequest) -> _Read:
        select, column, types = self._source(request)
        conditions = self._conditions(request, column)
        nulls = bool(request.bounds and request.bounds.get("nulls"))  # NULL keys have no order to resume in
        order = ([request.cursor] if request.cursor else []) + [
            name for name in (request.key or []) if name != request.cursor and not nulls
        ]
        if not order and request.bounds and not nulls:
            order = [request.bounds["column"]]
        key_values, rows_before = partitions.resume_point(request.resume)
        if key_values is not None and order:
            row_values = dialect_of(self.engine.dialect.name).row_values
            conditions.append(partitions.after([column(name) for name in order], key_values, row_values))
        whole_table = None
        if not conditions and not order and not rows_before and types is not None:
            names = ", ".join(_quote(self.engine, name) for name in _names(select))
            whole_table = as_sent(self.engine.dialect, f"{self._quoted_table()} ({names})")  # COPY takes it as it is
        if conditions:
            select = select.where(*conditions)
        if order:
            select = select.order_by(*[column(name) for name in order])
        if rows_before and (key_values is None or not order):
            if not order and dialect_of(self.engine.dialect.name).offset_needs_order:  # pragma: no cover - SQL Server
                select = select.order_by(sa.text("(SELECT NULL)"))  # the order the table gives, as unordered
            select = select.offset(rows_before)
        return _Read(select, order, rows_before, types, whole_table)

    def _source(self, request: ReadRequest) -> tuple[sa.Select, Callable[[str], sa.ColumnElement], ColumnTypes | None]:
        """The SELECT of what this source reads, how to name one of its columns, and its types."""
        text = self.connection.get("query")
        if text:  # the user's own SQL, wrapped so filters and an order can be added
            select = sa.select(sa.literal_column("*")).select_from(sa.text(f"({text}) source_query"))
            return select, lambda name: sa.literal_column(as_sent(self.engine.dialect, _quote(self.engine, name))), None
        table = self._table()

        def column(name: str) -> sa.Column:
            if name not in table.c:
                known = ", ".join(table.c.keys())
                raise OperationError(f"table {table.name!r} has no column {name!r} (its columns: {known})")
            return table.c[name]

        columns = [column(name) for name in request.columns] if request.columns else list(table.c)
        names = tuple(item.name for item in columns)
        types = ColumnTypes(self.engine.dialect.name, tuple(item.type for item in columns), names)
        return sa.select(*columns), column, types

    @staticmethod
    def _conditions(request: ReadRequest, column: Callable[[str], sa.ColumnElement]) -> list[sa.ColumnElement]:
        conditions = []
        if request.cursor is not None and request.after is not None:
            conditions.append(column(request.cursor) > request.after)
        if request.bounds:
            conditions.append(partitions.within(column(request.bounds["column"]), request.bounds))
        return conditions

    def partitions(self, request: ReadRequest, count: int) -> list[ReadRequest]:
        """Up to `count` key ranges of an integer key (the integration's first `key` column, or
        a table's one-column primary key), and one more for its NULLs if it has any; the whole
        read when there is no such key."""
        name = self._partition_key(request)
        if count <= 1 or name is None or self._copied_by_target(request, name):
            return [request]
        select, column, _ = self._source(dataclasses.replace(request, columns=None))
        key = column(name)
        low_high = sa.select(sa.func.min(key), sa.func.max(key))
        has_null = sa.select(sa.literal(1)).where(key.is_(None)).limit(1)
        if self.connection.get("query"):
            low_high = low_high.select_from(select.get_final_froms()[0])
            has_null = has_null.select_from(select.get_final_froms()[0])
        conditions = self._conditions(request, column)
        if conditions:
            low_high, has_null = low_high.where(*conditions), has_null.where(*conditions)
        with self.engine.connect() as connection:
            low, high = connection.execute(low_high).one()
            if not (partitions.is_integer(low) and partitions.is_integer(high)):
                return [request]
            nulls = getattr(key, "nullable", True) and connection.execute(has_null).first() is not None
        bounds = [{"column": name, "low": start, "high": stop} for start, stop in partitions.split(low, high, count)]
        if nulls:
            bounds.append({"column": name, "nulls": True})
        return [
            dataclasses.replace(request, partition=f"{index}/{len(bounds)}", bounds=part)
            for index, part in enumerate(bounds, start=1)
        ]

    def _copied_by_target(self, request: ReadRequest, name: str) -> bool:
        """Whether the key ranges would go as rowid ranges, which the target copies itself: more
        readers would only walk rowids beside the one writer that does the work, so it stays whole."""
        return self.light_to_read(dataclasses.replace(request, bounds={"column": name, "low": None, "high": None}))

    def light_to_read(self, request: ReadRequest) -> bool:
        """Whether the read goes as rowid ranges (the target copies them itself, the reader only
        walks rowids); a table that is not there says no, and reading it reports that."""
        if sqlite.RANGE_FORMAT not in request.accept:
            return False
        try:
            plan = self._plan(request)
        except OperationError:
            return False
        with self.engine.connect() as connection:
            return self._in_rowid_order(connection, plan)

    def _partition_key(self, request: ReadRequest) -> str | None:
        if request.key:
            return request.key[0]
        if self.connection.get("query"):
            return None
        primary = list(self._table().primary_key.columns)
        return primary[0].name if len(primary) == 1 else None

    def _table(self) -> sa.Table:
        if self._reflected is None:
            self._reflected = _table(self.engine, self.connection)
        return self._reflected

    def _quoted_table(self) -> str:
        return _qualified(self.engine, self.connection.get("schema"), self.connection.get("table"))

    def describe(self) -> str:
        what = self.connection.get("table") or "query"
        return f"{self.engine.dialect.name}:{what}"

    def close(self) -> None:
        self.engine.dispose()


# -- writing ------------------------------------------------------------------------------------


class SqlTarget(Target):
    transient = staticmethod(transient_error)  # a lost connection, a deadlock (`sql.transient`)

    def __init__(self, connection, context):
        super().__init__(connection, context)
        self.engine = engine_for(connection, context, local_infile=True)
        self.table: sa.Table | None = None
        self._create = self._truncate = False
        self._pass_through: dict[tuple, bool] = {}
        self._checks: dict[tuple, tuple] = {}  # per table and batch shape: what `exact` looks at
        self._fitting: dict[tuple, Callable[[Batch], evolution.Fitted]] = {}  # by (columns, types)
        self._synced = False  # a first batch was committed the durable way (see `_commits`)
        self._unflushed = False  # a later one was not (`_commits`): `finish` flushes it
        self._stored: tuple[str, Any] | None = None  # the last position stored: its slot and value
        self._loader = mysql.Loader() if self.engine.dialect.name in _MYSQL else None
        self._key: tuple[str, ...] | None = None  # `write: merge`: the columns rows are upserted by
        self._deletion: str | None = None  # PostgreSQL's condition for `delete_column`
        self._only_new_keys = True  # PostgreSQL: no batch merged so far met a key already there
        self._stage: str | None = None  # `write: replace`: the table loaded, swapped in at `finish`
        self._resumed = False  # `write: replace`: the stage holds the rows of a run being resumed

    def accepts(self) -> tuple[str, ...]:
        return _raw_formats(self.engine)

    def prepare(self, columns: Sequence[str], create: bool, truncate: bool, types: Any = None) -> None:
        """Remember what to do; the table is made ready with the first batch, or here, from the
        source's declared `types`, when no batch comes (an empty source)."""
        self._create = create
        self._columns = list(columns)
        self._truncate = truncate
        if self.position_slot is not None:
            ensure_table(self.engine)
        if types is not None and self._columns and (create or truncate):
            self.table = self._ready(Batch(self._columns, [], types=types))

    def durable_position(self, slot: str) -> Any:
        """The position stored under `slot`; when replacing, only while the table being loaded is
        still there (once swapped in, a resume loads it all again)."""
        position = load_position(self.engine, slot)
        if position is not None and self.disposition.write == "replace":
            if not replace.exists(self.engine, self._staged_name(), self.connection.get("schema")):
                return None
            self._resumed = True
        return position

    def forget_positions(self, slot: str) -> None:
        forget_positions(self.engine, slot)

    def write(self, batch: Batch) -> WriteResult:
        if self.table is None:
            self.table = self._ready(batch)
        fitted = self._fitted(batch)
        search = self._searched_while_copying(fitted.batch)
        batch, changed = (fitted.batch, []) if search else self._exact(fitted.batch)
        told = fitted.told(WriteResult(0, changed))  # what fitting did, and the rows refused before writing
        unreported = self.refusing(told.rejected)  # handed over before anything is committed
        try:
            result = self._write(self._driver_values(self._instants_in_utc(batch)), fitted.as_read, search)
        except postgres.CopyAbandoned:  # the search found what a check looks for: nothing was written
            batch, changed = self._exact(fitted.batch)
            unreported += self.refusing(fitted.as_read(changed))
            result = self._write(self._driver_values(self._instants_in_utc(batch)), fitted.as_read)
        told.written, told.rejected = result.written, result.rejected + unreported
        return told

    def _write(
        self, batch: Batch, as_read: Callable[[list], list], search: Callable[[], bool] | None = None
    ) -> WriteResult:
        """Write the batch with its position in one transaction; when the database refuses it,
        find the rows it refuses and write the others (`_row_by_row`). `as_read`: refused rows
        in the terms of the batch as read; `search`: the checks' search of CSV records not made
        yet (`_searched_while_copying`), which abandons the write when it finds."""
        waits = not (self._synced and self.source_replays)
        with self.engine.connect() as connection, self._commits(connection, waits):
            try:
                result = WriteResult(self._in_one_transaction(connection, batch, waits, search=search))
            except (sa.exc.SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error, _UNBINDABLE) as error:
                if transient_error(error):  # not the rows' fault: the integration tries the batch again
                    raise
                if search is not None and search():  # the COPY failed before the search: the checks first
                    raise postgres.CopyAbandoned(self.table.name) from error
                result = self._row_by_row(connection, batch, waits, as_read)
        self._synced = True
        self._unflushed |= not waits and self.engine.dialect.name in _COMMITS_WITHOUT_WAITING
        return result

    def _in_one_transaction(
        self,
        connection: sa.Connection,
        batch: Batch,
        waits: bool,
        write_rows: Callable[[], None] | None = None,
        search: Callable[[], bool] | None = None,
    ) -> int:
        """Write the batch and store its position in one transaction (its rows by `write_rows`
        when given, else in bulk, asking `search` during a CSV COPY); the rows written."""
        with connection.begin():
            if not waits and self.engine.dialect.name == "postgresql":
                _execute(connection, "SET LOCAL synchronous_commit = off")
            copied = None  # rows a copy inside the database wrote, when it says
            if write_rows is not None:
                write_rows()
            elif len(batch) and self._key is not None:
                copied = self._merge(connection, batch)
            elif len(batch):
                copied = self._load(connection, batch, search=search)
            self._store_position(connection, batch)
        return len(batch) if copied is None else copied

    def _exact(self, batch: Batch) -> tuple[Batch, list[tuple[tuple, str]]]:
        """The rows whose values the table would store as given, and the others refused with the
        reason (`exact`: a decimal rounded, a time zone dropped...). A raw batch is decoded only
        when one of its values may be changed: never between tables whose declared types say it
        cannot be, and a CSV batch only when its text holds what a check looks for. The checks
        are made once per table and batch shape (columns, declared or wire types)."""
        checks, *searched = self._checks_of(batch)
        if not checks or (batch.raw_format == CSV and not _text_may_change(batch.payload, *searched)):
            return batch, []
        kept, refused = exact.refused(batch.rows, checks)
        if not refused:
            return batch, []
        return Batch(
            batch.columns, kept, position=batch.position, types=batch.types, partition=batch.partition
        ), refused + _unread(batch)

    def _checks_of(self, batch: Batch) -> tuple[list, re.Pattern[bytes] | None, bool, Callable[[bytes], bool] | None]:
        """The `exact` checks of the batch's columns, with what to search CSV text for (a number
        of more places, a time zone, a number of more digits), made once per table and batch shape."""
        declared = batch.types  # a SQL source's ColumnTypes, an Arrow source's schema, or None
        wire = tuple(batch.layout) if declared is None and batch.raw_format == postgres.RAW_FORMAT else None
        # an Arrow schema by its types alone: its repr holds its metadata (pandas writes kilobytes)
        arrow = declared is not None and not isinstance(declared, ColumnTypes)
        shape = tuple(map(str, declared.types)) if arrow else repr(declared)
        key = (self.table, tuple(batch.columns), shape, wire, batch.raw_format)
        if key not in self._checks:
            if wire is not None:
                declared = postgres.declared_by_oids(batch.columns, wire)
            checks = exact.column_checks(self.table, batch.columns, self.engine.dialect, declared)
            self._checks[key] = (
                checks,
                exact.more_places(checks),
                exact.zone_in_text(checks),
                exact.more_digits(checks),
            )
        return self._checks[key]

    def _searched_while_copying(self, batch: Batch) -> Callable[[], bool] | None:
        """For CSV records appended to PostgreSQL by COPY: the checks' search of their text
        (`_text_may_change`), to be made while the server parses them rather than before it has
        them; when it finds, the COPY is abandoned and the batch checked as `_exact` says. None
        for any other batch, checked first."""
        if batch.raw_format != CSV or self.engine.dialect.name != "postgresql" or self._key is not None:
            return None
        checks, *searched = self._checks_of(batch)
        return functools.partial(_text_may_change, batch.payload, *searched) if checks else None

    def _instants_in_utc(self, batch: Batch) -> Batch:
        """MySQL's and SQLite's datetimes, and PostgreSQL's `timestamp` (without time zone), keep
        the wall-clock time given (PostgreSQL drops the offset of the text `COPY` is given): an
        aware datetime is stored as its instant in UTC (what a naive one read back means), never
        as its local time, which would shift it by its offset. SQLite's date and time columns
        take text as the ISO 8601 value it spells (`exact` refused any other text)."""
        dialect = self.engine.dialect.name
        if batch.is_raw or dialect not in (*_MYSQL, "sqlite", "postgresql"):
            return batch
        columns, sqlite = self.table.c, dialect == "sqlite"
        kinds = {
            index: columns[name].type
            for index, name in enumerate(batch.columns)
            if name in columns and _without_zone(columns[name].type, dialect)
        }
        if not kinds:
            return batch
        rows = batch.rows
        if not any(_aware(row[index]) or (sqlite and isinstance(row[index], str)) for index in kinds for row in rows):
            return batch
        utc = [
            tuple(_ready_time(kinds[index], value) if index in kinds else value for index, value in enumerate(row))
            for row in rows
        ]
        return batch.with_values(utc)

    def _driver_values(self, batch: Batch) -> Batch:
        """JSON and UUID values in the terms of the table's columns (`types.driver_rows`)."""
        if batch.is_raw:
            return batch
        rows = driver_rows(batch.columns, batch.rows, self.table, self.engine.dialect.name)
        return batch if rows is batch.rows else batch.with_values(rows)

    @contextlib.contextmanager
    def _commits(self, connection: sa.Connection, waiting: bool) -> Iterator[None]:
        """Whether the connection's commits wait for the disk. The first batch's commit waits, as
        usual; the later ones return before the disk has them when the source reads again after
        the stored position (`Target.source_replays`): PostgreSQL `synchronous_commit = off` for
        the batch's transaction, SQLite the `synchronous=NORMAL` of its WAL mode, which every
        file the integrator writes opens with (`state.sqlite_write_ahead_log`), so a commit that
        waits is made with `synchronous=FULL`. A crash of the server or of the machine can then
        lose the last batches, but each whole with its position and never the first position, so
        a resumed run starts right after what is really there; a killed pdip loses nothing. The
        run's end waits for all of them (`_flushed`)."""
        if not waiting:
            yield
            return
        with commits_waiting(connection):
            yield

    def _load(
        self, connection: sa.Connection, batch: Batch, into: str | None = None, search: Callable[[], bool] | None = None
    ) -> int | None:
        """Append the batch to the target (or, on PostgreSQL, to the table `into`); how many rows
        went in when the database copied them itself (a SQLite rowid range), else None. `search`
        is asked while CSV records are copied (`postgres.copy_csv`)."""
        dialect = self.engine.dialect.name
        target = into or self._target()
        if batch.raw_format == postgres.RAW_FORMAT and self._passes_through(connection, batch):
            postgres.write_copy_binary(connection, target, self._names(batch.columns), batch.payload)
        elif batch.raw_format == CSV and dialect == "postgresql":
            postgres.copy_csv(connection, target, self._names(batch.columns), batch.payload, batch.layout, search)
        elif batch.raw_format == sqlite.RANGE_FORMAT and dialect == "sqlite":
            return sqlite.copy_range(connection, target, self._names(batch.columns), batch)
        elif batch.raw_format == sqlite.RAW_FORMAT and dialect == "sqlite":
            statement = sqlite.insert_statement(connection, target, batch.columns)
            sqlite.write_values(connection, statement, batch.rows)
        elif self._copies(connection):
            postgres.copy_rows(connection, target, self._names(batch.columns), batch.rows)
        elif self._loader is not None:
            self._loader.load(connection, self.table, batch.columns, batch.rows)
        else:
            dialect_of(dialect).insert(connection, self.table, batch.columns, batch.rows)

    def _merge(self, connection: sa.Connection, batch: Batch) -> int | None:
        """Upsert the batch by key (see `merge`): on PostgreSQL `COPY`ed into a temporary table
        and applied from there; a SQLite rowid range without `delete_column` copied inside the
        database as an append is, by one `INSERT ... SELECT ... ON CONFLICT` (how many rows it
        copied is returned, as `_load` does); elsewhere folded here and written in bulk."""
        key, flag = self._key, self.disposition.delete_column
        missing = [column for column in (*key, *([flag] if flag else [])) if column not in batch.columns]
        if missing:
            raise OperationError(
                f"integration {self.disposition.integration!r}: write: merge: the rows read have no column "
                f"{', '.join(missing)}"
            )
        if batch.raw_format == sqlite.RANGE_FORMAT and self.engine.dialect.name == "sqlite" and flag is None:
            conflict = on_conflict(connection.dialect.identifier_preparer.quote, key, batch.columns)
            return sqlite.copy_range(connection, self._target(), self._names(batch.columns), batch, conflict)
        if self._copies(connection):
            if flag is None and self._only_new_keys and self._appended(connection, batch):
                return None
            names = self._names(batch.columns)
            stage = f"CREATE TEMPORARY TABLE pdip_merge ON COMMIT DROP AS SELECT {names} FROM {self._target()}"
            _execute(connection, f"{stage} WITH NO DATA")
            self._load(connection, batch, into="pdip_merge")
            compare = comparable(self.table, batch.columns)
            merges = connection.dialect.server_version_info >= (15,)  # `MERGE` came with PostgreSQL 15
            merge_staged(connection, self._target(), "pdip_merge", batch.columns, key, self._deletion, compare, merges)
            return None
        rows, removed = fold(batch.columns, batch.rows, key, flag)
        if removed:
            delete_keys(connection, self.table, key, removed)
        if sqlite.holds_stored_values(batch) and self.engine.dialect.name == "sqlite":
            sqlite.write_values(connection, self._upsert_text(connection, batch.columns, "?"), rows)
        elif self._loader is not None and self._loader.allowed and rows:
            self._loader.merge(connection, self.table, batch.columns, rows, key)
        else:
            merge_rows(connection, self.table, key, batch.columns, rows)
        return None

    def _appended(self, connection: sa.Connection, batch: Batch) -> bool:
        """PostgreSQL: a batch whose keys are all new goes straight in, as fast as an append (a
        first load); the first batch that meets a key already there (or twice) is undone and
        merged, and so are all later ones."""
        try:
            with connection.begin_nested():
                self._load(connection, batch)
            return True
        except self.engine.dialect.loaded_dbapi.IntegrityError as error:
            if getattr(error, "sqlstate", None) != _UNIQUE_VIOLATION:
                raise
            self._only_new_keys = False
            return False

    def _upsert_text(self, connection: sa.Connection, columns: Sequence[str], mark: str) -> str:
        """SQLite's and PostgreSQL's upsert of one row, as SQL text for the driver (`mark`: its
        placeholder; with `%s`, a `%` in a name is doubled so it is not taken for one)."""
        quote = connection.dialect.identifier_preparer.quote
        into = f"INSERT INTO {self._target()} ({self._names(columns)}) VALUES"
        return f"{into} ({', '.join([mark] * len(columns))}) {on_conflict(quote, self._key, columns)}"

    @staticmethod
    def _copies(connection: sa.Connection) -> bool:
        return connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg"

    def _passes_through(self, connection: sa.Connection, batch: Batch) -> bool:
        """Binary COPY data goes in as it is only into columns of the very same types."""
        if self.engine.dialect.name != "postgresql":
            return False
        key = (tuple(batch.columns), tuple(batch.layout))
        if key not in self._pass_through:
            target = postgres.column_oids(connection, self._target(), self._names(batch.columns))
            self._pass_through[key] = postgres.compatible(batch.layout, target)
        return self._pass_through[key]

    def _store_position(self, connection: sa.Connection, batch: Batch) -> None:
        if self.position_slot is None:
            return
        self._stored = (partition_slot(self.position_slot, batch.partition), batch.position)
        store_position(connection, *self._stored)

    def _row_by_row(
        self, connection: sa.Connection, batch: Batch, waits: bool, as_read: Callable[[list], list]
    ) -> WriteResult:
        """Find the rows the database refuses in a transaction that is then rolled back (by
        halves, `_kept_of`); hand them over (`Target.refusing`) while nothing of the batch is
        committed and no lock is held (the state database that stores them may be this SQLite
        file); then write the others as they went in, in one transaction with the batch's
        position. A raw batch is decoded first; what its decoder could not make a row of is
        refused too, and the rows left are tried whole first (they may all go in)."""
        rows = batch.rows
        rejected = _unread(batch)
        one = self._one_row(connection, batch)
        bulk = self._bulk_rows(connection, batch)
        with connection.begin() as trial:
            sqlite.savepoints_nest(connection)
            parts = _joined(self._kept_of(connection, rows, bulk, one, rejected, tried=not rejected))
            trial.rollback()
        unreported = self.refusing(as_read(rejected))
        kept = [row for part in parts for row in part]
        rest = Batch(batch.columns, kept, position=batch.position, types=batch.types, partition=batch.partition)

        def again() -> None:  # each part the way it went in: a single row's INSERT may take what COPY does not
            for part in parts:
                bulk(part) if len(part) > 1 else one(part[0])

        return WriteResult(self._in_one_transaction(connection, rest, waits, again), unreported)

    def _kept_of(
        self,
        connection: sa.Connection,
        rows: list,
        bulk: Callable[[list], None],
        one: Callable[[Sequence[Any]], Any],
        rejected: list,
        tried: bool = False,
    ) -> list[list]:
        """The rows of `rows` the database takes, in the parts they went in by, each refused one
        added to `rejected` with its reason: the rows go in by `bulk` in a savepoint; when
        refused (or known to be, `tried`) each half is tried the same way, so finding b refused
        rows among n costs about 2 b log2(n) savepoints, each a bulk load. A single row goes in
        by `one`, whose error is the database's reason for that row (LOAD DATA's would only
        count warnings). The parts that go in stay in, under the caller's transaction."""
        if not rows:
            return []
        if not tried:
            try:
                with connection.begin_nested():
                    bulk(rows) if len(rows) > 1 else one(rows[0])
                return [list(rows)]
            except (sa.exc.SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error, _UNBINDABLE) as error:
                if transient_error(error):
                    raise
                if len(rows) == 1:
                    rejected.append((tuple(rows[0]), error_reason(error)))
                    return []
        middle = (len(rows) + 1) // 2
        first = self._kept_of(connection, rows[:middle], bulk, one, rejected)
        return first + self._kept_of(connection, rows[middle:], bulk, one, rejected)

    def _bulk_rows(self, connection: sa.Connection, batch: Batch) -> Callable[[list], None]:
        """How rows of the batch go in all at once, once it is decoded: the target's bulk path
        for rows (`_load`: text COPY, LOAD DATA, executemany), SQLite's stored values as they
        are; a merge's rows each by `_one_merged` (its statements are per row already)."""
        if self._key is not None:
            merged = self._one_merged(connection, batch)

            def each(rows: list) -> None:
                for row in rows:
                    merged(row)

            return each
        if sqlite.holds_stored_values(batch) and self.engine.dialect.name == "sqlite":
            statement = sqlite.insert_statement(connection, self._target(), batch.columns)
            return functools.partial(sqlite.write_values, connection, statement)
        return lambda rows: self._load(connection, Batch(batch.columns, rows, types=batch.types))

    def _one_row(self, connection: sa.Connection, batch: Batch) -> Callable[[Sequence[Any]], Any]:
        """How one row goes in: through the driver as it is for SQLite's stored values and for
        PostgreSQL (which parses text for its column, as COPY does), else through SQLAlchemy."""
        dialect = self.engine.dialect.name
        if self._key is not None:
            return self._one_merged(connection, batch)
        if sqlite.holds_stored_values(batch) and dialect == "sqlite":
            statement = sqlite.insert_statement(connection, self._target(), batch.columns)
            return lambda row: connection.exec_driver_sql(statement, tuple(row))
        if dialect == "postgresql" and connection.dialect.driver == "psycopg":
            marks = ", ".join(["%s"] * len(batch.columns))
            statement = f"INSERT INTO {self._target()} ({self._names(batch.columns)}) VALUES ({marks})"
            return lambda row: connection.exec_driver_sql(statement, tuple(row))
        return lambda row: connection.execute(self.table.insert(), [dict(zip(batch.columns, row, strict=True))])

    def _one_merged(self, connection: sa.Connection, batch: Batch) -> Callable[[Sequence[Any]], Any]:
        """How one row is merged: its key deleted when its `delete_column` is set, else upserted."""
        key, columns, flag = self._key, batch.columns, self.disposition.delete_column
        if sqlite.holds_stored_values(batch) and self.engine.dialect.name == "sqlite":
            statement = self._upsert_text(connection, columns, "?")
            write = lambda row: connection.exec_driver_sql(statement, tuple(row))  # noqa: E731
        elif self._copies(connection):
            statement = self._upsert_text(connection, columns, "%s")
            write = lambda row: connection.exec_driver_sql(statement, tuple(row))  # noqa: E731
        else:
            write = lambda row: merge_rows(connection, self.table, key, columns, [row])  # noqa: E731
        indexes = [columns.index(column) for column in key]
        flagged = columns.index(flag) if flag else None

        def one(row: Sequence[Any]) -> None:
            if flagged is not None and deleted(row[flagged]):
                delete_keys(connection, self.table, key, [tuple(row[index] for index in indexes)])
            else:
                write(row)

        return one

    def _ready(self, batch: Batch) -> sa.Table:
        """The target table: created from the source's column types (or, lacking them, the first
        batch's values) when asked, emptied when asked; otherwise it must exist. What `check`
        finds refuses the run here, before any row is written or the table created."""
        table = self._existing(self.engine)
        if table is None:
            _refuse(self._problems(self.engine, None, self._create))
            self._create_table(batch)
            table = _table(self.engine, self.connection)
        if self._truncate:
            self._refuse_frozen(table, batch)  # a table the run may not change is not emptied either
            self._empty(table)
        write = self.disposition.write
        if write == "merge":
            self._key, problems = self._merge_problems(self.engine, table)  # a table just created too
            _refuse(problems)
            flag = self.disposition.delete_column
            quote = self.engine.dialect.identifier_preparer.quote
            self._deletion = deletion_condition(quote, table.c[flag]) if flag else None
        elif write == "replace":
            table = self._replacing(table)
        return table

    def check(self, create: bool) -> list[str]:
        """What would stop the first batch, looked up in the database without changing it, by the
        checks the run makes (`_problems`): the table missing, no usable key to merge by, no
        `delete_column`. A SQLite file that is not there holds no table (and is not created);
        others are opened read-only. Raises `StoreUnreachableError` when the database cannot be
        reached or asked (its reason, the password hidden)."""
        database = self.engine.url.database
        on_file = self.engine.dialect.name == "sqlite" and database not in (None, "", ":memory:")
        if on_file and not os.path.isfile(database):  # connecting would create it
            return self._problems(self.engine, None, create)
        engine = engine_for(self.connection, self.context, read_only=True)
        try:
            return self._problems(engine, self._existing(engine), create)
        except OperationError as error:  # no `table`
            return list(error.problems)
        except sa.exc.SQLAlchemyError as error:
            raise StoreUnreachableError(f"{shown_url(engine)}: {error_reason(error)}") from None
        finally:
            engine.dispose()

    def _existing(self, engine: sa.Engine) -> sa.Table | None:
        """The target table as the database describes it; None when it is not there."""
        name, schema = self.connection.get("table"), self.connection.get("schema")
        if not name:
            raise OperationError(f"a {self.connection.kind} target needs `table`")
        if not sa.inspect(engine).has_table(name, schema=schema):
            return None
        return reflected(engine, name, schema)

    def _problems(self, engine: sa.Engine, table: sa.Table | None, create: bool) -> list[str]:
        """What stops the integration's rows going into `table` (None: not there) as its `write`
        says: the one check of a run (`_ready`) and of `pdip validate` (`check`)."""
        name = self.connection.get("table")
        disposition = self.disposition
        if table is not None:
            return self._merge_problems(engine, table)[1] if disposition.write == "merge" else []
        if not create:
            return [f"table {name!r} does not exist in {shown_url(engine)}; set create_target: true to create it"]
        if disposition.write == "merge" and not disposition.key:
            return [
                f"integration {disposition.integration!r}: write: merge needs a key: table {name!r} does not exist, "
                "and the table created for it would have no primary key; name its key columns with key: [...]"
            ]
        return []

    def _merge_problems(self, engine: sa.Engine, table: sa.Table) -> tuple[tuple[str, ...], list[str]]:
        """The key a merge into `table` upserts by, and what makes the merge impossible there."""
        disposition = self.disposition
        where = f"integration {disposition.integration!r}: write: merge"
        key, problems = key_problems(engine, table, disposition.key, where)
        flag = disposition.delete_column
        if flag is not None and flag not in table.c:
            problems.append(
                f"integration {disposition.integration!r}: delete_column: table {table.name!r} has no column "
                f"{flag!r} (the flag is kept with the rows it does not delete)"
            )
        return key, problems

    def _replacing(self, table: sa.Table) -> sa.Table:
        """The table a replacing run loads (the target's twin, empty), kept when resuming; rows
        and positions go there until `finish` swaps it in."""
        name, schema = self._staged_name(), self.connection.get("schema")
        if not self._resumed or not replace.exists(self.engine, name, schema):
            replace.create_twin(self.engine, table, name)
        self._stage = name
        return reflected(self.engine, name, schema)

    def _staged_name(self) -> str:
        return replace.stage_name(self.connection.get("table"))

    def finish(self) -> None:
        """The batches are on disk before the run says it finished (`_flushed`). `write:
        replace`: the loaded table takes the target's place, in one step; the positions of this
        run go with the old table (a resume after this loads everything again)."""
        self._flushed()
        if self.disposition.write != "replace":
            return
        if self.table is None:  # nothing came, and the source declared no columns
            self.table = self._ready(Batch(self._columns, []))
        slot = self.position_slot
        replace.swap(
            self.engine, self.table, self.connection.get("table"), lambda c: slot and forget_positions_in(c, slot)
        )

    def _flushed(self) -> None:
        """The batches committed without waiting for the disk get there now, or a crash of the
        server or of the machine just after a run that said "finished" could take its last
        batches back. The last position is stored again by a transaction whose commit waits: the
        WAL is flushed up to it, theirs included. (A PostgreSQL transaction that writes nothing,
        even one given an id, commits without waiting.)"""
        if self._unflushed and self._stored is not None:
            with self.engine.connect() as connection, self._commits(connection, waiting=True):
                with connection.begin():
                    store_position(connection, *self._stored)
            self._unflushed = False

    def _fitted(self, batch: Batch) -> evolution.Fitted:
        """The batch as the table takes it: a source column the table lacks, or a wider source
        type, dealt with as the integration's `schema` says (`evolution`); the same columns and
        types are looked at once."""
        seen = (tuple(batch.columns), repr(batch.types))
        if seen in self._fitting:
            return self._fitting[seen](batch)
        found = evolution.difference(self.table, batch.columns, batch.types, self.engine.dialect)
        if not found:
            self._fitting[seen] = evolution.Fitted
            return evolution.Fitted(batch)
        choice, chosen_by = self._schema_choice()
        evolution.refuse(found, self.table.name, choice, chosen_by, widened_too=self.schema_changes is not None)
        if choice == "evolve":
            changes = evolution.evolve(self.engine, self.table, found, batch)
            # the target, or the twin a replacing run loads
            self.table = reflected(self.engine, self.table.name, self.table.schema)
            return evolution.Fitted(batch, changes=changes)
        # a wider type is not widened (what the column cannot hold is refused by the database)
        fit = evolution.FITS[choice] if found.added else None  # freeze refused added columns above
        self._fitting[seen] = functools.partial(fit, lacking=found.added) if fit else evolution.Fitted
        return self._fitting[seen](batch)

    def _refuse_frozen(self, table: sa.Table, batch: Batch) -> None:
        found = evolution.difference(table, batch.columns, batch.types, self.engine.dialect)
        evolution.refuse(found, table.name, *self._schema_choice(), widened_too=self.schema_changes is not None)

    def _schema_choice(self) -> tuple[str, str]:
        """The integration's `schema`, or the default: evolve a table pdip created, freeze another."""
        if self.schema_changes is not None:
            return self.schema_changes, "the integration's"
        name, schema = self.connection.get("table"), self.connection.get("schema")
        if evolution.created_by_pdip(self.engine, schema, name):
            return "evolve", "the default for a table pdip created"
        return "freeze", "the default for a table pdip did not create"

    def _create_table(self, batch: Batch) -> None:
        name, schema = self.connection.get("table"), self.connection.get("schema")
        dialect = self.engine.dialect.name
        declared = batch.types
        raw_postgres = batch.raw_format == postgres.RAW_FORMAT and dialect == "postgresql"
        # a table created to be merged into is keyed on the merge's key
        primary = self.disposition.key if self.disposition.write == "merge" else None
        if declared is None and raw_postgres and all(oid < 16384 for oid in batch.layout):
            # a query's result: its built-in types, whose OIDs are the same on every server
            with self.engine.begin() as connection:
                names = postgres.type_names(connection, batch.layout)
                columns = ", ".join(
                    f"{_quote(self.engine, column)} {kind}" for column, kind in zip(batch.columns, names, strict=True)
                )
                keyed = f", PRIMARY KEY ({self._names(primary)})" if primary else ""
                _execute(connection, f"CREATE TABLE {self._target()} ({columns}{keyed})")
            evolution.mark_created(self.engine, schema, name)
            return
        columns = columns_for(batch.columns, lambda: batch.rows, declared, self.engine)
        for column in columns:
            if primary and column.name in primary:
                column.primary_key, column.nullable = True, False
        table = sa.Table(name, sa.MetaData(schema=schema), *columns)
        table.create(self.engine)
        evolution.mark_created(self.engine, schema, name)

    def _empty(self, table: sa.Table) -> None:
        with self.engine.begin() as connection:
            if self.engine.dialect.name == "sqlite":
                connection.execute(table.delete())
            else:
                _execute(connection, f"TRUNCATE TABLE {self._target()}")

    def _target(self) -> str:
        """The table written: the target, or while replacing it, the table swapped in at the end."""
        return _qualified(self.engine, self.connection.get("schema"), self._stage or self.connection.get("table"))

    def _names(self, columns: Sequence[str]) -> str:
        return ", ".join(_quote(self.engine, name) for name in columns)

    def run(self, sql: str) -> None:
        with self.engine.begin() as connection:
            for statement in _statements(sql):
                _execute_as_is(connection, statement)

    def describe(self) -> str:
        return f"{self.engine.dialect.name}:{self.connection.get('table') or 'statements'}"

    def close(self) -> None:
        if self._loader is not None:
            self._loader.close()
        self.engine.dispose()


# -- helpers ------------------------------------------------------------------------------------


def _execute(connection: sa.Connection, statement: str) -> None:
    """Run SQL text made with the dialect's quoting (`_quote`), in the connection's transaction,
    through the driver's cursor with no parameters (see `as_sent`)."""
    _execute_as_is(connection, as_sent(connection.dialect, statement))


def _execute_as_is(connection: sa.Connection, statement: str) -> None:
    """Run the user's SQL text as it is, in the connection's transaction: through the driver's
    cursor with no parameters, so a `%` in it (`LIKE 'a%'`) is not taken for a placeholder."""
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


def _unread(batch: Batch) -> list[tuple[tuple, str]]:
    """What decoding a raw batch could not make a row of (a malformed CSV record), as refused rows."""
    unread = batch.rejected if batch.is_raw else []
    return [(tuple(held.get(name) for name in batch.columns), reason) for held, reason in unread]


def _joined(parts: list[list]) -> list[list]:
    """Parts of rows that went in one after the other, neighbours of several rows made one (they
    go in together as they did in turn); a part of one row stays apart."""
    joined: list[list] = []
    for part in parts:
        if joined and len(part) > 1 and len(joined[-1]) > 1:
            joined[-1] = joined[-1] + part
        else:
            joined.append(part)
    return joined


def _text_may_change(
    payload: bytes, more: re.Pattern[bytes] | None, zones: bool, digits: Callable[[bytes], bool] | None
) -> bool:
    """Whether CSV records bound for `COPY` hold text a check looks for: a number with more
    decimal places than a decimal column keeps (`more`), a time with a zone (`zones`), a number
    of more digits than a float column holds (`digits`); COPY refuses a fraction for an integer
    column itself. A false alarm only costs decoding the batch."""
    return (
        (more is not None and more.search(payload) is not None)
        or (zones and exact.ZONE_BYTES.search(payload) is not None)
        or (digits is not None and digits(payload))
    )


def _ready_time(kind: sa.types.TypeEngine, value: Any) -> Any:
    """A date or time column's value for the driver: text read as ISO 8601, an instant in UTC."""
    if isinstance(value, str):
        value = exact.iso_value(kind, value)
    return _in_utc(value) if isinstance(kind, sa.DateTime) else value


def _without_zone(kind: sa.types.TypeEngine, dialect: str) -> bool:
    """Whether a column keeps dates or times without a zone (PostgreSQL's `timestamptz` keeps the
    instant of any offset, and its `date` takes no time)."""
    if dialect == "postgresql":
        return isinstance(kind, sa.DateTime) and not kind.timezone
    return isinstance(kind, sa.DateTime | sa.Date)


def _aware(value: Any) -> bool:
    return isinstance(value, dt.datetime) and value.tzinfo is not None


def _in_utc(value: Any) -> Any:
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None) if _aware(value) else value


def _raw_formats(engine: sa.Engine) -> tuple[str, ...]:
    """The wire formats this database's fast paths take; its own first (psycopg 3 only for PostgreSQL)."""
    if engine.dialect.name == "postgresql" and engine.dialect.driver != "psycopg":
        return ()
    return _RAW_FORMATS.get(engine.dialect.name, ())


def _names(select: sa.Select) -> list[str]:
    return [column.name for column in select.selected_columns]


def _quote(engine: sa.Engine, name: str) -> str:
    return engine.dialect.identifier_preparer.quote(name)


def _qualified(engine: sa.Engine, schema: str | None, name: str) -> str:
    return ".".join(_quote(engine, part) for part in (schema, name) if part)


def _statements(sql: str) -> list[str]:
    """Statements separated by `;` at the end of a line (so `;` inside a string literal is safe)."""
    return [statement.strip() for statement in re.split(r";\s*(?:\n|$)", sql) if statement.strip()]


def _refuse(problems: list[str]) -> None:
    if problems:
        raise OperationError("; ".join(problems), problems)


def error_reason(error: sa.exc.SQLAlchemyError | OverflowError) -> str:
    original = getattr(error, "orig", None) or error
    return f"{type(original).__name__}: {str(original).strip().splitlines()[0]}"


def shown_url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


ADAPTER = Adapter(
    KINDS,
    SqlSource,
    SqlTarget,
    Capabilities(
        bulk_load=True, upsert=True, replace=True, transactions=True, partitioned_read=True, stores_positions=True
    ),
    settings=SETTINGS,
)
