"""The adapter contract run against Delta Lake tables in a temporary folder
(`pdip.integrator.adapters.lakehouse.delta`)."""

import datetime as dt
import unittest

import pyarrow
from deltalake import DeltaTable, write_deltalake

from pdip.integrator import Connection
from tests.integrationtests.contract.contract import COLUMNS, AdapterContract, Refusal


class DeltaContract(AdapterContract, unittest.TestCase):
    kind = "delta"
    executor = "process"
    supported = tuple(COLUMNS)  # Arrow types all the way, bytes too; instants in UTC
    returned = {"at": lambda value: None if value is None else value.astimezone(dt.timezone.utc)}
    stores_positions = True
    misspelt = ("pth", "path")

    def path(self, name: str) -> str:
        return str(self.root / name)

    def store(self, name: str) -> Connection:
        return Connection("delta", {"path": self.path(name), "commit_rows": 1})  # a commit per batch, as SQL's

    def columns_of(self, name: str) -> list[str] | None:
        return DeltaTable(self.path(name)).schema().to_arrow().names

    def refusal(self) -> Refusal:
        target = self.unique("refusing")
        write_deltalake(
            self.path(target),
            pyarrow.table({"id": pyarrow.array([], pyarrow.int64()), "count": pyarrow.array([], pyarrow.int64())}),
        )
        self.integrator.stores["refusing"] = [
            {"id": 1, "count": 10},
            {"id": 2, "count": "twenty"},
            {"id": 3, "count": 30},
            {"id": 4, "count": "forty"},
            {"id": 5, "count": 50},
        ]
        return Refusal(
            Connection("memory", {"store": "refusing"}),
            self.store(target),
            2,
            [1, 3, 5],
            lambda: self.read_back(target),
        )

    def with_secret(self, secret: str) -> Connection:
        options = {
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_ACCESS_KEY_ID": "pdip",
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
        }
        return Connection("delta", {"path": "s3://nowhere/table", "storage_options": options})


if __name__ == "__main__":
    unittest.main()
