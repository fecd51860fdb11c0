"""The one column type for instants: microseconds on MariaDB/MySQL, whose DATETIME drops them
unless asked, and a plain timestamp with time zone elsewhere; naming it imports no MySQL dialect."""

import datetime as dt
import subprocess
import sys
import unittest

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.dialects.mysql import mariadb

from pdip.data.times import UtcDateTime


class UtcDateTimeTest(unittest.TestCase):
    def test_mariadb_and_mysql_columns_keep_microseconds(self):
        for dialect in (mysql.dialect(), mariadb.MariaDBDialect()):
            with self.subTest(dialect=dialect.name):
                self.assertEqual(UtcDateTime.compile(dialect=dialect), "DATETIME(6)")

    def test_other_databases_get_a_timestamp_with_time_zone(self):
        self.assertEqual(UtcDateTime.compile(dialect=postgresql.dialect()), "TIMESTAMP WITH TIME ZONE")
        self.assertEqual(UtcDateTime.compile(dialect=sqlite.dialect()), "DATETIME")

    def test_an_instant_comes_back_from_sqlite_as_it_went_in(self):
        table = sa.Table("t", sa.MetaData(), sa.Column("at", UtcDateTime))
        engine = sa.create_engine("sqlite://")
        table.create(engine)
        instant = dt.datetime(2026, 12, 6, 14, 31, 36, 123456)
        with engine.begin() as connection:
            connection.execute(table.insert().values(at=instant))
            self.assertEqual(connection.execute(sa.select(table.c.at)).scalar_one(), instant)
        engine.dispose()

    def test_naming_the_type_imports_no_mysql_dialect(self):
        code = "import sys, pdip.data.times; print('sqlalchemy.dialects.mysql' in sys.modules)"
        found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        self.assertEqual(found.stdout.strip(), "False")


if __name__ == "__main__":
    unittest.main()
