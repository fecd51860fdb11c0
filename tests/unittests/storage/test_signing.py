"""Signed URLs: valid for one method, store, key and expiry; anything changed is refused."""

import unittest

from pdip.storage import SignatureError, StorageConfigurationError, UrlSigner

SECRET = "s" * 32


class UrlSignerTest(unittest.TestCase):
    def setUp(self):
        self.signer = UrlSigner(SECRET)
        self.expires, self.signature = self.signer.sign("get", "uploads", "cat.png", 600, now=1000.0)

    def test_a_signature_holds_for_what_it_was_made_for_until_it_expires(self):
        self.assertEqual(self.expires, 1600)
        self.signer.check("GET", "uploads", "cat.png", 1600, self.signature, now=1599.0)
        with self.assertRaises(SignatureError) as raised:
            self.signer.check("GET", "uploads", "cat.png", 1600, self.signature, now=1601.0)
        self.assertIn("expired at 1600", str(raised.exception))

    def test_anything_changed_is_refused(self):
        changes = [
            ("PUT", "uploads", "cat.png", 1600, self.signature),
            ("GET", "other", "cat.png", 1600, self.signature),
            ("GET", "uploads", "dog.png", 1600, self.signature),
            ("GET", "uploads", "cat.png", 9999, self.signature),
            ("GET", "uploads", "cat.png", 1600, self.signature[:-1] + ("A" if self.signature[-1] != "A" else "B")),
            ("GET", "uploads", "cat.png", 1600, "é"),
        ]
        for change in changes:
            with self.subTest(change=change), self.assertRaises(SignatureError) as raised:
                self.signer.check(*change, now=1000.0)
            self.assertIn("does not match", str(raised.exception))
        self.assertNotEqual(UrlSigner("t" * 32).sign("GET", "uploads", "cat.png", 600, now=1000.0)[1], self.signature)

    def test_a_short_secret_or_another_method_is_refused_and_the_secret_never_shown(self):
        with self.assertRaises(StorageConfigurationError) as raised:
            UrlSigner("short")
        self.assertIn("STORAGE.SECRET: expected at least 32 bytes", str(raised.exception))
        with self.assertRaises(ValueError) as raised:
            self.signer.sign("DELETE", "uploads", "cat.png", 60)
        self.assertIn("expected one of GET, PUT", str(raised.exception))
        self.assertNotIn(SECRET, repr(self.signer))
        self.assertEqual(len(UrlSigner(SECRET.encode()).sign("GET", "s", "k", 1)[1]), 43)
