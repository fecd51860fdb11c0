"""Integrator endpoints: start configured operations, follow their executions.

    POST /api/operations/{name}/executions   start one in the background -> 202, its execution id
    GET  /api/executions                     recent executions (?limit=20)
    GET  /api/executions/{id}                status and row counts, live while it runs
    GET  /api/executions/{id}/events         its events as Server-Sent Events, until it ends

The operations the API may start are named in application.yml, each by its YAML file (relative
to the application's root), and read when started, so an edited file takes effect at once:

    OPERATIONS:
      copy-orders: operations/copy_orders.yml

Executions run on a small thread pool (`API.EXECUTION_WORKERS`). Their events are kept in
memory for the last `KEPT_EXECUTIONS` runs started here, where a stream wakes on each at once, and
written to the state database (`pdip.api.event_log`), where a stream in any other worker of
`pdip api` follows them by polling; the state store keeps every record.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Response, request

from pdip.api.base import ControllerBase, produces, status
from pdip.api.errors import ApiError, NotFoundError
from pdip.api.event_log import EventLog
from pdip.api.problems import log_failure
from pdip.configuration import Configuration
from pdip.configuration.models.api import ApiConfig
from pdip.dependency import ISingleton, PdiConfigurationError
from pdip.integrator.base import Integrator
from pdip.integrator.events import Event, IntegrationFailed, IntegrationFinished, OperationFinished
from pdip.integrator.loading import load_operation
from pdip.integrator.models import Operation
from pdip.integrator.state import StateStore
from pdip.logging.loggers.console import ConsoleLogger
from pdip.policy.secrets import mask_sql_literals

KEPT_EXECUTIONS = 100
KEEP_ALIVE_SECONDS = 15.0
POLL_SECONDS = 0.5  # how often a stream of a run started by another worker looks for new events
_TRACEBACK = "Traceback (most recent call last):"
_RAISED = re.compile(r"[A-Za-z_][\w.]*: ")  # a traceback's line naming an exception and its message


def shown_error(error: str | None) -> str | None:
    """What a caller sees of an integration's error: its type and message, never a traceback
    (which holds server paths and source lines; the log keeps it under the reference). A worker's
    traceback is reduced to the exception that stopped it: its last line naming an exception, not
    what a driver prints after the message (SQLAlchemy's statement and link), else its last line."""
    if not error:
        return error
    head, _, trace = error.partition(_TRACEBACK)
    lines = [line.strip() for line in trace.strip().splitlines() if line.strip()]
    raised = [line for line in lines if _RAISED.match(line)]
    cause = (raised or lines or [""])[-1]
    head = " ".join(head.split()).rstrip(":").strip()
    return mask_sql_literals(f"{head}: {cause}" if head and cause else head or cause)


def error_reference(execution_id: str, integration: str) -> str:
    """Where the whole error is found in the log: `<execution id>/<integration>`."""
    return f"{execution_id}/{integration}"


@dataclasses.dataclass
class IntegrationCounts:
    name: str
    status: str
    rows_read: int = 0
    rows_written: int = 0
    rows_dead_lettered: int = 0
    error: str | None = None
    reference: str | None = None  # the log line with the whole error, for a failed integration


@dataclasses.dataclass
class ExecutionView:
    """An execution's status and counts."""

    execution_id: str
    operation: str
    status: str
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    rows_read: int = 0
    rows_written: int = 0
    rows_dead_lettered: int = 0
    integrations: list[IntegrationCounts] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ExecutionStarted:
    """An execution that was started: follow it at `location`."""

    execution_id: str
    operation: str
    status: str
    location: str


class _Run:
    """What this process knows of an execution it started: its events, in order."""

    def __init__(self, execution_id: str, operation: str):
        self.execution_id = execution_id
        self.operation = operation
        self.events: list[dict[str, Any]] = []
        self.finished = False
        self.changed = threading.Condition()

    def add(self, event: dict[str, Any]) -> int:
        """Keep `event`; its number in the run."""
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()
            return len(self.events) - 1

    def add_end(self) -> None:
        with self.changed:
            self.finished = True
            self.changed.notify_all()


class ExecutionRunner(ISingleton):
    """Starts configured operations on worker threads and keeps the events of recent runs."""

    def __init__(self, integrator: Integrator, configuration: Configuration, config: ApiConfig, logger: ConsoleLogger):
        self.integrator = integrator
        self.configuration = configuration
        self.base_url = "/" + config.base_url.strip("/") if config.base_url.strip("/") else ""
        self.logger = logger
        self._pool = ThreadPoolExecutor(max(1, config.execution_workers), thread_name_prefix="pdip-execution")
        self._runs: collections.OrderedDict[str, _Run] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.log = EventLog(integrator.state.engine)
        integrator.subscribe(Event, self._heard)

    # -- operations ------------------------------------------------------------------------------

    def operations(self) -> dict[str, Path]:
        """Configured operation names -> their YAML files."""
        configured = self.configuration.get("OPERATIONS") or {}
        root = Path(self.configuration.root_directory or ".")
        return {str(name): root / str(path) for name, path in configured.items()}

    def start(self, name: str) -> ExecutionStarted:
        operations = self.operations()
        path = operations.get(name)
        if path is None:
            known = ", ".join(sorted(operations)) or "none (add OPERATIONS to application.yml)"
            raise NotFoundError(f"no operation named {name!r}; configured: {known}")
        operation = self._load(name, path)
        execution_id = uuid.uuid4().hex
        self._keep(_Run(execution_id, operation.name))
        self._pool.submit(self._execute, operation, execution_id)
        return ExecutionStarted(execution_id, operation.name, "pending", f"{self.base_url}/executions/{execution_id}")

    def _load(self, name: str, path: Path) -> Operation:
        """The operation, checked as `pdip validate` checks it; 422 listing every problem, so an
        invalid one is refused here rather than failing later on a worker thread."""
        configuration = self.configuration
        try:
            return load_operation(
                Operation,
                path,
                configuration.get("CONNECTIONS") or {},
                None,
                where=configuration.where,
                registry=self.integrator.registry,
            )
        except PdiConfigurationError as error:
            raise ApiError(
                f"operation {name!r} is invalid",
                status=422,
                title="Invalid operation",
                errors=[{"field": "operation", "message": self._shown(problem)} for problem in error.problems],
            ) from None

    def _error(self, error: str | None) -> str | None:
        return self._shown(shown_error(error))

    def _shown(self, text: str | None) -> str | None:
        """`text` as a caller may see it: masked, and with the application's folder left out."""
        if not text:
            return text
        root = str(self.configuration.root_directory or "")
        return mask_sql_literals(text.replace(root + "/", "") if root else text)

    def _execute(self, operation: Operation, execution_id: str) -> None:
        run = self._runs[execution_id]
        try:
            self.integrator.integrate(operation, execution_id=execution_id)
        except Exception as error:  # noqa: BLE001 - a worker thread has no caller to raise to: log, end the run
            log_failure(self.logger, error, "execution %s of %s ended with an error", execution_id, operation.name)
            self._add(run, _event_record(OperationFinished(execution_id, operation.name, "failed", 0.0)))
        finally:
            run.add_end()

    def _keep(self, run: _Run) -> None:
        with self._lock:
            self._runs[run.execution_id] = run
            while len(self._runs) > KEPT_EXECUTIONS:
                oldest = next(iter(self._runs))
                if not self._runs[oldest].finished:
                    break
                self._runs.popitem(last=False)
        self._store(self.log.forget, KEPT_EXECUTIONS, execution_id=run.execution_id)

    def _heard(self, event: Event) -> None:
        run = self._runs.get(event.execution_id)
        if run is None:
            return
        if isinstance(event, IntegrationFailed):
            reference = error_reference(event.execution_id, event.integration)
            self.logger.error(
                "integration %s of execution %s failed",
                event.integration,
                event.execution_id,
                error=event.error,
                reference=reference,
            )
        self._add(run, _event_record(event, self._error))

    def _add(self, run: _Run, event: dict[str, Any]) -> None:
        """Keep the event for this worker's streams and store it for the other workers'."""
        number = run.add(event)
        self._store(self.log.append, run.execution_id, number, event, execution_id=run.execution_id)

    def _store(self, action: Callable[..., None], *arguments: Any, execution_id: str) -> None:
        """Write to the event log; a failure is logged (by type: the statement holds event data)
        and leaves the run going, followed by this worker's streams only."""
        try:
            action(*arguments)
        except sa.exc.SQLAlchemyError as error:
            self.logger.error(
                "events of execution %s could not be stored for other workers: %s",
                execution_id,
                type(error).__name__,
            )

    # -- executions ------------------------------------------------------------------------------

    def execution(self, execution_id: str) -> ExecutionView:
        record = _stored(self.integrator.state, execution_id)
        run = self._runs.get(execution_id)
        if record is None and run is None:
            raise NotFoundError(f"no execution {execution_id!r}")
        if record is not None and record["summary"]:
            return _view(record, self._error)
        view = (
            _view(record, self._error) if record is not None else ExecutionView(execution_id, run.operation, "pending")
        )
        # Started here: the events in memory; by another worker: the ones it stored.
        _count_live(view, list(run.events) if run is not None else self.log.since(execution_id))
        return view

    def executions(self, limit: int) -> list[ExecutionView]:
        return [_view(record, self._error) for record in self.integrator.state.executions(limit)]

    def events(self, execution_id: str, after: int = -1) -> Iterator[str]:
        """The execution's events as Server-Sent Events, from the one after `after` to the end."""
        run = self._runs.get(execution_id)
        if run is not None:
            return _follow(run, after + 1)
        stored = self.log.since(execution_id)
        if not stored:  # started outside `pdip api` (`pdip run`), or its events are forgotten
            view = self.execution(execution_id)  # raises NotFoundError for an unknown id
            return iter([_sse(0, "ExecutionStatus", _as_json(view))])
        return self._tail(execution_id, after + 1, stored[after + 1 :])

    def _tail(self, execution_id: str, index: int, pending: list[dict[str, Any]]) -> Iterator[str]:
        """Follow a run another worker started, from its stored events, until it ends."""
        quiet, ending = 0.0, False
        while True:
            for offset, event in enumerate(pending):
                yield _sse(index + offset, event["event"], event)
            index += len(pending)
            if pending and pending[-1]["event"] == OperationFinished.__name__:
                return
            if not pending:
                # The record is marked ended just before OperationFinished is emitted: one more
                # look lets that event arrive; a record ended with no event to come (its worker
                # died after marking it) ends the stream too.
                if ending:
                    return
                ending = self._ended(execution_id)
            quiet = 0.0 if pending else quiet + POLL_SECONDS
            if quiet >= KEEP_ALIVE_SECONDS:
                quiet = 0.0
                yield ": keep-alive\n\n"
            time.sleep(POLL_SECONDS)
            pending = self.log.since(execution_id, index)

    def _ended(self, execution_id: str) -> bool:
        record = _stored(self.integrator.state, execution_id)
        return record is not None and record["status"] != "running"

    def close(self) -> None:
        """Wait for running executions: their records and checkpoints must be written."""
        self._pool.shutdown(wait=True)


def _follow(run: _Run, index: int) -> Iterator[str]:
    while True:
        with run.changed:
            if index >= len(run.events) and not run.finished:
                run.changed.wait(KEEP_ALIVE_SECONDS)
            pending = run.events[index:]
            finished = run.finished
        for offset, event in enumerate(pending):
            yield _sse(index + offset, event["event"], event)
        index += len(pending)
        if finished and not pending:
            return
        if not pending:
            yield ": keep-alive\n\n"


def _sse(number: int, name: str, data: dict[str, Any]) -> str:
    return f"id: {number}\nevent: {name}\ndata: {json.dumps(data, default=str)}\n\n"


def _event_record(event: Event, shown: Callable[[str | None], str | None] = shown_error) -> dict[str, Any]:
    record = {"event": type(event).__name__, **dataclasses.asdict(event)}
    if isinstance(event, IntegrationFailed):
        record["error"] = shown(event.error)
        record["reference"] = error_reference(event.execution_id, event.integration)
    return record


def _as_json(view: ExecutionView) -> dict[str, Any]:
    from pdip.conversion import to_plain

    return to_plain(view)


def _stored(state: StateStore, execution_id: str) -> dict[str, Any] | None:
    return state.execution(execution_id)


def _view(record: dict[str, Any], shown: Callable[[str | None], str | None] = shown_error) -> ExecutionView:
    view = ExecutionView(
        record["execution_id"], record["operation"], record["status"], record["started_at"], record["finished_at"]
    )
    summary = json.loads(record["summary"]) if record.get("summary") else {}
    for name, counts in summary.items():
        error = counts.get("error")
        view.integrations.append(
            IntegrationCounts(
                name,
                counts.get("status", "unknown"),
                counts.get("rows_read", 0),
                counts.get("rows_written", 0),
                counts.get("rows_dead_lettered", 0),
                shown(error),
                error_reference(view.execution_id, name) if error else None,
            )
        )
    _total(view)
    return view


def _count_live(view: ExecutionView, events: list[dict[str, Any]]) -> None:
    """Counts of a running execution, from its events so far."""
    integrations: dict[str, IntegrationCounts] = {}
    for event in events:
        name = event.get("integration")
        kind = event["event"]
        if name is not None:
            counts = integrations.setdefault(name, IntegrationCounts(name, "running"))
            if kind == "BatchWritten":
                counts.rows_written = event["total_rows"]
            elif kind == IntegrationFinished.__name__:
                counts.status = "finished"
                counts.rows_read, counts.rows_written = event["rows_read"], event["rows_written"]
                counts.rows_dead_lettered = event["rows_dead_lettered"]
            elif kind == IntegrationFailed.__name__:
                counts.status, counts.error, counts.reference = "failed", event["error"], event.get("reference")
        elif kind == OperationFinished.__name__ and view.status in ("pending", "running"):
            view.status = event["status"]
    view.integrations = list(integrations.values())
    _total(view)


def _total(view: ExecutionView) -> None:
    view.rows_read = sum(item.rows_read for item in view.integrations)
    view.rows_written = sum(item.rows_written for item in view.integrations)
    view.rows_dead_lettered = sum(item.rows_dead_lettered for item in view.integrations)


# -- controllers ------------------------------------------------------------------------------------


class _ExecutionControllerBase(ControllerBase):
    """What the execution endpoints share: their Swagger tag, no tenant, and the runner."""

    tags = ("executions",)
    tenanted = False  # operations belong to the application, not to a tenant

    def __init__(self, runner: ExecutionRunner):
        self.runner = runner


class OperationExecutionsController(_ExecutionControllerBase):
    """Start configured operations (application.yml: OPERATIONS)."""

    route = "/operations/<name>/executions"

    @status(202)
    def post(self, name: str) -> ExecutionStarted:
        """Start the operation in the background; answers 202 with the execution's id and where to follow it."""
        started = self.runner.start(name)
        return started, 202, {"Location": started.location}


class ExecutionsController(_ExecutionControllerBase):
    """Executions of operations: status and row counts."""

    route = "/executions"

    def get(self, id: str | None = None, limit: int = 20) -> ExecutionView | list[ExecutionView]:
        """One execution by id, or the most recent ones (`limit`) without an id."""
        if id is None:
            return self.runner.executions(limit)
        return self.runner.execution(id)


class ExecutionEventsController(_ExecutionControllerBase):
    """An execution's events, as Server-Sent Events."""

    route = "/executions/<id>/events"

    @produces("text/event-stream")
    def get(self, id: str) -> Response:
        """Stream the execution's events (text/event-stream) until it ends; honours Last-Event-ID."""
        after = request.headers.get("Last-Event-ID", "").strip()
        stream = self.runner.events(id, int(after) if after.isdigit() else -1)
        return Response(stream, mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})


EXECUTION_CONTROLLERS = [OperationExecutionsController, ExecutionsController, ExecutionEventsController]
