"""CSV files: `kind: csv`.

    source: {kind: csv, path: landing/*.csv, delimiter: ";", types: {id: int, amount: decimal}}

Read with Python's csv module through `TextLines`, so a line holding a byte the `encoding` does
not have, a line with the wrong number of fields and a field longer than `field_size_limit` are
refused one by one. A value is text (or NULL, when it is the `null` text) unless `types` declares
it; an incremental cursor must be declared, as text compares '10' < '9'. A read nothing needs
the values of goes to a target that parses CSV itself undecoded (`csv_raw`).
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pdip.configuration.settings import Setting
from pdip.integrator.adapters.base import Capabilities, ReadRequest
from pdip.integrator.adapters.file import csv_raw
from pdip.integrator.adapters.file.format import COMMON, FileFormat
from pdip.integrator.adapters.file.reading import (
    COLUMNS,
    HEADER,
    Malformed,
    RowFile,
    RowReader,
    RowSettings,
    header_names,
    require_columns,
    row_problems,
)
from pdip.integrator.adapters.file.text import (
    ENCODING,
    FIELD_SIZE_LIMIT,
    UNCLOSED,
    TextLines,
    TextWriter,
    allow_fields_of,
    csv_problem,
    encoding_problems,
    longer_than,
    reading,
    shown,
    too_long,
    undecodable,
)
from pdip.integrator.adapters.file.values import TYPES, to_text
from pdip.integrator.errors import OperationError

QUOTING = {
    "minimal": csv.QUOTE_MINIMAL,
    "all": csv.QUOTE_ALL,
    "nonnumeric": csv.QUOTE_NONNUMERIC,
    "none": csv.QUOTE_NONE,
}

SETTINGS = (
    *COMMON,
    ENCODING,
    Setting("delimiter", str, default=",", help="one character"),
    Setting("quotechar", str, default='"', help="one character"),
    Setting("quoting", str, default="minimal", allowed=tuple(QUOTING), help="as in Python's csv module"),
    HEADER,
    COLUMNS,
    Setting("null", str, default="", help="the text that means NULL, read and written"),
    TYPES,
    Setting("field_size_limit", int, default=FIELD_SIZE_LIMIT, help="the longest CSV field read, in characters"),
)


@dataclasses.dataclass(frozen=True)
class CsvSettings(RowSettings):
    encoding: str = "utf-8"
    delimiter: str = ","
    quotechar: str = '"'
    quoting: str = "minimal"
    header: bool = True
    null: str = ""
    field_size_limit: int = FIELD_SIZE_LIMIT  # characters in one field


def problems(settings: CsvSettings) -> list[str]:
    found = [
        f"{key}: expected one character, got {value!r}"
        for key, value in (("delimiter", settings.delimiter), ("quotechar", settings.quotechar))
        if len(value) != 1
    ]
    if settings.quoting.lower() not in QUOTING:
        found.append(f"quoting: expected one of {', '.join(QUOTING)}, got {settings.quoting!r}")
    found += encoding_problems(settings.encoding) + row_problems(settings)
    if settings.field_size_limit < 1:
        found.append(f"field_size_limit: expected a positive number of characters, got {settings.field_size_limit}")
    return found


# -- reading ------------------------------------------------------------------------------------


def csv_dialect(settings: Any) -> dict[str, Any]:
    return {
        "delimiter": settings.delimiter,
        "quotechar": settings.quotechar,
        "quoting": QUOTING[settings.quoting.lower()],
    }


class CsvFile(RowFile):
    def __init__(self, path: Path, name: str, settings: Any):
        self.path, self.name, self.encoding, self.null = path, name, settings.encoding, settings.null
        self.dialect = csv_dialect(settings)
        self.limit = settings.field_size_limit
        self._measures = allow_fields_of(self.limit)
        self._lines = TextLines(path, settings.encoding, newline="")
        self._records = self._read()
        self.columns = list(settings.columns or [])
        if settings.header:
            with self.closed_on_error():
                line, header = next(self._records, (1, None))
                if isinstance(header, Malformed):
                    raise OperationError(f"{name}:{line}: the header is not CSV: {header.problem}")
                if header is not None and not settings.columns:
                    self.columns = header_names(header, name, line)
                elif header is not None and len(header) != len(self.columns):
                    raise OperationError(
                        f"{name}:{line}: the header has {len(header)} fields but `columns` names {len(self.columns)}"
                    )

    def _read(self) -> Iterator[tuple[int, list[str] | Malformed]]:
        reader = csv.reader(self._lines, **self.dialect)
        self._lines.handed_out = lambda: reader.line_num
        found, measures = self._lines.undecodable, self._measures
        while True:
            line = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as error:
                raise undecodable(self.path, self.name, self.encoding, error) from None
            except (csv.Error, ValueError) as error:  # ValueError: `quoting: nonnumeric` met an unquoted text
                found.clear()
                yield line, Malformed({}, csv_problem(error, self.limit))
                continue
            if self._lines.ended:  # the file ended inside a quoted field (`Ending`)
                found.clear()
                yield line, Malformed({"line": shown(csv_text([fields], self.dialect).rstrip("\r\n"))}, UNCLOSED)
            elif found:  # a byte of the record's lines did not decode
                bad = found[0]
                found.clear()
                yield (
                    bad.line,
                    Malformed(
                        {"line": shown(csv_text([fields], self.dialect).rstrip("\r\n"))}, bad.problem(self.encoding)
                    ),
                )
            elif measures and too_long(fields, self.limit):
                yield line, Malformed({}, longer_than(self.limit))
            elif fields:  # a blank line is not a row
                yield line, fields

    def __iter__(self) -> Iterator[tuple[int, tuple | Malformed]]:
        width, null = len(self.columns), self.null
        for line, fields in self._records:
            if isinstance(fields, Malformed):
                yield line, fields
            elif len(fields) != width:
                problem = f"expected {width} fields, got {len(fields)}"
                yield line, Malformed({"line": csv_text([fields], self.dialect).rstrip("\r\n")}, problem)
            else:
                yield line, tuple([None if field == null else field for field in fields])

    def close(self) -> None:
        self._lines.close()


def csv_text(rows: list[list[Any]], dialect: dict[str, Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, **dialect).writerows(rows)
    return buffer.getvalue()


class CsvReader(RowReader):
    undeclared = "text"

    def __init__(self, settings: CsvSettings, label: str):
        super().__init__(settings, label)
        require_columns(settings, label)

    def check(self, request: ReadRequest) -> None:
        if request.cursor and request.cursor not in self.settings.types:
            raise OperationError(
                f"{self.label}: types.{request.cursor}: CSV values are text, so the cursor would compare as "
                f"text ('10' < '9'); declare its type (types: {{{request.cursor}: int}}), or `text` to compare text"
            )

    def open(self, path: Path, name: str, wanted: list[str] | None, explicit: bool) -> RowFile:
        return CsvFile(path, name, self.settings)


# -- writing ------------------------------------------------------------------------------------


class CsvWriter(TextWriter):
    def __init__(self, path: Path, columns: list[str], settings: Any, existing: Path | None):
        self.dialect = {**csv_dialect(settings), "lineterminator": "\n"}
        super().__init__(path, columns, settings, existing)

    def opening(self) -> str:
        return csv_text([self.columns], self.dialect) if self.settings.header else ""

    def continuing(self, existing: Path) -> str:
        if self.settings.header:
            with open(existing, encoding=reading(self.encoding), newline="") as stream:
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


FORMAT = FileFormat(
    kinds=("csv",),
    suffixes=(".csv", ".tsv", ".txt"),
    settings=SETTINGS,
    options=CsvSettings,
    reader=CsvReader,
    writer=CsvWriter,
    capabilities=Capabilities(partitioned_read=True, replace=True),
    problems=problems,
    raw=csv_raw,
)
