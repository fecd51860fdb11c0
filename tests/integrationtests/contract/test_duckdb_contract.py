"""The adapter contract run against DuckDB files (`pdip.integrator.adapters.duckdb`), on the
default process executor (which reads and writes DuckDB in the calling process)."""

import unittest

import duckdb

from pdip.integrator import Connection
from pdip.integrator.adapters.registry import AdapterRegistry
from tests.integrationtests.contract.contract import CORE, AdapterContract, Refusal


class DuckDbContract(AdapterContract, unittest.TestCase):
    kind = "duckdb"
    executor = "process"
    supported = (*CORE, "blob")  # DuckDB keeps every type of the sample, time zones as instants
    stores_positions = True
    misspelt = ("tabel", "table")

    def path(self) -> str:
        return str(self.root / "contract.duckdb")

    def store(self, name: str) -> Connection:
        return Connection("duckdb", {"database": self.path(), "table": name})

    def columns_of(self, name: str) -> list[str] | None:
        with duckdb.connect(self.path(), read_only=True) as database:
            return [row[0] for row in database.execute(f'DESCRIBE "{name}"').fetchall()]

    def refusal(self) -> Refusal:
        source, target = self.unique("refusing"), self.unique("refusing_copy")
        rows = [{"id": number, "label": None if number % 3 == 0 else f"row {number}"} for number in range(1, 8)]
        self.fill(source, rows, ("id", "label"))
        with duckdb.connect(self.path()) as database:
            database.execute(f'CREATE TABLE "{target}" (id BIGINT, label VARCHAR NOT NULL)')
        return Refusal(self.source_of(source), self.store(target), 2, [1, 2, 4, 5, 7], lambda: self.read_back(target))

    def test_neither_describe_nor_a_failed_run_shows_a_secret(self):
        declared = self.pdi.get(AdapterRegistry).settings("duckdb")
        self.assertFalse(any(setting.secret for setting in declared))
        self.skipTest("a duckdb connection has no secret setting")


if __name__ == "__main__":
    unittest.main()
