"""Parquet files: `kind: parquet`, read and written through Arrow both ways.

    target: {kind: parquet, path: out/orders.parquet, compression: zstd}

A source's types are the file's Arrow schema; a target's are the source's declared types, so an
`INTEGER` stays 32 bits and a column NULL in the first batches keeps its type. A target takes
Arrow record batches as they come (`batch.ARROW`: a PostgreSQL source sends them, decoded from
its binary COPY without a Python row) and gathers them into row groups of `row_group_rows` rows
or `row_group_megabytes` of Arrow data, whichever comes first: what a reader skips or reads in
parallel, and what the writer holds in memory before writing it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pdip.configuration.settings import Setting
from pdip.integrator.adapters import duckdb_copy
from pdip.integrator.adapters.base import Capabilities, ReadRequest, WriteResult
from pdip.integrator.adapters.file import parquet_ranges
from pdip.integrator.adapters.file.format import COMMON, FileFormat, FileReader, FileSettings, FileWriter
from pdip.integrator.adapters.file.reading import RowPlan
from pdip.integrator.batch import ARROW, Batch
from pdip.integrator.errors import OperationError, needs
from pdip.integrator.types import arrow_array, arrow_fields

COMPRESSIONS = ("none", "snappy", "gzip", "brotli", "zstd", "lz4")
ROW_GROUP_ROWS = 1_000_000
# The writer holds about three times its row group at its peak (the gathered batches, then
# Parquet's encoded column chunks): 8 MiB keeps a whole `pdip run` near 150 MiB (docs/scaling.md).
ROW_GROUP_MEGABYTES = 8
DICTIONARY_SAMPLE = 10_000  # rows of the first row group whose values choose the dictionaries
SETTINGS = (
    *COMMON,
    Setting("compression", str, default="snappy", allowed=COMPRESSIONS),
    Setting("row_group_rows", int, default=ROW_GROUP_ROWS, help="a target's rows per row group, at most"),
    Setting(
        "row_group_megabytes",
        int,
        default=ROW_GROUP_MEGABYTES,
        help="a target's row group, at most, in MiB of Arrow data",
    ),
)


@dataclasses.dataclass(frozen=True)
class ParquetSettings(FileSettings):
    compression: str = "snappy"
    row_group_rows: int = ROW_GROUP_ROWS
    row_group_megabytes: int = ROW_GROUP_MEGABYTES


def problems(settings: ParquetSettings) -> list[str]:
    found = []
    if settings.compression.lower() not in COMPRESSIONS:
        found.append(f"compression: expected one of {', '.join(COMPRESSIONS)}, got {settings.compression!r}")
    for name in ("row_group_rows", "row_group_megabytes"):
        if getattr(settings, name) < 1:
            found.append(f"{name}: expected a whole number of at least 1, got {getattr(settings, name)!r}")
    return found


# -- reading ------------------------------------------------------------------------------------


def opened(parquet: Any, path: Path, name: str) -> Any:
    """The Parquet file at `path` open for reading; an empty file (0 bytes: not even a schema,
    so no columns) fails naming it, rather than as Arrow's error without a name."""
    if path.stat().st_size == 0:
        raise OperationError(f"{name} is empty (0 bytes): a Parquet file holds at least its schema; nothing read")
    return parquet.ParquetFile(path)


class ParquetReader(FileReader):
    """Arrow record batches of each file, as the file stores them."""

    def batches(self, files: list[tuple[Path, str]], request: ReadRequest, skip: int) -> Iterator[Batch]:
        parquet = needs("pyarrow.parquet", "parquet files", "integrator")
        import pyarrow.compute

        wanted = list(request.columns) if request.columns else None
        explicit, first = wanted is not None, None
        for path, name in files:
            with opened(parquet, path, name) as reader:
                columns = reader.schema_arrow.names
                if wanted is None:
                    wanted, first = list(columns), name
                RowPlan(columns, wanted, {}, request, name).check(explicit, first, self.label)
                count, done, skip = 0, skip, 0
                for batch in reader.iter_batches(batch_size=request.batch_size, columns=wanted):
                    start, count = count, count + batch.num_rows
                    if count <= done:
                        continue
                    batch = batch.slice(max(0, done - start))
                    if request.cursor is not None and request.after is not None:
                        try:
                            batch = batch.filter(pyarrow.compute.greater(batch.column(request.cursor), request.after))
                        except (ValueError, TypeError, NotImplementedError) as error:
                            raise OperationError(
                                f"{name}: cursor {request.cursor!r} cannot be compared with the high-watermark "
                                f"{request.after!r}: {error}"
                            ) from None
                    if batch.num_rows:
                        yield Batch.from_arrow(batch, position={"file": name, "row": count})

    def schema(self, path: Path, name: str, wanted: list[str] | None) -> Any:
        """The file's Arrow schema, or its `wanted` columns."""
        parquet = needs("pyarrow.parquet", "parquet files", "integrator")
        import pyarrow

        with opened(parquet, path, name) as reader:
            schema = reader.schema_arrow
        # a wanted column the file lacks is left out: reading it fails with the file's name
        return pyarrow.schema([schema.field(column) for column in wanted or schema.names if column in schema.names])

    def types(self, batch: Batch) -> Any:
        return batch.types if batch.is_raw else batch.to_arrow().schema  # a range knows its file's


# -- writing ------------------------------------------------------------------------------------


class ParquetWriter(FileWriter):
    """Arrow all the way: the file's schema is the source's declared types (`Batch.types`, or
    for an empty source the target's `types`); a column the source declares nothing of takes
    the first batch's type (a decimal widened to 38 digits). Every batch is cast to it; a row
    whose values do not fit is refused with the column. Batches are held until they fill a row
    group (the file is put in place only when complete, so nothing waits on them)."""

    def __init__(self, path: Path, columns: list[str], settings: Any, existing: Path | None):
        super().__init__(path, columns, settings, existing)
        self.writer = None  # made with the first row group, whose values choose the dictionaries
        self.schema = None
        self.group: list[Any] = []  # the record batches of the row group being gathered
        self.group_rows = self.group_bytes = 0
        self.copied = False
        if existing is not None:
            with self.parquet.ParquetFile(existing) as source:
                names = source.schema_arrow.names
                if sorted(names) != sorted(columns):
                    raise OperationError(
                        f"{existing.name}: cannot append: its columns ({', '.join(names)}) differ from the columns "
                        f"written ({', '.join(columns)})"
                    )
                self.schema = source.schema_arrow
                for batch in source.iter_batches():
                    self._gather(batch)

    @property
    def parquet(self) -> Any:
        """pyarrow's Parquet module, imported when first needed: never for a file DuckDB writes."""
        return needs("pyarrow.parquet", "parquet files", "integrator")

    def _open(self, first: Any) -> None:
        """The file, with a dictionary for each column whose values repeat in `first` (the
        first row group, as a table)."""
        compression = self.settings.compression.lower()
        dictionaries = _repeating(first)
        self.writer = self.parquet.ParquetWriter(
            str(self.path), self.schema, compression=compression, use_dictionary=dictionaries
        )

    def write(self, batch: Batch) -> WriteResult:
        if batch.raw_format == duckdb_copy.RAW_FORMAT and self.schema is None:  # a new file, DuckDB's to write
            self.copied = True
            return WriteResult(duckdb_copy.copy_to_parquet(batch, self.path, self.settings))
        if not len(batch):  # an empty batch says nothing about the columns' types
            return WriteResult(0)
        if self.schema is None:
            self.schema = _schema_of(batch, batch.types if batch.types is not None else self.types)
        try:
            self._gather(conform(batch, self.schema))
            return WriteResult(len(batch))
        except (ValueError, TypeError, NotImplementedError):
            pass
        import pyarrow

        fitting, rejected = [], []
        for row in batch.rows:
            try:
                fitting.append(conform(Batch(batch.columns, [row]), self.schema))
            except (ValueError, TypeError, NotImplementedError) as error:
                rejected.append((row, f"does not fit the file's schema: {error}"))
        if fitting:
            self._gather(pyarrow.Table.from_batches(fitting, schema=self.schema).combine_chunks().to_batches()[0])
        return WriteResult(len(fitting), rejected)

    def _gather(self, batch: Any) -> None:
        """Add a record batch to the row group; write the group once it is full."""
        self.group.append(batch)
        self.group_rows += batch.num_rows
        self.group_bytes += batch.nbytes
        if (
            self.group_rows >= self.settings.row_group_rows
            or self.group_bytes >= self.settings.row_group_megabytes << 20
        ):
            self._write_group()

    def _write_group(self) -> None:
        if self.group:
            import pyarrow

            table = pyarrow.Table.from_batches(self.group, schema=self.schema)
            if self.writer is None:
                self._open(table)
            self.writer.write_table(table, row_group_size=max(self.group_rows, 1))
            del table
        self.group, self.group_rows, self.group_bytes = [], 0, 0
        import pyarrow

        pyarrow.default_memory_pool().release_unused()  # what the group held, back to the system

    def close(self) -> None:
        if self.copied:  # DuckDB wrote the whole file
            return
        self._write_group()
        if self.writer is None:  # no rows at all: the columns, with the types the source declared
            import pyarrow

            if self.schema is None:
                declared = arrow_fields(self.types, self.columns)
                fields = [
                    field or pyarrow.field(name, pyarrow.null())
                    for name, field in zip(self.columns, declared, strict=True)
                ]
                self.schema = pyarrow.schema(fields)
            self._open(self.schema.empty_table())
        self.writer.close()

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _repeating(table: Any) -> list[str]:
    """The columns of `table` worth a Parquet dictionary: those at most half of whose values are
    distinct in its first `DICTIONARY_SAMPLE` rows (counted over a whole row group of unique
    values, that took more memory than writing the group). For values that hardly repeat,
    Parquet's writer builds a dictionary until it outgrows its page (1 MiB), then writes the rest
    of the column plainly, in every row group: measured on 8 MiB row groups of ids, names, prices
    and timestamps beside a few repeating columns, that took three times the encoding CPU, held
    27 MiB more while a group was written (11 MiB without those dictionaries) and made the file
    40% larger (docs/scaling.md)."""
    import pyarrow
    import pyarrow.compute

    chosen = []
    sample = table.slice(0, DICTIONARY_SAMPLE)
    for name, column in zip(sample.column_names, sample.columns, strict=True):
        try:
            distinct = pyarrow.compute.count_distinct(column, mode="all").as_py()
        except pyarrow.ArrowNotImplementedError:  # a type no hash kernel takes (nested): as Parquet decides
            chosen.append(name)
            continue
        if 2 * distinct <= len(column):
            chosen.append(name)
    return chosen


def _schema_of(batch: Batch, declared: Any) -> Any:
    """The declared types, and for a column declared without one, the first batch's. When a
    column of rows mixes types, its first value that is not None decides; decimals get room for
    38 digits, so a later, longer value still fits."""
    import pyarrow

    fields = arrow_fields(declared, batch.columns)
    if all(field is not None for field in fields):
        return pyarrow.schema(fields)
    inferred = _inferred_schema(batch)
    return pyarrow.schema([field or inferred.field(index) for index, field in enumerate(fields)])


def _inferred_schema(batch: Batch) -> Any:
    import pyarrow

    try:
        schema = batch.to_arrow().schema
    except (ValueError, TypeError, NotImplementedError):
        schema = pyarrow.schema(
            [(name, _column_type([row[index] for row in batch.rows])) for index, name in enumerate(batch.columns)]
        )
    return pyarrow.schema(
        [
            field.with_type(pyarrow.decimal128(38, field.type.scale)) if pyarrow.types.is_decimal(field.type) else field
            for field in schema
        ]
    )


def _column_type(values: list[Any]) -> Any:
    import pyarrow

    try:
        return pyarrow.array(values).type
    except (ValueError, TypeError, NotImplementedError):
        pass
    first = next(value for value in values if value is not None)
    try:
        return pyarrow.array([first]).type
    except (ValueError, TypeError, NotImplementedError):
        return pyarrow.string()


def conform(batch: Batch, schema: Any) -> Any:
    """`batch` as an Arrow record batch of `schema`; an error names the column that does not fit."""
    import pyarrow

    extensions = any(getattr(field.type, "extension_name", None) for field in schema)
    source = None if extensions else batch.to_arrow()  # JSON and UUID values need the map's hand
    arrays = []
    for field in schema:
        if source is None:
            values = batch.rows and [row[batch.columns.index(field.name)] for row in batch.rows]
            try:
                values = arrow_array(values, field.type)
            except (ValueError, TypeError, NotImplementedError) as error:
                raise ValueError(f"column {field.name!r} ({field.type}): {error}") from None
        else:
            values = source.column(field.name)
        if values.type != field.type:
            try:
                values = values.cast(field.type)
            except (ValueError, TypeError, NotImplementedError) as error:
                raise ValueError(f"column {field.name!r} ({field.type}): {error}") from None
        arrays.append(values)
    return pyarrow.RecordBatch.from_arrays(arrays, schema=schema)


FORMAT = FileFormat(
    kinds=("parquet",),
    suffixes=(".parquet", ".pq"),
    settings=SETTINGS,
    options=ParquetSettings,
    reader=ParquetReader,
    writer=ParquetWriter,
    capabilities=Capabilities(bulk_load=True, partitioned_read=True, replace=True, reads_without_gil=True),
    problems=problems,
    raw=parquet_ranges,
    accepts=(ARROW, duckdb_copy.RAW_FORMAT),
    new_file_only=(duckdb_copy.RAW_FORMAT,),
)
