"""Files read row by row (CSV, JSON Lines, Excel): the settings such formats share, and the
reader that turns a format's rows into batches.

A format gives its `RowFile`: one file as `(line, values)` pairs, or `(line, Malformed(...))`
for a line that is not a row, so the reader can hand it on as rejected with its file and line
and go on. The reader projects each row to the wanted columns, converts the declared `types`
(a value that does not convert refuses its line) and, for an incremental read, keeps what is
newer than the high-watermark.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from pdip.configuration.settings import Setting
from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.file.format import FileReader, FileSettings
from pdip.integrator.adapters.file.values import CONVERSION_ERRORS, VALUE_TYPES, types_problems
from pdip.integrator.batch import Batch, RowLines
from pdip.integrator.errors import OperationError
from pdip.integrator.types import ColumnTypes, named_types

HEADER = Setting("header", bool, default=True, help="the first row names the columns; a target writes it")
COLUMNS = Setting("columns", list[str], help="the columns' names (or, for JSON Lines, the fields to read)")


@dataclasses.dataclass(frozen=True)
class RowSettings(FileSettings):
    """The settings of a format read row by row: the columns to read, and their `types`."""

    columns: list[str] | None = None
    types: dict[str, str] = dataclasses.field(default_factory=dict)


def row_problems(settings: RowSettings) -> list[str]:
    problems = types_problems(settings.types)
    if settings.columns is not None and len(set(settings.columns)) != len(settings.columns):
        problems.append(f"columns: names must be unique, got {', '.join(settings.columns)}")
    return problems


def require_columns(settings: Any, label: str) -> None:
    """A file without a header row needs its columns named."""
    if not settings.header and not settings.columns:
        raise OperationError(f"{label}: columns: required when header is false (the fields' names, in order)")


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


def header_names(header: list[str], name: str, line: int) -> list[str]:
    seen = set()
    for number, column in enumerate(header, 1):
        if column == "":
            raise OperationError(f"{name}:{line}: column {number} of the header has no name; name them with `columns`")
        if column in seen:
            raise OperationError(f"{name}:{line}: column {column!r} appears twice in the header")
        seen.add(column)
    return list(header)


class RowReader(FileReader):
    """The files of a source read as rows through the format's `RowFile` (`open`). `undeclared`
    is the type of a column without a `types:` entry: "text" where every value is text (CSV),
    None where values carry their own type (JSON Lines, Excel)."""

    undeclared: str | None = None

    @abc.abstractmethod
    def open(self, path: Path, name: str, wanted: list[str] | None, explicit: bool) -> RowFile:
        """One file; `wanted`: the columns read so far (None for the first file), `explicit`:
        whether the integration chose them."""

    def batches(self, files: list[tuple[Path, str]], request: ReadRequest, skip: int) -> Iterator[Batch]:
        wanted = list(request.columns) if request.columns else None
        explicit, first = wanted is not None, None
        rows: list[tuple] = []
        rejected: list[tuple[dict[str, Any], str]] = []
        rejected_at: list[dict[str, Any]] = []  # where each refused line is
        origins = RowLines()
        position = None
        for path, name in files:
            count, done, skip = 0, skip, 0  # a resumed file: its first `done` records were read before
            origins.files.append((len(rows), name))
            numbers = origins.numbers  # each row's line
            with self.open(path, name, wanted, explicit) as reader:
                plan = None
                if reader.columns:
                    if wanted is None:
                        wanted, first = list(reader.columns), name
                    plan = RowPlan(reader.columns, wanted, self.settings.types, request, name)
                    plan.check(explicit, first, self.label)
                for line, values in reader:
                    count += 1
                    if count <= done:
                        continue
                    if isinstance(values, Malformed):
                        rejected.append((values.row, f"{name}:{line}: {values.problem}"))
                        rejected_at.append({"file": name, "line": line})
                    else:
                        row, problem = plan.apply(values)
                        if problem is not None:
                            rejected.append(
                                (dict(zip(reader.columns, values, strict=True)), f"{name}:{line}: {problem}")
                            )
                            rejected_at.append({"file": name, "line": line})
                        elif row is not None:
                            rows.append(row)
                            numbers.append(line)
                    if len(rows) + len(rejected) >= request.batch_size:
                        position = {"file": name, "row": count}
                        yield Batch(
                            wanted or [],
                            rows,
                            position=position,
                            rejected=rejected,
                            origins=origins,
                            rejected_at=rejected_at,
                        )
                        rows, rejected, rejected_at, origins = [], [], [], RowLines([], [(0, name)])
                        numbers = origins.numbers
            position = {"file": name, "row": count}
        if rows or rejected:
            yield Batch(
                wanted or [], rows, position=position, rejected=rejected, origins=origins, rejected_at=rejected_at
            )

    def schema(self, path: Path, name: str, wanted: list[str] | None) -> Any:
        """The `types:` setting of the file's columns, or of the `wanted` ones."""
        with self.open(path, name, wanted, wanted is not None) as reader:
            columns = wanted or reader.columns
        return self.declared(columns) if columns else None

    def types(self, batch: Batch) -> Any:
        return self.declared(batch.columns)

    def declared(self, columns: list[str]) -> ColumnTypes:
        return named_types(columns, self.settings.types, self.undeclared)


class RowPlan:
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
