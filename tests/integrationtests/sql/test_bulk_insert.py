"""`pdip.data.bulk`: many rows through the driver itself, with each column's bind processor,
on every database and paramstyle (the outbox and the MariaDB target rely on it)."""

import datetime as dt
import tempfile
import unittest
import uuid

import sqlalchemy as sa

from pdip.data.bulk import bound_rows, bulk_insert
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

    def test_sqlite_with_positional_and_named_parameters(self):
        self.assertEqual(self.stored(f"sqlite:///{tempfile.mkdtemp(prefix='pdip-bulk-')}/data.db"), ROWS)
        named = f"sqlite:///{tempfile.mkdtemp(prefix='pdip-bulk-')}/named.db"
        self.assertEqual(self.stored(named, paramstyle="named"), ROWS)

    def test_columns_without_a_bind_processor_leave_rows_as_they_are(self):
        table = sa.Table("t", sa.MetaData(), sa.Column("id", sa.Integer), sa.Column("name", sa.Text))
        rows = [(1, "a")]
        self.assertIs(bound_rows(sa.create_engine("sqlite://").dialect, table, ["id", "name"], rows), rows)


if __name__ == "__main__":
    unittest.main()
