import asyncio
import datetime as dt
import json
import sys
import threading
import time
import unittest
import uuid
from decimal import Decimal

from pdip.conversion.tagged import decode, encode
from pdip.tracking import ChangeLogEntry, current_actor, tracking_actor

VALUES = {
    "when": dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.timezone.utc),
    "day": dt.date(2026, 11, 22),
    "at": dt.time(9, 30),
    "wait": dt.timedelta(seconds=90),
    "price": Decimal("0.10"),
    "id": uuid.UUID("00000000-0000-0000-0000-00000000002a"),
    "blob": b"\x00\xffdata",
    "pair": (1, "a"),
    "tags": {"x", "y"},
    "by_number": {1: "one", 2: "two"},
    "$weird": {"$decimal": "not a tag here"},
    "nested": [{"deep": [Decimal("1.5"), None, True, 2.5]}],
}


class TaggedJsonTest(unittest.TestCase):
    def test_every_supported_type_round_trips_through_json(self):
        text = json.dumps(encode(VALUES))
        self.assertEqual(decode(json.loads(text)), VALUES)

    def test_plain_json_stays_plain(self):
        plain = {"a": [1, "b", None, False, 1.5], "c": {"d": "e"}}
        self.assertEqual(encode(plain), plain)
        self.assertEqual(encode(VALUES["price"]), {"$decimal": "0.10"})

    def test_a_plain_row_is_one_decode_returns_as_it_is(self):
        from pdip.conversion.tagged import plain_row

        for data in ({"a": 1, "b": "x", "c": None}, {"a": 1.5}, {"$a": 1}, {}):
            with self.subTest(data=data):
                self.assertTrue(plain_row(data))
                self.assertIs(decode(data), data)
        for data in ({"$date": "2026-01-02"}, {"a": {"$date": "2026-01-02"}}, {"a": [1]}, [1], "a", None):
            with self.subTest(data=data):
                self.assertFalse(plain_row(data))

    def test_unsupported_values_are_refused_by_name(self):
        with self.assertRaisesRegex(TypeError, "object values cannot be written to a change log"):
            encode(object())


class ChangeLogEntryTest(unittest.TestCase):
    def make(self, **fields):
        values = {"entity": "orders", "key": 42, "path": "orders[3].status", "before": "new", "after": "paid"}
        values.update(fields)
        return ChangeLogEntry("update", actor="ada", tenant="t1", sequence=7, extra={"source": "api"}, **values)

    def test_to_dict_has_every_field_and_from_dict_restores_an_equal_entry(self):
        entry = self.make(before=VALUES, after=None)
        data = entry.to_dict()
        self.assertEqual(
            list(data),
            [
                "schema_version",
                "id",
                "sequence",
                "timestamp",
                "actor",
                "action",
                "entity",
                "key",
                "path",
                "before",
                "after",
                "tenant",
                "extra",
            ],
        )
        self.assertEqual(data["schema_version"], 1)
        restored = ChangeLogEntry.from_json(entry.to_json())
        self.assertEqual(restored, entry)
        self.assertEqual(restored.before, VALUES)
        self.assertEqual(restored.timestamp, entry.timestamp)

    def test_timestamps_are_utc_and_naive_ones_are_taken_as_utc(self):
        naive = ChangeLogEntry("set", timestamp=dt.datetime(2026, 1, 1, 12, 0))
        self.assertEqual(naive.timestamp, dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc))
        self.assertEqual(
            ChangeLogEntry.from_dict({"action": "set", "timestamp": "2026-01-01T12:00:00Z"}).timestamp, naive.timestamp
        )
        self.assertEqual(ChangeLogEntry("set", timestamp=5.5).epoch, 5.5)

    def test_ids_are_made_once_and_kept(self):
        entry = ChangeLogEntry("append")
        made = entry.id
        self.assertEqual(len(made), 32)
        self.assertEqual(entry.id, made)  # made on first use, then kept
        self.assertEqual(ChangeLogEntry("append", id="given").id, "given")

    def test_entries_named_together_get_distinct_ids_and_named_ones_keep_theirs(self):
        named = self.make(id="f" * 32)
        entries = [self.make() for _ in range(50)] + [named]
        ChangeLogEntry.name_all(entries)
        ids = [entry.id for entry in entries]
        self.assertEqual(len(set(ids)), 51)
        self.assertTrue(all(len(value) == 32 and int(value, 16) >= 0 for value in ids))
        self.assertEqual(named.id, "f" * 32)

    def test_unknown_actions_and_schema_versions_are_refused(self):
        with self.assertRaisesRegex(ValueError, "action must be one of .*got 'upsert'"):
            ChangeLogEntry("upsert")
        with self.assertRaisesRegex(ValueError, "schema_version 2 is not supported"):
            ChangeLogEntry.from_dict({"schema_version": 2, "action": "set"})

    def test_replace_copies_with_changes_and_keeps_identity(self):
        entry = self.make()
        redacted = entry.replace(before="<redacted>")
        self.assertEqual((redacted.before, entry.before), ("<redacted>", "new"))
        self.assertEqual((redacted.id, redacted.epoch, redacted.sequence), (entry.id, entry.epoch, 7))
        self.assertNotEqual(redacted, entry)
        self.assertEqual(entry.replace(timestamp=1.0).epoch, 1.0)

    def test_entries_are_compact_and_readable(self):
        entry = self.make()
        self.assertFalse(hasattr(entry, "__dict__"))
        self.assertLessEqual(sys.getsizeof(entry), 160)
        self.assertEqual(
            repr(entry), "ChangeLogEntry(7: update orders[42] orders[3].status: 'new' -> 'paid', actor='ada')"
        )
        self.assertNotEqual(entry, "not an entry")


class ActorTest(unittest.TestCase):
    def test_actor_blocks_nest_and_restore(self):
        self.assertIsNone(current_actor())
        with tracking_actor("ada"):
            with tracking_actor("bob") as name:
                self.assertEqual((name, current_actor()), ("bob", "bob"))
            self.assertEqual(current_actor(), "ada")
        self.assertIsNone(current_actor())

    def test_each_thread_and_task_sees_its_own_actor(self):
        seen = {}

        def work(name):
            with tracking_actor(name):
                barrier.wait(timeout=5)
                seen[name] = current_actor()

        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=work, args=(name,)) for name in ("t1", "t2")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=5)

        async def task(name):
            with tracking_actor(name):
                await asyncio.sleep(0)
                return current_actor()

        async def both():
            return await asyncio.gather(task("a1"), task("a2"))

        self.assertEqual(seen, {"t1": "t1", "t2": "t2"})
        self.assertEqual(asyncio.run(both()), ["a1", "a2"])


if __name__ == "__main__":
    unittest.main()


class FastPathsTest(unittest.TestCase):
    """The short ways a change stream's entries take are exact: the same text, the same entries."""

    SHAPES = [
        {"key": 1, "after": {"id": 1, "note": "a", "ok": True, "gone": None}},
        {"key": "k", "before": {"id": "k"}, "after": {"id": "k", "price": Decimal("1.5"), "at": VALUES["when"]}},
        {"key": 2**70, "after": {"id": 2**70}},  # past 64 bits: tagged
        {"key": 1, "after": {"big": -(2**64)}},
        {"key": 1, "after": {"$id": 1}},  # a name that reads as a tag
        {"key": 1, "after": {1: "one"}},  # a name that is not text
        {"key": 1, "after": {"deep": {"a": [1]}}},
        {"key": 1, "after": {"note": "\ud800"}},  # a lone surrogate orjson refuses
        {"key": [1, 2], "after": {"a": 1, "b": 2}},
        {"key": True, "after": {"a": 1}},
        {"key": 1, "after": [1, 2]},
        {"key": 1, "after": {"a": 1}, "extra": {"why": "x"}},
        {"key": 1, "after": {"a": 1}, "timestamp": dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc)},
    ]

    def test_to_json_writes_what_to_dict_says(self):
        from pdip.conversion.tagged import write_json

        for shape in self.SHAPES:
            with self.subTest(shape=shape):
                entry = ChangeLogEntry("update", entity="t", timestamp=shape.pop("timestamp", 1.25), **shape)
                self.assertEqual(entry.to_json(), write_json(entry.to_dict()))
                self.assertEqual(ChangeLogEntry.from_json(entry.to_json()), entry)

    def test_to_json_bytes_are_the_same_text_as_utf8_on_every_way(self):
        for shape in self.SHAPES:
            with self.subTest(shape=shape):
                fields = dict(shape)
                entry = ChangeLogEntry("update", entity="t", timestamp=fields.pop("timestamp", 1.25), **fields)
                if fields["after"] == {"note": "\ud800"}:  # text UTF-8 cannot hold: refused alike (a dead letter)
                    self.assertRaises(UnicodeEncodeError, entry.to_json_bytes)
                    continue
                written = entry.to_json_bytes()  # a Kafka message's value
                self.assertIsInstance(written, bytes)
                self.assertEqual(written, entry.to_json().encode())
                self.assertEqual(ChangeLogEntry.from_json(written), entry)

    def test_many_texts_read_as_each_alone_and_the_unreadable_ones_named_by_place(self):
        shapes = [dict(shape) for shape in self.SHAPES]
        made = [ChangeLogEntry("update", entity="t", timestamp=s.pop("timestamp", 1.25), **s) for s in shapes]
        made += [
            ChangeLogEntry("delete", entity="t", key=3, actor="me", tenant="x", sequence=7),
            ChangeLogEntry("set", path="a.b", after=2),  # a container's change: no row at all
            ChangeLogEntry("insert", entity="t", key=4, after={"d": {"$date": "2026-01-02"}}),  # a tagged value
        ]
        texts = [entry.to_json() for entry in made]  # text, and bytes below: a Kafka message's value
        texts += [
            b'{"id": "a", "action": "insert", "after": {"$date": "2026-01-02"}, "timestamp": "2026-11-23T10:00:00Z"}',
            b'{"id": "b", "action": "insert", "key": 1, "after": {"a": 1}, "timestamp": "2026-11-23T10:00:00"}',
            b'{"id": "c", "action": "insert", "key": 1, "after": {"a": 1}, "timestamp": 12.5}',
        ]
        bad = [b"{nope", b'{"action": "insert", "key": 1, "timestamp": "yesterday"}', b'{"action": 5}', b"[1]"]
        bad += [b'{"schema_version": 2, "action": "insert"}', '{"action": "nope", "after": {"s": "\ud800"}}']
        entries, failed = ChangeLogEntry.many_from_json([*texts, *bad])
        alone = [ChangeLogEntry.from_json(text) for text in texts]
        self.assertEqual(entries, alone)
        self.assertEqual([type(entry.after) for entry in entries], [type(entry.after) for entry in alone])
        self.assertEqual([entry.timestamp for entry in entries], [entry.timestamp for entry in alone])
        self.assertEqual(entries[-3].after, dt.date(2026, 1, 2))
        self.assertEqual(entries[-2].timestamp, dt.datetime(2026, 11, 23, 10, tzinfo=dt.timezone.utc))
        self.assertEqual([index for index, _ in failed], list(range(len(texts), len(texts) + len(bad))))
        for (_, error), text in zip(failed, bad, strict=True):
            with self.subTest(text=text), self.assertRaises(type(error)):
                ChangeLogEntry.from_json(text)

    def test_the_usual_entry_reads_as_the_general_way_reads_it(self):
        from pdip.conversion.tagged import read_json

        texts = [
            b'{"id": "i", "action": "update", "key": 7, "after": {"amount": 3}, "timestamp": "2026-11-23T10:00:00.1234567+02:00"}',
            b'{"id": "i", "action": "insert", "key": "k", "after": {"a": 1.5, "b": true, "c": null, "d": "x"}, "timestamp": 5.5}',
            b'{"id": "i", "action": "delete", "entity": "t", "key": 1, "before": {"$decimal": "1.50"}, "sequence": 4,'
            b' "timestamp": "2026-11-23T10:00:00Z"}',
            b'{"id": "i", "action": "set", "path": "a[0]", "before": "x", "after": 2, "actor": "me", "tenant": "t",'
            b' "timestamp": "2026-11-23T10:00:00+00:00"}',
            b'{"id": "i", "action": "update", "key": 1, "after": {"$a": 1}, "timestamp": "2026-11-23T10:00:00"}',
            b'{"id": "i", "action": "update", "key": 1, "after": {"a": 2, "$date": "2026-01-02"}, "timestamp": "2026-11-23"}',
            b'{"id": "i", "action": "update", "key": 1, "after": {"a": [1]}, "timestamp": "2026-11-23"}',  # not the usual
            b'{"id": "i", "action": "update", "key": 1, "after": {"a": 1}, "timestamp": 12}',
        ]
        for text in texts:
            with self.subTest(text=text):
                read, general = ChangeLogEntry.from_json(text), ChangeLogEntry.from_dict(read_json(text))
                self.assertEqual(read, general)
                self.assertEqual((type(read.before), type(read.after)), (type(general.before), type(general.after)))
                self.assertEqual(read.timestamp, general.timestamp)
        self.assertEqual(ChangeLogEntry.from_json(texts[2]).before, Decimal("1.50"))
        self.assertEqual(ChangeLogEntry.from_json(texts[0]).timestamp.microsecond, 123456)  # cut, as Python cuts
        before = time.time()
        unstamped = ChangeLogEntry.from_json(b'{"action": "insert", "key": 1, "after": {"a": 1}}')
        self.assertTrue(before <= unstamped.epoch <= time.time())  # written without a time: read now

    def test_message_keys_of_plain_keys_are_those_of_tagged_ones(self):
        from pdip.conversion.tagged import write_json
        from pdip.tracking.entry import message_key

        for key in (1, "k", 2**70, -(2**64), [1, "a"], uuid.UUID(int=5), None):
            with self.subTest(key=key):
                entry = ChangeLogEntry("insert", entity="t", key=key)
                self.assertEqual(message_key(entry), write_json(["t", encode(key)]).encode())

    def test_record_entry_is_an_entry_about_a_record(self):
        from pdip.tracking.entry import record_entry

        made = record_entry("update", "accounts", 3, {"id": 3}, {"id": 3, "n": 1}, 12.5)
        like = ChangeLogEntry(
            "update", entity="accounts", key=3, before={"id": 3}, after={"id": 3, "n": 1}, timestamp=12.5, id=made.id
        )
        self.assertEqual(made, like)
        self.assertIsNone(made.extra)

    def test_entries_packed_and_unpacked_are_the_same_entries_with_their_ids(self):
        from pdip.tracking.entry import packed, unpacked

        entries = [
            ChangeLogEntry("insert", entity="t", key=1, after={"id": 1}, actor="me", tenant="x", sequence=4),
            ChangeLogEntry("set", path="a.b", after=2, extra={"why": "x"}, id="given"),
        ]
        back = unpacked(packed(entries))
        self.assertEqual(back, entries)
        self.assertEqual([entry.id for entry in back], [entries[0].id, "given"])
        self.assertEqual(back[1].extra["why"], "x")
