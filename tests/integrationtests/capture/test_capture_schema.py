"""A column added at the source while PostgreSQL is captured into a replica that lacks it: the
integration's `schema` decides (evolve, freeze, discard_row, discard_value), as for rows."""

from __future__ import annotations

from pdip.integrator import Connection
from pdip.integrator.adapters.sql import positions
from tests.integrationtests.capture.test_postgres_capture import CaptureCase, capture


class CapturedSchemaChangeTests(CaptureCase):
    def captured_with_a_new_column(self, name, schema, max_errors=0):
        """The table copied, then `colour` added at the source and three changes made with it
        (a value, a NULL, an update whose row carries NULL there); the second run's result,
        its dead letters, and the replica's rows."""
        self.drop(name, name)
        self.sql(
            self.source, f"CREATE TABLE {name} (id int PRIMARY KEY, label text)", f"INSERT INTO {name} VALUES (1, 'a')"
        )
        self.sql(self.replica, f"DROP TABLE IF EXISTS {name}", f"CREATE TABLE {name} (id int PRIMARY KEY, label text)")
        target = Connection("postgresql", {"url": self.replica_url, "table": name})
        source = capture(name, tables=[name], create=True)
        self.assertTrue(self.run_capture(name, source, target, schema=schema)[0].ok)  # the copy
        self.sql(
            self.source,
            f"ALTER TABLE {name} ADD COLUMN colour text",
            f"INSERT INTO {name} VALUES (2, 'b', 'red'), (3, 'c', NULL)",
            f"UPDATE {name} SET label = 'A' WHERE id = 1",
        )
        result, letters = self.run_capture(
            name, source, target, execution="run-2", schema=schema, max_errors=max_errors
        )
        with self.replica.connect() as db:
            rows = [tuple(row) for row in db.exec_driver_sql(f"SELECT * FROM {name} ORDER BY id")]
        return result["capture"], letters, rows

    def test_evolve_adds_the_column_at_the_replica(self):
        result, letters, rows = self.captured_with_a_new_column("evolved_capture", "evolve")
        self.assertEqual(result.status, "finished", result)
        self.assertEqual(result.schema_changes, ["added column 'colour' VARCHAR(255)"])
        self.assertEqual((letters, rows), ([], [(1, "A", None), (2, "b", "red"), (3, "c", None)]))
        self.assert_same("evolved_capture")

    def test_freeze_refuses_naming_the_column_before_anything_is_written(self):
        name = "frozen_capture"
        result, letters, rows = self.captured_with_a_new_column(name, "freeze")
        self.assertEqual(result.status, "failed")
        self.assertIn("lacks the source's column(s) 'colour', and schema: freeze", result.error)
        self.assertEqual((letters, rows), ([], [(1, "a")]))
        stored = positions.load_position(self.replica, f"{name}/capture")
        self.assertEqual(self.slot_lsn(name)[0], stored["lsn"])  # the slot kept what was not applied

    def test_discard_row_dead_letters_the_entries_with_a_value_there(self):
        result, letters, rows = self.captured_with_a_new_column("discarded_rows", "discard_row", max_errors=1)
        self.assertEqual(result.status, "finished", result)
        self.assertEqual(
            [(letter["row"]["entry"]["key"], letter["reason"]) for letter in letters],
            [(2, "the target table lacks column(s) 'colour' (schema: discard_row)")],
        )
        self.assertEqual(rows, [(1, "A"), (3, "c")])

    def test_discard_value_applies_the_entries_without_it_and_counts_what_was_dropped(self):
        result, letters, rows = self.captured_with_a_new_column("discarded_values", "discard_value")
        self.assertEqual(result.status, "finished", result)
        self.assertEqual(result.values_discarded, {"colour": 1})
        self.assertEqual((letters, rows), ([], [(1, "A"), (2, "b"), (3, "c")]))
