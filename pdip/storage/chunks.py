"""`ChunkDataStore`: items as chunks in SQL tables, for deployments that have only a database.

    pdip_data_items   store, key, version, size, chunks, chunk_bytes, content_type, etag, updated_at
    pdip_data_chunks  version, number, data            (one row per `chunk_bytes` of content)

A write inserts its chunks under a new version and swaps the item's row to it in the same
transaction, deleting the old version's chunks: readers see the old item or the new one. The
row is locked (`FOR UPDATE`) before the swap, so `If-Match` holds against concurrent writers. A
read fetches one chunk per query inside one transaction (REPEATABLE READ where the database has
it), so a write committed meanwhile does not cut it short. The etag is the MD5 of the content.
Works on SQLite, PostgreSQL and MariaDB/MySQL through SQLAlchemy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from pdip.storage.base import CHUNK_BYTES, DataStore, Expectation
from pdip.storage.errors import ItemNotFoundError
from pdip.storage.items import DataItem, rechunked

_MYSQL = ("mysql", "mariadb")


class _Key(sa.types.TypeDecorator):
    """A key of up to 1024 UTF-8 bytes; on MariaDB/MySQL kept as those bytes (VARBINARY), since a
    primary key of 1024 utf8mb4 characters passes InnoDB's 3072-byte limit. Bytes order as the
    code points do, so listings come in the same order on every database."""

    impl = sa.String(1024)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name in _MYSQL:
            return dialect.type_descriptor(mysql.VARBINARY(1024))
        return dialect.type_descriptor(sa.String(1024))

    def process_bind_param(self, value, dialect):
        return value.encode("utf-8") if dialect.name in _MYSQL and isinstance(value, str) else value

    def process_result_value(self, value, dialect):
        return value.decode("utf-8") if isinstance(value, bytes) else value


metadata = sa.MetaData()
_BLOB = sa.LargeBinary().with_variant(mysql.LONGBLOB(), *_MYSQL)
_TIME = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), *_MYSQL)

items_table = sa.Table(
    "pdip_data_items",
    metadata,
    sa.Column("store", sa.String(100), primary_key=True),
    sa.Column("key", _Key(), primary_key=True),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("chunks", sa.Integer, nullable=False),
    sa.Column("chunk_bytes", sa.Integer, nullable=False),
    sa.Column("content_type", sa.String(255)),
    sa.Column("etag", sa.String(64), nullable=False),
    sa.Column("updated_at", _TIME, nullable=False),
)
chunks_table = sa.Table(
    "pdip_data_chunks",
    metadata,
    sa.Column("version", sa.String(32), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("data", _BLOB, nullable=False),
)
_SNAPSHOT_DIALECTS = ("postgresql", "mysql", "mariadb")


class ChunkDataStore(DataStore):
    """Items of store `name` as chunks in `engine`'s database; the tables are made on first use."""

    def __init__(self, engine: sa.Engine, name: str = "data", chunk_bytes: int = CHUNK_BYTES):
        super().__init__(name, chunk_bytes)
        self.engine = engine
        self._tables_made = False

    def __repr__(self) -> str:
        return f"ChunkDataStore({self.name!r})"

    def create_tables(self) -> None:
        metadata.create_all(self.engine, checkfirst=True)
        self._tables_made = True

    def _connect(self) -> sa.Connection:
        if not self._tables_made:
            self.create_tables()
        return self.engine.connect()

    def _row(self, connection: sa.Connection, key: str, lock: bool = False) -> sa.Row | None:
        query = sa.select(items_table).where(items_table.c.store == self.name, items_table.c.key == key)
        return connection.execute(query.with_for_update() if lock else query).first()

    def _item(self, key: str) -> DataItem | None:
        with self._connect() as connection:
            row = self._row(connection, key)
        return None if row is None else _described(row)

    def _read(self, key: str, start: int, stop: int) -> Iterator[bytes]:
        with self._connect() as connection:
            if self.engine.dialect.name in _SNAPSHOT_DIALECTS:
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                row = self._row(connection, key)
                if row is None:  # deleted since it was looked up
                    raise ItemNotFoundError(self.name, key)
                chunk = sa.select(chunks_table.c.data).where(
                    chunks_table.c.version == row.version, chunks_table.c.number == sa.bindparam("number")
                )
                size = row.chunk_bytes  # as written: every chunk but the last is this long
                for number in range(start // size, min(row.chunks, -(-stop // size))):
                    offset = number * size
                    data = connection.execute(chunk, {"number": number}).scalar_one()
                    yield data[max(0, start - offset) : stop - offset]

    def _write(self, key: str, chunks: Iterator[bytes], content_type: str, expect: Expectation) -> DataItem:
        with self._connect() as connection:
            if self.engine.dialect.name in _SNAPSHOT_DIALECTS:  # no gap locks: first writers do not deadlock
                connection = connection.execution_options(isolation_level="READ COMMITTED")
            with connection.begin():
                return self._swap(connection, key, chunks, content_type, expect)

    def _swap(
        self, connection: sa.Connection, key: str, chunks: Iterator[bytes], content_type: str, expect: Expectation
    ) -> DataItem:
        version = uuid.uuid4().hex
        digest = hashlib.md5(usedforsecurity=False)
        size = count = 0
        for piece in rechunked(chunks, self.chunk_bytes):
            connection.execute(sa.insert(chunks_table), {"version": version, "number": count, "data": piece})
            digest.update(piece)
            size += len(piece)
            count += 1
        values = {
            "version": version,
            "size": size,
            "chunks": count,
            "chunk_bytes": self.chunk_bytes,
            "content_type": content_type,
            "etag": digest.hexdigest(),
            "updated_at": dt.datetime.now(dt.timezone.utc),
        }
        old = self._row(connection, key, lock=True)
        expect(_described(old) if old else None)
        if old is None:
            try:
                with connection.begin_nested():
                    connection.execute(sa.insert(items_table), {"store": self.name, "key": key, **values})
            except sa.exc.IntegrityError:  # another writer made the item meanwhile: replace theirs
                old = self._row(connection, key, lock=True)
                expect(_described(old))
        if old is not None:
            connection.execute(_where(sa.update(items_table), self.name, key).values(**values))
            connection.execute(sa.delete(chunks_table).where(chunks_table.c.version == old.version))
        return DataItem(key, size, values["updated_at"], values["etag"], content_type)

    def _delete(self, key: str) -> bool:
        with self._connect() as connection, connection.begin():
            row = self._row(connection, key)
            if row is None:
                return False
            connection.execute(_where(sa.delete(items_table), self.name, key))
            connection.execute(sa.delete(chunks_table).where(chunks_table.c.version == row.version))
        return True

    def _items(self, prefix: str, after: str | None, limit: int) -> list[DataItem]:
        query = sa.select(items_table).where(items_table.c.store == self.name)
        if prefix:
            query = query.where(items_table.c.key.startswith(prefix, autoescape=True))
        if after is not None:
            query = query.where(items_table.c.key > after)
        with self._connect() as connection:
            rows = connection.execute(query.order_by(items_table.c.key).limit(limit)).all()
        return [_described(row) for row in rows]


def _where(statement, store: str, key: str):
    return statement.where(items_table.c.store == store, items_table.c.key == key)


def _described(row: sa.Row) -> DataItem:
    updated = row.updated_at
    if updated.tzinfo is None:  # SQLite and MySQL keep no zone: what was written was UTC
        updated = updated.replace(tzinfo=dt.timezone.utc)
    return DataItem(row.key, row.size, updated, row.etag, row.content_type)
