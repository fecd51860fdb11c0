"""JSON Lines change logs (`mode: changes`): one `ChangeLogEntry` JSON per line.

    source: {kind: jsonl, path: audit/*.jsonl}
    target: {kind: jsonl, path: audit/changes.jsonl}

A source reads a file, a folder or a glob as the row adapter does (`rows.py`), in sorted order,
and its lines as `jsonl.JsonLines` does; its position is the file and the lines read from it
(`{"file": "a.jsonl", "line": 120}`), and a resumed read starts after that line. A line that is
not an entry (not JSON, a schema version this pdip does not read, a byte the `encoding` does not
have) is rejected with the file, line and reason, to be dead-lettered, and the lines after it
are read.

A target is a log: it appends every batch to the file (made with its folders when missing;
`truncate_target: true` empties it first) and `commit()` flushes and fsyncs, so what the
checkpoint records is on disk. A replay after a crash may append a batch a second time; the
entries keep their ids, so a reader can tell.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

from pdip.integrator.adapters.base import Adapter, Capabilities, ReadRequest, Source, Target, WriteResult
from pdip.integrator.adapters.file import jsonl
from pdip.integrator.adapters.file.reading import Malformed
from pdip.integrator.adapters.file.rows import (
    absolute_path,
    connection_label,
    file_settings,
    local_path,
    source_files,
)
from pdip.integrator.batch import Batch, RowLines
from pdip.integrator.changes import batch_entries, entries_batch, entry_from_json, refused_rows
from pdip.integrator.errors import OperationError
from pdip.tracking.entry import ChangeLogEntry


class JsonLinesChangesSource(Source):
    def __init__(self, connection, context):
        super().__init__(connection, context)
        self.label = connection_label(connection)
        self.settings = file_settings(connection)

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        resume = request.resume if isinstance(request.resume, dict) else None
        entries: list[ChangeLogEntry] = []
        rejected: list[tuple[dict[str, Any], str]] = []
        rejected_at: list[dict[str, Any]] = []  # where each refused line is
        origins = RowLines()  # where each entry is
        position: dict[str, Any] | None = None
        for path, name in source_files(self.settings, jsonl.FORMAT.suffixes, self.context, self.label):
            if resume is not None and name < resume["file"]:
                continue
            skip = resume["line"] if resume is not None and name == resume["file"] else 0
            with contextlib.closing(jsonl.JsonLines(path, name, self.settings.encoding)) as lines:
                for number, text in lines:
                    if number <= skip:
                        continue
                    refused, read = len(rejected), len(entries)
                    if isinstance(text, Malformed):
                        rejected.append((text.row, f"{name}:{number}: {text.problem}"))
                    else:
                        self._decode(text, name, number, entries, rejected)
                    rejected_at.extend({"file": name, "line": number} for _ in range(len(rejected) - refused))
                    if len(entries) > read:
                        if not origins.files or origins.files[-1][1] != name:
                            origins.files.append((read, name))
                        origins.numbers.append(number)
                    position = {"file": name, "line": number}
                    if len(entries) + len(rejected) >= request.batch_size:
                        yield entries_batch(entries, position, rejected, rejected_at, origins)
                        entries, rejected, rejected_at, origins = [], [], [], RowLines()
        if entries or rejected:
            yield entries_batch(entries, position, rejected, rejected_at, origins)

    @staticmethod
    def _decode(text: str, name: str, number: int, entries: list, rejected: list) -> None:
        try:
            entries.append(entry_from_json(text))
        except ValueError as error:
            rejected.append(({"line": text.rstrip("\r\n")}, f"{name}:{number}: {error}"))

    def describe(self) -> str:
        return f"jsonl:{self.settings.path} (changes)"


class JsonLinesChangesTarget(Target):
    def __init__(self, connection, context):
        super().__init__(connection, context)
        self.label = connection_label(connection)
        self.settings = file_settings(connection)
        self.path = absolute_path(local_path(self.settings.path, self.label), context)
        self._file: Any = None

    def prepare(self, columns: Sequence[str], create: bool, truncate: bool) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_dir():
            raise OperationError(f"{self.label}: path: {self.path} is a folder; a change-log target writes one file")
        self._file = open(self.path, "w" if truncate else "a", encoding=self.settings.encoding)  # noqa: SIM115 - closed by close()

    def write(self, batch: Batch) -> WriteResult:
        if self._file is None:
            self.prepare([], create=True, truncate=False)
        lines, rejected = [], []
        for entry in batch_entries(batch):
            try:
                lines.append(entry.to_json() + "\n")
            except (TypeError, ValueError) as error:
                rejected.append((entry, f"cannot write the entry as JSON: {error}"))
        self._file.write("".join(lines))
        return WriteResult(len(lines), refused_rows(batch, rejected))

    def commit(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    def describe(self) -> str:
        return f"jsonl:{self.settings.path} (changes)"

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            file.close()


ADAPTER = Adapter(
    ("jsonl", "json_lines"),
    JsonLinesChangesSource,
    JsonLinesChangesTarget,
    Capabilities(),
    mode="changes",
    settings=jsonl.SETTINGS,  # the row adapter's: one file, read and written the same way
)
