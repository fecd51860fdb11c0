"""The extension point: a store is one module with a `Source`, a `Target` and its capabilities.

    class ThingSource(Source):
        def read(self, request): ...           # yield Batch objects
    class ThingTarget(Target):
        def write(self, batch): ...            # return WriteResult(written, rejected)
    ADAPTER = Adapter(("thing",), ThingSource, ThingTarget, Capabilities(bulk_load=True), settings=SETTINGS)

and one line in `registry.py`. `SETTINGS` is a tuple of `Setting` (`settings.py`): the names,
types, defaults and allowed values the kind takes, checked before any data moves; an adapter
that declares none (`settings=None`) takes any setting. Sources and targets are built per integration from the
connection's settings and the run's context, and closed when the integration ends.

The optional hooks, each with a default that does nothing special:
- `Source.partitions(request, count)`: split a read into up to `count` requests that can be
  read in parallel (key ranges of a table, files of a folder, partitions of a topic); each is
  read by its own reader and checkpointed under its own `partition` name.
- `ReadRequest.resume`: where the last durable batch of this partition ended (a batch's
  `position`); the source starts right after it.
- `ReadRequest.accept` / `Target.accepts()`: payload formats (`Batch.raw_format`) the target
  writes as they are; a source that can produce one may pass its data through undecoded.
- `Source.schema(request)`: the columns and their declared types (`pdip.integrator.types`) of
  what `request` reads, known before reading; a target of an empty source gets them in
  `Target.prepare(..., types=...)` and creates its table or file from them.
- `Source.acknowledge(position)`: everything up to `position` is durable at the target (a
  Kafka consumer commits its offsets here).
- `Source.inherit(planner)`: a reader process's source takes what the source that planned its
  read learnt of the store (SQL: the reflected table), instead of asking the store again.
- `Source.resumes_between_runs`: a stream (a topic, the outbox) whose every run continues where
  the last one stopped, rather than reading its data again from the start.
- `Target.commits_per_batch`: False for a target that makes its output durable only at `finish`
  (a file written under a temporary name); a resumed run then starts such an integration over.
- `Target.keeps_earlier_runs_with`: the connection setting that makes a target add to what earlier
  runs wrote (a file's `append`), for a target that otherwise replaces its output on every run;
  an incremental integration must say which it wants (docs/adr/0014).
- `Target.durable_position(slot)` with `Capabilities.stores_positions`: the target writes each
  batch's position in the same transaction as its rows, under `Target.position_slot`, so a
  replay after a crash skips what is already there (exactly-once effect).
- `Source.replays_from_stored_position`: after a crash the source reads everything after the
  position the target stored, and nothing of its own has moved past it (the outbox, a table, a
  file; not a Kafka group, whose offsets a rebalance prefers when later, nor a capture, which
  confirms to its server, nor a service's pages or memory, which may be gone): such a target
  may commit without waiting for the commit to be on disk, since a crash of its store takes
  back only what is read again. `keep_positions` tells the target
  (`Target.source_replays`) when it gives it its slot (docs/adr/0006, addendum).
- `Target.holding()`: True while batches written are not yet durable, for a target that gathers
  several into one commit (it knows the integration's `Target.batch_size`); the batch loop reports
  and acknowledges them once committed, at the latest after `finish`.
- `Target.disposition` with `Capabilities.upsert` / `Capabilities.replace`: how the integration
  wants its rows written (`append`, `merge` by key, `replace` swapped in whole at `finish`), set
  before the target is prepared; a target that declares neither only ever appends.
- `Target.schema_changes`: the integration's `schema` (evolve, freeze, discard_row,
  discard_value; None: the target's default), set before the first batch; a target that acts on
  it reports what it changed in `WriteResult.schema_changes` and `values_discarded`.
- `Source.transient(error)` / `Target.transient(error)`: whether an error the store's driver
  raised passes (a lost connection, a deadlock, a broker away), so the integration is tried
  again from its last durable position (`Integration.retries`, docs/adr/0029); False by default.
- `Source.light_to_read(request)`: True when reading `request` is so little work (batches that
  only name where their rows are, which the target copies itself; a small local file) that a
  reader process would cost more than it saves: the `process` executor then reads it here.
- `Source.reads_in_thread(request)`: True when pickling the source's batches would cost more
  than reading them (a database's log, decoded into entries): the `process` executor reads it
  in a thread of the writer's process (`executors.inline.read_ahead`), at most two batches ahead.
- `Target.batch_rows`: the batch size the target writes best (DuckDB: one row group), read by an
  integration that sets no `batch_size` (`Integration.rows_per_batch`).
- `Target.range_rows`: the batch size it copies best when a batch only names where its rows are
  (`ReadRequest.range_size`: a raw format the target reads itself, holding no row in pdip; DuckDB:
  16 row groups, which its threads share), for an integration that sets no `batch_size`.
- `Target.check(create)`: what would stop the first batch that only the store can tell (the table
  missing, no key to merge by), looked up without changing anything, by the same code the run
  refuses with; `pdip validate` asks it before any run (`StoreUnreachableError` when the store
  cannot be reached). A target that does not override it is not even opened by `validate`.
- `Target.takes_parallel_writers`: True for a target that several processes may write at once,
  each in its own transactions (a database server; not a SQLite file, which has one writer at a
  time): a change stream is then applied by a process per partition (docs/adr/0010).
"""

from __future__ import annotations

import abc
import dataclasses
import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pdip.configuration.settings import Setting
from pdip.integrator.batch import Batch
from pdip.integrator.integrations import Connection


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What a store's adapter can do, read by the integrator rather than guessed from its kind.

    `in_process_only`: its data lives in the calling process (memory stores; DuckDB, whose file
    one process holds), so no reader process, applier or Dask task can read or write it;
    executors read it where it lives.
    `upsert`: the target writes rows by key (`write: merge`, or change-log entries); `replace`:
    it makes its whole content what one run wrote, in one step at the end (`write: replace`).
    `reads_without_gil`: the source reads Arrow in native code that lets go of Python's GIL (a
    Parquet file), so for a target written in the calling process the `process` executor reads
    it there too: the target's own threads and the reading overlap on two cores as they would
    with a reader process, and no batch crosses a pipe.
    `writes_without_gil`: the target writes Arrow in native code that lets go of the GIL, in
    threads of its own or at its commit (delta-rs, pyiceberg's Parquet writer), so a source that
    reads without the GIL is read in the calling process for it too: a reader process would add
    its fork and its pipe and overlap with nothing more."""

    bulk_load: bool = False
    upsert: bool = False
    replace: bool = False
    transactions: bool = False
    partitioned_read: bool = False
    stores_positions: bool = False
    in_process_only: bool = False
    reads_without_gil: bool = False
    writes_without_gil: bool = False


@dataclasses.dataclass(frozen=True)
class ReadRequest:
    """What an integration asks of its source: batch size, columns, and for incremental reads
    the cursor column with the high-watermark to read after (None: from the start)."""

    batch_size: int
    columns: Sequence[str] | None = None
    cursor: str | None = None
    after: Any = None
    key: Sequence[str] | None = None
    partition: str | None = None
    bounds: Any = None
    resume: Any = None
    accept: tuple[str, ...] = ()
    follow: bool = False
    range_size: int | None = None  # rows per batch that only names where its rows are; None: batch_size

    @property
    def rows_per_range(self) -> int:
        """Rows per batch of a source whose batches name their rows without holding them."""
        return self.range_size or self.batch_size


@dataclasses.dataclass(frozen=True)
class Disposition:
    """How an integration's rows are written (`Integration.write`): `append`, `replace` or `merge`
    by `key` (None: the target's primary key), deleting the keys whose `delete_column` is set.
    `integration` names it in the target's errors."""

    write: str = "append"
    key: tuple[str, ...] | None = None
    delete_column: str | None = None
    integration: str = ""

    @classmethod
    def of(cls, integration: Any) -> Disposition:
        key = tuple(integration.key) if integration.key else None
        return cls(integration.write, key, integration.delete_column, integration.name)


@dataclasses.dataclass
class WriteResult:
    """Rows written, and rows the target refused with the reason for each (they are dead-lettered);
    what the target changed of its own schema to take the batch, in words, and how many values of
    each column it dropped (`Integration.schema`)."""

    written: int
    rejected: list[tuple[tuple, str]] = dataclasses.field(default_factory=list)
    schema_changes: list[str] = dataclasses.field(default_factory=list)
    values_discarded: dict[str, int] = dataclasses.field(default_factory=dict)


class Source(abc.ABC):
    resumes_between_runs = False
    replays_from_stored_position = False

    def __init__(self, connection: Connection, context: Any):
        self.connection = connection
        self.context = context

    @abc.abstractmethod
    def read(self, request: ReadRequest) -> Iterator[Batch]: ...

    def partitions(self, request: ReadRequest, count: int) -> list[ReadRequest]:
        """Up to `count` requests, each with its own `partition` name (and `bounds`, which only
        this source reads), that together read what `request` reads. One unless overridden."""
        return [request]

    def schema(self, request: ReadRequest) -> Any:
        """The columns `request` reads and their types, as this source declares them (a
        `ColumnTypes` or a `pyarrow.Schema`, see `pdip.integrator.types`); None: unknown."""
        return None

    def inherit(self, planner: Source) -> None:
        """Take what `planner` learnt of the store while it planned this read (a table's columns)
        and this source would otherwise ask the store again: a reader process is forked from the
        process whose source planned its read, and gets that source, closed. Nothing unless
        overridden."""

    def light_to_read(self, request: ReadRequest) -> bool:
        """Whether reading `request` costs less than starting a reader process for it (a read
        whose batches only say where their rows are, a small local file); False unless overridden."""
        return False

    def reads_in_thread(self, request: ReadRequest) -> bool:
        """Whether reading `request` costs less than handing its batches across a pipe (reading
        waits on the store, and its batches are Python objects that would be pickled: a
        database's log), so the `process` executor reads it in a thread of the writer's process,
        its reading overlapping the target's waits on its own store. Such a source takes
        `acknowledge` from another thread than the one reading. False unless overridden."""
        return False

    def stop_waiting(self) -> None:
        """Called from another thread than the one reading (`reads_in_thread`) when the batches
        are no longer wanted: a read that waits for news (a followed log) ends soon instead of
        when the source is closed. Nothing to do for a source that never waits long."""

    def acknowledge(self, position: Any) -> None:
        """Everything this source yielded up to `position` is durable at the target."""

    @classmethod
    def transient(cls, error: BaseException) -> bool:
        """Whether `error` (one exception of a chain) is a passing failure of this store that a
        later attempt may not meet (a lost connection, a deadlock); none is, unless overridden."""
        return False

    def describe(self) -> str:
        """What this source reads, for events and logs (no secrets)."""
        return self.connection.kind

    def close(self) -> None:
        """Release connections and files; called once the integration ends."""


class Target(abc.ABC):
    def __init__(self, connection: Connection, context: Any):
        self.connection = connection
        self.context = context

    position_slot: str | None = None
    source_replays = False  # its source reads again what a lost commit took back (`keep_positions`)
    disposition = Disposition()
    schema_changes: str | None = None  # the integration's `schema` (None: the target's default)
    commits_per_batch = True
    batch_size = 0  # the integration's: a batch of fewer rows says the source has no more at hand
    batch_rows: int | None = None  # the batch size it writes best, for an integration that sets none
    range_rows: int | None = None  # the same for batches that only name their rows (None: batch_rows)
    keeps_earlier_runs_with: str | None = None
    takes_parallel_writers = False
    refuse_now: Callable[[list[tuple[tuple, str]]], None] | None = None  # the batch loop's, per batch

    def refusing(self, rows: list[tuple[tuple, str]]) -> list[tuple[tuple, str]]:
        """Rows this target refuses of the batch being written (each in the batch's terms, with
        the reason), handed to the batch loop before the commit that stores a position past
        them: it dead-letters them there and then (`runs.writing`), so a crash after the commit
        cannot lose them. What is left for `WriteResult.rejected`: nothing, or the rows
        themselves where no batch loop listens (a target used on its own)."""
        if self.refuse_now is None or not rows:
            return rows
        self.refuse_now(rows)
        return []

    def prepare(self, columns: Sequence[str], create: bool, truncate: bool, types: Any = None) -> None:
        """Called once before the first batch: create or empty the target when asked. `types`
        is what the source declared of the columns (`Source.schema`), given when no batch
        came, so an empty source's target is still created with the right columns."""

    def check(self, create: bool) -> list[str]:
        """What would stop this integration's first batch that only the store can tell, each in
        words (nothing by default); `disposition` and `schema_changes` are set, `create` is the
        integration's `create_target`. Reads, never writes; raises `StoreUnreachableError` (from
        `pdip.integrator.errors`) when the store cannot be reached."""
        return []

    def accepts(self) -> tuple[str, ...]:
        """Raw payload formats this target writes without decoding them (none by default)."""
        return ()

    def durable_position(self, slot: str) -> Any:
        """The position last stored with a batch under `slot` (targets that store positions)."""
        return None

    def forget_positions(self, slot: str) -> None:
        """Drop the positions stored under `slot` and below it: a run that starts over."""

    @abc.abstractmethod
    def write(self, batch: Batch) -> WriteResult: ...

    @classmethod
    def transient(cls, error: BaseException) -> bool:
        """Whether `error` (one exception of a chain) is a passing failure of this store that a
        later attempt may not meet (a lost connection, a deadlock); none is, unless overridden."""
        return False

    def run(self, sql: str) -> None:
        raise NotImplementedError(f"a {self.connection.kind} target cannot run statements")

    def commit(self) -> None:
        """Make what was written so far durable (called after every batch)."""

    def holding(self) -> bool:
        """Whether batches written are not durable yet: a target that gathers several into one
        commit holds them until the commit (at the latest in `finish`), and the batch loop reports
        and acknowledges them only then (`runs.writing`). None is held, unless overridden."""
        return False

    def finish(self) -> None:
        """Called once after the last batch, only when the whole copy succeeded: a target that
        stages its output (a file written under a temporary name) puts it in place here."""

    def describe(self) -> str:
        return self.connection.kind

    def close(self) -> None:
        """Release connections and files; called once the integration ends, failed or not."""


def prepare_target(target: Target, columns: Sequence[str], create: bool, truncate: bool, types: Any = None) -> None:
    """`target.prepare`, with the declared `types` for a target that takes them (one written
    before they existed overrides `prepare` without them, and still works)."""
    parameters = inspect.signature(target.prepare).parameters
    if types is not None and (
        "types" in parameters or any(item.kind is inspect.Parameter.VAR_KEYWORD for item in parameters.values())
    ):
        target.prepare(columns, create, truncate, types=types)
    else:
        target.prepare(columns, create, truncate)


def keep_positions(target: Target, slot: str, source: Source, incremental: bool = False) -> None:
    """`target` stores each batch's position under `slot` (and its partitions' slots), and
    learns whether `source` reads again from there what a crash of the target's store takes back
    of its last commits (`Source.replays_from_stored_position`). An `incremental` read does not:
    its high watermark is kept in the state database batch by batch, and could be ahead of them."""
    target.position_slot = slot
    target.source_replays = source.replays_from_stored_position and not incremental


def partition_slot(slot: str, partition: str | None) -> str:
    """The slot of one partition of an integration's read (`slot` itself when it is read whole)."""
    return f"{slot}/{partition}" if partition else slot


@dataclasses.dataclass(frozen=True)
class Adapter:
    """A store's source and target; `mode` is "rows" or "changes" (`ChangeLogEntry` batches,
    applied at the target as upserts and deletes), and a kind may have an adapter for each.
    `settings`: what its connections take (None: not declared, anything is passed through)."""

    kinds: tuple[str, ...]
    source: type[Source] | Callable[[Connection, Any], Source] | None  # a class, or a function choosing one
    target: type[Target] | None
    capabilities: Capabilities = Capabilities()
    mode: str = "rows"
    settings: tuple[Setting, ...] | None = None
