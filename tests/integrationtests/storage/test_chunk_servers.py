"""The data store contract on the SQL chunk store, on PostgreSQL and MariaDB."""

import unittest
import uuid

import sqlalchemy as sa

from pdip.storage import ChunkDataStore
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


class PostgresChunkStoreTest(_ServerChunkStore, unittest.TestCase):
    server_url = staticmethod(servers.postgres_url)


class MariaDbChunkStoreTest(_ServerChunkStore, unittest.TestCase):
    server_url = staticmethod(servers.mysql_url)
    big_bytes = 32 * MIB  # PyMySQL sends a chunk as escaped text: ~10 chunks' worth at once, whatever the size
