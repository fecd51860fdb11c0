"""The adapter contract run against memory stores (`pdip.integrator.adapters.memory`)."""

import unittest
from typing import Any

from pdip.integrator import Connection
from pdip.integrator.adapters.registry import AdapterRegistry
from tests.integrationtests.contract.contract import COLUMNS, AdapterContract, Refusal


class MemoryContract(AdapterContract, unittest.TestCase):
    kind = "memory"
    supported = tuple(COLUMNS)  # a memory store keeps every value as it is
    knows_empty_columns = False  # a list of records with no record names no column
    misspelt = ("stor", "store")

    def store(self, name: str) -> Connection:
        return Connection("memory", {"store": name})

    def read_back(self, name: str) -> list[dict[str, Any]]:
        return self.integrator.stores.records(name)

    def test_refused_rows_are_dead_lettered_with_their_position_and_the_others_land(self):
        self.assertIsNone(self.refusal())
        self.skipTest("a memory store holds any value: it refuses no row")

    def refusal(self) -> Refusal | None:
        return None

    def test_neither_describe_nor_a_failed_run_shows_a_secret(self):
        declared = self.pdi.get(AdapterRegistry).settings("memory")
        self.assertFalse(any(setting.secret for setting in declared))
        self.skipTest("a memory connection has no secret setting")


if __name__ == "__main__":
    unittest.main()
