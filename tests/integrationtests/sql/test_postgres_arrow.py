"""PostgreSQL into a target that takes Arrow (Parquet): the reader decodes its binary COPY rows
into Arrow record batches a column at a time, and the run behaves as on the general path:
the declared types, positions, resume, policies and dead letters."""

import contextlib
import datetime as dt
import io
import tempfile
import unittest
import uuid
from decimal import Decimal
from pathlib import Path

import pyarrow
import pyarrow.parquet
import sqlalchemy as sa

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation, StateStore
from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.sql.rows import SqlSource
from pdip.integrator.base import Integrator
from pdip.integrator.batch import ARROW
from tests.support import servers

ROWS = 2_500


def _rows() -> list[dict]:
    return [
        {
            "id": i,
            "small": i % 300 if i % 7 else None,
            "amount": Decimal(i) / 100,
            "price": i / 4,
            "label": f"label {i}" if i % 5 else None,
            "active": i % 2 == 0,
            "day": dt.date(2026, 1, 1) + dt.timedelta(days=i % 365),
            "at": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=i),
            "token": uuid.UUID(int=i),
            "doc": {"n": i},
        }
        for i in range(1, ROWS + 1)
    ]


class PostgresArrowTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.url = servers.postgres_url()
        cls.engine = sa.create_engine(cls.url)
        cls.table = f"arrow_{uuid.uuid4().hex[:8]}"
        metadata = sa.MetaData()
        table = sa.Table(
            cls.table,
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("small", sa.SmallInteger),
            sa.Column("amount", sa.Numeric(12, 2)),
            sa.Column("price", sa.Double),
            sa.Column("label", sa.String(40)),
            sa.Column("active", sa.Boolean),
            sa.Column("day", sa.Date),
            sa.Column("at", sa.DateTime(timezone=True)),
            sa.Column("token", sa.Uuid),
            sa.Column("doc", sa.JSON),
        )
        metadata.create_all(cls.engine)
        with cls.engine.begin() as connection:
            connection.execute(table.insert(), _rows())

    @classmethod
    def tearDownClass(cls):
        with cls.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {cls.table}")
        cls.engine.dispose()

    def setUp(self):
        folder = tempfile.TemporaryDirectory(prefix="pdip-pg-arrow-")
        self.addCleanup(folder.cleanup)
        self.root = Path(folder.name)
        self.pdi = Pdi(root_directory=self.root)
        self.addCleanup(self.pdi.cleanup)
        self.integrator = self.pdi.get(Integrator)

    def source(self) -> Connection:
        return Connection("sql", {"url": self.url, "table": self.table})

    def read(self, **request) -> list:
        source = SqlSource(self.source(), self.pdi)
        try:
            return list(source.read(ReadRequest(**request)))
        finally:
            source.close()

    def run_one(self, integration: Integration, executor: str = "process"):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            result = self.integrator.integrate(Operation(integration.name, [integration], executor=executor))
        self.assertEqual(result.status, "finished", result.integrations[0].error)
        return result.integrations[0]

    def test_the_reader_sends_arrow_batches_with_the_values_and_positions_of_the_general_path(self):
        for key in (None, ["id"]):
            with self.subTest(key=key):
                arrow = self.read(batch_size=1_000, key=key, accept=(ARROW,))
                general = self.read(batch_size=1_000, key=key)
                self.assertTrue(all(batch._arrow is not None and batch._rows is None for batch in arrow))
                self.assertEqual([batch.position for batch in arrow], [batch.position for batch in general])
                self.assertEqual([batch.rows for batch in arrow], [batch.rows for batch in general])

    def test_a_parquet_file_has_the_declared_types_and_one_row_group(self):
        done = self.run_one(
            Integration("parquet", source=self.source(), target=Connection("parquet", {"path": "out.parquet"}))
        )
        self.assertEqual((done.rows_read, done.rows_written), (ROWS, ROWS))
        file = pyarrow.parquet.ParquetFile(self.root / "out.parquet")
        self.assertEqual(file.metadata.num_row_groups, 1)
        schema = file.schema_arrow
        expected = {
            "id": pyarrow.int32(),
            "small": pyarrow.int16(),
            "amount": pyarrow.decimal128(12, 2),
            "price": pyarrow.float64(),
            "label": pyarrow.string(),
            "active": pyarrow.bool_(),
            "day": pyarrow.date32(),
            "at": pyarrow.timestamp("us", tz="UTC"),
            "token": pyarrow.uuid(),
            "doc": pyarrow.json_(),
        }
        self.assertEqual({field.name: field.type for field in schema}, expected)
        table = file.read()
        self.assertEqual(table.column("amount").to_pylist(), [row["amount"] for row in _rows()])
        self.assertEqual(table.column("small").to_pylist(), [row["small"] for row in _rows()])
        self.assertEqual(table.column("at").to_pylist()[-1], _rows()[-1]["at"])

    def test_a_partitioned_read_and_a_policy_work_on_arrow_batches(self):
        (self.root / "redact.yml").write_text("rules:\n  - column: label\n    action: redact\n")
        done = self.run_one(
            Integration(
                "parallel",
                source=self.source(),
                target=Connection("parquet", {"path": "redacted.parquet"}),
                key=["id"],
                parallelism=2,
                policy="redact.yml",
                batch_size=500,
            )
        )
        self.assertEqual(done.rows_written, ROWS)
        table = pyarrow.parquet.read_table(self.root / "redacted.parquet").sort_by("id")
        self.assertEqual(table.column("id").to_pylist(), list(range(1, ROWS + 1)))
        labels = table.column("label").to_pylist()
        self.assertEqual(labels[:5], ["<redacted>"] * 4 + [None])

    def test_rows_that_do_not_fit_the_file_are_dead_lettered_where_they_were_read(self):
        pyarrow.parquet.write_table(
            pyarrow.table({"id": pyarrow.array([0], pyarrow.int32()), "label": pyarrow.array([0], pyarrow.int64())}),
            self.root / "numbers.parquet",
        )
        query = (
            f"SELECT id, CASE WHEN id % 1000 = 0 THEN 'x' || id ELSE CAST(id AS text) END AS label FROM {self.table}"
        )
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            result = self.integrator.integrate(
                Operation(
                    "letters",
                    [
                        Integration(
                            "letters",
                            source=Connection("sql", {"url": self.url, "query": query}),
                            target=Connection("parquet", {"path": "numbers.parquet", "append": True}),
                            max_errors=10,
                            batch_size=1_000,
                        )
                    ],
                )
            )
        self.assertEqual(result.status, "finished", result.integrations[0].error)
        self.assertEqual(result.integrations[0].rows_dead_lettered, 2)
        letters = self.pdi.get(StateStore).dead_letters(result.execution_id)
        self.assertEqual([letter["row"]["label"] for letter in letters], ["x1000", "x2000"])
        self.assertEqual([letter["position"] for letter in letters], [1_000, 2_000])
        self.assertIn("does not fit the file's schema", letters[0]["reason"])
        table = pyarrow.parquet.read_table(self.root / "numbers.parquet")
        self.assertEqual(table.num_rows, 1 + ROWS - 2)
