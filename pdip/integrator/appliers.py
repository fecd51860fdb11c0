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

An applier reports what it wrote through one queue, with the messages of
`pdip.integrator.partitions`, which the caller turns into checkpoints, events and dead letters as
the writer would. It acknowledges its source itself once a batch is committed, since the batch's
position is durable with its rows. An applier that raises sends its traceback and one that dies
is noticed within a second: either way the integration fails with the reason, and the others
are ended. One whose caller is gone (killed) stops after its batch.
"""

from __future__ import annotations

import gc
import os
import queue
import signal
import traceback
from typing import TYPE_CHECKING, Any

from pdip.integrator.adapters.registry import AdapterRegistry
from pdip.integrator.errors import IntegrationFailedError
from pdip.integrator.executors import death, start_method
from pdip.integrator.partitions import PartitionJob, Progress, WorkerContext, read_partition, write_batch

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    from pdip.integrator.adapters.base import Target
    from pdip.integrator.runs import IntegrationRun, Plan

_POLL_SECONDS = 1.0
_DONE, _FAILED = "done", "failed"


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
        start = start_method()
        messages = start.Queue()
        appliers: dict[str, Any] = {}  # partition -> its process
        for index, request in enumerate(plan.requests):
            context = WorkerContext.of(run.context)
            job = PartitionJob(
                integration, request, integration.mode, run.slot, True, context.execution_id, context.root, run.policy
            )
            appliers[request.partition or ""] = start.Process(
                target=_apply,
                args=(job, self.registry, messages, os.getpid()),
                name=f"pdip-applier-{integration.name}-{index}",
                daemon=True,
            )
        for process in appliers.values():
            process.start()
        running = set(appliers)
        progress = Progress(run, plan)
        try:
            while running:
                self._next(messages, appliers, running, progress)
        finally:  # appliers that have not said their last word (the run stopped early) are ended
            for partition, process in appliers.items():
                if partition in running:
                    process.terminate()
                process.join(timeout=5)
                if process.is_alive():
                    process.kill()
                    process.join(timeout=5)
        progress.finish()

    def _next(self, messages: Any, appliers: dict[str, Any], running: set[str], progress: Progress) -> None:
        """Take the next message; within a second without one, make sure no applier has died."""
        name = self.run.integration.name
        try:
            message = messages.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            for partition in running:
                if not appliers[partition].is_alive():
                    raise IntegrationFailedError(name, death(appliers[partition].exitcode, "applier")) from None
            return
        kind, partition = message[0], message[1]
        if kind == _DONE:
            running.discard(partition)
        elif kind == _FAILED:
            raise IntegrationFailedError(name, f"the applier process failed:\n{message[2]}")
        else:
            progress.handle(message)


class _Reports:
    """The applier's end of the queue; notices when the caller is gone."""

    def __init__(self, messages: Any, parent: int):
        self.messages = messages
        self.parent = parent

    def put(self, message: tuple) -> None:
        if os.getppid() != self.parent:  # the caller was killed: nobody checkpoints what follows
            raise SystemExit(1)
        self.messages.put(message)


def _apply(job: PartitionJob, registry: AdapterRegistry, messages: Any, parent: int) -> None:
    """An applier process: its partition read, given the policy and written, batch by batch."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle: it ends the appliers
    gc.freeze()  # what the fork inherited is never garbage here: the collector stops walking it
    partition = job.request.partition or ""
    reports = _Reports(messages, parent)
    source = target = batches = None
    try:
        context = WorkerContext(job.execution_id, job.root)
        source = registry.source(job.integration.source, context, job.mode)
        target = registry.target(job.integration.target, context, job.mode)
        batches = read_partition(job, source, target, partition, emptied=False)
        prepared = False
        for pair in batches:
            if not prepared:
                target.prepare(pair[1].columns, False, False)
                prepared = True
            write_batch(job, source, target, reports, partition, pair)
        target.finish()
        messages.put((_DONE, partition))
    except BaseException:  # noqa: BLE001 - whatever stops the applier is reported to the caller
        messages.put((_FAILED, partition, traceback.format_exc()))
    finally:
        if batches is not None:  # a read stopped part-way gives its connection back first
            batches.close()
        for endpoint in (source, target):
            if endpoint is not None:
                endpoint.close()
