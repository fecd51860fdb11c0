"""Each file format is one module declaring a `FileFormat`; the file adapters are made from them."""

import dataclasses
import unittest
from pathlib import Path
from unittest import mock

from pdip.integrator import Batch, Connection, OperationError
from pdip.integrator.adapters import AdapterRegistry, Capabilities
from pdip.integrator.adapters.file import rows
from pdip.integrator.adapters.file.changes import JsonLinesChangesTarget
from pdip.integrator.adapters.file.format import COMMON, FileFormat
from pdip.integrator.adapters.file.reading import Malformed, RowFile, RowReader, RowSettings
from pdip.integrator.adapters.file.rows import FORMATS, FileSource, FileTarget, file_settings
from pdip.integrator.adapters.file.text import ENCODING, TextLines, TextWriter
from pdip.integrator.adapters.registry import BUILT_IN
from tests.unittests.integrator.test_file_adapter import FileTestCase


class DeclarationsTest(unittest.TestCase):
    def test_each_format_declares_exactly_the_settings_its_options_hold_with_the_same_defaults(self):
        self.assertEqual([file_format.name for file_format in FORMATS], ["csv", "jsonl", "parquet", "excel"])
        for file_format in FORMATS:
            with self.subTest(file_format.name):
                fields = {field.name: field for field in dataclasses.fields(file_format.options)}
                self.assertEqual(sorted(setting.name for setting in file_format.settings), sorted(fields))
                for setting in file_format.settings:
                    if setting.default is not None:
                        self.assertEqual(fields[setting.name].default, setting.default, setting.name)

    def test_the_adapters_and_the_registry_are_the_formats_declarations(self):
        registry = AdapterRegistry()
        for file_format in FORMATS:
            for kind in file_format.kinds:
                with self.subTest(kind):
                    adapter = registry.adapter(kind)
                    self.assertEqual((adapter.source, adapter.target), (FileSource, FileTarget))
                    self.assertEqual(adapter.capabilities, file_format.capabilities)
                    self.assertEqual(adapter.settings, file_format.settings)
                    self.assertEqual(BUILT_IN[kind], "pdip.integrator.adapters.file.rows")
        served = sorted(kind for kind, module in BUILT_IN.items() if module == "pdip.integrator.adapters.file.rows")
        self.assertEqual(served, sorted(rows.KINDS))
        self.assertEqual([kind for kind, found in rows.KINDS.items() if found.capabilities.bulk_load], ["parquet"])

    def test_a_change_log_url_names_the_kinds_that_read_urls(self):
        with self.assertRaisesRegex(
            OperationError, r"^jsonl connection: path: s3:// URLs are read by the csv, jsonl, parquet and excel kinds$"
        ):
            JsonLinesChangesTarget(Connection("jsonl", {"path": "s3://bucket/log.jsonl"}), None)


# A format of one column, `line`: what a new format's module holds, in a few lines.


@dataclasses.dataclass(frozen=True)
class _LinesSettings(RowSettings):
    encoding: str = "utf-8"


class _LinesFile(RowFile):
    def __init__(self, path: Path, encoding: str):
        self.columns, self._lines = ["line"], TextLines(path, encoding)

    def __iter__(self):
        for number, text in enumerate(self._lines, 1):
            text = text.rstrip("\n")
            yield number, (Malformed({"line": text}, "a blank line") if not text else (text,))

    def close(self) -> None:
        self._lines.close()


class _LinesReader(RowReader):
    def open(self, path, name, wanted, explicit):
        return _LinesFile(path, self.settings.encoding)


class _LinesWriter(TextWriter):
    def render(self, columns, rows):
        return "".join(f"{row[0]}\n" for row in rows)


LINES = FileFormat(
    kinds=("lines",),
    suffixes=(".lines",),
    settings=(*COMMON, ENCODING),
    options=_LinesSettings,
    reader=_LinesReader,
    writer=_LinesWriter,
    capabilities=Capabilities(partitioned_read=True),
)


class NewFormatTest(FileTestCase):
    def setUp(self):
        super().setUp()
        patch = mock.patch.dict(rows.KINDS, {"lines": LINES})  # what one line in FORMATS does
        patch.start()
        self.addCleanup(patch.stop)

    def test_a_format_module_is_read_and_written_through_the_generic_source_and_target(self):
        self.file("in/a.lines", "first\n\nsecond\n")
        self.file("in/b.csv", "not,a,lines,file\n")
        batches = self.batches("lines", path="in")
        self.assertEqual([row for batch in batches for row in batch.rows], [("first",), ("second",)])
        self.assertEqual(batches[-1].position, {"file": "a.lines", "row": 3})
        self.assertEqual(batches[0].rejected, [({"line": ""}, "a.lines:2: a blank line")])
        self.write("lines", [Batch(["line"], [("x",), ("y",)])], path="out/c.lines")
        self.assertEqual((self.root / "out/c.lines").read_text(), "x\ny\n")

    def test_its_settings_are_what_it_declares(self):
        self.assertEqual(
            file_settings(Connection("lines", {"path": "a.lines", "encoding": "latin-1"})).encoding, "latin-1"
        )
        with self.assertRaisesRegex(OperationError, r"lines connection: delimiter: unknown setting for lines files"):
            file_settings(Connection("lines", {"path": "a.lines", "delimiter": ";"}))
