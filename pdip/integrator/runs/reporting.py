"""What a run records: checkpoints, dead letters and events, from the messages of its writers.

Whoever writes a batch (the calling process, an applier process, a Dask task) reports it with
these small messages; `Progress`, in the calling process, turns them into the run's books:

    PartitionStarted(partition, pid)          a worker began (a Dask task again: a retry)
    BatchDone(partition, position, ...)       a batch is committed: checkpoint, `BatchWritten`
    RowsRefused(partition, position, rows)    rows dead-lettered with their reasons
    SchemaChanged(partition, changes, ...)    the target's schema changed, or values were dropped
    Warned(partition, text)                   what the user should know of a run that goes on
    PolicyCounted(counts)                     what a worker's copy of the field policy did
    PartitionDone(partition)                  the worker's last word, all went well
    PartitionFailed(partition, error, transient)  the worker's last word, with what stopped it

so progress bars, execution records and subscribers cannot tell the executors apart.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pdip.integrator.errors import IntegrationFailedError, TransientFailure
from pdip.integrator.events import BatchWritten, Event, RowsDeadLettered
from pdip.integrator.models import Integration, Operation
from pdip.integrator.state import Checkpoint, StateStore
from pdip.integrator.throughput import add_sample

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    from pdip.integrator.results import IntegrationResult, RunContext
    from pdip.integrator.runs.planning import Plan
    from pdip.policy import Policy


@dataclasses.dataclass(frozen=True)
class PartitionStarted:
    partition: str
    pid: int


@dataclasses.dataclass(frozen=True)
class BatchDone:
    partition: str
    position: Any
    rows_read: int
    rows_written: int
    seconds: float
    size: int  # bytes of the batch's raw payload, when it travelled raw
    highest: Any  # the highest cursor value in the batch (incremental reads)
    lag: int | None = None  # bytes of the source's log past the batch (a capture), when it knows


@dataclasses.dataclass(frozen=True)
class RowsRefused:
    partition: str
    position: Any  # where the batch ended
    rows: list[tuple[dict, str]]
    positions: list[Any] | None = None  # where each row was read, when the source knows


@dataclasses.dataclass(frozen=True)
class SchemaChanged:
    """What a target changed of its schema to take a batch, in words (`added column 'note' TEXT`),
    and how many values of each column it dropped (`schema: discard_value`)."""

    partition: str
    changes: list[str]
    discarded: dict[str, int]


@dataclasses.dataclass(frozen=True)
class Warned:
    """Something the user should know that does not stop the run, in words (a source file with
    no header line and no rows): kept in `IntegrationResult.warnings`."""

    partition: str
    text: str


@dataclasses.dataclass(frozen=True)
class PolicyCounted:
    """The counts of a worker's copy of the field policy since its last report
    (`Policy.take_counts`), which join the calling process's policy's counters."""

    counts: dict


@dataclasses.dataclass(frozen=True)
class PartitionDone:
    partition: str


@dataclasses.dataclass(frozen=True)
class PartitionFailed:
    partition: str
    error: str
    transient: bool = False  # the worker's store calls the error a passing one (`Source.transient`)

    def raised(self, integration: str, reason: str) -> IntegrationFailedError:
        """The error the caller raises for it: a `TransientFailure` when it may be retried."""
        return (TransientFailure if self.transient else IntegrationFailedError)(integration, reason)


Message = (
    PartitionStarted
    | BatchDone
    | RowsRefused
    | SchemaChanged
    | Warned
    | PolicyCounted
    | PartitionDone
    | PartitionFailed
)


class IntegrationRun:
    """The books of one integration's run: its result, checkpoints, dead letters and events."""

    def __init__(
        self,
        operation: Operation,
        integration: Integration,
        result: IntegrationResult,
        context: RunContext,
        state: StateStore,
        emit: Callable[[Event], None],
        policy: Policy | None,
    ):
        self.operation = operation
        self.integration = integration
        self.result = result
        self.context = context
        self.state = state
        self.emit = emit
        self.policy = policy
        self.slot = f"{operation.name}/{integration.name}"
        self.watermark: Any = None
        self.started = time.perf_counter()
        self.base = {"execution_id": context.execution_id, "operation": operation.name, "integration": integration.name}

    def finished_earlier(self) -> bool:
        """In a resumed run: this integration finished before the run was interrupted."""
        checkpoint = self.state.checkpoint(self.operation.name, self.integration.name)
        return bool(checkpoint and checkpoint.finished and checkpoint.execution_id == self.context.execution_id)

    def save_positions(self, positions: dict[str, Any], finished: bool) -> None:
        checkpoint = Checkpoint(self.context.execution_id, positions, finished, self.watermark)
        self.state.save_checkpoint(self.operation.name, self.integration.name, checkpoint)

    def batch_written(self, rows: int, size: int, elapsed: float, rows_read: int = 0, lag: int | None = None) -> None:
        total, seconds = self.result.rows_written, time.perf_counter() - self.started
        add_sample(self.result.throughput, seconds, total)
        written = {"rows": rows, "bytes": size, "elapsed": elapsed, "total_rows": total, "rows_read": rows_read}
        self.emit(BatchWritten(**self.base, **written, seconds=round(seconds, 3), lag=lag))

    def dead_letter_at(self, position: Any, rows: list[tuple[dict, str]], positions: list[Any] | None = None) -> None:
        """Store refused rows (plain values) read at `position` (or each at its own `positions`)."""
        self.state.dead_letter(self.context.execution_id, self.integration.name, position, rows, positions)
        self.result.rows_dead_lettered += len(rows)
        self.emit(RowsDeadLettered(**self.base, rows=len(rows), reason=rows[0][1]))

    def refused_within_limit(self) -> None:
        """Fail past `max_errors`, once the batch that refused the rows is committed: the rows a
        source could not read are stored before their batch is written (`runs.writing`), and a
        failed run's resume starts after that batch, whatever refused the rows."""
        if self.result.rows_dead_lettered > self.integration.max_errors:
            raise IntegrationFailedError(
                self.integration.name,
                f"{self.result.rows_dead_lettered} rows were refused, more than "
                f"max_errors={self.integration.max_errors}; they are in pdip_dead_letter under execution "
                f"{self.context.execution_id}",
            )


class Progress:
    """The calling process's side: the writers' messages as checkpoints, events and dead letters."""

    def __init__(self, run: IntegrationRun, plan: Plan):
        self.run = run
        run.watermark = plan.watermark
        self.positions = {request.partition or "": request.resume for request in plan.requests if request.resume}
        self.starts: dict[str, int] = {}

    def handle(self, message: Message) -> None:
        run = self.run
        if isinstance(message, BatchDone):
            highest = message.highest
            if highest is not None and (run.watermark is None or highest > run.watermark):
                run.watermark = highest
            run.result.rows_read += message.rows_read
            run.result.rows_written += message.rows_written
            self.positions[message.partition] = message.position
            run.save_positions(self.positions, finished=False)
            if message.lag is not None:
                run.result.lag = message.lag
                run.result.lag_max = max(run.result.lag_max or 0, message.lag)
            run.batch_written(message.rows_written, message.size, message.seconds, message.rows_read, message.lag)
            run.refused_within_limit()
        elif isinstance(message, RowsRefused):
            run.dead_letter_at(message.position, message.rows, message.positions)
        elif isinstance(message, SchemaChanged):
            run.result.schema_changes.extend(message.changes)
            for column, count in message.discarded.items():
                run.result.values_discarded[column] = run.result.values_discarded.get(column, 0) + count
        elif isinstance(message, Warned):
            run.result.warnings.append(message.text)
        elif isinstance(message, PolicyCounted):
            run.policy.add_counts(message.counts)  # only a run with a policy has counts to report
        elif isinstance(message, PartitionStarted):
            self.starts[message.partition] = self.starts.get(message.partition, 0) + 1

    @property
    def retries(self) -> int:
        """Partitions started again after a failure within one attempt (a Dask task's retries)."""
        return sum(count - 1 for count in self.starts.values())

    def finish(self) -> None:
        self.run.save_positions(self.positions, finished=True)
