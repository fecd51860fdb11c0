import copy
import datetime as dt
import hashlib
import hmac
import os
import pickle
import threading
import unittest
import uuid
from decimal import Decimal
from unittest import mock

from pdip.policy import REDACTED, MissingSaltError, Policy
from pdip.policy.hashing import ValueHasher, canonical_bytes
from tests.unittests.policy.support import SALT, PolicyFilesTestCase


def expected_hash(text: str, salt: str = SALT) -> str:
    return hmac.new(salt.encode(), text.encode(), hashlib.sha256).hexdigest()


class DefaultPolicyTest(unittest.TestCase):
    def test_secret_looking_names_are_redacted_and_look_alikes_are_not(self):
        record = {
            "company_name": "ACME",
            "author": "Ada",
            "passenger_count": 3,
            "db_password": "pw",
            "apiKey": "k",
            "X-Auth-Token": "t",
            "session_id": "s",
            "credit_card": "4111",
            "cvv": "123",
            "iban": "DE00",
            "ssn": "000-00-0000",
            "bearer": "b",
            "cookie": "c",
        }
        kept = Policy.default().apply(record)
        self.assertEqual(kept["company_name"], "ACME")
        self.assertEqual(kept["author"], "Ada")
        self.assertEqual(kept["passenger_count"], 3)
        for name in list(record)[3:]:
            with self.subTest(name=name):
                self.assertEqual(kept[name], REDACTED)

    def test_secrets_are_found_at_any_depth_and_in_lists(self):
        record = {"config": {"db": {"password": "pw", "host": "h"}}, "users": [{"name": "a", "token": "t"}]}
        kept = Policy.default().apply(record)
        self.assertEqual(
            kept, {"config": {"db": {"password": REDACTED, "host": "h"}}, "users": [{"name": "a", "token": REDACTED}]}
        )

    def test_none_stays_none(self):
        self.assertEqual(Policy.default().apply({"password": None}), {"password": None})

    def test_the_input_is_untouched_and_the_output_is_new(self):
        record = {"password": "pw", "nested": {"token": "t"}, "plain": {"a": 1}}
        before = copy.deepcopy(record)
        kept = Policy.default().apply(record)
        self.assertEqual(record, before)
        self.assertIsNot(kept, record)
        untouched = {"a": 1}
        self.assertIsNot(Policy.default().apply(untouched), untouched)
        self.assertEqual(Policy.default().apply(untouched), untouched)

    def test_repr_and_metadata(self):
        policy = Policy.default()
        self.assertEqual(repr(policy), "Policy(1 rules: built-in, no files)")
        self.assertEqual(policy.metadata(), {"files": [], "counters": {}})
        self.assertIn("built-in rule 1", repr(policy.rules[0]))


class ActionsTest(PolicyFilesTestCase):
    def setUp(self):
        super().setUp()
        self.path = self.write(
            "policy.yml",
            """\
            meta:
              name: customers
            rules:
              - table: customers
                column: email
                action: hash
              - table: customers
                column: notes
                action: drop
              - table: customers
                field: address.street
                action: redact
              - table: customers
                column: deleted_at
                action: drop_record
              - table: customers
                key: internal
                action: drop
              - table: customers
                field: lines[*].price
                action: redact
              - table: customers
                column: status
                action: drop_record
                equals: test
              - table: customers
                column: status
                action: allow
                description: later than the drop_record rule above, so it wins
              - table: archive
                action: drop_record
              - table: archive_kept
                action: redact
              - table: vip
                column: tier
                action: drop_record
                equals: gold
            """,
        )
        self.policy = Policy.load(self.path, salt=SALT)

    def apply(self, record, scope="table:customers"):
        return self.policy.apply(record, scope)

    def test_a_pickled_policy_decides_and_hashes_as_the_original(self):
        """A Dask task carries its integration's policy to a worker as a pickle."""
        self.apply({"email": "a@b.com"})  # decisions cached and counted before the copy
        copied = pickle.loads(pickle.dumps(self.policy))
        record = {"email": "a@b.com", "notes": "n", "address": {"street": "s", "city": "c"}}
        self.assertEqual(copied.apply(record, "table:customers"), self.apply(record))
        self.assertIsNone(copied.apply({"deleted_at": "2026"}, "table:customers"))
        counted = {action: {"table:customers": 1} for action in ("drop", "drop_record", "hash", "redact")}
        self.assertEqual(copied.counters, counted)  # its own counts, from zero

    def test_hash_is_salted_sha256_and_stable(self):
        kept = self.apply({"email": "a@b.com"})
        self.assertEqual(kept["email"], expected_hash("a@b.com"))
        self.assertEqual(self.apply({"email": "a@b.com"}), kept)
        other_salt = Policy.load(self.path, salt="other").apply({"email": "a@b.com"}, "table:customers")
        self.assertNotEqual(other_salt, kept)

    def test_drop_removes_the_field_and_redact_replaces_it(self):
        kept = self.apply({"notes": "x", "address": {"street": "Main St", "city": "Paris"}, "name": "Ada"})
        self.assertEqual(kept, {"address": {"street": REDACTED, "city": "Paris"}, "name": "Ada"})

    def test_key_selectors_reach_any_depth(self):
        kept = self.apply({"internal": 1, "meta": {"internal": 2, "other": 3}})
        self.assertEqual(kept, {"meta": {"other": 3}})

    def test_field_selectors_reach_list_items(self):
        kept = self.apply({"lines": [{"sku": "a", "price": 3}, {"sku": "b", "price": 4}], "price": 5})
        self.assertEqual(
            kept, {"lines": [{"sku": "a", "price": REDACTED}, {"sku": "b", "price": REDACTED}], "price": 5}
        )
        self.assertEqual(self.policy.decide("lines[7].price", "table:customers"), "redact")

    def test_drop_record_when_the_field_holds_a_value(self):
        self.assertIsNone(self.apply({"deleted_at": "2026-01-01", "name": "x"}))
        self.assertEqual(self.apply({"deleted_at": None, "name": "x"}), {"deleted_at": None, "name": "x"})

    def test_a_later_rule_overrides_a_conditional_drop_record(self):
        self.assertEqual(self.apply({"status": "test"}), {"status": "test"})

    def test_drop_record_with_equals(self):
        self.assertIsNone(self.policy.apply({"tier": "gold"}, "table:vip"))
        self.assertEqual(
            self.policy.apply({"tier": "silver", "password": "x"}, "table:vip"),
            {"tier": "silver", "password": REDACTED},
        )

    def test_drop_record_without_a_field_drops_every_record_in_scope(self):
        self.assertIsNone(self.policy.apply({"a": 1}, "table:archive"))
        self.assertIsNone(self.policy.apply({}, "table:archive"))
        self.assertEqual(
            self.policy.apply({"a": 1, "b": {"c": 2}}, "table:archive_kept"), {"a": REDACTED, "b": REDACTED}
        )

    def test_rules_of_other_scopes_do_not_apply(self):
        record = {"email": "a@b.com", "notes": "x"}
        self.assertEqual(self.policy.apply(record, "table:orders"), record)
        self.assertEqual(self.policy.apply(record), record)

    def test_counters_count_per_action_and_scope(self):
        self.apply({"email": "a", "notes": "b", "password": "c"})
        self.apply({"email": "a", "deleted_at": "now"})
        self.policy.apply({"token": "t"}, ["source:crm", "table:customers"])
        self.policy.apply({"token": "t"})
        self.assertEqual(
            self.policy.counters,
            {
                "drop": {"table:customers": 1},
                "drop_record": {"table:customers": 1},
                "hash": {"table:customers": 2},
                "redact": {"*": 1, "source:crm,table:customers": 1, "table:customers": 1},
            },
        )
        metadata = self.policy.metadata()
        self.assertEqual(metadata["counters"], self.policy.counters)
        (described,) = metadata["files"]
        self.assertEqual(described["name"], "customers")
        self.assertEqual(described["sha256"], hashlib.sha256(self.path.read_bytes()).hexdigest())
        self.assertEqual(described["rules"], 11)
        self.policy.reset_counters()
        self.assertEqual(self.policy.counters, {})

    def test_counters_since_an_earlier_reading_and_counts_handed_over(self):
        policy = Policy.default()
        policy.apply({"password": "a", "token": "b"}, scope="table:a")
        earlier = policy.counters
        policy.apply({"password": "a"}, scope="table:b")
        self.assertEqual(policy.counters_since(earlier), {"redact": {"table:b": 1}})
        worker = pickle.loads(pickle.dumps(policy))  # a reader process's copy starts from zero
        worker.apply({"password": "a"}, scope="table:a")
        handed = worker.take_counts()
        self.assertEqual((handed, worker.counters), ({("redact", "table:a"): 1}, {}))
        policy.add_counts(handed)
        self.assertEqual(policy.counters, {"redact": {"table:a": 3, "table:b": 1}})

    def test_counters_are_safe_across_threads(self):
        def work():
            for _ in range(200):
                self.apply({"notes": "x"})

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(self.policy.counters["drop"]["table:customers"], 800)

    def test_list_items_may_be_dropped(self):
        path = self.write("items.yml", "rules:\n  - field: tags[*]\n    action: drop\n")
        self.assertEqual(Policy.load(path).apply({"tags": ["a", "b"], "n": 1}), {"tags": [], "n": 1})

    def test_tuples_and_keys_that_are_not_text(self):
        kept = Policy.default().apply({"pairs": ({"token": "t"}, 2), 7: {"secret": "s"}, "blob": b"x"})
        self.assertEqual(kept, {"pairs": ({"token": REDACTED}, 2), 7: {"secret": REDACTED}, "blob": b"x"})
        other = object()
        self.assertIs(Policy.default().apply({"thing": other})["thing"], other)

    def test_decisions_are_made_once_per_scope_and_field(self):
        scoped = self.policy.scoped((("table", "customers"),))
        self.assertIs(self.policy.scoped((("table", "customers"),)), scoped)
        self.apply({"email": "a"})
        decision = scoped.decide("email", "email", 1)
        self.apply({"email": "b"})
        self.assertIs(scoped.decide("email", "email", 1), decision)
        self.assertEqual(repr(decision), f"Decision(hash, {self.path} rule 1)")

    def test_decision_caches_stay_bounded(self):
        with mock.patch("pdip.policy.decisions._MAX_DECISIONS", 4), mock.patch("pdip.policy.engine._MAX_SCOPES", 2):
            policy = Policy.default()
            for number in range(10):
                policy.apply({f"field{number}": number}, f"table:t{number}")
            self.assertLessEqual(len(policy._scoped), 2)
            scoped = policy.scoped(())
            for number in range(10):
                scoped.decide(f"f{number}", f"f{number}", 1)
            self.assertLessEqual(len(scoped.decisions), 4)


class SaltTest(PolicyFilesTestCase):
    def test_hash_rules_need_a_salt(self):
        path = self.write("p.yml", "rules:\n  - column: email\n    action: hash\n")
        with mock.patch.dict(os.environ, {}, clear=False):
            os.environ.pop("POLICY_SALT", None)
            with self.assertRaisesRegex(MissingSaltError, rf"{path} rule 1 hashes values but no salt is set"):
                Policy.load(path)
        with mock.patch.dict(os.environ, {"POLICY_SALT": "from-env"}):
            policy = Policy.load(path)
        self.assertEqual(policy.apply({"email": "x"})["email"], expected_hash("x", "from-env"))

    def test_a_policy_without_a_salt_cannot_hash(self):
        with mock.patch.dict(os.environ, {}, clear=False):
            os.environ.pop("POLICY_SALT", None)
            with self.assertRaisesRegex(MissingSaltError, "this policy has no salt"):
                Policy.default().hasher  # noqa: B018


class HashingTest(unittest.TestCase):
    def test_matches_hmac_sha256_for_short_long_and_byte_salts(self):
        for salt in ("s", "x" * 100, b"\x00\xff"):
            with self.subTest(salt=salt):
                key = salt.encode() if isinstance(salt, str) else salt
                self.assertEqual(ValueHasher(salt)("value"), hmac.new(key, b"value", hashlib.sha256).hexdigest())
        self.assertEqual(repr(ValueHasher("s")), "ValueHasher(salt=***)")

    def test_equal_values_hash_equal(self):
        hasher = ValueHasher(SALT)
        self.assertEqual(len({hasher(1), hasher(1.0), hasher(True), hasher(Decimal("1.00"))}), 1)
        self.assertEqual(hasher(1.5), hasher(Decimal("1.50")))
        self.assertIsNone(hasher(None))

    def test_canonical_text_of_each_kind(self):
        cases = [
            ("a", b"a"),
            (b"\x01", b"\x01"),
            (bytearray(b"b"), b"b"),
            (False, b"0"),
            (2.5, b"2.5"),
            (Decimal("NaN"), b"NaN"),
            (dt.date(2026, 1, 2), b"2026-01-02"),
            (dt.datetime(2026, 1, 2, 3, 4), b"2026-01-02T03:04:00"),
            (uuid.UUID(int=1), b"00000000-0000-0000-0000-000000000001"),
            ({"b": 1, "a": [Decimal("2")]}, b'{"a":[{"$decimal":"2"}],"b":1}'),
        ]
        for value, text in cases:
            with self.subTest(value=value):
                self.assertEqual(canonical_bytes(value), text)
        self.assertEqual(canonical_bytes(object.__new__(_Opaque)), b"<opaque>")

    def test_a_column_is_hashed_once_per_distinct_value(self):
        class Counting(ValueHasher):
            calls = 0

            def __call__(self, value):
                Counting.calls += 1
                return super().__call__(value)

        hasher = Counting(SALT)
        hashed = hasher.column(["a", "b", "a", None, "a"])
        self.assertEqual(hashed, [expected_hash("a"), expected_hash("b"), expected_hash("a"), None, expected_hash("a")])
        self.assertEqual(Counting.calls, 3)
        self.assertEqual(hasher.column([{"a": 1}, [2]]), [hasher({"a": 1}), hasher([2])])


class _Opaque:
    def __repr__(self):
        return "<opaque>"


if __name__ == "__main__":
    unittest.main()
