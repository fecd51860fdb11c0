import unittest

from pdip.policy import Policy
from pdip.policy.errors import RecordDropped
from pdip.policy.walking import (
    REDACTED,
    REMOVED,
    ValueWalker,
    add_count,
    parsed_scopes,
    past_drop_record,
    with_scope,
)


class WalkingTest(unittest.TestCase):
    def setUp(self):
        self.scoped = Policy.default().scoped_for("table:customers")

    def test_an_untouched_record_comes_back_as_the_same_object(self):
        record = {"name": "Ada", "lines": [{"sku": 1}]}
        self.assertIs(ValueWalker().record(self.scoped, record, {}), record)

    def test_a_secret_inside_a_list_is_redacted_in_a_copy_and_counted(self):
        record = {"lines": ({"password": "x"}, {"sku": 2})}
        counts = {}
        walked = ValueWalker().record(self.scoped, record, counts)
        self.assertEqual(walked, {"lines": ({"password": REDACTED}, {"sku": 2})})
        self.assertEqual(record["lines"][0]["password"], "x")
        self.assertEqual(counts, {("redact", "table:customers"): 1})

    def test_acted_drops_to_the_removed_marker(self):
        self.assertIs(ValueWalker().acted(self.scoped, "drop", "x", {}), REMOVED)

    def test_past_drop_record_raises_when_the_rule_holds_and_counts_it(self):
        class Rule:
            @staticmethod
            def drops(value):
                return value == "test"

        class Decision:
            action, rule, fallback = "drop_record", Rule, None

        counts = {}
        with self.assertRaises(RecordDropped):
            past_drop_record(Decision, "test", counts, "table:t")
        self.assertEqual(counts, {("drop_record", "table:t"): 1})

    def test_scopes_as_callers_write_them(self):
        self.assertEqual(parsed_scopes(None), ())
        self.assertEqual(parsed_scopes(["table:a", "table:a", "source:b"]), (("table", "a"), ("source", "b")))
        self.assertEqual(with_scope("log:x", None), ["log:x"])
        self.assertEqual(with_scope("log:x", "table:a"), ["log:x", "table:a"])
        self.assertEqual(with_scope("log:x", ["table:a", "source:b"]), ["log:x", "table:a", "source:b"])

    def test_add_count_adds_to_what_is_there(self):
        counts = {}
        add_count(counts, "redact", "table:a")
        add_count(counts, "redact", "table:a", 3)
        self.assertEqual(counts, {("redact", "table:a"): 4})


if __name__ == "__main__":
    unittest.main()
