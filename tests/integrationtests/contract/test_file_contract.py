"""The adapter contract run against files: CSV, JSON Lines, Parquet and Excel
(`pdip.integrator.adapters.file`)."""

import unittest

import pyarrow.parquet

from pdip.integrator import Connection
from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.registry import AdapterRegistry
from tests.integrationtests.contract.contract import COLUMNS, AdapterContract, Refusal, naive_utc

# The `types:` a text format's source declares, so its values come back as they went in.
TYPES = {
    "id": "int",
    "small": "int",
    "big": "int",
    "ratio": "float",
    "amount": "decimal",
    "flag": "bool",
    "label": "text",
    "day": "date",
    "at": "datetime",
}


class FileContract(AdapterContract):
    """What the file formats share: a store is a file of the test's folder."""

    suffix: str
    commits_per_batch = False  # a file is put in place when the run succeeds; a resumed run starts over

    def path(self, name: str) -> str:
        return str(self.root / f"{name}.{self.suffix}")

    def store(self, name: str) -> Connection:
        return Connection(self.kind, {"path": self.path(name)})

    def source_of(self, name: str) -> Connection:
        """The file with the `types:` of the columns it has (its header, its first object)."""
        columns = self.columns_of(name) or []
        types = {column: TYPES[column] for column in columns if column in TYPES}
        return Connection(self.kind, {"path": self.path(name), **({"types": types} if types else {})})

    def columns_of(self, name: str) -> list[str] | None:
        source = self.pdi.get(AdapterRegistry).source(self.store(name), self.context())
        try:
            declared = source.schema(ReadRequest(1))
        finally:
            source.close()
        return None if declared is None else list(declared.names)

    def with_secret(self, secret: str) -> Connection:
        return Connection(self.kind, {"path": self.path("missing"), "storage_options": {"token": secret}})

    def refused_by_the_source(self, text: str, refused: int, landed: list[int]) -> Refusal:
        """A file holding `text`, of which `refused` lines are not rows."""
        name = self.unique("refusing")
        with open(self.path(name), "w", encoding="utf-8") as stream:
            stream.write(text)
        return Refusal(
            self.source_of(name),
            Connection("memory", {"store": "landed"}),
            refused,
            landed,
            lambda: self.integrator.stores.records("landed"),
        )


class CsvContract(FileContract, unittest.TestCase):
    kind, suffix = "csv", "csv"
    # `null` is the empty text by default, so an empty text is read back as NULL (`null: "\\N"` tells them apart)
    returned = {"label": lambda value: value or None}

    def refusal(self) -> Refusal:
        return self.refused_by_the_source("id,label\n1,a\n2,b,extra\n3,c\n4\n5,e\n", 2, [1, 3, 5])


class JsonLinesContract(FileContract, unittest.TestCase):
    kind, suffix = "jsonl", "jsonl"
    knows_empty_columns = False  # an empty file has no first object to name its fields

    def refusal(self) -> Refusal:
        text = '{"id": 1, "label": "a"}\nnot json\n{"id": 3, "label": "c"}\n[4]\n{"id": 5, "label": "e"}\n'
        return self.refused_by_the_source(text, 2, [1, 3, 5])


class ParquetContract(FileContract, unittest.TestCase):
    kind, suffix = "parquet", "parquet"
    supported = tuple(COLUMNS)  # Arrow keeps every type, bytes too
    misspelt = ("compresion", "compression")

    def columns_of(self, name: str) -> list[str] | None:
        return pyarrow.parquet.read_schema(self.path(name)).names

    def source_of(self, name: str) -> Connection:
        return self.store(name)  # a Parquet file declares its own types

    def refusal(self) -> Refusal:
        return self.refused_by_the_target()


class ExcelContract(FileContract, unittest.TestCase):
    kind, suffix = "excel", "xlsx"
    returned = {"at": naive_utc, "label": lambda value: value or None}  # Excel has no time zones, no empty text
    misspelt = ("sheeet", "sheet")

    def refusal(self) -> Refusal:
        good = [{"id": 1, "label": "a"}, {"id": 3, "label": "c"}, {"id": 5, "label": "e"}]
        return self.refused_by_the_target(good, [{"id": 2, "label": "bell \x07"}, {"id": 4, "label": "x" * 40_000}])


del FileContract  # not a test case of its own


if __name__ == "__main__":
    unittest.main()
