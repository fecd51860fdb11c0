"""Keys, limits and chunking: the rules every store shares."""

import unittest

from pdip.storage import InvalidKeyError, ItemTooLargeError, check_key
from pdip.storage.items import check_prefix, limited, rechunked


class KeyTest(unittest.TestCase):
    def test_relative_slash_separated_keys_pass(self):
        for key in ("a", "a/b/c.txt", "ünï/cödé.bin", "a b/c-d_e.f", "x" * 1024):
            self.assertEqual(check_key(key), key)

    def test_unsafe_keys_are_refused_saying_why(self):
        cases = {
            "../x": "'..' segments",
            "a/./b": "'.' and",
            "/abs": "not an absolute path",
            "C:/windows": "not an absolute path",
            "a\x00b": "NUL",
            "a\nb": "control characters",
            "a\\b": "backslash",
            "a/": "empty",
            "": "non-empty",
            "é" * 513: "longer than 1024 bytes",
        }
        for key, reason in cases.items():
            with self.subTest(key=key), self.assertRaises(InvalidKeyError) as raised:
                check_key(key)
            self.assertIn(reason, str(raised.exception))
            self.assertEqual(raised.exception.key, key)
        with self.assertRaises(InvalidKeyError):
            check_key(None)

    def test_a_prefix_is_empty_or_the_start_of_a_key(self):
        self.assertEqual(check_prefix(""), "")
        self.assertEqual(check_prefix("a/b/"), "a/b/")
        with self.assertRaises(InvalidKeyError):
            check_prefix("../")


class ChunkingTest(unittest.TestCase):
    def test_limited_stops_as_soon_as_the_limit_is_passed(self):
        taken = []

        def chunks():
            for number in range(10):
                taken.append(number)
                yield b"x" * 10

        with self.assertRaises(ItemTooLargeError) as raised:
            list(limited(chunks(), "k", 35))
        self.assertEqual(taken, [0, 1, 2, 3])
        self.assertEqual(raised.exception.limit, 35)
        self.assertEqual(list(limited([b"ab"], "k", None)), [b"ab"])

    def test_rechunked_gives_pieces_of_the_size_asked(self):
        self.assertEqual(list(rechunked([b"abc", b"defgh", b"", b"ij"], 4)), [b"abcd", b"efgh", b"ij"])
        self.assertEqual(list(rechunked([], 4)), [])
