"""One integration, from planning its reads to its last checkpoint.

For each batch the target writes what it can; rows it refuses go to the dead-letter table with
the reason, and the run goes on unless more than `max_errors` rows were refused. After every
batch the checkpoint is saved: the position of each partition of the source and, in incremental
mode, the high-watermark of the cursor column. Only then is the source told the batch is
durable (a Kafka consumer commits its offsets).

Where a run starts:
- a fresh run reads everything (incremental: everything after the last high-watermark), and a
  target that stores positions forgets those of earlier runs;
- a resumed run (`--resume`) skips the integrations its execution already finished and starts
  each partition of the interrupted one right after its last durable batch, as the target
  recorded it in the batch's own transaction when it can (so nothing is written twice), or as
  the checkpoint recorded it; a target that only commits at the end (a file) starts over;
- a stream source (a topic, the outbox) always continues where the last run stopped.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from pdip.integrator.adapters.base import ReadRequest, Source, Target
from pdip.integrator.adapters.registry import AdapterRegistry
from pdip.integrator.batch import Batch
from pdip.integrator.errors import IntegrationFailedError
from pdip.integrator.events import BatchWritten, Event, RowsDeadLettered
from pdip.integrator.executors import InlineReaders, ProcessReaders
from pdip.integrator.models import Integration, Operation
from pdip.integrator.state import Checkpoint, StateStore

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    from pdip.integrator.base import IntegrationResult, RunContext
    from pdip.policy import Policy

WHOLE = ""  # the partition name of a source that is read whole


@dataclasses.dataclass
class Plan:
    """How an integration reads: the request of each partition, and whether it resumes."""

    requests: list[ReadRequest]
    resuming: bool
    watermark: Any


class IntegrationRun:
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
        self.base = {"execution_id": context.execution_id, "operation": operation.name, "integration": integration.name}

    # -- planning --------------------------------------------------------------------------------

    def plan(self, source: Source, target: Target, stores: bool, resume: bool, follow: bool) -> Plan:
        """`stores`: the target stores each batch's position in the batch's transaction."""
        integration = self.integration
        checkpoint = self.state.checkpoint(self.operation.name, integration.name)
        watermark = checkpoint.high_watermark if checkpoint and integration.mode == "incremental" else None
        raw_allowed = self.policy is None and integration.cursor is None and not integration.columns
        request = ReadRequest(
            integration.batch_size,
            integration.columns,
            integration.cursor,
            watermark,
            key=integration.key,
            accept=target.accepts() if raw_allowed else (),
            follow=follow,
        )
        requests = source.partitions(request, integration.parallelism) if integration.parallelism > 1 else [request]
        if stores:
            target.position_slot = self.slot
        continuing = source.resumes_between_runs or (resume and target.commits_per_batch)
        if not continuing:
            if stores:
                target.forget_positions(self.slot)
            return Plan(requests, False, watermark)
        same_run = checkpoint is not None and checkpoint.execution_id == self.context.execution_id
        recorded = checkpoint.positions if checkpoint and (same_run or source.resumes_between_runs) else {}
        planned = []
        for item in requests:
            name = item.partition or WHOLE
            position = target.durable_position(self._slot(name)) if stores else None
            if position is None:
                position = recorded.get(name)
            planned.append(dataclasses.replace(item, resume=position))
        resuming = any(item.resume is not None for item in planned)
        return Plan(planned, resuming, watermark)

    def _slot(self, partition: str) -> str:
        return f"{self.slot}/{partition}" if partition else self.slot

    # -- copying ---------------------------------------------------------------------------------

    def readers(self, source: Source | None, requests: list[ReadRequest], registry: AdapterRegistry | None) -> Any:
        """Inline readers of `source`, or (given the registry to build sources from) reader processes."""
        if registry is not None:
            integration = self.integration
            transform = functools.partial(with_policy, self.policy, integration) if self.policy else None
            return ProcessReaders(
                integration.name,
                integration.source,
                integration.mode,
                requests,
                self.context,
                registry,
                transform,
            )
        return InlineReaders(source, requests)

    def copy(self, readers: Any, target: Target, plan: Plan) -> None:
        integration, result = self.integration, self.result
        positions = dict(self._previous_positions(plan))
        self.watermark = plan.watermark
        truncate = integration.truncate_target and not plan.resuming
        prepared = False
        batches = iter(readers)
        try:
            for batch in batches:
                batch_started = time.perf_counter()
                if batch.rejected:  # what the source could not read (a malformed line) is dead-lettered too
                    result.rows_read += len(batch.rejected)
                    self.dead_letter(batch, batch.rejected)
                result.rows_read += readers.rows_read(batch)
                ready = batch if readers.transformed(batch) else with_policy(self.policy, integration, batch)
                if not prepared:
                    target.prepare(ready.columns, integration.create_target, truncate)
                    prepared = True
                written = target.write(ready)
                target.commit()
                result.rows_written += written.written
                if written.rejected:
                    self.dead_letter(
                        ready,
                        [(dict(zip(ready.columns, row, strict=False)), reason) for row, reason in written.rejected],
                        ready.origins_of([row for row, _ in written.rejected]),
                    )
                positions[batch.partition or WHOLE] = batch.position
                self.watermark = high_watermark(batch, integration.cursor, self.watermark)
                self.save_positions(positions, finished=False)
                readers.acknowledge(batch)
                self.batch_written(
                    written.written, len(getattr(batch, "payload", None) or b""), time.perf_counter() - batch_started
                )
        finally:  # a run that stops early gives back the source's connection and reader processes now
            batches.close()
        if not prepared:
            target.prepare(list(integration.columns or []), integration.create_target, truncate)
        target.finish()
        self.save_positions(positions, finished=True)

    def statements(self, target: Target) -> None:
        """An integration with only a target: run its SQL there."""
        target.run(self.integration.sql)
        target.commit()
        self.save_positions({}, finished=True)

    def batch_written(self, rows: int, size: int, elapsed: float) -> None:
        self.emit(
            BatchWritten(**self.base, rows=rows, bytes=size, elapsed=elapsed, total_rows=self.result.rows_written)
        )

    def finished_earlier(self) -> bool:
        """In a resumed run: this integration finished before the run was interrupted."""
        checkpoint = self.state.checkpoint(self.operation.name, self.integration.name)
        return bool(checkpoint and checkpoint.finished and checkpoint.execution_id == self.context.execution_id)

    def _previous_positions(self, plan: Plan) -> Iterable[tuple[str, Any]]:
        for request in plan.requests:
            if request.resume is not None:
                yield request.partition or WHOLE, request.resume

    def save_positions(self, positions: dict[str, Any], finished: bool) -> None:
        checkpoint = Checkpoint(self.context.execution_id, positions, finished, self.watermark)
        self.state.save_checkpoint(self.operation.name, self.integration.name, checkpoint)

    # -- policy and dead letters -----------------------------------------------------------------

    def dead_letter(self, batch: Batch, rows: list[tuple[dict, str]], positions: list[Any] | None = None) -> None:
        rows = [({name: plain(value) for name, value in row.items()}, reason) for row, reason in rows]
        self.dead_letter_at(batch.position, rows, positions)

    def dead_letter_at(self, position: Any, rows: list[tuple[dict, str]], positions: list[Any] | None = None) -> None:
        """Store refused rows (plain values) read at `position` (or each at its own `positions`);
        fail past `max_errors`."""
        self.state.dead_letter(self.context.execution_id, self.integration.name, position, rows, positions)
        self.result.rows_dead_lettered += len(rows)
        self.emit(RowsDeadLettered(**self.base, rows=len(rows), reason=rows[0][1]))
        if self.result.rows_dead_lettered > self.integration.max_errors:
            raise IntegrationFailedError(
                self.integration.name,
                f"{self.result.rows_dead_lettered} rows were refused, more than "
                f"max_errors={self.integration.max_errors}; they are in pdip_dead_letter under execution "
                f"{self.context.execution_id}",
            )


def with_policy(policy: Policy | None, integration: Integration, batch: Batch) -> Batch:
    """`batch` as the target may see it: the field policy applied to its rows, or to each of
    its change-log entries (dropping the entries the policy drops)."""
    if policy is None:
        return batch
    scope = _scope(integration)
    if integration.mode == "changes":
        entries = [row[0] for row in batch.rows]
        kept = policy.apply_entries(entries, scope)
        if len(kept) == len(entries) and all(map(operator.is_, kept, entries)):
            return batch  # the usual batch: the policy changed nothing
        applied = Batch(batch.columns, [(entry,) for entry in kept], position=batch.position)
    else:
        applied = policy.apply_batch(batch, scope)
    applied.partition = batch.partition
    if len(applied) == len(batch):  # the same rows in the same order: each still knows where it was read
        applied.origins = batch.origins
    return applied


@functools.lru_cache(maxsize=256)
def _scope_of(source_kind: str, source_name: str, table: str, topic: str, sink: str) -> tuple[str, ...]:
    scope = [f"source:{source_name or source_kind}", f"sink:{sink}"]
    if table:
        scope.append(f"table:{table}")
    if topic:
        scope.append(f"topic:{topic}")
    return tuple(scope)


def _scope(integration: Integration) -> tuple[str, ...]:
    """Where a batch is in a policy's terms: its source (and table or topic) and its sink."""
    source, target = integration.source, integration.target
    return _scope_of(
        source.kind,
        source.name or "",
        str(source.get("table") or ""),
        str(source.get("topic") or ""),
        target.name or target.kind,
    )


def plain(value: Any) -> Any:
    """A dead-lettered value as stored: a change-log entry as its dict."""
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) and not isinstance(value, type) else value


def high_watermark(batch: Batch, cursor: str | None, current: Any) -> Any:
    """The higher of `current` and the highest non-null `cursor` value in the batch."""
    if cursor is None or cursor not in batch.columns:
        return current
    index = batch.columns.index(cursor)
    values = [row[index] for row in batch.rows if row[index] is not None]
    if not values:
        return current
    highest = max(values)
    return highest if current is None or highest > current else current
