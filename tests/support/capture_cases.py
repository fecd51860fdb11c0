"""What the capture test cases share: a source server, a replica database beside it, and a run.

    class MyCase(CapturedDatabasesCase):
        replica_database = "pdip_capture_replica"

        @classmethod
        def server_url(cls) -> str:                    # the server the tests started
            return logical_postgres_url()

        @classmethod
        def create_replica(cls, source) -> None:       # the replica database, made once
            ...

    result, letters = self.integrate("name", source, target, batch_size=1000)

Each case class gets `url` (the source database's), `source` and `replica` engines, `root` (the
folder the runs' state lives in) and the helpers `sql`, `integrate` and `assert_same`.
"""

from __future__ import annotations

import tempfile
import unittest
import uuid
from typing import Any

import sqlalchemy as sa

from pdip import Pdi
from pdip.integrator import Integration, Operation, StateStore
from pdip.integrator.base import Integrator
from pdip.integrator.events import BatchWritten


class CapturedDatabasesCase(unittest.TestCase):
    url = ""
    replica_database = ""

    @classmethod
    def server_url(cls) -> str:  # pragma: no cover - each case names its own
        raise NotImplementedError

    @classmethod
    def create_replica(cls, source: sa.Engine) -> None:  # pragma: no cover - each case makes its own
        raise NotImplementedError

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.TemporaryDirectory(prefix="pdip-capture-")
        cls.url = cls.server_url()
        cls.source = sa.create_engine(cls.url)
        cls.create_replica(cls.source)
        cls.replica_url = sa.engine.make_url(cls.url).set(database=cls.replica_database).render_as_string(False)
        cls.replica = sa.create_engine(cls.replica_url)

    @classmethod
    def tearDownClass(cls):
        cls.source.dispose()
        cls.replica.dispose()
        cls.root.cleanup()

    def sql(self, engine: sa.Engine, *statements: str) -> None:
        with engine.begin() as db:
            for statement in statements:
                db.exec_driver_sql(statement)

    def integrate(
        self,
        name: str,
        source: Any,
        target: Any,
        execution: str = "run",
        store: tuple[str, Any] | None = None,
        events: list | None = None,
        follow: bool = False,
        **settings: Any,
    ) -> tuple[Any, list]:
        """One `changes` integration from `source` to `target` (`settings`: the integration's
        own, such as batch_size or schema); its result and the dead letters of the run."""
        integration = Integration("capture", mode="changes", source=source, target=target, **settings)
        execution = f"{execution}-{uuid.uuid4().hex[:8]}"
        with Pdi(root_directory=self.root.name) as pdi:
            integrator = pdi.get(Integrator)
            if store is not None:
                integrator.stores[store[0]] = store[1]
            if events is not None:
                integrator.subscribe(BatchWritten, events.append)
            result = integrator.integrate(Operation(name, [integration]), execution_id=execution, follow=follow)
            letters = pdi.get(StateStore).dead_letters(execution)
        return result, letters

    def assert_same(self, table: str) -> None:
        """The replica's `table` holds the source's rows, in key order."""
        with self.source.connect() as db:
            expected = db.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1").all()
        with self.replica.connect() as db:
            found = db.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1").all()
        self.assertEqual([tuple(row) for row in found], [tuple(row) for row in expected])
