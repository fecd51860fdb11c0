"""The data store contract on the stores that need no server: a folder, fsspec's local files,
and chunks in SQLite."""

import tempfile
import unittest
from pathlib import Path

import sqlalchemy as sa

from pdip.storage import ChunkDataStore, DirectoryDataStore, InvalidKeyError, ObjectDataStore
from tests.support.data_store_contract import DataStoreContract

CHUNK = 256 * 1024  # a quarter of the default, so the flat-memory check means something at 8 MiB


class DirectoryStoreTest(DataStoreContract, unittest.TestCase):
    def make_store(self):
        self.root = Path(tempfile.mkdtemp(prefix="pdip-data-"))
        self.addCleanup(__import__("shutil").rmtree, self.root, True)
        return DirectoryDataStore(self.root, "files", chunk_bytes=CHUNK)

    def test_items_are_plain_files_and_the_store_keeps_its_records_apart(self):
        self.store.write("docs/a.txt", [b"abc"], "text/x-notes")
        self.assertEqual((self.root / "docs" / "a.txt").read_bytes(), b"abc")
        self.assertEqual(self.store.item("docs/a.txt").content_type, "text/x-notes")
        with self.assertRaises(InvalidKeyError) as raised:
            self.store.write(".pdip-meta/docs/a.txt.json", [b"{}"])
        self.assertIn(".pdip-meta/", str(raised.exception))
        self.assertEqual([item.key for item in self.store.items().items], ["docs/a.txt"])

    def test_a_folder_is_not_an_item(self):
        self.store.write("docs/a.txt", [b"abc"])
        self.assertIsNone(self.store.item("docs"))
        self.assertFalse(self.store.delete("docs"))
        self.assertEqual(self.store.items(prefix="nothing/").items, [])


class LocalObjectStoreTest(DataStoreContract, unittest.TestCase):
    def make_store(self):
        root = tempfile.mkdtemp(prefix="pdip-objects-")
        self.addCleanup(__import__("shutil").rmtree, root, True)
        return ObjectDataStore(f"file://{root}", name="objects", chunk_bytes=CHUNK)

    def test_local_files_have_no_presigned_urls(self):
        self.store.write("a.txt", [b"a"])
        self.assertIsNone(self.store.download_url("a.txt", 60))
        self.assertEqual(repr(self.store), "ObjectDataStore('objects')")


class SmallChunkStoreTest(unittest.TestCase):
    def test_ranges_cross_chunk_borders(self):
        store = ChunkDataStore(sa.create_engine("sqlite://"), "small", chunk_bytes=7)
        content = bytes(range(100))
        store.write("r.bin", [content])
        for start in range(0, 101, 3):
            for stop in range(start, 103, 5):
                self.assertEqual(b"".join(store.read("r.bin", start, stop)), content[start:stop], (start, stop))
        later = ChunkDataStore(store.engine, "small", chunk_bytes=11)  # read with another chunk size configured
        self.assertEqual(b"".join(later.read("r.bin", 20, 60)), content[20:60])


class SqliteChunkStoreTest(DataStoreContract, unittest.TestCase):
    def make_store(self):
        folder = tempfile.mkdtemp(prefix="pdip-chunks-")
        self.addCleanup(__import__("shutil").rmtree, folder, True)
        self.engine = sa.create_engine(f"sqlite:///{folder}/data.db")
        self.addCleanup(self.engine.dispose)
        return ChunkDataStore(self.engine, "chunks", chunk_bytes=CHUNK)

    def test_content_is_kept_in_chunks_of_the_configured_size(self):
        self.store.write("c.bin", [b"x" * (600 * 1024)])
        with self.engine.connect() as connection:
            sizes = connection.execute(sa.text("select length(data) from pdip_data_chunks order by number")).scalars()
            self.assertEqual(list(sizes), [256 * 1024, 256 * 1024, 88 * 1024])
        self.store.write("c.bin", [b"y"])
        with self.engine.connect() as connection:
            self.assertEqual(connection.execute(sa.text("select count(*) from pdip_data_chunks")).scalar(), 1)

    def test_two_stores_share_the_tables_but_not_their_items(self):
        other = ChunkDataStore(self.engine, "other")
        self.store.write("same.txt", [b"mine"])
        self.assertIsNone(other.item("same.txt"))
        other.write("same.txt", [b"theirs"])
        self.assertEqual(b"".join(self.store.read("same.txt")), b"mine")
        self.assertEqual(repr(other), "ChunkDataStore('other')")


class DirectoryEdgesTest(unittest.TestCase):
    def setUp(self):
        self.root = Path(tempfile.mkdtemp(prefix="pdip-data-"))
        self.addCleanup(__import__("shutil").rmtree, self.root, True)
        self.store = DirectoryDataStore(self.root, "files")

    def test_files_put_there_by_other_means_are_items_with_a_guessed_type(self):
        (self.root / "dropped.csv").write_text("a,b\n")
        self.assertEqual(self.store.item("dropped.csv").content_type, "text/csv")
        self.store.write("typed.bin", [b"1"], "application/x-thing")
        (self.root / ".pdip-meta" / "typed.bin.json").write_text("not json")
        self.assertEqual(self.store.item("typed.bin").content_type, "application/octet-stream")
        self.assertEqual(repr(self.store), "DirectoryDataStore('files')")

    def test_links_out_of_the_store_are_neither_listed_nor_followed(self):
        outside = Path(tempfile.mkdtemp(prefix="pdip-outside-"))
        self.addCleanup(__import__("shutil").rmtree, outside, True)
        (outside / "secret.txt").write_text("secret")
        (self.root / "link.txt").symlink_to(outside / "secret.txt")
        (self.root / "folder").symlink_to(outside, target_is_directory=True)
        self.assertEqual(self.store.items().items, [])
        for key in ("link.txt", "folder/secret.txt"):
            with self.subTest(key=key), self.assertRaises(InvalidKeyError) as raised:
                self.store.read(key)
            self.assertIn("a link leads out of the store", str(raised.exception))

    def test_a_key_cannot_be_an_item_and_a_folder_at_once(self):
        from pdip.storage import KeyConflictError

        self.store.write("a/b.txt", [b"b"])
        for key in ("a/b.txt/c.txt", "a"):
            with self.subTest(key=key), self.assertRaises(KeyConflictError) as raised:
                self.store.write(key, [b"x"])
            self.assertIn(f"data key {key!r}", str(raised.exception))
        self.assertIsNone(self.store.item("a/b.txt/c.txt"))
        self.assertEqual(b"".join(self.store.read("a/b.txt")), b"b")

    def test_a_chunk_size_must_be_positive(self):
        with self.assertRaises(ValueError) as raised:
            DirectoryDataStore(self.root, "files", chunk_bytes=0)
        self.assertIn("chunk_bytes: expected a positive number", str(raised.exception))


class ObjectEdgesTest(unittest.TestCase):
    def test_a_folder_is_not_an_item_and_an_unknown_protocol_is_a_configuration_error(self):
        from pdip.storage import StorageConfigurationError

        root = tempfile.mkdtemp(prefix="pdip-objects-")
        self.addCleanup(__import__("shutil").rmtree, root, True)
        store = ObjectDataStore(f"file://{root}", name="objects")
        store.write("folder/a.txt", [b"a"])
        self.assertIsNone(store.item("folder"))
        with self.assertRaises(StorageConfigurationError) as raised:
            ObjectDataStore("nosuchprotocol://bucket/x", {"password": "hunter2"}, name="odd")
        self.assertIn("data store 'odd': url: cannot open nosuchprotocol://bucket/x", str(raised.exception))
        self.assertNotIn("hunter2", str(raised.exception))


class ChunkEdgesTest(unittest.TestCase):
    def test_an_item_deleted_before_its_read_began_is_not_found(self):
        from pdip.storage import ItemNotFoundError

        store = ChunkDataStore(sa.create_engine("sqlite://"), "chunks")
        store.write("a.txt", [b"a"])
        reading = store.read("a.txt")
        store.delete("a.txt")
        with self.assertRaises(ItemNotFoundError):
            next(reading)
