"""The adapter contract run against ClickHouse through clickhouse-connect: always against chDB
(`kind: chdb`, ClickHouse's engine in this process, through chDB's backend of clickhouse-connect),
and against a ClickHouse server over HTTP when `PDIP_TEST_CLICKHOUSE_URL` names one
(`http://default@127.0.0.1:8123/default`); without it that case is skipped, in CI too, since no
server of a version clickhouse-connect talks to installs on this kind of machine."""

import os
import unittest
import uuid

import clickhouse_connect

from pdip.integrator import Connection, OperationError
from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.clickhouse import ClickHouseSource, address
from pdip.integrator.adapters.registry import AdapterRegistry
from tests.integrationtests.contract.contract import CORE, AdapterContract, Refusal
from tests.support.chdb import FOLDER, chdb_client

ENV_CLICKHOUSE = "PDIP_TEST_CLICKHOUSE_URL"


class ClickHouseContract(AdapterContract):
    """What a server and chDB share; each subclass says where the tables are."""

    executor = "process"
    supported = CORE  # ClickHouse's String holds bytes and text alike; it is read as text
    misspelt = ("tabel", "table")

    def client(self):
        raise NotImplementedError

    def setUp(self) -> None:
        super().setUp()
        self.tables: list[str] = []
        self.addCleanup(self.drop_tables)

    def unique(self, role: str) -> str:
        name = super().unique(role)
        self.tables.append(name)
        return name

    def drop_tables(self) -> None:
        client = self.client()
        for name in self.tables:
            client.command(f"DROP TABLE IF EXISTS `{name}`")

    def columns_of(self, name: str) -> list[str] | None:
        rows = (
            self.client()
            .query(
                "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = %(t)s ORDER BY position",
                parameters={"t": name},
            )
            .result_rows
        )
        return [row[0] for row in rows]

    def refusal(self) -> Refusal:
        source, target = self.unique("refusing"), self.unique("refusing_copy")
        rows = [{"id": number, "label": None if number % 3 == 0 else f"row {number}"} for number in range(1, 8)]
        self.fill(source, rows, ("id", "label"))
        self.client().command(f"CREATE TABLE `{target}` (id Int64, label String) ENGINE = MergeTree ORDER BY id")
        return Refusal(self.source_of(source), self.store(target), 2, [1, 2, 4, 5, 7], lambda: self.read_back(target))


class ChdbContract(ClickHouseContract, unittest.TestCase):
    kind = "chdb"

    def folder(self) -> str:
        return FOLDER  # the process's one chDB folder (tests.support.chdb): the tables are the tests' own

    def client(self):
        return chdb_client()

    def store(self, name: str) -> Connection:
        return Connection("chdb", {"database": self.folder(), "table": name})

    def test_neither_describe_nor_a_failed_run_shows_a_secret(self):
        declared = self.pdi.get(AdapterRegistry).settings("chdb")
        self.assertFalse(any(setting.secret for setting in declared))
        self.skipTest("a chdb connection has no secret setting")


class ClickHouseServerContract(ClickHouseContract, unittest.TestCase):
    kind = "clickhouse"

    def url(self) -> str:
        url = os.environ.get(ENV_CLICKHOUSE, "").strip()
        if not url:
            self.skipTest(f"no ClickHouse server: set {ENV_CLICKHOUSE} to run the contract against one")
        return url

    def client(self):
        return clickhouse_connect.get_client(dsn=self.url())

    def store(self, name: str) -> Connection:
        return Connection("clickhouse", {"url": self.url(), "table": name})

    def with_secret(self, secret: str) -> Connection:
        return Connection("clickhouse", {"host": "127.0.0.1", "port": 1, "password": secret, "table": "missing"})


class ClickHouseAddressTest(unittest.TestCase):
    """`kind: clickhouse` without a server: how the client is addressed, and a server that does
    not answer is an error naming the connection and the setting, never the password."""

    def test_the_parts_or_the_url_address_the_client(self):
        parts = Connection(
            "clickhouse", {"host": "ch", "port": 8443, "user": "loader", "password": "pw", "secure": True}
        )
        self.assertEqual(
            address(parts, None),
            {"host": "ch", "port": 8443, "username": "loader", "password": "pw", "secure": True},
        )
        self.assertEqual(
            address(Connection("clickhouse", {"url": "http://ch:8123/db"}), None), {"dsn": "http://ch:8123/db"}
        )
        self.assertEqual(address(Connection("chdb", {"database": ":memory:"}), None), {"dsn": "chdb://memory"})

    def test_a_server_that_does_not_answer_is_named_without_its_password(self):
        secret = f"s3cr3t-{uuid.uuid4().hex[:8]}"
        connection = Connection("clickhouse", {"port": 1, "password": secret, "table": "t"}, name="warehouse")
        source = ClickHouseSource(connection, None)
        with self.assertRaises(OperationError) as raised:
            list(source.read(ReadRequest(10)))
        source.close()
        self.assertIn("clickhouse connection 'warehouse': url:", str(raised.exception))
        self.assertNotIn(secret, str(raised.exception))
        self.assertEqual(source.describe(), "clickhouse:t")


del ClickHouseContract  # not a test case of its own


if __name__ == "__main__":
    unittest.main()
