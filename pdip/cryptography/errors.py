"""Errors raised by pdip.cryptography.

None of these messages ever contains a key, a token or a decrypted value: they end up in logs
and bug reports, which is exactly where secrets must not go.
"""

from __future__ import annotations

ENVIRONMENT_VARIABLE = "APPLICATION_SECRET_KEY"
CONFIGURATION_KEY = "APPLICATION.SECRET_KEY"
KEY_SHAPE = "a key is 32 url-safe base64-encoded bytes (44 characters); CryptoService.generate_key() makes one"


class CryptographyError(Exception):
    """Base class: catch this to handle every pdip.cryptography failure at once."""


class CryptographyNotInstalledError(CryptographyError, ImportError):
    """The optional `cryptography` library is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "Encryption needs the 'cryptography' library, which is an optional extra of pdip; "
            "install it with: pip install 'pdip[cryptography]'"
        )


class SecretKeyError(CryptographyError, ValueError):
    """No secret key is configured, or a configured key is not a valid key."""

    @classmethod
    def missing(cls) -> SecretKeyError:
        return cls(
            "No secret key is configured, so values cannot be encrypted or decrypted. Set the "
            f"environment variable {ENVIRONMENT_VARIABLE}, or {CONFIGURATION_KEY} in "
            "application.yml, to one key or several comma-separated keys (newest first); "
            f"{KEY_SHAPE}."
        )

    @classmethod
    def malformed(cls, position: int, count: int, source: str) -> SecretKeyError:
        which = "The secret key" if count == 1 else f"Secret key {position} of {count}"
        return cls(f"{which} {source} is not a valid key: {KEY_SHAPE}.")


class DecryptionError(CryptographyError):
    """A value could not be decrypted: wrong key, or the value is damaged or not encrypted."""

    @classmethod
    def invalid_token(cls) -> DecryptionError:
        return cls(
            "Could not decrypt the value: it was not encrypted with any of the configured secret "
            "keys, or it was changed or cut short. If the keys were rotated, keep the old key "
            f"after the new one in {ENVIRONMENT_VARIABLE} / {CONFIGURATION_KEY}."
        )

    @classmethod
    def not_text(cls) -> DecryptionError:
        return cls(
            "The value decrypted, but it is not UTF-8 text; it was probably encrypted with "
            "encrypt_bytes, so read it back with decrypt_bytes."
        )
