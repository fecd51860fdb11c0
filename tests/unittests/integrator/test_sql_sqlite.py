"""The SQL adapter on SQLite files (no server): stored values passed through, key ranges,
resumable positions, positions stored with the rows, and tables created from the source's types."""

import dataclasses
import pickle
import tempfile
import types
import unittest

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.sql import postgres as sql_postgres
from pdip.integrator.adapters.sql import rows as sql_module
from pdip.integrator.adapters.sql import sqlite as sql_sqlite
from pdip.integrator.adapters.sql.rows import ColumnTypes, SqlSource, SqlTarget
from pdip.integrator.batch import Batch
from pdip.integrator.errors import OperationError
from pdip.integrator.models import Connection
from pdip.integrator.results import WorkerContext
from tests.support.sqlite_items import create_items, items

RAW = ("sqlite-values",)


class SqliteAdapterTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="pdip-sql-unit-")
        self.url = f"sqlite:///{self.folder}/data.db"
        create_items(f"{self.folder}/data.db")
        self.engine = sa.create_engine(self.url)
        self.addCleanup(self.engine.dispose)
        with self.engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE loose (k integer, label text)")
            connection.exec_driver_sql(
                "INSERT INTO loose VALUES (?, ?)", [(None, "none"), *[(i, f"l{i}") for i in range(10, 31)]]
            )

    def source(self, **settings) -> SqlSource:
        source = SqlSource(Connection("sql", {"url": self.url, **settings}), WorkerContext("unit", None))
        self.addCleanup(source.close)
        return source

    def target(self, table: str, **settings) -> SqlTarget:
        target = SqlTarget(
            Connection("sql", {"url": self.url, "table": table, **settings}), WorkerContext("unit", None)
        )
        self.addCleanup(target.close)
        return target

    def stored(self, sql: str) -> list[tuple]:
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.exec_driver_sql(sql)]

    def test_a_reader_takes_the_table_the_source_that_planned_its_read_reflected(self):
        request = ReadRequest(batch_size=10)

        def statements_of(reader: SqlSource) -> list[str]:
            run: list[str] = []
            sa.event.listen(reader.engine, "before_cursor_execute", lambda *event: run.append(event[2]))
            self.assertEqual([row[0] for batch in reader.read(request) for row in batch.rows], list(range(1, 26)))
            return [statement for statement in run if "PRAGMA" in statement]

        self.assertNotEqual(statements_of(self.source(table="items")), [])  # alone, a reader reflects the table
        planner = self.source(table="items")
        planner.schema(request)
        reader = self.source(table="items")
        reader.inherit(planner)
        self.assertEqual(statements_of(reader), [])
        other = self.source(table="loose")  # another table's source takes nothing from it
        other.inherit(planner)
        self.assertEqual(len([row for batch in other.read(request) for row in batch.rows]), 22)
        unplanned = self.source(table="items")
        unplanned.inherit(self.source(table="items"))  # a planner that reflected nothing hands nothing over
        self.assertNotEqual(statements_of(unplanned), [])

    def test_stored_values_pass_through_from_table_to_table(self):
        target = self.target("copy")
        self.assertEqual(
            target.accepts(), ("sqlite-rowid-range", *RAW)
        )  # ranges between files: see test_sql_sqlite_ranges
        target.prepare(["id"], create=True, truncate=False)
        batches = list(self.source(table="items").read(ReadRequest(10, accept=RAW)))
        self.assertEqual([len(batch) for batch in batches], [10, 10, 5])
        self.assertEqual([batch.position for batch in batches], [10, 20, 25])
        self.assertEqual(batches[0].raw_format, "sqlite-values")
        self.assertIsInstance(batches[0].types, ColumnTypes)
        for batch in batches:
            self.assertEqual(target.write(pickle.loads(pickle.dumps(batch))).written, len(batch))
        self.assertEqual(self.stored("SELECT * FROM copy ORDER BY id"), items(25))
        self.assertEqual(
            self.stored("SELECT type FROM pragma_table_info('copy') WHERE name = 'created'"), [("TIMESTAMP",)]
        )

    def test_without_accept_rows_are_decoded_by_sqlalchemy(self):
        batches = list(self.source(table="items").read(ReadRequest(30)))
        self.assertFalse(batches[0].is_raw)
        self.assertEqual(batches[0].rows[0][2].year, 2026)  # a datetime, not SQLite's text

    def test_a_keyed_read_orders_by_key_and_resumes_after_the_last_key(self):
        source = self.source(table="items")
        batches = list(source.read(ReadRequest(10, key=["id"], accept=RAW)))
        self.assertEqual(batches[0].position, {"key": [10], "rows": 10})
        resumed = list(source.read(ReadRequest(10, key=["id"], accept=RAW, resume={"key": [20], "rows": 20})))
        self.assertEqual([row[0] for row in resumed[0].rows], [21, 22, 23, 24, 25])
        self.assertEqual(resumed[0].position, {"key": [25], "rows": 25})
        generic = list(source.read(ReadRequest(10, key=["id"], resume={"key": [20], "rows": 20})))
        self.assertEqual([row[0] for row in generic[0].rows], [21, 22, 23, 24, 25])

    def test_an_unkeyed_read_resumes_by_skipping_the_rows_it_read(self):
        resumed = list(self.source(table="items").read(ReadRequest(10, resume=20)))
        self.assertEqual([row[0] for row in resumed[0].rows], [21, 22, 23, 24, 25])
        self.assertEqual(resumed[0].position, 25)
        self.assertEqual(list(self.source(table="items").read(ReadRequest(10, resume={"rows": 25}))), [])

    def test_key_ranges_cover_every_row_once_nulls_included(self):
        source = self.source(table="loose")
        parts = source.partitions(ReadRequest(4, key=["k"], accept=RAW), 3)
        self.assertEqual([part.partition for part in parts], ["1/4", "2/4", "3/4", "4/4"])
        self.assertEqual(
            [part.bounds for part in parts],
            [
                {"column": "k", "low": None, "high": 17},
                {"column": "k", "low": 17, "high": 24},
                {"column": "k", "low": 24, "high": None},
                {"column": "k", "nulls": True},  # the NULL keys: a partition of their own
            ],
        )
        seen = []
        for part in parts:
            for batch in source.read(part):
                self.assertEqual(batch.partition, part.partition)
                seen.extend(row[0] for row in batch.rows)
        self.assertEqual(sorted(seen, key=lambda key: -1 if key is None else key), [None, *range(10, 31)])
        nulls = list(source.read(parts[3]))
        self.assertEqual([(len(batch), batch.position) for batch in nulls], [(1, 1)])  # counted, not keyed
        self.assertEqual(list(source.read(dataclasses.replace(parts[3], resume=1))), [])
        self.assertEqual(len(source.partitions(ReadRequest(4, key=["k"], cursor="k", after=9), 3)), 3)  # no NULL left

    def test_each_key_range_is_one_condition_an_index_on_the_key_answers(self):
        with self.engine.begin() as connection:
            connection.exec_driver_sql("CREATE INDEX loose_k ON loose (k)")
        source = self.source(table="loose")
        for part in source.partitions(ReadRequest(4, key=["k"]), 3):
            plan = source._plan(part)
            sql = str(plan.select.compile(self.engine, compile_kwargs={"literal_binds": True}))
            with self.subTest(part.bounds):
                self.assertNotIn(" OR ", sql)
                with self.engine.connect() as connection:
                    steps = [row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
                self.assertTrue(
                    any("USING INDEX loose_k" in step or "USING COVERING INDEX" in step for step in steps), steps
                )

    def test_a_table_is_split_on_its_integer_primary_key_and_a_query_on_its_key(self):
        items = self.source(table="items")
        parts = items.partitions(ReadRequest(10), 2)
        self.assertEqual([part.bounds["column"] for part in parts], ["id", "id"])
        last = list(items.read(parts[1]))[-1]
        self.assertEqual(last.position, {"key": [25], "rows": 12})  # read in primary key order
        query = self.source(query="SELECT k, label FROM loose WHERE k > 20")
        parts = query.partitions(ReadRequest(10, key=["k"]), 2)
        self.assertEqual([(part.bounds["low"], part.bounds["high"]) for part in parts], [(None, 26), (26, None)])
        rows = [row for part in parts for batch in query.read(part) for row in batch.rows]
        self.assertEqual(sorted(row[0] for row in rows), list(range(21, 31)))
        filtered = self.source(table="items").partitions(ReadRequest(10, cursor="id", after=20), 5)
        self.assertEqual([(part.bounds["low"], part.bounds["high"]) for part in filtered][-1], (25, None))

    def test_reads_that_cannot_be_split_stay_whole(self):
        request = ReadRequest(10)
        self.assertEqual(self.source(table="loose").partitions(request, 4), [request])  # no key, no primary key
        self.assertEqual(self.source(table="items").partitions(request, 1), [request])
        self.assertEqual(self.source(query="SELECT * FROM loose").partitions(request, 4), [request])
        texts = ReadRequest(10, key=["name"])
        self.assertEqual(self.source(table="items").partitions(texts, 4), [texts])
        empty = ReadRequest(10, key=["id"], cursor="id", after=1000)
        self.assertEqual(self.source(table="items").partitions(empty, 4), [empty])
        one = self.source(table="items").partitions(ReadRequest(10, cursor="id", after=24), 4)
        self.assertEqual(len(one), 1)

    def test_an_unknown_column_is_named_with_the_table_columns(self):
        with self.assertRaises(OperationError) as caught:
            list(self.source(table="items").read(ReadRequest(10, key=["nope"])))
        self.assertIn(
            "table 'items' has no column 'nope' (its columns: id, name, created, price)", str(caught.exception)
        )

    def test_positions_are_stored_with_each_batch_under_the_slot_and_partition(self):
        target = self.target("kept")
        target.position_slot = "op/copy"
        target.prepare(["id"], create=True, truncate=False)
        source = self.source(table="items")
        for part in source.partitions(ReadRequest(10, key=["id"], accept=RAW), 2):
            for batch in source.read(part):
                target.write(batch)
        self.assertEqual(target.durable_position("op/copy/1/2"), {"key": [13], "rows": 13})
        with target.engine.connect() as connection:  # after the first batch, commits do not wait for the disk
            self.assertEqual(connection.exec_driver_sql("PRAGMA synchronous").scalar(), 1)
        self.assertEqual(target.durable_position("op/copy/2/2"), {"key": [25], "rows": 12})
        self.assertIsNone(target.durable_position("op/copy"))
        self.assertEqual(len(self.stored("SELECT * FROM kept")), 25)
        target.write(Batch(["id"], [], position=0))
        self.assertEqual(target.durable_position("op/copy"), 0)
        target.forget_positions("op/copy")
        self.assertIsNone(target.durable_position("op/copy/1/2"))

    def test_refused_stored_values_are_reported_and_the_rest_written_with_the_position(self):
        with self.engine.begin() as connection:
            connection.exec_driver_sql(
                "CREATE TABLE strict (id integer, name text CHECK (length(name) < 7), created text)"
            )
        target = self.target("strict")
        target.position_slot = "op/strict"
        target.prepare(["id"], create=False, truncate=False)
        batch = next(self.source(query="SELECT id, name, created FROM items").read(ReadRequest(12, accept=RAW)))
        result = target.write(pickle.loads(pickle.dumps(batch)))
        self.assertEqual(result.written, 9)
        self.assertEqual([row[0] for row, _ in result.rejected], [10, 11, 12])
        self.assertIn("CHECK constraint failed", result.rejected[0][1])
        self.assertEqual(self.stored("SELECT created FROM strict WHERE id = 1"), [("2026-01-01 00:00:01.000000",)])
        self.assertEqual(target.durable_position("op/strict"), 12)

    def test_truncate_empties_an_existing_table(self):
        target = self.target("items")
        target.prepare(["id"], create=False, truncate=True)
        target.write(Batch(["id", "name"], [(1, "only")]))
        self.assertEqual(self.stored("SELECT id, name FROM items"), [(1, "only")])

    def test_a_table_from_another_database_types_gets_their_generic_form(self):
        declared = ColumnTypes(
            "postgresql",
            (
                postgresql.DOUBLE_PRECISION(),
                postgresql.VARCHAR(30, collation="C"),
                postgresql.INET(),
                sa.Integer(),
                postgresql.ARRAY(sa.Integer()),
            ),
        )
        batch = Batch(["price", "name", "address", "count", "list"], [(1.5, "a", "10.0.0.1", 3, None)], types=declared)
        target = self.target("typed")
        target.prepare(batch.columns, create=True, truncate=False)
        target.write(batch)
        kinds = dict(self.stored("SELECT name, type FROM pragma_table_info('typed')"))
        expected = {"price": "DOUBLE", "name": "VARCHAR(30)", "address": "VARCHAR(255)", "count": "INTEGER"}
        self.assertEqual(kinds, {**expected, "list": "VARCHAR(255)"})  # no ARRAY in SQLite: the values decide
        self.assertEqual(self.stored("SELECT * FROM typed"), [(1.5, "a", "10.0.0.1", 3, None)])

    def test_binary_copy_data_is_decoded_for_a_target_that_is_not_postgresql(self):
        payload = sql_postgres.HEADER + b"\x00\x01\x00\x00\x00\x04\x00\x00\x00\x2a" + sql_postgres.TRAILER
        batch = Batch.raw(["answer"], "postgresql-copy-binary", payload, 1, layout=(23,))
        target = self.target("decoded")
        target.prepare(batch.columns, create=True, truncate=False)
        self.assertEqual(target.write(batch).written, 1)
        self.assertEqual(self.stored("SELECT answer FROM decoded"), [(42,)])

    def test_a_target_needs_a_table_and_a_source_a_table_or_query(self):
        target = SqlTarget(Connection("sqlite", {"url": self.url}), WorkerContext("unit", None))
        self.addCleanup(target.close)
        target.prepare(["id"], create=True, truncate=False)
        with self.assertRaisesRegex(OperationError, "a sqlite target needs `table`"):
            target.write(Batch(["id"], [(1,)]))
        with self.assertRaisesRegex(OperationError, r"a sql connection needs `table` \(or, for a source, `query`\)"):
            list(self.source().read(ReadRequest(10)))

    def test_postgresql_through_another_driver_takes_no_raw_format(self):
        from sqlalchemy.dialects.postgresql import psycopg2

        engine = types.SimpleNamespace(dialect=psycopg2.dialect())  # no connection, no driver import
        self.assertEqual(sql_module._raw_formats(engine), ())

    def test_describe_names_the_database_kind_and_table(self):
        self.assertEqual(self.source(table="items").describe(), "sqlite:items")
        self.assertEqual(self.source(query="SELECT 1").describe(), "sqlite:query")


class SavepointsNestTest(unittest.TestCase):
    """Python's sqlite3 lets a first SAVEPOINT begin a transaction of its own, which its RELEASE
    commits: a row written in a savepoint of a transaction rolled back afterwards stayed."""

    def written_in_a_savepoint_then_rolled_back(self, nested: bool) -> int:
        folder = tempfile.mkdtemp(prefix="pdip-savepoints-")
        engine = sa.create_engine(f"sqlite:///{folder}/s.db")
        self.addCleanup(engine.dispose)
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (id integer PRIMARY KEY)")
        with engine.connect() as connection:
            with connection.begin() as transaction:
                if nested:
                    sql_sqlite.savepoints_nest(connection)
                with connection.begin_nested():
                    connection.exec_driver_sql("INSERT INTO t VALUES (1)")
                transaction.rollback()
            return connection.exec_driver_sql("SELECT count(*) FROM t").scalar()

    def test_savepoints_nest_in_the_transaction_begun(self):
        self.assertEqual(self.written_in_a_savepoint_then_rolled_back(nested=False), 1)  # the driver's way
        self.assertEqual(self.written_in_a_savepoint_then_rolled_back(nested=True), 0)


if __name__ == "__main__":
    unittest.main()
