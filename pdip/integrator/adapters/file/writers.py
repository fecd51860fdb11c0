"""The formats behind the file adapter, writing: one writer per format.

A writer writes one temporary file, which the target moves into place when the run succeeds. A
row it cannot store comes back in the `WriteResult` with the reason, and the others are written.
"""

from __future__ import annotations

import abc
import codecs
import csv
import datetime as dt
import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

from pdip.conversion import json_default
from pdip.integrator.adapters.base import WriteResult
from pdip.integrator.adapters.file.formats import csv_dialect, csv_text, require, to_text
from pdip.integrator.batch import Batch
from pdip.integrator.errors import OperationError
from pdip.integrator.types import arrow_fields

_EXCEL_TEXT_LIMIT = 32_767  # characters in one cell
_EXACT_INTEGERS = 2**53  # every integer up to this is a double


class FileWriter(abc.ABC):
    """Writes one (temporary) file. `existing` is the file to append to, when appending; `types`
    is what the source declared of the columns (`pdip.integrator.types`), set by the target."""

    types: Any = None

    def __init__(self, path: Path, columns: list[str], settings: Any, existing: Path | None):
        self.path, self.columns, self.settings = path, columns, settings

    @abc.abstractmethod
    def write(self, batch: Batch) -> WriteResult: ...

    def flush(self) -> None:
        """Hand what was written to the operating system (after every batch)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Complete the file (footers, the workbook) so it can be moved into place."""

    def abort(self) -> None:
        """Release the file without completing it; the target deletes it."""


class TextWriter(FileWriter):
    """CSV and JSON Lines: a batch is rendered as text and encoded at once; if that fails, row by
    row, so only the rows that cannot be written are refused."""

    def __init__(self, path: Path, columns: list[str], settings: Any, existing: Path | None):
        super().__init__(path, columns, settings, existing)
        self.encoding = settings.encoding
        if existing is not None and existing.stat().st_size:
            shutil.copyfile(existing, path)
            start = self.continuing(existing)
        else:
            start = self.opening()
        self.stream = open(path, "ab")  # noqa: SIM115 - closed by close() or abort()
        self.stream.write(start.encode(self.encoding))

    def opening(self) -> str:
        return ""

    def continuing(self, existing: Path) -> str:
        with open(existing, "rb") as stream:
            stream.seek(-1, 2)
            return "" if stream.read(1) == b"\n" else "\n"

    @abc.abstractmethod
    def render(self, columns: list[str], rows: list[tuple]) -> str: ...

    def write(self, batch: Batch) -> WriteResult:
        rows = batch.rows
        try:
            self.stream.write(self.render(batch.columns, rows).encode(self.encoding))
            return WriteResult(len(rows))
        except (ValueError, TypeError, csv.Error):
            pass
        accepted, rejected = [], []
        for row in rows:
            try:
                accepted.append(self.render(batch.columns, [row]).encode(self.encoding))
            except (ValueError, TypeError, csv.Error) as error:
                rejected.append((row, self.reason(error)))
        self.stream.write(b"".join(accepted))
        return WriteResult(len(accepted), rejected)

    def reason(self, error: Exception) -> str:
        if isinstance(error, UnicodeEncodeError):
            return f"{error.object[error.start : error.end]!r} cannot be written in {self.encoding}"
        return f"cannot be written: {type(error).__name__}: {error}"

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        self.stream.close()

    def abort(self) -> None:
        self.stream.close()


class CsvWriter(TextWriter):
    def __init__(self, path: Path, columns: list[str], settings: Any, existing: Path | None):
        self.dialect = {**csv_dialect(settings), "lineterminator": "\n"}
        super().__init__(path, columns, settings, existing)

    def opening(self) -> str:
        return csv_text([self.columns], self.dialect) if self.settings.header else ""

    def continuing(self, existing: Path) -> str:
        if self.settings.header:
            with open(existing, encoding=self.encoding, newline="") as stream:
                header = next(csv.reader(stream, **self.dialect), [])
            if header != self.columns:
                raise OperationError(
                    f"{existing.name}: cannot append: its header ({', '.join(header)}) differs from the columns "
                    f"written ({', '.join(self.columns)})"
                )
        return super().continuing(existing)

    def render(self, columns: list[str], rows: list[tuple]) -> str:
        null = self.settings.null
        return csv_text([[_csv_cell(value, null) for value in row] for row in rows], self.dialect)


def _csv_cell(value: Any, null: str) -> Any:
    kind = value.__class__
    if kind is str or kind is int or kind is float:
        return value
    if value is None:
        return null
    if kind is bool:
        return "true" if value else "false"
    return to_text(value)


class JsonLinesWriter(TextWriter):
    def __init__(self, path: Path, columns: list[str], settings: Any, existing: Path | None):
        # Outside the UTF encodings, non-ASCII text is written as \u escapes, so every row encodes.
        ascii_only = not codecs.lookup(settings.encoding).name.startswith("utf")
        self.encoder = json.JSONEncoder(ensure_ascii=ascii_only, default=json_default)
        super().__init__(path, columns, settings, existing)

    def render(self, columns: list[str], rows: list[tuple]) -> str:
        encode = self.encoder.encode
        return "".join(encode(dict(zip(columns, row, strict=True))) + "\n" for row in rows)


class ParquetWriter(FileWriter):
    """Arrow all the way: the file's schema is the source's declared types (`Batch.types`, or
    for an empty source the target's `types`); a column the source declares nothing of takes
    the first batch's type (a decimal widened to 38 digits). Every batch is cast to it; a row
    whose values do not fit is refused with the column."""

    def __init__(self, path: Path, columns: list[str], settings: Any, existing: Path | None):
        super().__init__(path, columns, settings, existing)
        self.parquet = require("pyarrow.parquet", "parquet")
        self.writer = None
        if existing is not None:
            with self.parquet.ParquetFile(existing) as source:
                names = source.schema_arrow.names
                if sorted(names) != sorted(columns):
                    raise OperationError(
                        f"{existing.name}: cannot append: its columns ({', '.join(names)}) differ from the columns "
                        f"written ({', '.join(columns)})"
                    )
                self._open(source.schema_arrow)
                for batch in source.iter_batches():
                    self.writer.write_batch(batch)

    def _open(self, schema: Any) -> None:
        compression = self.settings.compression.lower()
        self.writer = self.parquet.ParquetWriter(str(self.path), schema, compression=compression)
        self.schema = schema

    def write(self, batch: Batch) -> WriteResult:
        if not len(batch):  # an empty batch says nothing about the columns' types
            return WriteResult(0)
        if self.writer is None:
            self._open(_schema_of(batch, batch.types if batch.types is not None else self.types))
        try:
            self.writer.write_batch(conform(batch, self.schema))
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
            self.writer.write_table(pyarrow.Table.from_batches(fitting, schema=self.schema))
        return WriteResult(len(fitting), rejected)

    def close(self) -> None:
        if self.writer is None:  # no rows at all: the columns, with the types the source declared
            import pyarrow

            declared = arrow_fields(self.types, self.columns)
            fields = [
                field or pyarrow.field(name, pyarrow.null()) for name, field in zip(self.columns, declared, strict=True)
            ]
            self._open(pyarrow.schema(fields))
        self.writer.close()

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()


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

    source = batch.to_arrow()
    arrays = []
    for field in schema:
        values = source.column(field.name)
        if values.type != field.type:
            try:
                values = values.cast(field.type)
            except (ValueError, TypeError, NotImplementedError) as error:
                raise ValueError(f"column {field.name!r} ({field.type}): {error}") from None
        arrays.append(values)
    return pyarrow.RecordBatch.from_arrays(arrays, schema=schema)


class ExcelWriter(FileWriter):
    """A workbook with one sheet (`sheet`, default Sheet1); a new one is written in openpyxl's
    write-only mode, so memory stays flat. Appending loads the existing workbook and writes below
    its last row (rows are placed by number: reading row 1 of an empty sheet creates its cells)."""

    def __init__(self, path: Path, columns: list[str], settings: Any, existing: Path | None):
        super().__init__(path, columns, settings, existing)
        openpyxl = require("openpyxl", "excel")
        self.next_row: int | None = None  # None: write-only, rows are appended
        if existing is None:
            self.book = openpyxl.Workbook(write_only=True)
            self.sheet = self.book.create_sheet(settings.sheet or "Sheet1")
        else:
            self.book = openpyxl.load_workbook(existing)
            if settings.sheet is None:
                self.sheet = self.book.worksheets[0]
            elif settings.sheet in self.book.sheetnames:
                self.sheet = self.book[settings.sheet]
            else:
                self.sheet = self.book.create_sheet(settings.sheet)
            first = [cell.value for cell in self.sheet[1]]
            while first and first[-1] is None:
                first.pop()
            empty = not first and self.sheet.max_row == 1
            self.next_row = 1 if empty else self.sheet.max_row + 1
            if not empty and settings.header and first != columns:
                raise OperationError(
                    f"{existing.name}: cannot append: its header ({', '.join(map(str, first))}) differs from "
                    f"the columns written ({', '.join(columns)})"
                )
            if not empty:
                return
        if settings.header:
            self._append(list(columns))

    def write(self, batch: Batch) -> WriteResult:
        written, rejected = 0, []
        for row in batch.rows:
            try:
                cells = [_excel_cell(value) for value in row]
            except ValueError as error:
                rejected.append((row, str(error)))
                continue
            self._append(cells)
            written += 1
        return WriteResult(written, rejected)

    def _append(self, cells: list[Any]) -> None:
        if self.next_row is None:
            self.sheet.append(cells)
            return
        for column, value in enumerate(cells, 1):
            self.sheet.cell(self.next_row, column, value)
        self.next_row += 1

    def close(self) -> None:
        self.book.save(self.path)


def _excel_cell(value: Any) -> Any:
    """A value as a cell holds it. Excel's numbers are doubles and its times keep milliseconds:
    an integer beyond 2**53, a decimal no double equals, or a time with microseconds is written
    as its text (read back exactly with `types:`), never rounded."""
    if value is None or isinstance(value, (bool, float, dt.timedelta)):
        return value
    if isinstance(value, int):
        return value if abs(value) <= _EXACT_INTEGERS else str(value)
    if isinstance(value, Decimal):
        return value if value.is_finite() and Decimal(repr(float(value))) == value else str(value)
    if isinstance(value, str):
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        if ILLEGAL_CHARACTERS_RE.search(value):
            raise ValueError(f"text {value[:40]!r} holds control characters, which Excel cannot store")
        if len(value) > _EXCEL_TEXT_LIMIT:
            raise ValueError(f"text of {len(value):,} characters is longer than Excel's cell limit of 32,767")
        return value
    if isinstance(value, dt.datetime):  # Excel has no time zones: aware datetimes are written in UTC
        value = value if value.tzinfo is None else value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value if value.microsecond % 1000 == 0 else value.isoformat(" ")
    if isinstance(value, (dt.date, dt.time)) and getattr(value, "tzinfo", None) is None:
        return value
    return to_text(value)


WRITERS: dict[str, type[FileWriter]] = {
    "csv": CsvWriter,
    "jsonl": JsonLinesWriter,
    "parquet": ParquetWriter,
    "excel": ExcelWriter,
}
