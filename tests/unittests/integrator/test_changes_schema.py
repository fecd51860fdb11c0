"""Entries carrying a column their SQL table lacks: `schema:` decides at a change-log target
(`adapters/sql/changes_schema.py`), shown here at a SQLite replica; and the pieces on their own."""

import sqlite3
import tempfile
import unittest
from pathlib import Path

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation, StateStore
from pdip.integrator.adapters.sql.changes import SqlApplyTarget
from pdip.integrator.adapters.sql.changes_schema import added_values, lacking, without_entries, without_values
from pdip.integrator.base import Integrator
from pdip.integrator.changes import entries_batch
from pdip.tracking import ChangeLogEntry

LOG = [
    ChangeLogEntry("insert", entity="items", key=1, after={"id": 1, "label": "a", "colour": "red"}),
    ChangeLogEntry("insert", entity="items", key=2, after={"id": 2, "label": "b", "colour": None}),
    ChangeLogEntry("update", entity="items", key=1, after={"label": "A"}),
    ChangeLogEntry("delete", entity="items", key=3, before={"id": 3, "colour": "blue"}),
]


class SchemaAtAChangeLogTargetTest(unittest.TestCase):
    def applied(self, schema, log=LOG):
        """LOG applied to a SQLite `items (id, label)` holding row 3: the result, the dead
        letters' keys and reasons, the table's rows."""
        with tempfile.TemporaryDirectory() as root:
            database = str(Path(root) / "replica.db")
            with sqlite3.connect(database) as db:
                db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT)")
                db.execute("INSERT INTO items VALUES (3, 'c')")
            integration = Integration(
                "items",
                mode="changes",
                source=Connection("memory", {"store": "log"}),
                target=Connection("sqlite", {"database": database, "table": "items"}),
                schema=schema,
                max_errors=1,
            )
            with Pdi(root_directory=root) as pdi:
                integrator = pdi.get(Integrator)
                integrator.stores["log"] = list(log)
                result = integrator.integrate(Operation("replica", [integration], executor="inline"))
                letters = pdi.get(StateStore).dead_letters(result.execution_id)
            with sqlite3.connect(database) as db:
                rows = db.execute("SELECT * FROM items ORDER BY id").fetchall()
        shown = [(letter["row"]["entry"]["key"], letter["reason"]) for letter in letters]
        return result["items"], shown, rows

    def test_evolve_adds_the_column_from_the_values_the_entries_carry(self):
        result, letters, rows = self.applied("evolve")
        self.assertEqual((result.status, result.schema_changes), ("finished", ["added column 'colour' VARCHAR(255)"]))
        self.assertEqual((letters, rows), ([], [(1, "A", "red"), (2, "b", None)]))

    def test_freeze_refuses_the_run_naming_the_column(self):
        result, letters, rows = self.applied("freeze")
        self.assertEqual(result.status, "failed")
        self.assertIn("table 'items' lacks the source's column(s) 'colour', and schema: freeze", result.error)
        self.assertEqual((letters, rows), ([], [(3, "c")]))

    def test_discard_row_refuses_the_entries_with_a_value_there(self):
        result, letters, rows = self.applied("discard_row")
        self.assertEqual(result.status, "finished")
        self.assertEqual(letters, [(1, "the target table lacks column(s) 'colour' (schema: discard_row)")])
        self.assertEqual(rows, [(1, "A"), (2, "b")])  # the update carries every column the table has: upserted

    def test_discard_value_applies_them_without_it_and_counts_the_values(self):
        result, letters, rows = self.applied("discard_value")
        self.assertEqual((result.status, result.values_discarded), ("finished", {"colour": 1}))
        self.assertEqual((letters, rows), ([], [(1, "A"), (2, "b")]))

    def test_without_a_schema_the_entries_naming_it_are_dead_lettered_as_before(self):
        result, letters, _ = self.applied(None)
        self.assertEqual(result.status, "failed")  # two refused, one allowed
        self.assertEqual(letters[0], (1, "unknown column 'colour' in table 'items'"))

    def test_an_entry_whose_row_the_batch_removes_again_is_looked_at_too(self):
        log = [
            ChangeLogEntry("insert", entity="items", key=5, after={"id": 5, "label": "e", "colour": "x"}),
            ChangeLogEntry("delete", entity="items", key=5, before={"id": 5}),
        ]
        result, letters, rows = self.applied("discard_value", log)
        self.assertEqual((result.status, result.values_discarded), ("finished", {"colour": 1}))
        self.assertEqual((letters, rows), ([], [(3, "c")]))

    def test_evolve_uses_a_column_another_applier_added_since_the_table_was_read(self):
        with tempfile.TemporaryDirectory() as root:
            url = f"sqlite:///{Path(root) / 'replica.db'}"
            with sqlite3.connect(Path(root) / "replica.db") as db:
                db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT)")
            target = SqlApplyTarget(Connection("sql", {"url": url, "table": "items"}), Context())
            target.schema_changes = "evolve"
            target.prepare(["entry"], create=False, truncate=False)
            target.write(entries_batch([ChangeLogEntry("insert", entity="items", key=3, after={"id": 3})]))
            with sqlite3.connect(Path(root) / "replica.db") as db:
                db.execute("ALTER TABLE items ADD COLUMN colour TEXT")  # by another applier
            written = target.write(entries_batch(LOG[:2]))
            target.close()
            with sqlite3.connect(Path(root) / "replica.db") as db:
                rows = db.execute("SELECT * FROM items ORDER BY id").fetchall()
        self.assertEqual((written.written, written.schema_changes), (2, []))
        self.assertEqual(rows, [(1, "a", "red"), (2, "b", None), (3, None, None)])


class Context:
    def __init__(self):
        self.stores, self.execution_id, self.root = {}, "test", None


class PiecesTest(unittest.TestCase):
    def test_the_lacking_columns_in_the_order_met_and_their_values(self):
        columns = {"id", "label"}
        self.assertEqual(lacking(columns, LOG), ["colour"])  # a delete writes nothing
        batch = added_values(["colour"], LOG)
        self.assertEqual((batch.columns, batch.rows), (["colour"], [("red",), (None,), (None,)]))

    def test_a_discard_leaves_the_entries_without_the_column_alone_and_changes_none_in_place(self):
        for discard in (without_entries, without_values):
            with self.subTest(discard=discard.__name__):
                fitted = discard(["colour"], LOG)
                self.assertIs(fitted.entries[-1], LOG[3])  # a delete
                self.assertIs(fitted.entries[-2], LOG[2])  # no value there at all
                self.assertEqual(fitted.entries[-3].after, {"id": 2, "label": "b"})
                self.assertEqual(LOG[1].after["colour"], None)  # the entry read is as it was


if __name__ == "__main__":
    unittest.main()
