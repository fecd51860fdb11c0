"""A PostgreSQL table copied into a MariaDB table the integrator creates: each column's type is
one MariaDB can create, and the values come back as they went in."""

import datetime as dt
import tempfile
import unittest
import uuid
from decimal import Decimal

import sqlalchemy as sa

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation
from pdip.integrator.base import Integrator
from tests.support.servers import mysql_url, postgres_url


class PostgresToMariaDbTest(unittest.TestCase):
    def test_doubles_numerics_timestamps_and_text_cross_with_their_values(self):
        source, target = sa.create_engine(postgres_url()), sa.create_engine(mysql_url())
        self.addCleanup(source.dispose)
        self.addCleanup(target.dispose)
        table = f"cross_{uuid.uuid4().hex[:8]}"
        with source.begin() as connection:
            connection.exec_driver_sql(
                f"CREATE TABLE {table} (id integer, price double precision, amount numeric(12, 2), "
                "created timestamp, label text, note varchar(50))"
            )
            connection.exec_driver_sql(
                f"INSERT INTO {table} VALUES (1, 1.25, 10.50, '2026-12-05 10:00:00.123456', 'a', 'n'), "
                "(2, NULL, NULL, NULL, NULL, NULL)"
            )
        self.addCleanup(self.drop, source, table)
        self.addCleanup(self.drop, target, table)
        copy = Integration(
            "copy",
            source=Connection("postgresql", {"url": postgres_url(), "table": table}),
            target=Connection("mysql", {"url": mysql_url(), "table": table}),
            create_target=True,
        )
        with Pdi(tempfile.mkdtemp(prefix="pdip-cross-")) as pdi:
            result = pdi.get(Integrator).integrate(Operation("cross", [copy]))
        self.assertTrue(result.ok, result.integrations[0].error)
        with target.connect() as connection:
            rows = connection.exec_driver_sql(f"SELECT * FROM {table} ORDER BY id").all()
        self.assertEqual(
            [tuple(row) for row in rows],
            [
                (1, 1.25, Decimal("10.50"), dt.datetime(2026, 12, 5, 10, 0, 0, 123456), "a", "n"),
                (2, None, None, None, None, None),
            ],
        )

    @staticmethod
    def drop(engine: sa.Engine, table: str) -> None:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")


if __name__ == "__main__":
    unittest.main()
