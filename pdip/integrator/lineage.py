"""OpenLineage run events for every operation and integration, sent through openlineage-python.

```yaml
INTEGRATOR:
  LINEAGE:
    TRANSPORT: http                 # http | file | console
    URL: http://marquez:5000        # http: the collector
    API_KEY: enc:...                # http: sent as a bearer token (optional)
```

An operation's run is a job named after the operation; each integration's run is a job
`<operation>.<integration>` whose parent is the operation's run. Each run says START, then
COMPLETE, FAIL (or ABORT when interrupted); an integration's events name its input and output
datasets (`pdip.integrator.datasets`), and its COMPLETE adds their schema (the columns the
source declared) and row counts (rows read, rows written). Run ids are UUIDs derived from the
execution id, so a parent's id is known without keeping state, and a resumed run reports under
the same ids. A collector that fails is counted and logged once per execution
(`pdip.integrator.delivery`); the execution's remaining events are then not sent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import uuid
from pathlib import Path
from typing import Any, Literal

from pdip.integrator.datasets import Dataset
from pdip.integrator.delivery import LINEAGE, DeliveryFailures, scrubbed
from pdip.integrator.errors import needs
from pdip.integrator.events import (
    IntegrationFailed,
    IntegrationFinished,
    IntegrationStarted,
    OperationFinished,
    OperationStarted,
)
from pdip.policy import MASK

PRODUCER = "https://github.com/pdip/pdip"
_RUN_IDS = uuid.UUID("6f1d3c52-3b8e-4a51-9a0e-7d1b2f6c9e10")  # the namespace of uuid5 run ids
_STATES = {"finished": "COMPLETE", "interrupted": "ABORT"}  # any other status: FAIL


@dataclasses.dataclass
class LineageConfig:
    """`INTEGRATOR.LINEAGE`: where OpenLineage events go.

    `transport`: `http` POSTs each event to `url` + `endpoint` (with `api_key` as a bearer
    token, waiting `timeout` seconds, tried `retries` more times); `file` appends them as JSON
    lines to `path` (relative to the application's folder); `console` logs them through the
    `openlineage.client.transport.console` logger. `namespace`: the jobs' namespace."""

    transport: Literal["http", "file", "console"]
    url: str | None = None
    endpoint: str = "api/v1/lineage"
    api_key: str | None = None
    timeout: float = 5.0
    retries: int = 2
    path: str | None = None
    namespace: str = "pdip"

    def __post_init__(self) -> None:
        if self.transport == "http" and not (self.url or "").startswith(("http://", "https://")):
            raise ValueError("URL: the http transport needs the collector's http:// or https:// address")
        if self.transport == "file" and not self.path:
            raise ValueError("PATH: the file transport needs the file to append events to")

    def __repr__(self) -> str:
        key = MASK if self.api_key else None
        return f"LineageConfig(transport={self.transport!r}, url={self.url!r}, api_key={key!r}, path={self.path!r})"

    def client_config(self, root: Path | None) -> dict[str, Any]:
        """The openlineage-python client's configuration for this transport."""
        if self.transport == "http":
            transport: dict[str, Any] = {
                "type": "http",
                "url": self.url,
                "endpoint": self.endpoint,
                "timeout": self.timeout,
                "retry": {"total": self.retries, "connect": self.retries, "read": self.retries},
            }
            if self.api_key:
                transport["auth"] = {"type": "api_key", "apiKey": self.api_key}
        elif self.transport == "file":
            path = Path(self.path)
            if not path.is_absolute() and root is not None:
                path = Path(root) / path
            transport = {"type": "file", "log_file_path": str(path), "append": True}
        else:
            transport = {"type": "console"}
        return {"transport": transport}


def run_id(execution_id: str, integration: str | None = None) -> str:
    """The OpenLineage run id of an execution, or of one integration in it."""
    name = execution_id if integration is None else f"{execution_id}/{integration}"
    return str(uuid.uuid5(_RUN_IDS, name))


class Lineage:
    """Subscribe with `attach(integrator)`; sends a run event for each lifecycle event."""

    def __init__(self, config: LineageConfig, failures: DeliveryFailures, root: Path | None = None):
        client = needs("openlineage.client", "lineage events (INTEGRATOR.LINEAGE)", "lineage", "openlineage-python")
        self.config = config
        self.failures = failures
        self.client = client.OpenLineageClient(config=config.client_config(root))
        self._started: dict[tuple[str, str], IntegrationStarted] = {}
        self._given_up: set[str] = set()  # executions whose collector failed: nothing more is sent
        self._lock = threading.Lock()

    def attach(self, integrator: Any) -> Lineage:
        integrator.subscribe(OperationStarted, self.operation_started)
        integrator.subscribe(IntegrationStarted, self.integration_started)
        integrator.subscribe(IntegrationFinished, self.integration_finished)
        integrator.subscribe(IntegrationFailed, self.integration_failed)
        integrator.subscribe(OperationFinished, self.operation_finished)
        return self

    # -- lifecycle events ------------------------------------------------------------------------

    def operation_started(self, event: OperationStarted) -> None:
        with self._lock:
            self._given_up.discard(event.execution_id)
        self._send(event.execution_id, self._event("START", event.execution_id, event.operation))

    def integration_started(self, event: IntegrationStarted) -> None:
        with self._lock:
            self._started[(event.execution_id, event.integration)] = event
        inputs, outputs = _named(event.inputs, event.outputs)
        self._send(
            event.execution_id,
            self._event("START", event.execution_id, event.operation, event.integration, inputs, outputs),
        )

    def integration_finished(self, event: IntegrationFinished) -> None:
        self._forget(event.execution_id, event.integration)
        inputs = [_input(dataset, event.rows_read) for dataset in event.inputs]
        outputs = [_output(dataset, event.rows_written) for dataset in event.outputs]
        self._send(
            event.execution_id,
            self._event("COMPLETE", event.execution_id, event.operation, event.integration, inputs, outputs),
        )

    def integration_failed(self, event: IntegrationFailed) -> None:
        from openlineage.client.facet_v2 import error_message_run

        started = self._forget(event.execution_id, event.integration)
        inputs, outputs = _named(started.inputs, started.outputs) if started else ([], [])
        error = error_message_run.ErrorMessageRunFacet(message=event.error, programmingLanguage="python")
        self._send(
            event.execution_id,
            self._event(
                "FAIL", event.execution_id, event.operation, event.integration, inputs, outputs, {"errorMessage": error}
            ),
        )

    def operation_finished(self, event: OperationFinished) -> None:
        state = _STATES.get(event.status, "FAIL")
        self._send(event.execution_id, self._event(state, event.execution_id, event.operation))
        with self._lock:
            self._given_up.discard(event.execution_id)

    # -- OpenLineage objects ---------------------------------------------------------------------

    def _event(
        self,
        state: str,
        execution_id: str,
        operation: str,
        integration: str | None = None,
        inputs: list[Any] | None = None,
        outputs: list[Any] | None = None,
        facets: dict[str, Any] | None = None,
    ) -> Any:
        from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
        from openlineage.client.facet_v2 import job_type_job, parent_run, processing_engine_run

        namespace = self.config.namespace
        run_facets = dict(facets or {})
        run_facets["processing_engine"] = processing_engine_run.ProcessingEngineRunFacet(
            version=_version(), name="pdip"
        )
        job_type = job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="PDIP", jobType="TASK" if integration else "JOB"
        )
        name = operation
        if integration is not None:
            name = f"{operation}.{integration}"
            run_facets["parent"] = parent_run.ParentRunFacet(
                run=parent_run.Run(runId=run_id(execution_id)), job=parent_run.Job(namespace=namespace, name=operation)
            )
        return RunEvent(
            eventType=RunState[state],
            eventTime=dt.datetime.now(dt.timezone.utc).isoformat(),
            run=Run(runId=run_id(execution_id, integration), facets=run_facets),
            job=Job(namespace=namespace, name=name, facets={"jobType": job_type}),
            inputs=inputs or [],
            outputs=outputs or [],
            producer=PRODUCER,
        )

    # -- sending ---------------------------------------------------------------------------------

    def _send(self, execution_id: str, event: Any) -> None:
        with self._lock:
            if execution_id in self._given_up:
                self.failures.failed(LINEAGE, execution_id, "an earlier event of the execution was not delivered")
                return
        try:
            self.client.emit(event)
        except Exception as error:  # noqa: BLE001 - a collector that fails must not fail the run
            with self._lock:
                self._given_up.add(execution_id)
            reason = scrubbed(f"{type(error).__name__}: {error}", [self.config.api_key])
            self.failures.failed(LINEAGE, execution_id, f"{self.config.transport} transport: {reason}")

    def _forget(self, execution_id: str, integration: str) -> IntegrationStarted | None:
        with self._lock:
            return self._started.pop((execution_id, integration), None)


def _named(inputs: tuple[Dataset, ...], outputs: tuple[Dataset, ...]) -> tuple[list[Any], list[Any]]:
    """The datasets as OpenLineage names them, without facets."""
    from openlineage.client.event_v2 import InputDataset, OutputDataset

    return [InputDataset(d.namespace, d.name) for d in inputs], [OutputDataset(d.namespace, d.name) for d in outputs]


def _input(dataset: Dataset, rows: int) -> Any:
    from openlineage.client.event_v2 import InputDataset
    from openlineage.client.facet_v2 import input_statistics_input_dataset as statistics

    facet = statistics.InputStatisticsInputDatasetFacet(rowCount=rows)
    return InputDataset(
        dataset.namespace, dataset.name, facets=_schema(dataset), inputFacets={"inputStatistics": facet}
    )


def _output(dataset: Dataset, rows: int) -> Any:
    from openlineage.client.event_v2 import OutputDataset
    from openlineage.client.facet_v2 import output_statistics_output_dataset as statistics

    facet = statistics.OutputStatisticsOutputDatasetFacet(rowCount=rows)
    return OutputDataset(
        dataset.namespace, dataset.name, facets=_schema(dataset), outputFacets={"outputStatistics": facet}
    )


def _schema(dataset: Dataset) -> dict[str, Any]:
    """The schema facet of the columns the source declared; none when it declared none."""
    if not dataset.fields:
        return {}
    from openlineage.client.facet_v2 import schema_dataset

    fields = [schema_dataset.SchemaDatasetFacetFields(name=name, type=kind) for name, kind in dataset.fields]
    return {"schema": schema_dataset.SchemaDatasetFacet(fields=fields)}


def _version() -> str:
    from pdip import __version__

    return __version__
