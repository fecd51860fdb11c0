"""Events an operation raises while it runs; subscribe with `integrator.subscribe(Type, callback)`.

Plain dataclasses with simple fields. They are raised in the calling process, from what the
workers report (`runs.reporting.Progress`), so subscribers hear them in order whatever the executor.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Event:
    execution_id: str
    operation: str


@dataclasses.dataclass(frozen=True)
class OperationStarted(Event):
    integrations: int


@dataclasses.dataclass(frozen=True)
class IntegrationStarted(Event):
    integration: str
    source: str | None
    target: str


@dataclasses.dataclass(frozen=True)
class BatchWritten(Event):
    integration: str
    rows: int
    bytes: int
    elapsed: float
    total_rows: int
    lag: int | None = None  # a capture: bytes of the source's log written past this batch


@dataclasses.dataclass(frozen=True)
class RowsDeadLettered(Event):
    integration: str
    rows: int
    reason: str


@dataclasses.dataclass(frozen=True)
class IntegrationFinished(Event):
    integration: str
    rows_read: int
    rows_written: int
    rows_dead_lettered: int
    elapsed: float


@dataclasses.dataclass(frozen=True)
class IntegrationFailed(Event):
    integration: str
    error: str
    elapsed: float


@dataclasses.dataclass(frozen=True)
class OperationFinished(Event):
    status: str
    elapsed: float
