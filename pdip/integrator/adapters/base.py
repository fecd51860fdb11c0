"""The extension point: a store is one module with a `Source`, a `Target` and its capabilities.

    class ThingSource(Source):
        def read(self, request): ...           # yield Batch objects
    class ThingTarget(Target):
        def write(self, batch): ...            # return WriteResult(written, rejected)
    ADAPTER = Adapter(("thing",), ThingSource, ThingTarget, Capabilities(bulk_load=True))

and one line in `registry.py`. Sources and targets are built per integration from the
connection's settings and the run's context, and closed when the integration ends.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

from pdip.integrator.batch import Batch
from pdip.integrator.models import Connection


@dataclasses.dataclass(frozen=True)
class Capabilities:
    bulk_load: bool = False
    upsert: bool = False
    transactions: bool = False
    partitioned_read: bool = False


@dataclasses.dataclass(frozen=True)
class ReadRequest:
    """What an integration asks of its source: batch size, columns, and for incremental reads
    the cursor column with the high-watermark to read after (None: from the start)."""

    batch_size: int
    columns: Sequence[str] | None = None
    cursor: str | None = None
    after: Any = None


@dataclasses.dataclass
class WriteResult:
    """Rows written, and rows the target refused with the reason for each (they are dead-lettered)."""

    written: int
    rejected: list[tuple[tuple, str]] = dataclasses.field(default_factory=list)


class Source(abc.ABC):
    def __init__(self, connection: Connection, context: Any):
        self.connection = connection
        self.context = context

    @abc.abstractmethod
    def read(self, request: ReadRequest) -> Iterator[Batch]: ...

    def describe(self) -> str:
        """What this source reads, for events and logs (no secrets)."""
        return self.connection.kind

    def close(self) -> None:
        """Release connections and files; called once the integration ends."""


class Target(abc.ABC):
    def __init__(self, connection: Connection, context: Any):
        self.connection = connection
        self.context = context

    def prepare(self, columns: Sequence[str], create: bool, truncate: bool) -> None:
        """Called once before the first batch: create or empty the target when asked."""

    @abc.abstractmethod
    def write(self, batch: Batch) -> WriteResult: ...

    def run(self, sql: str) -> None:
        raise NotImplementedError(f"a {self.connection.kind} target cannot run statements")

    def commit(self) -> None:
        """Make what was written so far durable (called after every batch)."""

    def finish(self) -> None:
        """Called once after the last batch, only when the whole copy succeeded: a target that
        stages its output (a file written under a temporary name) puts it in place here."""

    def describe(self) -> str:
        return self.connection.kind

    def close(self) -> None:
        """Release connections and files; called once the integration ends, failed or not."""


@dataclasses.dataclass(frozen=True)
class Adapter:
    kinds: tuple[str, ...]
    source: type[Source] | None
    target: type[Target] | None
    capabilities: Capabilities = Capabilities()
