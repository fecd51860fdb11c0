"""`Integrator`: runs operations and tells subscribers what it is doing.

    integrator = pdi.get(Integrator)
    integrator.subscribe(BatchWritten, lambda event: print(event.total_rows))
    result = integrator.integrate(operation, execution_id="local-run-1")
    result = integrator.integrate(operation, resume=True)      # continue an interrupted run

Integrations run in order; each is planned here (`runs.planning`), then run by the operation's
executor (`executors`), whose batches all go through the one batch loop (`runs.writing`).
docs/internals.md follows a run through these pieces.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pdip.configuration import Configuration
from pdip.data.collector import fewer_collections
from pdip.dependency import ISingleton
from pdip.integrator.adapters.base import Disposition
from pdip.integrator.adapters.memory import MemoryStores
from pdip.integrator.adapters.registry import AdapterRegistry
from pdip.integrator.checks import refuse_invalid
from pdip.integrator.datasets import datasets_of, field_types
from pdip.integrator.delivery import DeliveryFailures
from pdip.integrator.events import (
    Event,
    IntegrationFailed,
    IntegrationFinished,
    IntegrationRetried,
    IntegrationStarted,
    OperationFinished,
    OperationStarted,
)
from pdip.integrator.executors import Endpoints, Executor, executor_for
from pdip.integrator.executors import children as _children  # noqa: F401 - importing it registers the listener below
from pdip.integrator.models import Integration, Operation
from pdip.integrator.results import ExecutionResult, IntegrationResult, RunContext
from pdip.integrator.runs.planning import plan_reads, read_request
from pdip.integrator.runs.reporting import IntegrationRun
from pdip.integrator.runs.retrying import RetryPolicy, judges_of
from pdip.integrator.state import IntegratorConfig, StateStore
from pdip.logging.loggers.console import ConsoleLogger
from pdip.policy.secrets import mask_sql_literals

E = TypeVar("E", bound=Event)


def _hidden_by(policy: Any) -> Callable[[str], bool] | None:
    """Whether the field policy keeps a column's values from leaving (anything but allow)."""
    if policy is None:
        return None
    return lambda name: policy.decide(name) != "allow"


# Importing `executors.children` above registers a SQLAlchemy listener: database connections
# opened from here on are known to the child processes forked later, which forget them first.


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
        self.deliveries = self._attach_deliveries(configuration.section(IntegratorConfig))

    def subscribe(self, event_type: type[E], callback: Callable[[E], None]) -> None:
        """Call `callback` with every event of `event_type` (or of a subclass: `Event` hears all)."""
        self._subscribers[event_type].append(callback)

    def integrate(
        self, operation: Operation, execution_id: str | None = None, resume: bool = False, follow: bool = False
    ) -> ExecutionResult:
        """Run `operation` and return what happened; integration errors are in the result, not raised.

        `resume`: continue the operation's last run that did not finish (or `execution_id`):
        integrations it finished are skipped, the interrupted one starts after its last durable
        batch. `follow`: stream sources keep reading until interrupted (Ctrl-C).

        Refused before any data moves: settings its connections' kinds do not take, or take in
        another form (`OperationError`); `NothingToResumeError` when there is no such run to
        resume, `ExecutionExistsError` for a new run under an existing id (`RunRefusedError`)."""
        refuse_invalid(operation, self.registry)
        execution_id, resumed = self.state.start_execution(operation.name, execution_id, resume)
        started = time.perf_counter()
        results = [IntegrationResult(integration.name) for integration in operation.integrations]
        self._emit(OperationStarted(execution_id, operation.name, len(operation.integrations)))
        status = "finished"
        with fewer_collections(), self._executor(operation) as executor:  # readers forked here inherit it
            for integration, result in zip(operation.integrations, results, strict=True):
                context = RunContext(self.stores, execution_id, self.root)
                run = IntegrationRun(
                    operation, integration, result, context, self.state, self._emit, self._policy(integration)
                )
                if resumed and run.finished_earlier():
                    result.status = "finished"
                    continue
                counted = run.policy.counters if run.policy else {}  # the policy may serve several runs
                self._run(run, resumed, follow, executor)
                if run.policy:
                    result.policy = run.policy.counters_since(counted)
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
    def _executor(self, operation: Operation) -> Iterator[Executor]:
        """The operation's executor for this run (a Dask executor holds a cluster), closed at the end."""
        executor = executor_for(operation, self.registry)
        try:
            yield executor
        finally:
            executor.close()

    def _run(self, run: IntegrationRun, resume: bool, follow: bool, executor: Executor) -> None:
        """Run the integration, trying again after a transient failure as its `retries` allow:
        each later attempt starts every partition from its last durable position, as a resume."""
        integration, result = run.integration, run.result
        started = time.perf_counter()
        judges = judges_of(self.registry, integration.mode, integration.source, integration.target)
        policy = RetryPolicy(integration.retries, judges)
        inputs, outputs = datasets_of(integration.source, self.root), datasets_of(integration.target, self.root)
        attempt = 1
        try:
            while True:
                try:
                    announced = (inputs, outputs) if attempt == 1 else None
                    fields = self._attempt(run, resume, follow, executor, announced)
                    break
                except Exception as error:
                    if not policy.retries_after(attempt, error):
                        raise
                    delay = policy.delay(attempt)
                    attempt += 1
                    result.retries += 1
                    self._retrying(run, attempt, error, delay)
                    policy.sleep(delay)
                    resume = True  # the next attempt continues from what is durable
        except KeyboardInterrupt:
            self._failed(run, started, "interrupted", "interrupted by the user (what was written is checkpointed)")
            return
        except Exception as error:  # noqa: BLE001 - any failure ends this integration, reported in the result
            self._failed(run, started, "failed", f"{type(error).__name__}: {error}")
            return
        result.status, result.seconds = "finished", time.perf_counter() - started
        self._emit(
            IntegrationFinished(
                **run.base,
                rows_read=result.rows_read,
                rows_written=result.rows_written,
                rows_dead_lettered=result.rows_dead_lettered,
                elapsed=result.seconds,
                inputs=tuple(dataclasses.replace(dataset, fields=fields) for dataset in inputs),
                outputs=tuple(dataclasses.replace(dataset, fields=fields) for dataset in outputs),
                warnings=tuple(result.warnings),
            )
        )

    def _attempt(
        self, run: IntegrationRun, resume: bool, follow: bool, executor: Executor, announced: tuple | None
    ) -> tuple[tuple[str, str], ...]:
        """One attempt: open the target and source here, plan, and hand them to the executor.
        `announced`: the (inputs, outputs) datasets IntegrationStarted names, on the first attempt.
        Returns the source's declared (column, type) fields."""
        integration, context, mode = run.integration, run.context, run.integration.mode
        endpoints = None
        fields: tuple[tuple[str, str], ...] = ()
        try:
            target = self.registry.target(integration.target, context, mode)
            target.disposition = Disposition.of(integration)  # what it accepts may depend on it
            endpoints = Endpoints(None, target)
            if integration.source is not None:
                endpoints.source = self.registry.source(integration.source, context, mode)
            if announced is not None:
                source = endpoints.source
                described = source.describe() if source else None
                if described and executor.reads_in_a_child(integration, source, read_request(run, target, follow)):
                    described = f"{described} (reader process)"
                inputs, outputs = announced
                self._emit(
                    IntegrationStarted(
                        **run.base, source=described, target=target.describe(), inputs=inputs, outputs=outputs
                    )
                )
            if endpoints.source is None:
                target.run(integration.sql)  # an integration with only a target runs its SQL there
                target.commit()
                run.save_positions({}, finished=True)
            else:
                stores = self.registry.adapter(integration.target.kind, mode).capabilities.stores_positions
                plan = plan_reads(run, endpoints.source, target, stores, resume, follow)
                fields = field_types(plan.types)
                executor.run(run, endpoints, plan)
        finally:
            if endpoints is not None:
                endpoints.close()
        return fields

    def _retrying(self, run: IntegrationRun, attempt: int, error: Exception, delay: float) -> None:
        """Say that attempt `attempt` follows a transient failure (masked as `_failed` masks)."""
        shown = mask_sql_literals(f"{type(error).__name__}: {error}", _hidden_by(run.policy))
        self.logger.warning(
            "integration %s: a transient failure; attempt %d in %.2f s",
            run.integration.name,
            attempt,
            delay,
            error=shown,
        )
        self._emit(IntegrationRetried(**run.base, attempt=attempt, error=shown, delay=delay))

    def _failed(self, run: IntegrationRun, started: float, status: str, error: str) -> None:
        # The error may quote the source's SQL (a driver's message): literals compared with secret
        # or policy-hidden columns, and passwords in connection strings, never reach the result,
        # the state record, the events or the log.
        error = mask_sql_literals(error, _hidden_by(run.policy))
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

    def _attach_deliveries(self, config: IntegratorConfig) -> DeliveryFailures:
        """Lineage, alerts and traces, when configured: subscribers like any other, whose failed sends
        are counted in what this returns (`integrator.deliveries.counts()`)."""
        failures = DeliveryFailures(self.logger)
        if config.lineage is not None:
            from pdip.integrator.lineage import Lineage

            Lineage(config.lineage, failures, self.root).attach(self)
        if config.alerts is not None:
            from pdip.integrator.alerts import Alerts

            Alerts(config.alerts, failures).attach(self)
        if config.tracing is not None:
            from pdip.integrator.tracing import Tracing

            Tracing(config.tracing, failures).attach(self)
        return failures

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
