"""Parquet rows named, not carried, for a target that reads Parquet itself (DuckDB).

When nothing needs the values on the way (no chosen columns, no cursor, no policy: the planner
asks for raw formats only then), a local Parquet source asked for `parquet-row-range` sends, per
batch, which rows of which file it holds: the reader opens only each file's footer, and the
target copies the rows with its own Parquet reader, the way its bulk load (`COPY ... FROM`)
would. A batch is `batch_size` rows of one file, counted from its first row; its position is the
one the decoding reader gives (`{"file": name, "row": rows read}`), so a resume is the same
whichever way the batches went. A range is read when its batch is written: the file must stay
where it is until then, which is why remote files (staged and deleted once read) never go this
way. Whatever needs the values (a refused row, a schema change, a merge) reads them from the
file (`decode_range`).
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.file import remote
from pdip.integrator.adapters.file.reading import RowPlan
from pdip.integrator.batch import Batch
from pdip.integrator.errors import needs

RAW_FORMAT = "parquet-row-range"
NAMES_ROWS = True  # a batch only says where its rows are: reading costs a footer per file


@dataclasses.dataclass(frozen=True)
class RowRange:
    """Rows `first` up to, not including, `stop` of the Parquet file at `path` (counted from 0)."""

    path: str
    first: int
    stop: int

    def read(self) -> Any:
        """The rows as an Arrow table: only the row groups that hold them are read."""
        parquet = needs("pyarrow.parquet", "parquet files", "integrator")
        with parquet.ParquetFile(self.path) as reader:
            groups, start, offset = [], 0, None
            for index in range(reader.metadata.num_row_groups):
                end = start + reader.metadata.row_group(index).num_rows
                if end > self.first and start < self.stop:
                    groups.append(index)
                    offset = start if offset is None else offset
                start = end
            table = reader.read_row_groups(groups) if groups else reader.schema_arrow.empty_table()
        return table.slice(self.first - (offset or 0), self.stop - self.first)


def passes_through(settings: Any, request: ReadRequest) -> bool:
    """Whether this Parquet read can name its rows: its target asked, and the files stay here."""
    return RAW_FORMAT in request.accept and not remote.is_remote(settings.path)


def raw_batches(
    files: list[tuple[Path, str]], settings: Any, label: str, batch_size: int, skip: int = 0
) -> Iterator[Batch]:
    """A batch per `batch_size` rows of each file, after the first `skip` rows of the first; every
    file must have the first one's columns, as for the decoding reader."""
    parquet = needs("pyarrow.parquet", "parquet files", "integrator")
    wanted, first = None, None
    for path, name in files:
        with parquet.ParquetFile(path) as reader:
            schema, total = reader.schema_arrow, reader.metadata.num_rows
        if wanted is None:
            wanted, first = list(schema.names), name
        RowPlan(schema.names, wanted, {}, ReadRequest(batch_size), name).check(False, first, label)
        where = str(Path(path).resolve())
        for start in range(skip, total, batch_size):
            stop = min(start + batch_size, total)
            payload = pickle.dumps(RowRange(where, start, stop), protocol=pickle.HIGHEST_PROTOCOL)
            yield Batch.raw(wanted, RAW_FORMAT, payload, stop - start, {"file": name, "row": stop}, types=schema)
        skip = 0


def decode_range(batch: Batch) -> list[tuple]:
    """The rows of a range, read from its file, in the batch's order of columns."""
    found: RowRange = pickle.loads(batch.payload)  # written by raw_batches, in this run
    return Batch.from_arrow(found.read().select(batch.columns)).rows
