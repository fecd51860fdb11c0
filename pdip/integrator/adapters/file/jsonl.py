"""JSON Lines files: `kind: jsonl` (or `json_lines`), one JSON object per line.

    source: {kind: jsonl, path: events/, columns: [id, amount], types: {amount: decimal}}

The columns are the `columns` setting, the integration's `columns`, or the first object's keys.
A line that is not an object, lacks one of the columns (a NULL is written `null`), has a field
outside them (unless they were chosen) or holds a byte the `encoding` does not have is refused
with its file and line. `JsonLines` is also how change logs (`changes.py`) read their lines.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pdip.conversion import json_default
from pdip.integrator.adapters.base import Capabilities
from pdip.integrator.adapters.file.format import COMMON, FileFormat
from pdip.integrator.adapters.file.reading import COLUMNS, Malformed, RowFile, RowReader, RowSettings, row_problems
from pdip.integrator.adapters.file.text import ENCODING, TextLines, TextWriter, encoding_problems, shown, undecodable
from pdip.integrator.adapters.file.values import TYPES

SETTINGS = (*COMMON, ENCODING, COLUMNS, TYPES)


@dataclasses.dataclass(frozen=True)
class JsonLinesSettings(RowSettings):
    encoding: str = "utf-8"


def problems(settings: JsonLinesSettings) -> list[str]:
    return encoding_problems(settings.encoding) + row_problems(settings)


# -- reading ------------------------------------------------------------------------------------


class JsonLines:
    """The lines of a file that are not blank, numbered from 1: `(line, text)`, or `(line,
    Malformed(...))` for a line holding a byte the encoding does not have. Close it when done."""

    def __init__(self, path: Path, name: str, encoding: str):
        self.path, self.name, self.encoding = path, name, encoding
        self._lines = TextLines(path, encoding)

    def __iter__(self) -> Iterator[tuple[int, str | Malformed]]:
        found, line = self._lines.undecodable, 0
        self._lines.handed_out = lambda: line
        try:
            for line, text in enumerate(self._lines, 1):
                if found:
                    yield line, Malformed({"line": shown(text.rstrip("\r\n"))}, found.pop().problem(self.encoding))
                elif text.strip():
                    yield line, text
        except UnicodeDecodeError as error:
            raise undecodable(self.path, self.name, self.encoding, error) from None

    def close(self) -> None:
        self._lines.close()


class JsonLinesFile(RowFile):
    """One JSON object per line. The columns are `fields` when given (the user's choice, or what
    an earlier file of a folder had), else the first object's keys. An object lacking one of them
    is malformed (a NULL is written as `null`, never guessed from a missing key), and so is,
    unless the user `chose` the columns, an object with a key outside them: its value is never
    dropped silently."""

    def __init__(self, path: Path, name: str, settings: Any, fields: list[str] | None, chosen: bool):
        self._lines = JsonLines(path, name, settings.encoding)
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
        for line, text in self._lines:
            yield line, text if isinstance(text, Malformed) else _json_object(text)

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


class JsonLinesReader(RowReader):
    def open(self, path: Path, name: str, wanted: list[str] | None, explicit: bool) -> RowFile:
        chosen = bool(self.settings.columns) or explicit
        return JsonLinesFile(path, name, self.settings, self.settings.columns or wanted, chosen)


# -- writing ------------------------------------------------------------------------------------


class JsonLinesWriter(TextWriter):
    def __init__(self, path: Path, columns: list[str], settings: Any, existing: Path | None):
        # Outside the UTF encodings, non-ASCII text is written as \u escapes, so every row encodes.
        ascii_only = not codecs.lookup(settings.encoding).name.startswith("utf")
        self.encoder = json.JSONEncoder(ensure_ascii=ascii_only, default=json_default)
        super().__init__(path, columns, settings, existing)

    def render(self, columns: list[str], rows: list[tuple]) -> str:
        encode = self.encoder.encode
        return "".join(encode(dict(zip(columns, row, strict=True))) + "\n" for row in rows)


FORMAT = FileFormat(
    kinds=("jsonl", "json_lines"),
    suffixes=(".jsonl", ".ndjson", ".json"),
    settings=SETTINGS,
    options=JsonLinesSettings,
    reader=JsonLinesReader,
    writer=JsonLinesWriter,
    capabilities=Capabilities(partitioned_read=True, replace=True),
    problems=problems,
)
