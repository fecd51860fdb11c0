"""What a run knows and what it reports: the contexts adapters see, and the results callers get.

`RunContext` is what adapters may use in the calling process; `WorkerContext` is its picklable
part, which is all a child process (a reader, an applier, a Dask task) gets. `IntegrationResult`
and `ExecutionResult` are what `Integrator.integrate` returns.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pdip.integrator.adapters.memory import MemoryStores


@dataclasses.dataclass
class IntegrationResult:
    name: str
    status: str = "pending"
    rows_read: int = 0
    rows_written: int = 0
    rows_dead_lettered: int = 0
    seconds: float = 0.0
    error: str | None = None
    retries: int = 0  # partitions a distributed executor ran again after a failed attempt
    # What the field policy did in this run: {action: {scope: fields acted on, or records dropped}}
    policy: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    schema_changes: list[str] = dataclasses.field(default_factory=list)  # what the target changed, in words
    values_discarded: dict[str, int] = dataclasses.field(default_factory=dict)  # per column (schema: discard_value)
    warnings: list[str] = dataclasses.field(default_factory=list)  # what the user should know, in words
    # [seconds since the integration started, rows written so far] after its batches (`throughput`)
    throughput: list[list[float]] = dataclasses.field(default_factory=list)
    # A capture: bytes of the source's log written past the last batch, and the most past any batch
    lag: int | None = None
    lag_max: int | None = None


@dataclasses.dataclass
class ExecutionResult:
    execution_id: str
    operation: str
    status: str
    integrations: list[IntegrationResult]
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status == "finished"

    def __getitem__(self, name: str) -> IntegrationResult:
        return next(result for result in self.integrations if result.name == name)


@dataclasses.dataclass
class RunContext:
    """What adapters may use during a run: the memory stores, the execution id, and the
    application's root (relative file paths and SQLite databases resolve against it)."""

    stores: MemoryStores
    execution_id: str
    root: Path | None = None


class WorkerContext:
    """What a child process (a reader, an applier, a Dask task) knows of the run: its id and root;
    memory stores and services stay behind (it is picklable)."""

    def __init__(self, execution_id: str, root: Any):
        self.execution_id = execution_id
        self.root = root
        self.stores: dict = {}

    @classmethod
    def of(cls, context: Any) -> WorkerContext:
        return cls(context.execution_id, getattr(context, "root", None))
