"""The dialect plug-in's statements run on real databases where one has them: the MERGE pdip
sends SQL Server executed by PostgreSQL 15 (which has MERGE); the multi-row inserts pdip sends
through pymssql, the twin of `write: replace` and its swap, on SQLite."""

import unittest

import sqlalchemy as sa

from pdip.integrator.adapters.sql.dialects import SqlDialect, dialect_of
from tests.support import servers


def items(metadata: sa.MetaData, name: str = "pdip_dialect_items") -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("name", sa.String(40)),
        sa.Column("code", sa.String(10), unique=True),
    )


class MergeOnPostgresTest(unittest.TestCase):
    def test_the_sql_server_merge_upserts_by_key_on_a_database_with_merge(self):
        engine = sa.create_engine(servers.postgres_url())
        self.addCleanup(engine.dispose)
        metadata = sa.MetaData()
        table = items(metadata)
        metadata.drop_all(engine)
        metadata.create_all(engine)
        self.addCleanup(metadata.drop_all, engine)
        with engine.begin() as connection:
            connection.execute(table.insert(), [{"id": 1, "name": "old", "code": "a"}])
            rows = [(1, "new", "a"), (2, "two", "b")]
            dialect_of("mssql").merge(connection, table, ["id"], ["id", "name", "code"], rows)
            dialect_of("mssql").merge(connection, table, ["id"], ["id"], [])  # nothing: no statement
        with engine.connect() as connection:
            found = connection.execute(sa.select(table).order_by(table.c.id)).all()
        self.assertEqual([tuple(row) for row in found], [(1, "new", "a"), (2, "two", "b")])


class SqliteStatementsTest(unittest.TestCase):
    def setUp(self) -> None:
        self.engine = sa.create_engine("sqlite://")
        self.addCleanup(self.engine.dispose)
        self.metadata = sa.MetaData()
        self.table = items(self.metadata)
        self.metadata.create_all(self.engine)

    def test_multi_row_inserts_land_every_row(self):
        multi = SqlDialect("sqlite", multi_row_drivers=("pysqlite",))
        with self.engine.begin() as connection:
            multi.insert(connection, self.table, ["id", "name"], [(number, f"n{number}") for number in range(1500)])
            count = connection.execute(sa.select(sa.func.count()).select_from(self.table)).scalar()
        self.assertEqual(count, 1500)
        with self.engine.begin() as connection:  # a driver that binds a batch at once: one executemany
            SqlDialect("sqlite").insert(connection, self.table, ["id"], [(2000,), (2001,)])
            self.assertEqual(connection.execute(sa.select(sa.func.max(self.table.c.id))).scalar(), 2001)

    def test_a_twin_keeps_the_columns_and_keys_and_is_swapped_in(self):
        generic = SqlDialect("sqlite")
        with self.engine.begin() as connection:
            reflected = sa.Table(self.table.name, sa.MetaData(), autoload_with=connection)
            generic.create_twin(connection, reflected, "twin")
            connection.execute(sa.text("INSERT INTO twin (id, name, code) VALUES (5, 'x', 'c')"))
            quote = connection.dialect.identifier_preparer.quote
            for statement in generic.swap_statements(self.table.name, "twin", None, self.table.name, quote):
                connection.exec_driver_sql(statement)
            inspector = sa.inspect(connection)
            self.assertEqual(inspector.get_pk_constraint(self.table.name)["constrained_columns"], ["id"])
            self.assertEqual(
                [item["column_names"] for item in inspector.get_unique_constraints(self.table.name)], [["code"]]
            )
            self.assertEqual(connection.exec_driver_sql(f"SELECT id FROM {self.table.name}").all(), [(5,)])


if __name__ == "__main__":
    unittest.main()
