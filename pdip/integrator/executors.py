"""Where an integration's source is read: in the calling process, or in a reader process.

With the `process` executor a child process reads the source and hands batches to the writer
(the calling process) through a bounded queue: at most `QUEUE_DEPTH` batches wait, so memory
stays flat however large the source, and a slow target holds the reader back. Reading (decoding
rows, a database cursor) and writing (encoding, the target's driver) then run on two cores.

The child is started with `fork` where the platform has it, so the user's script needs no
`if __name__ == "__main__":` guard (a `spawn` start would import the script again in the child);
elsewhere the error says exactly what to add. A reader that raises sends its traceback; a
reader that dies (killed, out of memory) is noticed within a second. Either way the integration
fails with the reason, and the run never hangs. Memory stores live in the calling process, so a
memory source is always read inline.
"""

from __future__ import annotations

import multiprocessing
import queue
import traceback
from collections.abc import Iterator
from typing import Any

from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.batch import Batch
from pdip.integrator.errors import IntegrationFailedError
from pdip.integrator.models import Connection

QUEUE_DEPTH = 4
_POLL_SECONDS = 1.0


class ProcessReader:
    """Iterate the batches a child process reads from `connection`."""

    def __init__(self, integration: str, connection: Connection, request: ReadRequest, context: Any):
        self.integration = integration
        self.connection = connection
        self.request = request
        self.context = context
        self.process: multiprocessing.process.BaseProcess | None = None

    def __iter__(self) -> Iterator[Batch]:
        start = _context()
        batches = start.Queue(maxsize=QUEUE_DEPTH)
        self.process = start.Process(
            target=_read_into,
            args=(self.connection, self.request, _ChildContext.of(self.context), batches),
            name=f"pdip-reader-{self.integration}",
            daemon=True,
        )
        self.process.start()
        try:
            yield from self._drain(batches)
        finally:
            self._stop()

    def _drain(self, batches: Any) -> Iterator[Batch]:
        while True:
            try:
                kind, payload = batches.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if not self.process.is_alive():
                    raise IntegrationFailedError(self.integration, _death(self.process.exitcode)) from None
                continue
            if kind == "batch":
                yield payload
            elif kind == "error":
                raise IntegrationFailedError(self.integration, f"the reader process failed:\n{payload}")
            else:
                return

    def _stop(self) -> None:
        """Let a reader that has said its last word exit on its own; end one that has not."""
        if self.process is None:
            return
        self.process.join(timeout=1)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)


class _ChildContext:
    """What a reader process needs of the run's context (picklable: no stores, no services)."""

    def __init__(self, execution_id: str, root: Any):
        self.execution_id = execution_id
        self.root = root
        self.stores: dict = {}

    @classmethod
    def of(cls, context: Any) -> _ChildContext:
        return cls(context.execution_id, getattr(context, "root", None))


def _read_into(connection: Connection, request: ReadRequest, context: _ChildContext, batches: Any) -> None:
    """The reader process: every batch into the queue, then a last word (done, or the error)."""
    from pdip.integrator.adapters.registry import AdapterRegistry

    source = None
    try:
        source = AdapterRegistry().source(connection, context)
        for batch in source.read(request):
            batches.put(("batch", batch))
        batches.put(("done", None))
    except BaseException:  # noqa: BLE001 - whatever stops the reader is reported to the writer
        batches.put(("error", traceback.format_exc()))
    finally:
        if source is not None:
            source.close()


def _context() -> Any:
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    raise IntegrationFailedError(  # pragma: no cover - only on platforms without fork
        "process executor",
        "this platform cannot fork: put the code that calls integrate() under "
        '`if __name__ == "__main__":` and use executor: process, or use executor: inline',
    )


def _death(exit_code: int | None) -> str:
    if exit_code is not None and exit_code < 0:
        return f"the reader process was killed (signal {-exit_code}) before it finished"
    return f"the reader process exited with code {exit_code} before it finished"
