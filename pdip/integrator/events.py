"""Events an operation raises while it runs; subscribe with `integrator.subscribe(Type, callback)`.

Plain dataclasses with simple fields. They are raised in the calling process, from what the
workers report (`runs.reporting.Progress`), so subscribers hear them in order whatever the executor.
"""

from __future__ import annotations

import dataclasses

from pdip.integrator.datasets import Dataset


@dataclasses.dataclass(frozen=True)
class Event:
    execution_id: str
    operation: str


@dataclasses.dataclass(frozen=True)
class OperationStarted(Event):
    integrations: int


@dataclasses.dataclass(frozen=True)
class IntegrationStarted(Event):
    """`inputs` and `outputs`: the datasets the source reads and the target writes, as lineage
    names them (`pdip.integrator.datasets`: no credentials)."""

    integration: str
    source: str | None
    target: str
    inputs: tuple[Dataset, ...] = ()
    outputs: tuple[Dataset, ...] = ()


@dataclasses.dataclass(frozen=True)
class BatchWritten(Event):
    integration: str
    rows: int
    bytes: int
    elapsed: float  # seconds the batch took to write and commit
    total_rows: int
    rows_read: int = 0  # rows the source read for this batch (more than `rows` when some were refused)
    seconds: float = 0.0  # since the integration started, when the batch was committed
    lag: int | None = None  # a capture: bytes of the source's log written past this batch


@dataclasses.dataclass(frozen=True)
class RowsDeadLettered(Event):
    integration: str
    rows: int
    reason: str


@dataclasses.dataclass(frozen=True)
class IntegrationRetried(Event):
    """A transient failure stopped attempt `attempt - 1`; attempt `attempt` starts after `delay`
    seconds, each partition from its last durable position (`Integration.retries`)."""

    integration: str
    attempt: int
    error: str
    delay: float


@dataclasses.dataclass(frozen=True)
class IntegrationFinished(Event):
    """`inputs` and `outputs` as `IntegrationStarted` names them, with the columns and types the
    source declared in `Dataset.fields` (none when it declared none, or under a field policy);
    `warnings`: what the user should know of the run, in words (`IntegrationResult.warnings`)."""

    integration: str
    rows_read: int
    rows_written: int
    rows_dead_lettered: int
    elapsed: float
    inputs: tuple[Dataset, ...] = ()
    outputs: tuple[Dataset, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class IntegrationFailed(Event):
    integration: str
    error: str
    elapsed: float


@dataclasses.dataclass(frozen=True)
class OperationFinished(Event):
    status: str
    elapsed: float
