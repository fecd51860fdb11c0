"""The state store's records: which execution a run writes under, where the store is, dead letters."""

import tempfile
import unittest
from pathlib import Path

import sqlalchemy as sa

from pdip.configuration import Configuration
from pdip.data.times import utcnow
from pdip.integrator import state
from pdip.integrator.errors import ExecutionExistsError, NothingToResumeError
from pdip.integrator.state import (
    CHECKPOINTS,
    Checkpoint,
    IntegratorConfig,
    StateStore,
    describe_location,
    update_or_insert,
)


class StateStoreTest(unittest.TestCase):
    def setUp(self):
        self.root = Path(tempfile.mkdtemp(prefix="pdip-state-")).resolve()
        self.state = StateStore(IntegratorConfig(), Configuration(root_directory=self.root))
        self.addCleanup(self.state.close)

    def test_a_new_execution_gets_an_id_and_a_running_record(self):
        execution_id, resumed = self.state.start_execution("copy")
        self.assertFalse(resumed)
        self.assertEqual(len(execution_id), 32)
        record = self.state.execution(execution_id)
        self.assertEqual((record["operation"], record["status"], record["finished_at"]), ("copy", "running", None))

    def test_resume_picks_the_operation_s_last_unfinished_execution_and_keeps_its_start(self):
        self.state.start_execution("copy", "one")
        self.state.execution_finished("one", "failed", {})
        started = self.state.execution("one")["started_at"]
        self.assertEqual(self.state.unfinished_execution("copy"), "one")
        self.assertEqual(self.state.start_execution("copy", resume=True), ("one", True))
        record = self.state.execution("one")
        self.assertEqual((record["status"], record["started_at"], record["finished_at"]), ("running", started, None))
        self.assertEqual(self.state.start_execution("copy", "one", resume=True), ("one", True))
        self.state.execution_finished("one", "finished", {})
        self.assertIsNone(self.state.unfinished_execution("copy"))

    def test_an_existing_id_is_refused_for_a_new_execution(self):
        self.state.start_execution("copy", "one")
        with self.assertRaises(ExecutionExistsError) as raised:
            self.state.start_execution("copy", "one")
        self.assertEqual(raised.exception.execution_id, "one")
        self.assertEqual(raised.exception.status, "running")
        self.assertIn(str(self.root / ".pdip" / "state.db"), str(raised.exception))

    def test_nothing_to_resume_names_the_operation_and_the_state_database(self):
        with self.assertRaises(NothingToResumeError) as raised:
            self.state.start_execution("copy", resume=True)
        self.assertEqual(raised.exception.operation, "copy")
        self.assertIn(f"SQLite file {self.root / '.pdip' / 'state.db'}", str(raised.exception))
        self.assertEqual(self.state.executions(), [])

    def test_the_location_is_a_sqlite_file_or_a_url_without_its_password(self):
        self.assertEqual(self.state.location, f"SQLite file {self.root / '.pdip' / 'state.db'}")
        self.assertEqual(describe_location(sa.make_url("sqlite://")), "an in-memory SQLite database")
        self.assertEqual(
            describe_location(sa.make_url("postgresql+psycopg://pdip:s3cret@db:5432/state?sslmode=require")),
            "postgresql+psycopg://pdip:***@db:5432/state?sslmode=require",
        )
        self.assertNotIn("s3cret", describe_location(sa.make_url("mysql+pymysql://u@db/state?password=s3cret")))

    def test_dead_letters_are_read_back_by_integration_and_limit_with_their_positions(self):
        self.state.start_execution("copy", "one")
        self.state.dead_letter("one", "orders", {"file": "a.csv", "row": 3}, [({"id": 1}, "bad id"), ({"id": 2}, "x")])
        self.state.dead_letter("one", "lines", None, [({"n": 5}, "too long")])
        self.state.dead_letter("two", "orders", 7, [({"id": 9}, "elsewhere")])
        letters = self.state.dead_letters("one")
        self.assertEqual([letter["reason"] for letter in letters], ["bad id", "x", "too long"])
        self.assertEqual(letters[0]["position"], {"file": "a.csv", "row": 3})
        self.assertIsNone(letters[2]["position"])
        self.assertEqual(letters[2]["row"], {"n": 5})
        self.assertEqual([letter["row"] for letter in self.state.dead_letters("one", "orders")], [{"id": 1}, {"id": 2}])
        self.assertEqual([letter["reason"] for letter in self.state.dead_letters("one", limit=1)], ["bad id"])
        self.assertEqual(self.state.dead_letter_counts("one"), {"orders": 2, "lines": 1})
        self.assertEqual(self.state.dead_letter_counts("three"), {})

    def test_a_checkpoint_is_one_row_per_integration_updated_in_place_by_each_batch(self):
        for position in range(3):
            self.state.save_checkpoint("copy", "orders", Checkpoint("one", {"": position}))
        self.state.save_checkpoint(
            "copy", "lines", Checkpoint("one", {"a": 1, "b": 2}, finished=True, high_watermark=9)
        )
        self.state.save_checkpoint("copy", "orders", Checkpoint("two", {"": 5}, high_watermark="2026-12-06"))
        self.assertEqual(self.state.checkpoint("copy", "orders"), Checkpoint("two", {"": 5}, False, "2026-12-06"))
        self.assertEqual(self.state.checkpoint("copy", "lines"), Checkpoint("one", {"a": 1, "b": 2}, True, 9))
        with self.state.engine.connect() as connection:
            keys = connection.execute(sa.select(CHECKPOINTS.c.operation, CHECKPOINTS.c.integration)).all()
        self.assertEqual(sorted(keys), [("copy", "lines"), ("copy", "orders")])

    def test_update_or_insert_builds_its_update_once_per_table_and_key(self):
        """The batch loop rewrites a checkpoint per batch: only the first call builds the UPDATE."""
        key = {"operation": "copy", "integration": "orders"}
        with self.state.engine.begin() as connection:
            for execution_id in ("one", "two", "three"):
                values = {
                    "execution_id": execution_id,
                    "position": "{}",
                    "high_watermark": None,
                    "updated_at": utcnow(),
                }
                update_or_insert(connection, CHECKPOINTS, key, values)
            stored = connection.execute(sa.select(CHECKPOINTS.c.execution_id)).scalars().all()
        self.assertEqual(stored, ["three"])
        self.assertIs(
            state._update_at(CHECKPOINTS, ("operation", "integration")), state._update_at(CHECKPOINTS, tuple(key))
        )


class DeadLettersOnDiskTest(unittest.TestCase):
    """The state database's SQLite file runs with `synchronous=NORMAL`, so that checkpoints cost
    no fsync; a dead letter's commit waits for the disk all the same: the target commits a
    position past the row next, and a power cut must not keep that commit and lose the row."""

    def test_a_dead_letter_is_committed_with_synchronous_full(self):
        import sqlalchemy as sa

        root = Path(tempfile.mkdtemp(prefix="pdip-state-")).resolve()
        state = StateStore(IntegratorConfig(), Configuration(root_directory=root))
        self.addCleanup(state.close)
        state.start_execution("copy")  # the tables exist and a first connection is pooled
        modes = []

        def noted(connection):
            modes.append(connection.exec_driver_sql("PRAGMA synchronous").scalar())

        sa.event.listen(state.engine, "commit", noted)
        state.dead_letter("e", "copy", 3, [({"id": 3}, "too long")])
        self.assertEqual(modes, [2])  # FULL
        with state.engine.connect() as connection:
            self.assertEqual(connection.exec_driver_sql("PRAGMA synchronous").scalar(), 1)  # NORMAL again


if __name__ == "__main__":
    unittest.main()
