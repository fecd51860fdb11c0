"""Excel workbooks: `kind: excel` (.xlsx, .xlsm), through openpyxl.

    source: {kind: excel, path: budget.xlsx, sheet: "2026", types: {amount: decimal}}

A source reads one sheet's values (formulas give their results); a row with values beyond the
header's columns is refused with its line. A target writes one sheet in openpyxl's write-only
mode; a value Excel cannot hold (control characters, text over 32,767 characters) refuses its row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from pdip.configuration.settings import Setting
from pdip.integrator.adapters.base import Capabilities, WriteResult
from pdip.integrator.adapters.file.format import COMMON, FileFormat, FileWriter
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
from pdip.integrator.adapters.file.values import TYPES, to_text
from pdip.integrator.batch import Batch
from pdip.integrator.errors import OperationError, needs

_EXCEL_TEXT_LIMIT = 32_767  # characters in one cell
_EXACT_INTEGERS = 2**53  # every integer up to this is a double
SETTINGS = (
    *COMMON,
    Setting("sheet", str, help="the worksheet to read or write (default: the first; Sheet1 when writing)"),
    HEADER,
    COLUMNS,
    TYPES,
)


@dataclasses.dataclass(frozen=True)
class ExcelSettings(RowSettings):
    sheet: str | None = None
    header: bool = True


# -- reading ------------------------------------------------------------------------------------


class ExcelFile(RowFile):
    """The first sheet (or `sheet`) of a workbook, read as values (formulas give their results)."""

    def __init__(self, path: Path, name: str, settings: Any):
        openpyxl = needs("openpyxl", "excel files", "integrator")
        self._book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        self.columns = list(settings.columns or [])
        with self.closed_on_error():
            if settings.sheet is not None and settings.sheet not in self._book.sheetnames:
                sheets = ", ".join(self._book.sheetnames)
                raise OperationError(f"{name}: sheet: no sheet named {settings.sheet!r} (sheets: {sheets})")
            sheet = self._book[settings.sheet] if settings.sheet is not None else self._book.worksheets[0]
            self._rows = (
                (line, values) for line, values in enumerate(sheet.iter_rows(values_only=True), 1) if _filled(values)
            )
            if settings.header:
                line, header = next(self._rows, (1, None))
                if header is not None and not settings.columns:
                    header = list(header)
                    while header and header[-1] is None:
                        header.pop()
                    self.columns = header_names(["" if cell is None else str(cell) for cell in header], name, line)

    def __iter__(self) -> Iterator[tuple[int, tuple | Malformed]]:
        width = len(self.columns)
        for line, values in self._rows:
            if len(values) > width and _filled(values[width:]):
                problem = f"values beyond the {width} columns of the header"
                yield line, Malformed({"values": list(values)}, problem)
                continue
            yield line, tuple(values[:width]) + (None,) * (width - len(values))

    def close(self) -> None:
        self._book.close()


def _filled(values: tuple) -> bool:
    return any(value is not None for value in values)


class ExcelReader(RowReader):
    def __init__(self, settings: ExcelSettings, label: str):
        super().__init__(settings, label)
        require_columns(settings, label)

    def open(self, path: Path, name: str, wanted: list[str] | None, explicit: bool) -> RowFile:
        return ExcelFile(path, name, self.settings)


# -- writing ------------------------------------------------------------------------------------


class ExcelWriter(FileWriter):
    """A workbook with one sheet (`sheet`, default Sheet1); a new one is written in openpyxl's
    write-only mode, so memory stays flat. Appending loads the existing workbook and writes below
    its last row (rows are placed by number: reading row 1 of an empty sheet creates its cells)."""

    def __init__(self, path: Path, columns: list[str], settings: Any, existing: Path | None):
        super().__init__(path, columns, settings, existing)
        openpyxl = needs("openpyxl", "excel files", "integrator")
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


FORMAT = FileFormat(
    kinds=("excel",),
    suffixes=(".xlsx", ".xlsm"),
    settings=SETTINGS,
    options=ExcelSettings,
    reader=ExcelReader,
    writer=ExcelWriter,
    capabilities=Capabilities(partitioned_read=True, replace=True),
    problems=row_problems,
)
