"""Files as source and target: CSV, JSON Lines, Parquet and Excel.

    source: {kind: csv, path: landing/*.csv, delimiter: ";", types: {id: int, amount: decimal}}
    target: {kind: parquet, path: out/orders.parquet}

A source reads one file, every file of a folder (with the format's suffixes), or every file a
glob matches, in sorted order; relative paths resolve against the application's root. Each batch
says where the source stood (`{"file": "b.csv", "row": 500}`), and its `origins` the file and
line of each row. A line that is not a row (a CSV line with the wrong number of fields, a value
that does not convert exactly to its declared type, a JSON Lines line that is not an object or
lacks a field, a byte the encoding does not have) is left out of the batch and handed to the
integrator as rejected, with the file and line, to be dead-lettered.

A target writes a temporary file next to the real one and moves it into place only when the
whole integration succeeded, so a failed run leaves the previous file untouched. It replaces the
file on every run unless `append: true` (then the new rows follow the old ones, still atomically).
Parquet goes through Arrow both ways; CSV, JSON Lines and Excel are read and written row by row.
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import os
import re
import secrets
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pdip.configuration.settings import Setting, names
from pdip.conversion import ConversionError, convert
from pdip.integrator.adapters.base import Adapter, Capabilities, ReadRequest, Source, Target, WriteResult
from pdip.integrator.adapters.file import csv_raw, remote
from pdip.integrator.adapters.file.formats import (
    CONVERSION_ERRORS,
    FIELD_SIZE_LIMIT,
    QUOTING,
    READERS,
    VALUE_TYPES,
    JsonLinesFile,
    Malformed,
    RowFile,
    require,
)
from pdip.integrator.adapters.file.writers import WRITERS, FileWriter
from pdip.integrator.batch import Batch, RowLines
from pdip.integrator.errors import OperationError, refuse_unknown
from pdip.integrator.integrations import Connection
from pdip.integrator.types import ColumnTypes, named_types

KINDS = {"csv": "csv", "jsonl": "jsonl", "json_lines": "jsonl", "parquet": "parquet", "excel": "excel"}
SUFFIXES = {
    "csv": (".csv", ".tsv", ".txt"),
    "jsonl": (".jsonl", ".ndjson", ".json"),
    "parquet": (".parquet", ".pq"),
    "excel": (".xlsx", ".xlsm"),
}
COMPRESSIONS = ("none", "snappy", "gzip", "brotli", "zstd", "lz4")
_COMMON = (
    Setting("path", str, required=True, help="a file, a folder or a glob; a target writes one file"),
    Setting("append", bool, default=False, help="a target adds to the existing file instead of replacing it"),
    Setting("storage_options", dict[str, Any], secret=True, help="options of the fsspec filesystem of a URL path"),
)
_ENCODING = Setting("encoding", str, default="utf-8", help="the text encoding, read and written")
_HEADER = Setting("header", bool, default=True, help="the first row names the columns; a target writes it")
_COLUMNS = Setting("columns", list[str], help="the columns' names (or, for JSON Lines, the fields to read)")
_TYPES = Setting(
    "types", dict[str, str], allowed=tuple(VALUE_TYPES), help="`column: type`; without it CSV values stay text"
)
_FIELD_SIZE = Setting(
    "field_size_limit", int, default=FIELD_SIZE_LIMIT, help="the longest CSV field read, in characters"
)
SETTINGS: dict[str, tuple[Setting, ...]] = {
    "csv": (
        *_COMMON,
        _ENCODING,
        Setting("delimiter", str, default=",", help="one character"),
        Setting("quotechar", str, default='"', help="one character"),
        Setting("quoting", str, default="minimal", allowed=tuple(QUOTING), help="as in Python's csv module"),
        _HEADER,
        _COLUMNS,
        Setting("null", str, default="", help="the text that means NULL, read and written"),
        _TYPES,
        _FIELD_SIZE,
    ),
    "jsonl": (*_COMMON, _ENCODING, _COLUMNS, _TYPES),
    "parquet": (*_COMMON, Setting("compression", str, default="snappy", allowed=COMPRESSIONS)),
    "excel": (
        *_COMMON,
        Setting("sheet", str, help="the worksheet to read or write (default: the first; Sheet1 when writing)"),
        _HEADER,
        _COLUMNS,
        _TYPES,
    ),
}
_GLOB = re.compile(r"[*?\[]")


@dataclasses.dataclass(frozen=True)
class FileSettings:
    """A file connection's settings; which ones a kind takes is in `SETTINGS`."""

    path: str | Path
    append: bool = False
    encoding: str = "utf-8"
    delimiter: str = ","
    quotechar: str = '"'
    quoting: str = "minimal"
    header: bool = True
    columns: list[str] | None = None
    null: str = ""
    types: dict[str, str] = dataclasses.field(default_factory=dict)
    sheet: str | None = None
    compression: str = "snappy"
    storage_options: dict[str, Any] = dataclasses.field(default_factory=dict)  # fsspec's, for URLs
    field_size_limit: int = FIELD_SIZE_LIMIT  # characters in one CSV field


def file_settings(connection: Connection) -> FileSettings:
    """The connection's settings, checked: every problem is named with its key before data moves."""
    kind, label = _kind(connection), connection_label(connection)
    raw = {str(key).lower(): value for key, value in connection.settings.items()}
    refuse_unknown(raw, names(SETTINGS[kind]), f"{label}: ", f"unknown setting for {kind} files")
    if "null" in raw and raw["null"] is None:  # YAML reads `null: NULL` (and `~`) as no value at all
        raise OperationError(f'{label}: null: got no value; quote the text that means NULL (null: "NULL")')
    if not str(raw.get("path") or "").strip():
        raise OperationError(f"{label}: path: required (a file, a folder or a glob such as data/*.{kind})")
    try:
        settings = convert(raw, FileSettings, lenient=True)
    except ConversionError as error:
        problems = [f"{label}: {problem.describe()}" for problem in error.problems]
        raise OperationError("; ".join(problems), problems) from None
    problems = [f"{label}: {problem}" for problem in _problems(settings, kind)]
    if problems:
        raise OperationError("; ".join(problems), problems)
    return settings


def _problems(settings: FileSettings, kind: str) -> list[str]:
    problems = []
    for key in ("delimiter", "quotechar"):
        value = getattr(settings, key)
        if len(value) != 1:
            problems.append(f"{key}: expected one character, got {value!r}")
    if settings.quoting.lower() not in QUOTING:
        problems.append(f"quoting: expected one of {', '.join(QUOTING)}, got {settings.quoting!r}")
    try:
        codecs.lookup(settings.encoding)
    except LookupError:
        problems.append(f"encoding: {settings.encoding!r} is not an encoding Python knows")
    for column, name in settings.types.items():
        if name.lower() not in VALUE_TYPES:
            problems.append(f"types.{column}: expected int, float, decimal, bool, text, date or datetime, got {name!r}")
    if settings.columns is not None and len(set(settings.columns)) != len(settings.columns):
        problems.append(f"columns: names must be unique, got {', '.join(settings.columns)}")
    if settings.field_size_limit < 1:
        problems.append(f"field_size_limit: expected a positive number of characters, got {settings.field_size_limit}")
    if settings.compression.lower() not in COMPRESSIONS:
        problems.append(f"compression: expected one of {', '.join(COMPRESSIONS)}, got {settings.compression!r}")
    return problems


def _kind(connection: Connection) -> str:
    return KINDS[connection.kind.lower()]


def connection_label(connection: Connection) -> str:
    return f"{connection.kind} connection {connection.name!r}" if connection.name else f"{connection.kind} connection"


# -- paths --------------------------------------------------------------------------------------


def local_path(path: str | Path, label: str) -> Path:
    text = str(path)
    scheme, separator, rest = text.partition("://")
    if separator:
        if scheme.lower() != "file":
            raise OperationError(f"{label}: path: {scheme}:// URLs are read by the csv, jsonl, parquet and excel kinds")
        text = rest
    return Path(text).expanduser()


def absolute_path(path: Path, context: Any) -> Path:
    """Relative paths are the application's: they resolve against its root, else the working folder."""
    return path if path.is_absolute() else Path(getattr(context, "root", None) or Path.cwd()) / path


def source_files(settings: FileSettings, kind: str, context: Any, label: str) -> list[tuple[Path, str]]:
    """(path, name) of each file to read, sorted; the name is what positions and reasons show."""
    given = local_path(settings.path, label)
    parts = given.parts
    first = next((index for index, part in enumerate(parts) if _GLOB.search(part)), None)
    if first is not None:
        folder = absolute_path(Path(*parts[:first]), context)
        if not folder.is_dir():
            raise OperationError(f"{label}: path: folder {folder} does not exist")
        files = sorted(path for path in folder.glob(str(Path(*parts[first:]))) if _readable(path))
        return [(path, path.relative_to(folder).as_posix()) for path in files]
    path = absolute_path(given, context)
    if path.is_dir():
        files = sorted(item for item in path.iterdir() if _readable(item) and item.suffix.lower() in SUFFIXES[kind])
        return [(item, item.name) for item in files]
    if not path.is_file():
        raise OperationError(f"{label}: path: {path} does not exist")
    return [(path, path.name)]


def _resumed(files: list[tuple[Path, str]], resume: Any) -> tuple[list[tuple[Path, str]], int]:
    """The files still to read after `resume` (a position: `{"file": name, "row": records}`), and
    how many records of the first of them were read already. Files are read in sorted order, so a
    file gone since is passed over and the ones after it are read."""
    if not isinstance(resume, dict) or "file" not in resume:
        return files, 0
    names = [name for _, name in files]
    if resume["file"] in names:
        return files[names.index(resume["file"]) :], int(resume.get("row", 0))
    return [item for item in files if item[1] > resume["file"]], 0


def _readable(path: Path) -> bool:
    """Files only, and never hidden ones (a target's temporary file starts with a dot)."""
    return path.is_file() and not path.name.startswith(".")


# -- reading ------------------------------------------------------------------------------------


class FileSource(Source):
    def __init__(self, connection: Connection, context: Any):
        super().__init__(connection, context)
        self.kind, self.label = _kind(connection), connection_label(connection)
        self.settings = file_settings(connection)
        if self.kind in ("csv", "excel") and not self.settings.header and not self.settings.columns:
            raise OperationError(f"{self.label}: columns: required when header is false (the fields' names, in order)")
        self._staging = None
        if remote.is_remote(self.settings.path):
            self._staging = remote.Staging(str(self.settings.path), self.settings.storage_options, self.label)

    def _files(self) -> list[tuple[Any, str]]:
        """(where, name) of each file to read: local paths, or remote paths to stage."""
        if self._staging is None:
            return source_files(self.settings, self.kind, self.context, self.label)
        url, options = str(self.settings.path), self.settings.storage_options
        found = remote.remote_files(url, options, SUFFIXES[self.kind], self.label)
        return [(item, remote.name_of(item, url, options, self.label)) for item in found]

    def close(self) -> None:
        if self._staging is not None:
            self._staging.close()

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        if request.cursor and self.kind == "csv" and request.cursor not in self.settings.types:
            raise OperationError(
                f"{self.label}: types.{request.cursor}: CSV values are text, so the cursor would compare as "
                f"text ('10' < '9'); declare its type (types: {{{request.cursor}: int}}), or `text` to compare text"
            )
        files = self._files()
        if request.bounds is not None:  # one partition of a folder: its own files
            files = [item for item in files if item[1] in request.bounds]
        files, skip = _resumed(files, request.resume)
        if self._staging is not None:  # remote files, each downloaded just before it is read
            files = self._staging.downloaded(files)
        if self.kind == "csv" and csv_raw.passes_through(self.settings, request):
            batches = csv_raw.raw_batches(files, self.settings, self.label, request.batch_size, skip)
        elif self.kind == "parquet":
            batches = self._arrow_batches(files, request, skip)
        else:
            batches = self._row_batches(files, request, skip)
        for batch in batches:
            batch.types = batch.to_arrow().schema if self.kind == "parquet" else self._declared(batch.columns)
            yield batch

    def schema(self, request: ReadRequest) -> Any:
        """The columns of the first file and their types: a Parquet file's Arrow schema, the
        `types:` setting (a CSV column without one is text). None for remote files, which are not
        downloaded for their types alone, and when there is no file."""
        files = [] if self._staging is not None else self._files()
        if not files:
            return None
        path, name = files[0]
        wanted = list(request.columns) if request.columns else None
        if self.kind == "parquet":
            parquet = require("pyarrow.parquet", "parquet")
            import pyarrow

            with parquet.ParquetFile(path) as reader:
                schema = reader.schema_arrow
            # a wanted column the file lacks is left out: reading it fails with the file's name
            return pyarrow.schema([schema.field(column) for column in wanted or schema.names if column in schema.names])
        with self._open(path, name, wanted, wanted is not None) as reader:
            columns = wanted or reader.columns
        return self._declared(columns) if columns else None

    def _declared(self, columns: list[str]) -> ColumnTypes:
        """The `types:` setting for `columns`: a CSV value is text unless declared otherwise; a
        JSON Lines or Excel value has its own type, which its values show."""
        return named_types(columns, self.settings.types, "text" if self.kind == "csv" else None)

    def partitions(self, request: ReadRequest, count: int) -> list[ReadRequest]:
        """A folder or glob read as up to `count` partitions of whole files, in runs of neighbours
        (`bounds` names each partition's files); one file is one partition."""
        names = [name for _, name in self._files()]
        count = min(count, len(names))
        if count <= 1:
            return [request]
        size, extra = divmod(len(names), count)
        groups, start = [], 0
        for index in range(count):
            stop = start + size + (1 if index < extra else 0)
            groups.append(tuple(names[start:stop]))
            start = stop
        return [
            dataclasses.replace(request, partition=f"{index + 1}/{count}", bounds=group)
            for index, group in enumerate(groups)
        ]

    def _row_batches(self, files: list[tuple[Path, str]], request: ReadRequest, skip: int) -> Iterator[Batch]:
        wanted = list(request.columns) if request.columns else None
        explicit, first = wanted is not None, None
        rows: list[tuple] = []
        rejected: list[tuple[dict[str, Any], str]] = []
        origins = RowLines()
        position = None
        for path, name in files:
            count, done, skip = 0, skip, 0  # a resumed file: its first `done` records were read before
            origins.files.append((len(rows), name))
            numbers = origins.numbers  # each row's line
            with self._open(path, name, wanted, explicit) as reader:
                plan = None
                if reader.columns:
                    if wanted is None:
                        wanted, first = list(reader.columns), name
                    plan = _RowPlan(reader.columns, wanted, self.settings.types, request, name)
                    plan.check(explicit, first, self.label)
                for line, values in reader:
                    count += 1
                    if count <= done:
                        continue
                    if isinstance(values, Malformed):
                        rejected.append((values.row, f"{name}:{line}: {values.problem}"))
                    else:
                        row, problem = plan.apply(values)
                        if problem is not None:
                            rejected.append(
                                (dict(zip(reader.columns, values, strict=True)), f"{name}:{line}: {problem}")
                            )
                        elif row is not None:
                            rows.append(row)
                            numbers.append(line)
                    if len(rows) + len(rejected) >= request.batch_size:
                        position = {"file": name, "row": count}
                        yield Batch(wanted or [], rows, position=position, rejected=rejected, origins=origins)
                        rows, rejected, origins = [], [], RowLines([], [(0, name)])
                        numbers = origins.numbers
            position = {"file": name, "row": count}
        if rows or rejected:
            yield Batch(wanted or [], rows, position=position, rejected=rejected, origins=origins)

    def _open(self, path: Path, name: str, wanted: list[str] | None, explicit: bool) -> RowFile:
        if self.kind == "jsonl":
            chosen = bool(self.settings.columns) or explicit
            return JsonLinesFile(path, name, self.settings, self.settings.columns or wanted, chosen)
        return READERS[self.kind](path, name, self.settings)

    def _arrow_batches(self, files: list[tuple[Path, str]], request: ReadRequest, skip: int) -> Iterator[Batch]:
        parquet = require("pyarrow.parquet", "parquet")
        import pyarrow.compute

        wanted = list(request.columns) if request.columns else None
        explicit, first = wanted is not None, None
        for path, name in files:
            with parquet.ParquetFile(path) as reader:
                columns = reader.schema_arrow.names
                if wanted is None:
                    wanted, first = list(columns), name
                _RowPlan(columns, wanted, {}, request, name).check(explicit, first, self.label)
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

    def describe(self) -> str:
        return f"{self.connection.kind}:{self.settings.path}"


class _RowPlan:
    """What happens to each row of one file: projection to the wanted columns, the declared
    types, and for an incremental read the comparison with the high-watermark."""

    def __init__(self, columns: list[str], wanted: list[str], types: dict[str, str], request: ReadRequest, name: str):
        self.columns, self.wanted, self.name, self.request = list(columns), wanted, name, request
        self.types = types
        known = set(self.columns)
        self.indexes = None if self.columns == wanted else [self.columns.index(c) for c in wanted if c in known]
        self.conversions = [
            (wanted.index(column), column, VALUE_TYPES[type_name.lower()], type_name)
            for column, type_name in types.items()
            if column in wanted
        ]
        incremental = request.cursor is not None and request.after is not None
        self.cursor = wanted.index(request.cursor) if incremental and request.cursor in wanted else None

    def check(self, explicit: bool, first: str | None, label: str) -> None:
        missing = [column for column in self.wanted if column not in self.columns]
        if missing:
            raise OperationError(
                f"{label}: {self.name} has no column {', '.join(map(repr, missing))} (it has {', '.join(self.columns)})"
            )
        extra = [column for column in self.columns if column not in self.wanted]
        if extra and not explicit:
            raise OperationError(
                f"{label}: {self.name} has columns {first} lacks: {', '.join(extra)}; every file of a folder or "
                "glob needs the same columns (or choose some with the integration's `columns`)"
            )
        unknown = [column for column in self.types if column not in self.columns]
        if unknown:
            raise OperationError(
                f"{label}: types.{unknown[0]}: {self.name} has no such column (it has {', '.join(self.columns)})"
            )
        if self.request.cursor is not None and self.request.cursor not in self.wanted:
            raise OperationError(f"{label}: cursor {self.request.cursor!r}: {self.name} has no such column")

    def apply(self, values: tuple) -> tuple[tuple | None, str | None]:
        """(the row, None), (None, why it was refused), or (None, None) when it is not new."""
        if self.indexes is not None:
            values = tuple([values[index] for index in self.indexes])
        if self.conversions:
            values = list(values)
            for index, column, to_type, type_name in self.conversions:
                value = values[index]
                if value is not None:
                    try:
                        values[index] = to_type(value)
                    except CONVERSION_ERRORS:
                        return None, f"column {column!r}: expected {type_name}, got {value!r}"
            values = tuple(values)
        if self.cursor is not None:
            value = values[self.cursor]
            try:
                newer = value is not None and value > self.request.after
            except TypeError:
                return None, f"cursor {self.request.cursor!r}: {value!r} cannot be compared with {self.request.after!r}"
            if not newer:
                return None, None
        return values, None


# -- writing ------------------------------------------------------------------------------------


class FileTarget(Target):
    """Writes a temporary file beside the real one; `finish` moves it into place, `close` without
    `finish` (a failed run) deletes it."""

    commits_per_batch = False

    def __init__(self, connection: Connection, context: Any):
        super().__init__(connection, context)
        self.kind, self.label = _kind(connection), connection_label(connection)
        self.settings = file_settings(connection)
        self._staging = None
        if _GLOB.search(str(self.settings.path)):
            raise OperationError(f"{self.label}: path: a target writes one file, not a pattern ({self.settings.path})")
        if remote.is_remote(self.settings.path):  # written here, uploaded by finish()
            self._staging = remote.Staging(str(self.settings.path), self.settings.storage_options, self.label)
            self.path = self._staging.local_target()
        else:
            self.path = absolute_path(local_path(self.settings.path, self.label), context)
        if self.path.is_dir():
            raise OperationError(f"{self.label}: path: {self.path} is a folder; a target writes one file")
        self.columns: list[str] = []
        self._temporary: Path | None = None
        self._writer: FileWriter | None = None

    def prepare(self, columns: Sequence[str], create: bool, truncate: bool, types: Any = None) -> None:
        """Open the temporary file. Files are always created; `truncate` wins over `append`.
        `types`: the source's declared types, for the file of an empty source."""
        self.columns = list(columns)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._staging is not None and self.settings.append and not truncate:
            self._staging.fetch_existing(self.path)
        existing = self.path if self.settings.append and not truncate and self.path.is_file() else None
        self._temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}.pdip-tmp")
        self._temporary.touch(exist_ok=False)
        self._writer = WRITERS[self.kind](self._temporary, self.columns, self.settings, existing)
        self._writer.types = types

    def write(self, batch: Batch) -> WriteResult:
        if batch.columns != self.columns and len(batch):
            raise OperationError(
                f"{self.label}: a batch has columns {', '.join(batch.columns)}, the file {', '.join(self.columns)}"
            )
        return self._writer.write(batch)

    def commit(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def finish(self) -> None:
        """Complete the temporary file, make it durable and put it in the real file's place."""
        self._writer.close()
        self._writer = None
        with open(self._temporary, "r+b") as stream:
            os.fsync(stream.fileno())
        if self.path.exists():
            shutil.copymode(self.path, self._temporary)
        os.replace(self._temporary, self.path)
        self._temporary = None
        if self._staging is not None:
            self._staging.publish(self.path)

    def describe(self) -> str:
        return f"{self.connection.kind}:{self.settings.path}"

    def close(self) -> None:
        try:
            if self._writer is not None:
                with contextlib.suppress(Exception):  # the file is deleted next; its state does not matter
                    self._writer.abort()
                self._writer = None
        finally:
            if self._temporary is not None:
                self._temporary.unlink(missing_ok=True)
                self._temporary = None
            if self._staging is not None:
                self._staging.close()


ADAPTERS = (
    Adapter(("csv",), FileSource, FileTarget, Capabilities(partitioned_read=True), settings=SETTINGS["csv"]),
    Adapter(
        ("jsonl", "json_lines"), FileSource, FileTarget, Capabilities(partitioned_read=True), settings=SETTINGS["jsonl"]
    ),
    Adapter(("excel",), FileSource, FileTarget, Capabilities(partitioned_read=True), settings=SETTINGS["excel"]),
    Adapter(
        ("parquet",),
        FileSource,
        FileTarget,
        Capabilities(bulk_load=True, partitioned_read=True),
        settings=SETTINGS["parquet"],
    ),
)
