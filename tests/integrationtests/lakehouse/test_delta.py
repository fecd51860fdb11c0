"""Delta Lake (`kind: delta`): dispositions, partitions, schema changes, time travel, positions,
bad input, and a table on S3 (the moto server of tests/support/object_store.py).

The contract suite (tests/integrationtests/contract/test_delta_contract.py) checks what every
store does; these check what Delta adds, on real tables in a temporary folder.
"""

from __future__ import annotations

import json
import queue
import unittest
from typing import Any
from unittest import mock

import deltalake
import pyarrow
from deltalake import DeltaTable, write_deltalake

from pdip.integrator import Connection, Integration, StateStore
from pdip.integrator.adapters.lakehouse import delta, staging
from pdip.integrator.adapters.registry import AdapterRegistry
from pdip.integrator.events import BatchWritten, IntegrationStarted
from pdip.integrator.results import RunContext
from tests.integrationtests.lakehouse.buckets import LakeBucket
from tests.integrationtests.lakehouse.gathering import GatheringContract
from tests.support.runs import IntegratorCase


class DeltaCase(IntegratorCase):
    prefix = "pdip-delta-"
    operation = "lake"

    def delta(self, path: str = "lake/people", **settings) -> Connection:
        return Connection("delta", {"path": path, **settings})

    def table(self, path: str = "lake/people", version: int | None = None) -> DeltaTable:
        return DeltaTable(str(self.root / path), version=version)

    def rows(self, path: str = "lake/people") -> list[dict]:
        return sorted(self.table(path).to_pyarrow_table().to_pylist(), key=lambda row: row["id"])

    def people(self, rows, **options) -> Integration:
        return Integration(
            "people", source=self.memory("people", rows), target=self.delta(), create_target=True, **options
        )


class DispositionTest(DeltaCase):
    def test_merge_upserts_by_key_folds_a_batch_and_deletes_flagged_keys(self):
        self.ok(self.people([{"id": 1, "name": "Ada", "gone": False}, {"id": 2, "name": "Bob", "gone": False}]))
        changes = [
            {"id": 1, "name": "Ada L.", "gone": False},
            {"id": 3, "name": "Cy", "gone": None},
            {"id": 3, "name": "Cy 2", "gone": False},  # the last row of a key wins
            {"id": 2, "name": "Bob", "gone": True},
        ]
        self.ok(self.people(changes, write="merge", key=["id"], delete_column="gone"))
        self.assertEqual(
            self.rows(), [{"id": 1, "name": "Ada L.", "gone": False}, {"id": 3, "name": "Cy 2", "gone": False}]
        )

    def test_replace_swaps_the_table_in_one_commit_and_keeps_the_old_version(self):
        self.ok(self.people([{"id": number, "name": f"old {number}"} for number in range(5)]))
        before = self.table().version()
        self.ok(self.people([{"id": 7, "name": "new"}, {"id": 8, "name": "newer"}], write="replace", batch_size=1))
        self.assertEqual(self.rows(), [{"id": 7, "name": "new"}, {"id": 8, "name": "newer"}])
        table = self.table()
        self.assertEqual(table.history(1)[0]["operation"], "WRITE")  # one overwrite commit made it so
        self.assertEqual(len(self.table(version=before).to_pyarrow_table()), 5)  # time travel still sees the old rows
        self.ok(self.people([{"id": 9, "name": "again"}], write="replace"))
        self.assertEqual(self.rows(), [{"id": 9, "name": "again"}])

    def test_partition_by_partitions_a_created_table_and_time_travel_reads_a_version(self):
        rows = [{"id": number, "region": "eu west" if number % 2 else "us"} for number in range(6)]
        target = self.delta(partition_by=["region"])
        self.ok(Integration("regions", source=self.memory("regions", rows), target=target, create_target=True))
        self.assertEqual(self.table().metadata().partition_columns, ["region"])
        folders = {uri.split("/")[-2] for uri in self.table().file_uris()}  # in the staging folder
        self.assertEqual(folders, {"region=eu%20west", "region=us"})
        first = self.table().version()
        self.ok(Integration("more", source=self.memory("more", [{"id": 9, "region": "eu west"}]), target=self.delta()))
        self.assertEqual([row["id"] for row in self.rows() if row["region"] == "eu west"], [1, 3, 5, 9])
        self.ok(Integration("back", source=self.delta(version=first), target=Connection("memory", {"store": "back"})))
        self.assertEqual(sorted(row["id"] for row in self.integrator.stores.records("back")), list(range(6)))


class SchemaTest(DeltaCase):
    def setUp(self) -> None:
        super().setUp()
        write_deltalake(str(self.root / "lake/people"), pyarrow.table({"id": pyarrow.array([1], pyarrow.int64())}))

    def test_evolve_adds_the_column_and_reports_it(self):
        result = self.ok(self.people([{"id": 2, "note": "hi"}], schema="evolve"))
        self.assertEqual(result.integrations[0].schema_changes, ["added column 'note' string"])
        self.assertEqual(self.rows(), [{"id": 1, "note": None}, {"id": 2, "note": "hi"}])

    def test_a_table_pdip_did_not_create_is_frozen_by_default(self):
        error = self.error(self.people([{"id": 2, "note": "hi"}]))
        self.assertIn("lacks the source's column(s) 'note'", error)
        self.assertIn("schema: freeze (the default for a table pdip did not create)", error)

    def test_discard_row_dead_letters_and_discard_value_drops(self):
        rows = [{"id": 2, "note": "hi"}, {"id": 3, "note": None}]
        result = self.ok(self.people(rows, schema="discard_row", max_errors=5))
        self.assertEqual(result.integrations[0].rows_dead_lettered, 1)
        letter = self.pdi.get(StateStore).dead_letters(result.execution_id)[0]
        self.assertIn("lacks column(s) 'note'", letter["reason"])
        result = self.ok(self.people([{"id": 4, "note": "gone"}], schema="discard_value"))
        self.assertEqual(result.integrations[0].values_discarded, {"note": 1})
        self.assertEqual(self.rows(), [{"id": 1}, {"id": 3}, {"id": 4}])


class PositionTest(DeltaCase):
    def test_each_commit_carries_its_position_and_a_fresh_run_forgets_them(self):
        self.integrator.stores["many"] = [{"id": number} for number in range(10)]
        seen = []

        def interrupt(event: BatchWritten) -> None:
            seen.append(event.rows)
            if len(seen) == 2:
                raise KeyboardInterrupt

        self.integrator.subscribe(BatchWritten, interrupt)
        copy = Integration(
            "many",
            source=Connection("memory", {"store": "many"}),
            target=self.delta(commit_rows=1),  # a commit per batch
            create_target=True,
            batch_size=3,
        )
        self.assertEqual(self.integrate(copy).status, "interrupted")
        commit = self.table().history(1)[0]
        self.assertEqual(commit["pdip.slot"], "lake/many")
        seen.append("resumed")
        self.assertEqual(self.ok(copy, resume=True).integrations[0].rows_written, 4)
        self.assertEqual([row["id"] for row in self.rows()], list(range(10)))
        self.ok(copy)  # a fresh run: the positions forgotten by a commit of their own, all rows again
        self.assertTrue(any(commit.get("pdip.forget") == "lake/many" for commit in self.table().history()))
        self.assertEqual(len(self.rows()), 20)


class CommitTest(GatheringContract, DeltaCase):
    """Batches gathered into commits (tests/integrationtests/lakehouse/gathering.py), and a reader
    process reading on while the target holds them."""

    def lake(self, **settings) -> Connection:
        return self.delta(**settings)

    def commits(self) -> int:
        return sum("pdip.slot" in commit for commit in self.table().history())

    def positions(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for commit in self.table().history():  # newest first
            if "pdip.slot" in commit:
                found.setdefault(commit["pdip.slot"], json.loads(commit["pdip.position"]))
        return found

    def held_copy(self, source: Connection) -> str:
        """Ten rows from `source` in batches of three, three held per commit (more than a reader
        sends unpaced); the source as the run described it. Its file is taken for a large one
        (a small file is read in this process whatever its format: `Source.light_to_read`)."""
        copy = Integration("many", source=source, target=self.delta(commit_rows=9), create_target=True, batch_size=3)
        started = []
        self.integrator.subscribe(IntegrationStarted, lambda event: started.append(event.source))
        with mock.patch("pdip.integrator.adapters.file.rows.LIGHT_BYTES", 0):
            self.assertEqual(self.ok(copy).integrations[0].rows_written, 10)
        self.assertEqual([row["id"] for row in self.rows()], list(range(10)))
        self.assertEqual(sum("pdip.slot" in commit for commit in self.table().history()), 2)
        return started[0]

    def test_a_reader_process_reads_on_while_the_target_holds_its_batches(self):
        (self.root / "many.csv").write_text("id\n" + "".join(f"{number}\n" for number in range(10)))
        described = self.held_copy(Connection("csv", {"path": "many.csv", "types": {"id": "integer"}}))
        self.assertTrue(described.endswith("(reader process)"))

    def test_a_parquet_file_is_read_by_the_writing_process_itself(self):
        # Arrow's reader and delta-rs's writer both run outside the GIL: two threads of this
        # process overlap as a reader process would, without the pipe's copies
        import pyarrow.parquet

        # of a type the table does not have: decoded (tests/integrationtests/lakehouse/test_delta_adopted.py)
        write_deltalake(str(self.root / "lake/people"), pyarrow.table({"id": pyarrow.array([], pyarrow.int64())}))
        ids = pyarrow.array(range(10), pyarrow.int32())
        pyarrow.parquet.write_table(pyarrow.table({"id": ids}), self.root / "many.parquet", row_group_size=4)
        self.assertNotIn("reader process", self.held_copy(Connection("parquet", {"path": "many.parquet"})))


class StagingTest(DeltaCase):
    """A commit's batches streamed into the staging table: stopped without a commit, its write
    failing while batches still come, and the tables whose batches are not staged."""

    def staged(self, schema: pyarrow.Schema) -> staging.StagedCommits:
        table = DeltaTable.create(str(self.root / "lake/people"), schema)
        return staging.StagedCommits(deltalake, table, str(self.root / "lake/people"), {})

    def test_a_stream_stopped_commits_nothing_and_its_thread_ends(self):
        staged = self.staged(pyarrow.schema([("id", pyarrow.int64())]))
        staged.add(pyarrow.table({"id": [1, 2]}))
        stream = staged._stream
        staged.stop()
        self.assertFalse(stream._thread.is_alive())
        self.assertIsInstance(stream._error, deltalake.exceptions.DeltaError)  # the write was cut short
        self.assertEqual(self.rows(), [])
        staged.stop()  # nothing under way: nothing to do

    def test_a_write_that_fails_while_batches_come_is_raised_to_the_target(self):
        staged = self.staged(pyarrow.schema([("id", pyarrow.int64())]))
        staged.add(pyarrow.table({"id": [1]}))
        with self.assertRaises(deltalake.exceptions.DeltaError):
            for _ in range(20):  # more than the stream's queue holds once its write has failed
                staged.add(pyarrow.table({"id": ["not a number"]}))  # not of the stream's schema
        staged.stop()
        self.assertEqual(self.rows(), [])

    def test_the_batches_of_a_stream_end_when_due_and_fail_when_stopped(self):
        waiting = queue.Queue()
        for item in ("a", "b", staging._END, "c", staging._STOP):
            waiting.put(item)
        self.assertEqual(list(staging.taken(waiting)), ["a", "b"])
        with self.assertRaises(staging.StreamStopped):
            list(staging.taken(waiting))

    def test_streamed_batches_meet_the_tables_constraints_and_a_batch_of_none_is_kept(self):
        schema = pyarrow.schema([pyarrow.field("id", pyarrow.int64(), nullable=False)])
        write_deltalake(str(self.root / "lake/people"), pyarrow.Table.from_pylist([{"id": 1}], schema=schema))
        self.table().alter.add_constraint({"positive": "id > 0"})
        refused = self.ok(self.people([{"id": None}, {"id": 2}, {"id": None}], batch_size=1, max_errors=5))
        self.assertEqual(refused.integrations[0].rows_dead_lettered, 2)
        self.assertEqual(self.rows(), [{"id": 1}, {"id": 2}])
        staged = [uri for uri in self.table().file_uris() if staging.FOLDER in uri]
        self.assertEqual(len(staged), 1)  # the three batches in one commit, its rows streamed
        error = self.error(self.people([{"id": 3}, {"id": -1}], batch_size=1))
        self.assertIn("delta connection: path: the table at", error)
        self.assertEqual(self.rows(), [{"id": 1}, {"id": 2}])

    def test_a_table_with_column_mapping_is_written_by_delta_rs_directly(self):
        DeltaTable.create(
            str(self.root / "lake/people"),
            pyarrow.schema([("id", pyarrow.int64())]),
            configuration={"delta.columnMapping.mode": "name"},
        )
        self.ok(self.people([{"id": 1}, {"id": 2}]))
        added = pyarrow.table(self.table().get_add_actions(flatten=True)).to_pylist()
        self.assertEqual([(staging.FOLDER in action["path"], action["num_records"]) for action in added], [(False, 2)])

    def test_a_merge_of_rows_all_refused_commits_its_position_alone(self):
        schema = pyarrow.schema([pyarrow.field("id", pyarrow.int64(), nullable=False)])
        write_deltalake(str(self.root / "lake/people"), pyarrow.Table.from_pylist([{"id": 1}], schema=schema))
        result = self.ok(self.people([{"id": None}], write="merge", key=["id"], max_errors=5))
        self.assertEqual(result.integrations[0].rows_dead_lettered, 1)
        self.assertEqual(self.table().history(1)[0]["pdip.slot"], "lake/people")
        self.assertEqual(self.rows(), [{"id": 1}])


class BadInputTest(DeltaCase):
    def test_a_merge_key_missing_from_the_table_names_the_integration_and_setting(self):
        self.ok(self.people([{"id": 1, "name": "Ada"}]))
        error = self.error(self.people([{"id": 1, "name": "A"}], write="merge", key=["email"]))
        self.assertIn("integration 'people': write: merge: key: the table at", error)
        self.assertIn("has no column 'email'", error)
        error = self.error(self.people([{"id": 1, "name": "A"}], write="merge"))
        self.assertIn("needs key: [...] (a Delta table has no primary key)", error)

    def test_an_unknown_table_format_version_is_a_clear_error(self):
        self.ok(self.people([{"id": 1}]))
        log = self.root / "lake/people/_delta_log"
        protocol = {"protocol": {"minReaderVersion": 99, "minWriterVersion": 99}}
        (log / "00000000000000000001.json").write_text(json.dumps(protocol) + "\n")
        error = self.error(Integration("read", source=self.delta(), target=Connection("memory", {"store": "x"})))
        self.assertIn("delta connection: path: the table at", error)
        self.assertIn("Delta protocol this deltalake cannot handle", error)

    def test_a_missing_table_and_a_missing_partition_column_are_named(self):
        error = self.error(Integration("read", source=self.delta(), target=Connection("memory", {"store": "x"})))
        self.assertIn("delta connection: path: no Delta table at", error)
        missing = Integration("p", source=self.memory("p", [{"id": 1}]), target=self.delta(), create_target=False)
        self.assertIn("set create_target: true to create it", self.error(missing))
        wrong = Integration(
            "p", source=self.memory("p", [{"id": 1}]), target=self.delta(partition_by=["day"]), create_target=True
        )
        self.assertIn("partition_by: the source has no column 'day'", self.error(wrong))
        spans = pyarrow.table({"id": [1], "took": pyarrow.array([5], pyarrow.duration("us"))})
        refused = Integration("f", source=self.memory("f", spans), target=self.delta(), create_target=True)
        error = self.error(refused)
        self.assertIn("path: cannot create a table at", error)
        self.assertIn("Invalid data type for Delta Lake: Duration", error)

    def test_a_null_in_a_required_column_is_dead_lettered(self):
        schema = pyarrow.schema([pyarrow.field("id", pyarrow.int64(), nullable=False), ("name", pyarrow.string())])
        write_deltalake(str(self.root / "lake/people"), pyarrow.Table.from_pylist([], schema=schema))
        result = self.ok(self.people([{"id": 1, "name": "a"}, {"id": None, "name": "b"}], max_errors=5))
        self.assertEqual(result.integrations[0].rows_dead_lettered, 1)
        letter = self.pdi.get(StateStore).dead_letters(result.execution_id)[0]
        self.assertIn("'id' may not be NULL", letter["reason"])
        self.assertEqual(self.rows(), [{"id": 1, "name": "a"}])


class MoreTest(DeltaCase):
    def test_an_incremental_read_takes_the_rows_after_the_watermark(self):
        self.ok(self.people([{"id": number} for number in range(5)]))
        read = Integration("inc", source=self.delta(), target=self.memory("inc", []), mode="incremental", cursor="id")
        self.ok(read)
        self.ok(self.people([{"id": 7}]))
        self.ok(read)
        self.assertEqual(sorted(row["id"] for row in self.integrator.stores.records("inc")), [0, 1, 2, 3, 4, 7])
        wrong = Integration("w", source=self.delta(), target=self.memory("w", []), columns=["nope"])
        self.assertIn("has no column 'nope' (its columns: id)", self.error(wrong))

    def test_a_replace_resumes_into_its_twin_and_an_empty_source_empties_the_table(self):
        self.ok(self.people([{"id": 100}]))
        self.integrator.stores["many"] = [{"id": number} for number in range(6)]
        seen = []

        def interrupt(event: BatchWritten) -> None:
            seen.append(event.rows)
            if len(seen) == 1:
                raise KeyboardInterrupt

        self.integrator.subscribe(BatchWritten, interrupt)
        copy = Integration(
            "people",
            source=Connection("memory", {"store": "many"}),
            target=self.delta(commit_rows=1),  # a commit per batch
            write="replace",
            batch_size=4,
        )
        self.assertEqual(self.integrate(copy).status, "interrupted")
        self.assertEqual(self.rows(), [{"id": 100}])  # readers still see the old rows
        self.assertEqual(self.ok(copy, resume=True).integrations[0].rows_written, 2)
        self.assertEqual([row["id"] for row in self.rows()], list(range(6)))
        self.integrator.stores["none"] = []
        self.ok(
            Integration("people", source=Connection("memory", {"store": "none"}), target=self.delta(), write="replace")
        )
        self.assertEqual(self.rows(), [])

    def test_a_batch_all_refused_still_commits_its_position_and_a_broken_constraint_fails_the_run(self):
        schema = pyarrow.schema([pyarrow.field("id", pyarrow.int64(), nullable=False)])
        write_deltalake(str(self.root / "lake/people"), pyarrow.Table.from_pylist([], schema=schema))
        result = self.ok(self.people([{"id": None}], max_errors=5))
        self.assertEqual(result.integrations[0].rows_dead_lettered, 1)
        self.assertEqual(self.table().history(1)[0]["pdip.slot"], "lake/people")
        self.table().alter.add_constraint({"positive": "id > 0"})
        error = self.error(self.people([{"id": -1}]))
        self.assertIn("delta connection: path: the table at", error)

    def test_a_missing_delete_column_is_named(self):
        self.ok(self.people([{"id": 1}]))
        error = self.error(self.people([{"id": 1}], write="merge", key=["id"], delete_column="gone"))
        self.assertIn("write: merge: delete_column: the table at", error)

    def test_positions_of_a_partition_are_forgotten_with_their_integration(self):
        self.ok(self.people([{"id": 1}]))
        target = self.pdi.get(AdapterRegistry).target(self.delta(), RunContext(self.integrator.stores, "x", self.root))
        self.assertIsNone(target.durable_position("elsewhere"))
        target.forget_positions("lake/people")
        self.assertIsNone(target.durable_position("lake/people/p1"))
        target.forget_positions("nothing/stored")  # no commit: nothing to forget
        self.assertEqual(len([c for c in self.table().history() if "pdip.forget" in c]), 1)

    def test_a_position_behind_later_commits_is_found_reading_older_pages_of_history(self):
        self.ok(self.people([{"id": 1}]))
        for number in range(3):  # commits of someone else's, after pdip's
            write_deltalake(str(self.root / "lake/people"), pyarrow.table({"id": [number]}), mode="append")
        target = self.pdi.get(AdapterRegistry).target(self.delta(), RunContext(self.integrator.stores, "x", self.root))
        with mock.patch.object(delta, "HISTORY_PAGE", 1):  # pages of 1, 8, 64 ... commits
            self.assertEqual(target.durable_position("lake/people"), 1)
            self.assertIsNone(target.durable_position("elsewhere"))
        nowhere = self.pdi.get(AdapterRegistry).target(self.delta("lake/none"), RunContext(None, "x", self.root))
        self.assertIsNone(nowhere.durable_position("lake/none"))  # no table yet


class S3Test(LakeBucket, DeltaCase):
    def test_a_table_on_s3_is_written_merged_and_read(self):
        options = self.options()
        s3 = self.delta("s3://lake/people", storage_options=options)
        self.ok(
            Integration(
                "up",
                source=self.memory("up", [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]),
                target=s3,
                create_target=True,
            )
        )
        self.ok(
            Integration("m", source=self.memory("m", [{"id": 2, "name": "B"}]), target=s3, write="merge", key=["id"])
        )
        self.ok(Integration("down", source=s3, target=Connection("memory", {"store": "down"})))
        self.assertEqual(
            sorted(self.integrator.stores.records("down"), key=lambda row: row["id"]),
            [{"id": 1, "name": "a"}, {"id": 2, "name": "B"}],
        )

    def test_a_table_that_cannot_be_created_is_named_without_its_secret(self):
        options = self.options(secret="s3cr3t-value")
        nowhere = self.delta("s3://no-such-bucket/people", storage_options=options)
        error = self.error(Integration("up", source=self.memory("up", [{"id": 1}]), target=nowhere, create_target=True))
        self.assertIn("delta connection: path: cannot", error)
        self.assertNotIn("s3cr3t-value", error)


if __name__ == "__main__":
    unittest.main()
