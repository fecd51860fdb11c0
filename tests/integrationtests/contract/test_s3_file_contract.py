"""The adapter contract run against files at s3:// URLs on a real S3 server (moto_server):
CSV and Parquet, the text and the Arrow road (JSON Lines shares CSV's staging; Excel its
upload)."""

import unittest
import uuid

import pyarrow.parquet

from pdip.integrator import Connection
from tests.integrationtests.contract import test_file_contract as files
from tests.integrationtests.contract.contract import Refusal
from tests.support.object_store import ObjectStore, started_or_missing

BUCKET = "pdip-contract"
_SERVER: ObjectStore | None = None


def setUpModule():
    global _SERVER
    _SERVER = started_or_missing(BUCKET, "the file contract on s3://")


def tearDownModule():
    if _SERVER is not None:
        _SERVER.stop()


class S3Files:
    """A store is an object under a prefix of the test's own."""

    def setUp(self):
        super().setUp()
        self.options = _SERVER.fsspec_options()
        self.fs = _SERVER.filesystem()
        self.prefix = f"{BUCKET}/{uuid.uuid4().hex[:10]}"

    def path(self, name: str) -> str:
        return f"s3://{self.prefix}/{name}.{self.suffix}"

    def store(self, name: str) -> Connection:
        return Connection(self.kind, {"path": self.path(name), "storage_options": self.options})

    def source_of(self, name: str) -> Connection:
        connection = super().source_of(name)
        return Connection(self.kind, {**connection.settings, "storage_options": self.options})

    def with_secret(self, secret: str) -> Connection:
        return Connection(
            self.kind, {"path": self.path("missing"), "storage_options": {**self.options, "secret": secret}}
        )

    def refused_by_the_source(self, text: str, refused: int, landed: list[int]) -> Refusal:
        """An object holding `text`, of which `refused` lines are not rows."""
        name = self.unique("refusing")
        self.fs.pipe_file(self.path(name).removeprefix("s3://"), text.encode())
        return Refusal(
            self.source_of(name),
            Connection("memory", {"store": "landed"}),
            refused,
            landed,
            lambda: self.integrator.stores.records("landed"),
        )


class CsvOnS3Contract(S3Files, files.CsvContract):
    pass


class ParquetOnS3Contract(S3Files, files.ParquetContract):
    def columns_of(self, name: str) -> list[str] | None:
        with self.fs.open(self.path(name).removeprefix("s3://"), "rb") as stream:
            return pyarrow.parquet.read_schema(stream).names


if __name__ == "__main__":
    unittest.main()
