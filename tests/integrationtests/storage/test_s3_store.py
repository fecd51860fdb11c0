"""The data store contract on S3 (a moto server), presigned download URLs, and a 50 MiB item
through the API with flat memory."""

import unittest
import urllib.request
import uuid

from pdip import Pdi
from pdip.api import ApiApp
from pdip.storage import DataStores, ObjectDataStore
from tests.support.apps import application
from tests.support.data_store_contract import MIB, DataStoreContract, digest, pattern
from tests.support.object_store import ObjectStore, started_or_missing

_SERVER: ObjectStore | None = None


def setUpModule():
    global _SERVER
    _SERVER = started_or_missing("pdip-data", "the data stores")


def tearDownModule():
    if _SERVER is not None:
        _SERVER.stop()


def s3_store(**options) -> ObjectDataStore:
    """A store under a prefix of its own, so each test starts empty."""
    return ObjectDataStore(f"s3://pdip-data/{uuid.uuid4().hex}", _SERVER.fsspec_options(), name="s3", **options)


class S3StoreTest(DataStoreContract, unittest.TestCase):
    big_bytes = 64 * MIB  # a multipart upload; s3fs holds about three 5 MiB parts at a time, whatever the size
    peak_fraction = 3

    def make_store(self):
        return s3_store(chunk_bytes=MIB)

    def test_the_content_type_is_kept_by_s3(self):
        self.store.write("typed", [b"{}"], "application/vnd.pdip+json")
        self.assertEqual(self.store.item("typed").content_type, "application/vnd.pdip+json")

    def test_a_presigned_url_downloads_from_s3_itself(self):
        self.store.write("shared/report.csv", [b"a,b\n1,2\n"], "text/csv")
        url = self.store.download_url("shared/report.csv", 60)
        self.assertTrue(url.startswith(_SERVER.endpoint), url)
        self.assertIn("Signature", url)
        with urllib.request.urlopen(url, timeout=10) as response:
            self.assertEqual(response.read(), b"a,b\n1,2\n")

    def test_the_repr_shows_no_credentials(self):
        self.assertEqual(repr(self.store), "ObjectDataStore('s3')")


class S3ApiTest(unittest.TestCase):
    def test_a_50_mib_item_goes_through_the_api_with_flat_memory_and_a_presigned_url(self):
        import tracemalloc

        prefix = uuid.uuid4().hex
        configuration = {
            "CQRS": {"LOGGING": False},
            "STORAGE": {
                "STORES": {
                    "s3": {
                        "KIND": "object",
                        "URL": f"s3://pdip-data/{prefix}",
                        "STORAGE_OPTIONS": _SERVER.fsspec_options(),
                    }
                }
            },
        }
        size = 50 * MIB
        with application({}) as (root, _), Pdi(root_directory=root, configurations=configuration) as pdi:
            client = pdi.get(ApiApp).test_client()
            source = root / "big.bin"
            with open(source, "wb") as file:
                file.writelines(pattern(size))
            client.put("/api/data/s3/warm-up", data=b"botocore's models loaded before measuring")
            tracemalloc.start()
            try:
                with open(source, "rb") as body:
                    uploaded = client.put("/api/data/s3/big.bin", input_stream=body)
                _, peak_in = tracemalloc.get_traced_memory()
                tracemalloc.reset_peak()
                response = client.get("/api/data/s3/big.bin", buffered=False)
                read = digest(response.response)
                response.close()
                _, peak_out = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            self.assertEqual(uploaded.status_code, 201, uploaded.get_data(as_text=True))
            self.assertEqual(read, digest(pattern(size)))
            self.assertLess(peak_in, 20 * MIB, f"a 50 MiB upload to S3 peaked at {peak_in} bytes")
            self.assertLess(peak_out, 8 * MIB, f"a 50 MiB download from S3 peaked at {peak_out} bytes")

            url = client.post("/api/data-urls/s3/big.bin?seconds=60").get_json()
            self.assertTrue(url["presigned"])
            self.assertTrue(url["url"].startswith(_SERVER.endpoint))
            self.assertEqual(pdi.get(DataStores).get("s3").item("big.bin").size, size)
