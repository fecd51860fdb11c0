"""The adapter contract run against Delta Lake tables in a temporary folder
(`pdip.integrator.adapters.lakehouse.delta`)."""

import datetime as dt
import unittest

from deltalake import DeltaTable, write_deltalake

from pdip.integrator import Connection
from tests.integrationtests.contract.contract import COLUMNS, COUNTS, AdapterContract, Refusal
from tests.support.object_store import delta_options


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
        write_deltalake(self.path(target), COUNTS.empty_table())
        return self.refused_by_the_target(target=target)

    def with_secret(self, secret: str) -> Connection:
        options = delta_options("http://127.0.0.1:9", AWS_SECRET_ACCESS_KEY=secret)  # nothing listens on port 9
        return Connection("delta", {"path": "s3://nowhere/table", "storage_options": options})


if __name__ == "__main__":
    unittest.main()
