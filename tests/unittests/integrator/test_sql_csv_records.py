"""CSV records handed to a SQL target as bytes (`file_csv_raw`): found without parsing, decoded
like the parsing reader when the target needs values."""

import tempfile
import unittest
from pathlib import Path

from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.file import csv_raw as file_csv_raw
from pdip.integrator.adapters.file.rows import FileSource, file_settings
from pdip.integrator.adapters.file.text import UNCLOSED
from pdip.integrator.errors import OperationError
from pdip.integrator.models import Connection
from pdip.integrator.results import WorkerContext

CSV = ("csv",)


class CsvRecordsTest(unittest.TestCase):
    def setUp(self):
        self.folder = Path(tempfile.mkdtemp(prefix="pdip-csv-raw-"))

    def read(self, files: dict[str, bytes], batch_size: int = 100, **settings):
        for name, data in files.items():
            (self.folder / name).write_bytes(data)
        path = next(iter(files)) if len(files) == 1 else "*.csv"
        source = FileSource(Connection("csv", {"path": path, **settings}), WorkerContext("unit", self.folder))
        return list(source.read(ReadRequest(batch_size, accept=CSV)))

    def test_plain_lines_are_counted_in_one_pass_and_passed_as_they_are(self):
        batches = self.read({"a.csv": b"id,name\n1,x\n2,y\n3,z"}, batch_size=2)
        self.assertEqual([len(batch) for batch in batches], [2, 1])
        self.assertEqual([batch.payload for batch in batches], [b"1,x\n2,y\n", b"3,z\n"])
        self.assertEqual(batches[1].position, {"file": "a.csv", "row": 3})
        self.assertEqual((batches[0].columns, batches[0].raw_format), (["id", "name"], "csv"))
        self.assertEqual(batches[1].rows, [("3", "z")])

    def test_quoted_fields_may_span_lines_and_blank_lines_are_left_out(self):
        data = b'id,note\n1,"a\n\nb"\n\n2,"say ""hi"""\r\n3,\n'
        batches = self.read({"q.csv": data}, batch_size=2)
        self.assertEqual([len(batch) for batch in batches], [2, 1])
        self.assertEqual(batches[0].payload, b'1,"a\n\nb"\n2,"say ""hi"""\r\n')
        self.assertEqual(batches[0].rows, [("1", "a\n\nb"), ("2", 'say "hi"')])
        self.assertEqual(batches[1].rows, [("3", None)])
        self.assertEqual(batches[0].layout["lines"], [2, 6])

    def test_a_quote_left_open_ends_the_file_as_one_record_which_is_refused(self):
        batches = self.read({"open.csv": b'id,note\n0,ok\n1,"never closed\n2,x\n'})
        self.assertEqual(len(batches[0]), 2)  # the target's COPY refuses the batch: its rows are decoded
        self.assertEqual(batches[0].rows, [("0", "ok")])
        self.assertEqual(batches[0].rejected, [({"id": "1", "note": "never closed\n2,x\n"}, f"open.csv:3: {UNCLOSED}")])

    def test_decoding_reports_malformed_records_with_their_file_and_line(self):
        plain = self.read({"bad.csv": b"id,name\n1,x\n2\n3,y,z\n4,w\n"})[0]
        self.assertEqual(plain.rows, [("1", "x"), ("4", "w")])
        self.assertEqual(
            plain.rejected,
            [
                ({"id": "2"}, "bad.csv:3: expected 2 fields, got 1"),
                ({"id": "3", "name": "y"}, "bad.csv:4: expected 2 fields, got 3"),
            ],
        )
        quoted = self.read({"badq.csv": b'id,name\n\n1,"x"\n2\n'})[0]
        self.assertEqual(quoted.rows, [("1", "x")])
        self.assertEqual(quoted.rejected, [({"id": "2"}, "badq.csv:4: expected 2 fields, got 1")])
        huge = self.read({"huge.csv": b"id,name\n1," + b"x" * 200_000 + b"\n2,y\n"}, field_size_limit=100_000)[0]
        self.assertEqual(huge.rows, [("2", "y")])
        self.assertEqual(
            huge.rejected, [({}, "huge.csv:2: a field is longer than field_size_limit (100000 characters)")]
        )

    def test_files_of_a_glob_each_get_their_own_batches_with_their_column_order(self):
        batches = self.read({"1.csv": b"a,b\n1,2\n", "2.csv": b"b,a\n3,4\n"})
        self.assertEqual([batch.columns for batch in batches], [["a", "b"], ["b", "a"]])
        self.assertEqual(
            [batch.position for batch in batches], [{"file": "1.csv", "row": 1}, {"file": "2.csv", "row": 1}]
        )

    def test_files_whose_columns_differ_are_named(self):
        with self.assertRaises(OperationError) as missing:
            self.read({"1.csv": b"a,b\n1,2\n", "2.csv": b"a\n3\n"})
        self.assertIn("2.csv has no column 'b' (it has a)", str(missing.exception))
        for name in ("1.csv", "2.csv"):
            (self.folder / name).unlink()
        with self.assertRaises(OperationError) as extra:
            self.read({"1.csv": b"a\n1\n", "2.csv": b"a,c\n3,4\n"})
        self.assertIn("2.csv has columns 1.csv lacks: c", str(extra.exception))

    def test_headers_columns_and_empty_files(self):
        self.assertEqual(self.read({"empty.csv": b""}), [])
        self.assertEqual(self.read({"late.csv": b"\n\nid\n1\n"})[0].rows, [("1",)])
        named = self.read({"n.csv": b"x,y\n1,2\n"}, columns=["p", "q"])
        self.assertEqual(named[0].columns, ["p", "q"])
        headless = self.read({"h.csv": b"1,2\n"}, header=False, columns=["p", "q"])
        self.assertEqual(headless[0].rows, [("1", "2")])
        with self.assertRaises(OperationError) as wrong:
            self.read({"w.csv": b"x,y,z\n1,2,3\n"}, columns=["p", "q"])
        self.assertIn("w.csv:1: the header has 3 fields but `columns` names 2", str(wrong.exception))
        with self.assertRaises(OperationError) as undecodable:
            self.read({"u.csv": b"\xff\xfe,b\n"})
        self.assertIn("u.csv:1: the header is not CSV", str(undecodable.exception))
        with self.assertRaises(OperationError) as unnamed:
            self.read({"e.csv": b"a,,c\n"})
        self.assertIn("column 2 of the header has no name", str(unnamed.exception))

    def test_only_reads_that_need_no_values_pass_through(self):
        def passes(request=None, **settings) -> bool:
            request = request or ReadRequest(10, accept=CSV)
            settings = file_settings(Connection("csv", {"path": "x.csv", **settings}))
            return file_csv_raw.passes_through(settings, request)

        self.assertTrue(passes())
        self.assertTrue(passes(quoting="all", encoding="UTF8"))
        self.assertFalse(passes(encoding="ascii"))  # the parsing reader refuses each line with a byte over 127
        self.assertFalse(passes(ReadRequest(10)))
        self.assertFalse(passes(types={"id": "int"}))
        self.assertFalse(passes(ReadRequest(10, columns=["id"], accept=CSV)))
        self.assertFalse(passes(ReadRequest(10, cursor="id", accept=CSV)))
        self.assertFalse(passes(quoting="none"))
        self.assertFalse(passes(encoding="latin-1"))
        typed = self.read({"t.csv": b"id\n1\n"}, types={"id": "int"})
        self.assertFalse(typed[0].is_raw)
        self.assertEqual(typed[0].rows, [(1,)])


if __name__ == "__main__":
    unittest.main()


class FileResumeTest(unittest.TestCase):
    """A file source resumed after a position reads exactly what comes after it, in every format."""

    def setUp(self):
        self.folder = Path(tempfile.mkdtemp(prefix="pdip-file-resume-"))
        for name, first in (("a", 1), ("b", 11)):
            lines = [f"{i},n{i}\n" for i in range(first, first + 10)]
            text = "id,name\n" + "".join(lines[:5]) + "\n" + "".join(lines[5:])  # a blank line is no record
            (self.folder / f"{name}.csv").write_text(text)

    def ids(self, request: ReadRequest, kind: str = "csv", path: str = "*.csv", **settings) -> list[int]:
        source = FileSource(Connection(kind, {"path": path, **settings}), WorkerContext("unit", self.folder))
        return [int(row[0]) for batch in source.read(request) for row in batch.rows]

    def test_csv_passed_through_or_parsed_continues_after_the_position(self):
        resume = {"file": "a.csv", "row": 7}
        passed = self.ids(ReadRequest(4, accept=CSV, resume=resume))
        parsed = self.ids(ReadRequest(4, resume=resume), types={"id": "int"})
        self.assertEqual(passed, list(range(8, 21)))
        self.assertEqual(parsed, list(range(8, 21)))
        self.assertEqual(self.ids(ReadRequest(4, accept=CSV, resume={"file": "b.csv", "row": 10})), [])

    def test_a_file_gone_since_is_passed_over(self):
        self.assertEqual(self.ids(ReadRequest(4, resume={"file": "a0.csv", "row": 3})), list(range(11, 21)))
        self.assertEqual(self.ids(ReadRequest(4, resume=None)), list(range(1, 21)))

    def test_jsonl_and_parquet_continue_after_the_position(self):
        (self.folder / "rows.jsonl").write_text("".join(f'{{"id": {i}}}\n' for i in range(1, 8)))
        self.assertEqual(
            self.ids(ReadRequest(3, resume={"file": "rows.jsonl", "row": 5}), "jsonl", "rows.jsonl"), [6, 7]
        )
        pyarrow_parquet = __import__("pyarrow.parquet").parquet
        pyarrow_parquet.write_table(__import__("pyarrow").table({"id": list(range(1, 11))}), self.folder / "r.parquet")
        resumed = self.ids(ReadRequest(3, resume={"file": "r.parquet", "row": 4}), "parquet", "r.parquet")
        self.assertEqual(resumed, [5, 6, 7, 8, 9, 10])
        source = FileSource(Connection("parquet", {"path": "r.parquet"}), WorkerContext("unit", self.folder))
        positions = [batch.position for batch in source.read(ReadRequest(3, resume={"file": "r.parquet", "row": 4}))]
        self.assertEqual(
            positions,
            [{"file": "r.parquet", "row": 6}, {"file": "r.parquet", "row": 9}, {"file": "r.parquet", "row": 10}],
        )
