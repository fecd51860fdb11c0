"""`Batch`: rows on their way from a source to a target, with the columns' names.

A batch keeps the form its source produced (row tuples, or an Arrow record batch) and converts
on demand, once: a row-oriented target reading an Arrow source pays for the conversion, a
columnar one does not. `position` is where the source stood after this batch (a row count, a
file offset, a cursor value), which is what a checkpoint records. `rejected` holds what the
source read but could not make a row of (a malformed line), as (what it held, why) pairs; the
integrator dead-letters them like rows a target refuses.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    import pandas
    import pyarrow


class Batch:
    __slots__ = ("_arrow", "_rows", "columns", "position", "rejected")

    def __init__(
        self,
        columns: Sequence[str],
        rows: list[tuple] | None = None,
        arrow: pyarrow.RecordBatch | None = None,
        position: Any = None,
        rejected: list[tuple[dict[str, Any], str]] | None = None,
    ):
        if (rows is None) == (arrow is None):
            raise ValueError("a Batch holds either rows or an Arrow record batch")
        self.columns = list(columns)
        self._rows = rows
        self._arrow = arrow
        self.position = position
        self.rejected = rejected if rejected is not None else []

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def from_dicts(
        cls, records: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, position: Any = None
    ) -> Batch:
        """Rows given as mappings; columns are the first record's keys unless named."""
        names = list(columns) if columns is not None else (list(records[0]) if records else [])
        return cls(names, [tuple(record.get(name) for name in names) for record in records], position=position)

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

    # -- views -----------------------------------------------------------------------------------

    @property
    def rows(self) -> list[tuple]:
        if self._rows is None:
            columns = [column.to_pylist() for column in self._arrow.columns]
            self._rows = list(zip(*columns, strict=True)) if columns else []
        return self._rows

    def to_arrow(self) -> pyarrow.RecordBatch:
        if self._arrow is None:
            import pyarrow

            arrays = [pyarrow.array(list(values)) for values in zip(*self._rows, strict=True)] if self._rows else None
            if arrays is None:
                arrays = [pyarrow.array([], type=pyarrow.null()) for _ in self.columns]
            self._arrow = pyarrow.RecordBatch.from_arrays(arrays, names=self.columns)
        return self._arrow

    def to_pandas(self) -> pandas.DataFrame:
        return self.to_arrow().to_pandas()

    def to_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def __len__(self) -> int:
        return len(self._rows) if self._rows is not None else self._arrow.num_rows

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.rows)

    def __repr__(self) -> str:
        return f"Batch({len(self)} rows x {len(self.columns)} columns: {', '.join(self.columns)})"
