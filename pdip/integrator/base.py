"""`Integrator`: runs operations and tells subscribers what it is doing.

    integrator = pdi.get(Integrator)
    integrator.subscribe(BatchWritten, lambda event: print(event.total_rows))
    result = integrator.integrate(operation, execution_id="local-run-1")
    result = integrator.integrate(operation, resume=True)      # continue an interrupted run

Integrations run in order; each is planned, read and written by `pdip.integrator.runs`. With
the `process` executor its source is read by reader processes (one per partition); memory
stores, which live in this process, are always read here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pdip.configuration import Configuration
from pdip.dependency import ISingleton
from pdip.integrator.adapters.memory import MemoryStores
from pdip.integrator.adapters.registry import AdapterRegistry
from pdip.integrator.appliers import ProcessAppliers, suits
from pdip.integrator.checks import refuse_invalid
from pdip.integrator.collector import fewer_collections
from pdip.integrator.events import (
    Event,
    IntegrationFailed,
    IntegrationFinished,
    IntegrationStarted,
    OperationFinished,
    OperationStarted,
)
from pdip.integrator.models import Integration, Operation
from pdip.integrator.runs import IntegrationRun
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
    retries: int = 0  # partitions a distributed executor ran again after a failed attempt


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
        self.configuration = configuration
        self.registry = registry
        self.state = state
        self.logger = logger
        self.stores = MemoryStores()
        self._subscribers: dict[type, list[Callable[[Any], None]]] = defaultdict(list)
        self._policies: dict[Any, Any] = {}

    def subscribe(self, event_type: type[E], callback: Callable[[E], None]) -> None:
        """Call `callback` with every event of `event_type` (or of a subclass: `Event` hears all)."""
        self._subscribers[event_type].append(callback)

    def integrate(
        self, operation: Operation, execution_id: str | None = None, resume: bool = False, follow: bool = False
    ) -> ExecutionResult:
        """Run `operation` and return what happened; integration errors are in the result, not raised.

        `resume`: continue the operation's last run that did not finish (or `execution_id`):
        integrations it finished are skipped, the interrupted one starts after its last durable
        batch. `follow`: stream sources keep reading until interrupted (Ctrl-C). Settings its
        connections' kinds do not take, or take in another form, raise `OperationError` before
        anything is read or recorded."""
        refuse_invalid(operation, self.registry)
        resumed = False
        if resume and execution_id is None:
            execution_id = self.state.unfinished_execution(operation.name)
            if execution_id is None:
                self.logger.info("operation %s has no unfinished run to resume; starting a new one", operation.name)
        resumed = resume and execution_id is not None
        execution_id = execution_id or uuid.uuid4().hex
        started = time.perf_counter()
        results = [IntegrationResult(integration.name) for integration in operation.integrations]
        self.state.execution_started(execution_id, operation.name, resumed=resumed)
        self._emit(OperationStarted(execution_id, operation.name, len(operation.integrations)))
        status = "finished"
        with fewer_collections(), self._cluster(operation) as cluster:  # readers forked here inherit it
            for integration, result in zip(operation.integrations, results, strict=True):
                context = RunContext(self.stores, execution_id, self.root)
                run = IntegrationRun(
                    operation, integration, result, context, self.state, self._emit, self._policy(integration)
                )
                if resumed and run.finished_earlier():
                    result.status = "finished"
                    continue
                self._run(run, resumed, follow, cluster)
                if result.status != "finished":
                    status = result.status
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

    @contextlib.contextmanager
    def _cluster(self, operation: Operation) -> Iterator[Any]:
        """The Dask session of a `dask` operation (None for the other executors), closed at the end."""
        if operation.executor != "dask":
            yield None
            return
        from pdip.integrator.dask_executor import DaskSession

        session = DaskSession(operation)
        try:
            yield session
        finally:
            session.close()

    def _run(self, run: IntegrationRun, resume: bool, follow: bool, cluster: Any) -> None:
        operation, integration, result, context = run.operation, run.integration, run.result, run.context
        started = time.perf_counter()
        source = target = None
        mode = integration.mode
        try:
            target = self.registry.target(integration.target, context, mode)
            if integration.source is not None:
                source = self.registry.source(integration.source, context, mode)
            in_child = cluster is None and _reads_in_a_process(operation, integration)
            described = source.describe() if source else None
            if in_child:
                described = f"{described} (reader process)"
            self._emit(IntegrationStarted(**run.base, source=described, target=target.describe()))
            if source is None:
                run.statements(target)
            else:
                stores = self.registry.adapter(integration.target.kind, mode).capabilities.stores_positions
                if cluster is not None:
                    self._distributed(run, source, target, stores, resume, follow, cluster)
                    source = None
                else:
                    plan = run.plan(source, target, stores, resume, follow)
                    if in_child:  # the readers open their own; this one only planned
                        source.close()
                        source = None
                    if in_child and suits(run, plan, stores, target):
                        ProcessAppliers(run, self.registry).copy(plan)  # each partition written by its reader
                    else:
                        run.copy(run.readers(source, plan.requests, self.registry if in_child else None), target, plan)
        except KeyboardInterrupt:
            self._failed(run, started, "interrupted", "interrupted by the user (what was written is checkpointed)")
            return
        except Exception as error:  # noqa: BLE001 - any failure ends this integration, reported in the result
            self._failed(run, started, "failed", f"{type(error).__name__}: {error}")
            return
        finally:
            for endpoint in (source, target):
                if endpoint is not None:
                    endpoint.close()
        result.status, result.seconds = "finished", time.perf_counter() - started
        self._emit(
            IntegrationFinished(
                **run.base,
                rows_read=result.rows_read,
                rows_written=result.rows_written,
                rows_dead_lettered=result.rows_dead_lettered,
                elapsed=result.seconds,
            )
        )

    def _distributed(self, run, source, target, stores: bool, resume: bool, follow: bool, cluster: Any) -> None:
        """Plan here, then run each partition as a task of the Dask cluster."""
        from pdip.integrator.dask_executor import DaskRun, refuse_unsuited

        refuse_unsuited(run.integration, target)
        plan = run.plan(source, target, stores, resume, follow)
        source.close()
        target.close()
        DaskRun(cluster, run, run.operation).copy(plan, stores)

    def _failed(self, run: IntegrationRun, started: float, status: str, error: str) -> None:
        result = run.result
        result.status, result.error = status, error
        result.seconds = time.perf_counter() - started
        self.logger.error("integration %s %s", run.integration.name, status, error=error)
        self._emit(IntegrationFailed(**run.base, error=error, elapsed=result.seconds))

    def _policy(self, integration: Integration) -> Any:
        """The field policy applied to this integration's batches, or None (see `Integration.policy`)."""
        wanted = integration.policy
        if wanted is None:
            wanted = integration.mode == "changes"
        if wanted is False:
            return None
        if wanted not in self._policies:
            from pdip.policy import Policy
            from pdip.policy.config import policy_chain

            paths, salt = policy_chain(self.configuration)
            if isinstance(wanted, str):
                extra = Path(wanted)
                paths.append(extra if extra.is_absolute() else Path(self.root or ".") / extra)
            self._policies[wanted] = Policy.load(*paths, salt=salt)
        return self._policies[wanted]

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
