"""A value a SQL column would store changed without an error is dead-lettered with the reason,
never stored rounded or shifted (`adapters/sql/exact.py`): a decimal with more places than its
column keeps, a fraction for an integer column, a time zone in the text of a timestamp without
one. Against SQLite, PostgreSQL and MariaDB, from untyped sources (SQLite, CSV) and typed ones."""

import sqlite3
import tempfile
import unittest
import uuid
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation, StateStore
from pdip.integrator.base import Integrator
from pdip.tracking import ChangeLogEntry
from tests.support.servers import mysql_url, postgres_url

LOG = [  # applied to a replica: the entries of keys 1 and 3 that fit are applied, in order
    ChangeLogEntry("insert", entity="items", key=1, after={"id": 1, "amount": Decimal("1.25"), "n": 1}),
    ChangeLogEntry("insert", entity="items", key=2, after={"id": 2, "amount": 12345.678, "n": 2}),
    ChangeLogEntry("update", entity="items", key=1, after={"amount": "9.999"}),
    ChangeLogEntry("update", entity="items", key=1, after={"n": 2.5}),
    ChangeLogEntry("update", entity="items", key=1, after={"amount": Decimal("3.50")}),
    ChangeLogEntry("insert", entity="items", key=3, after={"id": 3, "amount": 0.1, "n": 3.0}),
]


class ValuesKeptExactly:
    """The cases; subclasses name the target server and its column types."""

    url: str
    decimal, whole, instant = "numeric(8, 2)", "integer", "timestamp"

    def setUp(self):
        self.folder = Path(tempfile.mkdtemp(prefix="pdip-exact-"))
        self.engine = sa.create_engine(self.url)
        self.addCleanup(self.engine.dispose)
        self.table = f"pdip_exact_{uuid.uuid4().hex[:8]}"
        self.create(self.table)
        self.pdi = Pdi(root_directory=str(self.folder))
        self.addCleanup(self.pdi.cleanup)

    def create(self, name: str) -> None:
        with self.engine.begin() as connection:
            connection.exec_driver_sql(
                f"CREATE TABLE {name} (id integer primary key, amount {self.decimal}, n {self.whole}, "
                f"at {self.instant})"
            )
        self.addCleanup(self.drop, name)

    def drop(self, name: str) -> None:
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")

    def run_from(self, source: Connection) -> tuple[list[tuple], dict[int, str]]:
        integration = Integration("exact", source=source, target=self.target(), max_errors=100)
        result = self.pdi.get(Integrator).integrate(Operation("exact", [integration]))
        letters = self.pdi.get(StateStore).dead_letters(result.execution_id)
        with self.engine.connect() as connection:
            stored = connection.exec_driver_sql(f"SELECT id, amount, n FROM {self.table} ORDER BY id").all()
        return [tuple(row) for row in stored], {int(letter["row"]["id"]): letter["reason"] for letter in letters}

    def target(self) -> Connection:
        return Connection("sql", {"url": self.url, "table": self.table})

    def applied(self, log: list[ChangeLogEntry]) -> tuple[list[tuple], list[tuple[int, str]]]:
        """`log` applied to the table as a replica: its rows, the refused entries' keys and reasons."""
        source = Connection("memory", {"store": "log"})
        integration = Integration("exact", mode="changes", source=source, target=self.target(), max_errors=100)
        integrator = self.pdi.get(Integrator)
        integrator.stores["log"] = list(log)
        result = integrator.integrate(Operation("exact", [integration], executor="inline"))
        self.assertTrue(result.ok, result["exact"].error)
        letters = self.pdi.get(StateStore).dead_letters(result.execution_id)
        with self.engine.connect() as connection:
            stored = connection.exec_driver_sql(f"SELECT id, amount, n FROM {self.table} ORDER BY id").all()
        return [tuple(row) for row in stored], [(letter["row"]["entry"]["key"], letter["reason"]) for letter in letters]

    def test_a_change_log_value_the_replica_would_change_is_refused_and_the_others_applied(self):
        stored, refused = self.applied(LOG)
        self.assertEqual(stored, [(1, Decimal("3.50"), 1), (3, Decimal("0.10"), 3)])
        self.assertEqual([key for key, _ in refused], [2, 1, 1])
        self.assertIn(
            f"column 'amount' is {self.decimal.upper()}: 12345.678 has more than 2 decimal places", refused[0][1]
        )
        self.assertIn("9.999 has more than 2 decimal places and would be rounded", refused[1][1])
        self.assertIn(": 2.5 is not a whole number and would be rounded", refused[2][1])

    def sqlite_source(self, rows: list[tuple]) -> Connection:
        path = self.folder / "source.db"
        with sqlite3.connect(path) as database:
            database.execute("CREATE TABLE t (id integer primary key, amount real, n, at text)")
            database.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", rows)
        return Connection("sqlite", {"database": str(path), "table": "t"})

    def test_an_untyped_decimal_with_more_places_than_the_column_keeps_is_refused(self):
        stored, refused = self.run_from(
            self.sqlite_source([(1, 1.005, 1, None), (2, 12345.678, 2, None), (3, 0.1, 3, None), (4, 2.5, 4, None)])
        )
        self.assertEqual([row[:2] for row in stored], [(3, Decimal("0.10")), (4, Decimal("2.50"))])
        self.assertIn("column 'amount' is NUMERIC(8, 2): 1.005 has more than 2 decimal places", refused[1])
        self.assertIn("12345.678 has more than 2 decimal places and would be rounded", refused[2])

    def test_a_fraction_for_an_integer_column_is_refused(self):
        stored, refused = self.run_from(self.sqlite_source([(1, None, 1.5, None), (2, None, 2.0, None)]))
        self.assertEqual([row[::2] for row in stored], [(2, 2)])
        self.assertIn("column 'n' is INT", refused[1])
        self.assertIn(": 1.5 is not a whole number and would be rounded", refused[1])

    def test_csv_text_goes_in_as_written_or_is_refused(self):
        (self.folder / "in.csv").write_text(
            "id,amount,n,at\n1,1.005,1,2026-01-01 10:00:00\n2,3.10,2,2026-01-01 10:00:00\n3,4.5,3,2026-01-01\n"
        )
        stored, refused = self.run_from(Connection("csv", {"path": str(self.folder / "in.csv")}))
        self.assertEqual(stored, [(2, Decimal("3.10"), 2), (3, Decimal("4.50"), 3)])
        self.assertEqual(list(refused), [1])

    def parquet_times(self) -> tuple[list[int], dict[int, str]]:
        """Instants of nanoseconds from a Parquet file (as pandas writes them) into `at`: the ids
        stored, and the reasons of those refused."""
        import pyarrow
        import pyarrow.parquet

        second = 1_767_261_600 * 10**9  # 2026-01-01 10:00:00
        instants = [second, second + 1_000, second + 1_500, second + 250_000_000]
        table = pyarrow.table({"id": [1, 2, 3, 4], "at": pyarrow.array(instants, pyarrow.timestamp("ns"))})
        pyarrow.parquet.write_table(table, self.folder / "times.parquet")
        integration = Integration(
            "exact",
            source=Connection("parquet", {"path": str(self.folder / "times.parquet")}),
            target=self.target(),
            max_errors=100,
        )
        result = self.pdi.get(Integrator).integrate(Operation("exact", [integration]))
        self.assertTrue(result.ok, result["exact"].error)
        letters = self.pdi.get(StateStore).dead_letters(result.execution_id)
        with self.engine.connect() as connection:
            stored = connection.exec_driver_sql(f"SELECT id FROM {self.table} ORDER BY id").scalars().all()
        return list(stored), {int(letter["row"]["id"]): letter["reason"] for letter in letters}

    def test_an_instant_finer_than_its_column_keeps_is_refused(self):
        stored, refused = self.parquet_times()
        self.assertEqual(stored, [1, 2, 4])
        self.assertEqual(list(refused), [3])
        self.assertIn("column 'at' keeps 6 digits of a second: 2026-01-01 10:00:00.000001500", refused[3])

    def test_an_instant_with_a_zone_goes_into_a_column_without_one_as_its_utc_time(self):
        self.assertEqual(str(self.zoned_instant())[:19], "2026-01-01 10:00:00")

    def zoned_instant(self):
        """What `at` holds of 10:00 UTC read from a Parquet file as 11:00 in Paris."""
        import pyarrow
        import pyarrow.parquet

        ten_utc = 1_767_261_600_000_000  # 2026-01-01 10:00:00 UTC, 11:00 in Paris
        paris = pyarrow.array([ten_utc], pyarrow.timestamp("us", tz="Europe/Paris"))
        pyarrow.parquet.write_table(pyarrow.table({"id": [1], "at": paris}), self.folder / "zoned.parquet")
        self.run_from(Connection("parquet", {"path": str(self.folder / "zoned.parquet")}))
        with self.engine.connect() as connection:
            (stored,) = connection.exec_driver_sql(f"SELECT at FROM {self.table}").scalars().all()
        return stored


class SqliteValuesTest(ValuesKeptExactly, unittest.TestCase):
    """SQLite keeps whatever it is given (no scale): only decimals a double cannot hold are refused."""

    instant = "text"  # SQLAlchemy binds only datetime objects to a SQLite timestamp column

    def setUp(self):
        self.url = f"sqlite:///{tempfile.mkdtemp(prefix='pdip-exact-db-')}/target.db"
        super().setUp()

    def test_an_untyped_decimal_with_more_places_than_the_column_keeps_is_refused(self):
        stored, refused = self.run_from(self.sqlite_source([(1, 1.005, 1, None)]))
        self.assertEqual((stored, refused), ([(1, 1.005, 1)], {}))

    def test_a_fraction_for_an_integer_column_is_refused(self):
        stored, refused = self.run_from(self.sqlite_source([(1, None, 1.5, None)]))
        self.assertEqual((stored, refused), ([(1, None, 1.5)], {}))

    def test_a_change_log_value_the_replica_would_change_is_refused_and_the_others_applied(self):
        stored, refused = self.applied(LOG)  # SQLite keeps each value as it is given
        self.assertEqual((stored, refused), ([(1, 3.5, 2.5), (2, 12345.678, 2), (3, 0.1, 3)], []))

    def test_an_instant_with_a_zone_goes_into_a_column_without_one_as_its_utc_time(self):
        self.drop(self.table)  # a DATETIME column; a text one keeps the offset written
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {self.table} (id integer primary key, amount, n, at datetime)")
        self.assertEqual(self.zoned_instant(), "2026-01-01 10:00:00.000000")

    def test_csv_text_goes_in_as_written_or_is_refused(self):
        (self.folder / "in.csv").write_text("id,amount,n,at\n1,1.005,1.5,2026-01-01 10:00:00+02:00\n")
        stored, refused = self.run_from(Connection("csv", {"path": str(self.folder / "in.csv")}))
        self.assertEqual((stored, refused), ([(1, 1.005, 1.5)], {}))

    def test_an_instant_finer_than_its_column_keeps_is_refused(self):
        self.drop(self.table)  # a DATETIME column, which SQLAlchemy keeps as text of microseconds
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {self.table} (id integer primary key, at datetime)")
        stored, refused = self.parquet_times()
        self.assertEqual((stored, list(refused)), ([1, 2, 4], [3]))


class SqliteTimesTest(unittest.TestCase):
    def test_text_into_sqlite_date_and_time_columns_is_read_as_iso_8601_or_refused(self):
        folder = Path(tempfile.mkdtemp(prefix="pdip-exact-times-"))
        with sqlite3.connect(folder / "target.db") as database:
            database.execute("CREATE TABLE t (id integer primary key, at timestamp, day date)")
        (folder / "in.csv").write_text(
            "id,at,day\n1,2026-01-01 10:00:00,2026-01-02\n2,2026-01-01T10:00:00+02:00,\n3,yesterday,2026-01-02\n"
            "4,2026-01-01,2026-02-30\n"
        )
        integration = Integration(
            "times",
            source=Connection("csv", {"path": str(folder / "in.csv")}),
            target=Connection("sqlite", {"database": str(folder / "target.db"), "table": "t"}),
            max_errors=10,
        )
        with Pdi(root_directory=str(folder)) as pdi:
            result = pdi.get(Integrator).integrate(Operation("times", [integration]))
            letters = pdi.get(StateStore).dead_letters(result.execution_id)
        self.assertTrue(result.ok, result.integrations[0].error)
        with sqlite3.connect(folder / "target.db") as database:
            stored = database.execute("SELECT * FROM t ORDER BY id").fetchall()
        self.assertEqual(
            stored,
            [(1, "2026-01-01 10:00:00.000000", "2026-01-02"), (2, "2026-01-01 08:00:00.000000", None)],
        )
        self.assertEqual([letter["row"]["id"] for letter in letters], ["3", "4"])
        self.assertIn("column 'at' is TIMESTAMP: 'yesterday' is no ISO 8601 date and time", letters[0]["reason"])
        self.assertIn("column 'day' is DATE: '2026-02-30' is no ISO 8601 date", letters[1]["reason"])


class PostgresValuesTest(ValuesKeptExactly, unittest.TestCase):
    def setUp(self):
        self.url = postgres_url()
        super().setUp()

    def test_csv_text_goes_in_as_written_or_is_refused(self):
        (self.folder / "in.csv").write_text(
            "id,amount,n,at\n1,1.005,1,2026-01-01 10:00:00\n2,3.10,2,2026-01-01 10:00:00+02:00\n"
            "3,4.5,3,2026-01-01 10:00:00 Europe/Paris\n4,5,4,2026-01-01 10:00:00\n5,6,5,\n"
        )
        stored, refused = self.run_from(Connection("csv", {"path": str(self.folder / "in.csv")}))
        self.assertEqual(stored, [(4, Decimal("5.00"), 4), (5, Decimal("6.00"), 5)])
        self.assertIn("1.005 has more than 2 decimal places", refused[1])
        self.assertIn(
            "column 'at' is a timestamp without time zone: the zone in '2026-01-01 10:00:00+02:00'", refused[2]
        )
        self.assertIn("would be dropped", refused[3])

    def test_csv_text_a_check_refuses_beside_a_record_copy_refuses_is_refused_by_both(self):
        (self.folder / "in.csv").write_text(
            "id,amount,n,at\n1,2.5,1,2026-01-01 10:00:00+02:00\n2,3\n3,4.5,3,2026-01-01 10:00:00\n4,1.005,4,\n"
        )
        stored, refused = self.run_from(Connection("csv", {"path": str(self.folder / "in.csv")}))
        self.assertEqual(stored, [(3, Decimal("4.50"), 3)])
        self.assertIn("the zone in '2026-01-01 10:00:00+02:00'", refused[1])
        self.assertEqual(refused[2], "in.csv:3: expected 4 fields, got 2")
        self.assertIn("1.005 has more than 2 decimal places", refused[4])

    def test_a_typed_decimal_of_more_places_is_refused_and_one_that_fits_is_copied(self):
        source = f"{self.table}_src"
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {source} (id integer, amount numeric(10, 3), n bigint)")
            connection.exec_driver_sql(f"INSERT INTO {source} VALUES (1, 1.005, 1), (2, 1.5, 2), (3, NULL, NULL)")
        self.addCleanup(self.drop, source)
        stored, refused = self.run_from(Connection("sql", {"url": self.url, "table": source}))
        self.assertEqual(stored, [(2, Decimal("1.50"), 2), (3, None, None)])
        self.assertIn("1.005 has more than 2 decimal places", refused[1])
        fitting = f"{self.table}_fit"
        self.create(fitting)
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"INSERT INTO {fitting} VALUES (7, 7.25, 7, '2026-01-01')")
        stored, refused = self.run_from(Connection("sql", {"url": self.url, "table": fitting}))
        self.assertEqual((stored[-1], refused), ((7, Decimal("7.25"), 7), {}))

    def test_a_query_of_numbers_is_checked_by_its_wire_types(self):
        query = "SELECT 1 AS id, 1.005::numeric AS amount, 2::bigint AS n UNION ALL SELECT 2, 1.25, 3"
        stored, refused = self.run_from(Connection("sql", {"url": self.url, "query": query}))
        self.assertEqual(stored, [(2, Decimal("1.25"), 3)])
        self.assertIn("1.005 has more than 2 decimal places", refused[1])


class MariaDbValuesTest(ValuesKeptExactly, unittest.TestCase):
    decimal, whole, instant = "decimal(8, 2)", "int", "datetime"

    def setUp(self):
        self.url = mysql_url()
        super().setUp()

    def test_an_untyped_decimal_with_more_places_than_the_column_keeps_is_refused(self):
        stored, refused = self.run_from(self.sqlite_source([(1, 1.005, 1, None), (2, 2.5, 2, None)]))
        self.assertEqual(stored, [(2, Decimal("2.50"), 2)])
        self.assertIn("column 'amount' is DECIMAL(8, 2): 1.005 has more than 2 decimal places", refused[1])

    def test_an_instant_finer_than_its_column_keeps_is_refused(self):
        stored, refused = self.parquet_times()  # a DATETIME keeps whole seconds unless declared with more
        self.assertEqual((stored, sorted(refused)), ([1], [2, 3, 4]))
        self.assertIn("column 'at' keeps 0 digits of a second: 2026-01-01 10:00:00.250000", refused[4])


if __name__ == "__main__":
    unittest.main()
