"""The `process` executor (the default): reader processes, one per partition, feed this process.

    reader 1 ──pipe──┐
    reader 2 ──pipe──┼──▶ this process: BatchWriter (policy done, write, checkpoint, acknowledge)
    reader N ──pipe──┘

Each partition of the source (one, unless `parallelism` splits it) is read by a child process
(`executors.children`) that applies the field policy and sends its batches down its own pipe.
A pipe holds little, so a reader is at most about a batch ahead of the writer: memory stays flat
however large the source, and a slow target holds the readers back. Reading (decoding rows, a
database cursor) and writing (encoding, the target's driver) run on separate cores.

The pipe carries these messages:

    reader -> writer   BatchRead(batch, rows_read), then PartitionDone or PartitionFailed(error)
    writer -> reader   TAKEN after writing each batch, Acknowledge(position) after each durable
                       batch, then CLOSE

TAKEN paces the reader and Acknowledge tells its source what is durable: they come together for
most targets, but a target that gathers batches into one commit (`Target.holding`) acknowledges
them only at that commit, and a reader paced by acknowledgements would wait for it forever.

A source that tracks consumption (a Kafka consumer group) learns what is durable from the
acknowledgements, which the reader passes on between batches; after its last batch it waits for
CLOSE before it closes its source. A reader that raises sends its traceback; a reader that dies,
at any instant, ends its pipe: the run fails at once naming the reader and its signal, and the
other readers are ended. A writer that dies takes its readers with it (`children`).

Memory stores live in this process, so a memory source is read inline, as is a source read whole
whose reading is lighter than starting a reader (`Source.light_to_read`: batches that only name
where their rows are, for a target that copies them itself; a small local file); a source whose
batches cost more to pickle than to read (`Source.reads_in_thread`: a database's log) is read
by a thread of this process (`inline.read_ahead`); a change
stream into a database that takes several writers is applied by a process per partition
(`appliers`).
"""

from __future__ import annotations

import dataclasses
import functools
import traceback
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pdip.integrator.adapters.base import ReadRequest, Source
from pdip.integrator.adapters.registry import AdapterRegistry
from pdip.integrator.batch import ARROW, Batch
from pdip.integrator.errors import OperationError
from pdip.integrator.executors import Endpoints, lives_here
from pdip.integrator.executors.appliers import ProcessAppliers, suits
from pdip.integrator.executors.children import Child, messages, send_large, start_children, stop_children, tell
from pdip.integrator.executors.inline import IN_FLIGHT, InlineExecutor, batch_writer
from pdip.integrator.integrations import Connection as Store
from pdip.integrator.integrations import Integration
from pdip.integrator.results import WorkerContext
from pdip.integrator.runs.reporting import PartitionDone, PartitionFailed, Progress
from pdip.integrator.runs.retrying import judges_of, transient
from pdip.integrator.runs.writing import with_policy

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    from multiprocessing.connection import Connection

    from pdip.integrator.runs.planning import Plan
    from pdip.integrator.runs.reporting import IntegrationRun

CLOSE = "close"
TAKEN = "taken"


@dataclasses.dataclass
class BatchRead:
    batch: Batch
    rows_read: int  # before the policy dropped any
    policy_counts: dict = dataclasses.field(default_factory=dict)  # what the policy did to it (Policy.take_counts)


@dataclasses.dataclass(frozen=True)
class Acknowledge:
    position: Any


class ProcessExecutor(InlineExecutor):
    reads_ahead = True

    def reads_in_a_child(self, integration: Integration, source: Source, request: ReadRequest) -> bool:
        """Not a source whose data lives here, nor one read whole that is lighter to read here
        than a reader process is to start (`Source.light_to_read`) or whose batches cost more to
        pickle than to read (`Source.reads_in_thread`: read by a thread here), nor one whose
        reading lets go of the GIL into a target written here or writing without the GIL itself
        (`Capabilities.reads_without_gil`, `writes_without_gil`: a Parquet file into a Delta or
        Iceberg table), the target's threads overlapping with it as with a reader."""
        registry, mode = self.registry, integration.mode
        if lives_here(registry, integration.source, mode):
            return False
        native = lives_here(registry, integration.target, mode) or writes_without_gil(registry, integration)
        here = native and reads_without_gil(registry, integration)
        here = here or source.light_to_read(request) or source.reads_in_thread(request)
        return integration.parallelism > 1 or not here

    def run(self, run: IntegrationRun, endpoints: Endpoints, plan: Plan) -> None:
        integration = run.integration
        assert endpoints.source is not None  # an integration without a source runs its SQL, not an executor
        if not self.reads_in_a_child(integration, endpoints.source, plan.requests[0]):
            super().run(run, endpoints, plan)
            return
        planner = endpoints.source
        endpoints.close_source()  # the readers open their own, taking what this one learnt as it planned
        stores = self.registry.adapter(integration.target.kind, integration.mode).capabilities.stores_positions
        if suits(run, plan, stores, endpoints.target):
            ProcessAppliers(run, self.registry).copy(plan)  # each partition written by its reader
            return
        if any(ARROW in request.accept for request in plan.requests):
            # once, before the readers fork, not in each of them and then here again (the readers
            # decode with pyarrow.compute, a Parquet target chooses its dictionaries with it)
            import pyarrow.compute  # noqa: F401
        progress = Progress(run, plan)
        readers = ProcessReaders(run, plan.requests, self.registry, planner)
        writer = batch_writer(run, endpoints, plan, progress, readers.acknowledge)
        batches = iter(readers)
        try:
            for batch, rows_read in batches:
                writer.write(batch, rows_read, transformed=True)
        finally:  # a run that stops early ends its readers now
            batches.close()
        writer.finish(plan.types)
        progress.finish()


class ProcessReaders:
    """Iterate `(batch, rows read)` of the partitions that reader processes read, as they arrive."""

    def __init__(self, run: IntegrationRun, requests: list[ReadRequest], registry: AdapterRegistry, planner: Source):
        self.integration = run.integration
        self.context = WorkerContext.of(run.context)
        # what the readers' copies of the policy counted joins the counters of this process's policy
        self.add_policy_counts = run.policy.add_counts if run.policy else _no_policy
        self.transform = functools.partial(with_policy, run.policy, run.integration) if run.policy else None
        self.requests = requests
        self.registry = registry
        self.planner = planner  # the source that planned the reads, closed; each reader inherits it
        self._reader_of: dict[int, Child] = {}  # id(batch) -> the reader it came from, until acknowledged

    def __iter__(self) -> Iterator[tuple[Batch, int]]:
        integration, count = self.integration, len(self.requests)
        work = [
            (
                f"reader {index} of {count}" if count > 1 else "reader",
                _read,
                (
                    self.registry,
                    integration.source,
                    integration.mode,
                    request,
                    self.context,
                    self.transform,
                    self.planner,
                ),
            )
            for index, request in enumerate(self.requests, start=1)
        ]
        children = start_children(integration.name, work)
        partitions = {id(child): request.partition for child, request in zip(children, self.requests, strict=True)}
        try:
            for child, message in messages(children):
                if isinstance(message, BatchRead):
                    batch = message.batch
                    self.add_policy_counts(message.policy_counts)
                    if batch.partition is None:
                        batch.partition = partitions[id(child)]
                    self._reader_of[id(batch)] = child
                    yield batch, message.rows_read
                    child.send(TAKEN)  # written (durable or held): the reader may read on
                elif isinstance(message, PartitionDone):
                    child.finished = True
                else:
                    child.finished = True  # its last word: it closes what it opened and ends
                    raise message.raised(integration.name, f"the {child.name} failed:\n{message.error}")
        finally:  # readers that said their last word close their sources; the others are ended
            stop_children(children, goodbye=CLOSE)

    def acknowledge(self, batch: Batch) -> None:
        self._reader_of.pop(id(batch)).send(Acknowledge(batch.position))


def reads_without_gil(registry: AdapterRegistry, integration: Integration) -> bool:
    """Whether the integration's source reads without holding the GIL (`Capabilities`)."""
    return _declares(registry, integration.source, integration.mode, "reads_without_gil")


def writes_without_gil(registry: AdapterRegistry, integration: Integration) -> bool:
    """Whether the integration's target writes without holding the GIL (`Capabilities`)."""
    return _declares(registry, integration.target, integration.mode, "writes_without_gil")


def _declares(registry: AdapterRegistry, endpoint: Store | None, mode: str, capability: str) -> bool:
    known = endpoint is not None and registry.knows(endpoint.kind, mode)
    return known and getattr(registry.adapter(endpoint.kind, mode).capabilities, capability)


def _no_policy(counts: dict) -> None:
    """Where the counts of a run without a policy go: nowhere (a reader sends none)."""


def _read(
    channel: Connection,
    registry: AdapterRegistry,
    store: Store,
    mode: str,
    request: ReadRequest,
    context: WorkerContext,
    transform: functools.partial[Batch] | None,  # with_policy bound to the policy and integration
    planner: Source,  # the source that planned this read, closed: what it learnt is not asked again
) -> None:
    """A reader process: every batch down the pipe, then its last word; what the writer
    acknowledges reaches the source between batches and until the writer says CLOSE. The
    registry is the parent's, inherited by the fork: adapters an application registered work here.

    A reader is at most `IN_FLIGHT` batches ahead of the batches the writer has taken: it reads on
    while the writer writes, but a source that is always caught up (a followed stream, the
    outbox) does not fill the pipe with one-entry batches the writer would then commit one by
    one, falling behind; what comes in the meantime is taken by the next read, in one batch."""
    source = None
    try:
        source = registry.source(store, context, mode)
        source.inherit(planner)
        ahead = 0
        for batch in source.read(request):
            ahead -= _pass_acknowledgements(source, channel)  # the batches taken meanwhile
            rows_read = len(batch)
            counts = {}
            if transform is not None:  # the policy runs here, beside the reading, not in the writer
                batch = transform(batch)
                counts = transform.args[0].take_counts()  # the policy with_policy applied
            send_large(channel, BatchRead(batch, rows_read, counts))  # an Arrow batch's columns raw
            ahead += 1
            if ahead >= IN_FLIGHT:
                ahead -= _pass_acknowledgements(source, channel, at_least=ahead - IN_FLIGHT + 1)
        channel.send(PartitionDone(request.partition or ""))
        _pass_acknowledgements(source, channel, until_close=True)
    except OperationError as error:  # explained to the user (a setting, a refusing server): its words are enough
        passing = transient(error, judges_of(registry, mode, store, None))
        tell(channel, PartitionFailed(request.partition or "", f"{type(error).__name__}: {error}", passing))
    except BaseException as error:  # noqa: BLE001 - whatever else stops the reader is reported to the writer
        passing = transient(error, judges_of(registry, mode, store, None))
        failed = PartitionFailed(request.partition or "", traceback.format_exc(), passing)
        tell(channel, failed)  # unless the writer is gone
    finally:
        if source is not None:
            source.close()


class _WriterClosed(Exception):
    """The writer said CLOSE before the reader was done. It says CLOSE only to readers that
    have sent their last word (it ends the others), so this is reported as a failure would be,
    to a writer that is no longer listening."""


def _pass_acknowledgements(source: Source, channel: Connection, at_least: int = 0, until_close: bool = False) -> int:
    """Hand the writer's acknowledgements to the source, reading the writer's messages: those
    waiting now, until `at_least` batches are TAKEN, or (`until_close`) until the writer says
    CLOSE (a writer that is gone ends the pipe: EOFError). Returns how many batches were taken."""
    taken = 0
    while until_close or taken < at_least or channel.poll():
        message = channel.recv()
        if message == TAKEN:
            taken += 1
        elif message == CLOSE:
            if until_close:
                return taken
            raise _WriterClosed
        else:
            source.acknowledge(message.position)
    return taken
