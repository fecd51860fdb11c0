import base64
import os
import sys
import traceback
import unittest
from unittest import mock

import pdip.cryptography
from pdip.cryptography import (
    CryptographyError,
    CryptographyNotInstalledError,
    CryptoService,
    DecryptionError,
    SecretKeyError,
)
from pdip.dependency.scopes import ISingleton

ENVIRONMENT_VARIABLE = "APPLICATION_SECRET_KEY"


def without_environment_key():
    environment = {name: value for name, value in os.environ.items() if name != ENVIRONMENT_VARIABLE}
    return mock.patch.dict(os.environ, environment, clear=True)


def with_environment_key(value: str):
    return mock.patch.dict(os.environ, {ENVIRONMENT_VARIABLE: value})


def shown_traceback(error: BaseException) -> str:
    """What a user would see printed for `error`, chained exceptions included."""
    return "".join(traceback.format_exception(error))


class PublicNamesTest(unittest.TestCase):
    def test_all_lists_exactly_the_public_names(self):
        self.assertEqual(
            pdip.cryptography.__all__,
            [
                "CryptoService",
                "CryptographyError",
                "CryptographyNotInstalledError",
                "DecryptionError",
                "SecretKeyError",
            ],
        )

    def test_every_error_is_a_cryptography_error(self):
        for error in (CryptographyNotInstalledError, DecryptionError, SecretKeyError):
            with self.subTest(error=error.__name__):
                self.assertTrue(issubclass(error, CryptographyError))
        self.assertTrue(issubclass(CryptographyNotInstalledError, ImportError))
        self.assertTrue(issubclass(SecretKeyError, ValueError))

    def test_service_is_a_singleton(self):
        self.assertTrue(issubclass(CryptoService, ISingleton))


class GenerateKeyTest(unittest.TestCase):
    def test_key_is_32_url_safe_base64_bytes(self):
        key = CryptoService.generate_key()
        self.assertIsInstance(key, str)
        self.assertEqual(len(key), 44)
        self.assertEqual(len(base64.urlsafe_b64decode(key)), 32)
        self.assertNotIn("+", key)
        self.assertNotIn("/", key)

    def test_keys_differ(self):
        self.assertNotEqual(CryptoService.generate_key(), CryptoService.generate_key())

    def test_generated_key_is_accepted_by_fernet(self):
        from cryptography.fernet import Fernet

        key = CryptoService.generate_key()
        self.assertEqual(Fernet(key).decrypt(Fernet(key).encrypt(b"x")), b"x")


class RoundTripTest(unittest.TestCase):
    def setUp(self):
        self.service = CryptoService(CryptoService.generate_key())

    def test_text_round_trip(self):
        token = self.service.encrypt("s3cret")
        self.assertNotIn("s3cret", token)
        self.assertEqual(self.service.decrypt(token), "s3cret")

    def test_unicode_round_trip(self):
        text = "pässwörd ✓ 秘密 🔑"
        self.assertEqual(self.service.decrypt(self.service.encrypt(text)), text)

    def test_empty_text_round_trip(self):
        self.assertEqual(self.service.decrypt(self.service.encrypt("")), "")

    def test_token_is_ascii_text(self):
        token = self.service.encrypt("value")
        self.assertIsInstance(token, str)
        self.assertTrue(token.isascii())

    def test_same_text_encrypts_differently_each_time(self):
        self.assertNotEqual(self.service.encrypt("same"), self.service.encrypt("same"))

    def test_decrypt_accepts_a_bytes_token(self):
        token = self.service.encrypt("value")
        self.assertEqual(self.service.decrypt(token.encode("ascii")), "value")

    def test_bytes_round_trip(self):
        data = bytes(range(256))
        token = self.service.encrypt_bytes(data)
        self.assertIsInstance(token, bytes)
        self.assertEqual(self.service.decrypt_bytes(token), data)
        self.assertEqual(self.service.decrypt_bytes(token.decode("ascii")), data)

    def test_bytearray_and_memoryview_are_bytes_too(self):
        for data in (bytearray(b"abc"), memoryview(b"abc")):
            with self.subTest(kind=type(data).__name__):
                self.assertEqual(self.service.decrypt_bytes(self.service.encrypt_bytes(data)), b"abc")

    def test_encrypt_refuses_bytes_and_names_encrypt_bytes(self):
        with self.assertRaisesRegex(TypeError, "encrypt_bytes"):
            self.service.encrypt(b"value")

    def test_encrypt_bytes_refuses_text_and_names_encrypt(self):
        with self.assertRaisesRegex(TypeError, "use encrypt for text"):
            self.service.encrypt_bytes("value")

    def test_decrypt_refuses_a_token_that_is_not_text_or_bytes(self):
        with self.assertRaisesRegex(TypeError, "str or bytes"):
            self.service.decrypt(12345)

    def test_binary_value_read_as_text_says_use_decrypt_bytes(self):
        token = self.service.encrypt_bytes(b"\xff\xfe secret bytes")
        with self.assertRaises(DecryptionError) as caught:
            self.service.decrypt(token)
        self.assertIn("decrypt_bytes", str(caught.exception))
        self.assertNotIn("secret bytes", shown_traceback(caught.exception))


class KeysTest(unittest.TestCase):
    def test_comma_separated_string_is_several_keys(self):
        old, new = CryptoService.generate_key(), CryptoService.generate_key()
        token = CryptoService(old).encrypt("value")
        self.assertEqual(CryptoService(f" {new} , {old} ,").decrypt(token), "value")

    def test_sequence_of_keys(self):
        old, new = CryptoService.generate_key(), CryptoService.generate_key()
        token = CryptoService(old).encrypt("value")
        self.assertEqual(CryptoService([new, old]).decrypt(token), "value")
        self.assertEqual(CryptoService((new, old)).decrypt(token), "value")

    def test_bytes_key_as_made_by_fernet(self):
        from cryptography.fernet import Fernet

        key = Fernet.generate_key()
        token = CryptoService(key).encrypt("value")
        self.assertEqual(CryptoService([key]).decrypt(token), "value")
        self.assertEqual(Fernet(key).decrypt(token.encode()), b"value")

    def test_a_key_that_is_not_text_is_a_type_error(self):
        with self.assertRaisesRegex(TypeError, "strings, not int"):
            CryptoService([CryptoService.generate_key(), 42])


class RotationTest(unittest.TestCase):
    def setUp(self):
        self.old = CryptoService.generate_key()
        self.new = CryptoService.generate_key()
        self.token = CryptoService(self.old).encrypt("value")

    def test_old_token_decrypts_after_rotation(self):
        self.assertEqual(CryptoService([self.new, self.old]).decrypt(self.token), "value")

    def test_newest_key_encrypts(self):
        token = CryptoService([self.new, self.old]).encrypt("value")
        self.assertEqual(CryptoService(self.new).decrypt(token), "value")
        with self.assertRaises(DecryptionError):
            CryptoService(self.old).decrypt(token)

    def test_rotate_re_encrypts_with_the_newest_key(self):
        rotated = CryptoService([self.new, self.old]).rotate(self.token)
        self.assertIsInstance(rotated, str)
        self.assertNotEqual(rotated, self.token)
        self.assertEqual(CryptoService(self.new).decrypt(rotated), "value")
        with self.assertRaises(DecryptionError):
            CryptoService(self.old).decrypt(rotated)

    def test_rotate_accepts_bytes(self):
        rotated = CryptoService([self.new, self.old]).rotate(self.token.encode("ascii"))
        self.assertEqual(CryptoService(self.new).decrypt(rotated), "value")

    def test_rotate_of_a_token_no_key_opens_is_a_decryption_error(self):
        with self.assertRaises(DecryptionError):
            CryptoService(self.new).rotate(self.token)


class DecryptionErrorTest(unittest.TestCase):
    def setUp(self):
        self.key = CryptoService.generate_key()
        self.other_key = CryptoService.generate_key()
        self.token = CryptoService(self.key).encrypt("plaintext-value")

    def assert_reveals_nothing(self, error: Exception):
        # The whole printed traceback, inner errors included, must not quote any secret.
        shown = shown_traceback(error)
        for secret in (self.token, "plaintext-value", self.key, self.other_key):
            self.assertNotIn(secret, shown)
        self.assertNotIn(self.token[:20], shown)

    def test_wrong_key(self):
        with self.assertRaises(DecryptionError) as caught:
            CryptoService(self.other_key).decrypt(self.token)
        self.assert_reveals_nothing(caught.exception)
        self.assertIn("not encrypted with any of the configured secret keys", str(caught.exception))
        self.assertIn(ENVIRONMENT_VARIABLE, str(caught.exception))

    def test_garbled_tokens(self):
        service = CryptoService(self.key)
        tampered = self.token[:-6] + ("A" if self.token[-6] != "A" else "B") + self.token[-5:]
        for token in ["not a token", "", self.token[:-10], tampered, "gAAAAAB" + "x" * 60, "tökén"]:
            with self.subTest(token=token):
                with self.assertRaises(DecryptionError) as caught:
                    service.decrypt(token)
                self.assert_reveals_nothing(caught.exception)
                if token:
                    self.assertNotIn(token, shown_traceback(caught.exception))

    def test_garbled_bytes_token(self):
        with self.assertRaises(DecryptionError) as caught:
            CryptoService(self.key).decrypt_bytes(b"\xff\x00garbage")
        self.assert_reveals_nothing(caught.exception)

    def test_is_a_cryptography_error(self):
        with self.assertRaises(CryptographyError):
            CryptoService(self.other_key).decrypt(self.token)


class MalformedKeyTest(unittest.TestCase):
    BAD_KEYS = (
        "short",
        "not-base64-at-all!!",
        base64.urlsafe_b64encode(b"x" * 31).decode(),  # valid base64, wrong length
        base64.urlsafe_b64encode(b"x" * 33).decode(),
        "ключ" * 11,
    )

    def test_error_says_what_a_key_looks_like_without_echoing_it(self):
        for key in self.BAD_KEYS:
            with self.subTest(key=key):
                with self.assertRaises(SecretKeyError) as caught:
                    CryptoService(key)
                message = str(caught.exception)
                self.assertNotIn(key, shown_traceback(caught.exception))
                self.assertIn("32 url-safe base64-encoded bytes", message)
                self.assertIn("CryptoService.generate_key()", message)

    def test_error_says_which_of_several_keys_is_bad(self):
        good = CryptoService.generate_key()
        with self.assertRaises(SecretKeyError) as caught:
            CryptoService(f"{good},short,{good}")
        message = str(caught.exception)
        self.assertIn("Secret key 2 of 3", message)
        self.assertNotIn(good, message)

    def test_non_ascii_bytes_key(self):
        with self.assertRaisesRegex(SecretKeyError, "not a valid key"):
            CryptoService(b"\xff" * 44)

    def test_keys_given_explicitly_are_checked_at_construction(self):
        with self.assertRaisesRegex(SecretKeyError, "given to CryptoService"):
            CryptoService(["short"])

    def test_malformed_environment_key_fails_at_first_use(self):
        with with_environment_key("short"):
            service = CryptoService()
            with self.assertRaises(SecretKeyError) as caught:
                service.encrypt("value")
        self.assertIn(f"The secret key in {ENVIRONMENT_VARIABLE} is not a valid key", str(caught.exception))
        self.assertNotIn("short", str(caught.exception))


class MissingKeyTest(unittest.TestCase):
    def assert_names_where_keys_come_from(self, error: Exception):
        message = str(error)
        self.assertIn("APPLICATION_SECRET_KEY", message)
        self.assertIn("APPLICATION.SECRET_KEY", message)
        self.assertIn("application.yml", message)
        self.assertIn("CryptoService.generate_key()", message)

    def test_no_keys_anywhere(self):
        with without_environment_key():
            service = CryptoService()
            uses = (lambda: service.encrypt("x"), lambda: service.decrypt("x"), lambda: service.rotate("x"))
            for use in uses:
                with self.assertRaises(SecretKeyError) as caught:
                    use()
                self.assert_names_where_keys_come_from(caught.exception)

    def test_empty_or_blank_keys(self):
        for keys in ["", " , ,", [], ["", " "]]:
            with self.subTest(keys=keys):
                service = CryptoService(keys)  # no keys is only an error once one is needed
                with self.assertRaises(SecretKeyError) as caught:
                    service.encrypt("x")
                self.assert_names_where_keys_come_from(caught.exception)

    def test_blank_environment_variable(self):
        with with_environment_key("  "), self.assertRaises(SecretKeyError):
            CryptoService().encrypt("x")


class EnvironmentKeyTest(unittest.TestCase):
    def test_constructible_with_no_arguments_and_no_key(self):
        with without_environment_key():
            service = CryptoService()
        self.assertIsInstance(service, CryptoService)

    def test_environment_is_read_at_first_use_not_at_construction(self):
        key = CryptoService.generate_key()
        with without_environment_key():
            service = CryptoService()
        with with_environment_key(key):
            token = service.encrypt("value")
        self.assertEqual(CryptoService(key).decrypt(token), "value")

    def test_keys_are_kept_after_first_use(self):
        key = CryptoService.generate_key()
        with with_environment_key(key):
            service = CryptoService()
            token = service.encrypt("value")
        with without_environment_key():
            self.assertEqual(service.decrypt(token), "value")

    def test_several_environment_keys_rotate(self):
        old, new = CryptoService.generate_key(), CryptoService.generate_key()
        token = CryptoService(old).encrypt("value")
        with with_environment_key(f"{new},{old}"):
            service = CryptoService()
            self.assertEqual(service.decrypt(token), "value")
            self.assertEqual(CryptoService(new).decrypt(service.rotate(token)), "value")

    def test_explicit_keys_win_over_the_environment(self):
        explicit, environment = CryptoService.generate_key(), CryptoService.generate_key()
        with with_environment_key(environment):
            token = CryptoService(explicit).encrypt("value")
        self.assertEqual(CryptoService(explicit).decrypt(token), "value")
        with self.assertRaises(DecryptionError):
            CryptoService(environment).decrypt(token)

    def test_environment_variable_name_is_on_the_class(self):
        self.assertEqual(CryptoService.environment_variable, ENVIRONMENT_VARIABLE)


class WithoutCryptographyLibraryTest(unittest.TestCase):
    def missing_library(self):
        # A None entry in sys.modules makes `import` of that name raise ImportError.
        return mock.patch.dict(sys.modules, {"cryptography": None, "cryptography.fernet": None})

    def test_construction_and_key_checks_work_without_it(self):
        key = CryptoService.generate_key()
        with self.missing_library():
            CryptoService(key)
            self.assertEqual(len(CryptoService.generate_key()), 44)
            with self.assertRaises(SecretKeyError):
                CryptoService("short")

    def test_first_use_names_the_extra(self):
        service = CryptoService(CryptoService.generate_key())
        with self.missing_library(), self.assertRaises(CryptographyNotInstalledError) as caught:
            service.encrypt("value")
        self.assertIn("pip install 'pdip[cryptography]'", str(caught.exception))
        self.assertIsInstance(caught.exception, ImportError)


if __name__ == "__main__":
    unittest.main()
