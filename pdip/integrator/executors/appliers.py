"""Change streams applied in parallel: a process per partition reads, applies the policy and writes.

With the `process` executor, readers hand their batches to one writer, which writes them one
after another; for a change stream into a SQL table that writer and the database then take
turns, one batch at a time, and every entry is pickled twice on the way (docs/changes.md has the
figures). A change-log target that stores positions with its rows needs none of that: the
entries of one key travel in one partition (a Kafka message is keyed by entity and key), and
each partition's position is stored with its own rows, in its own slot. So every partition is
applied by a process of its own, in its own transactions, at the same time, which is what the
process executor does (`suits`) when an integration

- moves change logs (`mode: changes`) read in several partitions (`parallelism` > 1),
- into a target that stores each batch's position with it and takes several writers at once
  (a table of PostgreSQL or MariaDB; a SQLite file has one writer at a time),
- without creating or emptying that target first (one first write would have to go before the
  others; such a run keeps the single writer).

An applier writes through the one batch loop and reports what it wrote down its own pipe
(`executors.children`), with the messages of `pdip.integrator.runs.reporting`, which the caller
turns into checkpoints, events and dead letters as the writer would. It acknowledges its source
itself once a batch is committed, since the batch's position is durable with its rows. An
applier that raises sends its traceback and one that dies ends its pipe: either way the
integration fails at once with the reason, and the others are ended. Appliers die with their
caller.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING

from pdip.integrator.adapters.registry import AdapterRegistry
from pdip.integrator.executors.children import messages, start_children, stop_children, tell
from pdip.integrator.results import WorkerContext
from pdip.integrator.runs.partitions import PartitionJob, PartitionWorker
from pdip.integrator.runs.reporting import PartitionDone, PartitionFailed, Progress
from pdip.integrator.runs.retrying import judges_of, transient

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    from multiprocessing.connection import Connection

    from pdip.integrator.adapters.base import Target
    from pdip.integrator.runs.planning import Plan
    from pdip.integrator.runs.reporting import IntegrationRun


def suits(run: IntegrationRun, plan: Plan, stores_positions: bool, target: Target) -> bool:
    """Whether the process executor applies this integration's partitions in parallel."""
    integration = run.integration
    return (
        integration.mode == "changes"
        and len(plan.requests) > 1
        and stores_positions
        and target.commits_per_batch
        and target.takes_parallel_writers
        and not integration.create_target
        and not integration.truncate_target
    )


class ProcessAppliers:
    """One child process per partition of `plan`, each reading and writing it; this side follows."""

    def __init__(self, run: IntegrationRun, registry: AdapterRegistry):
        self.run = run
        self.registry = registry

    def copy(self, plan: Plan) -> None:
        """Start an applier per partition and follow them until each has said it is done."""
        run, integration = self.run, self.run.integration
        context = WorkerContext.of(run.context)
        count = len(plan.requests)
        work = [
            (
                f"applier {index} of {count}",
                _apply,
                (
                    PartitionJob(
                        integration,
                        request,
                        integration.mode,
                        run.slot,
                        True,
                        context.execution_id,
                        context.root,
                        run.policy,
                    ),
                    self.registry,
                ),
            )
            for index, request in enumerate(plan.requests, start=1)
        ]
        children = start_children(integration.name, work)
        progress = Progress(run, plan)
        try:
            for child, message in messages(children):
                if isinstance(message, PartitionDone):
                    child.finished = True
                elif isinstance(message, PartitionFailed):
                    child.finished = True  # its last word: it closes what it opened and ends
                    raise message.raised(integration.name, f"the {child.name} failed:\n{message.error}")
                else:
                    progress.handle(message)
        finally:  # appliers that have not said their last word (the run stopped early) are ended
            stop_children(children)
        progress.finish()


def _apply(channel: Connection, job: PartitionJob, registry: AdapterRegistry) -> None:
    """An applier process: its partition read, given the policy and written, batch by batch."""
    partition = job.request.partition or ""
    worker = None
    try:
        worker = PartitionWorker(job, registry, channel.send)
        for batch in worker.batches(emptied=False):
            worker.write(batch)
        worker.target.finish()
        channel.send(PartitionDone(partition))
    except BaseException as error:  # noqa: BLE001 - whatever stops the applier is reported to the caller
        integration = job.integration
        passing = transient(error, judges_of(registry, job.mode, integration.source, integration.target))
        tell(channel, PartitionFailed(partition, traceback.format_exc(), passing))  # unless the caller is gone
    finally:
        if worker is not None:
            worker.close()
