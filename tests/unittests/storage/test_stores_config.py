"""The STORAGE section: stores made from configuration at start, errors naming the key."""

import unittest

from pdip import Pdi
from pdip.configuration import ConfigurationError
from pdip.storage import (
    ChunkDataStore,
    ContentTypeError,
    DataStores,
    DirectoryDataStore,
    StorageConfigurationError,
    StoreConfig,
)
from pdip.storage.stores import store_from
from tests.support.apps import application


class StoresConfigTest(unittest.TestCase):
    def test_configured_stores_are_made_with_their_limits_and_types(self):
        configuration = {
            "DATABASE": {"TYPE": "sqlite", "DATABASE": "app.db"},
            "STORAGE": {
                "MAX_ITEM_BYTES": 1000,
                "STORES": {
                    "files": {"KIND": "directory", "PATH": "files"},
                    "rows": {"KIND": "chunks", "MAX_ITEM_BYTES": 10, "CONTENT_TYPES": ["text/plain"]},
                },
            },
        }
        with application({}) as (root, _), Pdi(root_directory=root, configurations=configuration) as pdi:
            stores = pdi.get(DataStores)
            self.assertIsInstance(stores.get("files"), DirectoryDataStore)
            self.assertEqual(stores.get("files").root, root / "files")
            rows = stores.get("rows")
            self.assertIsInstance(rows, ChunkDataStore)
            self.assertEqual(rows.engine.url.database, str(root / "app.db"))
            self.assertEqual((stores.max_item_bytes("files"), stores.max_item_bytes("rows")), (1000, 10))
            stores.check_content_type("rows", "a.txt", "text/plain; charset=utf-8")
            stores.check_content_type("files", "a.bin", None)
            with self.assertRaises(ContentTypeError) as raised:
                stores.check_content_type("rows", "a.txt", None)
            self.assertIn("content type None is not accepted (expected one of text/plain)", str(raised.exception))
            self.assertIsNone(stores.signer)

    def test_a_store_missing_what_its_kind_needs_is_named(self):
        cases = [
            (StoreConfig("directory"), "STORAGE.STORES.s.PATH: required for a directory store"),
            (StoreConfig("object"), "STORAGE.STORES.s.URL: required for an object store"),
            (StoreConfig("tape"), "STORAGE.STORES.s.KIND: expected one of directory, object, chunks, got 'tape'"),
        ]
        for config, message in cases:
            with self.subTest(kind=config.kind), self.assertRaises(StorageConfigurationError) as raised:
                store_from("s", config, pdi=None)
            self.assertIn(message, str(raised.exception))

    def test_a_kind_is_checked_when_the_section_is_read_and_options_are_never_shown(self):
        configuration = {"STORAGE": {"STORES": {"s": {"KIND": "tape"}}}}
        with self.assertRaises(ConfigurationError) as raised:
            Pdi(configurations=configuration).get(DataStores)
        self.assertIn("kind", str(raised.exception).lower())
        shown = repr(StoreConfig("object", url="s3://b", storage_options={"secret": "hunter2"}))
        self.assertNotIn("hunter2", shown)

    def test_a_chunk_store_may_have_a_database_of_its_own_and_a_short_secret_is_refused(self):
        configuration = {"STORAGE": {"STORES": {"own": {"KIND": "chunks", "URL": "sqlite://"}}}}
        with Pdi(configurations=configuration) as pdi:
            self.assertEqual(pdi.get(DataStores).get("own").engine.url.render_as_string(), "sqlite://")
        with self.assertRaises(StorageConfigurationError):
            Pdi(configurations={"STORAGE": {"SECRET": "short"}}).get(DataStores)
