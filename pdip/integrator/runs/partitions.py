"""One partition of an integration read and written by a worker of its own (an applier process,
a Dask task): the worker opens its own source and target and writes through the one batch loop
(`BatchWriter`), reporting to the caller with the messages of `runs.reporting`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from pdip.integrator.adapters.base import ReadRequest, keep_positions, partition_slot
from pdip.integrator.integrations import Integration
from pdip.integrator.results import WorkerContext
from pdip.integrator.runs.reporting import Message, PolicyCounted
from pdip.integrator.runs.writing import BatchWriter


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
    queue: str = ""  # a Dask queue's name (the appliers pass their channel itself)
    lock: str = ""
    prepared: str = ""


class PartitionWorker:
    """A partition's source and target, opened from the job's settings in the worker."""

    def __init__(self, job: PartitionJob, registry: Any, report: Callable[[Message], None]):
        self.job = job
        self.report = report
        self.partition = job.request.partition or ""
        context = WorkerContext(job.execution_id, job.root)
        self.source = registry.source(job.integration.source, context, job.mode)
        try:
            self.target = registry.target(job.integration.target, context, job.mode)
        except BaseException:
            self.source.close()
            raise
        # The position is stored with the batch's rows before the source hears of it, so the
        # source may be told at once: the caller's checkpoint follows from the report.
        self.writer = BatchWriter(
            job.integration,
            self.target,
            job.policy,
            report,
            lambda batch: self.source.acknowledge(batch.position),
            truncate=False,
        )
        self._batches: Any = None

    def batches(self, emptied: bool) -> Any:
        """The partition's batches from where its target says it stands (from the start when this
        worker is about to empty the target)."""
        job, request = self.job, self.job.request
        if job.stores_positions:
            keep_positions(self.target, job.slot, self.source, job.integration.mode == "incremental")
            if emptied:
                self.target.forget_positions(job.slot)
            durable = self.target.durable_position(partition_slot(job.slot, self.partition))
            if durable is not None:
                request = dataclasses.replace(request, resume=durable)
        self._batches = self.source.read(request)
        for batch in self._batches:
            batch.partition = batch.partition or job.request.partition
            yield batch

    def write(self, batch: Any) -> None:
        """Write `batch` through the batch loop, and report what the worker's copy of the field
        policy did to it, so the run's record counts it as the calling process's would."""
        self.writer.write(batch)
        if self.job.policy is not None:
            counts = self.job.policy.take_counts()
            if counts:
                self.report(PolicyCounted(counts))

    def close(self) -> None:
        """Give the connections back; a read stopped part-way gives its cursor back first."""
        try:
            if self._batches is not None:
                self._batches.close()
            self.source.close()
        finally:
            self.target.close()
