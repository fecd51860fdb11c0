import datetime as dt
import json
import os
import tempfile
import unittest
from decimal import Decimal
from pathlib import Path
from unittest import mock

import sqlalchemy as sa

from pdip.tracking import JsonLinesExporter, SqlExporter, TrackedDict, read_json_lines, tracking_actor
from pdip.tracking.exporters import BatchingExporter
from pdip.tracking.table import change_log_table, row_to_entry


class Failing(BatchingExporter):
    """Fails its first `failures` writes, then keeps what it is given."""

    def __init__(self, failures, **options):
        super().__init__(**options)
        self.failures = failures
        self.batches = []

    def _write(self, batch):
        if self.failures:
            self.failures -= 1
            raise OSError("disk full")
        self.batches.append([entry.key for entry in batch])


class BatchingTest(unittest.TestCase):
    def test_writes_when_a_batch_is_full_and_on_flush(self):
        exporter = Failing(0, batch_size=2)
        cart = TrackedDict(observers=[exporter])
        for key in "abc":
            cart[key] = 1
        self.assertEqual((exporter.batches, exporter.pending), ([["a", "b"]], 1))
        exporter.flush()
        self.assertEqual((exporter.batches[-1], exporter.pending, exporter.written), (["c"], 0, 3))

    def test_writes_when_the_oldest_entry_is_older_than_max_delay(self):
        exporter = Failing(0, batch_size=100, max_delay=0.0)
        TrackedDict(observers=[exporter])["a"] = 1
        self.assertEqual(exporter.batches, [["a"]])

    def test_a_failed_write_keeps_the_batch_and_waits_for_another_batch_before_trying_again(self):
        exporter = Failing(1, batch_size=2)
        cart = TrackedDict(observers=[exporter], logger=mock.Mock())
        for key in "abc":
            cart[key] = 1
        self.assertEqual((exporter.batches, exporter.pending), ([], 3))  # one try, at "b"
        self.assertEqual(cart.tracker.observer_errors, 1)
        cart["d"] = 1
        self.assertEqual(exporter.batches, [["a", "b", "c", "d"]])

    def test_too_many_waiting_entries_drop_the_oldest(self):
        exporter = Failing(5, batch_size=2, max_pending=3)
        cart = TrackedDict(observers=[exporter], logger=mock.Mock())
        for key in "abcdefg":
            cart[key] = 1
        self.assertEqual(exporter.dropped, 4)
        exporter.failures = 0
        exporter.flush()
        self.assertEqual(exporter.batches, [["e", "f", "g"]])

    def test_close_flushes_once_and_a_closed_exporter_refuses_entries(self):
        with Failing(0, batch_size=10) as exporter:
            TrackedDict(observers=[exporter])["a"] = 1
        exporter.close()
        self.assertEqual(exporter.batches, [["a"]])
        with self.assertRaisesRegex(ValueError, "is closed"):
            exporter(None)

    def test_batch_size_must_be_positive(self):
        with self.assertRaisesRegex(ValueError, "batch_size is a number of entries"):
            Failing(0, batch_size=0)

    def test_the_base_has_no_writer(self):
        exporter = BatchingExporter()
        exporter.pending  # noqa: B018
        exporter._pending.append(object())
        with self.assertRaises(NotImplementedError):
            exporter.flush()


class RefusalTest(unittest.TestCase):
    """An entry holding a value no change log can hold is refused, logged and counted; it never
    blocks the entries after it (pydatatracker's exporters raised at every later flush)."""

    def test_an_unwritable_value_is_refused_and_the_exporter_goes_on(self):
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        path = Path(folder.name) / "changes.jsonl"
        logger = mock.Mock()
        exporter = JsonLinesExporter(path, batch_size=2, logger=logger)
        cart = TrackedDict(name="cart", observers=[exporter])
        cart["a"] = 1
        cart["secret"] = object()  # no change log holds it
        cart["b"] = 2
        inner = []
        loop = (inner,)
        inner.append(loop)  # a tuple that contains itself
        cart["loop"] = loop
        cart["c"] = 3
        exporter.close()
        self.assertEqual([entry.key for entry in read_json_lines(path)], ["a", "b", "c"])
        self.assertEqual((exporter.refused, exporter.written, cart.tracker.observer_errors), (2, 3, 0))
        message, *arguments = logger.warning.call_args_list[0].args
        self.assertEqual(
            message % tuple(arguments),
            f"{exporter!r} refused change 2 (set secret): TypeError: object values cannot be written to a "
            "change log; convert it first; the exporter goes on",
        )
        self.assertIn("RecursionError", logger.warning.call_args_list[1].args[-2])

    def test_entries_are_written_as_they_were_when_they_arrived(self):
        exporter = JsonLinesExporter(Path(tempfile.mkdtemp()) / "changes.jsonl", batch_size=10)
        self.addCleanup(exporter.close)
        tags = ["new"]
        cart = TrackedDict(observers=[exporter])
        cart["tags"] = tags
        tags.append("changed later")  # the entry refers to the list it was given
        exporter.flush()
        self.assertEqual([entry.after for entry in read_json_lines(exporter.path)], [["new"]])


class JsonLinesExporterTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.path = Path(self.folder.name) / "logs" / "changes.jsonl"

    def tearDown(self):
        self.folder.cleanup()

    def test_appends_one_line_per_entry_that_reads_back_with_types(self):
        exporter = JsonLinesExporter(self.path, batch_size=2)
        cart = TrackedDict(name="cart", observers=[exporter])
        with tracking_actor("ada"):
            cart["price"] = Decimal("9.99")
            cart["when"] = dt.date(2026, 1, 2)
        cart["n"] = 3
        self.assertEqual(len(self.path.read_text().splitlines()), 2)  # the third waits
        exporter.close()
        self.assertEqual(list(read_json_lines(self.path)), cart.tracking_changes())
        self.assertEqual(json.loads(self.path.read_text().splitlines()[0])["actor"], "ada")
        again = JsonLinesExporter(self.path)
        with again:
            again(cart.last_change())
        self.assertEqual(len(list(read_json_lines(self.path))), 4)  # appended, not overwritten
        self.assertIn("changes.jsonl", repr(again))

    def test_flush_fsyncs_unless_told_not_to(self):
        for wanted, calls in ((True, 1), (False, 0)):
            with self.subTest(fsync=wanted), mock.patch("pdip.tracking.exporters.os.fsync") as fsync:
                exporter = JsonLinesExporter(self.path, fsync=wanted)
                TrackedDict(observers=[exporter])["a"] = 1
                exporter.flush()
                exporter.close()
                self.assertEqual(fsync.call_count, calls)

    def test_closing_without_entries_creates_no_file(self):
        JsonLinesExporter(self.path).close()
        self.assertFalse(self.path.exists())

    def test_blank_lines_are_skipped_when_reading(self):
        exporter = JsonLinesExporter(self.path)
        TrackedDict(observers=[exporter])["a"] = 1
        exporter.close()
        with open(self.path, "a", encoding="utf-8") as file:
            file.write("\n   \n")
        self.assertEqual(len(list(read_json_lines(self.path))), 1)


class SqlExporterTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.url = f"sqlite:///{os.path.join(self.folder.name, 'changes.db')}"

    def tearDown(self):
        self.folder.cleanup()

    def rows(self, engine, table="pdip_change_log"):
        definition = change_log_table(sa.MetaData(), table)
        with engine.connect() as connection:
            return [row_to_entry(row._mapping) for row in connection.execute(sa.select(definition))]

    def test_writes_entries_in_one_transaction_per_batch(self):
        engine = sa.create_engine(self.url)
        exporter = SqlExporter(engine, create_table=True, batch_size=3)
        statements = []
        sa.event.listen(engine, "commit", lambda connection: statements.append("commit"))
        cart = TrackedDict(name="cart", observers=[exporter])
        for number in range(7):
            cart[f"k{number}"] = {"n": Decimal(number)}
        exporter.close()
        stored = self.rows(engine)
        self.assertEqual(statements, ["commit"] * 3)
        self.assertEqual([e.key for e in stored], [f"k{number}" for number in range(7)])
        self.assertEqual(stored[2].after, {"n": Decimal(2)})
        self.assertEqual([e.id for e in stored], [e.id for e in cart.tracking_changes()])
        engine.dispose()

    def test_a_url_gives_the_exporter_its_own_engine_and_a_table_name(self):
        exporter = SqlExporter(self.url, table="audit_trail", create_table=True)
        TrackedDict(observers=[exporter])["a"] = 1
        exporter.close()
        engine = sa.create_engine(self.url)
        self.assertEqual([e.key for e in self.rows(engine, "audit_trail")], ["a"])
        self.assertIn("audit_trail", repr(exporter))
        engine.dispose()

    def test_a_missing_table_fails_the_flush_and_keeps_the_batch(self):
        exporter = SqlExporter(self.url, batch_size=1)
        cart = TrackedDict(observers=[exporter], logger=mock.Mock())
        cart["a"] = 1
        self.assertEqual((exporter.pending, cart.tracker.observer_errors), (1, 1))
        exporter.table.metadata.create_all(exporter.engine)
        exporter.flush()
        self.assertEqual([e.key for e in self.rows(exporter.engine)], ["a"])
        exporter.close()


if __name__ == "__main__":
    unittest.main()
