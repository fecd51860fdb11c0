"""The data store contract on the SQL chunk store, on PostgreSQL and MariaDB."""

import unittest
import uuid

import sqlalchemy as sa

from pdip.storage import ChunkDataStore, PreconditionFailedError
from pdip.storage.chunks import metadata
from tests.support import servers
from tests.support.data_store_contract import MIB, DataStoreContract


class _ServerChunkStore(DataStoreContract):
    url: str

    @classmethod
    def setUpClass(cls):
        cls.engine = sa.create_engine(cls.server_url())
        metadata.drop_all(cls.engine)

    @classmethod
    def tearDownClass(cls):
        metadata.drop_all(cls.engine)
        cls.engine.dispose()

    def make_store(self):
        return ChunkDataStore(self.engine, f"store-{uuid.uuid4().hex[:8]}", chunk_bytes=MIB // 4)

    def test_a_read_in_progress_is_not_cut_short_by_a_rewrite(self):
        self.store.write("moving.bin", [b"a" * MIB])
        reading = self.store.read("moving.bin")
        first = next(reading)
        self.store.write("moving.bin", [b"b" * MIB])
        rest = b"".join(reading)
        self.assertEqual(first + rest, b"a" * MIB)
        self.assertEqual(b"".join(self.store.read("moving.bin")), b"b" * MIB)


class _FirstWriters:
    """Another writer creates the item between this writer's look for it and its insert."""

    def overtake(self, store: ChunkDataStore, key: str, content: bytes):
        other = ChunkDataStore(self.engine, store.name)
        fired = []

        def before(connection, cursor, statement, parameters, context, executemany):
            if statement.startswith("INSERT INTO pdip_data_items") and not fired:
                fired.append(True)
                other.write(key, [content])  # on another connection, committed at once

        sa.event.listen(self.engine, "before_cursor_execute", before)
        self.addCleanup(sa.event.remove, self.engine, "before_cursor_execute", before)
        return fired

    def test_a_writer_overtaken_on_its_first_insert_replaces_the_other_or_refuses(self):
        fired = self.overtake(self.store, "first.txt", b"theirs")
        item = self.store.write("first.txt", [b"mine"])
        self.assertEqual((fired, b"".join(self.store.read("first.txt"))), ([True], b"mine"))
        self.assertEqual(self.store.item("first.txt"), item)

        fired = self.overtake(self.store, "second.txt", b"theirs")
        with self.assertRaises(PreconditionFailedError):
            self.store.write("second.txt", [b"mine"], if_none_match=True)
        self.assertEqual((fired, b"".join(self.store.read("second.txt"))), ([True], b"theirs"))


class PostgresChunkStoreTest(_FirstWriters, _ServerChunkStore, unittest.TestCase):
    server_url = staticmethod(servers.postgres_url)


class MariaDbChunkStoreTest(_FirstWriters, _ServerChunkStore, unittest.TestCase):
    server_url = staticmethod(servers.mysql_url)
    big_bytes = 32 * MIB  # PyMySQL sends a chunk as escaped text: ~10 chunks' worth at once, whatever the size
