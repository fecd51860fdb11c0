"""Apache Iceberg (`kind: iceberg`): replace, partitions, schema changes, time travel by snapshot,
positions and batches gathered into commits, bad input, a catalog on PostgreSQL, and a table on
S3 (the moto server of tests/support/object_store.py).

The contract suite (tests/integrationtests/contract/test_iceberg_contract.py) checks what every
store does; these check what Iceberg adds, on a SQLite catalog in a temporary folder.
"""

from __future__ import annotations

import json
import unittest
import uuid
from pathlib import Path
from typing import Any
from unittest import mock

import sqlalchemy as sa

from pdip.integrator import Connection, Integration, OperationError, StateStore
from pdip.integrator.adapters.lakehouse.iceberg import IcebergConnection
from pdip.integrator.events import IntegrationStarted
from pdip.integrator.results import RunContext
from tests.integrationtests.lakehouse.buckets import LakeBucket
from tests.integrationtests.lakehouse.gathering import GatheringContract
from tests.support.runs import IntegratorCase
from tests.support.servers import postgres_url


class IcebergCase(IntegratorCase):
    prefix = "pdip-iceberg-"
    operation = "lake"
    catalog_uri = "sqlite:///catalog.db"

    def setUp(self) -> None:
        super().setUp()
        self.name = f"sales.people_{uuid.uuid4().hex[:8]}"

    def iceberg(self, **settings) -> Connection:
        return Connection(
            "iceberg", {"catalog_uri": self.catalog_uri, "warehouse": "lake", "table": self.name, **settings}
        )

    def table(self, **settings):
        context = RunContext(self.integrator.stores, "t", self.root)
        return IcebergConnection(self.iceberg(**settings), context).load()

    def rows(self, snapshot_id: int | None = None) -> list[dict]:
        return sorted(self.table().scan(snapshot_id=snapshot_id).to_arrow().to_pylist(), key=lambda row: row["id"])

    def people(self, rows, **options) -> Integration:
        return Integration(
            "people", source=self.memory("people", rows), target=self.iceberg(), create_target=True, **options
        )


class WritingTest(IcebergCase):
    def test_replace_commits_once_and_time_travel_reads_the_old_snapshot(self):
        self.ok(self.people([{"id": number, "name": f"old {number}"} for number in range(4)]))
        before = self.table().current_snapshot().snapshot_id
        self.ok(self.people([{"id": 7, "name": "new"}, {"id": 8, "name": "newer"}], write="replace", batch_size=1))
        self.assertEqual(self.rows(), [{"id": 7, "name": "new"}, {"id": 8, "name": "newer"}])
        self.assertEqual(len(self.rows(before)), 4)
        back = Integration(
            "back", source=self.iceberg(snapshot_id=before), target=Connection("memory", {"store": "back"})
        )
        self.ok(back)
        self.assertEqual(sorted(row["id"] for row in self.integrator.stores.records("back")), [0, 1, 2, 3])
        self.assertFalse([key for key in self.table().properties if key.startswith("pdip.position.")])

    def test_partition_by_makes_identity_partitions(self):
        rows = [{"id": number, "region": "eu" if number % 2 else "us"} for number in range(6)]
        target = self.iceberg(partition_by=["region"])
        self.ok(Integration("regions", source=self.memory("regions", rows), target=target, create_target=True))
        spec = self.table().spec()
        self.assertEqual([field.name for field in spec.fields], ["region"])
        self.assertEqual(len(self.rows()), 6)
        self.assertEqual({file.file.partition[0] for file in self.table().scan().plan_files()}, {"eu", "us"})

    def test_evolve_adds_a_column_to_a_table_pdip_created_and_freeze_refuses(self):
        self.ok(self.people([{"id": 1}]))
        result = self.ok(self.people([{"id": 2, "note": "hi"}]))
        self.assertEqual(result.integrations[0].schema_changes, ["added column 'note' string"])
        self.assertEqual(self.rows(), [{"id": 1, "note": None}, {"id": 2, "note": "hi"}])
        error = self.error(self.people([{"id": 3, "extra": 1}], schema="freeze"))
        self.assertIn("lacks the source's column(s) 'extra'", error)
        result = self.ok(
            self.people([{"id": 3, "extra": 1}, {"id": 4, "extra": None}], schema="discard_row", max_errors=5)
        )
        self.assertEqual(result.integrations[0].rows_dead_lettered, 1)


class BadInputTest(IcebergCase):
    def test_an_unknown_format_version_is_refused_before_any_data_moves(self):
        with self.assertRaises(OperationError) as raised:
            target = self.iceberg(format_version=9)
            self.integrate(Integration("v", source=self.memory("v", [{"id": 1}]), target=target, create_target=True))
        self.assertIn("target.format_version: expected one of 1, 2, got 9", str(raised.exception))

    def test_a_table_of_an_unknown_format_version_is_named(self):
        self.ok(self.people([{"id": 1}]))
        metadata = Path(self.table().metadata_location.removeprefix("file://"))
        metadata.write_text(json.dumps({**json.loads(metadata.read_text()), "format-version": 9}))
        error = self.error(self.people([{"id": 2}]))
        self.assertIn(f"iceberg connection: table: {self.name!r} has table format version 9, which this", error)
        self.assertIn("cannot read (it reads 1, 2, 3)", error)

    def test_merge_is_refused_before_any_data_moves(self):
        error = self.error(self.people([{"id": 2}], write="merge", key=["id"]))
        self.assertIn("integration 'people': write: merge, but iceberg targets cannot upsert rows by key", error)
        self.assertIsNone(self.table())

    def test_a_table_name_without_namespace_and_a_missing_table_are_named(self):
        bare = Connection("iceberg", {"catalog_uri": self.catalog_uri, "table": "people"})
        self.assertIn(
            "iceberg connection: table: expected `namespace.table`, got 'people'",
            self.error(Integration("b", source=bare, target=Connection("memory", {"store": "x"}))),
        )
        missing = Integration("m", source=self.iceberg(), target=Connection("memory", {"store": "x"}))
        self.assertIn(f"the catalog has no table {self.name!r}", self.error(missing))
        absent = Integration("n", source=self.memory("n", [{"id": 1}]), target=self.iceberg())
        self.assertIn("set create_target: true", self.error(absent))

    def test_a_value_the_table_refuses_is_dead_lettered(self):
        self.ok(self.people([{"id": 1, "count": 1}]))
        result = self.ok(self.people([{"id": 2, "count": 2}, {"id": 3, "count": "three"}], max_errors=5))
        letter = self.pdi.get(StateStore).dead_letters(result.execution_id)[0]
        self.assertIn("does not fit the table's schema", letter["reason"])
        self.assertEqual([row["id"] for row in self.rows()], [1, 2])

    def test_a_snapshot_the_table_lacks_is_named(self):
        self.ok(self.people([{"id": 1}]))
        error = self.error(
            Integration("s", source=self.iceberg(snapshot_id=1), target=Connection("memory", {"store": "x"}))
        )
        self.assertIn("snapshot_id: table", error)


class MoreTest(IcebergCase):
    def test_an_incremental_read_and_an_unknown_column(self):
        self.ok(self.people([{"id": number} for number in range(4)]))
        read = Integration("inc", source=self.iceberg(), target=self.memory("inc", []), mode="incremental", cursor="id")
        self.ok(read)
        self.ok(self.people([{"id": 9}]))
        self.ok(read)
        self.assertEqual(sorted(row["id"] for row in self.integrator.stores.records("inc")), [0, 1, 2, 3, 9])
        wrong = Integration("w", source=self.iceberg(), target=self.memory("w", []), columns=["nope"])
        self.assertIn("has no column 'nope' (its columns: id)", self.error(wrong))

    def test_a_table_without_a_warehouse_cannot_be_created_and_says_why(self):
        bare = Connection("iceberg", {"catalog_uri": self.catalog_uri, "table": self.name})
        error = self.error(Integration("b", source=self.memory("b", [{"id": 1}]), target=bare, create_target=True))
        self.assertIn("table: cannot create", error)
        self.assertIn("is warehouse set?", error)
        wrong = self.iceberg(partition_by=["day"])
        error = self.error(Integration("p", source=self.memory("p", [{"id": 1}]), target=wrong, create_target=True))
        self.assertIn("partition_by: the source has no column 'day'", error)

    def test_an_all_refused_batch_and_a_replace_from_an_empty_source(self):
        self.ok(self.people([{"id": 1, "count": 1}]))
        result = self.ok(self.people([{"id": 3, "count": "three"}], max_errors=5))
        self.assertEqual(result.integrations[0].rows_dead_lettered, 1)
        self.integrator.stores["none"] = []
        self.ok(
            Integration(
                "people", source=Connection("memory", {"store": "none"}), target=self.iceberg(), write="replace"
            )
        )
        self.assertEqual(self.rows(), [])


class CommitTest(GatheringContract, IcebergCase):
    """Batches gathered into commits (tests/integrationtests/lakehouse/gathering.py), and a new
    column during a replace."""

    def lake(self, **settings) -> Connection:
        return self.iceberg(**settings)

    def commits(self) -> int:
        return sum(snapshot.summary.operation.value == "append" for snapshot in self.table().snapshots())

    def positions(self) -> dict[str, Any]:
        properties = self.table().properties.items()
        return {key.removeprefix("pdip.position."): json.loads(value) for key, value in properties if "position" in key}

    def copied(self, source: Connection, **options) -> str:
        """Ten rows of `source` (a large file: `Source.light_to_read` does not decide) in batches
        of three; the source as the run described it."""
        copy = Integration("many", source=source, target=self.iceberg(), create_target=True, batch_size=3, **options)
        started = []
        self.integrator.subscribe(IntegrationStarted, lambda event: started.append(event.source))
        with mock.patch("pdip.integrator.adapters.file.rows.LIGHT_BYTES", 0):
            self.assertEqual(self.ok(copy).integrations[0].rows_written, 10)
        self.assertEqual([row["id"] for row in self.rows()], list(range(10)))
        return started[0]

    def test_a_parquet_file_decoded_is_read_by_the_writing_process_itself(self):
        # pyiceberg encodes a commit's Parquet files in threads of its own, after the batches
        # are in: a reader process would overlap with nothing and add its fork and pipe
        import pyarrow
        import pyarrow.parquet

        ids = pyarrow.array(range(10), pyarrow.int32())
        pyarrow.parquet.write_table(pyarrow.table({"id": ids}), self.root / "many.parquet", row_group_size=4)
        described = self.copied(Connection("parquet", {"path": "many.parquet"}), columns=["id"])  # not adopted
        self.assertNotIn("reader process", described)

    def test_a_source_that_decodes_in_python_keeps_its_reader_process(self):
        (self.root / "many.csv").write_text("id\n" + "".join(f"{number}\n" for number in range(10)))
        described = self.copied(Connection("csv", {"path": "many.csv", "types": {"id": "integer"}}))
        self.assertTrue(described.endswith("(reader process)"))

    def test_a_replace_with_a_new_column_evolves_the_table_in_its_transaction(self):
        self.ok(self.people([{"id": 1}]))
        result = self.ok(self.people([{"id": 2, "note": "n"}], write="replace"))
        self.assertEqual(result.integrations[0].schema_changes, ["added column 'note' string"])
        self.assertEqual(self.rows(), [{"id": 2, "note": "n"}])


class S3Test(LakeBucket, IcebergCase):
    """A table whose files are on S3 (moto), its catalog in SQLite."""

    def iceberg(self, **settings) -> Connection:
        properties = {
            "s3.endpoint": self.store.endpoint,
            "s3.access-key-id": "pdip-test",
            "s3.secret-access-key": "pdip-test",
            "s3.region": "us-east-1",
        }
        return super().iceberg(warehouse="s3://lake/warehouse", properties=properties, **settings)

    def test_a_table_on_s3_is_written_appended_and_read(self):
        rows = [{"id": number, "name": f"n{number}"} for number in range(5)]
        self.ok(self.people(rows, batch_size=2))
        self.assertTrue(self.table().location().startswith("s3://lake/warehouse/"))
        self.ok(self.people([{"id": 9, "name": "x"}]))
        self.ok(Integration("down", source=self.iceberg(), target=Connection("memory", {"store": "down"})))
        found = sorted(self.integrator.stores.records("down"), key=lambda row: row["id"])
        self.assertEqual(found, [*rows, {"id": 9, "name": "x"}])

    def test_a_parquet_file_is_copied_into_a_table_on_s3(self):
        import pyarrow.parquet

        pyarrow.parquet.write_table(pyarrow.table({"id": [1, 2]}), self.root / "two.parquet")
        source = Connection("parquet", {"path": "two.parquet"})
        self.ok(Integration("two", source=source, target=self.iceberg(), create_target=True))
        self.assertEqual([row["id"] for row in self.rows()], [1, 2])
        (path,) = self.table().inspect.files().column("file_path").to_pylist()
        self.assertTrue(path.startswith("s3://lake/warehouse/") and "/data/pdip-adopted-" in path, path)


class PostgresCatalogTest(IcebergCase):
    def setUp(self) -> None:
        self.catalog_uri = postgres_url()
        super().setUp()
        self.addCleanup(self._drop)

    def _drop(self) -> None:
        engine = sa.create_engine(self.catalog_uri)
        with engine.begin() as connection:
            connection.execute(
                sa.text("DELETE FROM iceberg_tables WHERE table_name = :name"), {"name": self.name.split(".")[1]}
            )
        engine.dispose()

    def test_a_catalog_on_postgresql_holds_the_table(self):
        self.ok(self.people([{"id": 1, "at": None}, {"id": 2, "at": None}]))
        self.assertEqual([row["id"] for row in self.rows()], [1, 2])
        engine = sa.create_engine(self.catalog_uri)
        with engine.connect() as connection:
            found = connection.execute(
                sa.text("SELECT count(*) FROM iceberg_tables WHERE table_name = :n"), {"n": self.name.split(".")[1]}
            ).scalar()
        engine.dispose()
        self.assertEqual(found, 1)


if __name__ == "__main__":
    unittest.main()
