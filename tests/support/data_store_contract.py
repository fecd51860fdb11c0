"""One contract every DataStore obeys, run against each store (unit tests on local ones,
integration tests on S3 and PostgreSQL): subclass it with `make_store`."""

from __future__ import annotations

import datetime as dt
import hashlib
import tracemalloc
from collections.abc import Iterator

from pdip.storage import (
    DataStore,
    InvalidKeyError,
    ItemNotFoundError,
    ItemTooLargeError,
    PreconditionFailedError,
)

MIB = 1_048_576


def pattern(size: int, piece: int = 64 * 1024) -> Iterator[bytes]:
    """`size` bytes of varying content, made a piece at a time (never whole in memory)."""
    block = bytes(range(256)) * (piece // 256)
    sent = 0
    number = 0
    while sent < size:
        chunk = (number.to_bytes(4, "big") + block)[: min(piece, size - sent)]
        number += 1
        sent += len(chunk)
        yield chunk


def digest(chunks) -> tuple[int, str]:
    hasher = hashlib.sha256()
    size = 0
    for chunk in chunks:
        hasher.update(chunk)
        size += len(chunk)
    return size, hasher.hexdigest()


class DataStoreContract:
    """Mixed into a unittest.TestCase; `make_store()` returns an empty store."""

    big_bytes = 8 * MIB  # the flat-memory check: peak below big_bytes / peak_fraction
    peak_fraction = 4

    def make_store(self) -> DataStore:
        raise NotImplementedError

    def setUp(self):
        super().setUp()
        self.store = self.make_store()

    def test_a_written_item_reads_back_with_its_size_time_etag_and_content_type(self):
        before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=2)
        item = self.store.write("notes/hello.txt", [b"hello ", b"world"], "text/plain")
        self.assertEqual((item.key, item.size, item.content_type), ("notes/hello.txt", 11, "text/plain"))
        self.assertGreaterEqual(item.updated_at, before)
        self.assertEqual(b"".join(self.store.read("notes/hello.txt")), b"hello world")
        self.assertEqual(self.store.item("notes/hello.txt"), item)

    def test_the_content_type_is_guessed_from_the_key_when_not_given(self):
        self.assertEqual(self.store.write("photo.png", [b"\x89PNG"]).content_type, "image/png")
        self.assertEqual(self.store.write("blob", [b"1"]).content_type, "application/octet-stream")

    def test_a_rewrite_changes_the_etag_and_an_empty_item_is_an_item(self):
        first = self.store.write("a.bin", [b"one"])
        second = self.store.write("a.bin", [b"two!"])
        self.assertNotEqual(first.etag, second.etag)
        self.assertEqual(b"".join(self.store.read("a.bin")), b"two!")
        empty = self.store.write("empty.bin", [])
        self.assertEqual((empty.size, b"".join(self.store.read("empty.bin"))), (0, b""))

    def test_a_missing_item_is_none_and_reading_it_raises(self):
        self.assertIsNone(self.store.item("nothing/here"))
        with self.assertRaises(ItemNotFoundError) as raised:
            self.store.read("nothing/here")
        self.assertIn("nothing/here", str(raised.exception))

    def test_delete_removes_the_item_and_says_whether_there_was_one(self):
        self.store.write("gone.txt", [b"x"])
        self.assertTrue(self.store.delete("gone.txt"))
        self.assertIsNone(self.store.item("gone.txt"))
        self.assertFalse(self.store.delete("gone.txt"))

    def test_unsafe_keys_are_refused_naming_the_key(self):
        for key in ("../escape", "a/../../b", "/etc/passwd", "a\x00b", "a//b", "a\\b", "", "./a"):
            with self.subTest(key=key), self.assertRaises(InvalidKeyError) as raised:
                self.store.write(key, [b"x"])
            self.assertIn(repr(key), str(raised.exception))

    def test_over_the_limit_nothing_is_replaced(self):
        self.store.write("limited.bin", [b"old"])
        with self.assertRaises(ItemTooLargeError) as raised:
            self.store.write("limited.bin", pattern(3000, 1000), max_bytes=2500)
        self.assertIn("2500 bytes", str(raised.exception))
        self.assertEqual(b"".join(self.store.read("limited.bin")), b"old")
        with self.assertRaises(ItemTooLargeError):
            self.store.write("new.bin", pattern(3000, 1000), max_bytes=2500)
        self.assertIsNone(self.store.item("new.bin"))
        self.assertEqual([item.key for item in self.store.items().items], ["limited.bin"])

    def test_a_failing_upload_leaves_the_old_item(self):
        def broken():
            yield b"partial"
            raise ConnectionError("client went away")

        self.store.write("kept.txt", [b"kept"])
        with self.assertRaises(ConnectionError):
            self.store.write("kept.txt", broken())
        self.assertEqual(b"".join(self.store.read("kept.txt")), b"kept")

    def test_if_match_and_if_none_match_guard_a_write(self):
        first = self.store.write("guarded.txt", [b"1"])
        with self.assertRaises(PreconditionFailedError):
            self.store.write("guarded.txt", [b"2"], if_none_match=True)
        with self.assertRaises(PreconditionFailedError):
            self.store.write("guarded.txt", [b"2"], if_match="not-the-etag")
        with self.assertRaises(PreconditionFailedError):
            self.store.write("absent.txt", [b"2"], if_match="*")
        second = self.store.write("guarded.txt", [b"2"], if_match=first.etag)
        self.assertEqual(b"".join(self.store.read("guarded.txt")), b"2")
        self.store.write("guarded.txt", [b"3"], if_match="*")
        self.assertNotEqual(self.store.item("guarded.txt").etag, second.etag)
        self.assertEqual(self.store.write("created.txt", [b"c"], if_none_match=True).size, 1)

    def test_listing_pages_in_key_order_by_prefix(self):
        keys = ["a/1.txt", "a/2.txt", "a/3.txt", "a/sub/4.txt", "b/5.txt", "ab.txt"]
        for key in keys:
            self.store.write(key, [key.encode()])
        page = self.store.items(prefix="a/", limit=2)
        self.assertEqual([item.key for item in page.items], ["a/1.txt", "a/2.txt"])
        page = self.store.items(prefix="a/", after=page.next_after, limit=2)
        self.assertEqual([item.key for item in page.items], ["a/3.txt", "a/sub/4.txt"])
        self.assertIsNone(page.next_after)
        self.assertEqual([item.key for item in self.store.items(prefix="a/", after="a/3.txt").items], ["a/sub/4.txt"])
        everything = self.store.items(limit=10)
        self.assertEqual([item.key for item in everything.items], sorted(keys))
        self.assertIsNone(everything.next_after)
        self.assertEqual(everything.items[0].size, len(b"a/1.txt"))
        with self.assertRaises(ValueError):
            self.store.items(limit=0)

    def test_a_big_item_streams_in_and_out_with_flat_memory(self):
        size = self.big_bytes
        self.store.write("warm-up", [b"clients and models loaded before measuring"])
        tracemalloc.start()
        try:
            self.store.write("big.bin", pattern(size))
            _, peak_in = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            read = digest(self.store.read("big.bin"))
            _, peak_out = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        self.assertEqual(read, digest(pattern(size)))
        self.assertEqual(self.store.item("big.bin").size, size)
        self.assertLess(peak_in, size / self.peak_fraction, f"writing {size} bytes peaked at {peak_in}")
        self.assertLess(peak_out, size / self.peak_fraction, f"reading {size} bytes peaked at {peak_out}")

    def test_a_range_of_bytes_is_read_without_the_rest(self):
        content = bytes(range(256)) * 40  # 10,240 bytes over several chunks of the small stores
        self.store.write("ranged.bin", [content])
        for start, stop in ((0, 10), (5, 5000), (4000, 10240), (10000, None), (3, 99999), (10240, None), (7, 7)):
            with self.subTest(start=start, stop=stop):
                self.assertEqual(b"".join(self.store.read("ranged.bin", start, stop)), content[start:stop])
        with self.assertRaises(ValueError) as raised:
            self.store.read("ranged.bin", 10, 5)
        self.assertIn("expected 0 <= start <= stop", str(raised.exception))

    def test_a_precondition_is_checked_again_when_the_item_is_replaced(self):
        def overtaken():
            yield b"first"
            self.store.write("raced.txt", [b"second"], if_none_match=True)  # another writer wins meanwhile
            yield b" writer"

        with self.assertRaises(PreconditionFailedError):
            self.store.write("raced.txt", overtaken(), if_none_match=True)
        self.assertEqual(b"".join(self.store.read("raced.txt")), b"second")
