"""CryptoService: symmetric encryption of short values (config secrets, tokens) with Fernet.

Fernet gives authenticated encryption (AES-128-CBC with an HMAC-SHA256), so a changed or
truncated token is refused instead of decrypting to garbage. Several keys enable rotation: the
first (newest) key encrypts, every key decrypts, and `rotate` re-encrypts an old token with the
newest key, after which the old key can be retired.

The `cryptography` library is an optional extra, imported only when a value is first encrypted
or decrypted; constructing the service, checking keys and generating keys work without it.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pdip.cryptography.errors import (
    ENVIRONMENT_VARIABLE,
    CryptographyNotInstalledError,
    DecryptionError,
    SecretKeyError,
)
from pdip.dependency.scopes import ISingleton

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

Keys = str | bytes | Sequence[str | bytes]

_KEY_BYTES = 32


class CryptoService(ISingleton):
    """Encrypts and decrypts values with one or more Fernet keys, newest first.

    `keys` is one key, a comma-separated string of keys, or a sequence of keys. Keys given here
    are checked at once, so a malformed key fails at start-up. With no keys (how a DI container
    builds the service) the keys are read from the `APPLICATION_SECRET_KEY` environment variable
    when a value is first encrypted or decrypted.
    """

    environment_variable = ENVIRONMENT_VARIABLE

    def __init__(self, keys: Keys | None = None) -> None:
        self._keys: list[bytes] | None = None
        if keys is not None:
            self._keys = _parse_keys(keys, "given to CryptoService")
        self._fernet: MultiFernet | None = None

    @staticmethod
    def generate_key() -> str:
        """A new random key, in the form `keys` and `APPLICATION_SECRET_KEY` expect."""
        return base64.urlsafe_b64encode(os.urandom(_KEY_BYTES)).decode("ascii")

    def encrypt(self, text: str) -> str:
        """`text` encrypted with the newest key, as a url-safe ASCII token."""
        if not isinstance(text, str):
            raise TypeError(f"encrypt takes text (str), not {type(text).__name__}; use encrypt_bytes for bytes")
        return self.encrypt_bytes(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str | bytes) -> str:
        """The text inside `token`; raises DecryptionError if no configured key opens it."""
        try:
            return self.decrypt_bytes(token).decode("utf-8")
        except UnicodeDecodeError:
            # The error's own message quotes the decrypted bytes, so it must not surface.
            raise DecryptionError.not_text() from None

    def encrypt_bytes(self, data: bytes) -> bytes:
        """`data` encrypted with the newest key, as an ASCII token in bytes."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"encrypt_bytes takes bytes, not {type(data).__name__}; use encrypt for text")
        return self._multi_fernet().encrypt(bytes(data))

    def decrypt_bytes(self, token: str | bytes) -> bytes:
        """The bytes inside `token`; raises DecryptionError if no configured key opens it."""
        fernet = self._multi_fernet()
        try:
            return fernet.decrypt(_token_bytes(token))
        except _invalid_token_errors():
            raise DecryptionError.invalid_token() from None

    def rotate(self, token: str) -> str:
        """`token` re-encrypted with the newest key; any configured key must open it."""
        fernet = self._multi_fernet()
        try:
            return fernet.rotate(_token_bytes(token)).decode("ascii")
        except _invalid_token_errors():
            raise DecryptionError.invalid_token() from None

    def _multi_fernet(self) -> MultiFernet:
        if self._fernet is None:
            keys = self._keys
            if keys is None:
                configured = os.environ.get(ENVIRONMENT_VARIABLE, "")
                keys = _parse_keys(configured, f"in {ENVIRONMENT_VARIABLE}")
            if not keys:
                raise SecretKeyError.missing()
            fernet = _fernet_module()
            self._fernet = fernet.MultiFernet([fernet.Fernet(key) for key in keys])
        return self._fernet


def _parse_keys(keys: Keys, source: str) -> list[bytes]:
    """Split, trim and check keys; `source` tells the user where a malformed key came from."""
    if isinstance(keys, (str, bytes)):
        keys = [keys]
    texts: list[str] = []
    for key in keys:
        if isinstance(key, bytes):
            # A key from Fernet.generate_key() is bytes; accept it rather than iterate its ints.
            key = key.decode("ascii", errors="replace")
        if not isinstance(key, str):
            raise TypeError(f"secret keys are strings, not {type(key).__name__}")
        texts.extend(part.strip() for part in key.split(","))
    texts = [text for text in texts if text]
    return [_decode_key(text, position, len(texts), source) for position, text in enumerate(texts, start=1)]


def _decode_key(text: str, position: int, count: int, source: str) -> bytes:
    # The same check Fernet makes, done here so keys fail early and without the optional extra.
    try:
        valid = len(base64.urlsafe_b64decode(text)) == _KEY_BYTES
    except (ValueError, binascii.Error):
        valid = False
    if not valid:
        raise SecretKeyError.malformed(position, count, source)
    return text.encode("ascii")


def _token_bytes(token: str | bytes) -> bytes:
    if isinstance(token, bytes):
        return token
    if not isinstance(token, str):
        raise TypeError(f"a token is a str or bytes, not {type(token).__name__}")
    try:
        return token.encode("ascii")
    except UnicodeEncodeError:
        # Tokens are ASCII; anything else is damaged, and the error would quote the text.
        raise DecryptionError.invalid_token() from None


def _invalid_token_errors() -> tuple[type[Exception], ...]:
    return (_fernet_module().InvalidToken, ValueError)


def _fernet_module():
    try:
        from cryptography import fernet
    except ImportError:
        raise CryptographyNotInstalledError() from None
    return fernet
