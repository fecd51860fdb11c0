"""The built-in rules mask a password written inside a connection string, under any name, in
every shape a policy takes (as `mask_secrets` does)."""

import unittest

import pyarrow as pa

from pdip.policy import Policy, mask_secrets
from pdip.tracking import ChangeLogEntry

DSN = "postgresql://app:s3cret@db:5432/prod"
MASKED = "postgresql://app:***@db:5432/prod"
ODBC = "Server=db;Uid=app;Pwd=s3cret;"
ODBC_MASKED = "Server=db;Uid=app;Pwd=***;"


class RecordTest(unittest.TestCase):
    def test_a_password_in_a_url_or_keyword_string_is_masked_like_mask_secrets_does(self):
        record = {"dsn": DSN, "target": ODBC, "note": "a=b", "url": "https://example.com/x?a=1", "n": 1}
        self.assertEqual(Policy.default().apply(record), mask_secrets(record))
        self.assertEqual(
            Policy.default().apply(record),
            {"dsn": MASKED, "target": ODBC_MASKED, "note": "a=b", "url": "https://example.com/x?a=1", "n": 1},
        )

    def test_nested_values_and_list_items_are_masked_too(self):
        record = {"settings": {"source": {"url": DSN}}, "mirrors": [DSN, "plain"], "pair": (DSN,)}
        applied = Policy.default().apply(record)
        self.assertEqual(
            applied, {"settings": {"source": {"url": MASKED}}, "mirrors": [MASKED, "plain"], "pair": (MASKED,)}
        )

    def test_masking_is_counted_as_a_redaction_and_the_input_is_untouched(self):
        policy = Policy.default()
        record = {"dsn": DSN}
        policy.apply(record, scope="table:settings")
        self.assertEqual(record, {"dsn": DSN})
        self.assertEqual(policy.counters, {"redact": {"table:settings": 1}})

    def test_text_without_a_password_is_passed_on_as_itself(self):
        record = {"url": "postgresql://app@db/prod", "query": "a=1"}
        applied = Policy.default().apply(record)
        self.assertIs(applied["url"], record["url"])
        self.assertEqual(Policy.default().counters, {})

    def test_events_and_entries_are_masked(self):
        policy = Policy.default()
        self.assertEqual(policy.apply_event({"type": "Connected", "dsn": DSN})["dsn"], MASKED)
        entry = ChangeLogEntry("update", entity="settings", key=1, before={"dsn": "x"}, after={"dsn": DSN})
        self.assertEqual(policy.apply_entry(entry).after, {"dsn": MASKED})
        tracked = ChangeLogEntry(
            "set", entity="settings", path="source.url", before=None, after=DSN, extra={"was": DSN}
        )
        applied = policy.apply_entry(tracked)
        self.assertEqual((applied.after, applied.extra), (MASKED, {"was": MASKED}))
        self.assertIs(policy.apply_entry(ChangeLogEntry("insert", entity="t", key=1, after={"a": "b"})).after["a"], "b")


def data_address(column):
    return column.chunks[0].buffers()[1].address


class BatchTest(unittest.TestCase):
    def test_a_column_of_text_is_masked_where_it_holds_a_password(self):
        batch = {"dsn": [DSN, None, "plain", ODBC], "country": ["FR", "DE", None, "US"], "n": [1, 2, 3, 4]}
        policy = Policy.default()
        applied = policy.apply_batch(batch, scope="table:sources")
        self.assertEqual(applied["dsn"], [MASKED, None, "plain", ODBC_MASKED])
        self.assertIs(applied["country"], batch["country"])
        self.assertIs(applied["n"], batch["n"])
        self.assertEqual(policy.counters, {"redact": {"table:sources": 2}})

    def test_a_column_of_mixed_values_is_looked_at_one_by_one(self):
        batch = {"value": [DSN, 3, None, "x=1"]}
        self.assertEqual(Policy.default().apply_batch(batch)["value"], [MASKED, 3, None, "x=1"])

    def test_arrow_text_columns_are_masked_and_others_passed_on(self):
        table = pa.table(
            {
                "dsn": pa.array([DSN, None, "plain"]),
                "big": pa.array(["a", ODBC, None], pa.large_string()),
                "country": pa.array(["FR", "DE", "x=y"]),
                "n": pa.array([1, 2, 3]),
            }
        )
        policy = Policy.default()
        applied = policy.apply_batch(table, scope="table:sources")
        self.assertEqual(applied.column("dsn").to_pylist(), [MASKED, None, "plain"])
        self.assertEqual(applied.column("big").to_pylist(), ["a", ODBC_MASKED, None])
        self.assertEqual(applied.column("big").type, pa.large_string())
        for name in ("country", "n"):  # the same memory: passed on, not copied
            self.assertEqual(data_address(applied.column(name)), data_address(table.column(name)))
        self.assertEqual(policy.counters, {"redact": {"table:sources": 2}})
        record_batch = policy.apply_batch(table.to_batches()[0])
        self.assertEqual(record_batch.column(0).to_pylist(), [MASKED, None, "plain"])


if __name__ == "__main__":
    unittest.main()
