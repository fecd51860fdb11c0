"""The `inline` executor: the calling process reads each partition in turn and writes it.

`read_ahead` is how the `process` executor reads a source that reads best in a thread of the
writer's process (`Source.reads_in_thread`: a database's log, whose batches cost more to
pickle than to decode): a thread reads at most `IN_FLIGHT` batches ahead of the writer, so the
reading overlaps the target's waits on its store, and nothing crosses a pipe.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING

from pdip.integrator.adapters.base import ReadRequest, Source
from pdip.integrator.batch import Batch
from pdip.integrator.executors import Endpoints, Executor
from pdip.integrator.runs.reporting import Progress
from pdip.integrator.runs.writing import BatchWriter

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    from pdip.integrator.runs.planning import Plan
    from pdip.integrator.runs.reporting import IntegrationRun


IN_FLIGHT = 2  # batches a reader (process or thread) hands over before it waits for the writer to take one
STOP_WAIT = 2.0  # seconds a writer that stops waits for its reading thread to stop too


class InlineExecutor(Executor):
    reads_ahead = False  # whether a source that reads best in a thread is read by one (`read_ahead`)

    def run(self, run: IntegrationRun, endpoints: Endpoints, plan: Plan) -> None:
        source = endpoints.source
        assert source is not None  # an integration without a source runs its SQL, not an executor
        progress = Progress(run, plan)
        writer = batch_writer(run, endpoints, plan, progress, lambda batch: source.acknowledge(batch.position))
        batches = read_inline(source, plan.requests)
        if self.reads_ahead and len(plan.requests) == 1 and source.reads_in_thread(plan.requests[0]):
            batches = read_ahead(batches, stop=source.stop_waiting)
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


_END = object()  # what a reading thread hands over after its last batch


def read_ahead(
    batches: Generator[Batch, None, None], depth: int = IN_FLIGHT, stop: Callable[[], None] = lambda: None
) -> Iterator[Batch]:
    """`batches` read by a thread of this process, at most `depth` batches ahead of the caller:
    while the caller writes a batch (and waits on its target), the thread reads the next ones.
    What the reading raises is raised here; a caller that stops early stops the thread before
    its next batch, and `stop` (`Source.stop_waiting`) ends a read waiting for news; the caller
    waits up to `STOP_WAIT` for the thread (a read that cannot be woken is left to end when its
    source is closed)."""
    handed: queue.SimpleQueue = queue.SimpleQueue()
    room = threading.Semaphore(depth)
    stopping = threading.Event()

    def read() -> None:
        try:
            for batch in batches:
                room.acquire()
                if stopping.is_set():
                    break
                handed.put(batch)
            handed.put(_END)
        except BaseException as error:  # noqa: BLE001 - raised again in the caller's thread
            handed.put(error)
        finally:
            batches.close()

    reader = threading.Thread(target=read, name="pdip reader", daemon=True)
    reader.start()
    try:
        while (item := handed.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
            room.release()  # written: the thread may read one more
    finally:
        stopping.set()
        stop()
        room.release()  # a thread waiting for room sees that it is to stop
        reader.join(STOP_WAIT)
