"""Parquet files taken into an Iceberg table as they are (`lakehouse/adopted.py`): a whole file
of the table's schema is copied into the table's data folder and added with `add_files` in the
transaction that sets its position; other files, a partitioned table and a resumed read are
decoded as before."""

from __future__ import annotations

import json

import pyarrow

from pdip.conversion.tagged import dumps
from pdip.integrator.adapters.lakehouse import adopted
from tests.integrationtests.lakehouse.files import ParquetFiles
from tests.integrationtests.lakehouse.test_iceberg import IcebergCase


class AdoptedTest(ParquetFiles, IcebergCase):
    def files(self) -> list[str]:
        return [path for path in self.table().inspect.files().column("file_path").to_pylist() if adopted.PREFIX in path]

    def ids(self) -> list[int]:
        return [row["id"] for row in self.rows()]

    def test_a_whole_file_is_added_in_the_transaction_that_sets_its_position(self):
        self.parquet("many.parquet", list(range(10)))
        self.ok(self.copy("many.parquet", self.iceberg(), batch_size=3))
        self.assertEqual(self.rows(), [{"id": i, "name": f"n{i}"} for i in range(10)])
        (path,) = self.files()
        self.assertIn("/data/", path)
        stored = self.table().properties["pdip.position.lake/many"]
        self.assertEqual(json.loads(stored), {"file": "many.parquet", "row": 10})
        self.assertEqual(len(self.table().snapshots()), 1)

    def test_files_adopted_or_decoded_each_commit_on_their_own(self):
        self.ok(self.people([{"id": 100, "name": "x"}]))  # a table of 64-bit ids
        self.parquet("in/a.parquet", [0, 1, 2])
        self.parquet("in/b.parquet", [3, 4, 5], pyarrow.int32())  # decoded: its ids are cast
        self.parquet("in/c.parquet", [6, 7, 8])
        self.parquet("in/d.parquet", [9], metadata={adopted.FIELD_ID: b"1"})  # decoded: ids of its own
        self.ok(self.copy("in", self.iceberg(), batch_size=3))
        self.assertEqual(self.ids(), [*range(10), 100])
        self.assertEqual(len(self.files()), 2)
        self.assertEqual(len(self.table().snapshots()), 5)

    def test_a_partitioned_table_and_a_resumed_read_are_decoded(self):
        self.parquet("many.parquet", list(range(10)))
        self.ok(self.copy("many.parquet", self.iceberg(partition_by=["name"])))
        self.assertEqual((len(self.rows()), self.files()), (10, []))
        self.name += "_resumed"
        self.ok(self.people([{"id": i, "name": f"n{i}"} for i in range(4)]))
        with self.table().transaction() as transaction:
            transaction.set_properties({"pdip.position.lake/many": dumps({"file": "many.parquet", "row": 4})})
        self.unfinished(self.copy("many.parquet", self.iceberg(table=f"{self.name}_other"), batch_size=3))
        self.ok(self.copy("many.parquet", self.iceberg(), batch_size=3), resume=True)
        self.assertEqual((self.ids(), self.files()), (list(range(10)), []))

    def test_a_replace_adopts_the_file_into_its_transaction(self):
        self.ok(self.people([{"id": 100, "name": "x"}]))
        self.parquet("many.parquet", [1, 2])
        self.ok(self.copy("many.parquet", self.iceberg(), write="replace"))
        self.assertEqual((self.ids(), len(self.files())), ([1, 2], 1))
