"""Types come from the source's declared schema, never from the first batch; an empty source's
target is still created with the source's columns; reading a SQLite file never changes it."""

import contextlib
import datetime as dt
import hashlib
import io
import sqlite3
import tempfile
import unittest
import uuid
from decimal import Decimal
from pathlib import Path

import pyarrow
import pyarrow.parquet
import sqlalchemy as sa

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation, OperationError, StateStore
from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.sql.rows import SqlSource
from pdip.integrator.base import Integrator
from tests.support import servers

NULL_FIRST = 10_500  # rows whose `later` is NULL, more than one batch of 10,000
ROWS = 12_000


def _rows() -> list[dict]:
    return [
        {
            "id": i,
            "later": None if i <= NULL_FIRST else i / 4,
            "amount": Decimal(i) / 100,
            "at": dt.datetime(2026, 1, 1) + dt.timedelta(minutes=i),
        }
        for i in range(1, ROWS + 1)
    ]


def _source_table(metadata: sa.MetaData, name: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("later", sa.Double),
        sa.Column("amount", sa.Numeric(10, 2)),
        sa.Column("at", sa.DateTime),
    )


def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class DeclaredTypesTest(unittest.TestCase):
    def setUp(self):
        folder = tempfile.TemporaryDirectory(prefix="pdip-declared-")
        self.addCleanup(folder.cleanup)
        self.root = Path(folder.name)
        self.pdi = Pdi(root_directory=self.root)
        self.addCleanup(self.pdi.cleanup)
        self.integrator = self.pdi.get(Integrator)
        self.engines: dict[str, sa.Engine] = {}
        self.tables: list[tuple[str, str]] = []

    def tearDown(self):
        for url, name in self.tables:
            with self.engine(url).begin() as connection:
                connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
        for engine in self.engines.values():
            engine.dispose()

    # -- helpers -----------------------------------------------------------------------------------

    def engine(self, url: str) -> sa.Engine:
        if url not in self.engines:
            self.engines[url] = sa.create_engine(url)
        return self.engines[url]

    def sqlite_url(self, name: str = "data.db") -> str:
        return f"sqlite:///{self.root / name}"

    def name(self, url: str, prefix: str) -> str:
        name = f"pdip_it_decl_{prefix}_{uuid.uuid4().hex[:8]}"
        self.tables.append((url, name))
        return name

    def filled(self, url: str, rows: list[dict]) -> str:
        name = self.name(url, "src")
        table = _source_table(sa.MetaData(), name)
        table.create(self.engine(url))
        if rows:
            with self.engine(url).begin() as connection:
                connection.execute(table.insert(), rows)
        return name

    def run_one(self, integration: Integration, executor: str = "process"):
        with contextlib.redirect_stdout(io.StringIO()):
            result = self.integrator.integrate(Operation("declared", [integration], executor=executor))
        self.assertTrue(result.ok, result.integrations[0].error)
        self.assertEqual(self.pdi.get(StateStore).dead_letters(result.execution_id), [])
        return result.integrations[0]

    def columns(self, url: str, table: str) -> dict[str, sa.types.TypeEngine]:
        return {column["name"]: column["type"] for column in sa.inspect(self.engine(url)).get_columns(table)}

    # -- types from the source's schema ----------------------------------------------------------

    def test_a_sql_table_gives_a_parquet_file_its_declared_types_even_for_a_column_null_at_first(self):
        for database, url in (("sqlite", self.sqlite_url()), ("postgresql", servers.postgres_url())):
            with self.subTest(source=database):
                table = self.filled(url, _rows())
                path = self.root / f"{database}.parquet"
                result = self.run_one(
                    Integration(
                        f"{database}-parquet",
                        source=Connection("sql", {"url": url, "table": table}),
                        target=Connection("parquet", {"path": str(path)}),
                    )
                )
                self.assertEqual((result.rows_written, result.rows_dead_lettered), (ROWS, 0))
                schema = pyarrow.parquet.read_schema(path)
                self.assertEqual(schema.field("id").type, pyarrow.int32())
                self.assertEqual(schema.field("later").type, pyarrow.float64())
                self.assertEqual(schema.field("amount").type, pyarrow.decimal128(10, 2))
                self.assertEqual(schema.field("at").type, pyarrow.timestamp("us"))
                written = pyarrow.parquet.read_table(path)
                self.assertEqual(written.num_rows, ROWS)
                self.assertEqual(written.column("later")[ROWS - 1].as_py(), ROWS / 4)
                self.assertEqual(written.column("amount")[ROWS - 1].as_py(), Decimal("120.00"))

    def test_parquet_to_parquet_keeps_the_schema_exactly(self):
        schema = pyarrow.schema(
            [
                pyarrow.field("id", pyarrow.int32(), nullable=False),
                ("small", pyarrow.int16()),
                ("ratio", pyarrow.float32()),
                ("amount", pyarrow.decimal128(12, 3)),
                ("at", pyarrow.timestamp("ms", tz="Europe/Paris")),
                ("day", pyarrow.date32()),
                ("label", pyarrow.string()),
            ]
        )
        count = 25_000
        table = pyarrow.table(
            {
                "id": pyarrow.array(range(count), pyarrow.int32()),
                "small": pyarrow.array([None] * 20_000 + [7] * 5_000, pyarrow.int16()),
                "ratio": pyarrow.array([0.5] * count, pyarrow.float32()),
                "amount": pyarrow.array([None] * 15_000 + [Decimal("1.250")] * 10_000, pyarrow.decimal128(12, 3)),
                "at": pyarrow.array([None] * 12_000 + [0] * 13_000, pyarrow.timestamp("ms", tz="Europe/Paris")),
                "day": pyarrow.array([19_000] * count, pyarrow.date32()),
                "label": pyarrow.array([None] * 11_000 + ["x"] * 14_000, pyarrow.string()),
            },
            schema=schema,
        )
        pyarrow.parquet.write_table(table, self.root / "in.parquet")
        for executor in ("inline", "process"):
            with self.subTest(executor=executor):
                out = self.root / f"out-{executor}.parquet"
                result = self.run_one(
                    Integration(
                        "parquet-parquet",
                        source=Connection("parquet", {"path": "in.parquet"}),
                        target=Connection("parquet", {"path": out.name}),
                    ),
                    executor=executor,
                )
                self.assertEqual(result.rows_written, count)
                self.assertEqual(pyarrow.parquet.read_schema(out).remove_metadata(), schema)
                self.assertTrue(pyarrow.parquet.read_table(out).equals(table))

    # -- an empty source -------------------------------------------------------------------------

    def test_an_empty_sql_table_creates_its_target_with_its_columns_and_types(self):
        postgres = servers.postgres_url()
        cases = [
            ("sqlite", self.sqlite_url("empty.db"), self.sqlite_url("copy.db")),
            ("sqlite", self.sqlite_url("empty.db"), postgres),
            ("postgresql", postgres, postgres),
            ("postgresql", postgres, self.sqlite_url("copy.db")),
        ]
        for kind, source_url, target_url in cases:
            with self.subTest(source=kind, target=sa.make_url(target_url).get_backend_name()):
                table = self.filled(source_url, [])
                copy = self.name(target_url, "empty")
                result = self.run_one(
                    Integration(
                        "empty",
                        source=Connection("sql", {"url": source_url, "table": table}),
                        target=Connection("sql", {"url": target_url, "table": copy}),
                        create_target=True,
                    )
                )
                self.assertEqual(result.rows_written, 0)
                created = self.columns(target_url, copy)
                self.assertEqual(list(created), ["id", "later", "amount", "at"])
                self.assertIsInstance(created["id"], sa.Integer)
                self.assertNotIsInstance(created["id"], sa.BigInteger)
                self.assertIsInstance(created["later"], sa.Float)
                self.assertEqual((created["amount"].precision, created["amount"].scale), (10, 2))
                self.assertIsInstance(created["at"], sa.DateTime)

    def test_an_empty_sql_table_truncates_its_target(self):
        url = self.sqlite_url()
        table = self.filled(url, [])
        copy = self.filled(url, _rows()[:5])
        self.run_one(
            Integration(
                "emptied",
                source=Connection("sql", {"url": url, "table": table}),
                target=Connection("sql", {"url": url, "table": copy}),
                truncate_target=True,
            )
        )
        with self.engine(url).connect() as connection:
            self.assertEqual(connection.exec_driver_sql(f'SELECT count(*) FROM "{copy}"').scalar(), 0)

    def test_an_empty_csv_with_types_creates_its_sql_target(self):
        (self.root / "empty.csv").write_text("id;amount;seen;note\n", encoding="utf-8")
        source = Connection(
            "csv", {"path": "empty.csv", "delimiter": ";", "types": {"id": "int", "amount": "decimal", "seen": "date"}}
        )
        for url in (self.sqlite_url(), servers.postgres_url()):
            with self.subTest(target=sa.make_url(url).get_backend_name()):
                copy = self.name(url, "csv")
                result = self.run_one(
                    Integration(
                        "csv-empty",
                        source=source,
                        target=Connection("sql", {"url": url, "table": copy}),
                        create_target=True,
                    )
                )
                self.assertEqual(result.rows_written, 0)
                created = self.columns(url, copy)
                self.assertEqual(list(created), ["id", "amount", "seen", "note"])
                self.assertIsInstance(created["id"], sa.BigInteger)
                self.assertIsInstance(created["amount"], sa.Numeric)
                self.assertIsInstance(created["seen"], sa.Date)
                self.assertIsInstance(created["note"], sa.Text)

    def test_a_csv_without_even_a_header_creates_no_table_and_the_run_says_so(self):
        (self.root / "nothing.csv").write_bytes(b"")
        url = self.sqlite_url()
        copy = self.name(url, "nothing")
        integration = Integration(
            "csv-nothing",
            source=Connection("csv", {"path": "nothing.csv"}),
            target=Connection("sql", {"url": url, "table": copy}),
            create_target=True,
        )
        result = self.run_one(integration, executor="inline")
        self.assertEqual(
            result.warnings,
            [
                f"nothing.csv is empty (no header line, no rows), so no columns: nothing read and table {copy!r} "
                "was not created (it needs columns: name them in the source's `columns`)"
            ],
        )
        self.assertFalse(sa.inspect(self.engine(url)).has_table(copy))
        with self.engine(url).begin() as connection:  # a table that exists takes the empty source
            connection.exec_driver_sql(f'CREATE TABLE "{copy}" (id INTEGER)')
        self.assertEqual(self.run_one(integration, executor="inline").rows_written, 0)

    def test_an_empty_parquet_file_gives_an_empty_parquet_file_of_its_schema(self):
        schema = pyarrow.schema([("id", pyarrow.int32()), ("amount", pyarrow.decimal128(9, 2))])
        pyarrow.parquet.write_table(pyarrow.table({"id": [], "amount": []}, schema=schema), self.root / "none.parquet")
        self.run_one(
            Integration(
                "parquet-empty",
                source=Connection("parquet", {"path": "none.parquet"}),
                target=Connection("parquet", {"path": "copy.parquet"}),
            )
        )
        self.assertEqual(pyarrow.parquet.read_schema(self.root / "copy.parquet").remove_metadata(), schema)

    def test_an_empty_memory_table_gives_its_schema_unless_a_policy_may_change_it(self):
        self.integrator.stores["none"] = pyarrow.table({"id": pyarrow.array([], pyarrow.int16())})
        for policy, expected in ((False, pyarrow.schema([("id", pyarrow.int16())])), (True, pyarrow.schema([]))):
            with self.subTest(policy=policy):
                self.run_one(
                    Integration(
                        "memory-empty",
                        source=Connection("memory", {"store": "none"}),
                        target=Connection("parquet", {"path": "memory.parquet"}),
                        policy=policy,
                    )
                )
                self.assertEqual(pyarrow.parquet.read_schema(self.root / "memory.parquet"), expected)

    # -- reading never changes a SQLite source ----------------------------------------------------

    def test_a_sqlite_source_is_read_only_and_keeps_its_journal_mode(self):
        path = self.root / "source.db"
        url = self.sqlite_url(path.name)
        table = self.filled(url, _rows()[:2_500])
        self.engine(url).dispose()
        with contextlib.closing(sqlite3.connect(path)) as connection:
            self.assertEqual(connection.execute("PRAGMA journal_mode").fetchone(), ("delete",))
        before = _hash(path)
        targets = [
            Connection("sql", {"url": self.sqlite_url("target.db"), "table": "copy"}),  # the stored-values path
            Connection("parquet", {"path": "copy.parquet"}),
        ]
        for target in targets:
            with self.subTest(target=target.kind):
                result = self.run_one(
                    Integration(
                        "read-only",
                        source=Connection("sql", {"url": url, "table": table}),
                        target=target,
                        create_target=True,
                        batch_size=1_000,
                    )
                )
                self.assertEqual(result.rows_written, 2_500)
                self.assertEqual(_hash(path), before)
                self.assertEqual(sorted(item.name for item in self.root.glob("source.db*")), ["source.db"])
        with contextlib.closing(sqlite3.connect(path)) as connection:
            self.assertEqual(connection.execute("PRAGMA journal_mode").fetchone(), ("delete",))

    def test_a_missing_sqlite_source_file_is_named_and_not_created(self):
        source = SqlSource(Connection("sql", {"url": self.sqlite_url("missing.db"), "table": "t"}), self.pdi)
        self.addCleanup(source.close)
        with self.assertRaisesRegex(OperationError, r"SQLite file .*missing\.db does not exist"):
            list(source.read(ReadRequest(10)))
        self.assertFalse((self.root / "missing.db").exists())

    def test_a_write_through_a_sqlite_sources_connection_fails(self):
        url = self.sqlite_url("source.db")
        table = self.filled(url, _rows()[:3])
        source = SqlSource(Connection("sql", {"url": url, "table": table}), self.pdi)
        self.addCleanup(source.close)
        batches = list(source.read(ReadRequest(10, accept=("sqlite-values",))))
        self.assertEqual(batches[0].raw_format, "sqlite-values")  # the fast path reads through the same engine
        self.assertEqual(len(batches[0]), 3)
        with source.engine.connect() as connection:
            with self.assertRaisesRegex(sa.exc.OperationalError, "readonly database"):
                connection.exec_driver_sql(f'DELETE FROM "{table}"')


if __name__ == "__main__":
    unittest.main()
