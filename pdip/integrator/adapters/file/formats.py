"""The formats behind the file adapter, reading: values of the `types` setting, and one reader
per format.

A reader turns one file into `(line, values)` pairs, or `(line, Malformed(...))` for a line that
is not a row (a CSV line with the wrong number of fields or a field over `field_size_limit`, a
JSON Lines line that is not an object or lacks a field, a line holding a byte the encoding does
not have), so the adapter can dead-letter it with its file and line and go on. A value of a
declared type converts exactly or not at all: never rounded, never made NULL.
"""

from __future__ import annotations

import abc
import codecs
import contextlib
import csv
import datetime as dt
import importlib
import io
import itertools
import json
import math
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from pdip.conversion import to_bool, to_plain
from pdip.conversion.coercion import exact_float, exact_int
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
    if isinstance(value, float):
        return exact_int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(value)


def _to_float(value: Any) -> float:
    """A float, never a rounded integer or an overflow turned infinite ("1e999"); text that
    spells infinity (`inf`, `-Infinity`) is infinite."""
    if type(value) is str:  # the usual value, first
        result = float(value)
        if (result == _INFINITY or result == -_INFINITY) and "inf" not in value.lower():
            raise ValueError(f"{value!r} is beyond the range of a float")
        return result
    if isinstance(value, bool):
        raise ValueError(value)
    return exact_float(value) if isinstance(value, int) else float(value)


_INFINITY = math.inf


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


# -- text: bytes that do not decode, and long CSV fields --------------------------------------------

FIELD_SIZE_LIMIT = 128 * 1024 * 1024  # characters; Python's csv module stops at 128 Ki by default
_CSV_LIMIT = threading.Lock()
_ESCAPED = re.compile("[\udc80-\udcff]")  # what `surrogateescape` makes of a byte that does not decode


class Undecodable(NamedTuple):
    """A byte of a line that its encoding does not have."""

    line: int
    column: int  # in characters, from 1
    byte: int

    def problem(self, encoding: str) -> str:
        return f"invalid {encoding} byte 0x{self.byte:02x} at column {self.column}"


class TextLines:
    """The lines of a text file. They are decoded strictly, the fast way, until a byte does not
    decode; then the file is opened again with such bytes escaped (`surrogateescape`) and read on
    from the first line not yet handed out, and each line holding one is noted in `undecodable`,
    for the reader to refuse what it made of that line and go on with the next. The reader says
    how many lines it has taken (`handed_out`: a csv reader's `line_num`), so that the usual
    file, all valid, is read without a step of Python per line here."""

    def __init__(self, path: Path, encoding: str, newline: str | None = None):
        self.path, self.encoding, self.newline = path, encoding, newline
        self.undecodable: list[Undecodable] = []
        self.handed_out: Callable[[], int] = lambda: 0
        self._stream = open(path, encoding=encoding, newline=newline)  # noqa: SIM115 - closed by close()

    def __iter__(self) -> Iterator[str]:
        try:
            yield from self._stream
            return
        except UnicodeDecodeError:
            self._stream.close()
        count = self.handed_out()
        self._stream = open(self.path, encoding=self.encoding, errors="surrogateescape", newline=self.newline)  # noqa: SIM115
        yield from escaped_lines(itertools.islice(self._stream, count, None), count + 1, self.undecodable)

    def close(self) -> None:
        self._stream.close()


def escaped_lines(lines: Iterable[str], first: int, found: list[Undecodable]) -> Iterator[str]:
    """`lines` (decoded with `surrogateescape`, numbered from `first`) as they are, noting in
    `found` the first escaped byte of each line that has one."""
    for number, text in enumerate(lines, first):
        if not text.isascii():  # a flag of the string: free for the usual line
            match = _ESCAPED.search(text)
            if match is not None:
                found.append(Undecodable(number, match.start() + 1, ord(match.group()) - 0xDC00))
        yield text


def shown(text: str) -> str:
    """Text with its escaped bytes written `\\xff`, as a dead letter can hold it."""
    return _ESCAPED.sub(lambda match: f"\\x{ord(match.group()) - 0xDC00:02x}", text)


def allow_fields_of(limit: int) -> bool:
    """Let the csv module read fields of up to `limit` characters. Its limit is one for the whole
    process, so it is only ever raised (under a lock, as readers may run in threads) and never
    lowered under another reader; True when it is now above `limit`: the caller then checks the
    length of its fields itself (`too_long`)."""
    with _CSV_LIMIT:
        if csv.field_size_limit() < limit:
            csv.field_size_limit(limit)
        return csv.field_size_limit() > limit


def too_long(fields: list[str], limit: int) -> bool:
    return any(len(field) > limit for field in fields)


def csv_problem(error: Exception, limit: int) -> str:
    """What a CSV reader's error means, in the settings' words."""
    if str(error).startswith("field larger than field limit"):
        return longer_than(limit)
    return f"not CSV: {error}"


def longer_than(limit: int) -> str:
    return f"a field is longer than field_size_limit ({limit} characters)"


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
            if found:  # a byte of the record's lines did not decode
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


class JsonLinesFile(RowFile):
    """One JSON object per line. The columns are `fields` when given (the user's choice, or what
    an earlier file of a folder had), else the first object's keys. An object lacking one of them
    is malformed (a NULL is written as `null`, never guessed from a missing key), and so is,
    unless the user `chose` the columns, an object with a key outside them: its value is never
    dropped silently."""

    def __init__(self, path: Path, name: str, settings: Any, fields: list[str] | None, chosen: bool):
        self.path, self.name, self.encoding = path, name, settings.encoding
        self._lines = TextLines(path, settings.encoding)
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
        found, line = self._lines.undecodable, 0
        self._lines.handed_out = lambda: line
        try:
            for line, text in enumerate(self._lines, 1):
                if found:
                    yield line, Malformed({"line": shown(text.rstrip("\r\n"))}, found.pop().problem(self.encoding))
                elif text.strip():
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
                try:
                    values = tuple([item[column] for column in columns])
                except KeyError:
                    yield line, Malformed(item, _missing([column for column in columns if column not in item]))
                    continue
                yield line, values

    def _chain(self) -> Iterator[tuple[int, dict | Malformed]]:
        yield from self._pending
        yield from self._objects

    def close(self) -> None:
        self._lines.close()


def _missing(fields: list[str]) -> str:
    names = ", ".join(repr(field) for field in fields)
    return f'missing field{"s" if len(fields) > 1 else ""} {names} (a NULL is written "{fields[0]}": null)'


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
