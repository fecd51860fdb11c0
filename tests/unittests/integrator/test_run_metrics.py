"""Run metrics from the integrator's events: counts per operation and integration, a Pushgateway
(a real HTTP server on loopback that records what it is sent), a textfile for node_exporter."""

import http.server
import tempfile
import threading
import unittest
from pathlib import Path
from unittest import mock

from prometheus_client import CollectorRegistry

from pdip import Pdi
from pdip.dependency import PdiConfigurationError
from pdip.integrator import Integrator
from pdip.integrator.events import BatchWritten
from pdip.integrator.metrics import MetricsConfig, RunMetrics, hand_over, run_metrics
from pdip.integrator.models import Connection, Integration, Operation


class _Gateway(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_PUT(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body.decode()))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *arguments):
        pass


def copy():
    source = Connection("memory", {"store": "orders"})
    target = Connection("memory", {"store": "copy"})
    integration = Integration("orders", source=source, target=target, batch_size=250)
    return Operation("copy-orders", [integration], executor="inline")


class RunMetricsTest(unittest.TestCase):
    def setUp(self):
        self.pdi = Pdi(configurations={"CQRS": {"LOGGING": False}})
        self.integrator = self.pdi.get(Integrator)
        self.integrator.stores["orders"] = [{"id": i} for i in range(1, 1001)]
        self.registry = CollectorRegistry()
        self.metrics = RunMetrics(self.registry).attach(self.integrator)

    def tearDown(self):
        self.pdi.cleanup()

    def value(self, name, **labels):
        return self.registry.get_sample_value(name, labels)

    def test_a_run_is_counted_per_operation_and_integration(self):
        self.assertTrue(self.integrator.integrate(copy()).ok)
        labels = {"operation": "copy-orders", "integration": "orders"}
        self.assertEqual(self.value("pdip_rows_read_total", **labels), 1000)
        self.assertEqual(self.value("pdip_rows_written_total", **labels), 1000)
        self.assertEqual(self.value("pdip_batch_write_seconds_count", **labels), 4)
        self.assertGreater(self.value("pdip_batch_write_seconds_sum", **labels), 0)
        self.assertEqual(self.value("pdip_runs_total", operation="copy-orders", status="finished"), 1)
        self.assertEqual(self.value("pdip_runs_running", operation="copy-orders"), 0)
        finished = self.value("pdip_run_last_finished_timestamp_seconds", operation="copy-orders", status="finished")
        self.assertGreater(finished, 1_700_000_000)
        self.assertIn(b"pdip_rows_written_total", self.metrics.exposition())

    def test_dead_letters_and_failed_runs_are_counted(self):
        with tempfile.TemporaryDirectory() as folder:
            Path(folder, "a.jsonl").write_text('{"n": 1}\n{"n": "x"}\n{"n": "y"}\n{"n": 4}\n')
            source = Connection("jsonl", {"path": str(Path(folder, "a.jsonl")), "types": {"n": "int"}})
            target = Connection("memory", {"store": "numbers"})
            refusing = Integration("numbers", source=source, target=target, max_errors=1)
            result = self.integrator.integrate(Operation("numbers", [refusing], executor="inline"))
        self.assertEqual(result.status, "failed")  # two refused, more than max_errors
        labels = {"operation": "numbers", "integration": "numbers"}
        self.assertEqual(self.value("pdip_rows_dead_lettered_total", **labels), 2)
        self.assertEqual(self.value("pdip_runs_total", operation="numbers", status="failed"), 1)
        self.assertIsNone(self.value("pdip_runs_total", operation="numbers", status="finished"))

    def test_a_captures_lag_is_the_last_batchs(self):
        for lag in (5_000, None, 1_200):  # a batch that does not know its lag leaves the gauge as it was
            self.metrics.written(BatchWritten("e1", "capture-orders", "orders", 10, 0, 0.01, 10, lag=lag))
        self.assertEqual(self.value("pdip_capture_lag_bytes", operation="capture-orders", integration="orders"), 1200)
        self.assertIsNone(self.value("pdip_capture_lag_bytes", operation="copy-orders", integration="orders"))

    def test_runs_going_are_a_gauge(self):
        heard = []
        self.integrator.subscribe(
            BatchWritten, lambda event: heard.append(self.value("pdip_runs_running", operation="copy-orders"))
        )
        self.integrator.integrate(copy())
        self.assertEqual(heard, [1.0, 1.0, 1.0, 1.0])
        self.assertEqual(self.value("pdip_runs_running", operation="copy-orders"), 0)

    def test_metrics_are_pushed_to_a_pushgateway_under_the_job_and_operation(self):
        server = http.server.HTTPServer(("127.0.0.1", 0), _Gateway)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        _Gateway.received = []
        try:
            self.integrator.integrate(copy())
            config = MetricsConfig(pushgateway=f"http://127.0.0.1:{server.server_port}", job="nightly")
            self.assertEqual(hand_over(self.metrics, config, "copy-orders"), [])
        finally:
            server.shutdown()
            server.server_close()
        [(path, body)] = _Gateway.received
        self.assertEqual(path, "/metrics/job/nightly/operation/copy-orders")
        self.assertIn('pdip_rows_written_total{integration="orders",operation="copy-orders"} 1000.0', body)

    def test_metrics_are_written_to_a_textfile_replaced_whole(self):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "pdip.prom"
            path.write_text("old\n")
            self.integrator.integrate(copy())
            self.assertEqual(hand_over(self.metrics, MetricsConfig(textfile=str(path)), "copy-orders"), [])
            text = path.read_text()
        self.assertNotIn("old", text)
        self.assertIn('pdip_runs_total{operation="copy-orders",status="finished"} 1.0', text)

    def test_destinations_that_fail_are_said_not_raised(self):
        with tempfile.TemporaryDirectory() as folder:
            config = MetricsConfig(pushgateway="http://127.0.0.1:9", textfile=f"{folder}/missing/pdip.prom")
            problems = hand_over(self.metrics, config, "copy-orders")
        self.assertEqual(len(problems), 2)
        self.assertTrue(problems[0].startswith("METRICS.PUSHGATEWAY: could not push to http://127.0.0.1:9: "))
        self.assertTrue(problems[1].startswith(f"METRICS.TEXTFILE: could not write {folder}/missing/pdip.prom: "))

    def test_a_password_in_the_pushgateways_url_is_never_shown(self):
        config = MetricsConfig(pushgateway="http://ops:hunter2@127.0.0.1:9")
        [problem] = hand_over(self.metrics, config, "copy-orders")
        self.assertNotIn("hunter2", problem)
        self.assertIn("could not push to http://ops:***@127.0.0.1:9", problem)


class RunMetricsConfigTest(unittest.TestCase):
    def test_no_destination_means_no_metrics(self):
        self.assertIsNone(run_metrics(MetricsConfig(), mock.Mock()))

    def test_a_destination_attaches_metrics_to_the_integrator(self):
        integrator = mock.Mock()
        metrics = run_metrics(MetricsConfig(textfile="pdip.prom"), integrator)
        self.assertIsInstance(metrics, RunMetrics)
        self.assertEqual(integrator.subscribe.call_count, 4)

    def test_a_destination_without_prometheus_client_is_refused_saying_what_to_install(self):
        with mock.patch.dict("sys.modules", {"prometheus_client": None}):
            with self.assertRaises(PdiConfigurationError) as raised:
                run_metrics(MetricsConfig(pushgateway="http://gateway:9091"), mock.Mock())
        self.assertIn("metrics (METRICS.PUSHGATEWAY) need the prometheus-client package", str(raised.exception))
        self.assertIn("pip install 'pdip[metrics]'", str(raised.exception))


if __name__ == "__main__":
    unittest.main()
