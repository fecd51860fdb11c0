"""SQLite file to SQLite file as rowid ranges (no server): each batch names the rows, the target
copies them with one `INSERT ... SELECT` from the source's file, and every behaviour of the
values path holds: positions and resume, key ranges, refused rows, merge, replace, policies."""

import contextlib
import dataclasses
import io
import pickle
import sqlite3
import tempfile
import unittest
from pathlib import Path

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation
from pdip.integrator.adapters.base import Disposition, ReadRequest
from pdip.integrator.adapters.sql.rows import SqlSource, SqlTarget
from pdip.integrator.base import Integrator
from pdip.integrator.events import IntegrationStarted
from pdip.integrator.results import WorkerContext
from pdip.integrator.state import StateStore
from tests.support.sqlite_items import create_items, items

RANGES = ("sqlite-rowid-range", "sqlite-values")


class RowidRangesTest(unittest.TestCase):
    def setUp(self):
        self.folder = Path(tempfile.mkdtemp(prefix="pdip-sqlite-ranges-"))
        create_items(self.folder / "source.db")
        with sqlite3.connect(self.folder / "source.db") as connection:
            connection.execute("CREATE TABLE loose (k integer, label text)")
            connection.executemany(
                "INSERT INTO loose VALUES (?, ?)", [(None, "none"), *[(i, f"l{i}") for i in range(30, 9, -1)]]
            )
            connection.execute("CREATE TABLE named (id integer primary key, rowid_ text) WITHOUT ROWID")
            connection.execute("CREATE TABLE shadow (rowid integer, label text)")
        connection.close()

    def source(self, **settings) -> SqlSource:
        source = SqlSource(
            Connection("sqlite", {"database": str(self.folder / "source.db"), **settings}), WorkerContext("unit", None)
        )
        self.addCleanup(source.close)
        return source

    def target(self, table: str, create: bool = True, slot: str | None = None, **disposition) -> SqlTarget:
        target = SqlTarget(
            Connection("sqlite", {"database": str(self.folder / "target.db"), "table": table}),
            WorkerContext("unit", None),
        )
        self.addCleanup(target.close)
        target.disposition = Disposition(**disposition) if disposition else Disposition()
        target.position_slot = slot
        target.prepare(["id"], create=create, truncate=False)
        return target

    def stored(self, sql: str) -> list[tuple]:
        with contextlib.closing(sqlite3.connect(self.folder / "target.db")) as connection:
            return connection.execute(sql).fetchall()

    def copy(self, target: SqlTarget, request: ReadRequest, **settings) -> list:
        batches = list(self.source(table="items", **settings).read(request))
        for batch in batches:
            result = target.write(pickle.loads(pickle.dumps(batch)))
            self.assertEqual((result.written, result.rejected), (len(batch), []))
        return batches

    def test_a_table_goes_across_as_ranges_the_target_copies_itself(self):
        target = self.target("copy")
        self.assertEqual(target.accepts(), RANGES)
        batches = self.copy(target, ReadRequest(10, accept=RANGES))
        self.assertEqual({batch.raw_format for batch in batches}, {"sqlite-rowid-range"})
        self.assertEqual([(len(batch), batch.position) for batch in batches], [(10, 10), (10, 20), (5, 25)])
        self.assertLess(len(batches[0].payload), 400)  # the rows stay where they are
        self.assertEqual(self.stored("SELECT * FROM copy ORDER BY id"), items(25))
        self.assertEqual(batches[1].rows, items(20)[10:])  # decoded: the stored values, from the source's file
        self.assertEqual(
            self.stored("SELECT type FROM pragma_table_info('copy') WHERE name = 'created'"), [("TIMESTAMP",)]
        )

    def test_a_range_is_read_when_written_and_says_how_many_rows_it_copied(self):
        batches = list(self.source(table="items").read(ReadRequest(10, accept=RANGES)))
        with sqlite3.connect(self.folder / "source.db") as connection:
            connection.execute("DELETE FROM items WHERE id IN (4, 5)")
            connection.execute("UPDATE items SET name = 'changed' WHERE id = 6")
        connection.close()
        target = self.target("later")
        self.assertEqual(target.write(batches[0]).written, 8)
        self.assertEqual(
            self.stored("SELECT id, name FROM later WHERE id BETWEEN 3 AND 7"),
            [(3, "name 3"), (6, "changed"), (7, "name 7")],
        )

    def test_a_target_fed_from_two_files_in_turn_copies_from_each(self):
        other = self.folder / "other.db"
        with sqlite3.connect(other) as connection:
            connection.execute("CREATE TABLE items (id integer primary key, name text, created timestamp, price real)")
            connection.execute("INSERT INTO items VALUES (100, 'other', NULL, NULL)")
        connection.close()
        target = self.target("both")
        self.copy(target, ReadRequest(10, accept=RANGES))
        self.copy(target, ReadRequest(10, accept=RANGES), database=str(other))
        self.copy(target, ReadRequest(30, accept=RANGES, bounds={"column": "id", "low": 25, "high": None}))
        self.assertEqual(self.stored("SELECT id FROM both ORDER BY rowid")[-3:], [(25,), (100,), (25,)])

    def test_a_read_keyed_on_the_rowid_alias_gives_key_positions_and_resumes_after_them(self):
        target = self.target("keyed")
        batches = self.copy(target, ReadRequest(10, key=["id"], accept=RANGES))
        self.assertEqual([batch.position for batch in batches][-1], {"key": [25], "rows": 25})
        self.assertEqual(batches[0].raw_format, "sqlite-rowid-range")
        again = self.target("again")
        resumed = self.copy(again, ReadRequest(10, key=["id"], accept=RANGES, resume={"key": [20], "rows": 20}))
        self.assertEqual([(len(batch), batch.position) for batch in resumed], [(5, {"key": [25], "rows": 25})])
        skipped = self.copy(again, ReadRequest(10, accept=RANGES, resume=22))
        self.assertEqual([(len(batch), batch.position) for batch in skipped], [(3, 25)])
        self.assertEqual([row[0] for row in self.stored("SELECT id FROM again")], [21, 22, 23, 24, 25, 23, 24, 25])

    def test_key_ranges_each_copy_only_their_ownitems(self):
        with sqlite3.connect(self.folder / "source.db") as connection:
            connection.execute("DELETE FROM items WHERE id IN (3, 12, 13)")  # gaps in the rowids
        connection.close()
        target = self.target("parts")
        source = self.source(table="items")
        self.assertEqual(source.partitions(ReadRequest(4, accept=RANGES), 3), [ReadRequest(4, accept=RANGES)])
        for part in source.partitions(ReadRequest(4), 3):  # planned for values: each range has its condition
            part = dataclasses.replace(part, accept=RANGES)
            for batch in source.read(part):
                self.assertEqual(batch.raw_format, "sqlite-rowid-range")
                target.write(batch)
        expected = [row for row in items(25) if row[0] not in (3, 12, 13)]
        self.assertEqual(self.stored("SELECT * FROM parts ORDER BY id"), expected)

    def test_reads_not_in_rowid_order_go_as_values(self):
        cases = {
            "another key": ({"table": "loose"}, ReadRequest(4, key=["k"], accept=RANGES)),
            "key ranges on another column": (
                {"table": "loose"},
                ReadRequest(4, accept=RANGES, bounds={"column": "k", "low": 20, "high": None}),
            ),
            "a text key": ({"table": "items"}, ReadRequest(4, key=["name"], accept=RANGES)),
            "a query": ({"query": "SELECT * FROM items"}, ReadRequest(4, accept=RANGES)),
            "no rowid": ({"table": "named"}, ReadRequest(4, accept=RANGES)),
            "a column named rowid": ({"table": "shadow"}, ReadRequest(4, accept=RANGES)),
        }
        with sqlite3.connect(self.folder / "source.db") as connection:
            connection.executemany("INSERT INTO named VALUES (?, ?)", [(1, "a"), (2, "b")])
            connection.executemany("INSERT INTO shadow VALUES (?, ?)", [(1, "a"), (2, "b")])
        connection.close()
        for name, (settings, request) in cases.items():
            with self.subTest(name):
                batches = list(self.source(**settings).read(request))
                self.assertEqual({batch.raw_format for batch in batches}, {"sqlite-values"})
        ordered = [row[0] for batch in self.source(table="loose").read(cases["another key"][1]) for row in batch.rows]
        self.assertEqual(ordered, [None, *range(10, 31)])  # NULL first, then the key's order, whatever the rowids

    def test_refused_rows_of_a_range_are_written_one_by_one_with_their_reasons(self):
        with sqlite3.connect(self.folder / "target.db") as connection:
            connection.execute(
                "CREATE TABLE strict (id integer, name text CHECK (length(name) < 7), created text, price real)"
            )
        connection.close()
        target = self.target("strict", create=False, slot="op/strict")
        batch = next(self.source(table="items").read(ReadRequest(12, accept=RANGES)))
        self.assertEqual(batch.raw_format, "sqlite-rowid-range")
        result = target.write(pickle.loads(pickle.dumps(batch)))
        self.assertEqual(result.written, 9)
        self.assertEqual([row[0] for row, _ in result.rejected], [10, 11, 12])
        self.assertIn("CHECK constraint failed", result.rejected[0][1])
        self.assertEqual(target.durable_position("op/strict"), 12)

    def test_a_merge_upserts_the_ranges_by_key_and_a_replace_loads_its_twin(self):
        with sqlite3.connect(self.folder / "target.db") as connection:
            connection.execute("CREATE TABLE merged (id integer primary key, name text, created timestamp, price real)")
            connection.execute("INSERT INTO merged VALUES (2, 'old', NULL, 0), (99, 'kept', NULL, 0)")
        connection.close()
        merged = self.target("merged", create=False, key=None, write="merge")
        self.copy(merged, ReadRequest(10, accept=RANGES))
        self.assertEqual(self.stored("SELECT * FROM merged ORDER BY id"), [*items(25), (99, "kept", None, 0.0)])
        replaced = self.target("merged", create=False, write="replace")
        self.copy(replaced, ReadRequest(10, accept=RANGES, bounds={"column": "id", "low": 20, "high": None}))
        replaced.finish()
        self.assertEqual(self.stored("SELECT * FROM merged ORDER BY id"), items(25)[19:])


class RunBetweenFilesTest(unittest.TestCase):
    """Whole runs: the same rows, positions and dead letters as the values path."""

    def setUp(self):
        self.folder = Path(tempfile.mkdtemp(prefix="pdip-sqlite-runs-"))
        with sqlite3.connect(self.folder / "source.db") as connection:
            connection.execute("CREATE TABLE items (id integer primary key, name text, secret text)")
            connection.executemany("INSERT INTO items VALUES (?, ?, ?)", [(i, f"n{i}", f"s{i}") for i in range(1, 101)])
        connection.close()
        self.pdi = Pdi(root_directory=self.folder)
        self.addCleanup(self.pdi.cleanup)

    def run_copy(self, table: str, executor: str = "process", **options):
        integration = Integration(
            table,
            source=Connection("sqlite", {"database": str(self.folder / "source.db"), "table": "items"}),
            target=Connection("sqlite", {"database": str(self.folder / "target.db"), "table": table}),
            batch_size=30,
            **options,
        )
        with contextlib.redirect_stdout(io.StringIO()):
            result = self.pdi.get(Integrator).integrate(Operation(table, [integration], executor=executor))
        self.assertEqual(result.status, "finished", result.integrations[0].error)
        return result

    def stored(self, sql: str) -> list[tuple]:
        with contextlib.closing(sqlite3.connect(self.folder / "target.db")) as connection:
            return connection.execute(sql).fetchall()

    def test_a_run_copies_every_row_by_one_reader_whatever_the_parallelism(self):
        done = self.run_copy("copy", create_target=True, parallelism=2).integrations[0]
        self.assertEqual((done.rows_read, done.rows_written), (100, 100))
        checkpoint = self.pdi.get(StateStore).checkpoint("copy", "copy")
        self.assertEqual(checkpoint.positions, {"": 100})  # the target copies: one reader, the whole table
        self.assertEqual(self.stored("SELECT count(*), sum(id) FROM copy"), [(100, 5050)])

    def test_ranges_are_walked_in_this_process_and_values_by_a_reader_process(self):
        events = []
        self.pdi.get(Integrator).subscribe(IntegrationStarted, events.append)
        self.run_copy("ranges", create_target=True)
        self.run_copy("values", create_target=True, columns=["id", "name"])  # a choice of columns decodes
        self.assertEqual([event.source for event in events], ["sqlite:items", "sqlite:items (reader process)"])
        self.assertEqual(self.stored("SELECT count(*), sum(id) FROM ranges"), [(100, 5050)])
        self.assertEqual(self.stored('SELECT count(*), sum(id) FROM "values"'), [(100, 5050)])
        database = str(self.folder / "source.db")
        with contextlib.closing(
            SqlSource(Connection("sqlite", {"database": database, "table": "items"}), None)
        ) as items:
            self.assertTrue(items.light_to_read(ReadRequest(10, accept=RANGES)))
            self.assertFalse(items.light_to_read(ReadRequest(10, accept=("sqlite-values",))))
        with contextlib.closing(SqlSource(Connection("sqlite", {"database": database, "table": "gone"}), None)) as gone:
            self.assertFalse(gone.light_to_read(ReadRequest(10, accept=RANGES)))  # reading it will say so

    def test_refused_rows_are_dead_lettered_with_their_position_and_a_field_policy_still_applies(self):
        with sqlite3.connect(self.folder / "target.db") as connection:
            connection.execute("CREATE TABLE picky (id integer, name text CHECK (name <> 'n42'), secret text)")
        connection.close()
        result = self.run_copy("picky", max_errors=5, executor="inline")
        done = result.integrations[0]
        self.assertEqual((done.rows_written, done.rows_dead_lettered), (99, 1))
        (letter,) = self.pdi.get(StateStore).dead_letters(result.execution_id)
        self.assertEqual((letter["row"]["id"], letter["position"]), (42, 60))
        (self.folder / "hide.yml").write_text("rules:\n  - column: secret\n    action: redact\n")
        self.run_copy("redacted", create_target=True, policy="hide.yml")
        self.assertEqual(self.stored("SELECT DISTINCT secret FROM redacted"), [("<redacted>",)])
        self.assertEqual(self.stored("SELECT count(*) FROM redacted"), [(100,)])


if __name__ == "__main__":
    unittest.main()
