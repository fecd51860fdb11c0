"""One partition of an integration read, given its policy and written by a process of its own.

The Dask executor runs each partition as a task, and the process executor's appliers run each
partition of a change stream in a child process (`pdip.integrator.appliers`). Either way the
partition's worker opens its own source and target, and tells the caller what it did through a
queue, with these messages:

    ("started", partition, pid)
    ("batch", partition, position, rows read, rows written, seconds, payload bytes, highest cursor)
    ("dead", partition, position, [(row, reason), ...])

`Progress` is the caller's side: it turns them into what the process executor's writer produces
itself (checkpoints, `BatchWritten` events, dead letters), so progress bars, execution records
and subscribers cannot tell the executors apart.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.models import Integration

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    from pdip.integrator.runs import IntegrationRun, Plan


@dataclasses.dataclass
class PartitionJob:
    """Everything a partition's worker needs, in picklable form."""

    integration: Integration
    request: ReadRequest
    mode: str  # the registry picks the row or change-log adapter from it
    slot: str
    stores_positions: bool
    execution_id: str
    root: Any
    policy: Any
    queue: str = ""  # a Dask queue's name (the appliers pass their queue itself)
    lock: str = ""
    prepared: str = ""


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


def read_partition(job: PartitionJob, source: Any, target: Any, partition: str, emptied: bool) -> Iterator[tuple]:
    """`(batch, ready)` pairs of the partition, `ready` with the policy applied, from where its
    target says it stands (from the start when this worker is about to empty the target)."""
    from pdip.integrator.runs import with_policy

    request = job.request
    if job.stores_positions:
        target.position_slot = job.slot
        if emptied:
            target.forget_positions(job.slot)
        durable = target.durable_position(f"{job.slot}/{partition}" if partition else job.slot)
        if durable is not None:
            request = dataclasses.replace(request, resume=durable)
    for batch in source.read(request):
        batch.partition = batch.partition or job.request.partition
        yield batch, with_policy(job.policy, job.integration, batch)


def write_batch(job: PartitionJob, source: Any, target: Any, queue: Any, partition: str, pair: tuple) -> None:
    """Write and commit one batch, acknowledge it to the source, and report it on `queue`."""
    from pdip.integrator.runs import high_watermark

    batch, ready = pair
    started = time.perf_counter()
    if batch.rejected:
        queue.put(("dead", partition, batch.position, plain_rows(batch.rejected)))
    written = target.write(ready)
    target.commit()
    if written.rejected:
        rows = [(dict(zip(ready.columns, row, strict=False)), reason) for row, reason in written.rejected]
        queue.put(("dead", partition, batch.position, plain_rows(rows)))
    source.acknowledge(batch.position)
    size = len(getattr(batch, "payload", None) or b"")
    elapsed = time.perf_counter() - started
    highest = high_watermark(batch, job.integration.cursor, None)
    read = len(batch) + len(batch.rejected)
    queue.put(("batch", partition, batch.position, read, written.written, elapsed, size, highest))


def plain_rows(rows: list[tuple[dict, str]]) -> list[tuple[dict, str]]:
    """Dead-letter rows with values any process can unpickle."""
    from pdip.integrator.runs import plain

    return [({name: plain(value) for name, value in row.items()}, reason) for row, reason in rows]


class Progress:
    """The caller's side: the partitions' messages as checkpoints, events and dead letters."""

    def __init__(self, run: IntegrationRun, plan: Plan):
        self.run = run
        run.watermark = plan.watermark
        self.positions = {request.partition or "": request.resume for request in plan.requests if request.resume}
        self.starts: dict[str, int] = {}

    def handle(self, message: tuple) -> None:
        kind, partition, *rest = message
        run = self.run
        if kind == "started":
            self.starts[partition] = self.starts.get(partition, 0) + 1
        elif kind == "dead":
            position, rows = rest
            run.dead_letter_at(position, rows)
        elif kind == "batch":
            position, read, written, elapsed, size, highest = rest
            if highest is not None and (run.watermark is None or highest > run.watermark):
                run.watermark = highest
            run.result.rows_read += read
            run.result.rows_written += written
            self.positions[partition] = position
            run.save_positions(self.positions, finished=False)
            run.batch_written(written, size, elapsed)

    @property
    def retries(self) -> int:
        """Partitions started again after a failure (a Dask task's retries)."""
        return sum(count - 1 for count in self.starts.values())

    def finish(self) -> None:
        self.run.save_positions(self.positions, finished=True)
