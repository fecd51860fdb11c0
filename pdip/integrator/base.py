"""`Integrator`: runs operations and tells subscribers what it is doing.

    integrator = pdi.get(Integrator)
    integrator.subscribe(BatchWritten, lambda event: print(event.total_rows))
    result = integrator.integrate(operation, execution_id="local-run-1")

Integrations run in order. For each batch the target writes what it can; rows it refuses go to
the dead-letter table with the reason, and the run goes on unless more than `max_errors` rows
were refused. After every batch the checkpoint (position and, for incremental mode, the
high-watermark of the cursor column) is saved, so the next incremental run reads only what is
new. This increment runs integrations in the calling process (the `inline` executor).
"""

from __future__ import annotations

import dataclasses
import functools
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pdip.configuration import Configuration
from pdip.dependency import ISingleton
from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.memory import MemoryStores
from pdip.integrator.adapters.registry import AdapterRegistry
from pdip.integrator.batch import Batch
from pdip.integrator.errors import IntegrationFailedError
from pdip.integrator.events import (
    BatchWritten,
    Event,
    IntegrationFailed,
    IntegrationFinished,
    IntegrationStarted,
    OperationFinished,
    OperationStarted,
    RowsDeadLettered,
)
from pdip.integrator.executors import ProcessReader
from pdip.integrator.models import Integration, Operation
from pdip.integrator.state import StateStore
from pdip.logging.loggers.console import ConsoleLogger

E = TypeVar("E", bound=Event)


@dataclasses.dataclass
class IntegrationResult:
    name: str
    status: str = "pending"
    rows_read: int = 0
    rows_written: int = 0
    rows_dead_lettered: int = 0
    seconds: float = 0.0
    error: str | None = None


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


class Integrator(ISingleton):
    def __init__(
        self, registry: AdapterRegistry, state: StateStore, logger: ConsoleLogger, configuration: Configuration
    ):
        self.root = configuration.root_directory
        self.registry = registry
        self.state = state
        self.logger = logger
        self.stores = MemoryStores()
        self._subscribers: dict[type, list[Callable[[Any], None]]] = defaultdict(list)

    def subscribe(self, event_type: type[E], callback: Callable[[E], None]) -> None:
        """Call `callback` with every event of `event_type` (or of a subclass: `Event` hears all)."""
        self._subscribers[event_type].append(callback)

    def integrate(self, operation: Operation, execution_id: str | None = None) -> ExecutionResult:
        """Run `operation` and return what happened; integration errors are in the result, not raised."""
        execution_id = execution_id or uuid.uuid4().hex
        started = time.perf_counter()
        results = [IntegrationResult(integration.name) for integration in operation.integrations]
        self.state.execution_started(execution_id, operation.name)
        self._emit(OperationStarted(execution_id, operation.name, len(operation.integrations)))
        status = "finished"
        for integration, result in zip(operation.integrations, results, strict=True):
            self._run(operation, integration, result, RunContext(self.stores, execution_id, self.root))
            if result.status == "failed":
                status = "failed"
                break
        for result in results:
            if result.status == "pending":
                result.status = "skipped"
        elapsed = time.perf_counter() - started
        summary = {result.name: dataclasses.asdict(result) for result in results}
        self.state.execution_finished(execution_id, status, summary)
        self._emit(OperationFinished(execution_id, operation.name, status, elapsed))
        return ExecutionResult(execution_id, operation.name, status, results, elapsed)

    # -- one integration -------------------------------------------------------------------------

    def _run(
        self, operation: Operation, integration: Integration, result: IntegrationResult, context: RunContext
    ) -> None:
        started = time.perf_counter()
        base = {"execution_id": context.execution_id, "operation": operation.name, "integration": integration.name}
        source = target = None
        in_child = _reads_in_a_process(operation, integration)
        try:
            target = self.registry.target(integration.target, context)
            if integration.source is not None and not in_child:
                source = self.registry.source(integration.source, context)
            described = (
                source.describe() if source else (f"{integration.source.kind} (reader process)" if in_child else None)
            )
            self._emit(IntegrationStarted(**base, source=described, target=target.describe()))
            if integration.source is None:
                target.run(integration.sql)
                target.commit()
            else:
                if in_child:
                    read = functools.partial(ProcessReader, integration.name, integration.source, context=context)
                else:
                    read = source.read
                self._copy(operation, integration, read, target, result, context, base)
        except Exception as error:  # noqa: BLE001 - any failure ends this integration, reported in the result
            result.status, result.error = "failed", f"{type(error).__name__}: {error}"
            result.seconds = time.perf_counter() - started
            self.logger.error("integration %s failed", integration.name, error=result.error)
            self._emit(IntegrationFailed(**base, error=result.error, elapsed=result.seconds))
            return
        finally:
            for endpoint in (source, target):
                if endpoint is not None:
                    endpoint.close()
        result.status, result.seconds = "finished", time.perf_counter() - started
        self._emit(
            IntegrationFinished(
                **base,
                rows_read=result.rows_read,
                rows_written=result.rows_written,
                rows_dead_lettered=result.rows_dead_lettered,
                elapsed=result.seconds,
            )
        )

    def _copy(self, operation, integration, read, target, result, context, base) -> None:
        watermark = None
        if integration.mode == "incremental":
            _, watermark = self.state.checkpoint(operation.name, integration.name)
        request = ReadRequest(integration.batch_size, integration.columns, integration.cursor, watermark)
        prepared = False
        for batch in read(request):
            batch_started = time.perf_counter()
            if batch.rejected:  # what the source could not read (a malformed line) is dead-lettered too
                result.rows_read += len(batch.rejected)
                self._dead_letter(integration, batch, batch.rejected, result, context, base)
            if not prepared:
                target.prepare(batch.columns, integration.create_target, integration.truncate_target)
                prepared = True
            written = target.write(batch)
            target.commit()
            result.rows_read += len(batch)
            result.rows_written += written.written
            if written.rejected:
                rows = [(dict(zip(batch.columns, row, strict=False)), reason) for row, reason in written.rejected]
                self._dead_letter(integration, batch, rows, result, context, base)
            watermark = _high_watermark(batch, integration.cursor, watermark)
            self.state.save_checkpoint(
                operation.name, integration.name, context.execution_id, batch.position, watermark
            )
            self._emit(
                BatchWritten(
                    **base,
                    rows=written.written,
                    bytes=0,
                    elapsed=time.perf_counter() - batch_started,
                    total_rows=result.rows_written,
                )
            )
        if not prepared:
            target.prepare(list(integration.columns or []), integration.create_target, integration.truncate_target)
        target.finish()

    def _dead_letter(self, integration, batch: Batch, rows: list[tuple[dict, str]], result, context, base) -> None:
        self.state.dead_letter(context.execution_id, integration.name, batch.position, rows)
        result.rows_dead_lettered += len(rows)
        self._emit(RowsDeadLettered(**base, rows=len(rows), reason=rows[0][1]))
        if result.rows_dead_lettered > integration.max_errors:
            raise IntegrationFailedError(
                integration.name,
                f"{result.rows_dead_lettered} rows were refused, more than max_errors={integration.max_errors}; "
                f"they are in pdip_dead_letter under execution {context.execution_id}",
            )

    # -- events ----------------------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        for event_type in type(event).__mro__:
            for callback in self._subscribers.get(event_type, ()):
                try:
                    callback(event)
                except Exception as error:  # noqa: BLE001 - a subscriber must not stop the run
                    self.logger.error(
                        "event subscriber %s failed on %s",
                        getattr(callback, "__qualname__", callback),
                        type(event).__name__,
                        error=f"{type(error).__name__}: {error}",
                    )


def _reads_in_a_process(operation: Operation, integration: Integration) -> bool:
    """The process executor reads in a child, except memory stores, which live in this process."""
    source = integration.source
    return operation.executor == "process" and source is not None and source.kind.lower() != "memory"


def _high_watermark(batch: Batch, cursor: str | None, current: Any) -> Any:
    if cursor is None or cursor not in batch.columns:
        return current
    index = batch.columns.index(cursor)
    values = [row[index] for row in batch.rows if row[index] is not None]
    if not values:
        return current
    highest = max(values)
    return highest if current is None or highest > current else current
