"""Parquet files taken into a Delta table as they are (`lakehouse/adopted.py`): when a whole file
has the table's schema it is copied and named by the commit carrying its position; anything else
(another type, a NULL the table refuses, a partitioned table, a resumed read) is decoded as before.
"""

from __future__ import annotations

import json
import unittest

import pyarrow
import pyarrow.parquet
from deltalake import CommitProperties, DeltaTable, write_deltalake

from pdip.conversion.tagged import dumps
from pdip.integrator import Connection, Integration, StateStore
from pdip.integrator.adapters.lakehouse import adopted
from tests.integrationtests.lakehouse.buckets import LakeBucket
from tests.integrationtests.lakehouse.files import INT64, ParquetFiles
from tests.integrationtests.lakehouse.test_delta import DeltaCase


class AdoptedTest(ParquetFiles, LakeBucket, DeltaCase):
    def copy(self, path: str, target: Connection | None = None, **options) -> Integration:
        return super().copy(path, target or self.delta(), **options)

    def adopted_files(self, path: str = "lake/people") -> list[dict]:
        actions = pyarrow.table(self.table(path).get_add_actions(flatten=True)).to_pylist()
        return [action for action in actions if adopted.PREFIX in action["path"]]

    def test_a_whole_file_of_the_tables_schema_is_added_as_it_is_with_its_statistics(self):
        source = self.root / "many.parquet"
        table = pyarrow.table({"id": list(range(10)), "name": ["a", None] * 5, "rate": [0.5] * 10})
        pyarrow.parquet.write_table(table, source)
        self.ok(self.copy("many.parquet", batch_size=3))
        self.assertEqual(self.table().to_pyarrow_table(), table)
        (found,) = self.adopted_files()
        self.assertEqual(found["size_bytes"], source.stat().st_size)
        self.assertEqual((found["num_records"], found["null_count.name"], found["null_count.id"]), (10, 5, 0))
        self.assertEqual((found["min.id"], found["max.id"], found["min.rate"]), (0, 9, None))  # integers only
        (commit,) = [commit for commit in self.table().history() if "pdip.slot" in commit]
        self.assertEqual(json.loads(commit["pdip.position"]), {"file": "many.parquet", "row": 10})

    def test_files_decoded_or_adopted_each_commit_on_their_own(self):
        empty = pyarrow.table({"id": pyarrow.array([], INT64), "name": pyarrow.array([], pyarrow.string())})
        write_deltalake(str(self.root / "lake/people"), empty)
        self.parquet("in/a.parquet", [0, 1, 2], pyarrow.int32())  # decoded: its ids are cast
        self.parquet("in/b.parquet", [3, 4, 5])
        self.parquet("in/c.parquet", [6, 7])
        self.ok(self.copy("in", batch_size=3))
        self.assertEqual([row["id"] for row in self.rows()], list(range(8)))
        self.assertEqual(len(self.adopted_files()), 2)
        self.assertEqual(sum("pdip.slot" in commit for commit in self.table().history()), 3)

    def test_a_null_the_table_refuses_is_dead_lettered_from_a_decoded_file(self):
        schema = pyarrow.schema([pyarrow.field("id", INT64, nullable=False), ("name", pyarrow.string())])
        write_deltalake(str(self.root / "lake/people"), pyarrow.Table.from_pylist([], schema=schema))
        self.parquet("many.parquet", [1, None, 3])
        result = self.ok(self.copy("many.parquet", max_errors=5))
        self.assertEqual(result.integrations[0].rows_dead_lettered, 1)
        self.assertIn("'id' may not be NULL", self.pdi.get(StateStore).dead_letters(result.execution_id)[0]["reason"])
        self.assertEqual([row["id"] for row in self.rows()], [1, 3])
        self.assertEqual(self.adopted_files(), [])

    def test_a_partitioned_table_and_a_replace(self):
        self.parquet("many.parquet", [1, 2])
        self.ok(self.copy("many.parquet", self.delta(partition_by=["name"])))
        self.assertEqual((len(self.rows()), self.adopted_files()), (2, []))
        self.ok(self.copy("many.parquet", self.delta("lake/other"), write="replace"))
        self.ok(self.copy("many.parquet", self.delta("lake/other"), write="replace"))
        self.assertEqual([row["id"] for row in self.rows("lake/other")], [1, 2])
        (found,) = self.adopted_files("lake/other")
        self.assertTrue(found["path"].startswith(delta_twin()), found["path"])

    def test_a_read_resumed_inside_a_file_is_decoded(self):
        self.unfinished(self.copy("many.parquet", self.delta("lake/other"), batch_size=3))
        self.parquet("many.parquet", list(range(10)))
        position = {"pdip.slot": "lake/many", "pdip.position": dumps({"file": "many.parquet", "row": 4})}
        first = pyarrow.table({"id": pyarrow.array(range(4), INT64), "name": [f"n{i}" for i in range(4)]})
        write_deltalake(
            str(self.root / "lake/people"), first, commit_properties=CommitProperties(custom_metadata=position)
        )
        self.ok(self.copy("many.parquet", batch_size=3), resume=True)
        self.assertEqual([row["id"] for row in self.rows()], list(range(10)))
        self.assertEqual(self.adopted_files(), [])

    def test_a_file_is_copied_into_a_table_on_s3(self):
        options = self.options()
        self.parquet("many.parquet", [1, 2, 3])
        s3 = self.delta("s3://lake/adopted", storage_options=options)
        self.ok(self.copy("many.parquet", s3))
        table = DeltaTable("s3://lake/adopted", storage_options=options)
        self.assertEqual(table.to_pyarrow_table().column("id").to_pylist(), [1, 2, 3])
        paths = pyarrow.table(table.get_add_actions(flatten=True)).column("path").to_pylist()
        self.assertTrue(paths[0].startswith(adopted.PREFIX), paths)


def delta_twin() -> str:
    from pdip.integrator.adapters.lakehouse.delta import TWIN

    return TWIN


class FileTest(unittest.TestCase):
    def test_bounds_skip_groups_of_nulls_and_columns_without_statistics_are_left_out(self):
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "f.parquet"
            table = pyarrow.table({"id": pyarrow.array([None, None, 5, 7], INT64), "n": [1, 2, 3, 4]})
            pyarrow.parquet.write_table(table, path, row_group_size=2, write_statistics=["id"])
            found = json.loads(adopted.statistics(str(path)))
            pyarrow.parquet.write_table(table.slice(0, 2), path, row_group_size=2)
            only_nulls = json.loads(adopted.statistics(str(path)))
            pyarrow.parquet.write_table(pyarrow.table({"name": ["a"]}), path)
            text = json.loads(adopted.statistics(str(path)))
        self.assertEqual(
            found, {"numRecords": 4, "nullCount": {"id": 2}, "minValues": {"id": 5}, "maxValues": {"id": 7}}
        )
        self.assertEqual(only_nulls["nullCount"], {"id": 2, "n": 0})
        self.assertEqual(only_nulls["minValues"], {"n": 1})
        self.assertEqual(text, {"numRecords": 1, "nullCount": {"name": 0}})  # bounds of integers only

    def test_ranges_are_read_in_order_from_one_reader_and_a_jump_reopens_the_file(self):
        import tempfile
        from pathlib import Path

        from pdip.integrator.adapters.file.parquet_ranges import RowRange

        with tempfile.TemporaryDirectory() as folder:
            path = str(Path(folder) / "f.parquet")
            pyarrow.parquet.write_table(pyarrow.table({"id": list(range(10))}), path, row_group_size=4)
            reader = adopted.RangeReader()
            reader.STEP = 3
            ids = [
                reader.read(RowRange(path, first, stop)).column("id").to_pylist() for first, stop in ((5, 9), (9, 10))
            ]
            ids.append(reader.rows([RowRange(path, 0, 2), RowRange(path, 2, 3)]).column("id").to_pylist())
            reader.close()
        self.assertEqual(ids, [[5, 6, 7, 8], [9], [0, 1, 2]])
