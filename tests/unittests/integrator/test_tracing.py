"""OpenTelemetry spans of runs: recorded by the SDK's in-memory exporter, and sent over OTLP/HTTP to
a stub collector on 127.0.0.1 (a few lines of http.server, decoded with opentelemetry-proto)."""

import contextlib
import http.server
import io
import json
import shutil
import socket
import sqlite3
import sys
import tempfile
import threading
import unittest
from pathlib import Path
from unittest import mock

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from pdip import Pdi
from pdip.configuration import ConfigurationError
from pdip.integrator import Connection, Integration, Integrator, Operation
from pdip.integrator.delivery import DeliveryFailures
from pdip.integrator.events import (
    BatchWritten,
    IntegrationFailed,
    IntegrationFinished,
    IntegrationRetried,
    IntegrationStarted,
    OperationFinished,
    OperationStarted,
    RowsDeadLettered,
)
from pdip.integrator.tracing import CountedExporter, Tracing, TracingConfig, tracer_provider

PASSWORD = "s3cret-pw"
TOKEN = "tok-9f8e7d"


def memory(store):
    return Connection("memory", {"store": store})


def recorded():
    """A tracer provider whose spans are kept in memory, and that memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def everything_shown(spans) -> str:
    """Every attribute and event of the spans, as text, to look for secrets in."""
    shown = []
    for span in spans:
        shown.append(f"{span.name} {dict(span.attributes)} {span.status.description}")
        shown.extend(f"{event.name} {dict(event.attributes)}" for event in span.events)
    return "\n".join(shown)


class SpansTest(unittest.TestCase):
    def setUp(self):
        self.root = Path(tempfile.mkdtemp(prefix="pdip-tracing-"))
        self.addCleanup(shutil.rmtree, self.root, True)
        pdi = Pdi(root_directory=self.root)
        self.addCleanup(pdi.cleanup)
        self.integrator = pdi.get(Integrator)
        provider, self.exporter = recorded()
        self.failures = DeliveryFailures(None)
        Tracing(TracingConfig("global"), self.failures, provider).attach(self.integrator)

    def spans(self):
        return {span.name: span for span in self.exporter.get_finished_spans()}

    def test_a_run_is_an_operation_span_with_a_child_span_per_integration_and_batch_events(self):
        with sqlite3.connect(self.root / "out.db") as connection:
            connection.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        self.integrator.stores["people"] = [{"id": i, "name": None if i == 3 else f"p{i}"} for i in range(5)]
        target = Connection("sqlite", {"database": "out.db", "table": "people"})
        people = Integration("people", source=memory("people"), target=target, batch_size=2, max_errors=5)
        with contextlib.redirect_stdout(io.StringIO()):
            self.assertTrue(self.integrator.integrate(Operation("nightly", [people]), execution_id="run-1").ok)
        spans = self.spans()
        self.assertEqual(set(spans), {"nightly", "nightly.people"})
        operation, integration = spans["nightly"], spans["nightly.people"]
        self.assertEqual(integration.parent.span_id, operation.context.span_id)
        self.assertEqual(integration.context.trace_id, operation.context.trace_id)
        self.assertEqual(operation.attributes["pdip.execution_id"], "run-1")
        self.assertEqual(
            (operation.attributes["pdip.status"], operation.status.status_code), ("finished", StatusCode.OK)
        )
        attributes = integration.attributes
        self.assertEqual(
            [attributes[f"pdip.{name}"] for name in ("status", "rows_read", "rows_written", "rows_dead_lettered")],
            ["finished", 5, 4, 1],
        )
        self.assertEqual(attributes["pdip.inputs"], ("memory/people",))
        self.assertEqual(attributes["pdip.outputs"], (f"sqlite://{self.root}/out.db/people",))
        batches = [event for event in integration.events if event.name == "batch written"]
        self.assertEqual([event.attributes["pdip.total_rows"] for event in batches], [2, 3, 4])
        self.assertEqual([event.attributes["pdip.rows_read"] for event in batches], [2, 2, 1])
        (letters,) = [event for event in integration.events if event.name == "rows dead-lettered"]
        self.assertEqual(letters.attributes["pdip.rows"], 1)
        self.assertIn("NOT NULL", letters.attributes["pdip.reason"])
        self.assertEqual(self.failures.counts(), {})

    def test_a_failed_integration_has_its_error_type_and_masked_message_and_no_secret(self):
        url = f"postgresql+psycopg://app:{PASSWORD}@127.0.0.1:1/shop"
        bad = Connection("postgresql", {"url": url, "table": "t"})
        operation = Operation("nightly", [Integration("orders", source=bad, target=memory("copy"))])
        with contextlib.redirect_stdout(io.StringIO()):
            self.assertEqual(self.integrator.integrate(operation, execution_id="run-2").status, "failed")
        spans = self.spans()
        failed = spans["nightly.orders"]
        self.assertEqual(failed.status.status_code, StatusCode.ERROR)
        self.assertEqual(failed.attributes["pdip.status"], "failed")
        self.assertEqual(failed.attributes["error.type"], "OperationalError")
        (exception,) = [event for event in failed.events if event.name == "exception"]
        self.assertTrue(exception.attributes["exception.message"].startswith("OperationalError: "))
        self.assertEqual(spans["nightly"].status.status_code, StatusCode.ERROR)
        self.assertNotIn(PASSWORD, everything_shown(spans.values()))

    def test_events_of_a_run_heard_midway_and_integrations_left_open_are_told_and_ended(self):
        provider, exporter = recorded()
        tracing = Tracing(TracingConfig("global"), self.failures, provider)
        # heard midway: no span to add to, nothing raised
        tracing.batch_written(BatchWritten("e0", "op", "a", 1, 10, 0.1, 1))
        tracing.rows_dead_lettered(RowsDeadLettered("e0", "op", "a", 1, "refused"))
        tracing.integration_retried(IntegrationRetried("e0", "op", "a", 2, "OperationalError: gone", 0.5))
        tracing.integration_failed(IntegrationFailed("e0", "op", "a", "boom", 0.1))
        tracing.integration_finished(IntegrationFinished("e0", "op", "a", 1, 1, 0, 0.1))
        tracing.operation_finished(OperationFinished("e0", "op", "failed", 0.1))
        tracing.integration_started(IntegrationStarted("e0", "op", "alone", None, "memory:copy"))
        self.assertEqual(exporter.get_finished_spans(), ())
        # a capture's lag, a retry, and an interruption that leaves the integration open
        tracing.operation_started(OperationStarted("e1", "op", 1))
        tracing.integration_started(IntegrationStarted("e1", "op", "a", "memory:a", "memory:b"))
        tracing.integration_retried(IntegrationRetried("e1", "op", "a", 2, "OperationalError: gone", 0.5))
        tracing.batch_written(BatchWritten("e1", "op", "a", 3, 30, 0.1, 3, rows_read=3, lag=2048))
        tracing.operation_finished(OperationFinished("e1", "op", "interrupted", 0.2))
        spans = {span.name: span for span in exporter.get_finished_spans()}
        self.assertEqual(set(spans), {"op", "op.a"})
        self.assertEqual(spans["op.a"].attributes["pdip.status"], "interrupted")
        self.assertEqual(spans["op.a"].attributes["pdip.source"], "memory:a")
        retried, written = spans["op.a"].events
        self.assertEqual((retried.name, retried.attributes["pdip.attempt"]), ("retried", 2))
        self.assertEqual(written.attributes["pdip.lag_bytes"], 2048)
        self.assertEqual(spans["op"].status.description, "the operation interrupted")
        self.assertEqual(spans["op.a"].attributes["pdip.rows_written"], 3)
        # an error without a type (an interruption's words) is typed by its status
        tracing.operation_started(OperationStarted("e2", "op", 1))
        tracing.integration_started(IntegrationStarted("e2", "op", "b", "memory:a", "memory:b"))
        tracing.integration_failed(IntegrationFailed("e2", "op", "b", "interrupted by the user", 0.1))
        self.assertEqual(exporter.get_finished_spans()[-1].attributes["error.type"], "failed")


class CollectorStub(http.server.BaseHTTPRequestHandler):
    """Keeps each OTLP/HTTP request's headers and decoded spans; answers `status`."""

    status = 200

    def do_POST(self):
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.server.received.append((self.path, self.headers, request))
        self.send_response(self.status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *arguments):
        pass


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OtlpTest(unittest.TestCase):
    def setUp(self):
        self.root = Path(tempfile.mkdtemp(prefix="pdip-tracing-"))
        self.addCleanup(shutil.rmtree, self.root, True)

    def collector(self, status=200):
        handler = type("Handler", (CollectorStub,), {"status": status})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.received = []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return server

    def integrate(self, tracing, execution_id):
        pdi = Pdi(root_directory=self.root, configurations={"INTEGRATOR": {"TRACING": tracing}})
        self.addCleanup(pdi.cleanup)
        integrator = pdi.get(Integrator)
        integrator.stores["orders"] = [{"id": 1, "amount": 10}, {"id": 2, "amount": 20}]
        operation = Operation("nightly", [Integration("orders", source=memory("orders"), target=memory("copy"))])
        with contextlib.redirect_stdout(io.StringIO()) as output:
            self.assertTrue(integrator.integrate(operation, execution_id=execution_id).ok)
        return integrator, output.getvalue()

    def test_spans_reach_an_otlp_http_collector_with_the_headers_and_without_secrets(self):
        server = self.collector()
        endpoint = f"http://127.0.0.1:{server.server_port}/v1/traces"
        tracing = {"ENDPOINT": endpoint, "HEADERS": {"Authorization": f"Bearer {TOKEN}"}, "SERVICE_NAME": "shop-etl"}
        integrator, _ = self.integrate(tracing, "otlp-1")
        ((path, headers, request),) = server.received  # flushed, in one request, when the operation ended
        self.assertEqual(path, "/v1/traces")
        self.assertEqual(headers["Authorization"], f"Bearer {TOKEN}")
        (resource_spans,) = request.resource_spans
        resource = {item.key: item.value.string_value for item in resource_spans.resource.attributes}
        self.assertEqual(resource["service.name"], "shop-etl")
        spans = [span for scope in resource_spans.scope_spans for span in scope.spans]
        self.assertEqual(sorted(span.name for span in spans), ["nightly", "nightly.orders"])
        self.assertNotIn(TOKEN.encode(), request.SerializeToString())
        self.assertEqual(integrator.deliveries.counts(), {})

    def test_unset_settings_come_from_the_standard_environment(self):
        server = self.collector()
        environment = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
            "OTEL_SERVICE_NAME": "from-env",
        }
        with mock.patch.dict("os.environ", environment):
            self.integrate({"EXPORTER": "otlp"}, "otlp-2")
        ((path, _, request),) = server.received
        self.assertEqual(path, "/v1/traces")
        resource = {item.key: item.value.string_value for item in request.resource_spans[0].resource.attributes}
        self.assertEqual(resource["service.name"], "from-env")

    def test_a_collector_that_is_down_or_refuses_never_fails_the_run_and_is_counted_once_logged(self):
        refusing = self.collector(status=400)
        tracing = {"ENDPOINT": f"http://{PASSWORD}@127.0.0.1:{refusing.server_port}/v1/traces", "TIMEOUT": 2}
        with self.assertLogs("opentelemetry.exporter", "ERROR") as exporter_log:  # the exporter says why
            integrator, output = self.integrate(tracing, "otlp-3")
        self.assertIn("code: 400", exporter_log.output[0])
        self.assertEqual(integrator.deliveries.counts(), {"tracing": 2})
        (line,) = [line for line in output.splitlines() if "not delivered" in line]
        self.assertIn("tracing of execution otlp-3 not delivered; the run goes on", line)
        self.assertNotIn(PASSWORD, output)
        down = {"ENDPOINT": f"http://127.0.0.1:{free_port()}/v1/traces", "TIMEOUT": 0.5}
        with self.assertLogs("opentelemetry.exporter", "ERROR"):
            integrator, _ = self.integrate(down, "otlp-4")
        self.assertEqual(integrator.deliveries.counts(), {"tracing": 2})

    def test_the_console_exporter_prints_each_span_as_json(self):
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            provider = tracer_provider(TracingConfig("console"), DeliveryFailures(None))
            tracer = provider.get_tracer("test")
            tracer.start_span("hello").end()
        self.assertEqual(json.loads(printed.getvalue())["name"], "hello")


class TracingConfigTest(unittest.TestCase):
    def pdi(self, tracing):
        root = tempfile.mkdtemp(prefix="pdip-tracing-")
        self.addCleanup(shutil.rmtree, root, True)
        pdi = Pdi(root_directory=root, configurations={"INTEGRATOR": {"TRACING": tracing}}, validate=False)
        self.addCleanup(pdi.cleanup)
        return pdi

    def test_wrong_settings_are_refused_naming_them(self):
        cases = [
            ({"EXPORTER": "jaeger"}, r"INTEGRATOR.TRACING.EXPORTER.*jaeger"),
            ({"ENDPOINT": "collector:4318"}, r"ENDPOINT: expected the collector's http:// or https:// traces URL"),
            ({"TIMEOUT": 0}, r"TIMEOUT: expected seconds above 0, got 0"),
            ({"ENDPIONT": "http://x"}, r"INTEGRATOR.TRACING.ENDPIONT.*unknown"),
        ]
        for tracing, pattern in cases:
            with self.subTest(tracing=tracing), self.assertRaisesRegex(ConfigurationError, pattern):
                self.pdi(tracing).get(Integrator)

    def test_pdip_check_reports_them_with_the_file(self):
        from tests.unittests.test_cli import run

        root = Path(tempfile.mkdtemp(prefix="pdip-tracing-"))
        self.addCleanup(shutil.rmtree, root, True)
        (root / "application.yml").write_text("INTEGRATOR:\n  TRACING: {EXPORTER: otlp, ENDPOINT: 'collector:4318'}\n")
        code, _, err = run("check", str(root))
        self.assertEqual(code, 2)
        self.assertIn("INTEGRATOR.TRACING: ENDPOINT: expected the collector's http:// or https:// traces URL", err)

    def test_headers_are_never_shown_and_encrypted_ones_are_decrypted(self):
        from pdip.cryptography import CryptoService
        from pdip.integrator import IntegratorConfig

        self.assertNotIn(TOKEN, repr(TracingConfig(headers={"Authorization": TOKEN})))
        key = CryptoService.generate_key()
        tracing = {"HEADERS": {"Authorization": f"enc:{CryptoService(key).encrypt(TOKEN)}"}}
        root = tempfile.mkdtemp(prefix="pdip-tracing-")
        self.addCleanup(shutil.rmtree, root, True)
        configurations = {"APPLICATION": {"SECRET_KEY": key}, "INTEGRATOR": {"TRACING": tracing}}
        with Pdi(root_directory=root, configurations=configurations, validate=False) as pdi:
            self.assertEqual(pdi.configuration.section(IntegratorConfig).tracing.headers, {"Authorization": TOKEN})

    def test_global_uses_the_applications_tracer_provider(self):
        tracing = Tracing(TracingConfig("global"), DeliveryFailures(None))
        self.assertIs(tracing.provider, trace.get_tracer_provider())

    def test_without_opentelemetry_installed_the_error_names_the_extra(self):
        with mock.patch.dict(sys.modules, {"opentelemetry": None, "opentelemetry.trace": None}):
            with self.assertRaisesRegex(ConfigurationError, r"\(INTEGRATOR.TRACING\) need .*pdip\[tracing\]"):
                self.pdi({"EXPORTER": "global"}).get(Integrator)
        exporter = "opentelemetry.exporter.otlp.proto.http.trace_exporter"
        with mock.patch.dict(sys.modules, {exporter: None}):
            with self.assertRaisesRegex(ConfigurationError, r"opentelemetry-exporter-otlp-proto-http.*pdip\[tracing\]"):
                self.pdi({}).get(Integrator)

    def test_an_exporter_that_raises_is_counted_by_execution(self):
        class Broken:
            def export(self, spans):
                raise ConnectionError("refused")

            def shutdown(self):
                self.shut = True

            def force_flush(self, timeout_millis):
                return timeout_millis

        failures = DeliveryFailures(mock.Mock())
        counted = CountedExporter(Broken(), failures, "a collector")
        span = mock.Mock(attributes={"pdip.execution_id": "e9"})
        self.assertEqual(counted.export([span, span]), SpanExportResult.FAILURE)
        self.assertEqual(failures.counts(), {"tracing": 2})
        self.assertIn("2 spans to a collector: ConnectionError: refused", str(failures.logger.error.call_args))
        counted.shutdown()
        self.assertEqual((counted.exporter.shut, counted.force_flush(5)), (True, 5))


if __name__ == "__main__":
    unittest.main()
