"""What sources declare of their columns before reading (`Source.schema`) and with every batch
(`Batch.types`), and what file writers make of it."""

import tempfile
import types
import unittest
from pathlib import Path

import pandas
import pyarrow
import pyarrow.parquet
import sqlalchemy as sa

from pdip.integrator import Batch, Connection, OperationError
from pdip.integrator.adapters import ReadRequest
from pdip.integrator.adapters.file.rows import FileSource, FileTarget
from pdip.integrator.adapters.memory import MemorySource, MemoryStores
from pdip.integrator.results import WorkerContext
from pdip.integrator.types import ColumnTypes


class MemorySchemaTest(unittest.TestCase):
    def source(self, value) -> MemorySource:
        stores = MemoryStores(orders=value)
        return MemorySource(Connection("memory", {"store": "orders"}), types.SimpleNamespace(stores=stores))

    def test_an_arrow_table_declares_its_schema_on_every_batch(self):
        table = pyarrow.table({"id": pyarrow.array([1, 2, 3], pyarrow.int32()), "note": [None, None, "x"]})
        source = self.source(table)
        self.assertEqual(source.schema(ReadRequest(2)), table.schema)
        self.assertEqual(source.schema(ReadRequest(2, ["note"])), pyarrow.schema([("note", pyarrow.string())]))
        batches = list(source.read(ReadRequest(2)))
        self.assertEqual([batch.types for batch in batches], [table.schema, table.schema])

    def test_a_dataframe_declares_its_dtypes_and_a_list_nothing(self):
        frame = pandas.DataFrame({"id": pandas.Series([1, 2], dtype="int16")})
        self.assertEqual(self.source(frame).schema(ReadRequest(10)).field("id").type, pyarrow.int16())
        self.assertIsNone(self.source([{"id": 1}]).schema(ReadRequest(10)))
        self.assertIsNone(self.source([{"id": 1}]).schema(ReadRequest(10, ["id"])))


class FileSchemaTest(unittest.TestCase):
    def setUp(self):
        folder = tempfile.TemporaryDirectory(prefix="pdip-declared-")
        self.addCleanup(folder.cleanup)
        self.root = Path(folder.name)
        self.context = WorkerContext("test", self.root)

    def source(self, kind: str, **settings) -> FileSource:
        source = FileSource(Connection(kind, settings), self.context)
        self.addCleanup(source.close)
        return source

    def test_a_csv_declares_its_types_and_text_for_the_other_columns(self):
        (self.root / "a.csv").write_text("id,name\n1,x\n", encoding="utf-8")
        source = self.source("csv", path="a.csv", types={"id": "int"})
        declared = source.schema(ReadRequest(10))
        self.assertEqual(declared.names, ("id", "name"))
        self.assertEqual([type(kind) for kind in declared.types], [sa.BigInteger, sa.Text])
        (batch,) = source.read(ReadRequest(10))
        self.assertEqual(batch.types, declared)
        self.assertEqual(source.schema(ReadRequest(10, ["name"])).names, ("name",))

    def test_a_raw_csv_batch_declares_text(self):
        (self.root / "a.csv").write_text("id,name\n1,x\n", encoding="utf-8")
        (batch,) = self.source("csv", path="a.csv").read(ReadRequest(10, accept=("csv",)))
        self.assertEqual(batch.raw_format, "csv")
        self.assertEqual([type(kind) for kind in batch.types.types], [sa.Text, sa.Text])

    def test_json_lines_declare_only_their_types(self):
        (self.root / "a.jsonl").write_text('{"id": 1, "at": null}\n', encoding="utf-8")
        declared = self.source("jsonl", path="a.jsonl", types={"at": "date"}).schema(ReadRequest(10))
        self.assertEqual(declared.types[0], None)
        self.assertIsInstance(declared.types[1], sa.Date)
        (self.root / "empty.jsonl").write_text("", encoding="utf-8")
        self.assertIsNone(self.source("jsonl", path="empty.jsonl").schema(ReadRequest(10)))

    def test_a_parquet_file_declares_its_schema_and_the_wanted_columns_of_it(self):
        schema = pyarrow.schema([("id", pyarrow.int32()), ("amount", pyarrow.decimal128(9, 2))])
        pyarrow.parquet.write_table(
            pyarrow.table({"id": [1], "amount": [None]}, schema=schema), self.root / "a.parquet"
        )
        source = self.source("parquet", path="a.parquet")
        self.assertEqual(source.schema(ReadRequest(10)).remove_metadata(), schema)
        self.assertEqual(source.schema(ReadRequest(10, ["amount", "gone"])), pyarrow.schema([schema.field("amount")]))
        (batch,) = source.read(ReadRequest(10))
        self.assertEqual(batch.types.remove_metadata(), schema)

    def test_no_file_declares_nothing_and_a_remote_path_that_is_not_there_is_named(self):
        (self.root / "folder").mkdir()
        self.assertIsNone(self.source("csv", path="folder").schema(ReadRequest(10)))
        with self.assertRaisesRegex(OperationError, "path: memory://nowhere/a.parquet does not exist"):
            self.source("parquet", path="memory://nowhere/a.parquet").schema(ReadRequest(10))


class ParquetWriterTypesTest(unittest.TestCase):
    def setUp(self):
        folder = tempfile.TemporaryDirectory(prefix="pdip-declared-")
        self.addCleanup(folder.cleanup)
        self.root = Path(folder.name)
        self.context = WorkerContext("test", self.root)

    def written(self, batches, columns, types=None) -> pyarrow.Schema:
        target = FileTarget(Connection("parquet", {"path": "out.parquet"}), self.context)
        try:
            target.prepare(columns, False, False, types=types)
            for batch in batches:
                target.write(batch)
            target.finish()
        finally:
            target.close()
        return pyarrow.parquet.read_schema(self.root / "out.parquet")

    def test_declared_types_win_over_the_first_batchs_values_and_unknown_ones_are_inferred(self):
        first = Batch(["id", "later", "free"], [(1, None, "a"), (2, None, "b")])
        first.types = ColumnTypes("sqlite", (sa.INTEGER(), sa.Float(), None), ("id", "later", "free"))
        later = Batch(["id", "later", "free"], [(3, 1.5, "c")])
        schema = self.written([first, later], first.columns)
        self.assertEqual(schema.types, [pyarrow.int32(), pyarrow.float64(), pyarrow.string()])

    def test_an_empty_source_writes_its_declared_schema_and_null_for_what_it_does_not_know(self):
        declared = ColumnTypes("", (sa.Date(), None), ("day", "what"))
        schema = self.written([], ["day", "what"], types=declared)
        self.assertEqual(schema.types, [pyarrow.date32(), pyarrow.null()])


if __name__ == "__main__":
    unittest.main()
