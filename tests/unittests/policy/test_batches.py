import unittest
from collections import deque

import pyarrow as pa

from pdip.policy import REDACTED, Policy
from pdip.policy.hashing import ValueHasher
from tests.unittests.policy.support import SALT, PolicyFilesTestCase

RULES = """\
rules:
  - table: customers
    column: email
    action: hash
  - table: customers
    column: notes
    action: drop
  - table: customers
    column: phone
    action: redact
  - table: customers
    column: deleted_at
    action: drop_record
  - table: customers
    column: kind
    action: drop_record
    equals: test
  - table: archive
    action: drop_record
  - table: customers
    field: profile.nickname
    action: drop_record
    equals: robot
"""


def batch():
    return {
        "id": [1, 2, 3, 4],
        "email": ["a@x", "b@x", "a@x", None],
        "notes": ["n1", "n2", "n3", "n4"],
        "phone": ["1", None, "3", "4"],
        "deleted_at": [None, None, "2026", None],
        "kind": ["real", "test", "real", "real"],
        "api_key": ["k1", "k2", "k3", "k4"],
    }


def same_memory(column, other):
    """Whether two Arrow columns share their buffers (one is not a copy of the other)."""

    def addresses(chunked):
        return [buffer.address for chunk in chunked.chunks for buffer in chunk.buffers() if buffer is not None]

    return addresses(column) == addresses(other)


class BatchTestCase(PolicyFilesTestCase):
    def setUp(self):
        super().setUp()
        self.policy = Policy.load(self.write("p.yml", RULES), salt=SALT)
        self.hash = ValueHasher(SALT)

    def expected(self):
        return {
            "id": [1, 4],
            "email": [self.hash("a@x"), None],
            "phone": [REDACTED, REDACTED],
            "deleted_at": [None, None],
            "kind": ["real", "real"],
            "api_key": [REDACTED, REDACTED],
        }


class ColumnsTest(BatchTestCase):
    def test_each_column_is_handled_whole_and_rows_are_dropped(self):
        given = batch()
        kept = self.policy.apply_batch(given, "table:customers")
        self.assertEqual(kept, self.expected())
        self.assertEqual(given, batch())  # untouched
        self.assertEqual(
            self.policy.counters,
            {
                "drop": {"table:customers": 4},
                "drop_record": {"table:customers": 2},
                "hash": {"table:customers": 4},
                "redact": {"table:customers": 8},
            },
        )

    def test_allowed_columns_are_passed_on_without_copying(self):
        given = {"id": [1, 2], "phone": ["1", "2"]}
        kept = self.policy.apply_batch(given, "table:customers")
        self.assertIs(kept["id"], given["id"])
        self.assertEqual(kept["phone"], [REDACTED, REDACTED])

    def test_columns_of_nested_values_are_looked_into(self):
        given = {
            "id": [1, 2, 3],
            "profile": [{"nickname": "ada", "token": "t"}, None, {"nickname": "robot"}],
            "tags": [["a"], ["b"], []],
        }
        kept = self.policy.apply_batch(given, "table:customers")
        self.assertEqual(
            kept, {"id": [1, 2], "profile": [{"nickname": "ada", "token": REDACTED}, None], "tags": [["a"], ["b"]]}
        )
        plain = {"profile": [{"nickname": "ada"}]}
        self.assertIs(self.policy.apply_batch(plain, "table:customers")["profile"], plain["profile"])

    def test_a_scope_that_drops_every_record(self):
        self.assertEqual(self.policy.apply_batch(batch(), "table:archive"), {name: [] for name in batch()})
        self.assertEqual(self.policy.counters, {"drop_record": {"table:archive": 4}})

    def test_an_empty_batch_and_column_names_that_are_not_text(self):
        self.assertEqual(self.policy.apply_batch({}, "table:customers"), {})
        self.assertEqual(Policy.default().apply_batch({1: ["a"]}), {1: ["a"]})

    def test_columns_of_other_kinds_of_sequence(self):
        kept = self.policy.apply_batch({"phone": ("1", None)}, "table:customers")
        self.assertEqual(kept, {"phone": [REDACTED, None]})
        rows = {"id": deque([1, 2]), "deleted_at": deque([None, "x"]), "kind": ("test", "real")}
        self.assertEqual(self.policy.apply_batch(rows, "table:customers"), {"id": [], "deleted_at": [], "kind": []})

    def test_rows_are_dropped_whether_few_or_many(self):
        for share in (2, 50):
            with self.subTest(every=share):
                rows = 400
                given = {
                    "id": list(range(rows)),
                    "kind": ["test" if row % share == 0 else "real" for row in range(rows)],
                    "deleted_at": [None] * rows,
                }
                kept = self.policy.apply_batch(given, "table:customers")
                self.assertEqual(kept["id"], [row for row in range(rows) if row % share])
                self.assertEqual(kept["deleted_at"], [None] * len(kept["id"]))

    def test_something_else_is_a_type_error(self):
        with self.assertRaisesRegex(TypeError, "apply_batch takes a dict of column name -> values, a pyarrow"):
            self.policy.apply_batch([{"id": 1}], "table:customers")


class ArrowTest(BatchTestCase):
    def test_a_table_comes_back_as_a_table(self):
        table = pa.table(batch())
        kept = self.policy.apply_batch(table, "table:customers")
        self.assertIsInstance(kept, pa.Table)
        self.assertEqual(kept.to_pydict(), self.expected())

    def test_a_record_batch_comes_back_as_a_record_batch(self):
        record_batch = pa.RecordBatch.from_pydict(batch())
        kept = self.policy.apply_batch(record_batch, "table:customers")
        self.assertIsInstance(kept, pa.RecordBatch)
        self.assertEqual(kept.to_pydict(), self.expected())

    def test_chunked_columns_and_schema_metadata_are_kept(self):
        table = pa.concat_tables([pa.table(batch()), pa.table(batch())]).replace_schema_metadata({"origin": "crm"})
        kept = self.policy.apply_batch(table, "table:customers")
        self.assertEqual(kept.schema.metadata, {b"origin": b"crm"})
        self.assertEqual(kept.column("email").to_pylist(), [self.hash("a@x"), None] * 2)
        clean = pa.concat_tables([pa.table({"id": [1], "phone": ["1"]})] * 2)
        self.assertTrue(same_memory(self.policy.apply_batch(clean, "table:customers").column("id"), clean.column("id")))

    def test_nested_columns(self):
        table = pa.table(
            {"id": [1, 2], "profile": [{"nickname": "ada", "token": "t"}, {"nickname": "robot", "token": "u"}]}
        )
        kept = self.policy.apply_batch(table, "table:customers")
        self.assertEqual(kept.to_pydict(), {"id": [1], "profile": [{"nickname": "ada", "token": REDACTED}]})
        untouched = pa.table({"tags": [["a"], ["b"]]})
        self.assertTrue(
            same_memory(self.policy.apply_batch(untouched, "table:customers").column("tags"), untouched.column("tags"))
        )

    def test_a_scope_that_drops_every_record(self):
        kept = self.policy.apply_batch(pa.table(batch()), "table:archive")
        self.assertEqual((kept.num_rows, kept.schema.names), (0, list(batch())))

    def test_equals_that_arrow_cannot_compare_is_compared_in_python(self):
        table = pa.table({"kind": [1, 2]})
        self.assertEqual(self.policy.apply_batch(table, "table:customers").to_pydict(), {"kind": [1, 2]})

    def test_an_integrator_batch_comes_back_as_a_batch_at_the_same_position(self):
        from pdip.integrator.batch import Batch

        given = Batch.from_dicts(
            [dict(zip(batch(), row, strict=True)) for row in zip(*batch().values(), strict=True)], position=42
        )
        kept = self.policy.apply_batch(given, "table:customers")
        self.assertIsInstance(kept, Batch)
        self.assertEqual((kept.position, kept.columns), (42, list(self.expected())))
        self.assertEqual(kept.to_arrow().to_pydict(), self.expected())

    def test_nothing_dropped(self):
        table = pa.table({"kind": ["real"], "deleted_at": pa.array([None], pa.string())})
        self.assertEqual(self.policy.apply_batch(table, "table:customers").num_rows, 1)
        self.assertNotIn("drop_record", self.policy.counters)


if __name__ == "__main__":
    unittest.main()
