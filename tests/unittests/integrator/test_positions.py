"""Positions stored at a SQL target (SQLite file, no server)."""

import tempfile
import unittest
from pathlib import Path

import sqlalchemy as sa

from pdip.integrator.adapters.positions import ensure_table, forget_positions, load_position, store_position


class PositionsTest(unittest.TestCase):
    def setUp(self):
        self.engine = sa.create_engine(f"sqlite:///{Path(tempfile.mkdtemp()) / 'target.db'}")
        self.addCleanup(self.engine.dispose)

    def test_nothing_is_stored_before_the_table_exists(self):
        self.assertIsNone(load_position(self.engine, "op/copy"))
        forget_positions(self.engine, "op/copy")  # no table yet: nothing to forget, no error
        self.assertFalse(sa.inspect(self.engine).has_table("pdip_target_position"))

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


if __name__ == "__main__":
    unittest.main()
