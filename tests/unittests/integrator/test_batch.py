"""Batch: rows, Arrow and raw payloads, decoded on demand and pickled cheaply."""

import pickle
import unittest

import pyarrow

from pdip.integrator.batch import DECODERS, Batch, register_decoder


def _semicolons(batch: Batch) -> list[tuple]:
    """A toy wire format: rows separated by newlines, values by semicolons."""
    return [tuple(line.split(";")) for line in batch.payload.decode().splitlines()]


class RawBatchTest(unittest.TestCase):
    def setUp(self):
        register_decoder("semicolons", _semicolons)
        self.addCleanup(DECODERS.pop, "semicolons")

    def raw(self, **extra) -> Batch:
        return Batch.raw(["a", "b"], "semicolons", b"1;x\n2;y\n", 2, position=2, **extra)

    def test_the_length_is_known_without_decoding(self):
        batch = self.raw()
        self.assertEqual(len(batch), 2)
        self.assertTrue(batch.is_raw)
        self.assertIsNone(batch._rows)
        self.assertEqual(repr(batch), "Batch(2 rows x 2 columns, semicolons: a, b)")

    def test_rows_arrow_and_dicts_decode_once_through_the_registered_decoder(self):
        batch = self.raw()
        decoded = batch.rows
        self.assertEqual(decoded, [("1", "x"), ("2", "y")])
        self.assertIs(batch.rows, decoded)  # decoded once: a second look gives the same list
        self.assertEqual(batch.to_dicts(), [{"a": "1", "b": "x"}, {"a": "2", "b": "y"}])
        self.assertEqual(batch.to_arrow().column("b").to_pylist(), ["x", "y"])
        self.assertEqual(list(batch), [("1", "x"), ("2", "y")])

    def test_a_pickled_raw_batch_carries_its_payload_and_metadata_but_not_what_was_decoded(self):
        batch = self.raw(layout={"types": [23, 25]}, types=("int", "text"), partition="2/4")
        self.assertEqual(len(batch.rows), 2)  # decoded here; the copy must not carry it
        copy = pickle.loads(pickle.dumps(batch))
        self.assertIsNone(copy._rows)
        self.assertIsNone(copy._arrow)
        self.assertEqual(
            (copy.payload, copy.raw_format, copy.layout, copy.types, copy.partition, copy.position, len(copy)),
            (b"1;x\n2;y\n", "semicolons", {"types": [23, 25]}, ("int", "text"), "2/4", 2, 2),
        )
        self.assertEqual(copy.rows, [("1", "x"), ("2", "y")])
        self.assertLess(len(pickle.dumps(batch)), len(batch.payload) + 400)

    def test_decoders_named_by_module_are_imported_on_first_use(self):
        register_decoder("semicolons", f"{__name__}:_semicolons")
        self.assertEqual(self.raw().rows[0], ("1", "x"))
        self.assertIs(DECODERS["semicolons"], _semicolons)

    def test_an_unknown_format_says_which_ones_are_known(self):
        batch = Batch.raw(["a"], "morse", b"...", 1)
        with self.assertRaises(ValueError) as caught:
            batch.to_dicts()
        self.assertIn("no decoder for raw batch format 'morse'", str(caught.exception))
        self.assertIn("postgresql-copy-binary", str(caught.exception))

    def test_a_batch_holds_exactly_one_form(self):
        with self.assertRaisesRegex(ValueError, "exactly one of"):
            Batch(["a"])
        with self.assertRaisesRegex(ValueError, "exactly one of"):
            Batch(["a"], [(1,)], payload=b"1", raw_format="x", count=1)
        with self.assertRaisesRegex(ValueError, "raw_format, its payload and its row count"):
            Batch(["a"], payload=b"1", count=1)
        with self.assertRaisesRegex(ValueError, "raw_format, its payload and its row count"):
            Batch(["a"], payload=b"1", raw_format="x")


class RowBatchTest(unittest.TestCase):
    def test_rows_and_arrow_batches_keep_working_and_pickle_whole(self):
        rows = Batch(["id", "name"], [(1, "a"), (2, None)], position=2)
        self.assertFalse(rows.is_raw)
        self.assertIsNone(rows.partition)
        self.assertEqual(rows.to_arrow().column("id").to_pylist(), [1, 2])
        copy = pickle.loads(pickle.dumps(rows))
        self.assertEqual((copy.rows, copy.position, copy.columns), ([(1, "a"), (2, None)], 2, ["id", "name"]))
        arrow = Batch.from_arrow(pyarrow.table({"x": [1, 2, 3]}))
        self.assertEqual((len(arrow), arrow.rows), (3, [(1,), (2,), (3,)]))
        self.assertEqual(len(pickle.loads(pickle.dumps(arrow))), 3)
        empty = Batch(["x"], [])
        self.assertEqual(empty.to_arrow().num_rows, 0)
        frame = Batch.from_pandas(rows.to_pandas(), position=7)
        self.assertEqual((frame.rows, frame.position), ([(1, "a"), (2, None)], 7))


if __name__ == "__main__":
    unittest.main()


class ChangeLogBatchPickleTest(unittest.TestCase):
    def test_a_change_log_batch_travels_as_tuples_and_comes_back_as_the_same_entries(self):
        from pdip.integrator.changes import batch_entries, entries_batch
        from pdip.tracking import ChangeLogEntry

        entries = [
            ChangeLogEntry("insert", entity="t", key=1, after={"id": 1}),
            ChangeLogEntry("delete", entity="t", key=2, before={"id": 2}, extra={"why": "x"}),
        ]
        batch = entries_batch(entries, position={"lsn": 9})
        batch.partition = "p1"
        state = batch.__getstate__()
        self.assertIsNone(state["_rows"])
        self.assertEqual([row[-2] for row in state["entries"]], [entry.id for entry in entries])
        back = pickle.loads(pickle.dumps(batch))
        self.assertEqual(batch_entries(back), entries)
        self.assertEqual((back.position, back.partition), ({"lsn": 9}, "p1"))

    def test_a_one_column_batch_of_other_values_is_pickled_as_rows(self):
        batch = Batch(["entry"], [("not an entry",)])
        self.assertEqual(batch.__getstate__()["_rows"], [("not an entry",)])
        self.assertEqual(pickle.loads(pickle.dumps(batch)).rows, [("not an entry",)])
