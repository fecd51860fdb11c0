"""PostgreSQL's fast path: binary `COPY` both ways, with the data passed through undecoded.

A source asked for `postgresql-copy-binary` runs `COPY (its SELECT) TO STDOUT (FORMAT BINARY)`
and cuts the stream into batches of whole rows: the server sends one message per row, so a
batch is its rows' bytes between the format's header and trailer, and its length is the number
of messages. A PostgreSQL target writes such a batch with one `COPY ... FROM STDIN (FORMAT
BINARY)`, never looking inside. Binary COPY is strict about types (an `integer` field cannot go
into a `bigint` column), so the target passes a batch through only when its columns' types are
the source's (text and varchar count as one); otherwise, and for dead letters or policies, the
batch is decoded with psycopg's own loaders (`decode_copy_binary`).

Bound parameters cannot go into a `COPY (SELECT ...)`, so the SELECT's values are rendered by
psycopg's client-side quoting (`ClientCursor.mogrify`), never formatted by hand.
"""

from __future__ import annotations

import array
import dataclasses
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from pdip.integrator.adapters.sql.dialects import as_sent
from pdip.integrator.batch import Batch
from pdip.integrator.types import ColumnTypes

RAW_FORMAT = "postgresql-copy-binary"
SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER = SIGNATURE + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"  # no flags, no header extension
TRAILER = b"\xff\xff"
_TEXT_LIKE = {25, 1043}  # text and varchar: the same bytes in binary COPY
_INT2 = struct.Struct(">h")
_INT4 = struct.Struct(">i")


def literal_sql(connection: sa.Connection, statement: sa.Select) -> str:
    """`statement` as SQL text with its values quoted by psycopg (COPY takes no parameters)."""
    import psycopg

    compiled = statement.compile(dialect=connection.dialect)
    driver = connection.connection.driver_connection
    return psycopg.ClientCursor(driver).mogrify(compiled.string, compiled.params)


# what a column's wire type says of its values, where a query declares no types (`exact`)
_DECLARED_BY_OID = {
    20: sa.BigInteger,
    21: sa.SmallInteger,
    23: sa.Integer,
    1082: sa.Date,
    1114: sa.DateTime,
    1184: sa.DateTime,
}


def declared_by_oids(columns: Sequence[str], oids: Sequence[int]) -> ColumnTypes:
    """The types binary COPY rows of these OIDs certainly have (None where the OID says too little)."""
    kinds = tuple(_DECLARED_BY_OID[oid]() if oid in _DECLARED_BY_OID else None for oid in oids)
    return ColumnTypes("", kinds, tuple(columns))


def describe(connection: sa.Connection, sql: str) -> tuple[list[str], tuple[int, ...]]:
    """The column names and type OIDs a query returns, without reading its rows."""
    with connection.connection.driver_connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM ({sql}) AS described LIMIT 0")
        return [column.name for column in cursor.description], tuple(column.type_code for column in cursor.description)


@dataclasses.dataclass
class CopyRows:
    """A batch of binary COPY rows (without header or trailer) joined in one buffer, with each
    row's length: each row is copied once, into the buffer, and no object is made per row (a list
    of a batch's rows as `bytes` took twice the CPU of reading them from libpq)."""

    data: bytearray = dataclasses.field(default_factory=bytearray)
    lengths: array.array = dataclasses.field(default_factory=lambda: array.array("q"))

    @classmethod
    def of(cls, messages: Sequence[Any]) -> CopyRows:
        rows = cls()
        for message in messages:
            rows.add(message)
        return rows

    def add(self, message: Any) -> None:
        self.data += message
        self.lengths.append(len(message))

    def __len__(self) -> int:
        return len(self.lengths)

    def last(self) -> bytes:
        """The last row."""
        return bytes(self.data[len(self.data) - self.lengths[-1] :])

    def drop_last(self) -> None:
        del self.data[len(self.data) - self.lengths.pop() :]


def read_copy_binary(
    connection: sa.Connection,
    copy_statement: str,
    columns: list[str],
    oids: tuple[int, ...],
    batch_size: int,
    position: Any,
    made: Callable[[list[str], tuple[int, ...], CopyRows, Any], Batch] | None = None,
) -> Iterator[Batch]:
    """Batches of `batch_size` rows of raw binary COPY data; `position(count, last_row)` says
    where each batch ends (it decodes only what it needs of the last row); `made(columns, oids,
    rows, position)` makes each batch of its rows (default: a raw batch, `raw_batch`).

    The rows are taken from libpq one message at a time through psycopg's own wrapper of it
    (`psycopg.pq`): the same calls psycopg's `Copy` makes, without its per-row generator, which
    costs more than reading the row. A read left unfinished (the consumer stopped early, or the
    server failed mid-way) discards the connection, which may be in the middle of a COPY."""
    from psycopg import errors, pq

    made = made or raw_batch
    pgconn = connection.connection.driver_connection.pgconn
    pgconn.send_query(copy_statement.encode("utf-8"))
    started = pgconn.get_result()
    if started.status != pq.ExecStatus.COPY_OUT:
        _finish(pgconn)
        raise errors.error_from_result(started, encoding="utf-8")
    finished = False
    try:
        get = pgconn.get_copy_data
        count = 0
        size, first = get(0)  # the header travels in front of the first row (or of the trailer)
        ended = size < 0
        pending = CopyRows.of([_without_header(first)] if size > 0 else [])
        while not ended:
            # psycopg hands each row as a memoryview: copied into the batch's buffer at once, none
            # is kept (a batch of memoryviews held made every full collection walk them all)
            rows, pending = pending, CopyRows()
            data, add = rows.data, rows.lengths.append
            # a counted loop, not a test of the batch's length per row: a third of the loop's CPU
            for _ in range(batch_size - len(rows)):
                size, message = get(0)
                if size < 0:
                    ended = True
                    break
                data += message
                add(size)
            if rows and rows.lengths[-1] == len(TRAILER) and rows.last() == TRAILER:
                rows.drop_last()
            if rows:
                count += len(rows)
                yield made(columns, oids, rows, position(count, rows.last()))
        if (
            size == -2
        ):  # pragma: no cover - a connection broken without a word; provoking it means killing a server process
            raise errors.OperationalError(f"reading COPY data failed: {pgconn.get_error_message()}")
        _finish(pgconn, raise_error=True)
        finished = True
    finally:
        if not finished:
            connection.invalidate()


def _finish(pgconn: Any, raise_error: bool = False) -> None:
    """Collect the results that end a command; the first error among them is raised if asked."""
    from psycopg import errors, pq

    failure = None
    while (result := pgconn.get_result()) is not None:
        if result.status == pq.ExecStatus.FATAL_ERROR and failure is None:
            failure = errors.error_from_result(result, encoding="utf-8")
    if failure is not None and raise_error:
        raise failure


def raw_batch(columns: list[str], oids: tuple[int, ...], rows: CopyRows, position: Any) -> Batch:
    """Binary COPY rows as one raw batch, its payload a complete COPY stream."""
    payload = b"".join((HEADER, rows.data, TRAILER))
    return Batch.raw(columns, RAW_FORMAT, payload, len(rows), position, layout=oids)


def _without_header(message: Any) -> memoryview:
    view = memoryview(message)
    return view[_header_size(view) :]


def _header_size(view: memoryview) -> int:
    if bytes(view[: len(SIGNATURE)]) != SIGNATURE:
        raise ValueError("binary COPY data that does not start with the PGCOPY signature")
    return len(SIGNATURE) + 8 + _INT4.unpack_from(view, len(SIGNATURE) + 4)[0]


def fields(row: Any) -> list[memoryview | None]:
    """The raw fields of one binary COPY row (None for NULL)."""
    return _row_at(memoryview(row), 0)[0]


def _row_at(view: memoryview, offset: int) -> tuple[list[memoryview | None] | None, int]:
    """The fields of the row at `offset` and where the next one starts; None at the trailer."""
    count = _INT2.unpack_from(view, offset)[0]
    offset += 2
    if count < 0:
        return None, offset
    values: list[memoryview | None] = []
    for _ in range(count):
        size = _INT4.unpack_from(view, offset)[0]
        offset += 4
        if size < 0:
            values.append(None)
        else:
            values.append(view[offset : offset + size])
            offset += size
    return values, offset


def loader(oids: Sequence[int]) -> Any:
    """A psycopg transformer that turns binary fields of these types into Python values."""
    from psycopg.adapt import Transformer
    from psycopg.pq import Format

    transformer = Transformer()
    transformer.set_loader_types(list(oids), Format.BINARY)
    return transformer


def decode_copy_binary(batch: Batch) -> list[tuple]:
    """The rows of a raw binary COPY batch as Python values (psycopg's binary loaders)."""
    transformer = loader(batch.layout)
    view = memoryview(batch.payload)
    rows = []
    values, offset = _row_at(view, _header_size(view))
    while values is not None:
        rows.append(transformer.load_sequence(values))
        values, offset = _row_at(view, offset)
    return rows


def column_oids(connection: sa.Connection, target: str, names: str) -> tuple[int, ...]:
    with connection.connection.driver_connection.cursor() as cursor:
        cursor.execute(as_sent(connection.dialect, f"SELECT {names} FROM {target} LIMIT 0"))
        return tuple(column.type_code for column in cursor.description)


def compatible(source: Sequence[int], target: Sequence[int]) -> bool:
    """Whether binary COPY rows of the source's types load into columns of the target's types."""
    return len(source) == len(target) and all(
        one == other or (one in _TEXT_LIKE and other in _TEXT_LIKE) for one, other in zip(source, target, strict=True)
    )


def write_copy_binary(connection: sa.Connection, target: str, names: str, payload: bytes) -> None:
    """Load a raw binary COPY batch as it is, in the connection's open transaction."""
    with (
        connection.connection.driver_connection.cursor() as cursor,
        cursor.copy(as_sent(connection.dialect, f"COPY {target} ({names}) FROM STDIN (FORMAT BINARY)")) as copy,
    ):
        copy.write(payload)


class CopyAbandoned(Exception):
    """A `copy_csv` given up because its `abandon_if` said so (its transaction must roll back)."""


def copy_csv(
    connection: sa.Connection,
    target: str,
    names: str,
    payload: bytes,
    layout: dict[str, Any],
    abandon_if: Callable[[], bool] | None = None,
) -> None:
    """Load CSV records (UTF-8, no header) as they are, in the connection's open transaction.
    `abandon_if` is asked once the records are sent, while the server still parses them (so a
    search of the records costs no time of its own): True abandons the COPY (`CopyAbandoned`)."""
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT CSV, DELIMITER {}, QUOTE {}, NULL {}, ENCODING 'UTF8')")
    options = [sql.Literal(layout[key]) for key in ("delimiter", "quotechar", "null")]
    driver = connection.connection.driver_connection
    target, names = as_sent(connection.dialect, target), as_sent(connection.dialect, names)
    with driver.cursor() as cursor, cursor.copy(statement.format(sql.SQL(target), sql.SQL(names), *options)) as copy:
        copy.write(payload)
        if abandon_if is not None and abandon_if():
            raise CopyAbandoned(target)


def copy_rows(connection: sa.Connection, target: str, names: str, rows: Sequence[Sequence[Any]]) -> None:
    """Rows of Python values through a text `COPY`: psycopg writes each value as text and the
    server parses it for its column, so text from an untyped CSV goes in like any other value."""
    with (
        connection.connection.driver_connection.cursor() as cursor,
        cursor.copy(as_sent(connection.dialect, f"COPY {target} ({names}) FROM STDIN")) as copy,
    ):
        for row in rows:
            copy.write_row(row)


def type_names(connection: sa.Connection, oids: Sequence[int]) -> list[str]:
    """The SQL names of built-in types by OID (the same on every server), for a CREATE TABLE."""
    with connection.connection.driver_connection.cursor() as cursor:
        cursor.execute(
            "SELECT format_type(oid, NULL) FROM unnest(%s::oid[]) WITH ORDINALITY AS t(oid, n) ORDER BY n", [list(oids)]
        )
        return [name for (name,) in cursor.fetchall()]
