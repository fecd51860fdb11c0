"""`pdip.data.bulk`: many rows through the driver itself, with each column's bind processor,
on every database and paramstyle (the outbox and the MariaDB target rely on it)."""

import datetime as dt
import decimal
import tempfile
import unittest
import uuid

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from pdip.data.bulk import _plan, bound_rows, bulk_insert
from tests.support import servers

ROWS = [(1, "a", dt.datetime(2026, 1, 1, 8, 30), {"k": 1}), (2, None, None, None)]


class BulkInsertTest(unittest.TestCase):
    def stored(self, url: str, **options) -> list[tuple]:
        """ROWS bulk-inserted into a new table at `url`, as read back."""
        engine = sa.create_engine(url, **options)
        self.addCleanup(engine.dispose)
        table = sa.Table(
            f"pdip_bulk_{uuid.uuid4().hex[:8]}",
            sa.MetaData(),
            sa.Column("id", sa.Integer),
            sa.Column("name", sa.String(20)),
            sa.Column("at", sa.DateTime),
            sa.Column("extra", sa.JSON),
        )
        table.create(engine)
        self.addCleanup(table.drop, engine)
        with engine.begin() as connection:
            bulk_insert(connection, table, ["id", "name", "at", "extra"], ROWS)
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.select(table).order_by(table.c.id))]

    def test_postgresql_copies(self):
        self.assertEqual(self.stored(servers.postgres_url()), ROWS)

    def test_mariadb_inserts_many_rows_at_once(self):
        self.assertEqual(self.stored(servers.mysql_url()), ROWS)

    def test_mariadb_text_that_needs_escaping_is_stored_as_given(self):
        # PyMySQL rows are written as SQL literals by pdip itself: quotes, backslashes, NUL,
        # line breaks and `%` must come back as they went in, in either escaping mode
        texts = ["it's", 'say "hi"', "back\\slash \\' end", "nul\0byte", "two\nlines\r\n", "100%s %(x)s", "ünï ✓"]
        rows = [(index, text) for index, text in enumerate(texts)]
        for sql_mode in ("", "NO_BACKSLASH_ESCAPES"):
            with self.subTest(sql_mode=sql_mode):
                stored = self.stored_rows(
                    servers.mysql_url(), [sa.Column("id", sa.Integer), sa.Column("name", sa.Text)], rows, sql_mode
                )
                self.assertEqual(stored, rows)

    def test_mariadb_values_of_each_kind_and_statements_split_by_length(self):
        moment = dt.datetime(2026, 12, 6, 9, 15, 30, 123456)
        rows = [
            (index, "x" * 3_000, moment, decimal.Decimal("12.50"), index % 2 == 0, 0.25, b"\x00\x01'", None)
            for index in range(200)  # 600k characters of text: several statements
        ]
        columns = [
            sa.Column("id", sa.Integer),
            sa.Column("name", sa.Text),
            sa.Column("at", mysql.DATETIME(fsp=6)),
            sa.Column("total", sa.Numeric(12, 2)),
            sa.Column("flag", sa.Boolean),
            sa.Column("ratio", sa.Float),
            sa.Column("data", sa.LargeBinary),
            sa.Column("note", sa.Text),
        ]
        self.assertEqual(self.stored_rows(servers.mysql_url(), columns, rows), rows)

    def stored_rows(self, url: str, columns: list[sa.Column], rows: list[tuple], sql_mode: str | None = None) -> list:
        engine = sa.create_engine(url)
        self.addCleanup(engine.dispose)
        table = sa.Table(f"pdip_bulk_{uuid.uuid4().hex[:8]}", sa.MetaData(), *columns)
        table.create(engine)
        self.addCleanup(table.drop, engine)
        with engine.begin() as connection:
            if sql_mode is not None:
                connection.exec_driver_sql(f"SET SESSION sql_mode = '{sql_mode}'")
            bulk_insert(connection, table, [column.name for column in columns], rows)
            if sql_mode is not None:
                connection.exec_driver_sql("SET SESSION sql_mode = DEFAULT")
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.select(table).order_by(table.c.id))]

    def test_sqlite_with_positional_and_named_parameters(self):
        self.assertEqual(self.stored(f"sqlite:///{tempfile.mkdtemp(prefix='pdip-bulk-')}/data.db"), ROWS)
        named = f"sqlite:///{tempfile.mkdtemp(prefix='pdip-bulk-')}/named.db"
        self.assertEqual(self.stored(named, paramstyle="named"), ROWS)

    def test_columns_without_a_bind_processor_leave_rows_as_they_are(self):
        table = sa.Table("t", sa.MetaData(), sa.Column("id", sa.Integer), sa.Column("name", sa.Text))
        rows = [(1, "a")]
        self.assertIs(bound_rows(sa.create_engine("sqlite://").dialect, table, ["id", "name"], rows), rows)

    def test_the_statement_of_a_table_and_its_columns_is_built_once(self):
        dialect = sa.create_engine("sqlite://").dialect
        table = sa.Table("t", sa.MetaData(), sa.Column("id", sa.Integer), sa.Column("at", sa.DateTime))
        kept = _plan(dialect, table, ("id", "at"))
        self.assertIs(_plan(dialect, table, ("id", "at")), kept)
        self.assertEqual(kept[:3], ("t", "id, at", "INSERT INTO t (id, at) VALUES (?, ?)"))
        self.assertEqual(_plan(dialect, table, ("id",))[2], "INSERT INTO t (id) VALUES (?)")


if __name__ == "__main__":
    unittest.main()
