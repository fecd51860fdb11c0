"""A number a float column would round is dead-lettered naming the column and what it would be
stored as, never stored rounded (`adapters/sql/exact.py`): an integer beyond 2**53 (2**24 for a
4-byte column), a decimal or numeric text a double does not hold. Against SQLite, PostgreSQL and
MariaDB, on each path that writes: CSV text (PostgreSQL's COPY), rows, a merge, a change log."""

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

BEYOND = 2**53 + 1  # 9007199254740993: a double holds 9007199254740992
LONG = "0.1000000000000000055511151231257827"  # a double holds 0.1


class FloatsKeptExactly:
    """The cases; subclasses name the server and its double and 4-byte float column types."""

    url: str
    double, single = "double precision", "real"
    single_bits = 24

    def setUp(self):
        self.folder = Path(tempfile.mkdtemp(prefix="pdip-floats-"))
        self.engine = sa.create_engine(self.url)
        self.addCleanup(self.engine.dispose)
        self.table = f"pdip_floats_{uuid.uuid4().hex[:8]}"
        with self.engine.begin() as connection:
            connection.exec_driver_sql(
                f"CREATE TABLE {self.table} (id integer primary key, d {self.double}, r {self.single})"
            )
        self.addCleanup(self.drop, self.table)
        self.pdi = Pdi(root_directory=str(self.folder))
        self.addCleanup(self.pdi.cleanup)
        self.integrator = self.pdi.get(Integrator)

    def drop(self, name: str) -> None:
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")

    def integrate(self, integration: Integration) -> tuple[list[int], list[tuple[object, str]]]:
        result = self.integrator.integrate(Operation("floats", [integration], executor="inline"))
        self.assertTrue(result.ok, result.integrations[0].error)
        letters = self.pdi.get(StateStore).dead_letters(result.execution_id)
        with self.engine.connect() as connection:
            stored = [row[0] for row in connection.exec_driver_sql(f"SELECT id FROM {self.table} ORDER BY id")]
        return stored, [(letter["row"], letter["reason"]) for letter in letters]

    def target(self) -> Connection:
        return Connection("sql", {"url": self.url, "table": self.table})

    def test_csv_text_a_double_would_round_is_refused_naming_the_column_and_what_it_would_be(self):
        (self.folder / "in.csv").write_text(
            f"id,d,r\n1,{BEYOND},1\n2,{LONG},2\n3,0.1,0.5\n4,9007199254740992,16777216\n5,1e300,\n"
        )
        integration = Integration(
            "csv", source=Connection("csv", {"path": "in.csv"}), target=self.target(), max_errors=9
        )
        stored, refused = self.integrate(integration)
        self.assertEqual(stored, [3, 4, 5])
        self.assertEqual(
            [reason for _, reason in refused],
            [
                f"column 'd' is {self.double.upper()}: {BEYOND} would be stored as 9007199254740992",
                f"column 'd' is {self.double.upper()}: {LONG} would be stored as 0.1",
            ],
        )
        with self.engine.connect() as connection:
            kept = connection.exec_driver_sql(f"SELECT d FROM {self.table} WHERE id = 4").scalar()
        self.assertEqual(int(kept), 9007199254740992)

    def test_rows_merged_by_key_and_a_change_log_refuse_an_integer_a_float_column_would_round(self):
        self.integrator.stores["rows"] = [
            {"id": 1, "d": BEYOND, "r": 1},
            {"id": 2, "d": 2**60, "r": 2**24 + 1},
            {"id": 3, "d": Decimal(LONG), "r": 3.14159265},
            {"id": 4, "d": 2.5, "r": 2**24},
        ]
        merge = Integration(
            "rows",
            source=Connection("memory", {"store": "rows"}),
            target=self.target(),
            write="merge",
            key=["id"],
            max_errors=9,
        )
        stored, refused = self.integrate(merge)
        refused_ids = [row["id"] for row, _ in refused]
        narrow = [2] if self.single_bits == 24 else []
        self.assertEqual(refused_ids, sorted([1, 3, *narrow]))
        self.assertEqual(stored, [key for key in (1, 2, 3, 4) if key not in refused_ids])
        if narrow:
            self.assertIn(
                f"column 'r' is {self.single.upper()}: 16777217 would be stored as 16777216",
                {row["id"]: reason for row, reason in refused}[2],
            )
        self.integrator.stores["log"] = [
            ChangeLogEntry("update", entity="t", key=4, after={"id": 4, "d": BEYOND}),
            ChangeLogEntry("update", entity="t", key=4, after={"id": 4, "d": 2**53}),
        ]
        log = Integration(
            "log", mode="changes", source=Connection("memory", {"store": "log"}), target=self.target(), max_errors=9
        )
        _, refused = self.integrate(log)
        self.assertEqual(
            [reason for _, reason in refused],
            [f"column 'd' is {self.double.upper()}: {BEYOND} would be stored as 9007199254740992"],
        )
        with self.engine.connect() as connection:
            self.assertEqual(
                int(connection.exec_driver_sql(f"SELECT d FROM {self.table} WHERE id = 4").scalar()), 2**53
            )


class SqliteFloatsTest(FloatsKeptExactly, unittest.TestCase):
    """SQLite's REAL and FLOAT are both 8-byte doubles."""

    double, single, single_bits = "real", "float", 53

    def setUp(self):
        self.url = f"sqlite:///{tempfile.mkdtemp(prefix='pdip-floats-db-')}/target.db"
        super().setUp()


class PostgresFloatsTest(FloatsKeptExactly, unittest.TestCase):
    def setUp(self):
        self.url = postgres_url()
        super().setUp()

    def test_a_bigint_column_of_a_query_into_a_double_is_checked_by_its_wire_type(self):
        query = f"SELECT 1 AS id, {BEYOND}::bigint AS d, 1::smallint AS r UNION ALL SELECT 2, 2, 2"
        copy = Integration(
            "copy", source=Connection("sql", {"url": self.url, "query": query}), target=self.target(), max_errors=9
        )
        stored, refused = self.integrate(copy)
        self.assertEqual((stored, [row["id"] for row, _ in refused]), ([2], [1]))


class MariaDbFloatsTest(FloatsKeptExactly, unittest.TestCase):
    double, single = "double", "float"

    def setUp(self):
        self.url = mysql_url()
        super().setUp()


if __name__ == "__main__":
    unittest.main()
