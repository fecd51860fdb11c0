"""OpenLineage events POSTed by the client's http transport to a collector this test starts."""

import contextlib
import io
import shutil
import tempfile
import unittest

import sqlalchemy as sa

from pdip import Pdi
from pdip.integrator import Connection, Integration, Integrator, Operation
from pdip.integrator.lineage import run_id
from tests.support.receivers import HttpReceiver, free_port
from tests.support.servers import postgres_url


def memory(store):
    return Connection("memory", {"store": store})


OPERATION = Operation("nightly", [Integration("orders", source=memory("orders"), target=memory("copy"))])


class LineageOverHttpTest(unittest.TestCase):
    def integrator(self, **lineage):
        """An integrator whose lineage goes to a collector over http (`lineage`: its settings)."""
        root = tempfile.mkdtemp(prefix="pdip-lineage-http-")
        self.addCleanup(shutil.rmtree, root, True)
        pdi = Pdi(root_directory=root, configurations={"INTEGRATOR": {"LINEAGE": {"TRANSPORT": "http", **lineage}}})
        self.addCleanup(pdi.cleanup)
        integrator = pdi.get(Integrator)
        integrator.stores["orders"] = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
        return integrator

    def test_the_collector_receives_every_run_event_with_the_api_key_as_bearer_token(self):
        with HttpReceiver() as collector:
            integrator = self.integrator(URL=collector.url, API_KEY="key-123")
            self.assertTrue(integrator.integrate(OPERATION, execution_id="run-1").ok)
        self.assertEqual({path for path, _, _ in collector.received}, {"/api/v1/lineage"})
        self.assertEqual({headers["Authorization"] for _, headers, _ in collector.received}, {"Bearer key-123"})
        events = collector.bodies()
        self.assertEqual(
            [(event["eventType"], event["run"]["runId"]) for event in events],
            [
                ("START", run_id("run-1")),
                ("START", run_id("run-1", "orders")),
                ("COMPLETE", run_id("run-1", "orders")),
                ("COMPLETE", run_id("run-1")),
            ],
        )
        self.assertEqual(events[2]["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"], 2)
        self.assertEqual(integrator.deliveries.counts(), {})

    def test_a_collector_that_fails_or_is_not_there_never_fails_the_run(self):
        with HttpReceiver(status=500) as collector:
            failing = self.integrator(URL=collector.url, ENDPOINT="/lineage", API_KEY="key-456", RETRIES=0)
            with contextlib.redirect_stdout(io.StringIO()) as output:
                self.assertTrue(failing.integrate(OPERATION, execution_id="run-2").ok)
        self.assertEqual(len(collector.received), 1)  # the first event failed: the rest are not tried
        self.assertEqual(failing.deliveries.counts(), {"lineage": 4})
        logged = output.getvalue()
        self.assertEqual(logged.count("not delivered"), 1)
        self.assertIn("http transport: RetryError", logged)
        self.assertIn("too many 500 error responses", logged)
        self.assertNotIn("key-456", logged)
        absent = self.integrator(URL=f"http://127.0.0.1:{free_port()}", RETRIES=0, TIMEOUT=2)
        with contextlib.redirect_stdout(io.StringIO()) as output:
            self.assertTrue(absent.integrate(OPERATION, execution_id="run-3").ok)
        self.assertIn("lineage of execution run-3 not delivered", output.getvalue())
        self.assertIn("ConnectionError", output.getvalue())

    def test_a_postgresql_source_is_named_by_server_and_table_with_its_declared_types(self):
        # named from the server and database, never with the connection's password
        url = postgres_url()
        engine = sa.create_engine(url)
        self.addCleanup(engine.dispose)
        with engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE IF EXISTS lineage_orders"))
            connection.execute(sa.text("CREATE TABLE lineage_orders (id INTEGER PRIMARY KEY, name VARCHAR(20))"))
            connection.execute(sa.text("INSERT INTO lineage_orders VALUES (1, 'a'), (2, 'b'), (3, 'c')"))
        self.addCleanup(_drop, engine, "lineage_orders")
        secret_url = sa.make_url(url).set(password="pw-789")  # trust authentication ignores it
        source = Connection(
            "postgresql", {"url": secret_url.render_as_string(hide_password=False), "table": "lineage_orders"}
        )
        operation = Operation("nightly", [Integration("orders", source=source, target=memory("copy"))])
        with HttpReceiver() as collector:
            integrator = self.integrator(URL=collector.url)
            result = integrator.integrate(operation, execution_id="run-sql")
        self.assertTrue(result.ok, result["orders"].error)
        completed = collector.bodies()[2]
        (dataset,) = completed["inputs"]
        parsed = sa.make_url(url)
        self.assertEqual(dataset["namespace"], f"postgres://{parsed.host}:{parsed.port or 5432}")
        self.assertEqual(dataset["name"], f"{parsed.database}.public.lineage_orders")
        fields = [(field["name"], field["type"]) for field in dataset["facets"]["schema"]["fields"]]
        self.assertEqual(fields, [("id", "INTEGER"), ("name", "VARCHAR(20)")])
        self.assertEqual(dataset["inputFacets"]["inputStatistics"]["rowCount"], 3)
        self.assertNotIn("pw-789", str(collector.received))


def _drop(engine, table):
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
