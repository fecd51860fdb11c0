"""A local Parquet file taken into a Delta or Iceberg table as it is, when it is already a file
the table could hold.

Both formats keep their data in Parquet files. A Parquet source whose rows nobody needs to see
on the way (no policy, cursor or chosen columns: the planner offers raw formats only then) sends
its rows as ranges of its files (`parquet_ranges`). When the ranges of one commit make up a whole
file, the file has exactly the table's columns and types, and no required column of it holds a
NULL (its statistics say so), no row of it could be refused or changed by decoding it and
writing it again: the file is copied into the table and named by the commit that carries the
position. Delta gets its statistics (rows, NULL counts, integer bounds) from the footer here;
Iceberg's `add_files` reads them itself.

What a file cannot promise, it is not adopted for: another schema, a required column whose NULLs
are not counted, Parquet field ids, a partitioned table (its files hold no partition columns), a
Delta table with CHECK constraints, invariants, generated or identity columns (delta-rs fills or
checks them while it writes), a merge, column mapping, a part of a file (a resumed read). Those
ranges are read as Arrow (`RangeReader`) and written as any batch.
"""

from __future__ import annotations

import json
import pickle
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pdip.integrator.adapters.file import parquet_ranges
from pdip.integrator.batch import Batch
from pdip.integrator.errors import needs

RAW_FORMAT = parquet_ranges.RAW_FORMAT
PREFIX = "pdip-adopted-"
FIELD_ID = b"PARQUET:field_id"
_CHECKED = ("delta.constraints.", "delta.invariants", "delta.generationExpression", "delta.identity.")


def row_range(batch: Batch) -> parquet_ranges.RowRange:
    return pickle.loads(batch.payload)  # written by the Parquet reader of this run


class Adoption:
    """What a target knows of the files it may adopt: whether its table takes files (`allowed`,
    the target's to say), which files fit it, and the reader of the ranges it does not adopt."""

    def __init__(self) -> None:
        self.allowed = False
        self.reader = RangeReader()
        self._fitting: dict[str, bool] = {}

    def takes(self, batch: Batch, schema: Any) -> bool:
        """Whether the file of this range has the table's columns, types and no NULL where the
        table requires a value (asked once per file)."""
        if not self.allowed or list(batch.columns) != schema.names:
            return False
        path = row_range(batch).path
        if path not in self._fitting:
            self._fitting[path] = fits(path, schema)
        return self._fitting[path]

    def hold(
        self, held: Any, batch: Batch, slot: str | None, position: Any, full: bool, commit: Callable[[], None]
    ) -> None:
        """The range held (`tables.Gathering`) for the next commit, made by `commit`: a commit
        holds ranges of one file only and is made at the file's end (its shorter last range) or
        before another file's range, or batch, or slot."""
        found, named = row_range(batch), held.named
        if held.other(slot) or (held.batches and not named) or (named and named[-1].path != found.path):
            commit()
        held.name(found, len(batch), slot, position)
        if not full:
            commit()


class RangeReader:
    """The rows of ranges of Parquet files, each file read once while its ranges come in order
    (reading each range by itself would decode its whole row group, often the whole file, again)."""

    STEP = 65_536  # rows decoded at a time

    def __init__(self) -> None:
        self._file: Any = None
        self._path, self._at = "", 0
        self._batches: Iterator[Any] = iter(())
        self._left: Any = None  # rows decoded and not yet taken

    def batch(self, batch: Batch) -> Batch:
        """A range's rows as an Arrow batch with the range's position."""
        record = self.read(row_range(batch)).select(batch.columns).combine_chunks()
        found = Batch.from_arrow(record, position=batch.position)
        found.partition, found.types = batch.partition, batch.types
        return found

    def rows(self, ranges: list[parquet_ranges.RowRange]) -> Any:
        """The rows of `ranges`, as one Arrow table."""
        import pyarrow

        return pyarrow.concat_tables([self.read(found) for found in ranges])

    def read(self, found: parquet_ranges.RowRange) -> Any:
        """The rows of `found`, as an Arrow table."""
        import pyarrow

        if (found.path, found.first) != (self._path, self._at):
            self._open(found)
        wanted, pieces = found.stop - found.first, []
        while wanted > 0:
            record = self._left if self._left is not None else next(self._batches)
            pieces.append(record.slice(0, wanted))
            self._left = record.slice(wanted) if record.num_rows > wanted else None
            wanted -= pieces[-1].num_rows
        self._at = found.stop
        return pyarrow.Table.from_batches(pieces, schema=self._file.schema_arrow)

    def _open(self, found: parquet_ranges.RowRange) -> None:
        """Reading from the row group holding `found`'s first row."""
        parquet = needs("pyarrow.parquet", "parquet files", "integrator")
        self.close()
        self._file = parquet.ParquetFile(found.path)
        metadata, start, first = self._file.metadata, 0, 0
        while first < metadata.num_row_groups and start + metadata.row_group(first).num_rows <= found.first:
            start, first = start + metadata.row_group(first).num_rows, first + 1
        groups = list(range(first, metadata.num_row_groups))
        self._batches = iter(self._file.iter_batches(batch_size=self.STEP, row_groups=groups))
        self._path, self._at, self._left = found.path, start, None
        if found.first > start:
            self.read(parquet_ranges.RowRange(found.path, start, found.first))  # rows before the range

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file, self._path = None, ""


def takes_files(table: Any) -> bool:
    """Whether files may be added to `table` without delta-rs checking their rows."""
    metadata = table.metadata()
    if metadata.partition_columns:
        return False
    if any(name.startswith(_CHECKED) for name in metadata.configuration):
        return False
    return not any(any(key.startswith(_CHECKED) for key in field.metadata) for field in table.schema().fields)


def fits(path: str, schema: Any) -> bool:
    """Whether the Parquet file at `path` holds the columns of `schema` in its types, with no
    NULL (by its statistics) in a column `schema` requires."""
    parquet = needs("pyarrow.parquet", "parquet files", "integrator")
    with parquet.ParquetFile(path) as reader:
        found, metadata = reader.schema_arrow, reader.metadata
    if any(field.metadata and FIELD_ID in field.metadata for field in found):
        return False  # ids of another table's columns (Iceberg's `add_files` refuses them)
    if found.names != schema.names or any(mine.type != theirs.type for mine, theirs in zip(found, schema, strict=True)):
        return False
    required = [index for index, field in enumerate(schema) if not field.nullable]
    return all(_nulls(metadata, index) == 0 for index in required)


def whole(ranges: list[parquet_ranges.RowRange]) -> bool:
    """Whether `ranges` (of one file) are, in order, all its rows."""
    parquet = needs("pyarrow.parquet", "parquet files", "integrator")
    with parquet.ParquetFile(ranges[0].path) as reader:
        total = reader.metadata.num_rows
    stops = [0] + [item.stop for item in ranges]
    return all(item.first == stops[place] for place, item in enumerate(ranges)) and stops[-1] == total


def copied(deltalake: Any, path: str, uri: str, options: dict[str, str]) -> Any:
    """The file at `path` copied into the table at `uri`, as the add action that names it."""
    name = f"{PREFIX}{uuid.uuid4().hex}.parquet"
    if "://" in uri:
        # delta-rs's own stream: `DeltaStorageHandler`'s wraps it in a file that hands it Arrow
        # buffers, which it refuses (it takes bytes)
        from deltalake._internal import DeltaFileSystemHandler

        out = DeltaFileSystemHandler(uri, options or None).open_output_stream(name, None)
        with open(path, "rb") as source:
            while chunk := source.read(8 << 20):
                out.write(chunk)
        out.close()
    else:
        shutil.copyfile(path, Path(uri) / name)
    return deltalake.transaction.AddAction(
        name, Path(path).stat().st_size, {}, int(time.time() * 1000), True, statistics(path)
    )


def copied_to_iceberg(io: Any, path: str, location: str) -> str:
    """The file at `path` copied into the data folder of the Iceberg table at `location`
    (through the table's own file IO), as the path `add_files` takes."""
    target = f"{location.rstrip('/')}/data/{PREFIX}{uuid.uuid4().hex}.parquet"
    with open(path, "rb") as source, io.new_output(target).create() as out:
        shutil.copyfileobj(source, out, 8 << 20)
    return target


def statistics(path: str) -> str:
    """The file's Delta statistics from its footer: its rows, each column's NULLs where every
    row group counts them, and the bounds of its integer columns where every row group has them."""
    parquet = needs("pyarrow.parquet", "parquet files", "integrator")
    import pyarrow.types as is_

    with parquet.ParquetFile(path) as reader:
        schema, metadata = reader.schema_arrow, reader.metadata
    nulls, low, high = {}, {}, {}
    for index, field in enumerate(schema):
        count = _nulls(metadata, index)
        if count is not None:
            nulls[field.name] = count
        bounds = _bounds(metadata, index) if is_.is_integer(field.type) else None
        if bounds is not None:
            low[field.name], high[field.name] = bounds
    found = {"numRecords": metadata.num_rows, "nullCount": nulls}
    if low:
        found.update(minValues=low, maxValues=high)
    return json.dumps(found)


def _nulls(metadata: Any, index: int) -> int | None:
    """The NULLs of column `index` in all row groups; None when some group does not count them."""
    counts = []
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(index).statistics
        if stats is None or not stats.has_null_count:
            return None
        counts.append(stats.null_count)
    return sum(counts)


def _bounds(metadata: Any, index: int) -> tuple[int, int] | None:
    """The least and greatest value of column `index` over the row groups that hold any; None
    when one of them has no bounds."""
    lows, highs = [], []
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(index).statistics
        if stats is not None and stats.has_null_count and stats.null_count == metadata.row_group(group).num_rows:
            continue  # a group of NULLs only: no bounds to have
        if stats is None or not stats.has_min_max:
            return None
        lows.append(stats.min)
        highs.append(stats.max)
    return (min(lows), max(highs)) if lows else None
