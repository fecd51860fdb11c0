"""The file adapter, one format detail at a time: settings, paths, reading, writing, atomicity."""

import csv
import datetime as dt
import json
import os
import sys
import tempfile
import types
import unittest
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pyarrow
import pyarrow.parquet

from pdip.integrator import Batch, Connection, OperationError
from pdip.integrator.adapters import AdapterRegistry, ReadRequest
from pdip.integrator.adapters.file.rows import FileSource, FileTarget, file_settings
from pdip.integrator.adapters.file.text import UNCLOSED
from pdip.integrator.adapters.file.values import VALUE_TYPES
from pdip.integrator.errors import MissingPackageError
from pdip.integrator.results import WorkerContext


class FileTestCase(unittest.TestCase):
    def setUp(self):
        folder = tempfile.TemporaryDirectory(prefix="pdip-files-")
        self.addCleanup(folder.cleanup)
        self.root = Path(folder.name)
        self.context = WorkerContext("test", self.root)

    def file(self, name, text, encoding="utf-8"):
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding=encoding)
        return path

    def batches(self, kind, batch_size=100, want=None, cursor=None, after=None, **settings):
        """The batches a source of `kind` yields; `want` are the integration's columns."""
        source = FileSource(Connection(kind, settings), self.context)
        try:
            return list(source.read(ReadRequest(batch_size, want, cursor, after)))
        finally:
            source.close()

    def records(self, kind, **settings):
        return [record for batch in self.batches(kind, **settings) for record in batch.to_dicts()]

    def rejected(self, kind, **settings):
        return [item for batch in self.batches(kind, **settings) for item in batch.rejected]

    def write(self, kind, batches, columns=None, truncate=False, **settings):
        target = FileTarget(Connection(kind, settings), self.context)
        try:
            target.prepare(columns if columns is not None else batches[0].columns, False, truncate)
            results = [target.write(batch) for batch in batches]
            target.commit()
            target.finish()
        finally:
            target.close()
        return results


class SettingsTest(FileTestCase):
    def test_an_unknown_setting_is_named_with_a_suggestion(self):
        with self.assertRaisesRegex(
            OperationError, r"csv connection: delimeter: unknown setting .*did you mean delimiter\?"
        ):
            file_settings(Connection("csv", {"path": "a.csv", "delimeter": ";"}))
        with self.assertRaisesRegex(OperationError, r"sheet: unknown setting for parquet files"):
            file_settings(Connection("parquet", {"path": "a.parquet", "sheet": "x"}))

    def test_every_problem_is_listed_with_its_key(self):
        settings = {
            "path": "a.csv",
            "delimiter": ";;",
            "quoting": "sometimes",
            "encoding": "utf-9",
            "types": {"id": "number"},
            "header": False,
            "columns": ["a", "a"],
        }
        with self.assertRaises(OperationError) as raised:
            file_settings(Connection("csv", settings, name="landing"))
        problems = raised.exception.problems
        self.assertEqual(len(problems), 5, problems)
        self.assertIn("csv connection 'landing': delimiter: expected one character, got ';;'", problems)
        self.assertIn("quoting: expected one of minimal, all, nonnumeric, none, got 'sometimes'", problems[1])
        self.assertIn("encoding: 'utf-9' is not an encoding Python knows", problems[2])
        self.assertIn("types.id: expected int, float, decimal, bool, text, date or datetime, got 'number'", problems[3])
        self.assertIn("columns: names must be unique", problems[4])
        with self.assertRaisesRegex(OperationError, "excel connection: columns: required when header is false"):
            FileSource(Connection("excel", {"path": "a.xlsx", "header": "no"}), self.context)
        with self.assertRaisesRegex(OperationError, "compression: expected one of none, snappy"):
            file_settings(Connection("parquet", {"path": "a.parquet", "compression": "rar"}))

    def test_values_are_converted_leniently_and_wrong_types_are_named(self):
        settings = file_settings(Connection("csv", {"PATH": "a.csv", "header": "false", "columns": "id, name"}))
        self.assertEqual((settings.header, settings.columns), (False, ["id", "name"]))
        with self.assertRaisesRegex(OperationError, r"csv connection: header: expected bool, got 'maybe'"):
            file_settings(Connection("csv", {"path": "a.csv", "header": "maybe"}))
        with self.assertRaisesRegex(
            OperationError, r'csv connection: null: got no value; quote the text that means NULL \(null: "NULL"\)'
        ):
            file_settings(Connection("csv", {"path": "a.csv", "null": None}))
        with self.assertRaisesRegex(OperationError, r"path: required \(a file, a folder or a glob"):
            file_settings(Connection("jsonl", {"path": " "}))

    def test_a_url_whose_protocol_package_is_missing_says_so_and_file_urls_are_local_paths(self):
        self.file("a.csv", "id\n1\n")
        # gcsfs comes with the `all` extra: its absence is made, so the test holds with or without it
        with mock.patch("fsspec.core.url_to_fs", side_effect=ImportError("gcsfs")):
            with self.assertRaisesRegex(OperationError, r"path: gs:// URLs need .*: pip install 'pdip\[gcs\]'"):
                self.batches("csv", path="gs://bucket/a.csv")
        self.assertEqual(self.records("csv", path=f"file://{self.root / 'a.csv'}"), [{"id": "1"}])

    def test_the_registry_knows_every_kind_and_parquet_loads_in_bulk(self):
        registry = AdapterRegistry()
        for kind in ("csv", "jsonl", "json_lines", "excel", "parquet"):
            self.assertIs(registry.adapter(kind).source, FileSource)
        self.assertTrue(registry.adapter("parquet").capabilities.bulk_load)
        self.assertFalse(registry.adapter("csv").capabilities.bulk_load)
        self.assertFalse(registry.adapter("parquet").capabilities.transactions)

    def test_a_missing_optional_package_names_the_extra(self):
        with mock.patch.dict(sys.modules, {"openpyxl": None}):
            with self.assertRaises(MissingPackageError) as raised:
                self.write("excel", [Batch(["id"], [(1,)])], path="a.xlsx")
        self.assertEqual(
            str(raised.exception),
            "excel files need the openpyxl package: pip install 'pdip[integrator]'",
        )

    def test_describe_shows_the_kind_and_the_path_as_given(self):
        source = FileSource(Connection("json_lines", {"path": "in/*.jsonl"}), self.context)
        target = FileTarget(Connection("csv", {"path": "out/a.csv"}), self.context)
        self.assertEqual((source.describe(), target.describe()), ("json_lines:in/*.jsonl", "csv:out/a.csv"))


class PathTest(FileTestCase):
    def test_a_folder_reads_its_files_of_the_format_in_order_skipping_hidden_ones(self):
        self.file("in/b.csv", "id\n3\n")
        self.file("in/a.csv", "id\n1\n2\n")
        self.file("in/.a.csv.123.pdip-tmp", "id\n99\n")
        self.file("in/.hidden.csv", "id\n98\n")
        self.file("in/notes.md", "not data")
        self.file("in/sub/c.csv", "id\n97\n")
        batches = self.batches("csv", path="in", batch_size=2)
        self.assertEqual([row for batch in batches for row in batch.rows], [("1",), ("2",), ("3",)])
        self.assertEqual(
            [batch.position for batch in batches], [{"file": "a.csv", "row": 2}, {"file": "b.csv", "row": 1}]
        )

    def test_a_glob_may_reach_into_subfolders_and_names_files_relative_to_its_folder(self):
        self.file("in/2024/a.jsonl", '{"id": 1}\n')
        self.file("in/2025/b.jsonl", '{"id": 2}\n')
        batches = self.batches("jsonl", path="in/**/*.jsonl", batch_size=1)
        self.assertEqual(
            [batch.position for batch in batches],
            [{"file": "2024/a.jsonl", "row": 1}, {"file": "2025/b.jsonl", "row": 1}],
        )
        self.assertEqual(self.batches("jsonl", path="in/*.jsonl"), [])

    def test_missing_files_and_folders_are_errors_that_show_the_resolved_path(self):
        with self.assertRaisesRegex(OperationError, f"path: {self.root / 'nope.csv'} does not exist"):
            self.batches("csv", path="nope.csv")
        with self.assertRaisesRegex(OperationError, f"path: folder {self.root / 'nope'} does not exist"):
            self.batches("csv", path="nope/*.csv")

    def test_relative_paths_resolve_against_the_working_folder_without_a_root(self):
        self.file("here.csv", "id\n7\n")
        self.context = types.SimpleNamespace(stores={})
        cwd = os.getcwd()
        os.chdir(self.root)
        try:
            self.assertEqual(self.records("csv", path="here.csv"), [{"id": "7"}])
        finally:
            os.chdir(cwd)

    def test_a_target_writes_one_file_not_a_pattern_or_a_folder(self):
        (self.root / "out").mkdir()
        with self.assertRaisesRegex(OperationError, "a target writes one file, not a pattern"):
            FileTarget(Connection("csv", {"path": "out/*.csv"}), self.context)
        with self.assertRaisesRegex(OperationError, "is a folder; a target writes one file"):
            FileTarget(Connection("csv", {"path": "out"}), self.context)


class LightReadTest(FileTestCase):
    """Which reads the `process` executor keeps in the calling process (`Source.light_to_read`)."""

    def light(self, kind, accept=(), **settings):
        source = FileSource(Connection(kind, settings), self.context)
        try:
            return source.light_to_read(ReadRequest(100, accept=accept))
        finally:
            source.close()

    def test_small_local_files_and_named_parquet_ranges_are_light_and_the_rest_is_not(self):
        self.file("small/a.csv", "id\n1\n")
        self.file("small/b.csv", "id\n" + "2\n" * 600_000)  # 1.2 MB, the two past LIGHT_BYTES
        pyarrow.parquet.write_table(pyarrow.table({"id": list(range(1000))}), self.root / "items.parquet")
        self.assertTrue(self.light("csv", path="small/a.csv"))
        self.assertFalse(self.light("csv", path="small"))
        self.assertFalse(self.light("csv", path="small/missing.csv"))  # reading it will say so
        self.assertFalse(self.light("csv", path="memory://pdip-light/a.csv"))  # a remote file is staged first
        with mock.patch("pdip.integrator.adapters.file.rows.LIGHT_BYTES", 0):
            self.assertTrue(self.light("parquet", path="items.parquet", accept=("parquet-row-range",)))
            self.assertFalse(self.light("parquet", path="items.parquet", accept=("arrow",)))
            self.assertFalse(self.light("csv", path="small/a.csv", accept=("csv",)))  # its batches carry the lines


class CsvReadTest(FileTestCase):
    def test_header_delimiter_quoting_and_null_text(self):
        self.file("a.csv", "id;name\n1;'x;y'\n2;NULL\n\n3;\n")
        records = self.records("csv", path="a.csv", delimiter=";", quotechar="'", null="NULL")
        self.assertEqual(records, [{"id": "1", "name": "x;y"}, {"id": "2", "name": None}, {"id": "3", "name": ""}])
        self.file("b.csv", 'id,name\n1,"x"\n')
        self.assertEqual(self.records("csv", path="b.csv", quoting="none"), [{"id": "1", "name": '"x"'}])
        self.assertEqual(self.records("csv", path="b.csv", quoting="all"), [{"id": "1", "name": "x"}])

    def test_without_a_header_the_columns_name_the_fields_and_with_one_they_rename_them(self):
        self.file("a.csv", "1,a\n2,b\n")
        self.assertEqual(
            self.records("csv", path="a.csv", header=False, columns=["id", "name"])[1], {"id": "2", "name": "b"}
        )
        self.assertEqual(self.records("csv", path="a.csv", columns=["key", "label"]), [{"key": "2", "label": "b"}])
        with self.assertRaisesRegex(OperationError, "a.csv:1: the header has 2 fields but `columns` names 3"):
            self.batches("csv", path="a.csv", columns=["a", "b", "c"])

    def test_declared_types_convert_text_and_empty_text_is_null(self):
        self.file(
            "a.csv",
            "i,f,d,b,t,day,at\n 42 ,1.5,0.10,yes,x,2024-02-29,2024-02-29T10:30:00Z\n,,,,,,2024-03-01 08:00:00\n",
        )
        typed = {"i": "int", "f": "float", "d": "decimal", "b": "boolean", "t": "text", "day": "date", "at": "datetime"}
        first, second = self.records("csv", path="a.csv", types=typed)
        self.assertEqual(
            first,
            {
                "i": 42,
                "f": 1.5,
                "d": Decimal("0.10"),
                "b": True,
                "t": "x",
                "day": dt.date(2024, 2, 29),
                "at": dt.datetime(2024, 2, 29, 10, 30, tzinfo=dt.timezone.utc),
            },
        )
        self.assertEqual(second["at"], dt.datetime(2024, 3, 1, 8))
        self.assertIsNone(second["i"])

    def test_malformed_lines_are_rejected_with_file_line_and_reason_and_reading_goes_on(self):
        self.file("a.csv", 'id,amount\n1,10\n2,10,extra\n3,abc\n"4,\n5,50\n')
        batches = self.batches("csv", path="a.csv", types={"id": "int", "amount": "int"})
        self.assertEqual([row for batch in batches for row in batch.rows], [(1, 10)])
        self.assertEqual(
            [item for batch in batches for item in batch.rejected],
            [
                ({"line": "2,10,extra"}, "a.csv:3: expected 2 fields, got 3"),
                ({"id": "3", "amount": "abc"}, "a.csv:4: column 'amount': expected int, got 'abc'"),
                ({"line": '"4,\n5,50\n"'}, f"a.csv:5: {UNCLOSED}"),
            ],
        )

    def test_a_line_the_csv_reader_refuses_is_rejected_too(self):
        self.file("a.csv", "id\n" + "x" * 200_000 + "\n2\n")
        limit = 100_000  # the csv module's own limit (one for the process): it refuses the field itself
        self.addCleanup(csv.field_size_limit, csv.field_size_limit(limit))
        rejected = self.rejected("csv", path="a.csv", field_size_limit=limit)
        self.assertEqual(rejected, [({}, f"a.csv:2: a field is longer than field_size_limit ({limit} characters)")])
        self.assertEqual(self.records("csv", path="a.csv", field_size_limit=limit), [{"id": "2"}])
        self.file("b.csv", '"id","name"\n1,"a"\n2,b\n')  # nonnumeric: an unquoted field is a number
        batches = self.batches("csv", path="b.csv", quoting="nonnumeric")
        self.assertEqual(batches[0].rows, [(1.0, "a")])
        self.assertEqual(batches[0].rejected[0][1], "b.csv:3: not CSV: could not convert string to float: 'b'")

    def test_a_bad_header_is_an_error(self):
        self.file("empty_name.csv", "id,,name\n")
        self.file("twice.csv", "id,id\n")
        self.file("huge.csv", "x" * 200_000 + "\n")
        with self.assertRaisesRegex(OperationError, "empty_name.csv:1: column 2 of the header has no name"):
            self.batches("csv", path="empty_name.csv")
        with self.assertRaisesRegex(OperationError, "twice.csv:1: column 'id' appears twice in the header"):
            self.batches("csv", path="twice.csv")
        with self.assertRaisesRegex(
            OperationError, r"huge.csv:1: the header is not CSV: a field is longer than field_size_limit"
        ):
            self.batches("csv", path="huge.csv", field_size_limit=100_000)

    def test_text_in_another_encoding_is_refused_line_by_line_until_the_encoding_is_set(self):
        self.file("latin.csv", "id,name\n1,caf\xe9\n2,tea\n", encoding="latin-1")
        self.assertEqual(
            self.rejected("csv", path="latin.csv"),
            [({"line": "1,caf\\xe9"}, "latin.csv:2: invalid utf-8 byte 0xe9 at column 6")],
        )
        self.assertEqual(self.records("csv", path="latin.csv"), [{"id": "2", "name": "tea"}])
        self.assertEqual(
            self.records("csv", path="latin.csv", encoding="latin-1"),
            [{"id": "1", "name": "caf\xe9"}, {"id": "2", "name": "tea"}],
        )

    def test_an_empty_file_has_no_rows(self):
        self.file("empty.csv", "")
        self.assertEqual(self.batches("csv", path="empty.csv"), [])

    def test_chosen_columns_are_read_in_their_order_and_must_exist(self):
        self.file("a.csv", "id,name,amount\n1,a,10\n")
        self.assertEqual(self.batches("csv", path="a.csv", want=["amount", "id"])[0].rows, [("10", "1")])
        with self.assertRaisesRegex(OperationError, r"a.csv has no column 'price' \(it has id, name, amount\)"):
            self.batches("csv", path="a.csv", want=["price"])
        with self.assertRaisesRegex(OperationError, r"types.price: a.csv has no such column"):
            self.batches("csv", path="a.csv", types={"price": "int"})

    def test_files_of_a_folder_need_the_same_columns_unless_columns_are_chosen(self):
        self.file("in/a.csv", "id,name\n1,a\n")
        self.file("in/b.csv", "name,id,extra\nb,2,x\n")
        with self.assertRaisesRegex(OperationError, "b.csv has columns a.csv lacks: extra"):
            self.batches("csv", path="in")
        self.assertEqual(self.batches("csv", path="in", want=["id", "name"])[0].rows, [("1", "a"), ("2", "b")])
        self.file("in/b.csv", "name,id\nb,2\n")
        self.assertEqual(self.batches("csv", path="in")[0].rows, [("1", "a"), ("2", "b")])

    def test_an_incremental_read_needs_a_typed_cursor_and_keeps_only_newer_rows(self):
        self.file("a.csv", "id,name\n8,a\n9,b\n10,c\n,d\n")
        with self.assertRaisesRegex(
            OperationError, r"types.id: CSV values are text, so the cursor would compare as text"
        ):
            self.batches("csv", path="a.csv", cursor="id", after="8")
        rows = self.batches("csv", path="a.csv", cursor="id", after=8, types={"id": "int"})[0].rows
        self.assertEqual(rows, [(9, "b"), (10, "c")])
        self.assertEqual(len(self.records("csv", path="a.csv", cursor="id", types={"id": "int"})), 4)
        with self.assertRaisesRegex(OperationError, r"cursor 'id': a.csv has no such column"):
            self.batches("csv", path="a.csv", want=["name"], cursor="id", after=1, types={"id": "int"})


class ValueTypesTest(unittest.TestCase):
    def test_values_that_are_not_text_convert_too(self):
        cases = [
            ("int", 3.0, 3),
            ("int", 7, 7),
            ("float", 2, 2.0),
            ("decimal", 1.5, Decimal("1.5")),
            ("bool", 1, True),
            ("bool", False, False),
            ("text", 5, "5"),
            ("text", dt.date(2024, 1, 2), "2024-01-02"),
            ("text", {"a": 1}, '{"a": 1}'),
            ("date", dt.datetime(2024, 1, 2, 3), dt.date(2024, 1, 2)),
            ("date", dt.date(2024, 1, 2), dt.date(2024, 1, 2)),
            ("datetime", dt.date(2024, 1, 2), dt.datetime(2024, 1, 2)),
            ("datetime", dt.datetime(2024, 1, 2, 3), dt.datetime(2024, 1, 2, 3)),
        ]
        for name, value, expected in cases:
            with self.subTest(name=name, value=value):
                self.assertEqual(VALUE_TYPES[name](value), expected)

    def test_values_that_do_not_fit_raise(self):
        for name, value in [
            ("int", 1.5),
            ("int", True),
            ("float", True),
            ("decimal", True),
            ("bool", "maybe"),
            ("bool", 2),
        ]:
            with self.subTest(name=name, value=value), self.assertRaises(ValueError):
                VALUE_TYPES[name](value)


class JsonLinesReadTest(FileTestCase):
    def test_columns_come_from_the_first_object_and_bad_lines_are_rejected(self):
        self.file(
            "a.jsonl",
            'not json\n[1, 2]\n{"id": 1, "tags": ["x"]}\n\n{"id": 2}\n{"id": 3, "extra": true}\n{"id": 4,\n',
        )
        batches = self.batches("jsonl", path="a.jsonl")
        self.assertEqual(batches[0].columns, ["id", "tags"])
        self.assertEqual(batches[0].rows, [(1, ["x"])])
        reasons = [reason for _, reason in batches[0].rejected]
        self.assertEqual(len(reasons), 5)
        self.assertRegex(reasons[0], r"^a.jsonl:1: not valid JSON: Expecting value at column 1$")
        self.assertEqual(reasons[1], "a.jsonl:2: expected a JSON object, got list")
        self.assertEqual(reasons[2], "a.jsonl:5: missing field 'tags' (a NULL is written \"tags\": null)")
        self.assertEqual(
            reasons[3],
            "a.jsonl:6: unexpected field 'extra': the columns come from the first object (id, tags); "
            "list every field under `columns`",
        )
        self.assertTrue(reasons[4].startswith("a.jsonl:7: not valid JSON"))
        self.assertEqual(batches[0].rejected[3][0], {"id": 3, "extra": True})
        self.assertEqual(batches[0].rejected[0][0], {"line": "not json"})

    def test_named_columns_read_those_fields_and_types_convert_them(self):
        self.file("a.json", '{"id": "1", "at": "2024-05-01T00:00:00+00:00", "x": 1}\n{"id": 2, "at": null}\n')
        records = self.records("json_lines", path="a.json", columns=["id", "at"], types={"id": "int", "at": "datetime"})
        self.assertEqual(
            records, [{"id": 1, "at": dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)}, {"id": 2, "at": None}]
        )
        chosen = self.batches("jsonl", path="a.json", want=["x"])[0]
        self.assertEqual(
            (chosen.rows, chosen.rejected[0][1]),
            ([(1,)], "a.json:2: missing field 'x' (a NULL is written \"x\": null)"),
        )

    def test_files_of_a_folder_share_the_first_object_columns_and_extra_fields_are_still_rejected(self):
        self.file("in/a.jsonl", '{"id": 1, "name": "a"}\n')
        self.file("in/b.jsonl", '{"id": 2}\n{"id": 3, "name": "c", "extra": 0}\n')
        batch = self.batches("jsonl", path="in")[0]
        self.assertEqual(batch.rows, [(1, "a")])
        self.assertEqual(
            [reason for _, reason in batch.rejected],
            [
                "b.jsonl:1: missing field 'name' (a NULL is written \"name\": null)",
                "b.jsonl:2: unexpected field 'extra': the columns come from the first object (id, name); list every field under `columns`",
            ],
        )
        self.assertEqual(self.batches("jsonl", path="in", want=["name"])[0].rows, [("a",), ("c",)])

    def test_a_cursor_that_does_not_compare_rejects_the_row(self):
        self.file("a.jsonl", '{"id": 1}\n{"id": "two"}\n{"id": 3}\n')
        batch = self.batches("jsonl", path="a.jsonl", cursor="id", after=1)[0]
        self.assertEqual(batch.rows, [(3,)])
        self.assertEqual(batch.rejected, [({"id": "two"}, "a.jsonl:2: cursor 'id': 'two' cannot be compared with 1")])

    def test_undecodable_text_and_files_without_objects(self):
        self.file("bad.jsonl", b'{"id": 1}\n{"name": "\xff"}\n')
        self.assertEqual(
            self.rejected("jsonl", path="bad.jsonl"),
            [({"line": '{"name": "\\xff"}'}, "bad.jsonl:2: invalid utf-8 byte 0xff at column 11")],
        )
        self.file("wide.jsonl", '{"id": 1}\n'.encode("utf-16-le") + b"\x00\xd8A\x00")
        with self.assertRaisesRegex(OperationError, "wide.jsonl:2: not valid utf-16-le"):
            self.batches("jsonl", path="wide.jsonl", encoding="utf-16-le")
        self.file("none.jsonl", "oops\n")
        batches = self.batches("jsonl", path="none.jsonl")
        self.assertEqual((batches[0].columns, batches[0].rows, len(batches[0].rejected)), ([], [], 1))


class ExcelReadTest(FileTestCase):
    def workbook(self, name, rows, sheet="Sheet1", extra_sheet=None):
        import openpyxl

        book = openpyxl.Workbook()
        book.active.title = sheet
        for row in rows:
            book.active.append(row)
        if extra_sheet:
            book.create_sheet(extra_sheet).append(["other"])
        book.save(self.root / name)

    def test_the_header_names_the_columns_and_blank_rows_are_skipped(self):
        self.workbook("a.xlsx", [["id", "when", None], [1, dt.datetime(2024, 1, 2)], [], [2, None]])
        records = self.records("excel", path="a.xlsx", types={"when": "date"})
        self.assertEqual(records, [{"id": 1, "when": dt.date(2024, 1, 2)}, {"id": 2, "when": None}])

    def test_values_past_the_header_are_rejected_and_a_sheet_can_be_chosen(self):
        self.workbook("a.xlsx", [["id"], [1], [2, "stray"]], extra_sheet="Notes")
        batch = self.batches("excel", path="a.xlsx")[0]
        self.assertEqual(batch.rows, [(1,)])
        self.assertEqual(
            batch.rejected, [({"values": [2, "stray"]}, "a.xlsx:3: values beyond the 1 columns of the header")]
        )
        self.assertEqual(
            self.records("excel", path="a.xlsx", sheet="Notes", header=False, columns=["note"]), [{"note": "other"}]
        )
        with self.assertRaisesRegex(OperationError, r"a.xlsx: sheet: no sheet named 'Nope' \(sheets: Sheet1, Notes\)"):
            self.batches("excel", path="a.xlsx", sheet="Nope")

    def test_an_empty_sheet_has_no_rows(self):
        self.workbook("empty.xlsx", [])
        self.assertEqual(self.batches("excel", path="empty.xlsx"), [])

    def test_a_header_cell_without_a_name_is_an_error(self):
        self.workbook("a.xlsx", [["id", None, "name"], [1, 2, 3]])
        with self.assertRaisesRegex(OperationError, "a.xlsx:1: column 2 of the header has no name"):
            self.batches("excel", path="a.xlsx")


class ParquetReadTest(FileTestCase):
    def parquet(self, name, table):
        pyarrow.parquet.write_table(table, self.root / name)

    def test_batches_are_arrow_with_positions_and_chosen_columns(self):
        self.parquet("a.parquet", pyarrow.table({"id": [1, 2, 3], "name": ["a", "b", "c"]}))
        batches = self.batches("parquet", path="a.parquet", batch_size=2, want=["name", "id"])
        self.assertEqual([batch.to_arrow().num_rows for batch in batches], [2, 1])
        self.assertEqual(batches[1].rows, [("c", 3)])
        self.assertEqual(batches[1].position, {"file": "a.parquet", "row": 3})

    def test_an_incremental_read_filters_in_arrow(self):
        self.parquet("a.parquet", pyarrow.table({"id": [1, 2, None, 4]}))
        batches = self.batches("parquet", path="a.parquet", batch_size=2, cursor="id", after=2)
        self.assertEqual([batch.rows for batch in batches], [[(4,)]])
        with self.assertRaisesRegex(
            OperationError, r"a.parquet: cursor 'id' cannot be compared with the high-watermark 'x'"
        ):
            self.batches("parquet", path="a.parquet", cursor="id", after="x")

    def test_files_of_a_folder_need_the_same_columns(self):
        (self.root / "in").mkdir()
        self.parquet("in/a.parquet", pyarrow.table({"id": [1]}))
        self.parquet("in/b.parquet", pyarrow.table({"id": [2], "other": [0]}))
        with self.assertRaisesRegex(OperationError, "b.parquet has columns a.parquet lacks: other"):
            self.batches("parquet", path="in")


class WriteTest(FileTestCase):
    ROWS = Batch(
        ["id", "name", "ok", "at", "amount", "extra"],
        [
            (1, "a,b", True, dt.datetime(2024, 1, 2, 3, 4, tzinfo=dt.timezone.utc), Decimal("1.50"), {"k": [1]}),
            (2, None, False, None, None, None),
        ],
    )

    def test_csv_writes_a_header_text_for_every_type_and_the_null_text(self):
        self.write("csv", [self.ROWS], path="out/a.csv", null="\\N")
        self.assertEqual(
            (self.root / "out/a.csv").read_text(),
            'id,name,ok,at,amount,extra\n1,"a,b",true,2024-01-02T03:04:00+00:00,1.50,"{""k"": [1]}"\n'
            "2,\\N,false,\\N,\\N,\\N\n",
        )
        self.write("csv", [Batch(["id"], [(1,)])], path="b.csv", header=False, delimiter="\t")
        self.assertEqual((self.root / "b.csv").read_text(), "1\n")

    def test_csv_rows_that_cannot_be_written_are_refused_one_by_one(self):
        batch = Batch(["id", "name"], [(1, "caf\xe9"), (2, "\u20ac"), (3, "x")])
        results = self.write("csv", [batch], path="a.csv", encoding="latin-1")
        self.assertEqual(results[0].written, 2)
        self.assertEqual(results[0].rejected, [((2, "\u20ac"), "'\u20ac' cannot be written in latin-1")])
        self.assertEqual((self.root / "a.csv").read_text(encoding="latin-1"), "id,name\n1,caf\xe9\n3,x\n")
        results = self.write("csv", [Batch(["a"], [("x,y",), ("z",)])], path="b.csv", quoting="none")
        self.assertEqual(results[0].written, 1)
        self.assertRegex(results[0].rejected[0][1], r"^cannot be written: Error: need to escape")

    def test_csv_appends_after_a_matching_header_and_refuses_another(self):
        self.file("a.csv", "id,name\n1,a")
        self.write("csv", [Batch(["id", "name"], [(2, "b")])], path="a.csv", append=True)
        self.assertEqual((self.root / "a.csv").read_text(), "id,name\n1,a\n2,b\n")
        with self.assertRaisesRegex(
            OperationError, r"a.csv: cannot append: its header \(id, name\) differs from the columns written \(id\)"
        ):
            self.write("csv", [Batch(["id"], [(3,)])], path="a.csv", append=True)
        self.write("csv", [Batch(["id"], [(3,)])], path="a.csv", append=True, truncate=True)
        self.assertEqual((self.root / "a.csv").read_text(), "id\n3\n")
        self.write("csv", [Batch(["id"], [(4,)])], path="a.csv", append=True, header=False)
        self.assertEqual((self.root / "a.csv").read_text(), "id\n3\n4\n")
        self.assertEqual([path.name for path in self.root.iterdir()], ["a.csv"])

    def test_json_lines_write_plain_values_and_escape_outside_utf(self):
        self.write("jsonl", [self.ROWS], path="a.jsonl")
        first = json.loads((self.root / "a.jsonl").read_text().splitlines()[0])
        self.assertEqual(
            first,
            {
                "id": 1,
                "name": "a,b",
                "ok": True,
                "at": "2024-01-02T03:04:00+00:00",
                "amount": "1.50",
                "extra": {"k": [1]},
            },
        )
        self.write("jsonl", [Batch(["name"], [("caf\xe9",)])], path="b.jsonl", encoding="ascii")
        self.assertEqual((self.root / "b.jsonl").read_text(encoding="ascii"), '{"name": "caf\\u00e9"}\n')
        results = self.write("jsonl", [Batch(["v"], [(1,), (object(),)])], path="c.jsonl", append=True)
        self.assertEqual(results[0].written, 1)
        self.assertRegex(results[0].rejected[0][1], r"^cannot be written: TypeError: Object of type object")
        self.write("jsonl", [Batch(["v"], [(2,)])], path="c.jsonl", append=True)
        self.assertEqual((self.root / "c.jsonl").read_text(), '{"v": 1}\n{"v": 2}\n')

    def test_parquet_keeps_the_first_batch_types_and_refuses_rows_that_do_not_fit(self):
        batches = [
            Batch(["id", "amount"], [(1, Decimal("1.5")), (2, None)]),
            Batch(["id", "amount"], [(3, Decimal("12345.5")), ("four", Decimal("1"))]),
            Batch(["id", "amount"], []),
            Batch.from_arrow(pyarrow.table({"id": pyarrow.array([5], pyarrow.int32()), "amount": [None]})),
        ]
        results = self.write("parquet", batches, path="a.parquet", compression="zstd")
        self.assertEqual([result.written for result in results], [2, 1, 0, 1])
        self.assertEqual(results[1].rejected[0][0], ("four", Decimal("1")))
        self.assertIn("column 'id' (int64)", results[1].rejected[0][1])
        table = pyarrow.parquet.read_table(self.root / "a.parquet")
        self.assertEqual(str(table.schema.field("amount").type), "decimal128(38, 1)")
        self.assertEqual(table.column("id").to_pylist(), [1, 2, 3, 5])

    def test_parquet_mixed_columns_take_their_first_value_type_and_values_arrow_cannot_hold_are_refused(self):
        class Thing:
            pass

        thing = Thing()
        batch = Batch(["id", "thing"], [(None, thing), (1, "x"), ("2", None), ("three", None)])
        results = self.write("parquet", [batch], path="a.parquet")
        self.assertEqual(results[0].written, 2)
        self.assertEqual([row for row, _ in results[0].rejected], [(None, thing), ("three", None)])
        self.assertIn("Thing", results[0].rejected[0][1])
        self.assertIn("column 'id' (int64)", results[0].rejected[1][1])
        table = pyarrow.parquet.read_table(self.root / "a.parquet")
        self.assertEqual(table.to_pylist(), [{"id": 1, "thing": "x"}, {"id": 2, "thing": None}])
        results = self.write("parquet", [Batch(["id"], [(1,)]), Batch(["id"], [("x",), ("y",)])], path="b.parquet")
        self.assertEqual((results[1].written, len(results[1].rejected)), (0, 2))

    def test_parquet_appends_to_the_existing_rows_and_an_empty_run_writes_the_columns(self):
        self.write("parquet", [Batch(["id"], [(1,)])], path="a.parquet")
        self.write("parquet", [Batch(["id"], [(2,)])], path="a.parquet", append=True)
        self.assertEqual(pyarrow.parquet.read_table(self.root / "a.parquet").column("id").to_pylist(), [1, 2])
        self.write("parquet", [], columns=["id", "name"], path="empty.parquet")
        empty = pyarrow.parquet.read_table(self.root / "empty.parquet")
        self.assertEqual((empty.num_rows, empty.schema.names), (0, ["id", "name"]))
        with self.assertRaisesRegex(
            OperationError, r"a.parquet: cannot append: its columns \(id\) differ from the columns written \(x\)"
        ):
            self.write("parquet", [Batch(["x"], [(2,)])], path="a.parquet", append=True)

    def test_excel_writes_values_excel_can_hold_and_refuses_the_rest(self):
        import openpyxl

        batch = Batch(
            ["id", "at", "text", "other"],
            [
                (1, dt.datetime(2024, 1, 2, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))), "ok", {"a": 1}),
                (2, dt.date(2024, 1, 3), "bell\x07", None),
                (3, None, "x" * 40_000, None),
                (4, dt.time(10, 30, tzinfo=dt.timezone.utc), None, None),
            ],
        )
        results = self.write("excel", [batch], path="a.xlsx", sheet="Orders")
        self.assertEqual(results[0].written, 2)
        self.assertEqual(
            [reason for _, reason in results[0].rejected],
            [
                "text 'bell\\x07' holds control characters, which Excel cannot store",
                "text of 40,000 characters is longer than Excel's cell limit of 32,767",
            ],
        )
        sheet = openpyxl.load_workbook(self.root / "a.xlsx")["Orders"]
        rows = list(sheet.iter_rows(values_only=True))
        self.assertEqual(rows[0], ("id", "at", "text", "other"))
        self.assertEqual(rows[1], (1, dt.datetime(2024, 1, 2, 10), "ok", '{"a": 1}'))
        self.assertEqual(rows[2], (4, "10:30:00+00:00", None, None))

    def test_excel_appends_below_a_matching_header(self):
        import openpyxl

        self.write("excel", [Batch(["id"], [(1,)])], path="a.xlsx")
        self.write("excel", [Batch(["id"], [(2,)])], path="a.xlsx", append=True)
        self.write("excel", [Batch(["n"], [(9,)])], path="a.xlsx", append=True, sheet="New")
        book = openpyxl.load_workbook(self.root / "a.xlsx")
        self.assertEqual([row[0].value for row in book["Sheet1"].iter_rows()], ["id", 1, 2])
        self.assertEqual([row[0].value for row in book["New"].iter_rows()], ["n", 9])
        self.assertEqual(self.records("excel", path="a.xlsx", sheet="Sheet1"), [{"id": 1}, {"id": 2}])
        with self.assertRaisesRegex(OperationError, r"cannot append: its header \(id\) differs"):
            self.write("excel", [Batch(["other"], [(3,)])], path="a.xlsx", append=True, sheet="Sheet1")
        self.write("excel", [Batch(["id"], [(5,)])], path="b.xlsx", header=False)
        self.write("excel", [Batch(["id"], [(6,)])], path="b.xlsx", header=False, append=True, sheet="Plain")
        plain = openpyxl.load_workbook(self.root / "b.xlsx")
        self.assertEqual(
            [[row[0].value for row in plain[name].iter_rows()] for name in ("Sheet1", "Plain")], [[5], [6]]
        )


class AtomicityTest(FileTestCase):
    def test_nothing_replaces_the_file_until_finish_and_close_without_finish_leaves_it(self):
        self.file("a.csv", "id\nold\n")
        os.chmod(self.root / "a.csv", 0o640)
        target = FileTarget(Connection("csv", {"path": "a.csv"}), self.context)
        target.prepare(["id"], False, False)
        target.write(Batch(["id"], [("new",)]))
        target.commit()
        self.assertEqual((self.root / "a.csv").read_text(), "id\nold\n")
        self.assertEqual(len(list(self.root.glob(".a.csv.*.pdip-tmp"))), 1)
        target.close()
        self.assertEqual((self.root / "a.csv").read_text(), "id\nold\n")
        self.assertEqual(sorted(path.name for path in self.root.iterdir()), ["a.csv"])
        self.write("csv", [Batch(["id"], [("new",)])], path="a.csv")
        self.assertEqual((self.root / "a.csv").read_text(), "id\nnew\n")
        self.assertEqual(os.stat(self.root / "a.csv").st_mode & 0o777, 0o640)

    def test_a_batch_with_other_columns_is_an_error_and_close_is_safe_twice(self):
        target = FileTarget(Connection("jsonl", {"path": "sub/a.jsonl"}), self.context)
        target.commit()
        target.close()
        target.prepare(["id"], False, False)
        with self.assertRaisesRegex(OperationError, "a batch has columns x, the file id"):
            target.write(Batch(["x"], [(1,)]))
        self.assertEqual(target.write(Batch(["x"], [])).written, 0)
        target.close()
        target.close()
        self.assertEqual(list((self.root / "sub").iterdir()), [])

    def test_a_parquet_target_closed_before_any_row_leaves_nothing(self):
        target = FileTarget(Connection("parquet", {"path": "a.parquet"}), self.context)
        target.prepare(["id"], False, False)
        target.close()
        self.assertEqual(list(self.root.iterdir()), [])

    def test_a_writer_that_fails_to_abort_still_has_its_file_deleted(self):
        # a row group of one row: the file is begun with the first row group, here the first row
        target = FileTarget(Connection("parquet", {"path": "a.parquet", "row_group_rows": 1}), self.context)
        target.prepare(["id"], False, False)
        target.write(Batch(["id"], [(1,)]))
        with mock.patch.object(target._writer.writer, "close", side_effect=OSError("disk gone")):
            target.close()
        self.assertEqual(list(self.root.iterdir()), [])


if __name__ == "__main__":
    unittest.main()
