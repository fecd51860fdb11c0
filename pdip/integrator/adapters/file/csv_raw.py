"""CSV passed through as bytes, for a target that parses CSV itself (PostgreSQL's `COPY ... CSV`).

When nothing needs the values on the way (no `types`, no chosen columns, no cursor, no policy),
a CSV source asked for the `csv` format hands over its lines as they are: a batch is whole
records of one file, without the header, and its length is their count. Records are found
without parsing: a line ends a record when the quote characters seen since the record began are
even in number (a doubled quote inside a quoted field counts two), so a quoted field may span
lines. A batch with no quote character and no blank line at all is counted in one pass of C
code; other batches line by line. Blank lines are left out, as the parsing reader does.

Only files whose `encoding` is UTF-8 pass through (the target checks the bytes: PostgreSQL
refuses what is not UTF-8; an `ascii` file is read by the parsing reader, which refuses each
line holding a byte over 127), read with `quoting: minimal` or `all` (the others change what
quotes mean). What the target cannot load (a record with the wrong number of fields, a byte that
is not UTF-8) makes it decode the batch with `decode_csv`, which parses it as the parsing reader
would and adds each malformed record, with its file and line, to `batch.rejected`.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.file.reading import header_names
from pdip.integrator.adapters.file.text import (
    FIELD_SIZE_LIMIT,
    UNCLOSED,
    Ending,
    Undecodable,
    allow_fields_of,
    csv_problem,
    escaped_lines,
    longer_than,
    shown,
    too_long,
)
from pdip.integrator.batch import Batch, RowLines
from pdip.integrator.errors import OperationError

RAW_FORMAT = "csv"
NAMES_ROWS = False  # a batch carries its records
_UTF8 = {"utf-8"}
_BLANK = (b"\n", b"\r\n", b"\r")


def passes_through(settings: Any, request: ReadRequest) -> bool:
    """Whether this CSV read can hand its bytes over as they are."""
    return (
        RAW_FORMAT in request.accept
        and not settings.types
        and not request.columns
        and request.cursor is None
        and settings.quoting.lower() in ("minimal", "all")
        and codecs.lookup(settings.encoding).name in _UTF8
    )


def raw_batches(
    files: list[tuple[Path, str]], settings: Any, label: str, batch_size: int, skip: int = 0
) -> Iterator[Batch]:
    """Batches of whole CSV records, at most `batch_size` each, never two files in one; the first
    `skip` records of the first file were read before (a resumed read)."""
    first: tuple[str, list[str]] | None = None
    for path, name in files:
        with open(path, "rb") as stream:
            if stream.peek(len(codecs.BOM_UTF8)).startswith(codecs.BOM_UTF8):  # not text (`text.reading`)
                stream.read(len(codecs.BOM_UTF8))
            records = _Records(stream, settings.quotechar.encode("ascii"))
            columns = _columns(records, settings, name)
            first = first or (name, columns)
            _same_columns(first, name, columns, label)
            layout = {
                "file": name,
                "delimiter": settings.delimiter,
                "quotechar": settings.quotechar,
                "null": settings.null,
                "field_size_limit": settings.field_size_limit,
            }
            count = records.take(skip)[1] if skip else 0
            skip = 0
            while True:
                line = records.line + 1
                data, read, starts = records.take(batch_size)
                if not read:
                    break
                count += read
                position = {"file": name, "row": count}
                lines = {"line": line, "lines": starts}
                yield Batch.raw(columns, RAW_FORMAT, data, read, position, layout={**layout, **lines})


class _Records:
    """The records of an open CSV file (binary), with the number of the last line read."""

    def __init__(self, stream: Any, quote: bytes):
        self.stream, self.quote, self.line = stream, quote, 0
        self._left: list[bytes] = []  # lines read ahead and not yet taken

    def take(self, count: int) -> tuple[bytes, int, list[int] | None]:
        """Up to `count` records as bytes, how many there are, and the line each starts on when
        that is not simply the next line (blank lines or records of several lines)."""
        lines = self._left + list(itertools.islice(self.stream, count - len(self._left)))
        self._left = []
        if not lines:
            return b"", 0, None
        data = b"".join(lines)
        if self.quote not in data and not any(blank in lines for blank in _BLANK):
            self.line += len(lines)
            return _ended(data), len(lines), None
        pending = iter(lines)
        rest = itertools.chain(pending, iter(self.stream.readline, b""))
        records, starts = [], []
        for line in rest:
            start = self.line + 1
            record = self._complete(line, rest)
            if record is not None:
                records.append(record)
                starts.append(start)
                if len(records) == count:
                    break
        self._left = list(pending)
        return _ended(b"".join(records)), len(records), starts

    def first(self) -> bytes | None:
        """The next record (the header), or None at the end of the file."""
        for line in self.stream:
            record = self._complete(line, self.stream)
            if record is not None:
                return record
        return None

    def _complete(self, line: bytes, rest: Iterator[bytes]) -> bytes | None:
        """`line` and, while a quoted field is open, the lines after it; None for a blank line."""
        self.line += 1
        if line in _BLANK:
            return None
        parts, open_quote = [line], line.count(self.quote) % 2 == 1
        while open_quote:
            more = next(rest, None)
            if more is None:
                break
            self.line += 1
            parts.append(more)
            open_quote ^= more.count(self.quote) % 2 == 1
        return b"".join(parts)


def _ended(data: bytes) -> bytes:
    return data if data.endswith(b"\n") else data + b"\n"


def _columns(records: _Records, settings: Any, name: str) -> list[str]:
    columns = list(settings.columns or [])
    if not settings.header:
        return columns
    record = records.first()
    if record is None:
        return columns
    allow_fields_of(settings.field_size_limit)
    try:
        header = next(csv.reader([record.decode(settings.encoding)], **_dialect(settings)))
    except (csv.Error, UnicodeDecodeError) as error:
        raise OperationError(f"{name}:{records.line}: the header is not CSV: {error}") from None
    if not columns:
        return header_names(header, name, records.line)
    if len(header) != len(columns):
        raise OperationError(
            f"{name}:{records.line}: the header has {len(header)} fields but `columns` names {len(columns)}"
        )
    return columns


def _same_columns(first: tuple[str, list[str]], name: str, columns: list[str], label: str) -> None:
    """Every file needs the first file's columns (in any order: each batch names its own)."""
    missing = [column for column in first[1] if column not in columns]
    if missing:
        raise OperationError(
            f"{label}: {name} has no column {', '.join(map(repr, missing))} (it has {', '.join(columns)})"
        )
    extra = [column for column in columns if column not in first[1]]
    if extra:
        raise OperationError(
            f"{label}: {name} has columns {first[0]} lacks: {', '.join(extra)}; every file of a folder or "
            "glob needs the same columns (or choose some with the integration's `columns`)"
        )


def _dialect(settings: Any) -> dict[str, Any]:
    return {"delimiter": settings.delimiter, "quotechar": settings.quotechar}


def decode_csv(batch: Batch) -> list[tuple]:
    """The batch's records parsed as the parsing reader would, each row's line in `origins`; what
    is malformed (a wrong number of fields, a field over the limit, a byte that is not UTF-8) goes
    to `rejected` with its file and line."""
    layout = batch.layout
    dialect = {"delimiter": layout["delimiter"], "quotechar": layout["quotechar"]}
    limit = layout.get("field_size_limit", FIELD_SIZE_LIMIT)
    measures = allow_fields_of(limit)
    found: list[Undecodable] = []
    try:
        lines: Any = io.StringIO(batch.payload.decode("utf-8"), newline="")
    except UnicodeDecodeError:  # what the target refused the batch for: find the records holding such bytes
        lines = escaped_lines(io.StringIO(batch.payload.decode("utf-8", "surrogateescape"), newline=""), 1, found)
    lines = Ending(lines)
    reader = csv.reader(lines, **dialect)
    width, null, rows, starts, file = len(batch.columns), layout["null"], [], layout.get("lines"), layout["file"]
    origins = RowLines([], [(0, file)])
    index = 0
    while True:
        before = reader.line_num  # the lines of the records before this one
        line = starts[index] if starts and index < len(starts) else layout["line"] + before
        index += 1
        try:
            fields = next(reader)
        except StopIteration:
            batch.origins = origins
            return rows
        except csv.Error as error:
            found.clear()
            batch.refuse({}, f"{file}:{line}: {csv_problem(error, limit)}", {"file": file, "line": line})
            continue
        held = dict(zip(batch.columns, fields, strict=False))  # the fields there are, by column
        if lines.ended:  # the batch, the file's last, ended inside a quoted field (`Ending`)
            found.clear()
            batch.refuse(held, f"{file}:{line}: {UNCLOSED}", {"file": file, "line": line})
        elif found:
            bad = found[0]
            found.clear()
            held = {column: shown(value) for column, value in held.items()}
            at = line + bad.line - before - 1
            batch.refuse(held, f"{file}:{at}: {bad.problem('utf-8')}", {"file": file, "line": at})
        elif len(fields) != width:
            batch.refuse(
                held, f"{file}:{line}: expected {width} fields, got {len(fields)}", {"file": file, "line": line}
            )
        elif measures and too_long(fields, limit):
            batch.refuse({}, f"{file}:{line}: {longer_than(limit)}", {"file": file, "line": line})
        else:
            rows.append(tuple([None if field == null else field for field in fields]))
            origins.numbers.append(line)
