"""The state store on PostgreSQL and MariaDB (`INTEGRATOR.STATE_URL`): a new run never takes an
existing execution id, a resume needs a run to continue, dead letters read back by integration
and limit. Each test's tables live in a schema (PostgreSQL) or database (MariaDB) of its own."""

import unittest
import uuid

import sqlalchemy as sa

from pdip.configuration import Configuration
from pdip.integrator.errors import ExecutionExistsError, NothingToResumeError
from pdip.integrator.state import IntegratorConfig, StateStore
from tests.support import servers


class StateStoreContract:
    def state_url(self) -> str:
        raise NotImplementedError

    def setUp(self):
        self.name = f"pdip_state_store_{uuid.uuid4().hex[:8]}"
        self.state = StateStore(IntegratorConfig(state_url=self.state_url()), Configuration())
        self.addCleanup(self.state.close)

    def test_executions_are_claimed_once_and_resumed_only_when_unfinished(self):
        execution_id, resumed = self.state.start_execution("copy")
        self.assertFalse(resumed)
        with self.assertRaises(ExecutionExistsError) as raised:
            self.state.start_execution("copy", execution_id)
        self.assertIn(self.name, str(raised.exception))  # the state database is named
        self.state.execution_finished(execution_id, "failed", {"a": {"rows_read": 1}})
        self.assertEqual(self.state.start_execution("copy", resume=True), (execution_id, True))
        self.state.execution_finished(execution_id, "finished", {})
        with self.assertRaises(NothingToResumeError):
            self.state.start_execution("copy", resume=True)
        with self.assertRaises(NothingToResumeError):
            self.state.start_execution("copy", execution_id, resume=True)
        self.assertEqual([record["status"] for record in self.state.executions()], ["finished"])

    def test_dead_letters_by_integration_and_limit_and_their_counts(self):
        self.state.dead_letter("e", "orders", {"row": 3}, [({"id": 1}, "bad"), ({"id": 2}, "worse")])
        self.state.dead_letter("e", "lines", None, [({"n": 1}, "long")])
        self.assertEqual([letter["reason"] for letter in self.state.dead_letters("e", limit=2)], ["bad", "worse"])
        self.assertEqual([letter["row"] for letter in self.state.dead_letters("e", "lines")], [{"n": 1}])
        self.assertEqual(self.state.dead_letters("e")[0]["position"], {"row": 3})
        self.assertEqual(self.state.dead_letter_counts("e"), {"orders": 2, "lines": 1})


class PostgresStateStoreTest(StateStoreContract, unittest.TestCase):
    def state_url(self) -> str:
        url = sa.make_url(servers.postgres_url())
        engine = sa.create_engine(url)
        self.addCleanup(engine.dispose)
        with engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {self.name}")
        self.addCleanup(_run, engine, f"DROP SCHEMA {self.name} CASCADE")
        return url.update_query_dict({"options": f"-csearch_path={self.name}"}).render_as_string(hide_password=False)


class MariaDbStateStoreTest(StateStoreContract, unittest.TestCase):
    def state_url(self) -> str:
        url = sa.make_url(servers.mysql_url())
        engine = sa.create_engine(url)
        self.addCleanup(engine.dispose)
        _run(engine, f"CREATE DATABASE {self.name}")
        self.addCleanup(_run, engine, f"DROP DATABASE {self.name}")
        return url.set(database=self.name).render_as_string(hide_password=False)


def _run(engine: sa.Engine, statement: str) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql(statement)


if __name__ == "__main__":
    unittest.main()
