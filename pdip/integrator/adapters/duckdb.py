"""DuckDB databases as source and target, Arrow both ways: `kind: duckdb`.

    source: {kind: duckdb, database: warehouse.duckdb, table: orders}
    source: {kind: duckdb, database: ":memory:", query: "SELECT * FROM 'landing/*.parquet'"}
    target: {kind: duckdb, database: warehouse.duckdb, table: orders}

Rows never become Python objects on the way: a source hands DuckDB's result as Arrow record
batches of exactly `batch_size` rows, and a target inserts each batch's Arrow data with one
`INSERT ... SELECT` from it (DuckDB scans Arrow in place). `write: merge` folds a batch to the last
row of each key and applies it with one `DELETE` (for `delete_column`) and one `INSERT ... ON
CONFLICT`; `write: replace` loads a twin of the table and swaps it in at the end by `DROP` and
`RENAME` in one transaction (DuckDB's DDL is transactional; the table's indexes are made again in
it). Every batch is one transaction with its position (`pdip_target_position` in the same file),
so a resumed run starts right after the last batch the file holds. A batch DuckDB refuses (a
constraint, a value its column cannot hold) is split in halves until each refused row is found
(and dead-lettered where it was read, a file's line):
DuckDB has no savepoints and a failed statement aborts its transaction, so the rows accepted so
far are inserted again after each refusal, and the batch is still committed once, with its
position.

A DuckDB file is opened for writing by one process at a time, and the data of `:memory:` lives in
the process that opened it: the integrator reads and writes DuckDB in the calling process
(`Capabilities.in_process_only`); DuckDB runs its scans on all cores itself. A source opens its
file read-only, or shares the open connection when this process writes the same file. Relative
paths resolve against the application's root. `:memory:` is a fresh database for each connection
(a source's `query` over files); a target must be a file, or its rows would be lost at close.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import pickle
import queue
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pdip.configuration.settings import Setting
from pdip.conversion.tagged import dumps, loads
from pdip.integrator.adapters import duckdb_copy
from pdip.integrator.adapters.base import (
    Adapter,
    Capabilities,
    ReadRequest,
    Source,
    Target,
    WriteResult,
    partition_slot,
)
from pdip.integrator.adapters.duckdb_copy import driver, open_file, ready
from pdip.integrator.adapters.file import parquet_ranges
from pdip.integrator.adapters.file.parquet import conform
from pdip.integrator.adapters.sql import evolution, exact, replace
from pdip.integrator.adapters.sql.partitions import positions, resume_point
from pdip.integrator.batch import Batch
from pdip.integrator.errors import OperationError
from pdip.integrator.types import arrow_fields

MEMORY = ":memory:"
ROW_GROUP = 122_880  # DuckDB's rows per row group
ROW_NUMBER = "file_row_number"  # the column `read_parquet(..., file_row_number = true)` adds
POSITIONS = "pdip_target_position"
CREATED = "pdip_created_table"
SETTINGS = (
    Setting("database", str, required=True, help="the database file (created for a target), or `:memory:`"),
    Setting("table", str, help="the table read or written"),
    Setting("schema", str, help="the table's schema (default: main)"),
    Setting("query", str, help="a source's SELECT, instead of `table`"),
)


def label(connection) -> str:
    """How errors name the connection: by its name in CONNECTIONS, when it has one."""
    return f"duckdb connection {connection.name!r}" if connection.name else "duckdb connection"


def database_path(connection, context: Any) -> str:
    database = connection.get("database")
    if not database:
        raise OperationError(f"{label(connection)}: database: expected a file or {MEMORY}, got nothing")
    if database == MEMORY:
        return MEMORY
    path = Path(database).expanduser()
    root = getattr(context, "root", None)
    return str(path if path.is_absolute() or root is None else Path(root) / path)


def connect_source(connection, context: Any) -> Any:
    """A read-only connection to the source's file (which must exist); the one this process
    already has open for writing when a target here writes the same file."""
    path = database_path(connection, context)
    if path == MEMORY:
        return ready(driver().connect(MEMORY))
    if not Path(path).is_file():
        raise OperationError(
            f"{label(connection)}: database: file {path} does not exist (a source is read, never created)"
        )
    return open_file(path)


def _as_arrow(batch: Batch) -> Any:
    """`batch` as an Arrow record batch: of its declared types when they are all known and its
    values fit them; else as Arrow makes it of the values, and a column whose values Arrow cannot
    put in one type (text in a SQLite INTEGER column) as their text. DuckDB casts each column to
    the table's type and refuses a row whose value its column cannot hold."""
    import pyarrow

    fields = arrow_fields(batch.types, batch.columns)
    if all(fields):
        try:
            return conform(batch, pyarrow.schema(fields))
        except ValueError:
            pass  # a value that does not fit: the database says which row
    try:
        return batch.to_arrow()
    except (ValueError, TypeError):
        columns = zip(*batch.rows, strict=True)
        return pyarrow.RecordBatch.from_arrays([_array(list(values)) for values in columns], names=batch.columns)


def _array(values: list[Any]) -> Any:
    import pyarrow

    try:
        return pyarrow.array(values)
    except (ValueError, TypeError):
        return pyarrow.array([None if value is None else str(value) for value in values], pyarrow.string())


@dataclasses.dataclass(frozen=True)
class _Copied:
    """Rows of a Parquet file that DuckDB copies itself, into the columns its batch names."""

    rows: parquet_ranges.RowRange
    columns: list[str]
    types: Any = None  # the file's Arrow schema, which says what a column's values may hold

    def given(self, name: str) -> Any:
        """The Arrow type of column `name` in the file, None if not known."""
        return self.types.field(name).type if self.types is not None and name in self.types.names else None


def _length(part: Any) -> int:
    """The rows of a part of a batch: a range DuckDB copies, or an Arrow record batch."""
    return part.rows.stop - part.rows.first if isinstance(part, _Copied) else part.num_rows


def _value_types(batch: Batch) -> Any:
    """The Arrow schema of a batch's values, for a table created from them: a column Arrow
    cannot make of one type is text, or a double when its values are floats and ints (an int a
    double does not hold beside floats, which the target then refuses: `kept_exactly`)."""
    import pyarrow

    try:
        return batch.to_arrow().schema
    except (ValueError, TypeError):
        columns = zip(*batch.rows, strict=True)
        return pyarrow.schema(
            [(name, _value_type(list(values))) for name, values in zip(batch.columns, columns, strict=True)]
        )


def _value_type(values: list[Any]) -> Any:
    import pyarrow

    try:
        return pyarrow.array(values).type
    except (ValueError, TypeError):
        kinds = {type(value) for value in values if value is not None}
        return pyarrow.float64() if float in kinds and kinds <= {float, int} else pyarrow.string()


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


def kept_exactly(name: str, kind: str, given: Any = None) -> str:
    """The SELECT expression that hands column `name` (of DuckDB type `kind`) over as it is, or,
    for a DECIMAL(p, s) column, fails the statement naming the value when it has more than `s`
    decimal places, which DuckDB would round, and for a DOUBLE or FLOAT column when it holds a
    number the float would round (`_float_kept`) (`adapters/sql/exact.py` for the SQL target; the
    error makes the target find the row by halves). `given`: the Arrow type the value comes in,
    None where DuckDB reads a file itself: text is measured as text, a number by `round`."""
    if kind in _FLOAT_BITS:
        return _float_kept(name, kind, given)
    if kind in _TIMESTAMP_DIGITS:
        return _instant_kept(name, kind, given)
    found = _DECIMAL.fullmatch(kind)
    column = quote(name)
    if found is None or (given is not None and not _may_have_places(given, int(found.group(2)))):
        return column
    scale = int(found.group(2))
    if given is not None and _is_text(given):
        fits = f"length(rtrim(regexp_extract({column}, '\\.(\\d+)', 1), '0')) <= {scale}"
    else:
        fits = f"round({column}, {scale}) = {column}"
    said = f"column {name!r} is {kind}: ".replace("'", "''")
    refusal = (
        f"error('{said}' || CAST({column} AS VARCHAR) || ' has more than {scale} decimal places and would be rounded')"
    )
    return f"CASE WHEN {column} IS NULL OR {fits} THEN {column} ELSE {refusal} END"


_FLOAT_BITS = {"DOUBLE": 53, "FLOAT": 24}  # the bits of each float type's significand
# the digits of a second each timestamp type keeps
_TIMESTAMP_DIGITS = {"TIMESTAMP_S": 0, "TIMESTAMP_MS": 3, "TIMESTAMP": 6, "TIMESTAMP WITH TIME ZONE": 6}


def _instant_kept(name: str, kind: str, given: Any) -> str:
    """Column `name` as it is, or the statement failed naming the instant when the `kind` column
    keeps fewer digits of a second than it has (nanoseconds from a Parquet file pandas wrote, into
    DuckDB's microseconds), which DuckDB would round. Only looked at where the Arrow type the
    values come in carries more digits than the column keeps."""
    digits, column = _TIMESTAMP_DIGITS[kind], quote(name)
    if exact.UNIT_DIGITS.get(getattr(given, "unit", None), 0) <= digits:
        return column
    said = f"column {name!r} keeps {digits} digits of a second: ".replace("'", "''")
    refusal = f"error('{said}' || CAST({column} AS VARCHAR) || ' would be rounded')"
    return (
        f"CASE WHEN {column} IS NULL OR epoch_ns({column}) % {10 ** (9 - digits)} = 0 THEN {column} ELSE {refusal} END"
    )


def _float_kept(name: str, kind: str, given: Any) -> str:
    """Column `name` as it is, or the statement failed naming the number when the `kind` column
    (DOUBLE or FLOAT) would keep another (`exact.float_change`): an integer beyond 2**53 (2**24),
    a decimal or numeric text of more digits than the float gives back. Not looked at: a float
    (already binary; into FLOAT it narrows, as the column's type says) or a narrow integer type."""
    import pyarrow

    bits, column = _FLOAT_BITS[kind], quote(name)
    if given is not None and (pyarrow.types.is_floating(given) or _narrow_integer(given, bits)):
        return column
    if given is not None and pyarrow.types.is_integer(given):
        fits = f"abs({column}) <= {2**bits} OR CAST(CAST({column} AS {kind}) AS HUGEINT) = {column}"
    else:  # any number, by its text: of few digits, the float's own digits, or a whole number it holds
        text, kept = f"CAST({column} AS VARCHAR)", f"CAST(CAST({column} AS {kind}) AS VARCHAR)"
        digits = "trim(regexp_replace(regexp_extract({}, '^[^eE]*'), '[^0-9]', '', 'g'), '0')"
        fits = (
            f"length({digits.format(text)}) <= {exact.DIGITS[bits]} OR {digits.format(text)} = {digits.format(kept)} "
            f"OR (regexp_full_match({text}, '\\s*[+-]?[0-9]+\\s*') "
            f"AND coalesce(TRY_CAST({text} AS HUGEINT) = TRY_CAST(CAST({column} AS {kind}) AS HUGEINT), false))"
        )
    said = f"column {name!r} is {kind}: ".replace("'", "''")
    kept = f"regexp_replace(CAST(CAST({column} AS {kind}) AS VARCHAR), '\\.0$', '')"
    refusal = f"error('{said}' || CAST({column} AS VARCHAR) || ' would be stored as ' || {kept})"
    return f"CASE WHEN {column} IS NULL OR {fits} THEN {column} ELSE {refusal} END"


def _narrow_integer(given: Any, bits: int) -> bool:
    """An Arrow integer type every value of which a float of `bits` holds."""
    import pyarrow

    return pyarrow.types.is_integer(given) and given.bit_width <= (32 if bits == 53 else 16)


def _may_have_places(given: Any, scale: int) -> bool:
    import pyarrow

    if pyarrow.types.is_decimal(given):
        return given.scale > scale
    return pyarrow.types.is_floating(given) or _is_text(given)


def _is_text(given: Any) -> bool:
    import pyarrow

    return pyarrow.types.is_string(given) or pyarrow.types.is_large_string(given)


def _given_row(batch: Batch, index: int, part: Any) -> tuple:
    """The row at `index` of the batch as the target was given it, so the batch loop finds where
    it was read (`Batch.origins_of` knows a row by identity); the one-row Arrow `part` made of it
    when the batch came as Arrow, without rows of its own."""
    return batch.rows[index] if batch.origins is not None else Batch.from_arrow(part).rows[0]


def reason(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"


# -- reading ------------------------------------------------------------------------------------


class ReadAhead:
    """The record batches of `reader`, read one ahead in a thread: DuckDB computes the next batch
    while the target writes this one (both release the GIL), as a reader process would for a
    store read in another process. An error is raised where its batch would have come; `close`
    stops the thread and waits for it (before the connection it reads is closed)."""

    def __init__(self, reader: Any):
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fill, args=(reader,), name="pdip-duckdb-read-ahead", daemon=True)
        self._thread.start()

    def _fill(self, reader: Any) -> None:
        try:
            for record in reader:
                if not self._put(record):
                    return
            self._put(None)
        except Exception as error:  # noqa: BLE001 - handed to the reading thread, which raises it
            self._put(error)

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Any]:
        while (item := self._queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class DuckDbSource(Source):
    replays_from_stored_position = True  # a crash's lost commits are read again after the target's position

    def __init__(self, connection, context):
        super().__init__(connection, context)
        self._database = None  # opened when first used: after a target of the same file, if any
        self._kinds: dict[str, str] | None = None

    @property
    def database(self) -> Any:
        if self._database is None:
            self._database = connect_source(self.connection, self.context)
        return self._database

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        named = self._named(request)
        if named is not None:
            yield named
            return
        select, order = self._select(request)
        key_values, rows_before = resume_point(request.resume)
        conditions, parameters = [], []
        if request.cursor is not None and request.after is not None:
            conditions.append(f"{quote(request.cursor)} > ?")
            parameters.append(request.after)
        if key_values is not None and order:
            conditions.append(f"({', '.join(map(quote, order))}) > ({', '.join('?' * len(order))})")
            parameters.extend(key_values)
        sql = select + (" WHERE " + " AND ".join(conditions) if conditions else "")
        if order:
            sql += " ORDER BY " + ", ".join(map(quote, order))
        if rows_before and (key_values is None or not order):
            sql += f" OFFSET {int(rows_before)}"
        reader = self._run(
            lambda: self.database.sql(sql, params=parameters or None).to_arrow_reader(request.batch_size)
        )
        names = reader.schema.names
        position = positions([names.index(name) for name in order] if order else None, rows_before)
        count = 0
        ahead = ReadAhead(reader)
        records = iter(ahead)
        try:
            while (record := self._run(lambda: next(records, None))) is not None:  # a query may fail midway
                count += record.num_rows
                last = [record.column(i)[record.num_rows - 1].as_py() for i in range(len(names))] if order else ()
                batch = Batch.from_arrow(record, position=position(count, last))
                batch.partition, batch.types = request.partition, reader.schema
                yield batch
        finally:
            ahead.close()

    def _named(self, request: ReadRequest) -> Batch | None:
        """The whole table as one batch that names it, for a target that has DuckDB copy it
        (`duckdb_copy`); None when the read or a column's type asks for Arrow batches, or the
        table is empty."""
        kinds = self._copied(request)
        if kinds is None:
            return None
        ((count,),) = self.database.execute(f"SELECT count(*) FROM {self._from()}").fetchall()
        if not count:  # no batch at all, as when read as Arrow: the file is made from the types
            return None
        path = database_path(self.connection, self.context)
        return duckdb_copy.named(path, f"SELECT * FROM {self._from()}", list(kinds), count)

    def _copied(self, request: ReadRequest) -> dict[str, str] | None:
        """The columns and their DuckDB types, when `request` reads a whole table of a file that
        its target takes named and `COPY` writes as the Arrow path would; else None."""
        table = self.connection.get("table")
        if not duckdb_copy.wanted(request) or not table or self.connection.get("query"):
            return None
        path, kinds = database_path(self.connection, self.context), self._known_kinds()
        if path == MEMORY or not duckdb_copy.plain(list(kinds.values())):
            return None
        return kinds

    def schema(self, request: ReadRequest) -> Any:
        """The Arrow schema of what `request` reads (DuckDB knows a query's types before it runs);
        for a table DuckDB copies itself, its declaration without pyarrow until iterated."""
        kinds = self._copied(request)
        if kinds is not None:
            return duckdb_copy.Declared(kinds, lambda: self._arrow_schema(request))
        return self._arrow_schema(request)

    def _arrow_schema(self, request: ReadRequest) -> Any:
        select, _ = self._select(request)
        return self._run(lambda: self.database.sql(f"{select} LIMIT 0").to_arrow_table().schema)

    def _select(self, request: ReadRequest) -> tuple[str, list[str]]:
        """The SELECT of the table or query, with the chosen columns, and the columns it is read
        in order of (the cursor, then the key): a resume continues after the last key read."""
        query, table = self.connection.get("query"), self.connection.get("table")
        if not query and not table:
            raise OperationError(f"{label(self.connection)}: needs table (or query) to read")
        known = list(self._known_kinds())
        wanted = list(request.columns) if request.columns else None
        order = ([request.cursor] if request.cursor else []) + [
            name for name in (request.key or []) if name != request.cursor
        ]
        missing = [name for name in (*(wanted or []), *order) if name not in known]
        if missing:
            what = "query" if query else "table"
            raise OperationError(
                f"{label(self.connection)}: {what} has no column {', '.join(map(repr, missing))} "
                f"(its columns: {', '.join(known)})"
            )
        columns = ", ".join(map(quote, wanted)) if wanted else "*"
        return f"SELECT {columns} FROM {self._from()} AS pdip_source", order

    def _from(self) -> str:
        query = self.connection.get("query")
        if query:
            return f"({query.strip().rstrip(';')})"
        return ".".join(quote(part) for part in (self.connection.get("schema"), self.connection.get("table")) if part)

    def _known_kinds(self) -> dict[str, str]:
        """The columns read and their DuckDB types."""
        if self._kinds is None:
            setting = "query" if self.connection.get("query") else "table"
            try:
                found = self.database.execute(f"DESCRIBE SELECT * FROM {self._from()}").fetchall()
            except driver().Error as error:
                raise OperationError(f"{label(self.connection)}: {setting}: {reason(error)}") from None
            self._kinds = {row[0]: row[1] for row in found}
        return self._kinds

    def _run(self, step: Callable[[], Any]) -> Any:
        """`step()`, with DuckDB's error on the table or query told as the connection's."""
        try:
            return step()
        except driver().Error as error:
            setting = "query" if self.connection.get("query") else "table"
            raise OperationError(f"{label(self.connection)}: {setting}: {reason(error)}") from None

    def describe(self) -> str:
        return f"duckdb:{self.connection.get('table') or 'query'}"

    def close(self) -> None:
        if self._database is not None:
            self._database.close()  # closing twice does nothing


# -- writing ------------------------------------------------------------------------------------


class DuckDbTarget(evolution.AddsNamedColumns, Target):
    # A batch of whole row groups goes into the file at its commit; a smaller one goes through
    # the write-ahead log and is written again at the next checkpoint: about twice the work.
    batch_rows = ROW_GROUP
    # A range of a Parquet file is scanned by one thread per row group it spans: one row group a
    # statement kept a single core busy (10M rows: 5.5 s where `COPY ... FROM` took 2.4); 16 took
    # 2.5 s, no more memory. Such a batch holds no row in pdip, whatever its size.
    range_rows = 16 * ROW_GROUP

    def __init__(self, connection, context):
        super().__init__(connection, context)
        self.path = database_path(connection, context)
        self.database = None
        self._columns: list[str] = []
        self._create = self._truncate = False
        self._table: str | None = None  # the table written (the twin, while replacing)
        self._known: dict[str, str] = {}  # its columns and their DuckDB types
        self._key: tuple[str, ...] | None = None
        self._fitting: dict[tuple, Callable[[Batch], evolution.Fitted]] = {}
        self._resumed = False
        if self.path != MEMORY:  # before a source of the same file, which then shares it
            self._open()

    def _open(self) -> Any:
        if self.database is None:
            if self.path == MEMORY:
                raise OperationError(
                    f"{label(self.connection)}: database: a {MEMORY} target would lose its rows when the "
                    "integration ends; give a file"
                )
            self.database = ready(driver().connect(self.path))
        return self.database

    def prepare(self, columns: Sequence[str], create: bool, truncate: bool, types: Any = None) -> None:
        self._create, self._truncate, self._columns = create, truncate, list(columns)
        self._open()
        if self.position_slot is not None:
            self._execute(
                f"CREATE TABLE IF NOT EXISTS {POSITIONS} "
                "(slot VARCHAR PRIMARY KEY, position VARCHAR NOT NULL, updated_at TIMESTAMP NOT NULL)"
            )
        if types is not None and self._columns and (create or truncate):
            self._make_ready(Batch(self._columns, [], types=types))

    def durable_position(self, slot: str) -> Any:
        """The position stored under `slot`; when replacing, only while the twin is still there."""
        stored = self._query(f"SELECT position FROM {POSITIONS} WHERE slot = ?", [slot]) if self._has(POSITIONS) else []
        if not stored:
            return None
        if self.disposition.write == "replace":
            if not self._has(self._twin_name()):
                return None
            self._resumed = True
        return loads(stored[0][0])

    def forget_positions(self, slot: str) -> None:
        if self._has(POSITIONS):
            self._forget(slot)

    def _forget(self, slot: str) -> None:
        self._execute(f"DELETE FROM {POSITIONS} WHERE slot = ? OR starts_with(slot, ?)", [slot, f"{slot}/"])

    def write(self, batch: Batch) -> WriteResult:
        if self._table is None:
            self._make_ready(batch)
        fitted = self._fitted(batch)
        told = fitted.told(WriteResult(0))  # what fitting did, and the rows it refused
        unreported = self.refusing(told.rejected)  # handed over before anything is committed
        result = self._write(fitted.batch, fitted.as_read)
        told.written, told.rejected = result.written, result.rejected + unreported
        return told

    def accepts(self) -> tuple[str, ...]:
        """Ranges of Parquet files, copied by DuckDB, except for a merge: it folds rows by their
        place in the batch, so it takes them as Arrow from the source's reader."""
        return () if self.disposition.write == "merge" else (parquet_ranges.RAW_FORMAT,)

    def _write(self, batch: Batch, as_read: Callable[[list], list]) -> WriteResult:
        """The batch in one transaction with its position; refused rows found by halves and
        handed over (`Target.refusing`, in the terms of the batch as read: `as_read`) before the
        commit. A range of a Parquet file is copied by DuckDB's own reader; one it refuses is
        halved as ranges down to a row group, which is then decoded and halved as Arrow, so a
        refusal never holds more than a row group in memory."""
        rejected: list[tuple[tuple, str]] = []
        accepted: list[Any] = []
        pending = [(0, part) for part in self._parts(batch) if _length(part)]  # with each one's first row's place
        self._execute("BEGIN TRANSACTION")
        try:
            while pending:
                first, part = pending.pop(0)
                try:
                    self._insert(part)
                    accepted.append(part)
                except driver().Error as error:
                    self._execute("ROLLBACK")
                    self._execute("BEGIN TRANSACTION")
                    for done in accepted:  # what the aborted transaction held
                        self._insert(done)
                    if isinstance(part, _Copied) or _length(part) > 1:
                        pending[:0] = self._halves(first, part, batch)
                    else:
                        rejected.append((_given_row(batch, first, part), reason(error)))
            unreported = self.refusing(as_read(rejected))  # stored before the position that passes them
            if self.position_slot is not None:
                self._store_position(batch)
            self._execute("COMMIT")
        except BaseException:
            self._execute("ROLLBACK")
            raise
        return WriteResult(len(batch) - len(rejected), unreported)

    def _parts(self, batch: Batch) -> list[Any]:
        """What `_insert` takes of the batch: the range of a Parquet file DuckDB copies itself, or
        the batch as Arrow."""
        if self._copies(batch):  # a range the reader of this run named
            return [_Copied(pickle.loads(batch.payload), batch.columns, batch.types)]
        return [self._arrow(batch)]

    def _halves(self, first: int, part: Any, batch: Batch) -> list[tuple[int, Any]]:
        """A refused part split to find the refused rows, each half with its first row's place in
        the batch: a range of more than a row group in two ranges, a smaller one read as the Arrow
        the file holds (it is refused again, then halved as Arrow)."""
        if isinstance(part, _Copied):
            found = part.rows
            if found.stop - found.first > ROW_GROUP:
                half = (found.stop - found.first) // 2
                return [
                    (first, dataclasses.replace(part, rows=dataclasses.replace(found, stop=found.first + half))),
                    (
                        first + half,
                        dataclasses.replace(part, rows=dataclasses.replace(found, first=found.first + half)),
                    ),
                ]
            return [(first, self._arrow(Batch.from_arrow(found.read().select(part.columns))))]  # Arrow as stored
        half = part.num_rows // 2
        return [(first, part.slice(0, half)), (first + half, part.slice(half))]

    def _copies(self, batch: Batch) -> bool:
        """Whether DuckDB reads this batch's rows from their Parquet file itself: a range, appended
        (a merge folds rows by their place in the batch), of a file without a column that
        `read_parquet`'s row number would hide."""
        return batch.raw_format == parquet_ranges.RAW_FORMAT and self._key is None and ROW_NUMBER not in batch.columns

    def _copy_range(self, part: _Copied) -> None:
        """Append the rows of a range of a Parquet file, read by DuckDB's own Parquet reader."""
        names = ", ".join(map(quote, part.columns))
        values = ", ".join(kept_exactly(name, self._known.get(name, ""), part.given(name)) for name in part.columns)
        found = part.rows
        self._execute(
            f"INSERT INTO {self._table} ({names}) SELECT {values} FROM read_parquet(?, file_row_number = true) "
            f"WHERE {ROW_NUMBER} >= ? AND {ROW_NUMBER} < ?",
            [found.path, found.first, found.stop],
        )

    def _insert(self, record: Any) -> None:
        """Append (or merge) an Arrow record batch, scanned in place by DuckDB, or copy a range of
        a Parquet file. A record batch is registered as a one-chunk Arrow table (no copy): DuckDB
        scans a table's row ranges on all its threads, where it reads a lone record batch as a
        stream on one."""
        import pyarrow

        if isinstance(record, _Copied):
            self._copy_range(record)
            return
        columns = [field for field in record.schema if field.name != "pdip_row"]
        names = ", ".join(quote(field.name) for field in columns)
        values = ", ".join(kept_exactly(field.name, self._known.get(field.name, ""), field.type) for field in columns)
        self.database.register("pdip_batch", pyarrow.Table.from_batches([record]))
        try:
            if self._key is None:
                self._execute(f"INSERT INTO {self._table} ({names}) SELECT {values} FROM pdip_batch")
                return
            self._merge(record.schema.names, names, values)
        finally:
            # in a transaction the statement's error aborted, unregistering fails too and would
            # hide that error; the next batch's registration replaces the view anyway
            with contextlib.suppress(driver().Error):
                self.database.unregister("pdip_batch")

    def _merge(self, columns: list[str], names: str, values: str) -> None:
        """The last row of each key (by its place in the batch) deletes the key when its
        `delete_column` says so, and is upserted otherwise."""
        key = ", ".join(map(quote, self._key))
        last = f"SELECT * FROM pdip_batch QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY pdip_row DESC) = 1"
        flag = self.disposition.delete_column
        kept = ""
        if flag is not None:
            deletion = self._deletion(flag)
            self._execute(f"DELETE FROM {self._table} WHERE ({key}) IN (SELECT {key} FROM ({last}) WHERE {deletion})")
            kept = f" WHERE NOT ({deletion})"
        updated = [name for name in columns if name not in self._key and name != "pdip_row"]
        action = (
            "DO UPDATE SET " + ", ".join(f"{quote(name)} = excluded.{quote(name)}" for name in updated)
            if updated
            else "DO NOTHING"
        )
        self._execute(
            f"INSERT INTO {self._table} ({names}) SELECT {values} FROM ({last}){kept} ON CONFLICT ({key}) {action}"
        )

    def _deletion(self, flag: str) -> str:
        """When a `delete_column` value deletes its row (see `merge.deleted`), in DuckDB's terms."""
        kind, name = self._known.get(flag, ""), quote(flag)
        if kind == "BOOLEAN":
            return f"{name} IS TRUE"
        if re.match(r"(U?(TINY|SMALL|HUGE|BIG)?INT|INTEGER|DECIMAL|DOUBLE|FLOAT|REAL)", kind):
            return f"({name} IS NOT NULL AND {name} <> 0)"
        return f"{name} IS NOT NULL"

    def _arrow(self, batch: Batch) -> Any:
        """The batch as Arrow, of the source's declared types where it declared them (an Arrow
        source's batch is already that); with its row numbers when merging."""
        import pyarrow

        record = _as_arrow(batch)
        if self._key is not None:
            record = record.append_column("pdip_row", pyarrow.array(range(record.num_rows), pyarrow.int64()))
        return record

    def _store_position(self, batch: Batch) -> None:
        slot = partition_slot(self.position_slot, batch.partition)
        self._execute(
            f"INSERT INTO {POSITIONS} VALUES (?, ?, ?) ON CONFLICT (slot) DO UPDATE SET "
            "position = excluded.position, updated_at = excluded.updated_at",
            [slot, dumps(batch.position), dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)],
        )

    # -- the table ------------------------------------------------------------------------------

    def _make_ready(self, batch: Batch) -> None:
        """The target table: created from the source's types when asked, emptied when asked;
        for `merge` its key checked, for `replace` its twin made (or kept, when resuming)."""
        name = self.connection.get("table")
        if not name:
            raise OperationError(f"{label(self.connection)}: a target needs table")
        if not self._has(name):
            if not self._create:
                raise OperationError(
                    f"{label(self.connection)}: table: {name!r} does not exist in {self.path}; "
                    "set create_target: true to create it"
                )
            self._create_table(batch)
        target = self._qualified(name)
        self._known = self._describe(target)
        if self._truncate:
            self._refuse_frozen(batch)
            self._execute(f"DELETE FROM {target}")
        write = self.disposition.write
        if write == "merge":
            self._key = self._merge_key(name)
        elif write == "replace":
            twin = self._twin_name()
            if not self._resumed or not self._has(twin):
                self._make_twin(name, twin)
            target = self._qualified(twin)
        self._table = target

    def _create_table(self, batch: Batch) -> None:
        """A table of the source's declared types (the one type map), a column declared without
        one taking the first batch's Arrow type; keyed on the merge's key for `write: merge`."""
        import pyarrow

        fields = arrow_fields(batch.types, batch.columns)
        if not all(fields):
            found = _value_types(batch)
            fields = [field or found.field(index) for index, field in enumerate(fields)]
        fields = [field.with_type(pyarrow.string()) if pyarrow.types.is_null(field.type) else field for field in fields]
        empty = pyarrow.Table.from_batches([], schema=pyarrow.schema(fields))
        self.database.register("pdip_types", empty)
        try:
            kinds = self._describe("pdip_types")
        finally:
            self.database.unregister("pdip_types")
        columns = [f"{quote(column)} {kind}" for column, kind in kinds.items()]
        if self.disposition.write == "merge" and self.disposition.key:
            columns.append(f"PRIMARY KEY ({', '.join(map(quote, self.disposition.key))})")
        name = self.connection.get("table")
        self._execute(f"CREATE TABLE {self._qualified(name)} ({', '.join(columns)})")
        self._execute(
            f"CREATE TABLE IF NOT EXISTS {CREATED} (table_name VARCHAR PRIMARY KEY, created_at TIMESTAMP NOT NULL)"
        )
        self._execute(f"INSERT OR REPLACE INTO {CREATED} VALUES (?, now()::TIMESTAMP)", [self._created_key(name)])

    def _merge_key(self, name: str) -> tuple[str, ...]:
        """The integration's key, else the primary key; it must be the primary key or unique."""
        where = f"integration {self.disposition.integration!r}: write: merge"
        constraints = self._query(
            "SELECT constraint_type, constraint_column_names FROM duckdb_constraints() "
            "WHERE table_name = ? AND schema_name = ? AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')",
            [name, self.connection.get("schema") or "main"],
        )
        primary = next((tuple(columns) for kind, columns in constraints if kind == "PRIMARY KEY"), ())
        chosen = tuple(self.disposition.key) if self.disposition.key else primary
        if not chosen:
            raise OperationError(
                f"{where} needs a key: table {name!r} has no primary key; name its key columns with key: [...]"
            )
        missing = [column for column in chosen if column not in self._known]
        if missing:
            raise OperationError(f"{where}: key: table {name!r} has no column {', '.join(missing)}")
        if not any(set(columns) == set(chosen) for _, columns in constraints):
            raise OperationError(
                f"{where}: key: ({', '.join(chosen)}) is neither the primary key nor a unique constraint of table "
                f"{name!r}; an upsert needs one"
            )
        flag = self.disposition.delete_column
        if flag is not None and flag not in self._known:
            raise OperationError(
                f"{where}: delete_column: table {name!r} has no column {flag!r} "
                "(the flag is kept with the rows it does not delete)"
            )
        return chosen

    def _make_twin(self, name: str, twin: str) -> None:
        """The twin a replacing run loads: the table's own `CREATE TABLE` under another name."""
        (definition,) = self._query(
            "SELECT sql FROM duckdb_tables() WHERE table_name = ? AND schema_name = ?",
            [name, self.connection.get("schema") or "main"],
        )[0]
        head = re.match(r"\s*CREATE\s+TABLE\s+(\"(?:[^\"]|\"\")*\"|[^\s(]+)", definition, re.IGNORECASE)
        self._execute(f"DROP TABLE IF EXISTS {self._qualified(twin)}")
        self._execute(definition[: head.start(1)] + self._qualified(twin) + definition[head.end(1) :])

    def finish(self) -> None:
        """`write: replace`: the loaded twin takes the table's place in one transaction, with the
        run's positions forgotten (a resume after this loads everything again)."""
        if self.disposition.write != "replace":
            return
        if self._table is None:  # nothing came, and the source declared no columns
            self._make_ready(Batch(self._columns, []))
        name = self.connection.get("table")
        indexes = self._query(
            "SELECT sql FROM duckdb_indexes() WHERE table_name = ? AND schema_name = ? AND sql IS NOT NULL",
            [name, self.connection.get("schema") or "main"],
        )
        self._execute("BEGIN TRANSACTION")
        try:
            self._execute(f"DROP TABLE {self._qualified(name)}")
            self._execute(f"ALTER TABLE {self._table} RENAME TO {quote(name)}")
            for (index,) in indexes:  # dropped with the table; made again on the new one
                self._execute(index)
            if self.position_slot is not None:
                self._forget(self.position_slot)
            self._execute("COMMIT")
        except BaseException:
            self._execute("ROLLBACK")
            raise

    def _twin_name(self) -> str:
        return replace.stage_name(self.connection.get("table"))

    # -- schema changes -------------------------------------------------------------------------

    def _add_columns(self, batch: Batch, added: list[str]) -> list[str]:
        import pyarrow

        record = batch.to_arrow()
        declared = arrow_fields(batch.types, added)
        fields = [field or record.schema.field(name) for name, field in zip(added, declared, strict=True)]
        empty = pyarrow.Table.from_batches([], schema=pyarrow.schema(fields))
        self.database.register("pdip_types", empty)
        try:
            kinds = self._describe("pdip_types")
        finally:
            self.database.unregister("pdip_types")
        changes = []
        self._execute("BEGIN TRANSACTION")
        for column, kind in kinds.items():
            self._execute(f"ALTER TABLE {self._table} ADD COLUMN {quote(column)} {kind}")
            changes.append(f"added column {column!r} {kind}")
        self._execute("COMMIT")
        self._known = self._describe(self._table)
        return changes

    def _schema_choice(self) -> tuple[str, str]:
        """The integration's `schema`, or the default: evolve a table pdip created, freeze another."""
        if self.schema_changes is not None:
            return self.schema_changes, "the integration's"
        name = self._created_key(self.connection.get("table"))
        if self._has(CREATED) and self._query(f"SELECT 1 FROM {CREATED} WHERE table_name = ?", [name]):
            return "evolve", "the default for a table pdip created"
        return "freeze", "the default for a table pdip did not create"

    # -- helpers --------------------------------------------------------------------------------

    def _created_key(self, name: str) -> str:
        schema = self.connection.get("schema")
        return f"{schema}.{name}" if schema else name

    def _qualified(self, name: str) -> str:
        return ".".join(quote(part) for part in (self.connection.get("schema"), name) if part)

    def _has(self, name: str) -> bool:
        schema = self.connection.get("schema") if name not in (POSITIONS, CREATED) else None
        found = self._query(
            "SELECT 1 FROM duckdb_tables() WHERE table_name = ? AND schema_name = ?", [name, schema or "main"]
        )
        return bool(found)

    def _describe(self, relation: str) -> dict[str, str]:
        return {row[0]: row[1] for row in self._query(f"DESCRIBE {relation}")}

    def _query(self, sql: str, parameters: list[Any] | None = None) -> list[tuple]:
        return self._open().execute(sql, parameters).fetchall()

    def _execute(self, sql: str, parameters: list[Any] | None = None) -> None:
        self._open().execute(sql, parameters)

    def run(self, sql: str) -> None:
        self._open().execute(sql)

    def describe(self) -> str:
        return f"duckdb:{self.connection.get('table') or 'statements'}"

    def close(self) -> None:
        if self.database is not None:
            self.database.close()


ADAPTER = Adapter(
    ("duckdb",),
    DuckDbSource,
    DuckDbTarget,
    Capabilities(
        bulk_load=True, upsert=True, replace=True, transactions=True, stores_positions=True, in_process_only=True
    ),
    settings=SETTINGS,
)
