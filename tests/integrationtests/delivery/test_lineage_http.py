"""OpenLineage events POSTed by the client's http transport to a collector this test starts."""

import contextlib
import io
import shutil
import tempfile
import unittest

from pdip import Pdi
from pdip.integrator import Connection, Integration, Integrator, Operation
from pdip.integrator.lineage import run_id
from tests.support.receivers import HttpReceiver, free_port


def memory(store):
    return Connection("memory", {"store": store})


OPERATION = Operation("nightly", [Integration("orders", source=memory("orders"), target=memory("copy"))])


class LineageOverHttpTest(unittest.TestCase):
    def integrator(self, **lineage):
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
