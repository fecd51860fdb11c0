"""`write: merge` and `write: replace` (docs/adr/0014) against PostgreSQL and MariaDB: one row per
key with the latest values, deletes by flag, rows of one batch folded, refused rows dead-lettered,
and a replaced table that readers never see empty or half-written."""

import tempfile
import threading
import unittest
import uuid
from pathlib import Path

import sqlalchemy as sa

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation, StateStore
from pdip.integrator.base import Integrator
from tests.support import servers
from tests.unittests.test_cli import run

ROWS = 101


class _Dispositions:
    """The same cases on each server; `url()` and the SQL types come from the subclass."""

    BOOLEAN = "boolean"
    TRUE = "true"

    def url(self) -> str:
        raise NotImplementedError

    def setUp(self):
        self.database = self.url()
        self.engine = sa.create_engine(self.database)
        self.addCleanup(self.engine.dispose)
        self.prefix = f"w_{uuid.uuid4().hex[:8]}"
        self.folder = Path(tempfile.mkdtemp(prefix="pdip-write-"))
        self.pdi = Pdi(root_directory=self.folder)
        self.addCleanup(self.pdi.cleanup)
        self.addCleanup(self.drop)
        self.create(
            "source", f"seq integer primary key, id integer, name varchar(20), updated integer, gone {self.BOOLEAN}"
        )
        self.sql(
            f"INSERT INTO {self.prefix}_source VALUES "
            + ", ".join(f"({i}, {i}, 'n{i}', {i}, false)" for i in range(1, ROWS + 1))
        )
        self.create("target", f"id integer primary key, name varchar(20), updated integer, gone {self.BOOLEAN}")

    def create(self, suffix: str, columns: str) -> None:
        self.sql(f"CREATE TABLE {self.prefix}_{suffix} ({columns})")

    def drop(self) -> None:
        with self.engine.begin() as connection:
            for name in sa.inspect(connection).get_table_names():
                if name.startswith(self.prefix):
                    connection.exec_driver_sql(f"DROP TABLE {name}")

    def sql(self, *statements: str) -> list:
        with self.engine.begin() as connection:
            found = [connection.exec_driver_sql(statement) for statement in statements]
            return found[-1].all() if found[-1].returns_rows else []

    def integration(self, name="items", table="target", **settings) -> Integration:
        source = settings.pop("source", Connection("sql", {"url": self.database, "table": f"{self.prefix}_source"}))
        settings.setdefault("columns", ["id", "name", "updated", "gone"])
        return Integration(
            name,
            source=source,
            target=Connection("sql", {"url": self.database, "table": f"{self.prefix}_{table}"}),
            batch_size=settings.pop("batch_size", 30),
            **settings,
        )

    def integrate(self, *integrations: Integration, name=None, **options):
        operation = Operation(name or self.prefix, list(integrations))
        return self.pdi.get(Integrator).integrate(operation, **options)

    def test_an_incremental_merge_leaves_one_row_per_key_and_deletes_flagged_ones(self):
        merge = self.integration(mode="incremental", cursor="updated", write="merge", delete_column="gone")
        self.assertTrue(self.integrate(merge).ok)
        self.sql(
            f"UPDATE {self.prefix}_source SET name = 'changed', updated = 500 WHERE id = 7",
            f"UPDATE {self.prefix}_source SET gone = {self.TRUE}, updated = 501 WHERE id = 8",
        )
        result = self.integrate(merge)
        self.assertEqual((result.ok, result["items"].rows_read), (True, 2))
        target = f"{self.prefix}_target"
        self.assertEqual(self.sql(f"SELECT count(*), count(DISTINCT id) FROM {target}"), [(ROWS - 1, ROWS - 1)])
        self.assertEqual(self.sql(f"SELECT name, updated FROM {target} WHERE id = 7"), [("changed", 500)])
        self.assertEqual(self.sql(f"SELECT count(*) FROM {target} WHERE id = 8"), [(0,)])

    def test_a_merge_folds_rows_of_one_key_into_the_last_and_updates_the_keys_there(self):
        self.sql(f"INSERT INTO {self.prefix}_target VALUES (1, 'stale', 0, false), (999, 'kept', 0, false)")
        # ids 1..10 ten times each, in `seq` order: the last of each key is seq 91..101 -> name n91..n100, n101
        query = f"SELECT 1 + mod(seq - 1, 10) AS id, name, updated, gone FROM {self.prefix}_source ORDER BY seq"
        merge = self.integration(
            write="merge",
            columns=None,
            batch_size=200,
            source=Connection("sql", {"url": self.database, "query": query}),
        )
        result = self.integrate(merge)
        self.assertTrue(result.ok, result["items"].error)
        rows = self.sql(f"SELECT id, name FROM {self.prefix}_target ORDER BY id")
        self.assertEqual(rows, [(1, "n101"), *[(i, f"n{90 + i}") for i in range(2, 11)], (999, "kept")])

    def test_refused_rows_are_dead_lettered_and_the_others_merged(self):
        self.create(
            "checked", "id integer primary key, name varchar(20) check (name <> 'n5'), updated integer, gone integer"
        )
        self.sql(f"INSERT INTO {self.prefix}_checked VALUES (1, 'stale', 0, 0)")
        merge = self.integration(table="checked", write="merge", max_errors=3, columns=["id", "name", "updated"])
        result = self.integrate(merge, execution_id=f"{self.prefix}-refused")
        self.assertEqual((result.ok, result["items"].rows_dead_lettered), (True, 1))
        letters = self.pdi.get(StateStore).dead_letters(f"{self.prefix}-refused")
        self.assertEqual(letters[0]["row"]["id"], 5)
        self.assertEqual(self.sql(f"SELECT count(*), min(name) FROM {self.prefix}_checked"), [(ROWS - 1, "n1")])

    def test_replace_swaps_the_table_in_and_readers_never_see_it_empty(self):
        self.sql(
            f"INSERT INTO {self.prefix}_target VALUES "
            + ", ".join(f"({i}, 'old', 0, false)" for i in range(1000, 1050))
        )
        seen: set[int] = set()
        done = threading.Event()
        reader = sa.create_engine(self.database)
        self.addCleanup(reader.dispose)

        def watch():
            while not done.is_set():
                with reader.connect() as connection:
                    seen.add(connection.exec_driver_sql(f"SELECT count(*) FROM {self.prefix}_target").scalar())

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            result = self.integrate(self.integration(write="replace", batch_size=10))
        finally:
            done.set()
            watcher.join()
        self.assertTrue(result.ok, result["items"].error)
        self.assertEqual(self.sql(f"SELECT count(*), min(id), max(id) FROM {self.prefix}_target"), [(ROWS, 1, ROWS)])
        self.assertTrue(seen <= {50, ROWS}, seen)
        self.assertNotIn(f"{self.prefix}_target_pdip_replace", sa.inspect(self.engine).get_table_names())

    def test_a_replace_that_fails_leaves_the_table_as_it_was(self):
        self.create(
            "checked", "id integer primary key, name varchar(20) check (name <> 'n50'), updated integer, gone integer"
        )
        self.sql(f"INSERT INTO {self.prefix}_checked VALUES (1000, 'old', 0, 0)")
        failed = self.integrate(self.integration(table="checked", write="replace", columns=["id", "name", "updated"]))
        self.assertEqual(failed["items"].status, "failed")
        self.assertEqual(self.sql(f"SELECT id, name FROM {self.prefix}_checked"), [(1000, "old")])

    def test_a_table_created_from_a_query_to_be_merged_into_is_keyed_on_the_merge_key(self):
        query = f"SELECT id, name FROM {self.prefix}_source"
        merge = self.integration(
            table="created",
            write="merge",
            key=["id"],
            create_target=True,
            columns=None,
            source=Connection("sql", {"url": self.database, "query": query}),
        )
        self.assertTrue(self.integrate(merge).ok)
        self.assertTrue(self.integrate(merge, name=f"{self.prefix}-again").ok)
        self.assertEqual(self.sql(f"SELECT count(*), count(DISTINCT id) FROM {self.prefix}_created"), [(ROWS, ROWS)])
        primary = sa.inspect(self.engine).get_pk_constraint(f"{self.prefix}_created")
        self.assertEqual(primary["constrained_columns"], ["id"])


class PostgresDispositionsTest(_Dispositions, unittest.TestCase):
    def url(self) -> str:
        return servers.postgres_url()

    def test_binary_copy_and_csv_batches_are_merged_as_they_came(self):
        self.sql(f"INSERT INTO {self.prefix}_target VALUES (1, 'stale', 0, false)")
        self.create("whole", "seq integer primary key, id integer, name varchar(20), updated integer, gone boolean")
        self.sql(f"INSERT INTO {self.prefix}_whole SELECT * FROM {self.prefix}_source WHERE seq < 5")
        copied = self.integrate(self.integration(table="whole", write="merge", columns=None))
        self.assertTrue(copied.ok, copied["items"].error)
        self.assertEqual(self.sql(f"SELECT count(*) FROM {self.prefix}_whole"), [(ROWS,)])
        csv = self.folder / "items.csv"
        csv.write_text("id,name,updated,gone\n1,first,1,false\n2,two,2,false\n1,last,3,false\n3,three,3,true\n")
        from_file = self.integration(write="merge", delete_column="gone", columns=None)
        from_file.source = Connection("csv", {"path": str(csv)})
        self.sql(f"INSERT INTO {self.prefix}_target VALUES (3, 'to delete', 0, false)")
        result = self.integrate(from_file, name=f"{self.prefix}-csv")
        self.assertTrue(result.ok, result["items"].error)
        self.assertEqual(self.sql(f"SELECT id, name FROM {self.prefix}_target ORDER BY id"), [(1, "last"), (2, "two")])

    def test_a_key_another_transaction_inserts_during_the_merge_is_upserted_not_lost(self):
        """`MERGE` does not arbitrate a key inserted between its join and its insert (docs/adr/0014):
        the batch fails with a unique violation and is written again row by row, each row upserted."""
        target = f"{self.prefix}_target"
        self.sql(f"INSERT INTO {target} VALUES (1, 'stale', 0, false)")  # a key there: batches are merged
        other = self.engine.connect()
        self.addCleanup(other.close)
        held = other.begin()
        other.exec_driver_sql(f"INSERT INTO {target} VALUES (50, 'theirs', 0, false)")  # not committed yet
        outcome = []
        merging = threading.Thread(target=lambda: outcome.append(self.integrate(self.integration(write="merge"))))
        merging.start()
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            f"AND starts_with(query, 'MERGE INTO') AND position('{target}' in query) > 0"
        )
        for _ in range(600):  # the merge of the batch holding key 50 waits for the other transaction
            if self.sql(waiting) == [(1,)]:
                break
            threading.Event().wait(0.05)
        else:
            self.fail("the merge never waited for the other transaction's key")
        held.commit()
        merging.join(60)
        (result,) = outcome
        self.assertTrue(result.ok, result["items"].error)
        self.assertEqual((result["items"].rows_written, result["items"].rows_dead_lettered), (ROWS, 0))
        self.assertEqual(self.sql(f"SELECT count(*), count(DISTINCT id) FROM {target}"), [(ROWS, ROWS)])
        self.assertEqual(self.sql(f"SELECT name FROM {target} WHERE id IN (1, 50) ORDER BY id"), [("n1",), ("n50",)])

    def test_a_merge_leaves_rows_whose_values_are_the_same_as_they_were(self):
        target = f"{self.prefix}_target"
        self.sql(f"INSERT INTO {target} SELECT id, name, updated, gone FROM {self.prefix}_source")
        self.sql(f"UPDATE {target} SET name = 'stale' WHERE id = 7", f"UPDATE {target} SET gone = NULL WHERE id = 8")
        before = dict(self.sql(f"SELECT id, xmin::text FROM {target}"))
        result = self.integrate(self.integration(write="merge"))
        self.assertTrue(result.ok, result["items"].error)
        after = dict(self.sql(f"SELECT id, xmin::text FROM {target}"))
        self.assertEqual(sorted(key for key in after if after[key] != before[key]), [7, 8])  # no new row version
        self.assertEqual(
            self.sql(f"SELECT name, gone FROM {target} WHERE id IN (7, 8) ORDER BY id"), [("n7", False), ("n8", False)]
        )
        # a `json` column has no `=`: such rows are updated whether they changed or not
        for suffix in ("documents", "documents_target"):
            self.create(suffix, "id integer primary key, doc json")
            self.sql(f"INSERT INTO {self.prefix}_{suffix} VALUES (1, '{{\"a\": 1}}'), (2, '{{\"a\": 2}}')")
        self.sql(f"""UPDATE {self.prefix}_documents SET doc = '{{"a": 3}}' WHERE id = 2""")
        before = dict(self.sql(f"SELECT id, xmin::text FROM {self.prefix}_documents_target"))
        source = Connection("sql", {"url": self.database, "table": f"{self.prefix}_documents"})
        documents = self.integration(table="documents_target", write="merge", columns=None, source=source)
        self.assertTrue(self.integrate(documents, name=f"{self.prefix}-json").ok)
        found = self.sql(f"SELECT id, xmin::text, doc::text FROM {self.prefix}_documents_target ORDER BY id")
        self.assertEqual([(key, text) for key, _, text in found], [(1, '{"a": 1}'), (2, '{"a": 3}')])
        self.assertTrue(all(version != before[key] for key, version, _ in found))

    def test_a_deletion_time_deletes_and_a_count_flag_is_set_when_not_zero(self):
        self.create("stamped", "id integer primary key, name varchar(20), removed timestamp, hidden integer")
        self.sql(f"INSERT INTO {self.prefix}_stamped VALUES (1, 'a', NULL, 0), (2, 'b', NULL, 0), (3, 'c', NULL, 0)")
        self.create("stamped_target", "id integer primary key, name varchar(20), removed timestamp, hidden integer")
        self.sql(
            f"INSERT INTO {self.prefix}_stamped_target VALUES (1, 'x', NULL, 0), (2, 'y', NULL, 0), (3, 'z', NULL, 0)"
        )
        self.sql(
            f"UPDATE {self.prefix}_stamped SET removed = now() WHERE id = 1",
            f"UPDATE {self.prefix}_stamped SET hidden = 2 WHERE id = 2",
        )
        source = Connection("sql", {"url": self.database, "table": f"{self.prefix}_stamped"})
        for flag, left in (("removed", [2, 3]), ("hidden", [1, 3])):  # id 1 is not removed by `hidden`
            with self.subTest(flag):
                merge = self.integration(
                    name=flag, table="stamped_target", write="merge", delete_column=flag, columns=None, source=source
                )
                self.assertTrue(self.integrate(merge, name=f"{self.prefix}-{flag}").ok)
                self.assertEqual(
                    [row[0] for row in self.sql(f"SELECT id FROM {self.prefix}_stamped_target ORDER BY id")], left
                )

    def test_merge_and_the_upsert_before_postgresql_15_apply_a_stage_alike(self):
        """`MERGE` (PostgreSQL 15 and later) and `DELETE` + `INSERT ... ON CONFLICT` (before):
        the last staged row of a key wins, a flagged key is deleted (and not inserted when new),
        a row with the same values keeps its row version, and a table of key columns only gains
        the new keys."""
        from pdip.integrator.adapters.sql.merge import merge_staged

        columns = ["id", "name", "updated", "gone"]
        staged = "(1, 'old', 1, false), (1, 'new', 2, false), (2, 'n2', 2, false), (3, 'x', 3, true), (4, 'x', 4, true), (5, 'n5', 5, false)"
        for merges in (True, False):
            target, keys = f"{self.prefix}_applied_{int(merges)}", f"{self.prefix}_keys_{int(merges)}"
            self.create(f"applied_{int(merges)}", "id integer primary key, name text, updated integer, gone boolean")
            self.create(f"keys_{int(merges)}", "id integer primary key")
            self.sql(
                f"INSERT INTO {target} VALUES (1, 'stale', 0, false), (2, 'n2', 2, false), (3, 'kept?', 0, false)",
                f"INSERT INTO {keys} VALUES (1)",
            )
            before = dict(self.sql(f"SELECT id, xmin::text FROM {target}"))
            with self.engine.begin() as connection:
                connection.exec_driver_sql(
                    f"CREATE TEMPORARY TABLE staged ON COMMIT DROP AS SELECT * FROM {target} WITH NO DATA"
                )
                connection.exec_driver_sql(f"INSERT INTO staged VALUES {staged}")
                merge_staged(connection, target, "staged", columns, ["id"], "s.gone IS TRUE", True, merges)
                merge_staged(connection, keys, "staged", ["id"], ["id"], None, True, merges)
            after = self.sql(f"SELECT id, name, xmin::text FROM {target} ORDER BY id")
            self.assertEqual(
                [(key, name, version == before.get(key)) for key, name, version in after],
                [(1, "new", False), (2, "n2", True), (5, "n5", False)],
                f"merges={merges}",
            )
            self.assertEqual(self.sql(f"SELECT id FROM {keys} ORDER BY id"), [(key,) for key in range(1, 6)], merges)

    def test_pdip_validate_asks_the_target_for_the_key_a_merge_needs(self):
        self.create("loose", "id integer, name varchar(20)")
        self.create("coded", "id integer, code integer unique, name varchar(20)")
        cases = {
            "keyed": ("target", "", 0, ""),
            "by_unique": ("coded", "key: [code]", 0, ""),
            "keyless": ("loose", "", 2, f"needs a key: table '{self.prefix}_loose' has no primary key"),
            "not_unique": ("loose", "key: [id]", 2, "key: (id) is neither the primary key nor a unique constraint"),
            "no_column": ("target", "key: [code]", 2, f"key: table '{self.prefix}_target' has no column code"),
        }
        for name, (table, key, code, expected) in cases.items():
            with self.subTest(name):
                path = self.folder / f"{name}.yml"
                path.write_text(
                    f"name: {name}\nintegrations:\n  - name: items\n    source: {{kind: memory, store: x}}\n"
                    f"    target: {{kind: sql, url: '{self.database}', table: {self.prefix}_{table}}}\n"
                    f"    write: merge\n    {key}\n"
                )
                found, _, err = run("validate", str(path))
                self.assertEqual(found, code, err)
                self.assertIn(f"{name}.yml: integration 'items': write: merge" if expected else "", err)
                self.assertIn(expected, err)


class MariaDbDispositionsTest(_Dispositions, unittest.TestCase):
    BOOLEAN = "tinyint"
    TRUE = "1"

    def url(self) -> str:
        return servers.mysql_url()


if __name__ == "__main__":
    unittest.main()
