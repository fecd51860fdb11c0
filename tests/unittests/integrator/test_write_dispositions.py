"""`write: append | replace | merge` (docs/adr/0014): refused when it cannot be done, and at a SQLite
target: one row per key after an incremental merge, deletes by flag, a table swapped in whole."""

import contextlib
import sqlite3
import tempfile
import unittest
from pathlib import Path
from unittest import mock

import sqlalchemy as sa

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation, OperationError
from pdip.integrator.adapters.base import Disposition
from pdip.integrator.adapters.registry import AdapterRegistry
from pdip.integrator.adapters.sql import replace, sqlite
from pdip.integrator.adapters.sql.merge import comparable, deleted, deletion_condition, fold, upsert
from pdip.integrator.adapters.sql.positions import store_position
from pdip.integrator.adapters.sql.rows import SqlTarget
from pdip.integrator.base import Integrator
from pdip.integrator.checks import disposition_problems
from pdip.integrator.executors.dask import unsuited
from pdip.integrator.results import WorkerContext
from pdip.integrator.state import StateStore
from tests.support.apps import application
from tests.unittests.test_cli import run


class SettingsTest(unittest.TestCase):
    def memory(self, **settings) -> Integration:
        return Integration(
            "copy", source=Connection("memory", {"store": "a"}), target=Connection("memory", {}), **settings
        )

    def test_a_write_not_in_the_list_is_refused_with_the_allowed_values(self):
        with self.assertRaises(OperationError) as raised:
            self.memory(write="upsert")
        self.assertIn(
            "integration 'copy': write: expected one of append, replace, merge, got 'upsert'", str(raised.exception)
        )

    def test_settings_that_contradict_the_write_are_refused_together(self):
        with self.assertRaises(OperationError) as raised:
            self.memory(write="replace", truncate_target=True, mode="incremental", cursor="id", delete_column="gone")
        problems = raised.exception.problems
        self.assertEqual(len(problems), 3)
        self.assertIn("write: replace makes the target what one run reads", problems[0])
        self.assertIn("truncate_target: true empties the target before the run", problems[1])
        self.assertIn("delete_column: deletes keys at the target, which write: merge does, not replace", problems[2])
        with self.assertRaises(OperationError) as raised:
            self.memory(write="merge", mode="changes")
        self.assertIn("write: merge is for rows; a change stream is applied by key already", str(raised.exception))

    def test_append_stays_the_default_and_one_key_column_may_be_written_alone(self):
        integration = self.memory(key="id")
        self.assertEqual((integration.write, integration.key), ("append", ("id",)))
        self.assertEqual(Disposition.of(integration), Disposition("append", ("id",), None, "copy"))
        merged = self.memory(write="merge", delete_column="gone")
        self.assertEqual(Disposition.of(merged), Disposition("merge", None, "gone", "copy"))

    def test_merge_into_a_target_that_cannot_upsert_is_refused_before_anything_runs(self):
        operation = Operation(
            "files",
            [
                Integration(
                    "to-csv",
                    source=Connection("memory", {"store": "a"}),
                    target=Connection("csv", {"path": "out.csv"}),
                    write="merge",
                ),
                Integration(
                    "to-kafka",
                    source=Connection("memory", {"store": "a"}),
                    target=Connection("kafka", {"topic": "t", "bootstrap_servers": "x:1"}),
                    write="replace",
                ),
            ],
            executor="inline",
        )
        with Pdi() as pdi, self.assertRaises(OperationError) as raised:
            pdi.get(Integrator).integrate(operation)
        problems = raised.exception.problems
        self.assertIn(
            "integration 'to-csv': write: merge, but csv targets cannot upsert rows by key "
            "(targets that can: sql, sqlite, postgresql, postgres, mysql, mariadb, mssql, oracle, duckdb, delta); use write: append",
            problems,
        )
        self.assertIn(
            "integration 'to-kafka': write: replace, but kafka targets cannot replace its content", problems[1]
        )

    def test_an_incremental_run_into_a_file_that_is_replaced_each_run_is_refused_until_append_is_said(self):
        def into(settings: dict) -> Operation:
            return Operation(
                "export",
                [
                    Integration(
                        "orders",
                        source=Connection("memory", {"store": "a"}),
                        target=Connection("csv", {"path": "orders.csv", **settings}),
                        mode="incremental",
                        cursor="id",
                    )
                ],
                executor="inline",
            )

        with Pdi() as pdi, self.assertRaises(OperationError) as raised:
            pdi.get(Integrator).integrate(into({}))
        self.assertEqual(
            raised.exception.problems,
            [
                "integration 'orders': mode: incremental writes only the rows after the last run's cursor, but a "
                "csv target replaces its output on every run, so it would hold the latest run's rows alone; set "
                "append: true on the target to add them to it (or append: false if that is what you want)"
            ],
        )
        registry = AdapterRegistry()
        for said in ({"append": True}, {"append": False}):
            self.assertEqual(disposition_problems(into(said), registry), [], said)

    def test_pdip_validate_names_the_file_and_key_of_a_bad_write(self):
        bad_value = (
            "name: bad\nintegrations:\n  - name: a\n    source: {kind: memory, store: x}\n"
            "    target: {kind: memory, store: y}\n    write: upsert\n"
        )
        into_csv = (
            "name: csv\nintegrations:\n  - name: b\n    source: {kind: memory, store: x}\n"
            "    target: {kind: csv, path: out.csv}\n    write: merge\n"
        )
        unknown = into_csv.replace("kind: csv", "kind: nowhere")
        with application({"bad.yml": bad_value, "csv.yml": into_csv, "unknown.yml": unknown}) as (root, _):
            code, _, err = run("validate", str(root / "bad.yml"))
            self.assertEqual(code, 2)
            self.assertIn(
                "bad.yml: integrations[0].write: expected one of 'append', 'replace', 'merge', got 'upsert'", err
            )
            code, _, err = run("validate", str(root / "csv.yml"))
            self.assertEqual(code, 2)
            self.assertIn("csv.yml: integration 'b': write: merge, but csv targets cannot upsert rows by key", err)
            code, _, err = run("validate", str(root / "unknown.yml"))
            self.assertEqual(code, 2)
            self.assertIn("no adapter for connection kind 'nowhere'", err)
            self.assertNotIn("cannot upsert", err)

    def test_dask_refuses_a_replace_which_one_writer_swaps_in(self):
        integration = Integration(
            "swap",
            source=Connection("sqlite", {"table": "a"}),
            target=Connection("sqlite", {"table": "b"}),
            write="replace",
        )
        reason = unsuited(integration, SqlTarget, AdapterRegistry())
        self.assertIn("integration 'swap': a sqlite target is written whole at the end", reason)

    def test_a_deletion_flag_is_set_when_true_or_a_time_and_rows_of_one_key_fold_into_the_last(self):
        self.assertEqual(
            [deleted(value) for value in (None, False, 0, 0.0, True, 1, "2026-01-01")], [False] * 4 + [True] * 3
        )
        rows = [(1, "a", None), (2, "b", None), (1, "c", None), (2, "d", "2026-01-01"), (3, "e", 0)]
        self.assertEqual(fold(["id", "name", "gone"], rows, ["id"], "gone"), ([(1, "c", None), (3, "e", 0)], [(2,)]))
        pairs = [(1, "x", "a"), (1, "y", "b"), (1, "x", "c")]
        self.assertEqual(fold(["k", "l", "v"], pairs, ["k", "l"], None), ([(1, "x", "c"), (1, "y", "b")], []))


class BuildingBlocksTest(unittest.TestCase):
    def test_an_upsert_for_a_database_without_one_is_refused_by_name(self):
        table = sa.Table("t", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))
        with self.assertRaises(OperationError) as raised:
            upsert("oracle", table, ["id"], ["id"])
        self.assertIn("writing by key supports PostgreSQL, MariaDB/MySQL and SQLite, not oracle", str(raised.exception))

    def test_unchanged_rows_are_kept_only_where_every_column_can_be_compared(self):
        from sqlalchemy.dialects import postgresql

        table = sa.Table(
            "t",
            sa.MetaData(),
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.Text),
            sa.Column("tags", postgresql.JSONB),
            sa.Column("doc", postgresql.JSON),
            sa.Column("points", postgresql.ARRAY(sa.Integer)),
            sa.Column("price", postgresql.DOUBLE_PRECISION),  # SQLAlchemy 2.1: a `Float` is no `Numeric`
            sa.Column("ratio", postgresql.REAL),
            sa.Column("amount", sa.Numeric(10, 2)),
        )
        self.assertTrue(comparable(table, ["id", "name", "tags", "price", "ratio", "amount", "not_in_the_table"]))
        self.assertEqual([comparable(table, ["id", name]) for name in ("doc", "points")], [False, False])

    def test_a_deletion_flag_of_any_number_type_deletes_when_not_zero_as_deleted_says(self):
        from sqlalchemy.dialects import postgresql

        def condition(kind) -> str:
            return deletion_condition(lambda name: name, sa.Column("gone", kind))

        for kind in (sa.Integer, sa.Numeric(5, 2), postgresql.DOUBLE_PRECISION, postgresql.REAL):
            self.assertEqual(condition(kind), "(s.gone IS NOT NULL AND s.gone <> 0)", kind)
        self.assertEqual(condition(sa.Boolean), "s.gone IS TRUE")
        self.assertEqual(condition(sa.DateTime), "s.gone IS NOT NULL")
        self.assertEqual([deleted(value) for value in (0.0, 0.5, None)], [False, True, False])

    def test_a_swap_that_fails_half_way_leaves_the_sqlite_table_as_it_was(self):
        engine = sa.create_engine(f"sqlite:///{tempfile.mkdtemp(prefix='pdip-swap-')}/swap.db")
        self.addCleanup(engine.dispose)
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE items (id integer primary key, name text)")
            connection.exec_driver_sql("CREATE INDEX items_name ON items (name)")
            connection.exec_driver_sql("INSERT INTO items VALUES (1, 'old')")
        items = sa.Table("items", sa.MetaData(), autoload_with=engine)
        replace.create_twin(engine, items, "items_pdip_replace")
        twin = sa.Table("items_pdip_replace", sa.MetaData(), autoload_with=engine)

        def fails(connection):
            raise RuntimeError("the positions could not be forgotten")

        with self.assertRaises(RuntimeError):
            replace.swap(engine, twin, "items", fails)
        with engine.connect() as connection:
            self.assertEqual(connection.exec_driver_sql("SELECT * FROM items").all(), [(1, "old")])
            names = connection.exec_driver_sql("SELECT name FROM sqlite_master ORDER BY name").all()
        self.assertEqual(names, [("items",), ("items_name",), ("items_pdip_replace",)])


class SqliteDispositionTest(unittest.TestCase):
    """SQLite -> SQLite, as a new user would run it: through `Integrator.integrate`."""

    def setUp(self):
        self.folder = Path(tempfile.mkdtemp(prefix="pdip-write-"))
        self.source, self.target = self.folder / "source.db", self.folder / "target.db"
        self.pdi = Pdi(root_directory=self.folder)
        self.addCleanup(self.pdi.cleanup)
        self.integrator = self.pdi.get(Integrator)
        with sqlite3.connect(self.source) as database:
            database.execute(
                "CREATE TABLE items (id integer primary key, name text not null, updated integer, gone integer)"
            )
            database.executemany("INSERT INTO items VALUES (?, ?, ?, 0)", [(i, f"n{i}", i) for i in range(1, 102)])
        self.sql(self.target, "CREATE TABLE items (id integer primary key, name text, updated integer, gone integer)")

    def sql(self, path: Path, *statements: str) -> list:
        with contextlib.closing(sqlite3.connect(path)) as database, database:
            found = [database.execute(statement).fetchall() for statement in statements]
        return found[-1]

    def integration(self, name="items", table="items", source_table="items", **settings) -> Integration:
        return Integration(
            name,
            source=Connection("sqlite", {"database": str(self.source), "table": source_table}),
            target=Connection("sqlite", {"database": str(self.target), "table": table}),
            batch_size=settings.pop("batch_size", 30),
            **settings,
        )

    def integrate(self, *integrations: Integration, name="sync", **options):
        return self.integrator.integrate(Operation(name, list(integrations), executor="inline"), **options)

    def test_an_incremental_merge_leaves_one_row_per_key_with_the_latest_values(self):
        merge = self.integration(mode="incremental", cursor="updated", write="merge")
        self.assertTrue(self.integrate(merge).ok)
        self.sql(self.source, "UPDATE items SET name = 'changed', updated = 500 WHERE id = 7")
        result = self.integrate(merge)
        self.assertEqual((result.ok, result["items"].rows_read), (True, 1))
        self.assertEqual(self.sql(self.target, "SELECT count(*), count(DISTINCT id) FROM items"), [(101, 101)])
        self.assertEqual(self.sql(self.target, "SELECT name, updated FROM items WHERE id = 7"), [("changed", 500)])

    def test_a_table_created_to_be_merged_into_is_keyed_on_the_merge_key(self):
        merge = self.integration(table="created", write="merge", key=["id"], create_target=True, cursor="updated")
        self.assertTrue(self.integrate(merge).ok)
        self.assertTrue(self.integrate(merge).ok)
        self.assertEqual(self.sql(self.target, "SELECT count(*), count(DISTINCT id) FROM created"), [(101, 101)])
        self.assertEqual(
            self.sql(self.target, "SELECT name, pk FROM pragma_table_info('created') WHERE pk > 0"), [("id", 1)]
        )

    def test_append_still_appends_every_updated_row_again(self):
        append = self.integration(mode="incremental", cursor="updated", key=["id"])
        self.sql(
            self.target, "DROP TABLE items", "CREATE TABLE items (id integer, name text, updated integer, gone integer)"
        )
        self.integrate(append)
        self.sql(self.source, "UPDATE items SET updated = 500 WHERE id = 7")
        self.integrate(append)
        self.assertEqual(self.sql(self.target, "SELECT count(*), count(DISTINCT id) FROM items"), [(102, 101)])

    def test_a_full_merge_of_stored_values_folds_a_batch_and_deletes_flagged_keys(self):
        self.sql(
            self.source,
            "DROP TABLE items",
            "CREATE TABLE items (seq integer primary key, id integer, name text not null, updated integer, gone integer)",
            "INSERT INTO items VALUES (1, 1, 'first', 1, 0), (2, 2, 'two', 2, 0), (3, 1, 'last', 3, 0), "
            "(4, 3, 'three', 4, 0), (5, 3, 'three', 5, 1)",
        )
        self.sql(self.target, "INSERT INTO items VALUES (3, 'kept until deleted', 0, 0), (9, 'untouched', 0, 0)")
        merge = self.integration(columns=None, write="merge", key=["id"], delete_column="gone")
        merge.source = Connection(
            "sqlite", {"database": str(self.source), "query": "SELECT id, name, updated, gone FROM items ORDER BY seq"}
        )
        self.assertTrue(self.integrate(merge).ok)
        self.assertEqual(
            self.sql(self.target, "SELECT * FROM items ORDER BY id"),
            [(1, "last", 3, 0), (2, "two", 2, 0), (9, "untouched", 0, 0)],
        )

    def test_a_batch_that_only_deletes_leaves_nothing_of_its_keys(self):
        self.sql(self.target, "INSERT INTO items VALUES (1, 'a', 0, 0), (2, 'b', 0, 0), (3, 'c', 0, 0)")
        self.sql(self.source, "UPDATE items SET gone = 1 WHERE id <= 2", "DELETE FROM items WHERE id > 2")
        merge = self.integration(write="merge", delete_column="gone", cursor="updated")
        self.assertTrue(self.integrate(merge).ok)
        self.assertEqual(self.sql(self.target, "SELECT id FROM items"), [(3,)])

    def test_rows_the_database_refuses_are_dead_lettered_and_the_others_merged(self):
        self.sql(
            self.target,
            "DROP TABLE items",
            "CREATE TABLE items (id integer primary key, name text check (name <> 'n5'), updated integer, gone integer)",
            "INSERT INTO items VALUES (1, 'stale', 0, 0), (6, 'deleted', 0, 0)",
        )
        self.sql(self.source, "UPDATE items SET gone = 1 WHERE id = 6")
        for raw, cursor in ((True, None), (False, "updated")):
            with self.subTest(raw=raw):
                merge = self.integration(
                    name=f"merge-{raw}",
                    write="merge",
                    delete_column="gone",
                    max_errors=5,
                    batch_size=200,
                    cursor=cursor,
                )
                result = self.integrate(merge, name=f"op-{raw}", execution_id=f"refused-{raw}")
                self.assertEqual((result.ok, result[f"merge-{raw}"].rows_dead_lettered), (True, 1))
                letters = self.pdi.get(StateStore).dead_letters(f"refused-{raw}")
                self.assertIn("CHECK constraint failed", letters[0]["reason"])
                self.assertEqual(letters[0]["row"]["id"], 5)
                self.assertEqual(self.sql(self.target, "SELECT count(*) FROM items WHERE id IN (5, 6)"), [(0,)])
                self.assertEqual(self.sql(self.target, "SELECT count(*), min(name) FROM items"), [(99, "n1")])

    def test_a_rowid_range_is_merged_inside_the_database_the_last_row_of_a_key_winning(self):
        self.sql(
            self.source,
            "CREATE TABLE dupes (id integer, name text)",
            "INSERT INTO dupes VALUES (1, 'first'), (500, 'new'), (1, 'last')",
        )
        merge = self.integration(source_table="dupes", write="merge")
        with mock.patch.object(sqlite, "copy_range", wraps=sqlite.copy_range) as copied:
            result = self.integrate(merge)
        self.assertEqual((result.ok, result["items"].rows_written), (True, 3))
        self.assertEqual(copied.call_count, 1)
        self.assertEqual(
            self.sql(self.target, "SELECT name FROM items WHERE id IN (1, 500) ORDER BY id"), [("last",), ("new",)]
        )
        self.assertEqual(self.sql(self.target, "SELECT count(*) FROM items"), [(2,)])

    def test_a_merge_without_a_usable_key_fails_naming_the_integration(self):
        self.sql(self.target, "CREATE TABLE loose (id integer, name text, updated integer, gone integer)")
        self.sql(self.target, "CREATE TABLE narrow (id integer primary key, name text)")
        cases = {
            "no key": (self.integration(table="loose", write="merge"), "needs a key: table 'loose' has no primary key"),
            "not unique": (
                self.integration(table="loose", write="merge", key=["id"]),
                "key: (id) is neither the primary key nor a unique constraint of table 'loose'",
            ),
            "no column": (
                self.integration(table="narrow", write="merge", key=["gone"]),
                "key: table 'narrow' has no column gone",
            ),
            "no flag": (
                self.integration(write="merge", delete_column="removed"),
                "delete_column: table 'items' has no column 'removed'",
            ),
        }
        for case, (integration, expected) in cases.items():
            with self.subTest(case):
                result = self.integrate(integration, name=case.replace(" ", "-"))
                self.assertEqual(result["items"].status, "failed")
                self.assertIn("integration 'items': ", result["items"].error)
                self.assertIn(expected, result["items"].error)

    def test_merge_of_rows_without_their_key_fails_naming_the_integration(self):
        self.sql(self.source, "CREATE TABLE other (name text)", "INSERT INTO other VALUES ('a')")
        merge = self.integration(write="merge", source_table="other")
        result = self.integrate(merge)
        self.assertIn("integration 'items': write: merge: the rows read have no column id", result["items"].error)

    def test_replace_swaps_the_table_in_whole_and_keeps_its_indexes(self):
        self.sql(
            self.target,
            "CREATE INDEX items_name ON items (name)",
            "INSERT INTO items VALUES (500, 'old', 0, 0)",
        )
        result = self.integrate(self.integration(write="replace"))
        self.assertTrue(result.ok, result["items"].error)
        self.assertEqual(self.sql(self.target, "SELECT count(*), min(id), max(id) FROM items"), [(101, 1, 101)])
        names = self.sql(self.target, "SELECT name FROM sqlite_master WHERE tbl_name = 'items' ORDER BY name")
        self.assertEqual(names, [("items",), ("items_name",)])
        self.assertEqual(
            self.sql(self.target, "SELECT count(*) FROM sqlite_master WHERE name LIKE '%pdip_replace'"), [(0,)]
        )

    def test_a_replace_that_fails_leaves_the_table_as_it_was_and_an_empty_source_empties_it(self):
        self.sql(
            self.target,
            "DROP TABLE items",
            "CREATE TABLE items (id integer primary key, name text check (name <> 'n50'), updated integer, gone integer)",
            "INSERT INTO items VALUES (500, 'old', 0, 0)",
        )
        failed = self.integrate(self.integration(write="replace"))
        self.assertEqual(failed["items"].status, "failed")
        self.assertEqual(self.sql(self.target, "SELECT id, name FROM items"), [(500, "old")])
        self.sql(self.source, "DELETE FROM items")
        emptied = self.integrate(self.integration(write="replace"), name="again")
        self.assertTrue(emptied.ok, emptied["items"].error)
        self.assertEqual(self.sql(self.target, "SELECT count(*) FROM items"), [(0,)])

    def test_a_resumed_replace_goes_on_in_the_table_it_was_loading(self):
        self.sql(self.target, "INSERT INTO items VALUES (500, 'old', 0, 0)")
        # the read fails at id 80 (an integer overflow), after two batches were committed
        self.sql(self.source, "CREATE TABLE control (bad integer)", "INSERT INTO control VALUES (80)")
        boom = "CASE WHEN id = (SELECT bad FROM control) THEN abs(-9223372036854775808) ELSE 0 END"
        query = f"SELECT id, name, updated + {boom} AS updated, gone FROM items"
        swap = self.integration(write="replace", key=["id"])
        swap.source = Connection("sqlite", {"database": str(self.source), "query": query})
        first = self.integrate(swap, execution_id="swap-1")
        self.assertEqual(first["items"].status, "failed")
        self.assertEqual(self.sql(self.target, "SELECT id FROM items"), [(500,)])  # readers still see the old table
        self.assertEqual(self.sql(self.target, "SELECT count(*) FROM items_pdip_replace"), [(60,)])
        self.sql(self.source, "UPDATE control SET bad = 0", "UPDATE items SET name = 'early' WHERE id = 1")
        resumed = self.integrate(swap, resume=True)
        self.assertTrue(resumed.ok, resumed["items"].error)
        self.assertEqual(resumed["items"].rows_read, 41)  # only what the first run had not committed
        self.assertEqual(self.sql(self.target, "SELECT count(*), min(id), max(id) FROM items"), [(101, 1, 101)])
        self.assertEqual(self.sql(self.target, "SELECT name FROM items WHERE id = 1"), [("n1",)])
        target = SqlTarget(
            Connection("sqlite", {"database": str(self.target), "table": "items"}), WorkerContext("unit", None)
        )
        self.addCleanup(target.close)
        target.disposition = Disposition("replace")
        self.assertIsNone(target.durable_position("sync/items"))  # swapped in: nothing left to resume
        with target.engine.begin() as connection:  # as a MariaDB swap killed before it forgot them
            store_position(connection, "sync/items", {"key": [101], "rows": 41})
        self.assertIsNone(target.durable_position("sync/items"))  # no table being loaded: start over
        target.disposition = Disposition("append")
        self.assertEqual(target.durable_position("sync/items"), {"key": [101], "rows": 41})

    def test_a_file_target_replaces_its_file_even_when_set_to_append(self):
        path = self.folder / "out.jsonl"
        path.write_text('{"id": 0, "name": "old", "updated": 0, "gone": 0}\n')
        into_file = Integration(
            "file",
            source=Connection("sqlite", {"database": str(self.source), "table": "items"}),
            target=Connection("jsonl", {"path": str(path), "append": True}),
            write="replace",
        )
        self.assertTrue(self.integrate(into_file).ok)
        self.assertEqual(len(path.read_text().splitlines()), 101)


if __name__ == "__main__":
    unittest.main()
