"""The `inline` executor: the calling process reads each partition in turn and writes it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pdip.integrator.adapters.base import ReadRequest, Source
from pdip.integrator.batch import Batch
from pdip.integrator.executors import Endpoints, Executor
from pdip.integrator.runs.reporting import Progress
from pdip.integrator.runs.writing import BatchWriter

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    from pdip.integrator.runs.planning import Plan
    from pdip.integrator.runs.reporting import IntegrationRun


class InlineExecutor(Executor):
    def run(self, run: IntegrationRun, endpoints: Endpoints, plan: Plan) -> None:
        source = endpoints.source
        assert source is not None  # an integration without a source runs its SQL, not an executor
        progress = Progress(run, plan)
        writer = batch_writer(run, endpoints, plan, progress, lambda batch: source.acknowledge(batch.position))
        batches = read_inline(source, plan.requests)
        try:
            for batch in batches:
                writer.write(batch)
        finally:  # a run that stops early gives back the source's cursor now
            batches.close()
        writer.finish(plan.types)
        progress.finish()


def batch_writer(run: IntegrationRun, endpoints: Endpoints, plan: Plan, progress: Progress, acknowledge) -> BatchWriter:
    """The batch loop of an integration written in this process, reporting to `progress`."""
    integration = run.integration
    truncate = integration.truncate_target and not plan.resuming
    return BatchWriter(integration, endpoints.target, run.policy, progress.handle, acknowledge, truncate)


def read_inline(source: Source, requests: list[ReadRequest]) -> Iterator[Batch]:
    """The partitions of `source` read one after the other in this process."""
    for request in requests:
        batches = source.read(request)
        try:
            for batch in batches:
                batch.partition = batch.partition if batch.partition is not None else request.partition
                yield batch
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()
