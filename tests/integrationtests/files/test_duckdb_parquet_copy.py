"""DuckDB -> Parquet written by DuckDB's own `COPY ... TO` (`duckdb_copy`): the same file as the
Arrow path writes, and the Arrow path wherever `COPY` would change a value or cannot write."""

from __future__ import annotations

import decimal
import os
import subprocess
import sys

import duckdb
import pyarrow
import pyarrow.parquet

from pdip.integrator import Connection, Integration
from pdip.integrator.adapters import duckdb_copy
from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.duckdb import DuckDbSource
from pdip.integrator.adapters.file.rows import FileTarget
from pdip.integrator.events import BatchWritten, IntegrationFinished
from pdip.integrator.results import RunContext
from tests.integrationtests.files.test_duckdb import DuckDbCase

# a column of each type in `duckdb_copy.PLAIN`, and of two decimals
PLAIN = {
    "ti": ("TINYINT", "-8"),
    "si": ("SMALLINT", "300"),
    "i": ("INTEGER", "70000"),
    "bi": ("BIGINT", "5000000000"),
    "ut": ("UTINYINT", "200"),
    "us": ("USMALLINT", "60000"),
    "ui": ("UINTEGER", "4000000000"),
    "ub": ("UBIGINT", "18000000000000000000"),
    "f": ("FLOAT", "1.5"),
    "d": ("DOUBLE", "2.25"),
    "amount": ("DECIMAL(12,2)", "1234.56"),
    "wide": ("DECIMAL(38,10)", "-1.0000000001"),
    "b": ("BOOLEAN", "true"),
    "v": ("VARCHAR", "'été'"),
    "bl": ("BLOB", "'\\x01\\x02'::BLOB"),
    "day": ("DATE", "DATE '2026-01-02'"),
    "t": ("TIME", "TIME '01:02:03.456789'"),
    "ts": ("TIMESTAMP", "TIMESTAMP '2026-01-02 03:04:05.123456'"),
    "tsz": ("TIMESTAMPTZ", "TIMESTAMPTZ '2026-01-02 03:04:05+02'"),
    "tsm": ("TIMESTAMP_MS", "TIMESTAMP_MS '2026-01-02 03:04:05.123'"),
    "tsn": ("TIMESTAMP_NS", "TIMESTAMP_NS '2026-01-02 03:04:05.123456789'"),
}


class DuckDbToParquetTest(DuckDbCase):
    def table(self, columns: dict[str, tuple[str, str]], name: str = "items") -> None:
        self.sql(
            f"CREATE TABLE {name} ({', '.join(f'{column} {kind}' for column, (kind, _) in columns.items())})",
            f"INSERT INTO {name} VALUES ({', '.join(value for _, value in columns.values())})",
            f"INSERT INTO {name} VALUES ({', '.join('NULL' for _ in columns)})",
        )

    def setUp(self) -> None:
        super().setUp()
        self.written: list[int] = []  # rows of each batch written
        self.fields: list[tuple] = []  # the source's columns and types each run reported
        self.integrator.subscribe(BatchWritten, lambda event: self.written.append(event.rows))
        self.integrator.subscribe(IntegrationFinished, lambda event: self.fields.append(event.inputs[0].fields))

    def copy(self, path: str, source: Connection | None = None, **settings) -> list[int]:
        """Rows of each batch written by a run into the Parquet file at `path`."""
        self.written.clear()
        target = Connection("parquet", {"path": path, **settings})
        self.ok(Integration("copy", source=source or self.duckdb(table="items"), target=target, batch_size=1))
        return list(self.written)

    def test_a_table_of_plain_types_is_written_by_duckdb_as_the_arrow_path_writes_it(self):
        self.table(PLAIN)
        self.assertEqual(self.copy("copied.parquet"), [2])  # one batch, whatever the batch size
        self.assertEqual(self.copy("decoded.parquet", append=True), [1, 1])  # appending goes as Arrow
        copied = pyarrow.parquet.read_table(self.root / "copied.parquet")
        decoded = pyarrow.parquet.read_table(self.root / "decoded.parquet")
        self.assertEqual(copied.schema, decoded.schema)
        for name in PLAIN:
            with self.subTest(column=name):
                self.assertEqual(copied.column(name).to_pylist(), decoded.column(name).to_pylist())
        self.assertEqual(copied.column("amount").to_pylist(), [decimal.Decimal("1234.56"), None])
        self.assertEqual([item for item in os.listdir(self.root) if "pdip-tmp" in item], [])
        named, decoded = self.fields  # reported without pyarrow, and from the Arrow schema
        self.assertEqual(named, decoded)
        self.assertEqual(dict(named)["amount"], "decimal128(12, 2)")

    def test_a_copy_by_duckdb_imports_neither_pyarrow_nor_numpy_nor_a_mysql_dialect(self):
        self.table({"id": ("INTEGER", "1"), "label": ("VARCHAR", "'one'")})
        (self.root / "copy.yml").write_text(
            "name: copy\nintegrations:\n  - {name: copy, source: {kind: duckdb, database: warehouse.duckdb,"
            " table: items}, target: {kind: parquet, path: out.parquet}}\n"
        )
        code = (
            f"import sys, pdip.cli; code = pdip.cli.main(['run', {str(self.root / 'copy.yml')!r}, '--no-progress']); "
            "print(code, [name for name in ('pyarrow', 'numpy', 'sqlalchemy.dialects.mysql') if name in sys.modules])"
        )
        plain = {name: value for name, value in os.environ.items() if not name.startswith("COVERAGE_")}
        ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=plain, cwd=self.root)
        self.assertEqual(ran.stdout.strip().splitlines()[-1], "0 []", ran.stdout + ran.stderr)
        self.assertEqual(
            pyarrow.parquet.read_table(self.root / "out.parquet").column("label").to_pylist(), ["one", None]
        )

    def test_appending_to_a_file_adds_the_rows_as_arrow(self):
        self.table({"id": ("INTEGER", "1")})
        self.assertEqual(self.copy("out.parquet"), [2])
        self.assertEqual(self.copy("out.parquet", append=True), [1, 1])
        self.assertEqual(pyarrow.parquet.read_table(self.root / "out.parquet").column("id").to_pylist(), [1, None] * 2)

    def test_a_column_copy_would_change_sends_the_table_as_arrow(self):
        self.table({"id": ("INTEGER", "1"), "big": ("HUGEINT", "170141183460469231731687303715884105727")})
        self.assertEqual(self.copy("out.parquet"), [1, 1])
        found = pyarrow.parquet.read_table(self.root / "out.parquet")
        self.assertEqual(found.schema.field("big").type, pyarrow.decimal128(38, 0))  # COPY writes a double
        self.assertEqual(found.column("big").to_pylist(), [decimal.Decimal(2**127 - 1), None])

    def test_an_empty_table_a_query_or_a_memory_database_go_as_arrow(self):
        self.table({"id": ("INTEGER", "1")})
        self.sql("CREATE TABLE empty (id INTEGER, label VARCHAR)")
        self.assertEqual(self.copy("empty.parquet", self.duckdb(table="empty")), [])
        self.assertEqual(pyarrow.parquet.read_schema(self.root / "empty.parquet").names, ["id", "label"])
        self.assertEqual(self.copy("query.parquet", self.duckdb(query="SELECT * FROM items")), [1, 1])
        memory = Connection("duckdb", {"database": ":memory:", "schema": "information_schema", "table": "schemata"})
        self.assertGreater(len(self.copy("memory.parquet", memory)), 1)

    def test_the_targets_compression_and_row_groups_are_kept_and_duckdbs_memory_limit_is_restored(self):
        self.sql("CREATE TABLE items AS SELECT range::INTEGER AS id FROM range(20000)")
        held = duckdb.connect(str(self.file), read_only=True)  # the copy shares its database
        self.addCleanup(held.close)
        (limit,) = held.execute("SELECT current_setting('memory_limit')").fetchone()
        self.assertEqual(self.copy("out.parquet", compression="none", row_group_rows=5000), [20000])
        metadata = pyarrow.parquet.ParquetFile(self.root / "out.parquet").metadata
        groups = [metadata.row_group(index) for index in range(metadata.num_row_groups)]
        self.assertEqual([group.num_rows for group in groups], [4096] * 4 + [3616])  # whole vectors of 2,048
        self.assertEqual({group.column(0).compression for group in groups}, {"UNCOMPRESSED"})
        self.assertEqual(held.execute("SELECT current_setting('memory_limit')").fetchone(), (limit,))

    def test_a_named_table_is_read_as_rows_by_whoever_needs_its_values(self):
        self.table({"id": ("INTEGER", "7"), "label": ("VARCHAR", "'seven'")})
        source = DuckDbSource(self.duckdb(table="items"), RunContext({}, "x", self.root))
        self.addCleanup(source.close)
        (batch,) = source.read(ReadRequest(1, accept=(duckdb_copy.RAW_FORMAT,)))
        self.assertEqual((batch.raw_format, len(batch), batch.position), (duckdb_copy.RAW_FORMAT, 2, 2))
        self.assertEqual(batch.rows, [(7, "seven"), (None, None)])

    def test_a_copy_duckdb_fails_leaves_the_previous_file_and_no_temporary_one(self):
        self.table({"id": ("INTEGER", "1")})
        self.assertEqual(self.copy("out.parquet"), [2])
        before = (self.root / "out.parquet").read_bytes()
        gone = duckdb_copy.named(str(self.file), "SELECT * FROM gone", ["id"], 2)  # dropped since it was read
        target = FileTarget(Connection("parquet", {"path": "out.parquet"}), RunContext({}, "x", self.root))
        target.prepare(["id"], create=True, truncate=False)
        with self.assertRaisesRegex(duckdb.CatalogException, "gone"):
            target.write(gone)
        target.close()  # a failed run closes its target without finishing it
        self.assertEqual((self.root / "out.parquet").read_bytes(), before)
        self.assertEqual([name for name in os.listdir(self.root) if name.startswith(".out")], [])  # no temporary file
