import unittest

from pdip.policy import REDACTED, Policy
from pdip.policy.hashing import ValueHasher
from pdip.tracking import ChangeLogEntry, TrackedDict, TrackedList
from tests.unittests.policy.support import SALT, PolicyFilesTestCase

RULES = """\
rules:
  - table: customers
    column: email
    action: hash
  - entity: customers
    column: notes
    action: drop
  - entity: cart
    column: address
    action: redact
  - entity: cart
    column: internal
    action: drop
  - entity: cart
    field: "orders[*].card"
    action: hash
  - entry: actor
    action: hash
  - entry: tenant
    action: redact
  - entry: "extra.ip"
    action: drop
  - entity: audit
    entry: extra
    action: redact
  - entity: tests
    action: drop_record
  - entity: flagged
    entry: tenant
    action: drop_record
    equals: sandbox
  - entity: paths
    entry: path
    action: redact
  - entity: nested
    column: secret_area
    action: drop_record
  - entity: conditional
    column: area
    action: drop_record
    equals: never
"""


class ApplyEntryTest(PolicyFilesTestCase):
    def setUp(self):
        super().setUp()
        self.policy = Policy.load(self.write("p.yml", RULES), salt=SALT)
        self.hash = ValueHasher(SALT)

    def test_a_record_entry_gets_the_rules_of_its_table(self):
        entry = ChangeLogEntry(
            "update",
            entity="customers",
            key=42,
            before={"email": "a@b.com", "notes": "n", "password": "old"},
            after={"email": "c@d.com", "notes": "n", "password": "new", "name": "Ada"},
            actor="ada",
            tenant="t1",
            sequence=7,
            extra={"ip": "1.2.3.4", "request": "r1"},
        )
        applied = self.policy.apply_entry(entry)
        self.assertEqual(applied.before, {"email": self.hash("a@b.com"), "password": REDACTED})
        self.assertEqual(applied.after, {"email": self.hash("c@d.com"), "password": REDACTED, "name": "Ada"})
        self.assertEqual(
            (applied.actor, applied.tenant, applied.extra), (self.hash("ada"), REDACTED, {"request": "r1"})
        )
        self.assertEqual((applied.id, applied.sequence, applied.key, applied.epoch), (entry.id, 7, 42, entry.epoch))
        self.assertEqual(entry.after["email"], "c@d.com")  # the entry given is untouched
        self.assertEqual(self.policy.counters["hash"], {"entity:customers": 3})

    def test_an_entry_no_rule_touches_comes_back_as_it_is(self):
        entry = ChangeLogEntry("insert", entity="orders", key={"id": 1}, after={"total": 3}, extra={"request": "r"})
        self.assertIs(self.policy.apply_entry(entry), entry)
        clear = ChangeLogEntry("clear")
        self.assertIs(self.policy.apply_entry(clear), clear)
        plain = ChangeLogEntry("set", key="a", path="a", after=1)
        self.assertIs(self.policy.apply_entry(plain), plain)

    def test_row_shapes_are_judged_once_and_values_still_looked_into(self):
        """The outbox sends many entries of one shape: the policy remembers that a shape has no rule
        to apply, but a value with something inside (a nested mapping) is still walked."""
        for number in range(3):
            plain = ChangeLogEntry("insert", entity="orders", key=number, after={"id": number, "total": 3})
            self.assertIs(self.policy.apply_entry(plain), plain)
        nested = ChangeLogEntry("insert", entity="orders", key=9, after={"id": 9, "total": {"token": "t"}})
        self.assertEqual(self.policy.apply_entry(nested).after, {"id": 9, "total": {"token": REDACTED}})
        for _ in range(2):
            secret = ChangeLogEntry("insert", entity="orders", key=1, after={"id": 1, "password": "p"})
            self.assertEqual(self.policy.apply_entry(secret).after, {"id": 1, "password": REDACTED})
        for area, kept in (("here", True), ("never", False), ("here", True)):
            entry = ChangeLogEntry("update", entity="conditional", key=1, before={"area": "x"}, after={"area": area})
            self.assertEqual(self.policy.apply_entry(entry) is not None, kept)
        with_actor = ChangeLogEntry("insert", entity="orders", key=2, after={"id": 2, "total": 3}, actor="ada")
        self.assertEqual(self.policy.apply_entry(with_actor).actor, self.hash("ada"))

    def test_a_batch_of_entries_keeps_its_order_without_the_dropped_ones(self):
        entries = [
            ChangeLogEntry("insert", entity="orders", key=1, after={"id": 1, "total": 3}),
            ChangeLogEntry("insert", entity="tests", key=2, after={"id": 2}),
            ChangeLogEntry("insert", entity="customers", key=3, after={"email": "a@b.com", "notes": "n"}),
            ChangeLogEntry("insert", entity="orders", key=4, after={"id": 4, "password": "p"}),
        ]
        applied = self.policy.apply_entries(entries)
        self.assertEqual([entry.key for entry in applied], [1, 3, 4])
        self.assertIs(applied[0], entries[0])
        self.assertEqual(applied[1].after, {"email": self.hash("a@b.com")})
        self.assertEqual(applied[2].after, {"id": 4, "password": REDACTED})
        self.assertEqual(self.policy.apply_entries([]), [])

    def test_composite_keys_are_treated_like_rows(self):
        entry = ChangeLogEntry("delete", entity="customers", key={"email": "a@b.com", "region": "eu"})
        self.assertEqual(self.policy.apply_entry(entry).key, {"email": self.hash("a@b.com"), "region": "eu"})

    def test_changes_inside_tracked_containers(self):
        cart = TrackedDict({"orders": [{"card": "4111", "sku": "a"}], "address": {"city": "Paris"}}, name="cart")
        cart["orders"][0]["card"] = "5500"
        cart["orders"][0]["sku"] = "b"
        cart["address"]["city"] = "Lyon"
        cart["db"] = {"password": "x", "host": "h"}
        cart["db"]["password"] = "y"
        cart["orders"].append({"card": "3400", "sku": "c"})
        cart["orders"][1:] = [{"card": "1", "sku": "d"}]
        cart["internal"] = 1
        cart["tokens"] = [{"token": "t"}]
        cart.clear()
        applied = [self.policy.apply_entry(entry) for entry in cart.tracking_changes()]
        shown = [(e.path, e.before, e.after) if e is not None else None for e in applied]
        self.assertEqual(
            shown,
            [
                ("orders[0].card", self.hash("4111"), self.hash("5500")),
                ("orders[0].sku", "a", "b"),
                ("address.city", REDACTED, REDACTED),  # inside a redacted column
                ("db", None, {"password": REDACTED, "host": "h"}),
                ("db.password", REDACTED, REDACTED),
                ("orders[1]", None, {"card": self.hash("3400"), "sku": "c"}),
                ("orders[1:2]", [{"card": self.hash("3400"), "sku": "c"}], [{"card": self.hash("1"), "sku": "d"}]),
                None,  # a change to a dropped field is not reported
                ("tokens", None, [{"token": REDACTED}]),
                (
                    None,
                    {
                        "orders": [{"card": self.hash("5500"), "sku": "b"}, {"card": self.hash("1"), "sku": "d"}],
                        "address": REDACTED,
                        "db": {"password": REDACTED, "host": "h"},
                        "tokens": [{"token": REDACTED}],
                    },
                    None,
                ),
            ],
        )

    def test_a_slice_of_scalars_and_a_list_at_the_top(self):
        items = TrackedList([1, 2], name="cart")
        items[0:1] = [5]
        items.append({"address": "x"})
        applied = [self.policy.apply_entry(entry) for entry in items.tracking_changes()]
        self.assertEqual([(e.before, e.after) for e in applied], [([1], [5]), (None, {"address": "x"})])
        whole = ChangeLogEntry("clear", entity="cart", before=[{"password": "p"}, 3])
        self.assertEqual(self.policy.apply_entry(whole).before, [{"password": REDACTED}, 3])
        odd = ChangeLogEntry("set", entity="cart", path="orders[0:1]", after="not a list")
        self.assertEqual(self.policy.apply_entry(odd).after, "not a list")

    def test_drop_record_rules(self):
        self.assertIsNone(self.policy.apply_entry(ChangeLogEntry("insert", entity="tests", after={"a": 1})))
        self.assertIsNone(self.policy.apply_entry(ChangeLogEntry("insert", entity="flagged", tenant="sandbox")))
        kept = self.policy.apply_entry(ChangeLogEntry("insert", entity="flagged", tenant="live"))
        self.assertEqual(kept.tenant, REDACTED)
        self.assertEqual(self.policy.counters["drop_record"], {"entity:flagged": 1, "entity:tests": 1})

    def test_drop_record_on_a_place_the_change_is_inside(self):
        inside = ChangeLogEntry("set", entity="nested", path="secret_area.x", after=1)
        self.assertIsNone(self.policy.apply_entry(inside))
        self.assertIsNone(self.policy.apply_entry(ChangeLogEntry("set", entity="nested", path="secret_area", after=1)))
        self.assertIsNotNone(
            self.policy.apply_entry(ChangeLogEntry("set", entity="nested", path="secret_area", after=None))
        )
        conditional = ChangeLogEntry("set", entity="conditional", path="area.x", after="never")
        self.assertEqual(self.policy.apply_entry(conditional).after, "never")  # equals cannot be judged from inside
        self.assertIsNone(
            self.policy.apply_entry(ChangeLogEntry("set", entity="conditional", path="area", after="never"))
        )

    def test_whole_extra_and_entry_fields(self):
        audited = ChangeLogEntry("insert", entity="audit", extra={"ip": "1.2.3.4", "user_agent": "x"})
        self.assertEqual(self.policy.apply_entry(audited).extra, {"ip": REDACTED, "user_agent": REDACTED})
        only_ip = ChangeLogEntry("insert", entity="orders", extra={"ip": "1.2.3.4"})
        self.assertIsNone(self.policy.apply_entry(only_ip).extra)
        moved = ChangeLogEntry("set", entity="paths", path="a.b", key="b", after=1)
        self.assertEqual(self.policy.apply_entry(moved).path, REDACTED)

    def test_entry_before_and_after_rules(self):
        path = self.write(
            "whole.yml",
            "rules:\n  - entry: before\n    action: drop\n  - entry: after\n    action: hash\n  - entry: key\n    action: redact\n",
        )
        policy = Policy.load(path, salt=SALT)
        applied = policy.apply_entry(
            ChangeLogEntry("update", entity="x", key={"id": 1}, before={"a": 1}, after={"a": 2})
        )
        self.assertEqual((applied.before, applied.after, applied.key), (None, self.hash({"a": 2}), REDACTED))

    def test_an_extra_scope(self):
        path = self.write("scoped.yml", "rules:\n  - topic: changes\n    column: name\n    action: redact\n")
        policy = Policy.load(path)
        entry = ChangeLogEntry("insert", entity="people", after={"name": "Ada"})
        self.assertEqual(policy.apply_entry(entry, scope="topic:changes").after, {"name": REDACTED})
        self.assertEqual(policy.apply_entry(entry, scope=["topic:changes", "sink:files"]).after, {"name": REDACTED})
        self.assertIs(policy.apply_entry(entry), entry)
        self.assertEqual(
            policy.counters, {"redact": {"entity:people,topic:changes": 1, "entity:people,topic:changes,sink:files": 1}}
        )


if __name__ == "__main__":
    unittest.main()


class RecordShortPathTest(unittest.TestCase):
    """An insert's row is looked at in one pass: names decided once, then each value."""

    def test_only_a_row_the_policy_has_nothing_to_do_with_comes_back_untouched(self):
        policy = Policy.default()
        plain = ChangeLogEntry("insert", entity="t", key=1, after={"id": 1, "note": "a", "at": None})
        self.assertIs(policy.apply_entry(plain), plain)
        secret = ChangeLogEntry("insert", entity="t", key=1, after={"id": 1, "dsn": "postgresql://u:pw@db/x"})
        self.assertNotIn("pw", str(policy.apply_entry(secret).after))
        nested = ChangeLogEntry("insert", entity="t", key=1, after={"id": 1, "more": {"password": "pw"}})
        self.assertNotEqual(policy.apply_entry(nested).after["more"]["password"], "pw")
        named = ChangeLogEntry("insert", entity="t", key=1, after={"id": 1, "password": "pw"})
        self.assertNotEqual(policy.apply_entry(named).after.get("password"), "pw")
