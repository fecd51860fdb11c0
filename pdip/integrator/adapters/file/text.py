"""Text files (CSV, JSON Lines): their encoding, lines holding bytes it does not have, long
fields, and the writer both formats share.

A byte the encoding does not have refuses its line (`Undecodable`, then `Malformed` at the
reader), with the file, line and column, and the lines after it are read; a byte that cannot be
written refuses its row. Nothing is replaced or dropped silently.
"""

from __future__ import annotations

import abc
import codecs
import csv
import itertools
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from pdip.configuration.settings import Setting
from pdip.integrator.adapters.base import WriteResult
from pdip.integrator.adapters.file.format import FileWriter
from pdip.integrator.batch import Batch
from pdip.integrator.errors import OperationError

ENCODING = Setting("encoding", str, default="utf-8", help="the text encoding, read and written")


def reading(encoding: str) -> str:
    """The codec a file of `encoding` is read with: UTF-8 skips a byte order mark at the start of
    the file (Excel writes one), which would otherwise be read as text of the first column's name
    or first value; a mark anywhere else is text, as UTF-8 says."""
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def encoding_problems(encoding: str) -> list[str]:
    try:
        codecs.lookup(encoding)
    except LookupError:
        return [f"encoding: {encoding!r} is not an encoding Python knows"]
    return []


# -- reading: bytes that do not decode, and long CSV fields -----------------------------------------

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


UNCLOSED = "not CSV: a quoted field opened in this record is not closed before the end of the file"


class Ending:
    """Lines handed to a csv reader, `ended` once they have run out. Python's csv module (unless
    `strict`, which also refuses text after a closing quote, as PostgreSQL's `COPY` does not)
    returns a record whose quoted field the file ends in as if the quote were closed there: that
    field would hold every line after it. A reader only asks for another line while a quoted
    field is open, so a record returned after `ended` became true is such a record (`UNCLOSED`)."""

    def __init__(self, lines: Iterable[str]):
        self.lines, self.ended = lines, False

    def __iter__(self) -> Iterator[str]:
        yield from self.lines
        self.ended = True


class TextLines(Ending):
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
        self._stream = open(path, encoding=reading(encoding), newline=newline)  # noqa: SIM115 - closed by close()
        super().__init__(self._decoded())

    def _decoded(self) -> Iterator[str]:
        try:
            yield from self._stream
            return
        except UnicodeDecodeError:
            self._stream.close()
        count = self.handed_out()
        self._stream = open(self.path, encoding=reading(self.encoding), errors="surrogateescape", newline=self.newline)  # noqa: SIM115
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


# -- writing ------------------------------------------------------------------------------------


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
