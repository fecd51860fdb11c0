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

Each format is one module declaring a `FileFormat` (`format.py`): its kinds, suffixes, settings,
reader, writer and capabilities. The adapters here are made from the list `FORMATS`, so a new
format is one module and one line in that list (and its kinds in `registry.py`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import secrets
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pdip.configuration.settings import names
from pdip.conversion import ConversionError, convert
from pdip.integrator.adapters.base import Adapter, ReadRequest, Source, Target, WriteResult
from pdip.integrator.adapters.file import csv, excel, jsonl, parquet, remote
from pdip.integrator.adapters.file.format import FileFormat, FileSettings, FileWriter
from pdip.integrator.batch import Batch
from pdip.integrator.errors import OperationError, refuse_unknown
from pdip.integrator.integrations import Connection

FORMATS: tuple[FileFormat, ...] = (csv.FORMAT, jsonl.FORMAT, parquet.FORMAT, excel.FORMAT)
KINDS = {kind: file_format for file_format in FORMATS for kind in file_format.kinds}
_URL_KINDS = ", ".join(file_format.name for file_format in FORMATS[:-1]) + f" and {FORMATS[-1].name}"
_GLOB = re.compile(r"[*?\[]")
# Files this small are read in the calling process even by the `process` executor: decoding
# 1 MiB of CSV takes a few tens of milliseconds, starting a reader process about a hundred.
LIGHT_BYTES = 1 << 20


def file_settings(connection: Connection) -> FileSettings:
    """The connection's settings, checked: every problem is named with its key before data moves."""
    file_format, label = format_of(connection), connection_label(connection)
    raw = {str(key).lower(): value for key, value in connection.settings.items()}
    refuse_unknown(raw, names(file_format.settings), f"{label}: ", f"unknown setting for {file_format.name} files")
    if "null" in raw and raw["null"] is None:  # YAML reads `null: NULL` (and `~`) as no value at all
        raise OperationError(f'{label}: null: got no value; quote the text that means NULL (null: "NULL")')
    if not str(raw.get("path") or "").strip():
        raise OperationError(f"{label}: path: required (a file, a folder or a glob such as data/*.{file_format.name})")
    try:
        settings = convert(raw, file_format.options, lenient=True)
    except ConversionError as error:
        problems = [f"{label}: {problem.describe()}" for problem in error.problems]
        raise OperationError("; ".join(problems), problems) from None
    problems = [f"{label}: {problem}" for problem in file_format.problems(settings)]
    if problems:
        raise OperationError("; ".join(problems), problems)
    return settings


def format_of(connection: Connection) -> FileFormat:
    return KINDS[connection.kind.lower()]


def connection_label(connection: Connection) -> str:
    return f"{connection.kind} connection {connection.name!r}" if connection.name else f"{connection.kind} connection"


# -- paths --------------------------------------------------------------------------------------


def local_path(path: str | Path, label: str) -> Path:
    text = str(path)
    scheme, separator, rest = text.partition("://")
    if separator:
        if scheme.lower() != "file":
            raise OperationError(f"{label}: path: {scheme}:// URLs are read by the {_URL_KINDS} kinds")
        text = rest
    return Path(text).expanduser()


def absolute_path(path: Path, context: Any) -> Path:
    """Relative paths are the application's: they resolve against its root, else the working folder."""
    return path if path.is_absolute() else Path(getattr(context, "root", None) or Path.cwd()) / path


def source_files(settings: FileSettings, suffixes: Sequence[str], context: Any, label: str) -> list[tuple[Path, str]]:
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
        files = sorted(item for item in path.iterdir() if _readable(item) and item.suffix.lower() in suffixes)
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
    replays_from_stored_position = True  # a crash's lost commits are read again after the target's position

    def __init__(self, connection: Connection, context: Any):
        super().__init__(connection, context)
        self.format, self.label = format_of(connection), connection_label(connection)
        self.settings = file_settings(connection)
        self.reader = self.format.reader(self.settings, self.label)
        self._staging = None
        if remote.is_remote(self.settings.path):
            self._staging = remote.Staging(str(self.settings.path), self.settings.storage_options, self.label)

    def _files(self) -> list[tuple[Any, str]]:
        """(where, name) of each file to read: local paths, or remote paths to stage."""
        if self._staging is None:
            return source_files(self.settings, self.format.suffixes, self.context, self.label)
        url, options = str(self.settings.path), self.settings.storage_options
        found = remote.remote_files(url, options, self.format.suffixes, self.label)
        return [(item, remote.name_of(item, url, options, self.label)) for item in found]

    def close(self) -> None:
        if self._staging is not None:
            self._staging.close()

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        self.reader.check(request)
        files = self._files()
        if request.bounds is not None:  # one partition of a folder: its own files
            files = [item for item in files if item[1] in request.bounds]
        files, skip = _resumed(files, request.resume)
        if self._staging is not None:  # remote files, each downloaded just before it is read
            files = self._staging.downloaded(files)
        raw = self.format.raw
        if raw is not None and raw.passes_through(self.settings, request):
            size = request.rows_per_range if raw.NAMES_ROWS else request.batch_size
            batches = raw.raw_batches(files, self.settings, self.label, size, skip)
        else:
            batches = self.reader.batches(files, request, skip)
        for batch in batches:
            batch.types = self.reader.types(batch)
            yield batch

    def light_to_read(self, request: ReadRequest) -> bool:
        """Local files whose batches only name their rows (Parquet ranges for DuckDB), or that
        hold at most `LIGHT_BYTES` in all: decoding them takes less than starting a reader."""
        if self._staging is not None:
            return False
        raw = self.format.raw
        if raw is not None and raw.NAMES_ROWS and raw.passes_through(self.settings, request):
            return True
        try:
            files = source_files(self.settings, self.format.suffixes, self.context, self.label)
        except OperationError:  # reading reports it, where it would have
            return False
        return sum(path.stat().st_size for path, _ in files) <= LIGHT_BYTES

    def schema(self, request: ReadRequest) -> Any:
        """The columns of the first file and their types: a Parquet file's Arrow schema, the
        `types:` setting (a CSV column without one is text); None when there is no file. A
        remote first file is downloaded for them and kept until it is read."""
        files = self._files()
        if not files:
            return None
        where, name = files[0]
        path = self._staging.download(where) if self._staging is not None else where
        return self.reader.schema(path, name, list(request.columns) if request.columns else None)

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

    def describe(self) -> str:
        return f"{self.connection.kind}:{self.settings.path}"


# -- writing ------------------------------------------------------------------------------------


class FileTarget(Target):
    """Writes a temporary file beside the real one; `finish` moves it into place, `close` without
    `finish` (a failed run) deletes it."""

    commits_per_batch = False
    keeps_earlier_runs_with = "append"

    def __init__(self, connection: Connection, context: Any):
        super().__init__(connection, context)
        self.format, self.label = format_of(connection), connection_label(connection)
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
        """Open the temporary file. Files are always created; `truncate` and `write: replace`
        win over `append`. `types`: the source's declared types, for the file of an empty source."""
        truncate = truncate or self.disposition.write == "replace"
        self.columns = list(columns)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._staging is not None and self.settings.append and not truncate:
            self._staging.fetch_existing(self.path)
        existing = self.path if self.settings.append and not truncate and self.path.is_file() else None
        self._temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}.pdip-tmp")
        self._temporary.touch(exist_ok=False)
        self._writer = self.format.writer(self._temporary, self.columns, self.settings, existing)
        self._writer.types = types

    def accepts(self) -> tuple[str, ...]:
        if self.settings.append:
            return tuple(form for form in self.format.accepts if form not in self.format.new_file_only)
        return self.format.accepts

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


ADAPTERS = tuple(
    Adapter(file_format.kinds, FileSource, FileTarget, file_format.capabilities, settings=file_format.settings)
    for file_format in FORMATS
)
