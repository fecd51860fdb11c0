"""A DuckDB table named, not carried, for a Parquet file DuckDB writes itself (`duckdb-table`).

When nothing needs the values on the way (no policy, cursor or chosen columns: the planner asks
for raw formats only then), a DuckDB source that reads a whole table of a file sends one batch
naming the database, the SELECT and the table's row count, and a Parquet target writing a new file
(not appending) has DuckDB write it with `COPY (SELECT ...) TO ... (FORMAT parquet)` on all its
threads, into the temporary file the target puts in place at the end, as it does any file. Only
tables whose every column `COPY` writes as the Arrow path would (`PLAIN`: the same Parquet types,
the same values) go this way; a HUGEINT (which `COPY` writes as a double), a UUID, JSON, ENUM,
INTERVAL or nested column sends Arrow batches as before. The file takes the target's
`compression`, `row_group_rows` (down to whole vectors of 2,048 rows, at least one) and
`row_group_megabytes` (DuckDB measures a row group in its own terms, near Arrow's); which
columns get a dictionary is DuckDB's choice. Nothing on this path refuses a row: the file's
types are the table's (ADR 0024). How a DuckDB file is opened, for this copy and for the
adapter (`adapters/duckdb.py`), is here too.
"""

from __future__ import annotations

import dataclasses
import pickle
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.batch import Batch
from pdip.integrator.errors import needs

RAW_FORMAT = "duckdb-table"
# DuckDB's names (DESCRIBE) of the types its Parquet writer stores as pyarrow's writer stores the
# same column read as Arrow, with the name of that Arrow type (what a run reports of its columns,
# without importing pyarrow): bound to tests that compare both files, and DuckDB's Arrow output.
PLAIN = {
    "TINYINT": "int8",
    "SMALLINT": "int16",
    "INTEGER": "int32",
    "BIGINT": "int64",
    "UTINYINT": "uint8",
    "USMALLINT": "uint16",
    "UINTEGER": "uint32",
    "UBIGINT": "uint64",
    "FLOAT": "float",
    "DOUBLE": "double",
    "BOOLEAN": "bool",
    "VARCHAR": "string",
    "BLOB": "binary",
    "DATE": "date32[day]",
    "TIME": "time64[us]",
    "TIMESTAMP": "timestamp[us]",
    "TIMESTAMP WITH TIME ZONE": "timestamp[us, tz=UTC]",
    "TIMESTAMP_MS": "timestamp[ms]",
    "TIMESTAMP_NS": "timestamp[ns]",
}
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")
_COMPRESSIONS = {"none": "uncompressed"}  # the target's names that DuckDB spells otherwise
VECTOR = 2048  # DuckDB's rows per vector: its row groups hold whole vectors
# DuckDB's memory while it copies, in MiB (or 16 row groups, if more): by default it keeps the
# table's blocks cached up to most of the machine's memory, so a copy's peak grew with the table
# (1M rows 200 MB, 3M 395 MB); at 128 MiB 3M rows peaked at 204 MB for the same CPU, at 64 MiB
# 141 MB for 20% more.
COPY_MEMORY = 128


@dataclasses.dataclass(frozen=True)
class Selection:
    """The rows of `sql` in the DuckDB file at `database`."""

    database: str
    sql: str


def wanted(request: ReadRequest) -> bool:
    """Whether the target takes a named table and the read is of all of it: no chosen columns,
    cursor, key order, partition or resume point (a file target starts over when resumed)."""
    return (
        RAW_FORMAT in request.accept
        and not request.columns
        and request.cursor is None
        and not request.key
        and request.partition is None
        and request.resume is None
    )


def plain(kinds: list[str]) -> bool:
    """Whether `COPY` writes columns of these DuckDB types as the Arrow path would."""
    return all(arrow_name(kind) is not None for kind in kinds)


def arrow_name(kind: str) -> str | None:
    """The name of the Arrow type DuckDB reads a `PLAIN` column (or a decimal) as; None for others."""
    found = _DECIMAL.fullmatch(kind)
    return f"decimal128({found.group(1)}, {found.group(2)})" if found else PLAIN.get(kind)


class Declared:
    """The columns a table copied whole declares (`Source.schema`), known from DuckDB's DESCRIBE:
    their names, and the names of their Arrow types for the run's report, without pyarrow. Their
    Arrow fields are made by `arrow` when first iterated (the file of an empty table needs them)."""

    def __init__(self, kinds: dict[str, str], arrow: Callable[[], Any]):
        self.names = list(kinds)
        self._kinds, self._arrow = kinds, arrow

    def described(self) -> tuple[tuple[str, str], ...]:
        return tuple((name, arrow_name(kind)) for name, kind in self._kinds.items())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._arrow())


def named(database: str, sql: str, columns: list[str], count: int) -> Batch:
    """The one batch of a table read whole: its position is the rows read, as the Arrow batches'."""
    payload = pickle.dumps(Selection(str(Path(database).resolve()), sql), protocol=pickle.HIGHEST_PROTOCOL)
    return Batch.raw(columns, RAW_FORMAT, payload, count, count)


def copy_to_parquet(batch: Batch, path: Path, settings: Any) -> int:
    """Write the batch's rows to the Parquet file at `path` (replaced) with DuckDB's `COPY`; the
    rows written."""
    found: Selection = pickle.loads(batch.payload)  # made by `named`, in this process
    compression = settings.compression.lower()
    rows = max(VECTOR, settings.row_group_rows // VECTOR * VECTOR)
    options = (
        f"FORMAT parquet, COMPRESSION '{_COMPRESSIONS.get(compression, compression)}', "
        f"ROW_GROUP_SIZE {rows}, ROW_GROUP_SIZE_BYTES '{settings.row_group_megabytes}MiB'"
    )
    target = str(path).replace("'", "''")
    memory = max(COPY_MEMORY, 16 * settings.row_group_megabytes)
    with open_file(found.database) as database:
        database.execute(f"SET memory_limit = '{memory}MiB'")  # for the whole database, while it copies
        try:
            ((written,),) = database.execute(f"COPY ({found.sql}) TO '{target}' ({options})").fetchall()
        finally:
            database.execute("RESET memory_limit")
    return written


def decode(batch: Batch) -> list[tuple]:
    """The rows, read from the database, for whoever needs the values."""
    found: Selection = pickle.loads(batch.payload)  # made by `named`, in this process
    with open_file(found.database) as database:
        return database.execute(found.sql).fetchall()


def driver() -> Any:
    """DuckDB's Python client, or an error saying which extra installs it."""
    return needs("duckdb", "duckdb connections", "duckdb")


def ready(connection: Any) -> Any:
    """Instants in UTC: a `TIMESTAMPTZ` comes out as `timestamp[us, tz=UTC]`. (DuckDB's lossless
    Arrow output would give UUID and JSON columns their Arrow types, but booleans as `bool8`,
    which other stores do not take: UUID and JSON are read as their text.)"""
    connection.execute("SET TimeZone = 'UTC'")
    return connection


def open_file(path: str) -> Any:
    """A read-only connection to the DuckDB file at `path`; the one this process already has
    open for writing, when it has."""
    duckdb = driver()
    try:
        return ready(duckdb.connect(path, read_only=True))
    except duckdb.ConnectionException:  # this process has it open for writing: share that
        return ready(duckdb.connect(path))
