"""The adapter contract against a SQL database named by URL: `PDIP_TEST_MSSQL_URL` (kind
`mssql`), `PDIP_TEST_ORACLE_URL` (kind `oracle`), `PDIP_TEST_SQL_URL` (kind `sql`, any dialect).
No such server runs on pdip's machines: without its variable a case is skipped, in CI too; with
it, a server that does not answer fails the case (`servers`)."""

import os
import unittest
import uuid

import sqlalchemy as sa

from pdip.integrator import Connection
from tests.integrationtests.contract.contract import CORE, AdapterContract, Refusal
from tests.support import servers


class UrlContract(AdapterContract):
    variable = ""
    executor = "process"
    supported = (*CORE, "blob")
    stores_positions = True
    misspelt = ("tabel", "table")

    def url(self) -> str:
        url = os.environ.get(self.variable, "").strip()
        if not url:
            self.skipTest(f"set {self.variable} to run the contract against that database")
        problem = servers._sql_problem(url)
        if problem:
            servers.server_missing(f"{self.variable} does not answer ({problem})")
        return url

    def setUp(self) -> None:
        super().setUp()
        self.engine = sa.create_engine(self.url())
        self.addCleanup(self.engine.dispose)
        self.tables: list[str] = []
        self.addCleanup(
            lambda: sa.MetaData().drop_all(self.engine, [self.reflected(n) for n in self.tables if self.has(n)])
        )

    def has(self, name: str) -> bool:
        return sa.inspect(self.engine).has_table(name)

    def reflected(self, name: str) -> sa.Table:
        return sa.Table(name, sa.MetaData(), autoload_with=self.engine)

    def unique(self, role: str) -> str:
        name = f"pdip_{role[:8]}_{uuid.uuid4().hex[:8]}"  # Oracle takes 30 bytes in older versions
        self.tables.append(name)
        return name

    def store(self, name: str) -> Connection:
        return Connection(self.kind, {"url": self.url(), "table": name})

    def columns_of(self, name: str) -> list[str] | None:
        return [column["name"] for column in sa.inspect(self.engine).get_columns(name)]

    def refusal(self) -> Refusal:
        source, target = self.unique("refusing"), self.unique("refusing_copy")
        rows = [{"id": number, "label": None if number % 3 == 0 else f"row {number}"} for number in range(1, 8)]
        self.fill(source, rows, ("id", "label"))
        refusing = sa.Table(
            target, sa.MetaData(), sa.Column("id", sa.BigInteger), sa.Column("label", sa.String(20), nullable=False)
        )
        refusing.create(self.engine)
        return Refusal(self.source_of(source), self.store(target), 2, [1, 2, 4, 5, 7], lambda: self.read_back(target))

    def with_secret(self, secret: str) -> Connection:
        url = sa.make_url(self.url()).set(password=secret, host="127.0.0.1", port=1)
        return Connection(self.kind, {"url": url.render_as_string(hide_password=False), "table": "missing"})


class MssqlContract(UrlContract, unittest.TestCase):
    kind, variable = "mssql", "PDIP_TEST_MSSQL_URL"


class OracleContract(UrlContract, unittest.TestCase):
    kind, variable = "oracle", "PDIP_TEST_ORACLE_URL"


class AnySqlContract(UrlContract, unittest.TestCase):
    kind, variable = "sql", "PDIP_TEST_SQL_URL"


del UrlContract  # not a test case of its own


if __name__ == "__main__":
    unittest.main()
