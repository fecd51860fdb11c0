"""Positions stored at a SQL target (SQLite file, no server)."""

import tempfile
import unittest
from pathlib import Path

import sqlalchemy as sa

from pdip.integrator.adapters.sql.positions import (
    ensure_table,
    forget_positions,
    load_position,
    store_position,
    with_stored_offsets,
)
from pdip.integrator.state import create_tables


class PositionsTest(unittest.TestCase):
    def setUp(self):
        self.engine = sa.create_engine(f"sqlite:///{Path(tempfile.mkdtemp()) / 'target.db'}")
        self.addCleanup(self.engine.dispose)

    def test_nothing_is_stored_before_the_table_exists(self):
        self.assertIsNone(load_position(self.engine, "op/copy"))
        forget_positions(self.engine, "op/copy")  # no table yet: nothing to forget, no error
        self.assertFalse(sa.inspect(self.engine).has_table("pdip_target_position"))

    def test_offsets_of_a_shared_slot_are_merged_and_other_positions_pass_as_they_are(self):
        ensure_table(self.engine)
        with self.engine.begin() as connection:
            store_position(connection, "op/apply", {"orders": {"0": 5, "1": 2}})
            merged = with_stored_offsets(connection, "op/apply", {"orders": {"1": 9}, "refunds": {"0": 1}})
            self.assertEqual(merged, {"orders": {"0": 5, "1": 9}, "refunds": {"0": 1}})
            self.assertEqual(with_stored_offsets(connection, "op/apply", {"rows": 3}), {"rows": 3})
            self.assertEqual(with_stored_offsets(connection, "op/new", {"orders": {"0": 1}}), {"orders": {"0": 1}})

    def test_a_position_is_replaced_and_forgetting_a_slot_keeps_its_siblings(self):
        ensure_table(self.engine)
        with self.engine.begin() as connection:
            for slot, position in [("op/copy", 1), ("op/copy", {"key": [5], "rows": 5}), ("op/copy/1/2", 3)]:
                store_position(connection, slot, position)
            store_position(connection, "op/copy2", 9)
        self.assertEqual(load_position(self.engine, "op/copy"), {"key": [5], "rows": 5})
        forget_positions(self.engine, "op/copy")
        self.assertEqual(
            [load_position(self.engine, slot) for slot in ("op/copy", "op/copy/1/2", "op/copy2")], [None, None, 9]
        )


class CreateTablesTest(unittest.TestCase):
    def setUp(self):
        self.engine = sa.create_engine(f"sqlite:///{Path(tempfile.mkdtemp()) / 'state.db'}")
        self.addCleanup(self.engine.dispose)
        self.metadata = sa.MetaData()
        sa.Table("things", self.metadata, sa.Column("id", sa.Integer, primary_key=True))

    def racing(self, message: str, times: int):
        """create_all as it goes when another process creates the tables first, `times` times."""
        real, calls = self.metadata.create_all, []

        def create_all(engine, tables=None):
            calls.append(tables)
            if len(calls) <= times:
                raise sa.exc.OperationalError("CREATE TABLE things", {}, Exception(message))
            real(engine, tables=tables)

        self.metadata.create_all = create_all
        return calls

    def test_a_table_another_process_created_meanwhile_is_taken_as_created(self):
        calls = self.racing("table things already exists", times=1)
        create_tables(self.engine, self.metadata)
        self.assertEqual(len(calls), 2)
        self.assertTrue(sa.inspect(self.engine).has_table("things"))

    def test_other_errors_and_a_race_lost_three_times_are_raised(self):
        self.racing("disk I/O error", times=1)
        with self.assertRaisesRegex(sa.exc.OperationalError, "disk I/O error"):
            create_tables(self.engine, self.metadata)
        self.metadata = sa.MetaData()
        sa.Table("things", self.metadata, sa.Column("id", sa.Integer, primary_key=True))
        calls = self.racing('duplicate key value violates unique constraint "pg_type_typname_nsp_index"', times=3)
        with self.assertRaises(sa.exc.OperationalError):
            create_tables(self.engine, self.metadata)
        self.assertEqual(len(calls), 3)


if __name__ == "__main__":
    unittest.main()
