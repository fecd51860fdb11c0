"""A Parquet target gathers the batches it is given into row groups sized for readers, and takes
Arrow record batches as they come."""

import pyarrow
import pyarrow.parquet

from pdip.integrator import Batch, Connection, OperationError
from pdip.integrator.adapters.file.rows import FileTarget, file_settings
from pdip.integrator.batch import ARROW
from tests.unittests.integrator.test_file_adapter import FileTestCase


def arrow_batches(count: int, rows: int, text: str = "x") -> list[Batch]:
    return [
        Batch.from_arrow(
            pyarrow.record_batch(
                {"id": pyarrow.array(range(start, start + rows), pyarrow.int32()), "note": [text] * rows}
            )
        )
        for start in range(0, count * rows, rows)
    ]


class RowGroupTest(FileTestCase):
    def groups(self, name: str) -> list[int]:
        metadata = pyarrow.parquet.ParquetFile(self.root / name).metadata
        return [metadata.row_group(index).num_rows for index in range(metadata.num_row_groups)]

    def test_batches_fill_row_groups_of_the_rows_asked_for(self):
        results = self.write("parquet", arrow_batches(25, 10), path="out.parquet", row_group_rows=100)
        self.assertEqual([result.written for result in results], [10] * 25)
        self.assertEqual(self.groups("out.parquet"), [100, 100, 50])
        table = pyarrow.parquet.read_table(self.root / "out.parquet")
        self.assertEqual(table.column("id").to_pylist(), list(range(250)))
        self.assertEqual(table.schema.field("id").type, pyarrow.int32())

    def test_a_row_group_ends_at_its_size_in_arrow_data_when_that_comes_first(self):
        batches = arrow_batches(5, 2_000, "n" * 300)  # about 0.6 MiB each
        self.write("parquet", batches, path="wide.parquet", row_group_megabytes=1)
        self.assertEqual(self.groups("wide.parquet"), [4_000, 4_000, 2_000])

    def test_by_default_a_row_group_ends_at_8_mib_of_arrow_data(self):
        # what bounds the writer's memory: 32 MiB groups took the process tree to about 255 MiB
        # of PSS, 8 MiB groups hold it near 150 (docs/scaling.md)
        batches = arrow_batches(10, 2_000, "n" * 1_000)  # about 1.9 MiB each
        self.write("parquet", batches, path="bounded.parquet")
        self.assertEqual(self.groups("bounded.parquet"), [10_000, 10_000])

    def test_by_default_small_batches_make_one_row_group(self):
        self.write("parquet", arrow_batches(3, 10), path="small.parquet")
        self.assertEqual(self.groups("small.parquet"), [30])

    def test_appending_rewrites_the_existing_rows_into_the_same_row_groups(self):
        self.write("parquet", arrow_batches(3, 10), path="kept.parquet")
        more = arrow_batches(1, 10)
        self.write("parquet", more, path="kept.parquet", append=True, row_group_rows=25)
        self.assertEqual(self.groups("kept.parquet"), [30, 10])

    def dictionaries(self, name: str) -> dict[str, bool]:
        group = pyarrow.parquet.ParquetFile(self.root / name).metadata.row_group(0)
        return {
            group.column(index).path_in_schema: group.column(index).has_dictionary_page
            for index in range(group.num_columns)
        }

    def test_only_columns_whose_values_repeat_in_the_first_row_group_get_a_dictionary(self):
        # a dictionary over values that hardly repeat is built, outgrown and dropped in every
        # row group: three times the encoding CPU and a larger file (docs/scaling.md)
        batches = [
            Batch.from_arrow(
                pyarrow.record_batch(
                    {
                        "id": pyarrow.array(range(start, start + 100), pyarrow.int32()),
                        "half": [index % 50 for index in range(100)],  # 50 distinct of 100: repeating
                        "most": [index % 51 for index in range(100)],  # 51 of 100: not
                        "state": ["open", "closed"] * 50,
                        "tags": [[index] for index in range(100)],  # no distinct count for lists
                    }
                )
            )
            for start in (0, 100)
        ]
        self.write("parquet", batches, path="mixed.parquet", row_group_rows=100)
        expected = {"id": False, "half": True, "most": False, "state": True, "tags.list.element": False}
        self.assertEqual(self.dictionaries("mixed.parquet"), expected)
        table = pyarrow.parquet.read_table(self.root / "mixed.parquet")
        self.assertEqual(table.column("id").to_pylist(), list(range(200)))
        self.assertEqual(table.column("tags").to_pylist()[:2], [[0], [1]])

    def test_appending_nothing_to_a_file_of_no_rows_keeps_its_columns(self):
        empty = pyarrow.schema([("id", pyarrow.int32()), ("note", pyarrow.string())])
        pyarrow.parquet.write_table(empty.empty_table(), self.root / "empty.parquet")
        target = FileTarget(Connection("parquet", {"path": "empty.parquet", "append": True}), self.context)
        try:
            target.prepare(["id", "note"], False, False)
            target.finish()
        finally:
            target.close()
        self.assertEqual(pyarrow.parquet.read_schema(self.root / "empty.parquet"), empty)

    def test_row_group_sizes_below_one_are_refused_with_the_setting_named(self):
        for name in ("row_group_rows", "row_group_megabytes"):
            with self.subTest(name=name):
                with self.assertRaisesRegex(OperationError, f"{name}: expected a whole number of at least 1, got 0"):
                    file_settings(Connection("parquet", {"path": "a.parquet", name: 0}))

    def test_a_parquet_target_takes_arrow_batches_and_a_csv_target_does_not(self):
        parquet = FileTarget(Connection("parquet", {"path": "a.parquet"}), self.context)
        appending = FileTarget(Connection("parquet", {"path": "a.parquet", "append": True}), self.context)
        csv = FileTarget(Connection("csv", {"path": "a.csv"}), self.context)
        for target in (parquet, appending, csv):
            self.addCleanup(target.close)
        self.assertEqual(parquet.accepts(), (ARROW, "duckdb-table"))  # a DuckDB table, for DuckDB to write
        self.assertEqual(appending.accepts(), (ARROW,))
        self.assertEqual(csv.accepts(), ())
