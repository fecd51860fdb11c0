"""Pooled connections are pinged when idle a while, not on every checkout, and kept for the
threads that use them at once (PostgreSQL, MariaDB)."""

import contextlib
import unittest
from unittest import mock

import sqlalchemy as sa

from pdip.configuration import Configuration, DatabaseConfig
from pdip.configuration.models.api import ApiConfig
from pdip.data import session as sessions
from pdip.data.session import DatabaseSessionManager
from tests.support import servers


def _manager(url: str) -> DatabaseSessionManager:
    parsed = sa.make_url(url)
    config = DatabaseConfig(connection_string=url, type=parsed.get_backend_name())
    return DatabaseSessionManager(config, Configuration())


class IdlePingContract:
    def database_url(self) -> str:
        raise NotImplementedError

    def setUp(self):
        self.manager = _manager(self.database_url())
        self.addCleanup(self.manager.close)
        self.pings = 0
        dialect = self.manager.engine.dialect
        original = dialect.do_ping

        def counted(connection):
            self.pings += 1
            return original(connection)

        patcher = mock.patch.object(dialect, "do_ping", counted)
        patcher.start()
        self.addCleanup(patcher.stop)

    def _one(self) -> int:
        with self.manager.engine.connect() as connection:
            return connection.execute(sa.text("SELECT 1")).scalar_one()

    def _backend_id(self, connection: sa.Connection) -> int:
        raise NotImplementedError

    def test_a_connection_used_a_moment_ago_is_handed_out_without_a_ping(self):
        for _ in range(3):
            self.assertEqual(self._one(), 1)
        self.assertEqual(self.pings, 0)

    def test_an_idle_connection_the_server_dropped_is_replaced_before_use(self):
        with self.manager.engine.connect() as connection:
            dropped = self._backend_id(connection)
        with sa.create_engine(self.database_url()).connect() as admin:  # another session drops ours
            admin.exec_driver_sql(self.kill.format(dropped))
        with mock.patch.object(sessions, "PING_AFTER_SECONDS", 0.0):
            with self.manager.engine.connect() as connection:
                self.assertNotEqual(self._backend_id(connection), dropped)
        self.assertEqual(self.pings, 1)

    def test_as_many_connections_as_an_api_worker_has_threads_are_kept_between_requests(self):
        def at_once() -> set[int]:
            with contextlib.ExitStack() as stack:
                connections = [stack.enter_context(self.manager.engine.connect()) for _ in range(threads)]
                return {self._backend_id(connection) for connection in connections}

        threads = ApiConfig().threads  # `pdip api`'s default: each may hold a connection at once
        first = at_once()
        self.assertEqual(at_once(), first)  # none closed on its return, none opened anew

    def test_a_ping_that_fails_for_another_reason_fails_the_checkout_with_it(self):
        self._one()
        dialect = self.manager.engine.dialect

        def refused(_connection):
            raise dialect.loaded_dbapi.ProgrammingError("ping refused by a proxy")

        with mock.patch.object(sessions, "PING_AFTER_SECONDS", 0.0), mock.patch.object(dialect, "do_ping", refused):
            with self.assertRaisesRegex(Exception, "ping refused by a proxy"):
                self._one()


class PostgresIdlePingTest(IdlePingContract, unittest.TestCase):
    kill = "SELECT pg_terminate_backend({})"

    def database_url(self):
        return servers.postgres_url()

    def _backend_id(self, connection):
        return connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


class MariaDbIdlePingTest(IdlePingContract, unittest.TestCase):
    kill = "KILL {}"

    def database_url(self):
        return servers.mysql_url()

    def _backend_id(self, connection):
        return connection.exec_driver_sql("SELECT CONNECTION_ID()").scalar_one()


if __name__ == "__main__":
    unittest.main()
