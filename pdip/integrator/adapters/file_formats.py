"""The formats behind the file adapter, reading: values of the `types` setting, and one reader
per format.

A reader turns one file into `(line, values)` pairs, or `(line, Malformed(...))` for a line that
is not a row (a CSV line with the wrong number of fields, a JSON Lines line that is not an
object), so the adapter can dead-letter it with its file and line and go on.
"""

from __future__ import annotations

import abc
import codecs
import contextlib
import csv
import datetime as dt
import importlib
import io
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from pdip.conversion import to_bool, to_plain
from pdip.integrator.errors import OperationError

QUOTING = {
    "minimal": csv.QUOTE_MINIMAL,
    "all": csv.QUOTE_ALL,
    "nonnumeric": csv.QUOTE_NONNUMERIC,
    "none": csv.QUOTE_NONE,
}


def require(module: str, kind: str) -> Any:
    """Import an optional dependency, or say which extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise OperationError(
            f"{kind} files need the {package} package, which is not installed: pip install 'pdip[integrator]'"
        ) from None


# -- values: the `types` setting ------------------------------------------------------------------


def _to_int(value: Any) -> int:
    if isinstance(value, str):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(value)
    return float(value)


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, (bool, dt.date)):
        raise ValueError(value)
    return Decimal(value.strip() if isinstance(value, str) else str(value))


def to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    plain = to_plain(value)
    return plain if isinstance(plain, str) else json.dumps(plain)


def _to_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value.strip())


def _to_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    text = value.strip()
    return dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)


VALUE_TYPES: dict[str, Callable[[Any], Any]] = {
    "int": _to_int,
    "integer": _to_int,
    "float": _to_float,
    "decimal": _to_decimal,
    "bool": to_bool,
    "boolean": to_bool,
    "text": to_text,
    "str": to_text,
    "string": to_text,
    "date": _to_date,
    "datetime": _to_datetime,
    "timestamp": _to_datetime,
}
CONVERSION_ERRORS = (ValueError, TypeError, ArithmeticError, AttributeError)


# -- reading ------------------------------------------------------------------------------------


class Malformed(NamedTuple):
    """A line that is not a row: what it held, and what is wrong with it (without file and line)."""

    row: dict[str, Any]
    problem: str


class RowFile(abc.ABC):
    """One file read as rows: `columns` once opened, then `(line, values | Malformed)` per row."""

    columns: list[str]

    def __enter__(self) -> RowFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def closed_on_error(self) -> Iterator[None]:
        """For reading the header in `__init__`: a file that fails there is closed, not leaked."""
        try:
            yield
        except BaseException:
            self.close()
            raise

    @abc.abstractmethod
    def __iter__(self) -> Iterator[tuple[int, tuple | Malformed]]: ...

    @abc.abstractmethod
    def close(self) -> None: ...


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
        self._stream = open(path, encoding=settings.encoding, newline="")  # noqa: SIM115 - closed by close()
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
        reader = csv.reader(self._stream, **self.dialect)
        while True:
            line = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as error:
                raise undecodable(self.path, self.name, self.encoding, error) from None
            except csv.Error as error:
                yield line, Malformed({}, f"not CSV: {error}")
                continue
            if fields:  # a blank line is not a row
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
        self._stream.close()


class JsonLinesFile(RowFile):
    """One JSON object per line; a missing key is a null. The columns are `fields` when given
    (the user's choice, or what an earlier file of a folder had), else the first object's keys.
    Unless the user `chose` them, an object with a key outside the columns is malformed: its value
    is never dropped silently."""

    def __init__(self, path: Path, name: str, settings: Any, fields: list[str] | None, chosen: bool):
        self.path, self.name, self.encoding = path, name, settings.encoding
        self._stream = open(path, encoding=settings.encoding)  # noqa: SIM115 - closed by close()
        self._objects = self._read()
        self._chosen = chosen
        self._pending: list[tuple[int, dict | Malformed]] = []
        self.columns = list(fields or [])
        if fields is None:
            with self.closed_on_error():
                for line, item in self._objects:
                    self._pending.append((line, item))
                    if isinstance(item, dict):
                        self.columns = list(item)
                        break

    def _read(self) -> Iterator[tuple[int, dict | Malformed]]:
        try:
            for line, text in enumerate(self._stream, 1):
                if text.strip():
                    yield line, _json_object(text)
        except UnicodeDecodeError as error:
            raise undecodable(self.path, self.name, self.encoding, error) from None

    def __iter__(self) -> Iterator[tuple[int, tuple | Malformed]]:
        columns, known = self.columns, set(self.columns)
        for line, item in self._chain():
            if isinstance(item, Malformed):
                yield line, item
            elif not self._chosen and not known.issuperset(item):
                extra = ", ".join(repr(key) for key in item if key not in known)
                problem = (
                    f"unexpected field {extra}: the columns come from the first object ({', '.join(columns)}); "
                    "list every field under `columns`"
                )
                yield line, Malformed(item, problem)
            else:
                yield line, tuple([item.get(column) for column in columns])

    def _chain(self) -> Iterator[tuple[int, dict | Malformed]]:
        yield from self._pending
        yield from self._objects

    def close(self) -> None:
        self._stream.close()


def _json_object(text: str) -> dict | Malformed:
    try:
        value = json.loads(text)
    except ValueError as error:
        problem = f"not valid JSON: {getattr(error, 'msg', error)} at column {getattr(error, 'colno', '?')}"
        return Malformed({"line": text.rstrip("\r\n")}, problem)
    if isinstance(value, dict):
        return value
    return Malformed({"line": text.rstrip("\r\n")}, f"expected a JSON object, got {type(value).__name__}")


class ExcelFile(RowFile):
    """The first sheet (or `sheet`) of a workbook, read as values (formulas give their results)."""

    def __init__(self, path: Path, name: str, settings: Any):
        openpyxl = require("openpyxl", "excel")
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


def header_names(header: list[str], name: str, line: int) -> list[str]:
    seen = set()
    for number, column in enumerate(header, 1):
        if column == "":
            raise OperationError(f"{name}:{line}: column {number} of the header has no name; name them with `columns`")
        if column in seen:
            raise OperationError(f"{name}:{line}: column {column!r} appears twice in the header")
        seen.add(column)
    return list(header)


def undecodable(path: Path, name: str, encoding: str, error: UnicodeDecodeError) -> OperationError:
    """The text reader decodes ahead of the lines it hands out, so the failing line is found again
    by decoding the file line by line (one decoder throughout, for multi-byte encodings)."""
    decoder, line = codecs.getincrementaldecoder(encoding)(), 0
    with open(path, "rb") as stream:
        try:
            for line, raw in enumerate(stream, 1):  # noqa: B007 - the line is what the error names
                decoder.decode(raw)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            pass
    return OperationError(
        f"{name}:{line}: not valid {encoding} ({error.reason}); set `encoding` to the file's encoding"
    )


def csv_text(rows: list[list[Any]], dialect: dict[str, Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, **dialect).writerows(rows)
    return buffer.getvalue()


READERS = {"csv": CsvFile, "excel": ExcelFile}
