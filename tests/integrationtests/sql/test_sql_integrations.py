"""The SQL adapter against real databases: every pair of SQLite, PostgreSQL and MariaDB."""

import contextlib
import datetime as dt
import io
import tempfile
import unittest
import uuid
from decimal import Decimal

import sqlalchemy as sa

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation, StateStore
from pdip.integrator.base import Integrator
from tests.support import servers

ROWS = [
    {
        "id": i,
        "name": f"name {i}",
        "price": Decimal(i) / 4,
        "active": i % 2 == 0,
        "created": dt.datetime(2026, 1, 1, 12, 0) + dt.timedelta(hours=i),
        "note": None if i % 3 else "x" * 50,
    }
    for i in range(1, 101)
]


def source_table(metadata: sa.MetaData, name: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("price", sa.Numeric(10, 2)),
        sa.Column("active", sa.Boolean),
        sa.Column("created", sa.DateTime),
        sa.Column("note", sa.String(60)),
    )


class Database:
    """A database with a uniquely named table of ROWS, dropped at the end."""

    def __init__(self, url: str):
        self.url = url
        self.engine = sa.create_engine(url)
        self.metadata = sa.MetaData()
        self.names: list[str] = []

    def name(self, prefix: str) -> str:
        name = f"pdip_it_{prefix}_{uuid.uuid4().hex[:8]}"
        self.names.append(name)
        return name

    def filled(self, rows=ROWS) -> str:
        name = self.name("src")
        table = source_table(self.metadata, name)
        table.create(self.engine)
        with self.engine.begin() as connection:
            connection.execute(table.insert(), rows)
        return name

    def rows(self, table: str, order: str = "id") -> list[dict]:
        with self.engine.connect() as connection:
            reflected = sa.Table(table, sa.MetaData(), autoload_with=connection)
            return [
                dict(row) for row in connection.execute(sa.select(reflected).order_by(reflected.c[order])).mappings()
            ]

    def drop(self) -> None:
        with self.engine.begin() as connection:
            for name in self.names:
                connection.exec_driver_sql(
                    f"DROP TABLE IF EXISTS {self.engine.dialect.identifier_preparer.quote(name)}"
                )
        self.engine.dispose()


def sqlite_url() -> str:
    return f"sqlite:///{tempfile.mkdtemp(prefix='pdip-sql-')}/data.db"


class SqlIntegrationTest(unittest.TestCase):
    def setUp(self):
        self.databases = {
            "sqlite": Database(sqlite_url()),
            "postgresql": Database(servers.postgres_url()),
            "mysql": Database(servers.mysql_url()),
        }
        self.pdi = Pdi(root_directory=tempfile.mkdtemp(prefix="pdip-sql-run-"))
        self.integrator = self.pdi.get(Integrator)

    def tearDown(self):
        for database in self.databases.values():
            database.drop()
        self.pdi.cleanup()

    def connection(self, database: str, **settings) -> Connection:
        return Connection("sql", {"url": self.databases[database].url, **settings})

    def run_one(self, integration: Integration, execution_id: str | None = None):
        with contextlib.redirect_stdout(io.StringIO()):
            return self.integrator.integrate(Operation("sql-test", [integration]), execution_id=execution_id)

    def test_every_pair_of_databases_copies_all_rows_with_their_values(self):
        for source in self.databases:
            for target in self.databases:
                with self.subTest(source=source, target=target):
                    table = self.databases[source].filled()
                    copy = self.databases[target].name("copy")
                    result = self.run_one(
                        Integration(
                            f"{source}-to-{target}",
                            source=self.connection(source, table=table),
                            target=self.connection(target, table=copy),
                            create_target=True,
                            batch_size=30,
                        )
                    )
                    self.assertTrue(result.ok, result.integrations[0].error)
                    copied = self.databases[target].rows(copy)
                    self.assertEqual(len(copied), 100)
                    self.assertEqual([row["id"] for row in copied], list(range(1, 101)))
                    self.assertEqual(copied[9]["name"], "name 10")
                    self.assertEqual(Decimal(str(copied[9]["price"])), Decimal("2.5"))
                    self.assertEqual(bool(copied[9]["active"]), True)
                    self.assertEqual(copied[2]["note"], "x" * 50)
                    self.assertIsNone(copied[0]["note"])

    def test_a_query_source_with_incremental_reads(self):
        table = self.databases["postgresql"].filled()
        copy = self.databases["sqlite"].name("inc")
        integration = Integration(
            "incremental",
            source=self.connection("postgresql", query=f"SELECT id, name FROM {table} WHERE active"),
            target=self.connection("sqlite", table=copy),
            create_target=True,
            mode="incremental",
            cursor="id",
        )
        self.assertEqual(self.run_one(integration).integrations[0].rows_read, 50)
        with self.databases["postgresql"].engine.begin() as connection:
            connection.exec_driver_sql(
                f"INSERT INTO {table} (id, name, active) VALUES (101, 'late', false), (102, 'new', true)"
            )
        second = self.run_one(integration)
        self.assertEqual(second.integrations[0].rows_read, 1)
        self.assertEqual(self.databases["sqlite"].rows(copy)[-1], {"id": 102, "name": "new"})

    def test_rows_the_target_refuses_are_dead_lettered_and_the_rest_written(self):
        target = self.databases["mysql"]
        copy = target.name("strict")
        table = source_table(target.metadata, copy)
        table.c.note.nullable = False
        table.create(target.engine)
        source = self.databases["sqlite"].filled()
        result = self.run_one(
            Integration(
                "strict",
                source=self.connection("sqlite", table=source),
                target=self.connection("mysql", table=copy),
                max_errors=100,
            ),
            execution_id=f"dead-{uuid.uuid4().hex[:6]}",
        )
        self.assertTrue(result.ok)
        outcome = result.integrations[0]
        self.assertEqual((outcome.rows_written, outcome.rows_dead_lettered), (33, 67))
        letters = self.pdi.get(StateStore).dead_letters(result.execution_id)
        self.assertEqual(len(letters), 67)
        self.assertEqual(letters[0]["row"]["id"], 1)
        self.assertIn("note", letters[0]["reason"])
        self.assertEqual(len(target.rows(copy)), 33)

    def test_truncate_statements_and_a_missing_table(self):
        database = self.databases["postgresql"]
        table = database.filled()
        copy = database.name("trunc")
        make = Integration(
            "ddl",
            target=self.connection("postgresql"),
            sql=f"CREATE TABLE {copy} (id integer, name varchar(50));\nINSERT INTO {copy} VALUES (0, 'old'), (1, '50%');\n"
            f"DELETE FROM {copy} WHERE name LIKE '%\\%';",
        )
        self.assertTrue(self.run_one(make).ok)
        self.assertEqual(database.rows(copy), [{"id": 0, "name": "old"}])  # a `%` in the SQL is SQL
        load = Integration(
            "load",
            source=self.connection("postgresql", table=table),
            target=self.connection("postgresql", table=copy),
            columns=["id", "name"],
            truncate_target=True,
        )
        self.assertTrue(self.run_one(load).ok)
        self.assertEqual(len(database.rows(copy)), 100)
        missing = self.run_one(
            Integration(
                "missing",
                source=self.connection("postgresql", table=table),
                target=self.connection("postgresql", table="pdip_no_such_table"),
            )
        )
        self.assertIn("table 'pdip_no_such_table' does not exist", missing.integrations[0].error)
        self.assertIn("create_target: true", missing.integrations[0].error)
        self.assertNotIn("postgres@", missing.integrations[0].error.split("in ")[0])
        absent = self.run_one(
            Integration(
                "absent",
                source=self.connection("postgresql", table="pdip_absent_source"),
                target=self.connection("sqlite", table="x"),
            )
        )
        self.assertIn("table 'pdip_absent_source' does not exist", absent.integrations[0].error)

    def test_connections_by_parts_and_memory_round_trip(self):
        path = tempfile.mkdtemp(prefix="pdip-sql-parts-")
        integrator = self.integrator
        integrator.stores["people"] = [{"id": 1, "name": "ada"}, {"id": 2, "name": "bob"}]
        to_sqlite = Integration(
            "in",
            source=Connection("memory", {"store": "people"}),
            target=Connection("sqlite", {"database": f"{path}/parts.db", "table": "people"}),
            create_target=True,
        )
        back = Integration(
            "out",
            source=Connection("sqlite", {"database": f"{path}/parts.db", "table": "people"}),
            target=Connection("memory", {"store": "again"}),
        )
        with contextlib.redirect_stdout(io.StringIO()):
            result = integrator.integrate(Operation("parts", [to_sqlite, back]))
        self.assertTrue(result.ok, [r.error for r in result.integrations])
        self.assertEqual(integrator.stores["again"], [{"id": 1, "name": "ada"}, {"id": 2, "name": "bob"}])
        bad = self.run_one(
            Integration("bad", source=Connection("sql", {"table": "t"}), target=Connection("memory", {"store": "z"}))
        )
        self.assertIn("a sql connection needs `url`", bad.integrations[0].error)


if __name__ == "__main__":
    unittest.main()
