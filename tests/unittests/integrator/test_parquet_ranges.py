"""Parquet rows named by range (`parquet-row-range`), for a target that reads Parquet itself."""

from __future__ import annotations

import pickle
import tempfile
import unittest
from pathlib import Path

import pyarrow
import pyarrow.parquet

from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.file.parquet import ParquetSettings
from pdip.integrator.adapters.file.parquet_ranges import RAW_FORMAT, RowRange, passes_through, raw_batches
from pdip.integrator.errors import OperationError


class RangeTest(unittest.TestCase):
    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="pdip-ranges-")
        self.addCleanup(folder.cleanup)
        self.root = Path(folder.name)

    def write(self, name: str, table: pyarrow.Table, row_group: int = 4) -> Path:
        path = self.root / name
        pyarrow.parquet.write_table(table, path, row_group_size=row_group)
        return path

    def test_a_range_reads_only_its_rows_across_row_groups(self):
        path = self.write("a.parquet", pyarrow.table({"id": list(range(10))}))
        self.assertEqual(RowRange(str(path), 3, 9).read().column("id").to_pylist(), [3, 4, 5, 6, 7, 8])
        self.assertEqual(RowRange(str(path), 8, 10).read().column("id").to_pylist(), [8, 9])
        self.assertEqual(RowRange(str(path), 10, 12).read().num_rows, 0)  # past the end: nothing

    def test_batches_skip_what_a_resume_read_and_go_on_in_the_next_file(self):
        first = self.write("a.parquet", pyarrow.table({"id": list(range(5)), "x": ["a"] * 5}))
        second = self.write("b.parquet", pyarrow.table({"x": ["b"] * 3, "id": [5, 6, 7]}))  # columns in another order
        batches = list(raw_batches([(first, "a.parquet"), (second, "b.parquet")], None, "parquet", 2, skip=1))
        self.assertEqual([len(batch) for batch in batches], [2, 2, 2, 1])
        self.assertEqual(
            [batch.position for batch in batches],
            [
                {"file": name, "row": row}
                for name, row in (("a.parquet", 3), ("a.parquet", 5), ("b.parquet", 2), ("b.parquet", 3))
            ],
        )
        self.assertTrue(all(batch.raw_format == RAW_FORMAT for batch in batches))
        self.assertEqual(batches[0].rows, [(1, "a"), (2, "a")])
        self.assertEqual(batches[2].rows, [(5, "b"), (6, "b")])  # in the batch's order of columns
        self.assertEqual(batches[2].types.names, ["x", "id"])  # the file's own schema
        self.assertEqual(pickle.loads(batches[3].payload), RowRange(str(second.resolve()), 2, 3))

    def test_a_file_with_other_columns_is_refused_as_the_decoding_reader_refuses_it(self):
        first = self.write("a.parquet", pyarrow.table({"id": [1]}))
        second = self.write("b.parquet", pyarrow.table({"id": [2], "extra": [3]}))
        with self.assertRaises(OperationError) as caught:
            list(raw_batches([(first, "a.parquet"), (second, "b.parquet")], None, "parquet connection", 10))
        self.assertIn("b.parquet has columns a.parquet lacks: extra", str(caught.exception))

    def test_only_a_local_file_asked_for_by_its_target_passes_through(self):
        asked = ReadRequest(10, accept=(RAW_FORMAT,))
        self.assertTrue(passes_through(ParquetSettings(path="in/a.parquet"), asked))
        self.assertFalse(passes_through(ParquetSettings(path="s3://bucket/a.parquet"), asked))
        self.assertFalse(passes_through(ParquetSettings(path="in/a.parquet"), ReadRequest(10)))


if __name__ == "__main__":
    unittest.main()
