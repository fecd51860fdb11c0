"""pgoutput messages, built byte by byte as PostgreSQL's documentation lays them out, decoded."""

import datetime as dt
import struct
import unittest
from decimal import Decimal

from pdip.integrator.adapters.sql.pgoutput import (
    PgOutputDecoder,
    ProtocolError,
    lsn_of,
    lsn_text,
    moment,
)

INT4, NUMERIC, TEXT = 23, 1700, 25
LOADERS = {INT4: int, NUMERIC: Decimal}


def load(oid):
    convert = LOADERS.get(oid, str)
    return lambda data: convert(bytes(data).decode())


def string(text):
    return text.encode() + b"\0"


def relation(oid, name, columns, schema="public", identity=b"d"):
    body = struct.pack("!I", oid) + string(schema) + string(name) + identity + struct.pack("!h", len(columns))
    for column, type_oid, key in columns:
        body += bytes([1 if key else 0]) + string(column) + struct.pack("!Ii", type_oid, -1)
    return b"R" + body


def values(*items):
    body = struct.pack("!h", len(items))
    for item in items:
        if item is None:
            body += b"n"
        elif item is ...:
            body += b"u"
        else:
            data = str(item).encode()
            body += b"t" + struct.pack("!i", len(data)) + data
    return body


def begin(xid=7):
    return b"B" + struct.pack("!QqI", 100, 0, xid)


def commit(end_lsn, micros=0):
    return b"C" + struct.pack("!BQQq", 0, end_lsn - 8, end_lsn, micros)


ACCOUNTS = [("id", INT4, True), ("balance", NUMERIC, False), ("note", TEXT, False)]


class DecoderTests(unittest.TestCase):
    def setUp(self):
        self.decoder = PgOutputDecoder(load)

    def feed(self, *messages):
        out = []
        for message in messages:
            commit = self.decoder.feed(message)
            if commit is not None:
                out.append(commit)
        return out

    def test_a_transaction_is_handed_over_whole_at_its_commit(self):
        self.assertEqual(self.feed(relation(16384, "accounts", ACCOUNTS), begin(9)), [])
        self.assertTrue(self.decoder.in_transaction)
        insert = b"I" + struct.pack("!I", 16384) + b"N" + values(1, "10.50", "hi")
        self.assertEqual(self.feed(insert), [])
        (done,) = self.feed(commit(0x1_0000_0010, micros=1_000_000))
        self.assertFalse(self.decoder.in_transaction)
        self.assertEqual((done.xid, done.end_lsn), (9, 0x1_0000_0010))
        self.assertEqual(done.time, dt.datetime(2000, 1, 1, 0, 0, 1, tzinfo=dt.timezone.utc))
        self.assertEqual(done.seconds, done.time.timestamp())
        (change,) = done.changes
        self.assertEqual(change.action, "insert")
        self.assertEqual(change.new, {"id": 1, "balance": Decimal("10.50"), "note": "hi"})
        self.assertEqual(change.relation.qualified, "accounts")

    def test_updates_deletes_and_truncates(self):
        self.feed(relation(1, "accounts", ACCOUNTS, schema="bank", identity=b"f"), begin())
        old = b"O" + values(1, "10", None)
        update = b"U" + struct.pack("!I", 1) + old + b"N" + values(1, "12", ...)
        keyed = b"U" + struct.pack("!I", 1) + b"N" + values(2, "3", "x")
        delete = b"D" + struct.pack("!I", 1) + b"K" + values(1, None, None)
        truncate = b"T" + struct.pack("!iB", 1, 0) + struct.pack("!I", 1)
        skipped = [b"Y" + struct.pack("!I", 5) + string("public") + string("mood"), b"O" + b"\0" * 9]
        (done,) = self.feed(update, keyed, delete, truncate, *skipped, commit(64))
        first, second, third, fourth = done.changes
        self.assertEqual(first.relation.qualified, "bank.accounts")
        self.assertEqual(first.old, {"id": 1, "balance": Decimal(10), "note": None})
        self.assertEqual(first.new, {"id": 1, "balance": Decimal(12)})  # the unchanged large value is left out
        self.assertEqual((second.old, second.new), (None, {"id": 2, "balance": Decimal(3), "note": "x"}))
        # under "K" only the key is known: the nulls the server sends for the other columns are left out
        self.assertEqual((third.action, third.old), ("delete", {"id": 1}))
        self.assertEqual((fourth.action, fourth.relation.name), ("truncate", "accounts"))
        rekeyed = b"U" + struct.pack("!I", 1) + b"K" + values(5, None, None) + b"N" + values(6, "1", "y")
        (done,) = self.feed(begin(), rekeyed, commit(96))
        self.assertEqual((done.changes[0].old, done.changes[0].new["id"]), ({"id": 5}, 6))

    def test_what_it_does_not_read_is_refused_with_the_reason(self):
        with self.assertRaisesRegex(ProtocolError, "unknown pgoutput message b'Z'"):
            self.feed(b"Z")
        self.feed(relation(1, "accounts", ACCOUNTS))
        binary = b"I" + struct.pack("!I", 1) + b"N" + struct.pack("!h", 1) + b"b"
        with self.assertRaisesRegex(ProtocolError, "unknown tuple value kind 'b'"):
            self.feed(binary)

    def test_lsn_text_both_ways(self):
        self.assertEqual(lsn_text(0x16_B374D848), "16/B374D848")
        self.assertEqual(lsn_of("16/B374D848"), 0x16_B374D848)
        self.assertEqual(moment(0), dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))


if __name__ == "__main__":
    unittest.main()


class MakeTests(unittest.TestCase):
    """A consumer's own record of each change, built as the message is read."""

    def test_make_builds_each_change_with_the_commit_time_from_begin(self):
        made = []

        def make(action, relation, new, old, seconds):
            made.append((action, relation.qualified, new, old, seconds))
            return action

        decoder = PgOutputDecoder(load, make=make)
        decoder.feed(relation(5, "accounts", ACCOUNTS, schema="bank"))
        decoder.feed(b"B" + struct.pack("!QqI", 100, 2_500_000, 3))
        decoder.feed(b"I" + struct.pack("!I", 5) + b"N" + values(1, "1", "a"))
        decoder.feed(b"D" + struct.pack("!I", 5) + b"K" + values(1, None, None))
        decoder.feed(b"T" + struct.pack("!iB", 1, 0) + struct.pack("!I", 5))
        (done,) = [c for c in [decoder.feed(commit(0x20, micros=2_500_000))] if c is not None]
        self.assertEqual(done.changes, ["insert", "delete", "truncate"])
        seconds = moment(2_500_000).timestamp()
        self.assertEqual(
            made,
            [
                ("insert", "bank.accounts", {"id": 1, "balance": Decimal("1"), "note": "a"}, None, seconds),
                ("delete", "bank.accounts", None, {"id": 1}, seconds),
                ("truncate", "bank.accounts", None, None, seconds),
            ],
        )
        self.assertIsNone(decoder.relations[5].key)  # the consumer's to fill


class ArrivedTests(unittest.TestCase):
    """The capture reads what the replication connection holds in runs, under one lock."""

    def test_a_run_ends_when_nothing_more_is_at_hand_or_at_its_most(self):
        from types import SimpleNamespace

        from pdip.integrator.adapters.sql.capture_postgres import _arrived

        held = [SimpleNamespace(payload=bytes([n])) for n in range(5)]
        cursor = SimpleNamespace(read_message=lambda: held.pop(0) if held else None)
        self.assertEqual(_arrived(cursor, most=3), [b"\x00", b"\x01", b"\x02"])
        self.assertEqual(_arrived(cursor, most=3), [b"\x03", b"\x04"])  # then nothing at hand
        self.assertEqual(_arrived(cursor), [])
