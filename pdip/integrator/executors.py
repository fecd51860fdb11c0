"""Where an integration's source is read: in the calling process, or in reader processes.

    readers = ProcessReaders(integration_name, connection, mode, requests, context, registry)
    for batch in readers:          # batches of every partition, as they arrive
        ...                        # write them, then
        readers.acknowledge(batch) # tell the batch's reader it is durable

With the `process` executor each partition of the source (one, unless `parallelism` splits it)
is read by a child process that hands batches to the writer (the calling process) through one
bounded queue: at most `QUEUE_DEPTH` batches per reader wait, so memory stays flat however large
the source, and a slow target holds the readers back. Reading (decoding rows, a database
cursor) and writing (encoding, the target's driver) then run on separate cores.

A source that tracks consumption (a Kafka consumer group) learns what is durable through
`acknowledge`: each reader has an acknowledgement queue it drains between batches, and after
its last batch it waits for the writer's final word before it closes its source.

Children are started with `fork` where the platform has it, so the user's script needs no
`if __name__ == "__main__":` guard (a `spawn` start would import the script again in the child);
elsewhere the error says exactly what to add. A reader that raises sends its traceback; a
reader that dies (killed, out of memory) is noticed within a second. Either way the integration
fails with the reason, and the run never hangs. Memory stores live in the calling process, so a
memory source is always read inline.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pdip.integrator.adapters.base import ReadRequest, Source
from pdip.integrator.adapters.registry import AdapterRegistry
from pdip.integrator.batch import Batch
from pdip.integrator.errors import IntegrationFailedError
from pdip.integrator.models import Connection
from pdip.integrator.partitions import WorkerContext

QUEUE_DEPTH = 4
_POLL_SECONDS = 1.0
_CLOSE = "close"


class InlineReaders:
    """The partitions of `source` read one after the other in this process."""

    def __init__(self, source: Source, requests: Sequence[ReadRequest]):
        self.source = source
        self.requests = list(requests)

    def __iter__(self) -> Iterator[Batch]:
        for request in self.requests:
            for batch in self.source.read(request):
                batch.partition = batch.partition if batch.partition is not None else request.partition
                yield batch

    def acknowledge(self, batch: Batch) -> None:
        self.source.acknowledge(batch.position)

    def rows_read(self, batch: Batch) -> int:
        return len(batch)

    def transformed(self, batch: Batch) -> bool:
        """Whether the reader already applied the transformation (never, inline)."""
        return False


class ProcessReaders:
    """Iterate the batches that child processes read, one child per request (partition)."""

    def __init__(
        self,
        integration: str,
        connection: Connection,
        mode: str,
        requests: Sequence[ReadRequest],
        context: Any,
        registry: AdapterRegistry,
        transform: Callable[[Batch], Batch] | None = None,
    ):
        self.integration = integration
        self.registry = registry
        self.transform = transform
        self.connection = connection
        self.mode = mode
        self.requests = list(requests)
        self.context = context
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self._acknowledgements: list[Any] = []
        self._reader_of: dict[int, int] = {}  # id(batch) -> the reader it came from, until acknowledged
        self._running: set[int] = set()  # readers that have not said their last word
        self._read: dict[int, int] = {}  # id(batch) -> rows the source read, before the policy

    def __iter__(self) -> Iterator[Batch]:
        start = start_method()
        batches = start.Queue(maxsize=QUEUE_DEPTH * len(self.requests))
        child_context = WorkerContext.of(self.context)
        for index, request in enumerate(self.requests):
            acknowledgements = start.Queue()
            process = start.Process(
                target=_read_into,
                args=(
                    index,
                    self.registry,
                    self.connection,
                    self.mode,
                    request,
                    child_context,
                    batches,
                    acknowledgements,
                    os.getpid(),
                    self.transform,
                ),
                name=f"pdip-reader-{self.integration}-{index}",
                daemon=True,
            )
            self.processes.append(process)
            self._acknowledgements.append(acknowledgements)
            process.start()
        try:
            yield from self._drain(batches)
        finally:
            self._stop()

    def acknowledge(self, batch: Batch) -> None:
        self._acknowledgements[self._reader_of.pop(id(batch))].put(batch.position)

    def rows_read(self, batch: Batch) -> int:
        """How many rows the source read for `batch` (the policy may have dropped some since)."""
        return self._read.pop(id(batch), len(batch))

    def transformed(self, batch: Batch) -> bool:
        """Whether the reader process already applied `transform` (the field policy) to `batch`."""
        return self.transform is not None

    def _drain(self, batches: Any) -> Iterator[Batch]:
        running = self._running = set(range(len(self.processes)))
        while running:
            try:
                index, kind, payload = batches.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                for index in running:
                    process = self.processes[index]
                    if not process.is_alive():
                        raise IntegrationFailedError(self.integration, death(process.exitcode)) from None
                continue
            if kind == "batch":
                batch, count = payload
                self._reader_of[id(batch)] = index
                self._read[id(batch)] = count
                if batch.partition is None:
                    batch.partition = self.requests[index].partition
                yield batch
            elif kind == "error":
                raise IntegrationFailedError(self.integration, f"the reader process failed:\n{payload}")
            else:
                running.discard(index)

    def _stop(self) -> None:
        """Let readers that have said their last word close their sources; end the others (the
        writer stopped early) at once."""
        for acknowledgements in self._acknowledgements:
            acknowledgements.put(_CLOSE)
        for index, process in enumerate(self.processes):
            if index in self._running:
                process.terminate()
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)


def _read_into(
    index: int,
    registry: AdapterRegistry,
    connection: Connection,
    mode: str,
    request: ReadRequest,
    context: WorkerContext,
    batches: Any,
    acknowledgements: Any,
    parent: int,
    transform: Callable[[Batch], Batch] | None,
) -> None:
    """A reader process: every batch into the queue, then a last word (done, or the error); in
    between and afterwards, what the writer acknowledges reaches the source. The registry is the
    parent's, inherited by the fork: adapters an application registered work here too."""
    gc.freeze()  # what the fork inherited is never garbage here: the collector stops walking it
    source = None
    try:
        source = registry.source(connection, context, mode)
        for batch in source.read(request):
            _pass_acknowledgements(source, acknowledgements, wait=False)
            count = len(batch)
            if transform is not None:  # the policy runs here, beside the reading, not in the writer
                batch = transform(batch)
            _put(batches, (index, "batch", (batch, count)), parent)
        _put(batches, (index, "done", None), parent)
        _pass_acknowledgements(source, acknowledgements, wait=True, parent=parent)
    except BaseException:  # noqa: BLE001 - whatever stops the reader is reported to the writer
        _put(batches, (index, "error", traceback.format_exc()), parent)
    finally:
        if source is not None:
            source.close()


def _put(batches: Any, message: tuple, parent: int) -> None:
    """Queue `message` for the writer; give up when the writer process is gone (killed), so an
    orphaned reader ends instead of waiting on a full queue for ever."""
    while True:
        try:
            batches.put(message, timeout=_POLL_SECONDS)
            return
        except queue.Full:
            if os.getppid() != parent:
                raise SystemExit(1) from None


def _pass_acknowledgements(source: Source, acknowledgements: Any, wait: bool, parent: int | None = None) -> None:
    """Hand the writer's acknowledgements to the source: those waiting now, or (`wait`) all of
    them until the writer says close, or the writer process is gone."""
    while True:
        try:
            position = acknowledgements.get(timeout=_POLL_SECONDS) if wait else acknowledgements.get_nowait()
        except queue.Empty:
            if not wait or os.getppid() != parent:
                return
            continue
        if isinstance(position, str) and position == _CLOSE:
            return
        source.acknowledge(position)


def start_method() -> Any:
    """The multiprocessing context child processes (readers, appliers) are started with: fork."""
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    raise IntegrationFailedError(  # pragma: no cover - only on platforms without fork
        "process executor",
        "this platform cannot fork: put the code that calls integrate() under "
        '`if __name__ == "__main__":` and use executor: process, or use executor: inline',
    )


def death(exit_code: int | None, role: str = "reader") -> str:
    """Why a child process that said no last word is gone, for the integration's error."""
    if exit_code is not None and exit_code < 0:
        return f"the {role} process was killed (signal {-exit_code}) before it finished"
    return f"the {role} process exited with code {exit_code} before it finished"
