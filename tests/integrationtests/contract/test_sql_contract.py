"""The adapter contract run against SQL databases: SQLite, PostgreSQL and MariaDB
(`pdip.integrator.adapters.sql`), on the default process executor."""

import unittest
import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from pdip.integrator import Connection, StateStore
from pdip.integrator.adapters import Adapter, Capabilities, WriteResult
from pdip.integrator.adapters.memory import MemorySource, MemoryTarget
from pdip.integrator.batch import ARROW, Batch
from tests.integrationtests.contract.contract import CORE, SAMPLE, AdapterContract, Refusal, naive_utc, table_of
from tests.support import servers


class SqlContract(AdapterContract):
    """What the SQL stores share; each subclass gives its database's URL."""

    kind = "sql"
    executor = "process"
    supported = (*CORE, "blob")
    stores_positions = True
    misspelt = ("tabel", "table")

    def url(self) -> str:
        raise NotImplementedError

    def setUp(self) -> None:
        super().setUp()
        self.engine = sa.create_engine(self.url())
        self.addCleanup(self.engine.dispose)
        self.tables: list[str] = []
        self.addCleanup(self.drop_tables)

    def drop_tables(self) -> None:
        with self.engine.begin() as connection:
            for name in self.tables:
                connection.execute(
                    sa.text(f"DROP TABLE IF EXISTS {self.engine.dialect.identifier_preparer.quote(name)}")
                )

    def unique(self, role: str) -> str:
        name = super().unique(role)
        self.tables.append(name)
        return name

    def store(self, name: str) -> Connection:
        return Connection("sql", {"url": self.url(), "table": name})

    def columns_of(self, name: str) -> list[str] | None:
        return [column["name"] for column in sa.inspect(self.engine).get_columns(name)]

    def refusal(self) -> Refusal:
        source, target = self.unique("refusing"), self.unique("refusing_copy")
        rows = [{"id": number, "label": None if number % 3 == 0 else f"row {number}"} for number in range(1, 8)]
        self.fill(source, [{**row, "amount": None} for row in rows], ("id", "label"))
        with self.engine.begin() as connection:
            connection.execute(sa.text(f"CREATE TABLE {target} (id BIGINT, label VARCHAR(20) NOT NULL)"))
        return Refusal(self.source_of(source), self.store(target), 2, [1, 2, 4, 5, 7], lambda: self.read_back(target))

    def with_secret(self, secret: str) -> Connection:
        url = sa.make_url(self.url()).set(password=secret)
        return Connection("sql", {"url": url.render_as_string(hide_password=False), "table": self.unique("missing")})


class SqliteContract(SqlContract, unittest.TestCase):
    # Not `amount`: SQLite has no decimal type; a NUMERIC column keeps 15 digits, and a decimal
    # with more is refused (see below).
    supported = tuple(column for column in SqlContract.supported if column != "amount")
    returned = {"at": naive_utc}  # SQLite has no time zones: the instant, in UTC

    def test_a_decimal_a_double_cannot_hold_is_dead_lettered_never_rounded(self):
        # 12345678901234.5678 has 18 significant digits; SQLite's NUMERIC keeps 15
        self.integrator.stores["decimals"] = table_of(SAMPLE, ("id", "amount"))
        name = self.unique("decimal")
        result = self.integrate(Connection("memory", {"store": "decimals"}), self.store(name), "decimals", max_errors=5)
        self.assertEqual(result.status, "finished", result.integrations[0].error)
        (letter,) = self.pdi.get(StateStore).dead_letters(result.execution_id)
        self.assertIn("SQLite keeps 15 significant digits of a decimal: 12345678901234.5678 would be", letter["reason"])
        self.assertEqual(letter["row"]["id"], 1)
        back = self.by_id(self.read_back(name))
        self.assertEqual([(row["id"], row["amount"]) for row in back], [(2, Decimal("-0.0001")), (3, None)])

    def url(self) -> str:
        return f"sqlite:///{self.root / 'contract.db'}"

    def drop_tables(self) -> None:
        """The database is a file of the test's folder, removed with it."""

    def with_secret(self, secret: str) -> Connection:
        return Connection(
            "sql", {"type": "sqlite", "database": str(self.root / "secret.db"), "password": secret, "table": "missing"}
        )


class PostgresContract(SqlContract, unittest.TestCase):
    def url(self) -> str:
        return servers.postgres_url()


class ArrowMemoryTarget(MemoryTarget):
    """A memory store that takes Arrow batches as they come, like a Parquet file, and keeps
    whether each batch it was given came as Arrow."""

    forms: list[bool] = []

    def accepts(self) -> tuple[str, ...]:
        return (ARROW,)

    def write(self, batch: Batch) -> WriteResult:
        self.forms.append(batch._rows is None and batch._arrow is not None)
        return super().write(batch)


class PostgresArrowContract(PostgresContract):
    """The PostgreSQL contract with every read into a target that takes Arrow: the source's
    binary COPY rows decoded into Arrow a column at a time, not row by row by psycopg."""

    def setUp(self) -> None:
        super().setUp()
        ArrowMemoryTarget.forms = []
        self.integrator.registry.register(
            Adapter(("arrow_memory",), MemorySource, ArrowMemoryTarget, Capabilities(in_process_only=True))
        )

    def read_back(self, name: str) -> list[dict[str, Any]]:
        back = f"back-{uuid.uuid4().hex[:8]}"
        self.run_ok(self.source_of(name), Connection("arrow_memory", {"store": back}), name=back, create=False)
        return self.integrator.stores.records(back)

    def test_every_read_back_came_as_arrow(self):
        name = self.unique("forms")
        self.fill(name, SAMPLE, self.supported)
        self.assertEqual(len(self.read_back(name)), len(SAMPLE))
        self.assertEqual(ArrowMemoryTarget.forms, [True])


class MariaDbContract(SqlContract, unittest.TestCase):
    # DATETIME has no time zone: the instant, in UTC (BOOLEAN, a TINYINT(1), is read as booleans)
    returned = {"at": naive_utc}

    def url(self) -> str:
        return servers.mysql_url()


del SqlContract  # not a test case of its own


if __name__ == "__main__":
    unittest.main()
