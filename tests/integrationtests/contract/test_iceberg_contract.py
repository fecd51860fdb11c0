"""The adapter contract run against Apache Iceberg tables of a SQLite catalog in a temporary folder
(`pdip.integrator.adapters.lakehouse.iceberg`)."""

import datetime as dt
import unittest

from pdip.integrator import Connection
from pdip.integrator.adapters.lakehouse.iceberg import IcebergConnection
from tests.integrationtests.contract.contract import COLUMNS, COUNTS, AdapterContract, Refusal


class IcebergContract(AdapterContract, unittest.TestCase):
    kind = "iceberg"
    executor = "process"
    supported = tuple(COLUMNS)
    returned = {"at": lambda value: None if value is None else value.astimezone(dt.timezone.utc)}
    stores_positions = True
    misspelt = ("tabel", "table")

    def store(self, name: str) -> Connection:
        settings = {"catalog_uri": "sqlite:///catalog.db", "warehouse": "warehouse", "table": f"contract.{name}"}
        return Connection("iceberg", {**settings, "commit_rows": 1})  # a commit per batch, as SQL's

    def columns_of(self, name: str) -> list[str] | None:
        table = IcebergConnection(self.store(name), self.context()).load()
        return [field.name for field in table.schema().fields]

    def refusal(self) -> Refusal:
        target = self.unique("refusing")
        catalog = IcebergConnection(self.store(target), self.context()).catalog
        catalog.create_namespace_if_not_exists("contract")
        catalog.create_table(f"contract.{target}", schema=COUNTS)
        return self.refused_by_the_target(target=target)

    def with_secret(self, secret: str) -> Connection:
        uri = f"postgresql+psycopg://pdip:{secret}@127.0.0.1:9/nowhere"
        return Connection("iceberg", {"catalog_uri": uri, "table": "contract.secret"})


if __name__ == "__main__":
    unittest.main()
