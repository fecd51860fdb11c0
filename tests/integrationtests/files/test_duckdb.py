"""DuckDB as source and target (`kind: duckdb`): dispositions, schema changes, positions, bad input.

The contract suite (tests/integrationtests/contract/test_duckdb_contract.py) checks what every store
does; these check what DuckDB adds, on real DuckDB files in a temporary folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import decimal
import io
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path
from unittest import mock

import duckdb
import pyarrow
import pyarrow.parquet

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation, OperationError, StateStore
from pdip.integrator.adapters.base import Disposition, ReadRequest
from pdip.integrator.adapters.duckdb import DuckDbSource, ReadAhead, kept_exactly
from pdip.integrator.adapters.file import parquet_ranges
from pdip.integrator.adapters.file.parquet_ranges import RowRange
from pdip.integrator.adapters.registry import AdapterRegistry
from pdip.integrator.base import Integrator
from pdip.integrator.batch import Batch
from pdip.integrator.events import BatchWritten
from pdip.integrator.results import RunContext


class DuckDbCase(unittest.TestCase):
    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="pdip-duckdb-")
        self.addCleanup(folder.cleanup)
        self.root = Path(folder.name)
        self.pdi = Pdi(root_directory=self.root)
        self.addCleanup(self.pdi.cleanup)
        self.integrator = self.pdi.get(Integrator)
        self.file = self.root / "warehouse.duckdb"

    def sql(self, *statements: str, path: Path | None = None) -> list[tuple]:
        with duckdb.connect(str(path or self.file)) as database:
            found: list[tuple] = []
            for statement in statements:
                found = database.execute(statement).fetchall()
            return found

    def duckdb(self, **settings) -> Connection:
        return Connection("duckdb", {"database": "warehouse.duckdb", **settings})

    def integrate(self, *integrations: Integration, executor: str = "process", resume: bool = False):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return self.integrator.integrate(Operation("duck", list(integrations), executor=executor), resume=resume)

    def ok(self, *integrations: Integration, **options):
        result = self.integrate(*integrations, **options)
        self.assertTrue(result.ok, [item.error for item in result.integrations])
        return result

    def error(self, *integrations: Integration) -> str:
        result = self.integrate(*integrations)
        self.assertFalse(result.ok)
        return result.integrations[0].error


class DispositionTest(DuckDbCase):
    def test_merge_upserts_by_key_folds_a_batch_and_deletes_flagged_keys(self):
        self.sql("CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR, gone BOOLEAN)")
        self.sql("INSERT INTO people VALUES (1, 'Ada', false), (2, 'Bob', false), (3, 'Cy', false)")
        self.integrator.stores["changes"] = [
            {"id": 1, "name": "Ada L.", "gone": False},
            {"id": 4, "name": "Dee", "gone": False},
            {"id": 4, "name": "Dee 2", "gone": False},  # the last row of a key wins
            {"id": 2, "name": "Bob", "gone": True},
        ]
        merge = Integration(
            "merge",
            source=Connection("memory", {"store": "changes"}),
            target=self.duckdb(table="people"),
            write="merge",
            delete_column="gone",
        )
        self.ok(merge)
        self.assertEqual(self.sql("SELECT id, name FROM people ORDER BY id"), [(1, "Ada L."), (3, "Cy"), (4, "Dee 2")])

    def test_a_table_created_for_a_merge_is_keyed_on_the_key_and_a_second_run_updates(self):
        self.integrator.stores["rows"] = pyarrow.table({"id": [1, 2], "value": ["a", "b"]})
        merge = Integration(
            "merge",
            source=Connection("memory", {"store": "rows"}),
            target=self.duckdb(table="keyed"),
            write="merge",
            key=["id"],
            create_target=True,
        )
        self.ok(merge)
        self.integrator.stores["rows"] = pyarrow.table({"id": [2, 3], "value": ["B", "c"]})
        self.ok(merge)
        self.assertEqual(self.sql("SELECT * FROM keyed ORDER BY id"), [(1, "a"), (2, "B"), (3, "c")])
        keys = self.sql(
            "SELECT constraint_column_names FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' AND table_name = 'keyed'"
        )
        self.assertEqual(keys, [(["id"],)])

    def test_merge_refuses_a_key_that_is_neither_primary_nor_unique(self):
        self.sql("CREATE TABLE loose (id INTEGER, name VARCHAR)")
        self.integrator.stores["rows"] = [{"id": 1, "name": "a"}]
        for key, expected in ((["id"], "is neither the primary key nor a unique constraint"), (None, "needs a key")):
            with self.subTest(key=key):
                merge = Integration(
                    "merge",
                    source=Connection("memory", {"store": "rows"}),
                    target=self.duckdb(table="loose"),
                    write="merge",
                    key=key,
                )
                self.assertIn(expected, self.error(merge))
        self.sql("CREATE TABLE keyed (id INTEGER PRIMARY KEY, name VARCHAR)")
        for key, delete, expected in ((["nope"], None, "has no column nope"), (None, "gone", "no column 'gone'")):
            with self.subTest(key=key, delete=delete):
                merge = Integration(
                    "merge",
                    source=Connection("memory", {"store": "rows"}),
                    target=self.duckdb(table="keyed"),
                    write="merge",
                    key=key,
                    delete_column=delete,
                )
                self.assertIn(expected, self.error(merge))

    def test_replace_swaps_the_loaded_table_in_with_its_key_and_a_failed_run_leaves_it(self):
        self.sql("CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL)")
        self.sql("INSERT INTO items VALUES (1, 'old')")
        self.integrator.stores["new"] = [{"id": 7, "name": "new"}, {"id": 8, "name": "newer"}]
        replace = Integration(
            "replace", source=Connection("memory", {"store": "new"}), target=self.duckdb(table="items"), write="replace"
        )
        self.ok(replace, executor="inline")
        self.assertEqual(self.sql("SELECT * FROM items ORDER BY id"), [(7, "new"), (8, "newer")])
        self.assertEqual(self.sql("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '%pdip_replace'"), [(0,)])
        self.sql("INSERT INTO items VALUES (9, 'kept')")  # the key came along with the swap
        with self.assertRaises(duckdb.ConstraintException):
            self.sql("INSERT INTO items VALUES (9, 'twice')")
        self.integrator.stores["bad"] = [{"id": 1, "name": None}]
        failing = Integration(
            "replace", source=Connection("memory", {"store": "bad"}), target=self.duckdb(table="items"), write="replace"
        )
        self.assertIn("1 rows were refused", self.error(failing))
        self.assertEqual(self.sql("SELECT id FROM items ORDER BY id"), [(7,), (8,), (9,)])

    def test_replace_of_an_empty_source_empties_the_table(self):
        self.sql("CREATE TABLE items (id INTEGER, name VARCHAR)", "INSERT INTO items VALUES (1, 'old')")
        self.integrator.stores["none"] = pyarrow.table({"id": pyarrow.array([], pyarrow.int32())})
        replace = Integration(
            "replace",
            source=Connection("memory", {"store": "none"}),
            target=self.duckdb(table="items"),
            write="replace",
        )
        self.ok(replace)
        self.assertEqual(self.sql("SELECT count(*) FROM items"), [(0,)])

    def test_truncate_target_empties_the_table_first(self):
        self.sql("CREATE TABLE items (id BIGINT)", "INSERT INTO items VALUES (1), (2)")
        self.integrator.stores["new"] = [{"id": 3}]
        copy = Integration(
            "copy",
            source=Connection("memory", {"store": "new"}),
            target=self.duckdb(table="items"),
            truncate_target=True,
        )
        self.ok(copy)
        self.assertEqual(self.sql("SELECT id FROM items"), [(3,)])


class SchemaTest(DuckDbCase):
    def copy(self, schema: str | None = None):
        people = Integration(
            "people",
            source=Connection("memory", {"store": "people"}),
            target=self.duckdb(table="people"),
            create_target=True,
            schema=schema,
        )
        return self.integrate(people, executor="inline")

    def test_a_new_source_column_is_added_refused_or_dropped_as_schema_says(self):
        self.integrator.stores["people"] = pyarrow.table({"id": pyarrow.array([1], pyarrow.int32())})
        self.assertTrue(self.copy().ok)
        self.integrator.stores["people"] = pyarrow.table({"id": [2, 3], "email": ["b@x", None]})
        refused = self.copy("freeze")
        self.assertIn("'email'", refused["people"].error)
        dropped = self.copy("discard_value")
        self.assertEqual(dropped["people"].values_discarded, {"email": 1})
        by_row = self.copy("discard_row")
        self.assertEqual(by_row["people"].rows_dead_lettered, 1)
        evolved = self.copy()  # pdip created the table: it evolves by default
        self.assertEqual(evolved["people"].schema_changes, ["added column 'email' VARCHAR"])
        self.assertEqual(
            self.sql("SELECT id, email FROM people ORDER BY id, email NULLS FIRST"),
            [(1, None), (2, None), (2, "b@x"), (3, None), (3, None), (3, None)],
        )

    def test_a_table_pdip_did_not_create_is_frozen_by_default(self):
        self.sql("CREATE TABLE people (id BIGINT)")
        self.integrator.stores["people"] = [{"id": 1, "email": "a@x"}]
        result = self.copy()
        self.assertIn("the default for a table pdip did not create", result["people"].error)


class ReadTest(DuckDbCase):
    def fill(self, count: int = 10) -> None:
        self.sql(
            f"CREATE TABLE source AS SELECT range::INTEGER AS id, 'row ' || range AS label FROM range(1, {count + 1})"
        )

    def test_a_query_over_parquet_files_in_memory_lands_in_sqlite_with_its_types(self):
        pyarrow.parquet.write_table(
            pyarrow.table({"id": pyarrow.array([1, 2], pyarrow.int16()), "x": [0.5, 1.5]}), self.root / "a.parquet"
        )
        query = Connection(
            "duckdb", {"database": ":memory:", "query": f"SELECT * FROM '{self.root / 'a.parquet'}' WHERE id > 1"}
        )
        target = Connection("sqlite", {"database": "out.db", "table": "out"})
        self.ok(Integration("q", source=query, target=target, create_target=True))
        with sqlite3.connect(self.root / "out.db") as database:
            self.assertEqual(database.execute("SELECT * FROM out").fetchall(), [(2, 1.5)])
            declared = [row[2] for row in database.execute("PRAGMA table_info(out)")]
        self.assertEqual(declared, ["SMALLINT", "DOUBLE"])

    def test_duckdb_to_the_same_file_on_each_executor(self):
        self.fill()
        for executor in ("inline", "process"):
            with self.subTest(executor=executor):
                copy = Integration(
                    "copy",
                    source=self.duckdb(table="source"),
                    target=self.duckdb(table=f"copy_{executor}"),
                    create_target=True,
                    batch_size=3,
                )
                self.assertEqual(self.ok(copy, executor=executor)["copy"].rows_written, 10)
                self.assertEqual(self.sql(f"SELECT sum(id), count(*) FROM copy_{executor}"), [(55, 10)])
                kinds = self.sql(f"SELECT column_type FROM (DESCRIBE copy_{executor})")
                self.assertEqual(kinds, [("INTEGER",), ("VARCHAR",)])

    def test_an_incremental_read_takes_rows_above_the_watermark_and_resumes_after_the_last_key(self):
        self.fill()
        self.sql("CREATE TABLE copy (id INTEGER, label VARCHAR)")
        read = Integration(
            "inc",
            source=self.duckdb(table="source"),
            target=self.duckdb(table="copy"),
            mode="incremental",
            cursor="id",
            batch_size=4,
        )
        self.ok(read)
        self.sql("INSERT INTO source VALUES (11, 'row 11')")
        self.assertEqual(self.ok(read)["inc"].rows_read, 1)
        self.assertEqual(self.sql("SELECT count(*), count(DISTINCT id) FROM copy"), [(11, 11)])
        (stored,) = self.sql("SELECT position FROM pdip_target_position")
        self.assertIn('"key"', stored[0])

    def test_an_interrupted_keyed_copy_resumes_after_its_last_key(self):
        self.fill()
        batches = []

        def interrupt(event: BatchWritten) -> None:
            batches.append(event)
            if len(batches) == 1:
                raise KeyboardInterrupt

        self.integrator.subscribe(BatchWritten, interrupt)
        copy = Integration(
            "copy",
            source=self.duckdb(table="source"),
            target=self.duckdb(table="copy"),
            key=["id"],
            create_target=True,
            batch_size=4,
        )
        self.assertEqual(self.integrate(copy).status, "interrupted")
        resumed = self.integrate(copy, resume=True)
        self.assertEqual(resumed["copy"].rows_written, 6)
        self.assertEqual(self.sql("SELECT count(*), count(DISTINCT id) FROM copy"), [(10, 10)])


class BadInputTest(DuckDbCase):
    def test_a_missing_file_table_column_or_failing_query_names_the_connection_and_setting(self):
        self.sql("CREATE TABLE there (id INTEGER)")
        target = Connection("memory", {"store": "out"})
        cases = (
            (Connection("duckdb", {"database": "nope.duckdb", "table": "t"}), "database: file"),
            (self.duckdb(table="missing"), "table: CatalogException: Catalog Error: Table with name missing"),
            (self.duckdb(query="SELECT * FROM there WHERE nope > 1"), "query: BinderException"),
            (self.duckdb(query="SELEC 1"), "query: ParserException"),
            (self.duckdb(), "needs table (or query)"),
        )
        for source, expected in cases:
            with self.subTest(expected=expected):
                self.assertIn(
                    f"duckdb connection: {expected}", self.error(Integration("read", source=source, target=target))
                )
        self.assertFalse((self.root / "nope.duckdb").exists())  # a source is never created
        chosen = Integration("read", source=self.duckdb(table="there"), target=target, columns=["id", "ghost"])
        self.assertIn("table has no column 'ghost' (its columns: id)", self.error(chosen))

    def test_a_named_connection_is_named_in_the_error(self):
        source = Connection("duckdb", {"database": "gone.duckdb", "table": "t"}, name="warehouse")
        error = self.error(Integration("read", source=source, target=Connection("memory", {"store": "x"})))
        self.assertIn("duckdb connection 'warehouse': database: file", error)

    def test_a_target_table_that_does_not_exist_or_a_memory_target_is_refused(self):
        self.integrator.stores["rows"] = [{"id": 1}]
        source = Connection("memory", {"store": "rows"})
        cases = (
            (self.duckdb(table="absent"), "table: 'absent' does not exist"),
            (Connection("duckdb", {"database": ":memory:", "table": "t"}), "would lose its rows"),
            (self.duckdb(), "a target needs table"),
        )
        for target, expected in cases:
            with self.subTest(expected=expected):
                self.assertIn(expected, self.error(Integration("write", source=source, target=target)))

    def test_rows_duckdb_refuses_are_dead_lettered_and_the_others_land_with_the_position(self):
        self.sql("CREATE TABLE strict (id INTEGER PRIMARY KEY, label VARCHAR NOT NULL, small TINYINT)")
        self.sql("INSERT INTO strict VALUES (1, 'there', 0)")
        rows = [{"id": i, "label": f"r{i}", "small": i} for i in range(2, 40)]
        rows[5]["label"] = None
        rows[20]["small"] = 300  # beyond a TINYINT
        rows.append({"id": 1, "label": "twice", "small": 1})  # the key is already there
        self.integrator.stores["rows"] = rows
        copy = Integration(
            "copy", source=Connection("memory", {"store": "rows"}), target=self.duckdb(table="strict"), max_errors=5
        )
        result = self.ok(copy)
        self.assertEqual(result["copy"].rows_dead_lettered, 3)
        letters = self.pdi.get(StateStore).dead_letters(result.execution_id)
        self.assertEqual(sorted(letter["row"]["id"] for letter in letters), [1, 7, 22])
        self.assertTrue(all("Exception" in letter["reason"] for letter in letters), letters)
        self.assertEqual(self.sql("SELECT count(*) FROM strict"), [(37,)])  # 36 and the one there

    def test_a_csv_row_duckdb_refuses_is_dead_lettered_with_its_own_line(self):
        self.sql("CREATE TABLE checked (id INTEGER, amount INTEGER CONSTRAINT amount_positive CHECK (amount > 0))")
        (self.root / "rows.csv").write_text("id,amount\n1,10\n2,20\n3,-30\n4,40\n5,50\n")
        (self.root / "rows.jsonl").write_text(
            "".join(f'{{"id": {i}, "amount": {-i if i == 2 else i}}}\n' for i in (1, 2, 3))
        )
        copies = [
            Integration(
                name, source=Connection(kind, {"path": path}), target=self.duckdb(table="checked"), max_errors=1
            )
            for name, kind, path in (("csv", "csv", "rows.csv"), ("jsonl", "jsonl", "rows.jsonl"))
        ]
        result = self.ok(*copies)
        letters = self.pdi.get(StateStore).dead_letters(result.execution_id)
        self.assertEqual(
            [(letter["integration"], letter["position"]) for letter in letters],
            [("csv", {"file": "rows.csv", "line": 4}), ("jsonl", {"file": "rows.jsonl", "line": 2})],
        )
        self.assertIn(
            'CHECK constraint failed on table "checked" with expression CHECK((amount > 0))', letters[0]["reason"]
        )
        self.assertEqual(letters[0]["row"], {"id": "3", "amount": "-30"})
        self.assertEqual(self.sql("SELECT id FROM checked ORDER BY amount"), [(1,), (3,), (1,), (2,), (4,), (5,)])

    def test_a_decimal_with_more_places_than_its_column_keeps_is_dead_lettered_not_rounded(self):
        self.sql("CREATE TABLE prices (id INTEGER PRIMARY KEY, amount DECIMAL(8, 2), text_amount DECIMAL(8, 2))")
        self.integrator.stores["rows"] = [
            {"id": 1, "amount": 1.005, "text_amount": "1.10"},
            {"id": 2, "amount": 0.1, "text_amount": "2.5"},
            {"id": 3, "amount": 3.0, "text_amount": "3.125"},
            {"id": 4, "amount": None, "text_amount": None},
        ]
        copy = Integration(
            "copy", source=Connection("memory", {"store": "rows"}), target=self.duckdb(table="prices"), max_errors=5
        )
        result = self.ok(copy)
        letters = {
            letter["row"]["id"]: letter["reason"]
            for letter in self.pdi.get(StateStore).dead_letters(result.execution_id)
        }
        self.assertEqual(sorted(letters), [1, 3])
        self.assertIn("column 'amount' is DECIMAL(8,2): 1.005 has more than 2 decimal places", letters[1])
        self.assertIn("column 'text_amount' is DECIMAL(8,2): 3.125 has more than 2 decimal places", letters[3])
        self.assertEqual(
            [tuple(map(str, row)) for row in self.sql("SELECT * FROM prices ORDER BY id")],
            [("2", "0.10", "2.50"), ("4", "None", "None")],
        )

    def test_a_number_a_double_or_float_column_would_round_is_dead_lettered_not_stored_rounded(self):
        self.sql("CREATE TABLE measures (id INTEGER, d DOUBLE, f FLOAT)")
        long = "0.1000000000000000055511151231257827"
        self.integrator.stores["rows"] = [
            {"id": 1, "d": 2**53 + 1, "f": 1},
            {"id": 2, "d": 2**60, "f": 2**24 + 1},
            {"id": 3, "d": 2**53, "f": 2**24},
            {"id": 4, "d": -(2**53) - 1, "f": None},
        ]
        (self.root / "in.csv").write_text(
            f"id,d,f\n5,{long},0.5\n6,0.1,3.14159265\n7,1152921504606846976,1e5\n8,1e300,\n"
        )
        copies = [
            Integration(
                "rows",
                source=Connection("memory", {"store": "rows"}),
                target=self.duckdb(table="measures"),
                max_errors=9,
            ),
            Integration(
                "csv", source=Connection("csv", {"path": "in.csv"}), target=self.duckdb(table="measures"), max_errors=9
            ),
        ]
        result = self.ok(*copies)
        letters = {
            int(letter["row"]["id"]): letter["reason"]
            for letter in self.pdi.get(StateStore).dead_letters(result.execution_id)
        }
        self.assertEqual(sorted(letters), [1, 2, 4, 5, 6])
        self.assertIn("column 'd' is DOUBLE: 9007199254740993 would be stored as 9007199254740992", letters[1])
        self.assertIn("column 'f' is FLOAT: 16777217 would be stored as 16777216", letters[2])
        self.assertIn("column 'd' is DOUBLE: -9007199254740993 would be stored as -9007199254740992", letters[4])
        self.assertIn(f"column 'd' is DOUBLE: {long} would be stored as 0.1", letters[5])
        self.assertIn("column 'f' is FLOAT: 3.14159265 would be stored as 3.1415927", letters[6])
        self.assertEqual(self.sql("SELECT id FROM measures ORDER BY id"), [(3,), (7,), (8,)])

    def test_a_table_created_of_floats_beside_an_int_a_double_does_not_hold_is_double_and_refuses_it(self):
        self.integrator.stores["rows"] = [{"d": 0.5, "n": 1}, {"d": 2**53 + 1, "n": "x"}, {"d": 1.5, "n": 2}]
        copy = Integration(
            "copy",
            source=Connection("memory", {"store": "rows"}),
            target=self.duckdb(table="made"),
            create_target=True,
            max_errors=9,
        )
        result = self.ok(copy)
        self.assertEqual(self.sql("SELECT column_type FROM (DESCRIBE made)"), [("DOUBLE",), ("VARCHAR",)])
        letters = self.pdi.get(StateStore).dead_letters(result.execution_id)
        self.assertEqual(len(letters), 1)
        self.assertIn(
            "column 'd' is DOUBLE: 9007199254740993 would be stored as 9007199254740992", letters[0]["reason"]
        )
        self.assertEqual(self.sql("SELECT d, n FROM made ORDER BY d"), [(0.5, "1"), (1.5, "2")])

    def test_parallelism_and_dask_are_refused_before_any_data_moves(self):
        self.sql("CREATE TABLE there (id INTEGER)")
        split = Integration(
            "split", source=self.duckdb(table="there"), target=Connection("memory", {"store": "o"}), parallelism=2
        )
        with self.assertRaises(OperationError) as raised:
            self.integrate(split)
        self.assertIn("a duckdb source is read whole", str(raised.exception))
        elsewhere = Integration("dask", source=self.duckdb(table="there"), target=self.duckdb(table="copy"))
        with self.assertRaises(OperationError) as raised:
            self.integrate(elsewhere, executor="dask")
        self.assertIn("a duckdb source lives in the calling process", str(raised.exception))

    def test_statements_run_at_a_target_and_closing_an_unused_target_is_quiet(self):
        ddl = Integration(
            "ddl", target=self.duckdb(), sql="CREATE TABLE made (id INTEGER); INSERT INTO made VALUES (1)"
        )
        self.ok(ddl)
        self.assertEqual(self.sql("SELECT * FROM made"), [(1,)])
        registry = self.pdi.get(AdapterRegistry)
        target = registry.target(Connection("duckdb", {"database": ":memory:"}), RunContext({}, "x", self.root))
        self.assertEqual(target.describe(), "duckdb:statements")
        target.close()


if __name__ == "__main__":
    unittest.main()


class EdgeTest(DuckDbCase):
    def test_merge_deletes_by_a_number_or_a_time_flag(self):
        for kind, deleting, keeping in (("INTEGER", 2, 0), ("TIMESTAMP", "2026-01-01 00:00:00", None)):
            with self.subTest(kind=kind):
                self.sql("DROP TABLE IF EXISTS flagged", f"CREATE TABLE flagged (id INTEGER PRIMARY KEY, gone {kind})")
                self.sql("INSERT INTO flagged VALUES (1, NULL), (2, NULL)")
                self.integrator.stores["flags"] = [{"id": 1, "gone": deleting}, {"id": 2, "gone": keeping}]
                merge = Integration(
                    "merge",
                    source=Connection("memory", {"store": "flags"}),
                    target=self.duckdb(table="flagged"),
                    write="merge",
                    delete_column="gone",
                )
                self.ok(merge)
                self.assertEqual(self.sql("SELECT id FROM flagged"), [(2,)])

    def test_an_interrupted_replace_resumes_into_its_twin_and_keeps_the_indexes(self):
        self.sql("CREATE TABLE items (id INTEGER, name VARCHAR)", "CREATE INDEX items_name ON items (name)")
        self.integrator.stores["new"] = [{"id": i, "name": f"n{i}"} for i in range(10)]
        batches = []

        def interrupt(event: BatchWritten) -> None:
            batches.append(event)
            if len(batches) == 1:
                raise KeyboardInterrupt

        self.integrator.subscribe(BatchWritten, interrupt)
        replace = Integration(
            "replace",
            source=Connection("memory", {"store": "new"}),
            target=self.duckdb(table="items"),
            write="replace",
            batch_size=4,
        )
        self.assertEqual(self.integrate(replace).status, "interrupted")
        self.assertEqual(self.sql("SELECT count(*) FROM items_pdip_replace"), [(4,)])
        self.assertEqual(self.integrate(replace, resume=True)["replace"].rows_written, 6)
        self.assertEqual(self.sql("SELECT count(*), count(DISTINCT id) FROM items"), [(10, 10)])
        self.assertEqual(self.sql("SELECT index_name FROM duckdb_indexes()"), [("items_name",)])
        self.assertEqual(self.sql("SELECT count(*) FROM pdip_target_position"), [(0,)])

    def test_a_swap_the_database_refuses_leaves_the_table_as_it_was(self):
        self.sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)", "INSERT INTO parent VALUES (1)")
        self.sql("CREATE TABLE child (parent_id INTEGER REFERENCES parent (id))")
        self.integrator.stores["new"] = [{"id": 2}]
        replace = Integration(
            "replace",
            source=Connection("memory", {"store": "new"}),
            target=self.duckdb(table="parent"),
            write="replace",
        )
        self.assertIn("main key table", self.error(replace))
        self.assertEqual(self.sql("SELECT id FROM parent"), [(1,)])

    def target(self, **settings):
        registry = self.pdi.get(AdapterRegistry)
        return registry.target(self.duckdb(**settings), RunContext({}, "x", self.root))

    def test_a_position_replace_cannot_resume_into_is_no_position(self):
        target = self.target(table="items")
        self.addCleanup(target.close)
        target.position_slot = "op/items"
        target.prepare(["id"], create=True, truncate=False)
        target.write(Batch.from_dicts([{"id": 1}], position=1))
        self.assertEqual(target.durable_position("op/items"), 1)
        self.assertIsNone(target.durable_position("op/other"))
        target.disposition = Disposition("replace")
        self.assertIsNone(target.durable_position("op/items"))  # its twin is gone: it loads everything again

    def test_a_batch_whose_position_cannot_be_stored_leaves_nothing_and_a_swap_needs_no_slot(self):
        target = self.target(table="items")
        self.addCleanup(target.close)
        target.position_slot = "op/items"
        target.prepare(["id"], create=True, truncate=False)
        with self.assertRaises(TypeError):
            target.write(Batch.from_dicts([{"id": 1}], position=object()))
        self.assertEqual(self.sql("SELECT count(*) FROM items"), [(0,)])  # the batch was undone
        target.close()
        swapping = self.target(table="items")
        self.addCleanup(swapping.close)
        swapping.disposition = Disposition("replace")
        swapping.prepare(["id"], create=False, truncate=False)
        swapping.finish()  # nothing came: the empty twin is swapped in, no positions to forget
        self.assertEqual(self.sql("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'items%'"), [(1,)])

    def test_a_value_that_does_not_fit_its_declared_type_is_refused_by_duckdb(self):
        with sqlite3.connect(self.root / "loose.db") as database:
            database.execute("CREATE TABLE t (id INTEGER, n INTEGER)")
            database.execute("INSERT INTO t VALUES (1, 5), (2, 'five')")  # SQLite keeps text in an INTEGER
        copy = Integration(
            "copy",
            source=Connection("sqlite", {"database": "loose.db", "table": "t"}),
            target=self.duckdb(table="t"),
            create_target=True,
            max_errors=1,
        )
        result = self.ok(copy)
        self.assertEqual(result["copy"].rows_dead_lettered, 1)
        self.assertEqual(self.sql("SELECT * FROM t"), [(1, 5)])

    def test_a_query_failing_while_it_runs_names_the_setting(self):
        self.sql("CREATE TABLE words AS SELECT '1' AS n UNION ALL SELECT 'x'")
        source = self.duckdb(query="SELECT CAST(n AS INTEGER) AS n FROM words")
        error = self.error(Integration("read", source=source, target=Connection("memory", {"store": "o"})))
        self.assertIn("duckdb connection: query: ConversionException", error)

    def test_a_new_column_under_truncate_of_a_frozen_table_is_refused_before_it_is_emptied(self):
        self.sql("CREATE TABLE people (id BIGINT)", "INSERT INTO people VALUES (1)")
        self.integrator.stores["people"] = [{"id": 2, "email": "a@x"}]
        copy = Integration(
            "copy",
            source=Connection("memory", {"store": "people"}),
            target=self.duckdb(table="people"),
            truncate_target=True,
        )
        self.assertIn("schema: freeze", self.error(copy))
        self.assertEqual(self.sql("SELECT id FROM people"), [(1,)])

    def test_without_the_package_or_a_database_the_error_says_what_to_do(self):
        with self.assertRaises(OperationError) as raised:
            self.target(database="")
        self.assertIn("database: expected a file or :memory:", str(raised.exception))
        with mock.patch.dict(sys.modules, {"duckdb": None}):
            with self.assertRaises(OperationError) as raised:
                self.target(table="t")
        self.assertIn("pip install 'pdip[duckdb]'", str(raised.exception))


class ReadAheadTest(unittest.TestCase):
    def test_batches_come_in_order_and_an_error_comes_where_its_batch_would_have(self):
        def failing():
            yield 1
            yield 2
            raise duckdb.ConversionException("bad value")

        ahead = ReadAhead(failing())
        found = []
        with self.assertRaises(duckdb.ConversionException):
            for item in ahead:
                found.append(item)
        ahead.close()
        self.assertEqual(found, [1, 2])

    def test_closing_before_the_end_stops_the_thread_waiting_to_hand_over_a_batch(self):
        ahead = ReadAhead(iter(range(100)))
        records = iter(ahead)
        self.assertEqual(next(records), 0)
        while not ahead._queue.full():  # the thread has the next one ready and waits with a third
            time.sleep(0.01)
        ahead.close()
        self.assertFalse(ahead._thread.is_alive())

    def test_a_read_stopped_early_closes_its_thread(self):
        with tempfile.TemporaryDirectory() as folder:
            path = str(Path(folder) / "a.duckdb")
            with duckdb.connect(path) as database:
                database.execute("CREATE TABLE t AS SELECT range AS id FROM range(100)")
            source = DuckDbSource(Connection("duckdb", {"database": path, "table": "t"}), None)
            batches = source.read(ReadRequest(batch_size=10))
            self.assertEqual(len(next(batches)), 10)
            batches.close()
            source.close()
            self.assertEqual([thread.name for thread in threading.enumerate() if "read-ahead" in thread.name], [])


class SchemaSettingTest(DuckDbCase):
    def test_a_table_in_another_schema_is_created_merged_into_and_read(self):
        self.sql("CREATE SCHEMA sales")
        self.integrator.stores["orders"] = [{"id": 1, "total": 2.5}, {"id": 2, "total": 5.0}]
        into = Integration(
            "into",
            source=Connection("memory", {"store": "orders"}),
            target=self.duckdb(table="orders", schema="sales"),
            create_target=True,
            write="merge",
            key=["id"],
        )
        self.ok(into)
        self.ok(into)
        self.assertEqual(self.sql("SELECT * FROM sales.orders ORDER BY id"), [(1, 2.5), (2, 5.0)])
        back = Integration(
            "back", source=self.duckdb(table="orders", schema="sales"), target=Connection("memory", {"store": "back"})
        )
        self.ok(back)
        back = sorted(self.integrator.stores["back"], key=lambda row: row["id"])  # a merge keeps no order
        self.assertEqual(back, [{"id": 1, "total": 2.5}, {"id": 2, "total": 5.0}])


class ParquetRangeTest(DuckDbCase):
    """Parquet into DuckDB: batches name their rows, DuckDB's own reader copies them."""

    def parquet(self, name: str, first: int, count: int, row_group: int = 4, **extra) -> None:
        columns = {"id": pyarrow.array(range(first, first + count), pyarrow.int32())}
        columns["label"] = [f"row {i}" for i in range(first, first + count)]
        columns.update(extra)
        (self.root / "landing").mkdir(exist_ok=True)
        pyarrow.parquet.write_table(pyarrow.table(columns), self.root / "landing" / name, row_group_size=row_group)

    def copy(self, **options) -> Integration:
        return Integration(
            "copy",
            source=Connection("parquet", {"path": "landing"}),
            target=self.duckdb(table="items"),
            create_target=True,
            **options,
        )

    def test_a_folder_is_copied_by_ranges_with_its_types_and_the_last_position(self):
        self.parquet("a.parquet", 0, 10)
        self.parquet("b.parquet", 10, 5)
        written = []
        self.integrator.subscribe(BatchWritten, written.append)
        for executor in ("inline", "process"):
            with self.subTest(executor=executor):
                self.sql("DROP TABLE IF EXISTS items")
                written.clear()
                with mock.patch.object(RowRange, "read") as decode:  # what decoding a range reads
                    self.assertEqual(self.ok(self.copy(batch_size=3), executor=executor)["copy"].rows_written, 15)
                decode.assert_not_called()  # no row became a Python value
                self.assertEqual([event.rows for event in written], [3, 3, 3, 1, 3, 2])
                self.assertEqual(self.sql("SELECT count(*), sum(id), min(label) FROM items"), [(15, 105, "row 0")])
                self.assertEqual(self.sql("SELECT column_type FROM (DESCRIBE items)"), [("INTEGER",), ("VARCHAR",)])
                self.assertEqual(
                    self.sql("SELECT position FROM pdip_target_position"), [('{"file":"b.parquet","row":5}',)]
                )

    def test_an_interrupted_copy_resumes_after_the_last_range_written(self):
        self.parquet("a.parquet", 0, 10)
        events = []

        def interrupt(event: BatchWritten) -> None:
            events.append(event)
            if len(events) == 2:
                raise KeyboardInterrupt

        self.integrator.subscribe(BatchWritten, interrupt)
        self.assertEqual(self.integrate(self.copy(batch_size=3)).status, "interrupted")
        resumed = self.integrate(self.copy(batch_size=3), resume=True)
        self.assertEqual(resumed["copy"].rows_written, 4)
        self.assertEqual(self.sql("SELECT count(*), count(DISTINCT id) FROM items"), [(10, 10)])

    def test_rows_duckdb_refuses_in_a_range_are_dead_lettered_and_the_others_land(self):
        self.sql("CREATE TABLE items (id INTEGER PRIMARY KEY, label VARCHAR NOT NULL, small TINYINT)")
        self.sql("INSERT INTO items VALUES (5, 'there', 0)")
        small = pyarrow.array([1, 2, 3, 300, 5, 6, 7, 8], pyarrow.int32())  # 300 is beyond a TINYINT
        self.parquet("a.parquet", 0, 8, small=small)
        result = self.ok(self.copy(max_errors=5, batch_size=5))
        self.assertEqual(result["copy"].rows_dead_lettered, 2)
        letters = self.pdi.get(StateStore).dead_letters(result.execution_id)
        self.assertEqual(sorted(letter["row"]["id"] for letter in letters), [3, 5])
        self.assertEqual(self.sql("SELECT count(*) FROM items"), [(7,)])  # 6 copied and the one there
        self.assertEqual(self.sql("SELECT position FROM pdip_target_position"), [('{"file":"a.parquet","row":8}',)])

    def test_a_refused_row_in_a_range_of_many_row_groups_is_found_decoding_one_row_group_at_most(self):
        self.sql("CREATE TABLE items (id INTEGER PRIMARY KEY, label VARCHAR CHECK (label <> 'row 200000'))")
        self.parquet("a.parquet", 0, 300_000, row_group=50_000)
        decoded = []
        read = RowRange.read

        def reading(found: RowRange):
            decoded.append(found.stop - found.first)
            return read(found)

        with mock.patch.object(RowRange, "read", autospec=True, side_effect=reading):
            result = self.ok(self.copy(max_errors=5))
        self.assertEqual(result["copy"].rows_written, 299_999)
        (letter,) = self.pdi.get(StateStore).dead_letters(result.execution_id)
        self.assertEqual(letter["row"], {"id": 200_000, "label": "row 200000"})
        self.assertIn("CHECK", letter["reason"])
        self.assertTrue(decoded and max(decoded) <= 122_880, decoded)  # halves of ranges, then one decoded
        self.assertEqual(self.sql("SELECT count(*), sum(id) FROM items"), [(299_999, 300_000 * 299_999 // 2 - 200_000)])
        self.assertEqual(
            self.sql("SELECT position FROM pdip_target_position"), [('{"file":"a.parquet","row":300000}',)]
        )

    def test_an_instant_finer_than_its_column_keeps_is_dead_lettered_copied_or_as_arrow(self):
        self.sql("CREATE TABLE items (id INTEGER, label VARCHAR, moment TIMESTAMP, price DOUBLE)")
        second = 1_767_261_600 * 10**9  # 2026-01-01 10:00:00
        instants = pyarrow.array([second, second + 1_000, second + 1_500], pyarrow.timestamp("ns"))
        self.parquet("a.parquet", 0, 3, moment=instants, price=pyarrow.array([0.5, 1.5, 2.5]))
        copied = kept_exactly("price", "DOUBLE", pyarrow.float64())
        self.assertEqual(copied, '"price"')  # a float into a double is not looked at, copied or not
        for write in ("append", "merge"):  # a range DuckDB copies; Arrow from the reader
            with self.subTest(write=write):
                self.sql("DELETE FROM items")
                options = {"key": ["id"]} if write == "merge" else {}
                if write == "merge":
                    self.sql("DROP TABLE items")
                    self.sql(
                        "CREATE TABLE items (id INTEGER PRIMARY KEY, label VARCHAR, moment TIMESTAMP, price DOUBLE)"
                    )
                result = self.ok(self.copy(max_errors=5, write=write, **options))
                (letter,) = self.pdi.get(StateStore).dead_letters(result.execution_id)
                self.assertEqual(letter["row"]["id"], 2)
                self.assertIn(
                    "column 'moment' keeps 6 digits of a second: 2026-01-01 10:00:00.0000015", letter["reason"]
                )
                self.assertEqual(self.sql("SELECT id FROM items ORDER BY id"), [(0,), (1,)])

    def test_a_range_with_a_decimal_its_column_would_round_is_dead_lettered_by_row(self):
        self.sql("CREATE TABLE items (id INTEGER PRIMARY KEY, label VARCHAR, amount DECIMAL(8, 2))")
        amounts = [decimal.Decimal(text) for text in ("1.500", "2.005", "3.250", "4.000")]
        self.parquet("a.parquet", 0, 4, amount=pyarrow.array(amounts, pyarrow.decimal128(9, 3)))
        result = self.ok(self.copy(max_errors=5))
        letters = self.pdi.get(StateStore).dead_letters(result.execution_id)
        self.assertEqual([letter["row"]["id"] for letter in letters], [1])
        self.assertIn("2.005 has more than 2 decimal places and would be rounded", letters[0]["reason"])
        self.assertEqual(
            self.sql("SELECT id, CAST(amount AS VARCHAR) FROM items ORDER BY id"),
            [(0, "1.50"), (2, "3.25"), (3, "4.00")],
        )

    def test_a_merge_or_a_file_with_a_row_number_column_goes_as_arrow(self):
        self.parquet("a.parquet", 0, 6)
        merged = self.copy(write="merge", key=["id"])
        self.ok(merged)
        self.ok(merged)
        self.assertEqual(self.sql("SELECT count(*), sum(id) FROM items"), [(6, 15)])
        self.sql("DROP TABLE items")
        (self.root / "landing" / "a.parquet").unlink()
        self.parquet("b.parquet", 0, 3, file_row_number=pyarrow.array([7, 8, 9], pyarrow.int64()))
        self.ok(self.copy())
        self.assertEqual(self.sql("SELECT sum(file_row_number) FROM items"), [(24,)])

    def test_without_a_batch_size_duckdb_copies_ranges_of_many_row_groups_and_takes_arrow_by_one(self):
        count = 130_000
        pyarrow.parquet.write_table(
            pyarrow.table({"id": pyarrow.array(range(count), pyarrow.int32())}), self.root / "big.parquet"
        )
        written = []
        self.integrator.subscribe(BatchWritten, written.append)
        into_duckdb = Integration(
            "big",
            source=Connection("parquet", {"path": "big.parquet"}),
            target=self.duckdb(table="big"),
            create_target=True,
        )
        self.ok(into_duckdb)
        self.assertEqual([event.rows for event in written], [count])  # one range, DuckDB's threads share it
        written.clear()
        merged = dataclasses.replace(into_duckdb, target=self.duckdb(table="merged"), write="merge", key=["id"])
        self.ok(merged)  # a merge folds rows by their place in a batch: Arrow from the reader
        self.assertEqual([event.rows for event in written], [122_880, count - 122_880])
        written.clear()
        elsewhere = Integration(
            "else", source=Connection("parquet", {"path": "big.parquet"}), target=Connection("memory", {"store": "out"})
        )
        self.ok(elsewhere)
        self.assertEqual(len(written), 13)  # 10,000 rows a batch (Integration's BATCH_SIZE)

    def test_replace_copies_ranges_into_its_twin_and_swaps_it_in(self):
        self.sql("CREATE TABLE items (id INTEGER, label VARCHAR)")
        self.sql("INSERT INTO items VALUES (99, 'old')")
        self.parquet("a.parquet", 0, 5)
        with mock.patch.object(RowRange, "read") as decode:
            self.ok(self.copy(write="replace", batch_size=2))
        decode.assert_not_called()
        self.assertEqual(self.sql("SELECT count(*), sum(id) FROM items"), [(5, 10)])

    def test_a_range_whose_position_cannot_be_stored_leaves_nothing_and_one_without_a_slot_lands(self):
        self.parquet("a.parquet", 0, 4)
        path = self.root / "landing" / "a.parquet"
        (batch,) = parquet_ranges.raw_batches([(path, "a.parquet")], None, "parquet", 10)
        batch.position = object()
        target = self.pdi.get(AdapterRegistry).target(self.duckdb(table="items"), RunContext({}, "x", self.root))
        self.addCleanup(target.close)
        target.position_slot = "op/items"
        target.prepare(["id", "label"], create=True, truncate=False)
        with self.assertRaises(TypeError):
            target.write(batch)
        self.assertEqual(self.sql("SELECT count(*) FROM items"), [(0,)])  # the range was undone
        target.position_slot = None  # a target asked to keep no position copies the range alone
        self.assertEqual(target.write(batch).written, 4)
        self.assertEqual(self.sql("SELECT count(*) FROM items"), [(4,)])


class ParquetRangeKillTest(unittest.TestCase):
    """`pdip run` of Parquet -> DuckDB killed with SIGKILL part-way, then resumed: every row once."""

    ROWS = 400_000

    def test_a_killed_copy_resumes_after_the_last_range_committed(self):
        folder = Path(tempfile.mkdtemp(prefix="pdip-duckdb-kill-"))
        self.addCleanup(shutil.rmtree, folder, ignore_errors=True)
        table = pyarrow.table({"id": pyarrow.array(range(self.ROWS), pyarrow.int32()), "label": ["x" * 40] * self.ROWS})
        pyarrow.parquet.write_table(table, folder / "in.parquet", row_group_size=10_000)
        (folder / "op.yml").write_text(
            "name: kill\nintegrations:\n  - name: copy\n"
            f"    source: {{kind: parquet, path: {folder / 'in.parquet'}}}\n"
            f"    target: {{kind: duckdb, database: {folder / 'out.duckdb'}, table: items}}\n"
            "    create_target: true\n    batch_size: 10000\n",
            encoding="utf-8",
        )
        command = [sys.executable, "-m", "pdip", "run", str(folder / "op.yml"), "--no-progress"]
        options = {"cwd": folder, "stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
        process = subprocess.Popen([*command, "--execution-id", "kill-1"], start_new_session=True, **options)
        wal = folder / "out.duckdb.wal"  # each 10,000-row commit goes through the write-ahead log
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if wal.exists() and wal.stat().st_size > 2_000_000:
                os.killpg(process.pid, signal.SIGKILL)
                break
            time.sleep(0.01)
        process.communicate(timeout=30)
        self.assertEqual(process.returncode, -signal.SIGKILL, "the run ended before it could be killed")
        with duckdb.connect(str(folder / "out.duckdb")) as database:
            (before,) = database.execute("SELECT count(*) FROM items").fetchone()
        self.assertTrue(0 < before < self.ROWS, before)
        resumed = subprocess.run([*command, "--resume"], timeout=120, **options)
        self.assertEqual(resumed.returncode, 0, resumed.stdout)
        self.assertIn(f"{self.ROWS - before} written", resumed.stdout)
        with duckdb.connect(str(folder / "out.duckdb")) as database:
            found = database.execute("SELECT count(*), count(DISTINCT id), sum(id) FROM items").fetchone()
        self.assertEqual(found, (self.ROWS, self.ROWS, self.ROWS * (self.ROWS - 1) // 2))
