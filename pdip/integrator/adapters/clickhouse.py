"""ClickHouse as source and target through clickhouse-connect, Arrow both ways: `kind: clickhouse`
(a server, over HTTP) and `kind: chdb` (chDB, ClickHouse's engine in this process).

    source: {kind: clickhouse, url: "http://reader@ch.example:8123/sales", table: orders}
    target: {kind: clickhouse, host: ch.example, user: loader, password: ..., table: orders}
    target: {kind: chdb, database: warehouse.chdb, table: orders}

One client for both: clickhouse-connect's `Client`, which talks HTTP to a server and, for a
`chdb://` address, runs the same calls in chDB (chDB's own backend of clickhouse-connect). Rows do
not become Python objects on the way: a source streams the query's result as Arrow record batches
(`query_arrow_stream`, at most `batch_size` rows each), and a target sends each batch as one Arrow
`INSERT` (`insert_arrow`). ClickHouse has no transactions, but one INSERT of one block is
atomic: a batch the table refuses (a NULL for a column that is not Nullable, a value its type
cannot hold) inserted nothing, and is split in halves until each refused row is found and
dead-lettered with ClickHouse's reason; the halves it takes go in as they come. So a target
cannot store positions with its rows: a run resumes from its checkpoint, and a batch written
just before a crash may be written again (at least once).

A created table has the source's declared types (the one type map, through Arrow), each column
`Nullable`, with `ENGINE = MergeTree ORDER BY tuple()` and the comment `created by pdip`, which
is how pdip knows later that it may evolve it (`schema: evolve` by default, `freeze` for any
other table). `write: replace` loads a twin (`CREATE TABLE twin AS table`) and swaps it in with
`EXCHANGE TABLES` (an Atomic database, ClickHouse's default); `write: merge` is refused: a
ClickHouse table has no unique key to upsert by. ClickHouse's String holds bytes and text
alike and is read as text; a `time` column is created as String.

chDB keeps its files in one folder, which one process opens: `kind: chdb` is read and written in
the calling process (`Capabilities.in_process_only`), and a process opens one chDB folder at a
time (a source and a target of the same folder share it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote as url_quote

from pdip.configuration.settings import Setting
from pdip.integrator.adapters.base import Adapter, Capabilities, ReadRequest, Source, Target, WriteResult
from pdip.integrator.adapters.file.parquet import conform
from pdip.integrator.adapters.sql import evolution, replace
from pdip.integrator.adapters.sql.partitions import positions, resume_point
from pdip.integrator.batch import Batch
from pdip.integrator.errors import OperationError, needs
from pdip.integrator.types import arrow_fields

CREATED = "created by pdip"  # the comment of a table pdip created
MEMORY = ":memory:"
_TABLE = (
    Setting("table", str, help="the table read or written"),
    Setting("query", str, help="a source's SELECT, instead of `table`"),
)
SETTINGS = (
    Setting("url", str, secret=True, help="`http(s)://user:password@host:8123/database`; or the parts below"),
    Setting("host", str, default="127.0.0.1"),
    Setting("port", int, help="default: 8123, or 8443 with `secure`"),
    Setting("database", str, help="default: the user's default database"),
    Setting("user", str, default="default"),
    Setting("password", str, secret=True),
    Setting("secure", bool, default=False, help="HTTPS"),
    *_TABLE,
)
CHDB_SETTINGS = (
    Setting("database", str, required=True, help="chDB's folder (created for a target), or `:memory:`"),
    *_TABLE,
)
# Refused rather than filled with a column's default: a NULL for a column that is not Nullable
_INSERT_SETTINGS = {"input_format_null_as_default": 0}


def label(connection) -> str:
    """How errors name the connection: by its name in CONNECTIONS, when it has one."""
    kind = connection.kind.lower()
    return f"{kind} connection {connection.name!r}" if connection.name else f"{kind} connection"


def quote(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def address(connection, context: Any) -> dict[str, Any]:
    """The arguments of `clickhouse_connect.get_client` for this connection."""
    if connection.kind.lower() == "chdb":
        database = connection.get("database")
        if database == MEMORY:
            return {"dsn": "chdb://memory"}
        path = Path(database).expanduser()
        root = getattr(context, "root", None)
        path = path if path.is_absolute() or root is None else Path(root) / path
        return {"dsn": "chdb://" + url_quote(str(path.resolve()))}
    if connection.get("url"):
        return {"dsn": connection.get("url")}
    found = {
        "host": connection.get("host") or "127.0.0.1",
        "username": connection.get("user") or "default",
        "password": connection.get("password") or "",
        "secure": bool(connection.get("secure")),
    }
    for name in ("port", "database"):
        if connection.get(name):
            found[name] = connection.get(name)
    return found


class _Connected:
    """What a source and a target share: the client, opened when first used, and ClickHouse's
    errors told as the connection's, without its password."""

    def __init__(self, connection, context):
        self.connection = connection
        self.context = context
        self._client = None

    @property
    def client(self) -> Any:
        if self._client is None:
            driver = needs("clickhouse_connect", "clickhouse connections", "clickhouse")
            self._client = self._call("url", lambda: driver.get_client(**address(self.connection, self.context)))
        return self._client

    def _call(self, setting: str, step: Any) -> Any:
        try:
            return step()
        except Exception as error:
            if isinstance(error, OperationError) or not _from_driver(error):
                raise
            raise OperationError(f"{label(self.connection)}: {setting}: {self._reason(error)}") from None

    def _reason(self, error: Exception) -> str:
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        for secret in (self.connection.get("password"), self.connection.get("url")):
            if secret:
                text = text.replace(str(secret), "***")
        return f"{type(error).__name__}: {text}"

    def _qualified(self, name: str) -> str:
        return quote(name)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()  # closing twice does nothing
            self._client = None


def _from_driver(error: Exception) -> bool:
    module = type(error).__module__ or ""
    return module.startswith(("clickhouse_connect", "chdb")) or isinstance(error, (ConnectionError, OSError))


# -- reading ------------------------------------------------------------------------------------


class ClickHouseSource(_Connected, Source):
    replays_from_stored_position = True  # a crash's lost commits are read again after the target's position

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        select, order = self._select(request)
        key_values, rows_before = resume_point(request.resume)
        conditions, parameters = [], {}
        if request.cursor is not None and request.after is not None:
            conditions.append(f"{quote(request.cursor)} > %(after)s")
            parameters["after"] = request.after
        if key_values is not None and order:
            marks = [f"%(key{index})s" for index in range(len(order))]
            conditions.append(f"({', '.join(map(quote, order))}) > ({', '.join(marks)})")
            parameters.update({f"key{index}": value for index, value in enumerate(key_values)})
        sql = select + (" WHERE " + " AND ".join(conditions) if conditions else "")
        if order:
            sql += " ORDER BY " + ", ".join(map(quote, order))
        if rows_before and (key_values is None or not order):
            sql += f" OFFSET {int(rows_before)}"
        setting = "query" if self.connection.get("query") else "table"
        stream = self._call(
            setting,
            lambda: self.client.query_arrow_stream(
                sql, parameters=parameters or None, settings={"max_block_size": request.batch_size}
            ),
        )
        count, position = 0, None
        with stream:
            records = iter(stream)
            while (record := self._call(setting, lambda: next(records, None))) is not None:
                if position is None:
                    names = record.schema.names
                    position = positions([names.index(name) for name in order] if order else None, rows_before)
                for start in range(0, record.num_rows, request.batch_size):  # a block may be longer
                    part = record.slice(start, request.batch_size)
                    count += part.num_rows
                    last = [part.column(i)[part.num_rows - 1].as_py() for i in range(part.num_columns)] if order else ()
                    batch = Batch.from_arrow(part, position=position(count, last))
                    batch.partition, batch.types = request.partition, part.schema
                    yield batch

    def schema(self, request: ReadRequest) -> Any:
        """The Arrow schema of what `request` reads (ClickHouse knows a query's types before it runs)."""
        select, _ = self._select(request)
        setting = "query" if self.connection.get("query") else "table"
        return self._call(setting, lambda: self.client.query_arrow(f"{select} LIMIT 0").schema)

    def _select(self, request: ReadRequest) -> tuple[str, list[str]]:
        query, table = self.connection.get("query"), self.connection.get("table")
        if not query and not table:
            raise OperationError(f"{label(self.connection)}: needs table (or query) to read")
        source = f"({query.strip().rstrip(';')})" if query else self._qualified(table)
        columns = ", ".join(map(quote, request.columns)) if request.columns else "*"
        order = ([request.cursor] if request.cursor else []) + [
            name for name in (request.key or []) if name != request.cursor
        ]
        return f"SELECT {columns} FROM {source} AS pdip_source", order

    def describe(self) -> str:
        return f"{self.connection.kind.lower()}:{self.connection.get('table') or 'query'}"


# -- writing ------------------------------------------------------------------------------------


class ClickHouseTarget(_Connected, evolution.AddsNamedColumns, Target):
    def __init__(self, connection, context):
        super().__init__(connection, context)
        self._columns: list[str] = []
        self._create = self._truncate = False
        self._table: str | None = None  # the table written: the target, or the twin while replacing
        self._known: dict[str, str] = {}  # its columns and their ClickHouse types
        self._fitting: dict[tuple, Any] = {}

    def prepare(self, columns: Sequence[str], create: bool, truncate: bool, types: Any = None) -> None:
        self._create, self._truncate, self._columns = create, truncate, list(columns)
        if types is not None and self._columns and (create or truncate):
            self._make_ready(Batch(self._columns, [], types=types))

    def write(self, batch: Batch) -> WriteResult:
        if self._table is None:
            self._make_ready(batch)
        fitted = self._fitted(batch)
        batch = fitted.batch
        if not len(batch):
            return fitted.told(WriteResult(0))
        record, rejected = _as_arrow(batch)
        record, changed = kept_exactly(record, self._known)
        rejected.extend(changed)
        pending = [record] if record.num_rows else []
        while pending:
            part = pending.pop(0)
            try:
                self._insert(part)
            except Exception as error:
                if not _from_driver(error):  # pragma: no cover - a fault of ours, not of the rows: raised as it is
                    raise
                if part.num_rows == 1:
                    rejected.append((Batch.from_arrow(part).rows[0], self._reason(error)))
                else:
                    half = part.num_rows // 2
                    pending[:0] = [part.slice(0, half), part.slice(half)]
        return fitted.told(WriteResult(len(batch) - len(rejected), rejected))

    def _insert(self, record: Any) -> None:
        import pyarrow

        self.client.insert_arrow(self._table, pyarrow.Table.from_batches([record]), settings=_INSERT_SETTINGS)

    # -- the table ------------------------------------------------------------------------------

    def _make_ready(self, batch: Batch) -> None:
        name = self.connection.get("table")
        if not name:
            raise OperationError(f"{label(self.connection)}: a target needs table")
        if self.disposition.write == "merge":  # the checks refuse it first; a target made in code too
            raise OperationError(
                f"{label(self.connection)}: integration {self.disposition.integration!r}: write: merge: "
                "a ClickHouse table has no unique key to upsert by; use write: append or replace"
            )
        if not self._has(name):
            if not self._create:
                raise OperationError(
                    f"{label(self.connection)}: table: {name!r} does not exist; set create_target: true to create it"
                )
            self._create_table(name, batch)
        self._known = self._describe(name)
        if self._truncate:
            self._refuse_frozen(batch)
            self._command(f"TRUNCATE TABLE {self._qualified(name)}")
        self._table = self._qualified(name)
        if self.disposition.write == "replace":
            twin = replace.stage_name(name)
            self._command(f"DROP TABLE IF EXISTS {self._qualified(twin)}")
            self._command(f"CREATE TABLE {self._qualified(twin)} AS {self._qualified(name)}")
            self._table = self._qualified(twin)

    def _create_table(self, name: str, batch: Batch) -> None:
        fields = arrow_fields(batch.types, batch.columns)
        if not all(fields):
            found = batch.to_arrow().schema
            fields = [field or found.field(index) for index, field in enumerate(fields)]
        columns = ", ".join(f"{quote(field.name)} Nullable({clickhouse_type(field.type)})" for field in fields)
        self._command(
            f"CREATE TABLE {self._qualified(name)} ({columns}) ENGINE = MergeTree ORDER BY tuple() COMMENT '{CREATED}'"
        )

    def finish(self) -> None:
        """`write: replace`: the loaded twin takes the table's place in one step."""
        if self.disposition.write != "replace":
            return
        if self._table is None:  # nothing came, and the source declared no columns
            self._make_ready(Batch(self._columns, []))
        name = self._qualified(self.connection.get("table"))
        self._command(f"EXCHANGE TABLES {name} AND {self._table}")
        self._command(f"DROP TABLE {self._table}")

    # -- schema changes -------------------------------------------------------------------------

    def _add_columns(self, batch: Batch, added: list[str]) -> list[str]:
        record = batch.to_arrow()
        declared = arrow_fields(batch.types, added)
        changes = []
        for name, field in zip(added, declared, strict=True):
            kind = f"Nullable({clickhouse_type((field or record.schema.field(name)).type)})"
            self._command(f"ALTER TABLE {self._table} ADD COLUMN {quote(name)} {kind}")
            changes.append(f"added column {name!r} {kind}")
        self._known = self._describe(self.connection.get("table"))
        return changes

    def _schema_choice(self) -> tuple[str, str]:
        if self.schema_changes is not None:
            return self.schema_changes, "the integration's"
        comment = self._rows(
            "SELECT comment FROM system.tables WHERE database = currentDatabase() AND name = %(name)s",
            {"name": self.connection.get("table")},
        )
        if comment and comment[0][0] == CREATED:
            return "evolve", "the default for a table pdip created"
        return "freeze", "the default for a table pdip did not create"

    # -- helpers --------------------------------------------------------------------------------

    def _has(self, name: str) -> bool:
        return bool(self._call("table", lambda: self.client.command(f"EXISTS TABLE {self._qualified(name)}")))

    def _describe(self, name: str) -> dict[str, str]:
        rows = self._rows(
            "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = %(name)s "
            "ORDER BY position",
            {"name": name},
        )
        return dict(rows)

    def _rows(self, sql: str, parameters: dict[str, Any]) -> list[tuple]:
        return self._call("table", lambda: self.client.query(sql, parameters=parameters).result_rows)

    def _command(self, sql: str) -> None:
        self._call("table", lambda: self.client.command(sql))

    def run(self, sql: str) -> None:
        self._call("statements", lambda: self.client.command(sql))

    def describe(self) -> str:
        return f"{self.connection.kind.lower()}:{self.connection.get('table') or 'statements'}"


def _as_arrow(batch: Batch) -> tuple[Any, list[tuple[tuple, str]]]:
    """`batch` as an Arrow record batch of its declared types (else of the types Arrow gives its
    first row), and the rows whose values do not fit them, refused here with the reason: sent as
    text, ClickHouse would turn a value it cannot parse into NULL without a word."""
    import pyarrow

    fields = arrow_fields(batch.types, batch.columns)
    try:
        return (conform(batch, pyarrow.schema(fields)) if all(fields) else batch.to_arrow()), []
    except (ValueError, TypeError):
        pass
    schema = pyarrow.schema(fields) if all(fields) else Batch(batch.columns, batch.rows[:1]).to_arrow().schema
    kept, refused = [], []
    for row in batch.rows:
        try:
            conform(Batch(batch.columns, [row]), schema)
            kept.append(row)
        except (ValueError, TypeError) as error:
            refused.append((row, f"{type(error).__name__}: a value does not fit its column's type ({error})"))
    return conform(Batch(batch.columns, kept), schema), refused


# as system.columns names a decimal column (Decimal32(2) reads as Decimal(9, 2))
_DECIMAL = re.compile(r"(?:Nullable\()?Decimal\(\d+,\s*(\d+)\)\)?")


def kept_exactly(record: Any, known: dict[str, str]) -> tuple[Any, list[tuple[tuple, str]]]:
    """`record` without the rows whose decimal a column of the table (`known`: name -> ClickHouse
    type) would cut to fewer places, and those rows, refused with the reason (`adapters/sql/exact.py`
    for the SQL targets): ClickHouse stores 1.005 in a Decimal(8, 2) as 1.00, without a word."""
    import pyarrow
    import pyarrow.compute as pc

    changed = None
    reasons: dict[int, str] = {}
    for index, field in enumerate(record.schema):
        found = _DECIMAL.fullmatch(known.get(field.name, ""))
        if found is None:
            continue
        scale, values = int(found.group(1)), record.column(index)
        if pyarrow.types.is_string(field.type) or pyarrow.types.is_large_string(field.type):
            more = pc.match_substring_regex(values, rf"\.\d{{{scale}}}\d*[1-9]")
        elif pyarrow.types.is_floating(field.type) or (
            pyarrow.types.is_decimal(field.type) and field.type.scale > scale
        ):
            more = pc.not_equal(pc.round(values, scale), values)
        else:
            continue
        more = pc.fill_null(more, False)
        for row in pc.indices_nonzero(more).to_pylist():
            value = values[row].as_py()
            reasons.setdefault(
                row,
                f"column {field.name!r} is {known[field.name]}: {value} has more than {scale} "
                "decimal places and would be cut",
            )
        changed = more if changed is None else pc.or_(changed, more)
    if not reasons:
        return record, []
    rows = Batch.from_arrow(record).rows
    refused = [(rows[index], reasons[index]) for index in sorted(reasons)]
    return record.filter(pc.invert(changed)), refused


def clickhouse_type(kind: Any) -> str:
    """An Arrow type as the ClickHouse type of a created column (the one type map gives the Arrow
    type; this names it in ClickHouse's words)."""
    import pyarrow.types as is_

    if is_.is_dictionary(kind):
        kind = kind.value_type
    extension = getattr(kind, "extension_name", None)
    if extension == "arrow.uuid":
        return "UUID"
    if is_.is_boolean(kind):
        return "Bool"
    if is_.is_integer(kind):
        return f"{'U' if is_.is_unsigned_integer(kind) else ''}Int{kind.bit_width}"
    if is_.is_floating(kind):
        return "Float32" if kind.bit_width == 32 else "Float64"
    if is_.is_decimal(kind):
        return f"Decimal({kind.precision}, {kind.scale})"
    if is_.is_date(kind):
        return "Date32"
    if is_.is_timestamp(kind):
        zone = ", 'UTC'" if kind.tz is not None else ""
        return f"DateTime64(6{zone})"
    if is_.is_duration(kind):
        return "Int64"  # microseconds
    return "String"  # text, bytes, JSON, a time of day, and a column of no values yet


ADAPTERS = (
    Adapter(
        ("clickhouse",),
        ClickHouseSource,
        ClickHouseTarget,
        Capabilities(bulk_load=True, replace=True),
        settings=SETTINGS,
    ),
    Adapter(
        ("chdb",),
        ClickHouseSource,
        ClickHouseTarget,
        Capabilities(bulk_load=True, replace=True, in_process_only=True),
        settings=CHDB_SETTINGS,
    ),
)
ADAPTER = ADAPTERS[0]
