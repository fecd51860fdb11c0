"""Prometheus metrics of runs, counted from the integrator's events (prometheus-client, the
`metrics` extra).

    metrics = RunMetrics().attach(integrator)
    integrator.integrate(operation)
    metrics.exposition()              # the Prometheus text format, what `/metrics` answers
    metrics.push("http://127.0.0.1:9091", job="pdip", operation="copy-orders")
    metrics.write_textfile("/var/lib/node_exporter/textfile/pdip.prom")

A subscriber like the progress bar and the execution records, so every executor feeds it. Each
`RunMetrics` has its own registry (two `Pdi` in a process count apart), except under
prometheus-client's multiprocess mode (`PROMETHEUS_MULTIPROC_DIR` set, as `pdip api` does for
its gunicorn workers), where every process writes its values to that folder and `exposition()`
adds up all of them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pdip.configuration import BaseConfig
from pdip.integrator.errors import needs
from pdip.integrator.events import (
    BatchWritten,
    OperationFinished,
    OperationStarted,
    RowsDeadLettered,
)
from pdip.policy.secrets import mask_connection_string

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Batch write and commit times, from a small batch on a local database to a slow bulk load.
BATCH_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class MetricsConfig(BaseConfig):
    """The `METRICS` section: where `pdip run` hands its metrics when the run ends.

    `PUSHGATEWAY`: a Pushgateway's URL, pushed to under `JOB` and the operation's name;
    `TEXTFILE`: a `.prom` file for node_exporter's textfile collector, replaced whole."""

    pushgateway: str | None = None
    job: str = "pdip"
    textfile: str | None = None


class RunMetrics:
    """Rows, batch latency, a capture's lag and runs per operation and integration, as Prometheus
    metrics."""

    def __init__(self, registry: Any = None):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry() if registry is None else registry
        by_integration = ("operation", "integration")

        def counter(name: str, text: str, labels: tuple[str, ...] = by_integration) -> Any:
            return Counter(name, text, labels, registry=self.registry)

        self.rows_read = counter("pdip_rows_read", "Rows read from sources")
        self.rows_written = counter("pdip_rows_written", "Rows written to targets")
        self.rows_dead_lettered = counter("pdip_rows_dead_lettered", "Rows refused and stored as dead letters")
        self.batch_seconds = Histogram(
            "pdip_batch_write_seconds",
            "Seconds to write and commit a batch",
            by_integration,
            buckets=BATCH_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.capture_lag = Gauge(
            "pdip_capture_lag_bytes",
            "A capture: bytes of the source's log written past the last batch written",
            by_integration,
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.runs = counter("pdip_runs", "Runs that ended, by status", ("operation", "status"))
        self.running = Gauge(
            "pdip_runs_running", "Runs going now", ("operation",), registry=self.registry, multiprocess_mode="livesum"
        )
        self.last_finished = Gauge(
            "pdip_run_last_finished_timestamp_seconds",
            "When a run of the operation last ended with this status (Unix time)",
            ("operation", "status"),
            registry=self.registry,
            multiprocess_mode="max",
        )

    def attach(self, integrator: Any) -> RunMetrics:
        integrator.subscribe(OperationStarted, self.started)
        integrator.subscribe(BatchWritten, self.written)
        integrator.subscribe(RowsDeadLettered, self.dead_lettered)
        integrator.subscribe(OperationFinished, self.finished)
        return self

    # -- events ----------------------------------------------------------------------------------

    def started(self, event: OperationStarted) -> None:
        self.running.labels(event.operation).inc()

    def written(self, event: BatchWritten) -> None:
        labels = (event.operation, event.integration)
        self.rows_read.labels(*labels).inc(event.rows_read)
        self.rows_written.labels(*labels).inc(event.rows)
        self.batch_seconds.labels(*labels).observe(event.elapsed)
        if event.lag is not None:
            self.capture_lag.labels(*labels).set(event.lag)

    def dead_lettered(self, event: RowsDeadLettered) -> None:
        self.rows_dead_lettered.labels(event.operation, event.integration).inc(event.rows)

    def finished(self, event: OperationFinished) -> None:
        self.running.labels(event.operation).dec()
        self.runs.labels(event.operation, event.status).inc()
        self.last_finished.labels(event.operation, event.status).set_to_current_time()

    # -- exposition ------------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format; under multiprocess mode, all processes' sum."""
        from prometheus_client import CollectorRegistry, generate_latest

        if not os.environ.get(MULTIPROCESS_VARIABLE):
            return generate_latest(self.registry)
        from prometheus_client.multiprocess import MultiProcessCollector

        merged = CollectorRegistry()
        MultiProcessCollector(merged)
        return generate_latest(merged)

    def push(self, gateway: str, job: str, operation: str) -> None:
        """Replace the operation's group on a Pushgateway (`job`, `operation`) with these metrics."""
        from prometheus_client import push_to_gateway

        push_to_gateway(gateway, job=job, registry=self.registry, grouping_key={"operation": operation}, timeout=10)

    def write_textfile(self, path: str | Path) -> None:
        """Write the metrics for node_exporter's textfile collector; the file is replaced at once,
        so the collector never reads half of it."""
        from prometheus_client import write_to_textfile

        write_to_textfile(str(path), self.registry)


def run_metrics(config: MetricsConfig, integrator: Any) -> RunMetrics | None:
    """The metrics `pdip run` hands over when it ends, attached to `integrator`; None when the
    `METRICS` section names no Pushgateway and no textfile. `MissingPackageError` when it
    does and prometheus-client is not installed, before anything runs."""
    if not config.pushgateway and not config.textfile:
        return None
    setting = "METRICS.PUSHGATEWAY" if config.pushgateway else "METRICS.TEXTFILE"
    needs("prometheus_client", f"metrics ({setting})", "metrics")  # only whether it is there
    return RunMetrics().attach(integrator)


def hand_over(metrics: RunMetrics, config: MetricsConfig, operation: str, root: Path | None = None) -> list[str]:
    """Push the metrics and write the textfile (a relative path is under `root`, the application's
    folder), as configured; what failed, in words (a metrics destination that is down does not
    change how the run went, but it is said)."""
    problems = []
    if config.pushgateway:
        try:
            metrics.push(config.pushgateway, config.job, operation)
        except OSError as error:
            # the URL may carry a password (http://user:password@gateway): never shown
            problems.append(
                mask_connection_string(f"METRICS.PUSHGATEWAY: could not push to {config.pushgateway}: {error}")
            )
    if config.textfile:
        try:
            metrics.write_textfile(Path(root or ".") / config.textfile)
        except OSError as error:
            problems.append(f"METRICS.TEXTFILE: could not write {config.textfile}: {error}")
    return problems
