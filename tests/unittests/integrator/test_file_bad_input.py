"""Bad input in files: each bad line is refused with its file, line and reason, the rest is read,
and no value is NULLed or rounded on the way."""

import csv
import pickle
import sqlite3
import unittest

from pdip import Pdi
from pdip.integrator import Batch, Connection, Integration, Operation, OperationError, StateStore
from pdip.integrator.adapters import ReadRequest
from pdip.integrator.adapters.file.changes import JsonLinesChangesSource
from pdip.integrator.adapters.file.csv_raw import decode_csv, raw_batches
from pdip.integrator.adapters.file.rows import file_settings
from pdip.integrator.adapters.file.text import UNCLOSED
from pdip.integrator.adapters.file.values import VALUE_TYPES
from pdip.integrator.base import Integrator
from pdip.integrator.batch import RowLines
from pdip.integrator.changes import batch_entries
from pdip.tracking.entry import ChangeLogEntry
from tests.unittests.integrator.test_file_adapter import FileTestCase

MB = 10 * 1024 * 1024


def csv_lines(count, bad_at):
    """A header and `count` rows `i,name i`; the row on file line `bad_at` holds a byte UTF-8 lacks."""
    lines = [b"id,name\n"]
    for number in range(2, count + 2):
        lines.append(f"{number - 1},name {number - 1}".encode() + (b"\xff" if number == bad_at else b"") + b"\n")
    return b"".join(lines)


class UndecodableBytesTest(FileTestCase):
    def test_a_csv_line_with_a_byte_its_encoding_lacks_is_refused_and_the_others_are_read(self):
        self.file("a.csv", csv_lines(1000, bad_at=700))
        batches = self.batches("csv", path="a.csv", batch_size=300)
        rows = [row for batch in batches for row in batch.rows]
        self.assertEqual(len(rows), 999)
        self.assertEqual((rows[0], rows[-1]), (("1", "name 1"), ("1000", "name 1000")))
        self.assertNotIn(("699", "name 699"), rows)
        self.assertEqual(
            [item for batch in batches for item in batch.rejected],
            [({"line": "699,name 699\\xff"}, "a.csv:700: invalid utf-8 byte 0xff at column 13")],
        )

    def test_the_line_named_is_the_one_holding_the_byte_even_inside_a_quoted_field(self):
        self.file("a.csv", b'id,note\n1,"two\nlines"\n2,"caf\xc3\n\xa9"\n3,ok\n4,\xe9t\xe9\n')
        batches = self.batches("csv", path="a.csv", types={"id": "int"})
        self.assertEqual(batches[0].rows, [(1, "two\nlines"), (3, "ok")])
        self.assertEqual(
            [reason for _, reason in batches[0].rejected],
            ["a.csv:4: invalid utf-8 byte 0xc3 at column 7", "a.csv:7: invalid utf-8 byte 0xe9 at column 3"],
        )

    def test_a_quote_never_closed_is_refused_not_read_as_a_field_holding_the_lines_after_it(self):
        self.file("open.csv", b'id,name\n1,"ok"\n2,"broken\n3,fine\n')
        (batch,) = self.batches("csv", path="open.csv")
        self.assertEqual(batch.rows, [("1", "ok")])
        self.assertEqual(batch.rejected, [({"line": '2,"broken\n3,fine\n"'}, f"open.csv:3: {UNCLOSED}")])
        self.file("closed.csv", b'id,name\n1,"two\nlines"\n2,last')  # no newline at the end: nothing open
        self.assertEqual(self.batches("csv", path="closed.csv")[0].rows, [("1", "two\nlines"), ("2", "last")])

    def test_a_truncated_last_character_and_other_encodings_are_refused_by_line_too(self):
        self.file("cut.csv", b"id\n1\n\xc3")
        self.assertEqual(
            self.rejected("csv", path="cut.csv"),
            [({"line": "\\xc3"}, "cut.csv:3: invalid utf-8 byte 0xc3 at column 1")],
        )
        self.file("win.csv", b"id,name\n1,caf\xe9\n2,\x81\n")
        self.assertEqual(self.records("csv", path="win.csv", encoding="cp1252"), [{"id": "1", "name": "caf\xe9"}])
        self.assertEqual(
            [reason for _, reason in self.rejected("csv", path="win.csv", encoding="cp1252")],
            ["win.csv:3: invalid cp1252 byte 0x81 at column 3"],
        )

    def test_bytes_that_cannot_even_be_escaped_still_fail_the_file_naming_the_line(self):
        self.file("wide.csv", "id\n1\n".encode("utf-16-le") + b"\x00\xd8A\x00\n\x00")
        with self.assertRaisesRegex(OperationError, r"wide.csv:3: not valid utf-16-le \(.*\); set `encoding`"):
            self.batches("csv", path="wide.csv", encoding="utf-16-le")
        self.file("odd.csv", "id\n1\n".encode("utf-16-le") + b"A")  # half a character at the end
        with self.assertRaisesRegex(OperationError, r"odd.csv:3: not valid utf-16-le \(truncated data\)"):
            self.batches("csv", path="odd.csv", encoding="utf-16-le")

    def test_a_json_lines_line_with_a_bad_byte_is_refused_and_the_others_are_read(self):
        self.file("a.jsonl", b'{"id": 1}\n{"id": 2, "name": "\xff"}\n{"id": 3}\n')
        (batch,) = self.batches("jsonl", path="a.jsonl")
        self.assertEqual(batch.rows, [(1,), (3,)])
        self.assertEqual(
            batch.rejected,
            [({"line": '{"id": 2, "name": "\\xff"}'}, "a.jsonl:2: invalid utf-8 byte 0xff at column 20")],
        )

    def test_a_change_log_line_with_a_bad_byte_is_refused_and_the_others_are_read(self):
        entries = [ChangeLogEntry("insert", entity="t", key=key, after={"id": key}).to_json() for key in (1, 2, 3)]
        self.file("log.jsonl", "\n".join(entries).encode().replace(b'"id":2', b'"id":2,"x":"\xfe"') + b"\n")
        source = JsonLinesChangesSource(Connection("jsonl", {"path": "log.jsonl"}), self.context)
        (batch,) = list(source.read(ReadRequest(10)))
        self.assertEqual([entry.key for entry in batch_entries(batch)], [1, 3])
        self.assertEqual(len(batch.rejected), 1)
        self.assertRegex(batch.rejected[0][1], r"^log.jsonl:2: invalid utf-8 byte 0xfe at column \d+$")
        self.assertIn("\\xfe", batch.rejected[0][0]["line"])


class ByteOrderMarkTest(FileTestCase):
    """A UTF-8 file that starts with a byte order mark (Excel writes one): the mark is not text of
    the first column's name or first value."""

    BOM = b"\xef\xbb\xbf"

    def test_csv_parsed_or_passed_as_records_and_json_lines_lose_the_mark(self):
        self.file("h.csv", self.BOM + b"id,name\n1,a\n")
        (batch,) = self.batches("csv", path="h.csv")
        self.assertEqual((batch.columns, batch.rows), (["id", "name"], [("1", "a")]))
        self.file("n.csv", self.BOM + b"1,a\n")
        (batch,) = self.batches("csv", path="n.csv", header=False, columns=["id", "name"])
        self.assertEqual(batch.rows, [("1", "a")])
        for name, header in (("h.csv", True), ("n.csv", False)):
            with self.subTest(name=name):
                connection = Connection("csv", {"path": name, "header": header, "columns": ["id", "name"]})
                (raw,) = raw_batches([(self.root / name, name)], file_settings(connection), "csv", 10)
                self.assertEqual((raw.columns, raw.payload, raw.rows), (["id", "name"], b"1,a\n", [("1", "a")]))
        self.file("a.jsonl", self.BOM + b'{"id": 1}\n{"id": 2}\n')
        (batch,) = self.batches("jsonl", path="a.jsonl")
        self.assertEqual((batch.rows, batch.rejected), ([(1,), (2,)], []))

    def test_a_csv_target_appending_to_a_file_with_the_mark_reads_its_header(self):
        self.file("out.csv", self.BOM + b"id,name\n1,a\n")
        self.file("in.csv", b"id,name\n2,b\n")
        append = Integration(
            "append",
            source=Connection("csv", {"path": "in.csv"}),
            target=Connection("csv", {"path": "out.csv", "append": True}),
        )
        with Pdi(root_directory=self.root) as pdi:
            result = pdi.get(Integrator).integrate(Operation("bom", [append], executor="inline"))
        self.assertTrue(result.ok, [item.error for item in result.integrations])
        self.assertEqual((self.root / "out.csv").read_bytes(), self.BOM + b"id,name\n1,a\n2,b\n")


class RawCsvTest(FileTestCase):
    def raw(self, data, batch_size=100, **settings):
        path = self.file("raw.csv", data)
        connection = Connection("csv", {"path": "raw.csv", **settings})
        return list(raw_batches([(path, "raw.csv")], file_settings(connection), "csv", batch_size))

    def test_decoding_a_raw_batch_refuses_records_with_bad_bytes_by_their_line(self):
        (batch,) = self.raw(b'id,name\n1,a\n2,"b\n\xff"\n3,c\n')
        self.assertEqual(decode_csv(batch), [("1", "a"), ("3", "c")])
        self.assertEqual(
            batch.rejected, [({"id": "2", "name": "b\n\\xff"}, "raw.csv:4: invalid utf-8 byte 0xff at column 1")]
        )
        self.assertEqual(
            (batch.origin(0), batch.origin(1)), ({"file": "raw.csv", "line": 2}, {"file": "raw.csv", "line": 5})
        )
        (plain,) = self.raw(b"id,name\n1,a\n2,\xffb\n")
        self.assertEqual(
            (decode_csv(plain), plain.rejected[0][1]), ([("1", "a")], "raw.csv:3: invalid utf-8 byte 0xff at column 3")
        )

    def test_decoding_keeps_the_field_size_limit_of_the_source(self):
        data = b"id,name\n1," + b"x" * 2000 + b"\n2,b\n"
        (batch,) = self.raw(data, field_size_limit=1000)
        self.assertEqual(decode_csv(batch), [("2", "b")])
        self.assertEqual(batch.rejected[0][1], "raw.csv:2: a field is longer than field_size_limit (1000 characters)")
        self.addCleanup(csv.field_size_limit, csv.field_size_limit(1000))  # now the csv module refuses it itself
        (again,) = self.raw(data, field_size_limit=1000)
        self.assertEqual((decode_csv(again), again.rejected), ([("2", "b")], batch.rejected))

    def test_a_raw_batch_travels_without_what_was_decoded_from_it(self):
        (batch,) = self.raw(b"id\n1\n")
        decode_csv(batch)
        copy = pickle.loads(pickle.dumps(batch))
        self.assertEqual((copy.origins, copy.origin(0)), (None, {"file": "raw.csv", "row": 1}))


class LargeFieldsTest(FileTestCase):
    def test_ten_megabytes_in_one_field_are_read_by_default(self):
        self.file("big.csv", "id,text\n1," + "x" * MB + "\n2,y\n")
        records = self.records("csv", path="big.csv")
        self.assertEqual([(record["id"], len(record["text"])) for record in records], [("1", MB), ("2", 1)])
        self.file("big.jsonl", '{"id": 1, "text": "' + "x" * MB + '"}\n')
        self.assertEqual(len(self.records("jsonl", path="big.jsonl")[0]["text"]), MB)

    def test_a_field_over_the_limit_is_refused_with_the_setting_named(self):
        self.file("a.csv", "id,text\n1," + "x" * 2000 + "\n2,y\n")
        self.assertEqual(self.records("csv", path="a.csv", field_size_limit=1000), [{"id": "2", "text": "y"}])
        self.assertEqual(
            self.rejected("csv", path="a.csv", field_size_limit=1000)[0][1],
            "a.csv:2: a field is longer than field_size_limit (1000 characters)",
        )
        with self.assertRaisesRegex(
            OperationError, r"field_size_limit: expected a positive number of characters, got 0"
        ):
            file_settings(Connection("csv", {"path": "a.csv", "field_size_limit": 0}))


class JsonLinesFieldsTest(FileTestCase):
    def test_a_missing_field_is_refused_and_an_explicit_null_is_null(self):
        self.file("a.jsonl", '{"id": 1, "n": 2}\n{"id": 2}\n{"id": 3, "n": null}\n')
        (batch,) = self.batches("jsonl", path="a.jsonl", types={"id": "int", "n": "int"})
        self.assertEqual(batch.rows, [(1, 2), (3, None)])
        self.assertEqual(batch.rejected, [({"id": 2}, "a.jsonl:2: missing field 'n' (a NULL is written \"n\": null)")])
        (chosen,) = self.batches("jsonl", path="a.jsonl", columns=["n", "other"])
        self.assertEqual(len(chosen.rejected), 3)
        self.assertEqual(
            chosen.rejected[1][1], "a.jsonl:2: missing fields 'n', 'other' (a NULL is written \"n\": null)"
        )

    def test_a_value_that_does_not_convert_exactly_is_refused_never_rounded(self):
        self.file("a.jsonl", '{"n": 1.5}\n{"n": "abc"}\n{"n": 2.0}\n{"n": 1e300}\n')
        (batch,) = self.batches("jsonl", path="a.jsonl", types={"n": "int"})
        self.assertEqual(batch.rows, [(2,)])
        self.assertEqual(
            [reason for _, reason in batch.rejected],
            [
                "a.jsonl:1: column 'n': expected int, got 1.5",
                "a.jsonl:2: column 'n': expected int, got 'abc'",
                "a.jsonl:4: column 'n': expected int, got 1e+300",
            ],
        )


class ExactValuesTest(FileTestCase):
    def test_numbers_that_would_lose_digits_are_refused(self):
        for name, value in [
            ("int", 2.0**60),  # a float this large may already have lost digits of the text it came from
            ("int", float("nan")),
            ("float", 2**70 + 1),
            ("float", "1e999"),
            ("float", "abc"),
        ]:
            with self.subTest(name=name, value=value), self.assertRaises((ValueError, OverflowError)):
                VALUE_TYPES[name](value)
        self.assertEqual((VALUE_TYPES["float"](2**70), VALUE_TYPES["float"]("-inf")), (2.0**70, float("-inf")))
        self.assertEqual(VALUE_TYPES["int"](2.0**53 - 1), 2**53 - 1)
        with self.assertRaises(ValueError):
            VALUE_TYPES["int"](2.0**53)  # "9007199254740993" reads as this float too

    def test_a_csv_value_not_of_its_declared_type_is_refused(self):
        self.file("a.csv", "id,amount\n1,1.5\n2,2\n3,1e999\n")
        batches = self.batches("csv", path="a.csv", types={"id": "int", "amount": "float"})
        self.assertEqual(batches[0].rows, [(1, 1.5), (2, 2.0)])
        self.assertEqual(
            batches[0].rejected,
            [({"id": "3", "amount": "1e999"}, "a.csv:4: column 'amount': expected float, got '1e999'")],
        )


class OriginsTest(FileTestCase):
    def test_each_row_of_a_file_batch_knows_its_file_and_line_across_files(self):
        self.file("in/a.csv", "id\n1\n\n2\n")
        self.file("in/b.csv", "id\nx\n3\n")
        (batch,) = self.batches("csv", path="in", types={"id": "int"})
        self.assertEqual(batch.rows, [(1,), (2,), (3,)])
        self.assertEqual(
            [batch.origin(index) for index in range(3)],
            [{"file": "a.csv", "line": 2}, {"file": "a.csv", "line": 4}, {"file": "b.csv", "line": 3}],
        )
        self.assertEqual(pickle.loads(pickle.dumps(batch)).origin(2), {"file": "b.csv", "line": 3})
        (jsonl,) = self.batches("jsonl", path=self.file("a.jsonl", '{"id": 1}\n\n{"id": 2}\n'))
        self.assertEqual(jsonl.origin(1), {"file": "a.jsonl", "line": 3})

    def test_a_refused_row_is_found_by_identity_and_any_other_gives_the_batch_position(self):
        origins = RowLines([2, 5], [(0, "a.csv")])
        batch = Batch(["id"], [(1,), (2,)], position={"file": "a.csv", "row": 2}, origins=origins)
        self.assertEqual(batch.origins_of([batch.rows[1], tuple([1])]), [{"file": "a.csv", "line": 5}, batch.position])
        self.assertEqual(Batch(["id"], [(1,)], position=7).origins_of([(1,)]), [7])


class IntegrateBadFilesTest(FileTestCase):
    """Through `Integrator.integrate`, into SQLite: the run finishes, the good rows land."""

    def integrate(self, *integrations):
        with Pdi(root_directory=self.root) as pdi:
            result = pdi.get(Integrator).integrate(Operation("bad", list(integrations), executor="inline"), "bad-1")
            return result, pdi.get(StateStore).dead_letters("bad-1")

    def table(self, name):
        with sqlite3.connect(self.root / "out.db") as connection:
            return connection.execute(f"SELECT * FROM {name} ORDER BY 1").fetchall()

    def into_sqlite(self, name, source, **options):
        target = Connection("sqlite", {"database": "out.db", "table": name})
        return Integration(name, source=source, target=target, create_target=True, max_errors=10, **options)

    def test_a_bad_csv_line_among_a_thousand_is_dead_lettered_and_the_rest_lands(self):
        self.file("a.csv", csv_lines(1000, bad_at=17))
        result, letters = self.integrate(self.into_sqlite("csv_rows", Connection("csv", {"path": "a.csv"})))
        self.assertTrue(result.ok, result)
        self.assertEqual((result["csv_rows"].rows_read, result["csv_rows"].rows_written), (1000, 999))
        self.assertEqual(len(self.table("csv_rows")), 999)
        self.assertEqual(
            [(letter["row"], letter["reason"]) for letter in letters],
            [({"line": "16,name 16\\xff"}, "a.csv:17: invalid utf-8 byte 0xff at column 11")],
        )
        self.assertEqual(letters[0]["position"], {"file": "a.csv", "line": 17})  # its own line, not the batch's end

    def test_a_bad_json_lines_line_is_dead_lettered_in_rows_and_in_changes_mode(self):
        self.file(
            "a.jsonl",
            b"".join(b'{"id": %d}\n' % key if key != 900 else b'{"id": 900, "x": "\xff"}\n' for key in range(1, 1001)),
        )
        entries = [
            ChangeLogEntry("insert", entity="t", key=key, after={"id": key}).to_json().encode()
            for key in range(1, 1001)
        ]
        entries[899] = entries[899].replace(b'"id":900', b'"id":900,"x":"\xff"')  # past the first block read
        self.file("log.jsonl", b"\n".join(entries) + b"\n")
        changes = Integration(
            "log",
            source=Connection("jsonl", {"path": "log.jsonl"}),
            target=Connection("memory", {"store": "log"}),
            mode="changes",
            max_errors=10,
        )
        result, letters = self.integrate(
            self.into_sqlite("json_rows", Connection("jsonl", {"path": "a.jsonl"})), changes
        )
        self.assertTrue(result.ok, result)
        self.assertEqual((result["json_rows"].rows_written, result["log"].rows_written), (999, 999))
        self.assertEqual(len(self.table("json_rows")), 999)
        self.assertEqual(
            [letter["reason"].split(" at column")[0] for letter in letters],
            ["a.jsonl:900: invalid utf-8 byte 0xff", "log.jsonl:900: invalid utf-8 byte 0xff"],
        )

    def test_an_entry_a_replica_refuses_is_dead_lettered_at_its_own_line(self):
        def line(entry):
            return entry.to_json() + "\n"

        with sqlite3.connect(self.root / "out.db") as connection:
            connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, n INTEGER NOT NULL)")
        self.file(
            "log.jsonl",
            line(ChangeLogEntry("insert", entity="items", key=1, after={"id": 1, "name": "a", "n": 1}))
            + line(ChangeLogEntry("update", entity="items", key=9, after={"name": "not there"}))
            + line(ChangeLogEntry("insert", entity="items", key=2, after={"id": 2, "name": "b", "n": 2}))
            + line(ChangeLogEntry("update", entity="items", key=8, after={"name": "nor this"})),
        )
        replica = Integration(
            "replica",
            source=Connection("jsonl", {"path": "log.jsonl"}),
            target=Connection("sqlite", {"database": "out.db", "table": "items"}),
            mode="changes",
            max_errors=10,
        )
        result, letters = self.integrate(replica)
        self.assertTrue(result.ok, result)
        self.assertEqual(self.table("items"), [(1, "a", 1), (2, "b", 2)])
        self.assertEqual(
            [(letter["row"]["entry"]["key"], letter["position"]) for letter in letters],
            [(9, {"file": "log.jsonl", "line": 2}), (8, {"file": "log.jsonl", "line": 4})],
        )

    def test_json_lines_missing_fields_and_inexact_values_are_dead_lettered_not_nulled_or_rounded(self):
        self.file("a.jsonl", '{"id": 1, "n": 1}\n{"id": 2}\n{"id": 3, "n": 1.5}\n{"id": 4, "n": null}\n')
        source = Connection("jsonl", {"path": "a.jsonl", "types": {"id": "int", "n": "int"}})
        result, letters = self.integrate(self.into_sqlite("exact", source))
        self.assertTrue(result.ok, result)
        self.assertEqual(self.table("exact"), [(1, 1), (4, None)])
        self.assertEqual(
            [letter["reason"] for letter in letters],
            [
                "a.jsonl:2: missing field 'n' (a NULL is written \"n\": null)",
                "a.jsonl:3: column 'n': expected int, got 1.5",
            ],
        )

    def test_ten_megabyte_fields_land(self):
        self.file("big.csv", "id,text\n1," + "x" * MB + "\n")
        self.file("big.jsonl", '{"id": 1, "text": "' + "y" * MB + '"}\n')
        result, letters = self.integrate(
            self.into_sqlite("big_csv", Connection("csv", {"path": "big.csv"})),
            self.into_sqlite("big_jsonl", Connection("jsonl", {"path": "big.jsonl"})),
        )
        self.assertTrue(result.ok, result)
        self.assertEqual((len(self.table("big_csv")[0][1]), len(self.table("big_jsonl")[0][1]), letters), (MB, MB, []))

    def test_a_csv_value_not_of_its_declared_type_is_dead_lettered(self):
        self.file("a.csv", "id,amount\n1,10\n2,1.5\n3,abc\n")
        source = Connection("csv", {"path": "a.csv", "types": {"id": "int", "amount": "int"}})
        result, letters = self.integrate(self.into_sqlite("typed", source))
        self.assertEqual((result["typed"].rows_written, self.table("typed")), (1, [(1, 10)]))
        self.assertEqual(
            [letter["reason"] for letter in letters],
            ["a.csv:3: column 'amount': expected int, got '1.5'", "a.csv:4: column 'amount': expected int, got 'abc'"],
        )

    def test_a_row_the_target_refuses_is_dead_lettered_at_its_file_and_line(self):
        with sqlite3.connect(self.root / "out.db") as connection:
            connection.execute("CREATE TABLE strict_target (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        self.file("a.csv", "id,name\n1,a\n2,\n\n3,c\n4,\n")
        source = Connection("csv", {"path": "a.csv", "types": {"id": "int"}})
        result, letters = self.integrate(self.into_sqlite("strict_target", source, batch_size=100))
        self.assertEqual((result["strict_target"].rows_written, self.table("strict_target")), (2, [(1, "a"), (3, "c")]))
        self.assertEqual(
            [(letter["position"], letter["row"]) for letter in letters],
            [
                ({"file": "a.csv", "line": 3}, {"id": 2, "name": None}),
                ({"file": "a.csv", "line": 6}, {"id": 4, "name": None}),
            ],
        )
        self.assertIn("NOT NULL", letters[0]["reason"])

    def test_a_policy_that_keeps_every_row_keeps_their_origins_and_one_that_drops_rows_does_not(self):
        with sqlite3.connect(self.root / "out.db") as connection:
            for table in ("redacted", "dropped"):
                connection.execute(f"CREATE TABLE {table} (id INTEGER, name TEXT NOT NULL, secret TEXT)")
        self.file("a.csv", "id,name,secret\n1,a,s\n2,,s\n3,c,s\n")
        self.file("redact.yml", "rules:\n  - column: secret\n    action: redact\n")
        self.file("drop.yml", "rules:\n  - column: id\n    action: drop_record\n    equals: 3\n")
        source = Connection("csv", {"path": "a.csv", "types": {"id": "int"}})
        result, letters = self.integrate(
            self.into_sqlite("redacted", source, policy="redact.yml"),
            self.into_sqlite("dropped", source, policy="drop.yml"),
        )
        self.assertEqual((result["redacted"].rows_written, result["dropped"].rows_written), (2, 1))
        self.assertEqual(self.table("redacted"), [(1, "a", "<redacted>"), (3, "c", "<redacted>")])
        self.assertEqual(
            [letter["position"] for letter in letters], [{"file": "a.csv", "line": 3}, {"file": "a.csv", "row": 3}]
        )

    def test_an_integer_the_target_cannot_hold_is_dead_lettered_not_a_failed_run(self):
        self.file("a.jsonl", f'{{"id": 1}}\n{{"id": {2**70}}}\n')
        result, letters = self.integrate(self.into_sqlite("wide", Connection("jsonl", {"path": "a.jsonl"})))
        self.assertTrue(result.ok, result)
        self.assertEqual(self.table("wide"), [(1,)])
        self.assertEqual((letters[0]["position"], letters[0]["row"]["id"]), ({"file": "a.jsonl", "line": 2}, 2**70))
        self.assertIn("too large", letters[0]["reason"])


if __name__ == "__main__":
    unittest.main()
