"""`Batch`: rows on their way from a source to a target, with the columns' names.

A batch keeps the form its source produced and converts on demand, once: row tuples, an Arrow
record batch, or a raw payload in a store's own wire format (`raw_format`, `payload`). A raw
batch is what lets a copy between two stores of one kind skip decoding: a PostgreSQL source
hands binary `COPY` data to a PostgreSQL target untouched. Its length is known without decoding
(the source counted its rows); `rows`, `to_arrow()` and `to_pandas()` decode it through the
decoder registered for its format (`DECODERS`), for whoever needs values: dead letters,
watermarks, policies, or a target that does not take the format; a decoder adds to `rejected`
what it cannot make a row of (a malformed CSV record). A raw batch pickles as its payload
alone (bytes), which is what crosses the queue between a reader process and the writer.

`position` is where the source stood after this batch (a row count, a file offset, the last key
value), which is what a checkpoint records. `partition` names the part of a partitioned read
the batch belongs to (`"2/4"`; None when the read is not split), so each part keeps its own
position. `types` is what the source knows of its columns' types (a SQL source: `ColumnTypes`),
for a target that creates its table. `rejected` holds what the source read but could not make
a row of (a malformed line), as (what it held, why) pairs; the integrator dead-letters them
like rows a target refuses, each at `rejected_at` (where it was read) when the source says.
`origins`, when the source can say, is where it read each row (a file's rows: `RowLines`, the
file and line of each; a topic's: `MessageOffsets`, the partition and offset of each), so a row
a target refuses is dead-lettered at its own place in the source rather than at the batch's
end. `lag`, set by a source that reads a database's log, is how many bytes of that log were
written past this batch when it was read.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pdip.integrator.types import python_values

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    import pandas
    import pyarrow

Decoder = Callable[["Batch"], list[tuple]]

# Not a wire format but a form: a target that accepts it writes Arrow record batches as they
# come, so a source that can make them without Python rows (PostgreSQL's binary COPY, decoded a
# column at a time) hands them over as `Batch(arrow=...)`. Any consumer still reads such a batch
# as rows, so a policy, a cursor or a dead letter is served as from any other batch.
ARROW = "arrow"
_PACKED = "entries"  # the pickled state of a change-log batch's rows, as tuples

# Raw formats and how to decode them: a callable, or "module:function" imported on first use
# (so a writer that never decodes never imports the store's driver).
DECODERS: dict[str, Decoder | str] = {
    "postgresql-copy-binary": "pdip.integrator.adapters.sql.postgres:decode_copy_binary",
    "sqlite-values": "pdip.integrator.adapters.sql.sqlite:decode_values",
    "sqlite-rowid-range": "pdip.integrator.adapters.sql.sqlite:decode_range",
    "csv": "pdip.integrator.adapters.file.csv_raw:decode_csv",
    "parquet-row-range": "pdip.integrator.adapters.file.parquet_ranges:decode_range",
    "duckdb-table": "pdip.integrator.adapters.duckdb_copy:decode",
}


def register_decoder(raw_format: str, decoder: Decoder | str) -> None:
    """Teach batches to decode `raw_format` (an adapter with its own wire format calls this)."""
    DECODERS[raw_format] = decoder


def _decoder(raw_format: str) -> Decoder:
    found = DECODERS.get(raw_format)
    if found is None:
        known = ", ".join(sorted(DECODERS))
        raise ValueError(f"no decoder for raw batch format {raw_format!r} (known: {known})")
    if isinstance(found, str):
        module, _, name = found.partition(":")
        found = DECODERS[raw_format] = getattr(importlib.import_module(module), name)
    return found


@dataclasses.dataclass
class RowLines:
    """Where a source of lines (a file) read each row of a batch: row i is on line `numbers[i]`
    of the file `files` names for it, as (first row, file name) pairs in order, since a batch may
    hold the end of one file and the start of the next. Ints, so a batch crosses a pipe cheaply."""

    numbers: list[int] = dataclasses.field(default_factory=list)
    files: list[tuple[int, str]] = dataclasses.field(default_factory=list)

    def of(self, index: int) -> dict[str, Any]:
        name = next(name for first, name in reversed(self.files) if first <= index)
        return {"file": name, "line": self.numbers[index]}


@dataclasses.dataclass
class MessageOffsets:
    """Where a source of messages (Kafka) read each row of a batch: row i is the message at
    `offsets[i]` of partition `partitions[i]` of `topic` when the source reads that one topic,
    else of topic `topics[i]`. Ints in parallel lists, filled a `consume` at a time, so a batch
    crosses a pipe cheaply and a read pays next to nothing for them."""

    topic: str | None = None
    topics: list[str] = dataclasses.field(default_factory=list)
    partitions: list[int] = dataclasses.field(default_factory=list)
    offsets: list[int] = dataclasses.field(default_factory=list)

    def of(self, index: int) -> dict[str, Any]:
        topic = self.topic if self.topic is not None else self.topics[index]
        return {"topic": topic, "partition": self.partitions[index], "offset": self.offsets[index]}


class Batch:
    __slots__ = (
        "_arrow",
        "_count",
        "_rows",
        "columns",
        "lag",
        "layout",
        "origins",
        "partition",
        "payload",
        "position",
        "raw_format",
        "rejected",
        "rejected_at",
        "types",
    )

    def __init__(
        self,
        columns: Sequence[str],
        rows: list[tuple] | None = None,
        arrow: pyarrow.RecordBatch | None = None,
        position: Any = None,
        rejected: list[tuple[dict[str, Any], str]] | None = None,
        *,
        raw_format: str | None = None,
        payload: bytes | None = None,
        count: int | None = None,
        layout: Any = None,
        types: Any = None,
        partition: str | None = None,
        origins: RowLines | MessageOffsets | None = None,
        rejected_at: list[Any] | None = None,
    ):
        if sum(value is not None for value in (rows, arrow, payload)) != 1:
            raise ValueError("a Batch holds exactly one of: rows, an Arrow record batch, a raw payload")
        if (raw_format is None) != (payload is None) or (payload is not None and count is None):
            raise ValueError("a raw Batch needs its raw_format, its payload and its row count")
        self.columns = list(columns)
        self._rows = rows
        self._arrow = arrow
        self._count = count
        self.raw_format = raw_format
        self.payload = payload
        self.layout = layout
        self.types = types
        self.partition = partition
        self.position = position
        self.rejected = rejected if rejected is not None else []
        self.rejected_at = rejected_at  # where each of `rejected` was read (a file and line), when known
        self.origins = origins
        self.lag = None  # bytes of the source's log past this batch, when the source knows (a capture)

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def from_dicts(
        cls, records: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, position: Any = None
    ) -> Batch:
        """Rows given as mappings; columns are the first record's keys unless named."""
        names = list(columns) if columns is not None else (list(records[0]) if records else [])
        return cls(names, [tuple(map(record.get, names)) for record in records], position=position)

    @classmethod
    def from_arrow(cls, batch: pyarrow.RecordBatch | pyarrow.Table, position: Any = None) -> Batch:
        import pyarrow

        if isinstance(batch, pyarrow.Table):
            batch = (
                batch.combine_chunks().to_batches()[0]
                if batch.num_rows
                else pyarrow.RecordBatch.from_pylist([], schema=batch.schema)
            )
        return cls(batch.schema.names, arrow=batch, position=position)

    @classmethod
    def from_pandas(cls, frame: pandas.DataFrame, position: Any = None) -> Batch:
        import pyarrow

        return cls.from_arrow(pyarrow.RecordBatch.from_pandas(frame, preserve_index=False), position=position)

    @classmethod
    def raw(
        cls,
        columns: Sequence[str],
        raw_format: str,
        payload: bytes,
        count: int,
        position: Any = None,
        *,
        layout: Any = None,
        types: Any = None,
        partition: str | None = None,
    ) -> Batch:
        """`count` rows in a store's wire format; `layout` is what its decoder needs (column types)."""
        return cls(
            columns,
            position=position,
            raw_format=raw_format,
            payload=payload,
            count=count,
            layout=layout,
            types=types,
            partition=partition,
        )

    # -- views -----------------------------------------------------------------------------------

    @property
    def is_raw(self) -> bool:
        return self.payload is not None

    @property
    def rows(self) -> list[tuple]:
        if self._rows is None:
            if self._arrow is not None:
                columns = [python_values(column) for column in self._arrow.columns]
                self._rows = list(zip(*columns, strict=True)) if columns else []
            else:
                self._rows = _decoder(self.raw_format)(self)
        return self._rows

    def with_values(self, rows: list[tuple]) -> Batch:
        """The same rows, one for one, holding other values (converted for a driver, say):
        position, refusals, types, partition and where each row was read are kept."""
        return Batch(
            self.columns,
            rows,
            position=self.position,
            rejected=self.rejected,
            types=self.types,
            partition=self.partition,
            origins=self.origins,
        )

    def origin(self, index: int) -> Any:
        """Where the source read row `index`: its own place when the source said, else the
        batch's position."""
        return self.position if self.origins is None else self.origins.of(index)

    def origins_of(self, rows: Sequence[tuple]) -> list[Any]:
        """Where the source read each of `rows`, rows of this batch as a target hands them back
        when it refuses them (targets return the very row they were given, so a row is found by
        identity; one that is not found gets the batch's position)."""
        if self.origins is None:
            return [self.position] * len(rows)
        places = {id(row): index for index, row in enumerate(self.rows)}
        return [self.origin(places[id(row)]) if id(row) in places else self.position for row in rows]

    def to_arrow(self) -> pyarrow.RecordBatch:
        if self._arrow is None:
            import pyarrow

            rows = self.rows
            arrays = [pyarrow.array(list(values)) for values in zip(*rows, strict=True)] if rows else None
            if arrays is None:
                arrays = [pyarrow.array([], type=pyarrow.null()) for _ in self.columns]
            self._arrow = pyarrow.RecordBatch.from_arrays(arrays, names=self.columns)
        return self._arrow

    def to_pandas(self) -> pandas.DataFrame:
        return self.to_arrow().to_pandas()

    def to_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def __len__(self) -> int:
        if self._count is not None:
            return self._count
        return len(self._rows) if self._rows is not None else self._arrow.num_rows

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.rows)

    # -- pickling: a raw batch travels as its payload, never with what was decoded from it --------

    def refuse(self, held: dict[str, Any], reason: str, at: Any = None) -> None:
        """Add what the source read but could not make a row of, and where it read it."""
        if at is not None and self.rejected_at is None:
            self.rejected_at = [None] * len(self.rejected)
        self.rejected.append((held, reason))
        if self.rejected_at is not None:
            self.rejected_at.append(at)

    def __getstate__(self) -> dict[str, Any]:
        state = {name: getattr(self, name) for name in self.__slots__}
        if self.payload is not None:
            state["_rows"] = state["_arrow"] = state["origins"] = None
        elif self._rows and self.columns == ["entry"]:  # a change-log batch: entries travel as tuples
            from pdip.tracking.entry import ChangeLogEntry, packed  # (here: row integrations never load it)

            if all(type(row[0]) is ChangeLogEntry for row in self._rows):
                state["_rows"] = None
                state[_PACKED] = packed([row[0] for row in self._rows])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        entries = state.pop(_PACKED, None)
        for name, value in state.items():
            setattr(self, name, value)
        if entries is not None:
            from pdip.tracking.entry import unpacked

            self._rows = [(entry,) for entry in unpacked(entries)]

    def __repr__(self) -> str:
        raw = f", {self.raw_format}" if self.raw_format else ""
        return f"Batch({len(self)} rows x {len(self.columns)} columns{raw}: {', '.join(self.columns)})"
