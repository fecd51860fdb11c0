"""`schema: evolve | freeze | discard_row | discard_value`: what a SQL target does with a source
column it lacks and with a source type wider than its column's, on SQLite, PostgreSQL and MariaDB.
"""

import sqlite3
import tempfile
import unittest
import uuid
from pathlib import Path

import sqlalchemy as sa

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation
from pdip.integrator.adapters.sql.evolution import created_by_pdip
from pdip.integrator.base import Integrator
from pdip.integrator.history import execution_details
from tests.support import servers


class SchemaEvolutionContract:
    """Subclasses give `target_url()`; the source is a SQLite file whose table gains a column."""

    def target_url(self) -> str:  # pragma: no cover - each store's test class gives its own
        raise NotImplementedError

    def setUp(self):
        folder = tempfile.TemporaryDirectory(prefix="pdip-schema-")
        self.addCleanup(folder.cleanup)
        self.folder = Path(folder.name)
        self.source = self.folder / "source.db"
        self.table = f"evolve_{uuid.uuid4().hex[:8]}"
        self.url = self.target_url()
        self.engine = sa.create_engine(self.url)
        self.addCleanup(self.engine.dispose)
        self.addCleanup(self._drop)
        self.pdi = Pdi(str(self.folder)).__enter__()
        self.addCleanup(self.pdi.__exit__, None, None, None)

    def _drop(self):
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {self.table}")

    def source_sql(self, *statements: str) -> None:
        with sqlite3.connect(self.source) as database:
            for statement in statements:
                database.execute(statement)

    def run_copy(self, schema=None, create=True, max_errors=0, name="copy", truncate=False):
        copy = Integration(
            "orders",
            source=Connection("sqlite", {"database": str(self.source), "table": "orders"}),
            target=Connection("sql", {"url": self.url, "table": self.table}),
            create_target=create,
            truncate_target=truncate,
            schema=schema,
            max_errors=max_errors,
        )
        return self.pdi.get(Integrator).integrate(Operation(name, [copy], executor="inline"))

    def target_rows(self) -> list[tuple]:
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.exec_driver_sql(f"SELECT * FROM {self.table} ORDER BY id")]

    def target_columns(self) -> dict[str, sa.types.TypeEngine]:
        return {column["name"]: column["type"] for column in sa.inspect(self.engine).get_columns(self.table)}

    def first_copy(self):
        self.source_sql("CREATE TABLE orders (id INTEGER, label VARCHAR(10))", "INSERT INTO orders VALUES (1, 'a')")
        result = self.run_copy()
        self.assertTrue(result.ok, result.integrations[0].error)
        self.source_sql("ALTER TABLE orders ADD COLUMN note TEXT", "INSERT INTO orders VALUES (2, 'b', 'late')")

    def users_table(self):
        """The target table made by the user, not by pdip: freeze by default."""
        self.source_sql(
            "CREATE TABLE orders (id INTEGER, label VARCHAR(10), note TEXT)",
            "INSERT INTO orders VALUES (1, 'a', NULL), (2, 'b', 'late')",
        )
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {self.table} (id INTEGER, label VARCHAR(10))")

    def test_a_table_pdip_created_gains_the_new_source_column_by_default(self):
        self.first_copy()
        result = self.run_copy(name="again")
        self.assertTrue(result.ok, result.integrations[0].error)
        self.assertEqual(self.target_rows(), [(1, "a", None), (1, "a", None), (2, "b", "late")])
        self.assertEqual(result["orders"].rows_dead_lettered, 0)
        self.assertEqual(len(result["orders"].schema_changes), 1)
        self.assertIn("added column 'note'", result["orders"].schema_changes[0])
        record = self.pdi.get(Integrator).state.known_execution(result.execution_id)
        shown = "\n".join(execution_details(record, {}))
        self.assertIn("orders: schema: added column 'note'", shown)

    def test_a_users_table_is_frozen_by_default_and_the_run_refused_before_any_row(self):
        self.users_table()
        result = self.run_copy()
        self.assertFalse(result.ok)
        error = result["orders"].error
        self.assertIn("'note'", error)
        self.assertIn("schema: freeze", error)
        self.assertEqual(self.target_rows(), [])
        self.assertEqual(set(self.target_columns()), {"id", "label"})

    def test_a_frozen_table_is_not_emptied_by_truncate_target_before_the_refusal(self):
        self.users_table()
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"INSERT INTO {self.table} VALUES (9, 'kept')")
        result = self.run_copy(truncate=True)
        self.assertFalse(result.ok)
        self.assertIn("'note'", result["orders"].error)
        self.assertEqual(self.target_rows(), [(9, "kept")])

    def test_evolve_asked_for_changes_a_users_table_too(self):
        self.users_table()
        result = self.run_copy(schema="evolve")
        self.assertTrue(result.ok, result["orders"].error)
        self.assertEqual(self.target_rows(), [(1, "a", None), (2, "b", "late")])

    def test_freeze_asked_for_refuses_a_table_pdip_created(self):
        self.first_copy()
        result = self.run_copy(schema="freeze", name="again")
        self.assertFalse(result.ok)
        self.assertIn("'note'", result["orders"].error)
        self.assertEqual(self.target_rows(), [(1, "a")])

    def test_discard_row_dead_letters_each_row_that_carries_the_new_column(self):
        self.users_table()
        result = self.run_copy(schema="discard_row", max_errors=5)
        self.assertTrue(result.ok, result["orders"].error)
        self.assertEqual(self.target_rows(), [(1, "a")])
        letters = self.pdi.get(Integrator).state.dead_letters(result.execution_id)
        self.assertEqual([letter["row"] for letter in letters], [{"id": 2, "label": "b", "note": "late"}])
        self.assertIn("'note'", letters[0]["reason"])
        self.assertIn("discard_row", letters[0]["reason"])
        self.assertEqual(letters[0]["position"], 2)

    def test_discard_value_writes_the_row_without_the_value_and_counts_it(self):
        self.users_table()
        result = self.run_copy(schema="discard_value")
        self.assertTrue(result.ok, result["orders"].error)
        self.assertEqual(self.target_rows(), [(1, "a"), (2, "b")])
        self.assertEqual(result["orders"].values_discarded, {"note": 1})
        self.assertEqual(result["orders"].rows_dead_lettered, 0)
        record = self.pdi.get(Integrator).state.known_execution(result.execution_id)
        self.assertIn("orders: schema: 1 value of column 'note' discarded", "\n".join(execution_details(record, {})))

    def test_a_wider_source_type_widens_the_column_under_evolve(self):
        self.source_sql("CREATE TABLE orders (id INTEGER, label VARCHAR(10))", "INSERT INTO orders VALUES (1, 'a')")
        self.assertTrue(self.run_copy().ok)
        self.source_sql(
            "DROP TABLE orders",
            "CREATE TABLE orders (id BIGINT, label VARCHAR(40))",
            f"INSERT INTO orders VALUES ({2**40}, '{'x' * 40}')",
        )
        result = self.run_copy(name="again")
        self.assertTrue(result.ok, result["orders"].error)
        self.assertEqual(self.target_rows(), [(1, "a"), (2**40, "x" * 40)])
        self.assert_widened(result["orders"].schema_changes)

    def assert_widened(self, changes):
        columns = self.target_columns()
        self.assertIsInstance(columns["id"], sa.BigInteger)
        self.assertEqual(columns["label"].length, 40)
        self.assertEqual(len(changes), 2, changes)
        self.assertIn("widened column 'id'", changes[0])

    def test_a_wider_source_type_is_not_widened_otherwise_and_what_does_not_fit_is_dead_lettered(self):
        self.source_sql("CREATE TABLE orders (id INTEGER, label VARCHAR(10))", "INSERT INTO orders VALUES (1, 'a')")
        self.assertTrue(self.run_copy().ok)
        self.source_sql("DROP TABLE orders", "CREATE TABLE orders (id INTEGER, label VARCHAR(40))")
        self.source_sql("INSERT INTO orders VALUES (2, 'b')", f"INSERT INTO orders VALUES (3, '{'x' * 40}')")
        result = self.run_copy(schema="discard_value", name="again", max_errors=1)
        self.assertTrue(result.ok, result["orders"].error)
        self.assertEqual(result["orders"].schema_changes, [])
        self.assert_too_long_refused(result)

    def test_a_wider_source_type_under_freeze_refuses_the_run_before_any_row_is_written(self):
        self.source_sql("CREATE TABLE orders (id INTEGER, label VARCHAR(10))", "INSERT INTO orders VALUES (1, 'a')")
        self.assertTrue(self.run_copy().ok)
        self.source_sql("DROP TABLE orders", "CREATE TABLE orders (id INTEGER, label VARCHAR(40))")
        self.source_sql("INSERT INTO orders VALUES (2, 'b')")
        result = self.run_copy(schema="freeze", name="again")
        self.assert_wider_refused(result)

    def assert_wider_refused(self, result):
        self.assertFalse(result.ok)
        self.assertIn(
            "column 'label' is VARCHAR(10) at the table and VARCHAR(40) at the source, and schema: freeze "
            "(the integration's) refuses to widen it",
            result["orders"].error,
        )
        self.assertEqual(self.target_rows(), [(1, "a")])

    def assert_too_long_refused(self, result):
        self.assertEqual(self.target_rows(), [(1, "a"), (2, "b")])
        self.assertEqual(self.target_columns()["label"].length, 10)
        letters = self.pdi.get(Integrator).state.dead_letters(result.execution_id)
        self.assertEqual([letter["row"]["id"] for letter in letters], [3])

    def test_the_tables_pdip_created_are_marked_in_the_target_database(self):
        self.source_sql("CREATE TABLE orders (id INTEGER)")
        self.assertFalse(created_by_pdip(self.engine, None, self.table))
        self.assertTrue(self.run_copy().ok)
        self.assertTrue(created_by_pdip(self.engine, None, self.table))


class SqliteSchemaEvolutionTest(SchemaEvolutionContract, unittest.TestCase):
    def target_url(self):
        return f"sqlite:///{self.folder / 'target.db'}"

    def assert_widened(self, changes):
        """SQLite keeps any integer in INTEGER and enforces no length: nothing to widen."""
        self.assertEqual(changes, [])

    def assert_too_long_refused(self, result):
        self.assertEqual(self.target_rows(), [(1, "a"), (2, "b"), (3, "x" * 40)])

    def assert_wider_refused(self, result):
        self.assertTrue(result.ok, result["orders"].error)
        self.assertEqual(self.target_rows(), [(1, "a"), (2, "b")])


class PostgresSchemaEvolutionTest(SchemaEvolutionContract, unittest.TestCase):
    def target_url(self):
        return servers.postgres_url()


class PostgresQueryTargetTest(unittest.TestCase):
    def test_a_table_created_from_a_querys_result_is_marked_as_pdips(self):
        url, table = servers.postgres_url(), f"query_{uuid.uuid4().hex[:8]}"
        engine = sa.create_engine(url)
        self.addCleanup(engine.dispose)
        self.addCleanup(SchemaEvolutionContract._drop, type("T", (), {"engine": engine, "table": table})())
        copy = Integration(
            "query",
            source=Connection("sql", {"url": url, "query": "SELECT 1 AS id, 'a'::text AS label"}),
            target=Connection("sql", {"url": url, "table": table}),
            create_target=True,
        )
        with Pdi(tempfile.mkdtemp(prefix="pdip-schema-")) as pdi:
            result = pdi.get(Integrator).integrate(Operation("query", [copy], executor="inline"))
        self.assertTrue(result.ok, result["query"].error)
        self.assertTrue(created_by_pdip(engine, None, table))


class MariaDbSchemaEvolutionTest(SchemaEvolutionContract, unittest.TestCase):
    def target_url(self):
        return servers.mysql_url()


if __name__ == "__main__":
    unittest.main()
