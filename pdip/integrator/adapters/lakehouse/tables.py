"""What the Delta Lake and Iceberg adapters share: a new table's Arrow schema from the source's
declared types, a batch as Arrow of a table's schema (each row that does not fit refused with its
column), the `schema` choice that applies to a table, and where a path points.

Both formats keep Arrow data in Parquet files, so a batch goes to them as Arrow: of the table's
types, cast where the source's differ (a text `"7"` into a `long`), a row whose value does not
cast, or that leaves a required column empty, refused with the reason and the rest written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pdip.configuration.settings import Setting
from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.file.parquet import conform
from pdip.integrator.adapters.sql import evolution
from pdip.integrator.batch import Batch
from pdip.integrator.errors import OperationError
from pdip.integrator.types import arrow_fields

# The batch size both targets read by default (`Target.batch_rows`, for an integration that sets
# none): a batch costs a pipe round trip, a checkpoint and a report, whatever its size, and the
# table's files are as large whatever the batches (a commit gathers them), so batches are made as
# large as keeps a reader's few batches ahead of the writer small in memory (about 15 MiB each for
# a row of eight columns).
BATCH_ROWS = 131_072

COMMIT_SETTINGS = (
    Setting("commit_rows", int, default=1_000_000, help="a target's rows per commit, at most (1: a commit per batch)"),
    Setting("commit_megabytes", int, default=128, help="a target's commit, at most, in MiB of Arrow data"),
)


class Gathering:
    """The batches of a target's next commit: full batches are gathered up to `commit_rows` rows
    or `commit_megabytes` of Arrow data; a shorter batch (the source has no more at hand) makes
    the commit due at once, and a batch of another slot (partition) needs the commit made first,
    since a commit carries one slot's position, the last batch's."""

    def __init__(self, connection: Any):
        self.rows_at_most = int(connection.get("commit_rows") or 1_000_000)
        self.bytes_at_most = int(connection.get("commit_megabytes") or 128) << 20
        self._empty()

    def add(self, record: Any, slot: str | None, position: Any, keep: bool = True) -> None:
        """`record` (kept, unless the target streams it elsewhere) and its batch's position."""
        if keep:
            self.records.append(record)
        self.batches, self.rows, self.size = self.batches + 1, self.rows + record.num_rows, self.size + record.nbytes
        self.slot, self.position = slot, position

    def name(self, item: Any, rows: int, slot: str | None, position: Any) -> None:
        """Rows named, not carried (a range of a file, `adopted`): they take no room in the commit."""
        self.named.append(item)
        self.batches, self.rows = self.batches + 1, self.rows + rows
        self.slot, self.position = slot, position

    def other(self, slot: str | None) -> bool:
        """Batches of a slot other than `slot` are gathered."""
        return self.batches > 0 and slot != self.slot

    def due(self, full: bool, record: Any = None) -> bool:
        """The commit is to be made (with `record` added, when given)."""
        rows, size = self.rows, self.size
        if record is not None:
            rows, size = rows + record.num_rows, size + record.nbytes
        return not full or rows >= self.rows_at_most or size >= self.bytes_at_most

    def take(self) -> tuple[Any, Any]:
        """The records kept, as one Arrow table (None when none was kept), and the last
        position; the gathering emptied."""
        records, position = self.records, self.position
        self._empty()
        if len(records) < 2:
            return (records[0] if records else None), position
        import pyarrow

        return pyarrow.concat_tables(records), position

    def _empty(self) -> None:
        self.records: list[Any] = []
        self.named: list[Any] = []
        self.batches = self.rows = self.size = 0
        self.slot: str | None = None
        self.position: Any = None


def location(path: str, context: Any) -> str:
    """A table's folder: a URL as it is, a local path against the application's root."""
    if "://" in path:
        return path
    local = Path(path).expanduser()
    root = getattr(context, "root", None)
    return str(local if local.is_absolute() or root is None else Path(root) / local)


def new_schema(batch: Batch, storable: Callable[[Any], Any]) -> Any:
    """The Arrow schema of a table made for `batch`: the source's declared types (the one type
    map), a column declared without one taking the batch's Arrow type (text when it has no
    values), each as the format can hold it (`storable`)."""
    import pyarrow

    fields = arrow_fields(batch.types, batch.columns)
    if not all(fields):
        found = batch.to_arrow().schema
        fields = [field or found.field(index) for index, field in enumerate(fields)]
    return pyarrow.schema([storable(field) for field in fields])


def common_field(field: Any) -> Any:
    """A field as both formats hold it: instants in UTC, times in microseconds, unsigned integers
    in the next wider signed type, UUID and JSON (Arrow extension types) as their text, and a
    column of no values as text."""
    import pyarrow
    import pyarrow.types as is_

    kind = field.type
    if getattr(kind, "extension_name", None) or is_.is_null(kind) or is_.is_large_string(kind):
        kind = pyarrow.string()
    elif is_.is_dictionary(kind):
        return common_field(field.with_type(kind.value_type))
    elif is_.is_unsigned_integer(kind):
        kind = {8: pyarrow.int16(), 16: pyarrow.int32(), 32: pyarrow.int64()}.get(
            kind.bit_width, pyarrow.decimal128(20, 0)
        )
    elif is_.is_timestamp(kind):
        kind = pyarrow.timestamp("us", tz="UTC" if kind.tz is not None else None)
    elif is_.is_time(kind):
        kind = pyarrow.time64("us")
    return field.with_type(kind)


def fit(batch: Batch, schema: Any) -> tuple[Any, list[tuple[tuple, str]]]:
    """`batch` as an Arrow table of the table's `schema` (its columns in the table's order, NULL
    where the batch has none), and the rows refused: a value that does not cast to its column's
    type, or a NULL where the column is required."""
    import pyarrow

    wanted = _nullable(pyarrow.schema([schema.field(name) for name in batch.columns]))
    record, kept, rejected = _cast(batch, wanted)
    arrays = [
        record.column(field.name) if field.name in batch.columns else pyarrow.nulls(record.num_rows, field.type)
        for field in schema
    ]
    record = pyarrow.Table.from_arrays(arrays, schema=_nullable(schema))
    required = [field.name for field in schema if not field.nullable]
    # the rows as Python values (slow to make from Arrow) only when some are to be refused
    if required and record.num_rows and any(record.column(name).null_count for name in required):
        record, refused = _filled(record, required, [batch.rows[index] for index in kept])
        rejected += refused
    return record.cast(schema), rejected


def _cast(batch: Batch, wanted: Any) -> tuple[Any, Sequence[int], list[tuple[tuple, str]]]:
    """The batch cast to `wanted` as an Arrow table, the indexes of its rows kept (a range when
    all are: a list of a batch's hundred thousand numbers cost more than its cast), and the rows
    refused: the whole batch at once, else (some value does not cast) row by row."""
    import pyarrow

    try:
        return pyarrow.Table.from_batches([conform(batch, wanted)]), range(len(batch)), []
    except (ValueError, TypeError, NotImplementedError):
        pass
    pieces, kept, rejected = [], [], []
    for index, row in enumerate(batch.rows):
        try:
            pieces.append(conform(Batch(batch.columns, [row]), wanted))
            kept.append(index)
        except (ValueError, TypeError, NotImplementedError) as error:
            rejected.append((row, f"does not fit the table's schema: {error}"))
    return pyarrow.Table.from_batches(pieces, schema=wanted), kept, rejected


def _filled(record: Any, required: list[str], rows: list[tuple]) -> tuple[Any, list[tuple[tuple, str]]]:
    """`record` without its rows that leave a `required` column NULL, and those rows refused."""
    import pyarrow

    empty = {name: record.column(name).is_null().to_pylist() for name in required}
    refused, keep = [], []
    for place, row in enumerate(rows):
        missing = [name for name in required if empty[name][place]]
        keep.append(not missing)
        if missing:
            refused.append((row, f"column(s) {', '.join(map(repr, missing))} may not be NULL in the table"))
    return (record.filter(pyarrow.array(keep)) if refused else record), refused


def _nullable(schema: Any) -> Any:
    """`schema` with every field nullable: a NULL in a required column is refused by `fit`,
    row by row, rather than failing the cast of the whole batch."""
    import pyarrow

    return pyarrow.schema([field.with_nullable(True) for field in schema])


def wanted_schema(schema: Any, request: ReadRequest, where: str) -> Any:
    """The Arrow schema of the columns `request` reads from a table of `schema` (all of them by
    default); a column it names that the table lacks, its cursor too, is refused naming `where`."""
    import pyarrow

    wanted = list(request.columns or schema.names)
    missing = [name for name in (*wanted, *([request.cursor] if request.cursor else [])) if name not in schema.names]
    if missing:
        raise OperationError(
            f"{where} has no column {', '.join(map(repr, missing))} (its columns: {', '.join(schema.names)})"
        )
    return pyarrow.schema([schema.field(name) for name in wanted])


def schema_choice(given: str | None, created: bool) -> tuple[str, str]:
    """The integration's `schema`, or the default: evolve a table pdip created, freeze another."""
    if given is not None:
        return given, "the integration's"
    if created:
        return "evolve", "the default for a table pdip created"
    return "freeze", "the default for a table pdip did not create"


def lacking(batch: Batch, known: list[str], table: str, choice: str, chosen_by: str) -> evolution.Fitted | None:
    """The batch as a table of columns `known` takes it when it has columns the table lacks and
    `choice` does not evolve the table (refused under freeze, or fitted by discard_row and
    discard_value); None when there is nothing to fit or the table is to evolve."""
    added = [name for name in batch.columns if name not in known]
    if not added:
        return None
    evolution.refuse(evolution.Difference(added, []), table, choice, chosen_by)
    if choice == "evolve":
        return None
    return evolution.FITS[choice](batch, lacking=added)
