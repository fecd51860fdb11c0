"""OpenTelemetry traces of runs, made from the integrator's events (opentelemetry-sdk, the `tracing` extra).

```yaml
INTEGRATOR:
  TRACING:
    EXPORTER: otlp                        # otlp | console | global
    ENDPOINT: http://collector:4318/v1/traces
    HEADERS: {Authorization: enc:...}     # secret
```

An operation's run is a span named after the operation; each integration is a child span
`<operation>.<integration>` carrying its rows read, written and dead-lettered and its status
(an error's type and its message, masked as in the run's result); each written batch, each
dead-lettered group of rows and each retry is an event on the integration's span. `otlp` sends
spans over OTLP/HTTP (protobuf) from a background thread, flushed when the operation ends, and
what the section leaves unset comes from the standard `OTEL_EXPORTER_OTLP_*`, `OTEL_SERVICE_NAME`
and `OTEL_RESOURCE_ATTRIBUTES` variables; `console` prints each span as JSON; `global` hands the
spans to the tracer provider the application set up itself (`opentelemetry.trace`), under
whatever span is current when the run starts. An export that fails is counted and logged once per
execution (`pdip.integrator.delivery`); the run goes on.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import urllib.parse
from collections.abc import Sequence
from typing import Any, Literal

from pdip.integrator.delivery import TRACING, DeliveryFailures
from pdip.integrator.errors import needs
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
from pdip.policy import MASK
from pdip.policy.secrets import mask_sql_literals

SCOPE = "pdip.integrator"
EXECUTION = "pdip.execution_id"  # the attribute that ties every span to its execution


@dataclasses.dataclass
class TracingConfig:
    """`INTEGRATOR.TRACING`: where the spans of runs go.

    `exporter`: `otlp` (OTLP/HTTP to `endpoint` with `headers`, waiting `timeout` seconds; each
    left unset is read from the `OTEL_EXPORTER_OTLP_*` variables as the exporter reads them),
    `console` (each span printed as JSON) or `global` (the application's own tracer provider).
    `service_name`: the resource's `service.name` (else `OTEL_SERVICE_NAME`, else `pdip`)."""

    exporter: Literal["otlp", "console", "global"] = "otlp"
    endpoint: str | None = None
    headers: dict[str, str] | None = None
    timeout: float | None = None
    service_name: str | None = None

    def __post_init__(self) -> None:
        if self.endpoint is not None and not self.endpoint.startswith(("http://", "https://")):
            raise ValueError("ENDPOINT: expected the collector's http:// or https:// traces URL")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError(f"TIMEOUT: expected seconds above 0, got {self.timeout!r}")

    def __repr__(self) -> str:
        headers = {name: MASK for name in self.headers} if self.headers else None
        return f"TracingConfig(exporter={self.exporter!r}, endpoint={self.endpoint!r}, headers={headers!r})"


class CountedExporter:
    """A span exporter that counts the spans it failed to send, per execution, as failed tracing
    deliveries; everything else is the wrapped exporter's."""

    def __init__(self, exporter: Any, failures: DeliveryFailures, described: str):
        self.exporter, self.failures, self.described = exporter, failures, described

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        try:
            result = self.exporter.export(spans)
            reason = "the collector did not take them (the exporter's log says why)"
        except Exception as error:  # noqa: BLE001 - a collector that fails must not fail the run
            result, reason = SpanExportResult.FAILURE, f"{type(error).__name__}: {error}"
        if result is not SpanExportResult.SUCCESS:
            by_execution: dict[str, int] = {}
            for span in spans:
                execution = str((span.attributes or {}).get(EXECUTION, ""))
                by_execution[execution] = by_execution.get(execution, 0) + 1
            for execution, count in by_execution.items():
                self.failures.failed(TRACING, execution, f"{count} spans to {self.described}: {reason}", count)
        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.exporter.force_flush(timeout_millis)


def tracer_provider(config: TracingConfig, failures: DeliveryFailures) -> Any:
    """The tracer provider the spans go to: the application's (`global`), or one of pdip's own
    with the configured exporter."""
    from opentelemetry import trace

    if config.exporter == "global":
        return trace.get_tracer_provider()
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    attributes = {}
    if config.service_name or not os.environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = config.service_name or "pdip"
    provider = TracerProvider(resource=Resource.create(attributes))
    if config.exporter == "console":
        console = ConsoleSpanExporter(out=sys.stdout)  # the stdout of now (the default is the one at import)
        provider.add_span_processor(SimpleSpanProcessor(CountedExporter(console, failures, "console")))
        return provider
    otlp = needs(
        "opentelemetry.exporter.otlp.proto.http.trace_exporter",
        "traces to otlp (INTEGRATOR.TRACING.EXPORTER)",
        "tracing",
        "opentelemetry-exporter-otlp-proto-http",
    )
    exporter = otlp.OTLPSpanExporter(endpoint=config.endpoint, headers=config.headers, timeout=config.timeout)
    described = f"the otlp exporter at {_shown(config.endpoint) if config.endpoint else 'its OTEL_* endpoint'}"
    provider.add_span_processor(BatchSpanProcessor(CountedExporter(exporter, failures, described)))
    return provider


@dataclasses.dataclass
class _Tally:
    """What an integration's span has heard so far, for a failure (whose event counts nothing)."""

    span: Any
    rows_read: int = 0
    rows_written: int = 0
    rows_dead_lettered: int = 0


class Tracing:
    """Subscribe with `attach(integrator)`; a span per operation run and per integration."""

    def __init__(self, config: TracingConfig, failures: DeliveryFailures, provider: Any = None):
        trace = needs("opentelemetry.trace", "traces (INTEGRATOR.TRACING)", "tracing", "opentelemetry-sdk")
        self.config = config
        self.provider = tracer_provider(config, failures) if provider is None else provider
        self.tracer = trace.get_tracer(SCOPE, _version(), tracer_provider=self.provider)
        self._operations: dict[str, Any] = {}
        self._integrations: dict[tuple[str, str], _Tally] = {}
        self._lock = threading.Lock()

    def attach(self, integrator: Any) -> Tracing:
        integrator.subscribe(OperationStarted, self.operation_started)
        integrator.subscribe(IntegrationStarted, self.integration_started)
        integrator.subscribe(BatchWritten, self.batch_written)
        integrator.subscribe(RowsDeadLettered, self.rows_dead_lettered)
        integrator.subscribe(IntegrationRetried, self.integration_retried)
        integrator.subscribe(IntegrationFinished, self.integration_finished)
        integrator.subscribe(IntegrationFailed, self.integration_failed)
        integrator.subscribe(OperationFinished, self.operation_finished)
        return self

    # -- spans -----------------------------------------------------------------------------------

    def operation_started(self, event: OperationStarted) -> None:
        attributes = {EXECUTION: event.execution_id, "pdip.operation": event.operation}
        span = self.tracer.start_span(
            event.operation, attributes=attributes | {"pdip.integrations": event.integrations}
        )
        with self._lock:
            self._operations[event.execution_id] = span

    def integration_started(self, event: IntegrationStarted) -> None:
        from opentelemetry import trace

        with self._lock:
            parent = self._operations.get(event.execution_id)
        attributes = {
            EXECUTION: event.execution_id,
            "pdip.operation": event.operation,
            "pdip.integration": event.integration,
            "pdip.target": event.target,
            "pdip.inputs": [f"{dataset.namespace}/{dataset.name}" for dataset in event.inputs],
            "pdip.outputs": [f"{dataset.namespace}/{dataset.name}" for dataset in event.outputs],
        }
        if event.source is not None:
            attributes["pdip.source"] = event.source
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = self.tracer.start_span(f"{event.operation}.{event.integration}", context, attributes=attributes)
        with self._lock:
            self._integrations[(event.execution_id, event.integration)] = _Tally(span)

    def batch_written(self, event: BatchWritten) -> None:
        tally = self._tally(event.execution_id, event.integration)
        if tally is None:
            return
        tally.rows_read += event.rows_read
        tally.rows_written = event.total_rows
        attributes = {
            "pdip.rows": event.rows,
            "pdip.rows_read": event.rows_read,
            "pdip.bytes": event.bytes,
            "pdip.seconds": event.elapsed,
            "pdip.total_rows": event.total_rows,
        }
        if event.lag is not None:
            attributes["pdip.lag_bytes"] = event.lag
        tally.span.add_event("batch written", attributes)

    def rows_dead_lettered(self, event: RowsDeadLettered) -> None:
        tally = self._tally(event.execution_id, event.integration)
        if tally is None:
            return
        tally.rows_dead_lettered += event.rows
        # a driver's reason may quote the row: literals of secret columns and passwords masked
        reason = mask_sql_literals(event.reason)
        tally.span.add_event("rows dead-lettered", {"pdip.rows": event.rows, "pdip.reason": reason})

    def integration_retried(self, event: IntegrationRetried) -> None:
        tally = self._tally(event.execution_id, event.integration)
        if tally is not None:
            attributes = {"pdip.attempt": event.attempt, "pdip.delay": event.delay, "pdip.error": event.error}
            tally.span.add_event("retried", attributes)

    def integration_finished(self, event: IntegrationFinished) -> None:
        from opentelemetry.trace import Status, StatusCode

        tally = self._tally(event.execution_id, event.integration, forget=True)
        if tally is None:
            return
        tally.rows_read, tally.rows_written = event.rows_read, event.rows_written
        tally.rows_dead_lettered = event.rows_dead_lettered
        _end(tally.span, "finished", tally, Status(StatusCode.OK))

    def integration_failed(self, event: IntegrationFailed) -> None:
        tally = self._tally(event.execution_id, event.integration, forget=True)
        if tally is not None:
            _failed(tally.span, "failed", event.error)
            _end(tally.span, "failed", tally)

    def operation_finished(self, event: OperationFinished) -> None:
        """The operation's span ends, with any integration span an interruption left open, and
        pdip's own exporter sends what it holds (within `TIMEOUT`), so an ending `pdip run`
        loses nothing."""
        from opentelemetry.trace import Status, StatusCode

        with self._lock:
            span = self._operations.pop(event.execution_id, None)
            left = [key for key in self._integrations if key[0] == event.execution_id]
            open_ones = [self._integrations.pop(key) for key in left]
        for tally in open_ones:
            _end(tally.span, event.status, tally)
        if span is not None:
            span.set_attribute("pdip.status", event.status)
            if event.status == "finished":
                span.set_status(Status(StatusCode.OK))
            else:
                span.set_status(Status(StatusCode.ERROR, f"the operation {event.status}"))
            span.end()
        if self.config.exporter != "global":
            self.provider.force_flush(int((self.config.timeout or 10.0) * 1000))

    def _tally(self, execution_id: str, integration: str, forget: bool = False) -> _Tally | None:
        with self._lock:
            key = (execution_id, integration)
            return self._integrations.pop(key, None) if forget else self._integrations.get(key)


def _failed(span: Any, status: str, error: str) -> None:
    """The error as OpenTelemetry's conventions record one: its type (`error.type`), and an
    `exception` event with the message (already masked by the integrator)."""
    from opentelemetry.trace import Status, StatusCode

    kind, _, _ = error.partition(": ")
    kind = kind if kind.isidentifier() else status
    span.set_attribute("error.type", kind)
    span.add_event("exception", {"exception.type": kind, "exception.message": error})
    span.set_status(Status(StatusCode.ERROR, error))


def _end(span: Any, status: str, tally: _Tally, outcome: Any = None) -> None:
    span.set_attributes(
        {
            "pdip.status": status,
            "pdip.rows_read": tally.rows_read,
            "pdip.rows_written": tally.rows_written,
            "pdip.rows_dead_lettered": tally.rows_dead_lettered,
        }
    )
    if outcome is not None:
        span.set_status(outcome)
    span.end()


def _shown(url: str) -> str:
    """`url` without what may come before its host (http://user:password@host: never shown)."""
    parts = urllib.parse.urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _version() -> str:
    from pdip import __version__

    return __version__
