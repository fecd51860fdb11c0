"""What a file format is: the declaration each format module makes, and what every format shares.

A format is one module (`csv.py`, `jsonl.py`, `parquet.py`, `excel.py`) that ends with

    FORMAT = FileFormat(
        kinds=("csv",), suffixes=(".csv", ".tsv"), settings=SETTINGS, options=CsvSettings,
        reader=CsvReader, writer=CsvWriter, capabilities=Capabilities(partitioned_read=True),
        problems=problems,
    )

`rows.py` makes the adapter of every format in its list `FORMATS` from these declarations: the
source finds files by the suffixes, converts the settings to `options`, reads with the reader and
writes with the writer; nothing there is decided by a kind's name.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from pdip.configuration.settings import Setting
from pdip.integrator.adapters.base import Capabilities, ReadRequest, WriteResult
from pdip.integrator.batch import Batch

COMMON = (
    Setting("path", str, required=True, help="a file, a folder or a glob; a target writes one file"),
    Setting("append", bool, default=False, help="a target adds to the existing file instead of replacing it"),
    Setting("storage_options", dict[str, Any], secret=True, help="options of the fsspec filesystem of a URL path"),
)


@dataclasses.dataclass(frozen=True)
class FileSettings:
    """The settings every format takes (`COMMON`); a format's own settings extend it."""

    path: str | Path
    append: bool = False
    storage_options: dict[str, Any] = dataclasses.field(default_factory=dict)  # fsspec's, for URLs


class FileReader(abc.ABC):
    """Reads the files of one source, made when the source is: it may refuse the settings then."""

    def __init__(self, settings: Any, label: str):
        self.settings, self.label = settings, label

    def check(self, request: ReadRequest) -> None:
        """Refuse what this format cannot read as `request` asks, before any file is opened."""

    @abc.abstractmethod
    def batches(self, files: list[tuple[Path, str]], request: ReadRequest, skip: int) -> Iterator[Batch]:
        """The batches of `files` ((path, name) each, in order); the first `skip` records of the
        first file were read before (a resumed read)."""

    @abc.abstractmethod
    def schema(self, path: Path, name: str, wanted: list[str] | None) -> Any:
        """The declared columns and types of one file (`pdip.integrator.types`), or None."""

    @abc.abstractmethod
    def types(self, batch: Batch) -> Any:
        """The declared types of a batch's columns, which the source sets on it."""


class FileWriter(abc.ABC):
    """Writes one (temporary) file. `existing` is the file to append to, when appending; `types`
    is what the source declared of the columns (`pdip.integrator.types`), set by the target."""

    types: Any = None

    def __init__(self, path: Path, columns: list[str], settings: Any, existing: Path | None):
        self.path, self.columns, self.settings = path, columns, settings

    @abc.abstractmethod
    def write(self, batch: Batch) -> WriteResult: ...

    def flush(self) -> None:
        """Hand what was written to the operating system (after every batch)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Complete the file (footers, the workbook) so it can be moved into place."""

    def abort(self) -> None:
        """Release the file without completing it; the target deletes it."""


class RawReader(Protocol):
    """A format's records handed over undecoded to a target that parses them itself (`csv_raw`),
    or named (`NAMES_ROWS`: which rows of which file) for a target that reads them itself
    (`parquet_ranges`)."""

    NAMES_ROWS: bool

    def passes_through(self, settings: Any, request: ReadRequest) -> bool: ...

    def raw_batches(
        self, files: list[tuple[Path, str]], settings: Any, label: str, batch_size: int, skip: int = 0
    ) -> Iterator[Batch]: ...


def _no_problems(settings: Any) -> list[str]:
    return []


@dataclasses.dataclass(frozen=True)
class FileFormat:
    """One format as its module declares it.

    `kinds`: the connection kinds (the first is its name in messages); `suffixes`: of the files a
    folder source reads; `settings`: what a connection takes (checked before data moves, shown in
    the docs); `options`: the `FileSettings` dataclass they convert to; `problems`: what is wrong
    with converted settings beyond their types, each `key: detail`; `raw`: a fast path that hands
    records over undecoded, when the format has one; `accepts`: the batch forms its writer takes
    as they are (`Target.accepts`: Parquet takes Arrow record batches, `batch.ARROW`);
    `new_file_only`: those of them it takes only for a file it writes whole, never when
    appending (Parquet has DuckDB write a file from a DuckDB table)."""

    kinds: tuple[str, ...]
    suffixes: tuple[str, ...]
    settings: tuple[Setting, ...]
    options: type[FileSettings]
    reader: type[FileReader]
    writer: type[FileWriter]
    capabilities: Capabilities
    problems: Callable[[Any], list[str]] = _no_problems
    raw: RawReader | None = None
    accepts: tuple[str, ...] = ()
    new_file_only: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.kinds[0]
