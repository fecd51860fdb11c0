"""Signed URLs for stores that have none of their own: an HMAC-SHA256, with a configured
secret, over the method, the store, the key and the expiry time. Whoever holds the URL may do
that one thing to that one item until it expires; a changed character, another method or item,
or a passed expiry is refused with SignatureError (403).

    signer = UrlSigner(secret)
    expires, signature = signer.sign("GET", "uploads", "cat.png", seconds=600)
    signer.check("GET", "uploads", "cat.png", expires, signature)    # raises if not valid
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from pdip.storage.errors import SignatureError, StorageConfigurationError

SIGNED_METHODS = ("GET", "PUT")
MIN_SECRET_BYTES = 32


class UrlSigner:
    """Signs and checks (method, store, key, expiry); the secret is never shown."""

    def __init__(self, secret: str | bytes):
        key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if len(key) < MIN_SECRET_BYTES:
            raise StorageConfigurationError(
                f"STORAGE.SECRET: expected at least {MIN_SECRET_BYTES} bytes (e.g. secrets.token_urlsafe(32)), "
                f"got {len(key)}"
            )
        self._key = key

    def __repr__(self) -> str:
        return "UrlSigner(***)"

    def sign(self, method: str, store: str, key: str, seconds: int, now: float | None = None) -> tuple[int, str]:
        """(expires, signature): the Unix time the URL expires at and its signature."""
        expires = int((time.time() if now is None else now) + seconds)
        return expires, self._signature(_method(method), store, key, expires)

    def check(self, method: str, store: str, key: str, expires: int, signature: str, now: float | None = None) -> None:
        expected = self._signature(_method(method), store, key, expires)
        if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii", "replace")):
            raise SignatureError(f"the signature does not match this {method} of {key!r} in store {store!r}")
        if (time.time() if now is None else now) > expires:
            raise SignatureError(f"the signed URL for {key!r} expired at {expires} (Unix time)")

    def _signature(self, method: str, store: str, key: str, expires: int) -> str:
        message = "\n".join(("pdip-data-v1", method, store, key, str(expires))).encode("utf-8")
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _method(method: str) -> str:
    method = method.upper()
    if method not in SIGNED_METHODS:
        raise ValueError(f"method: expected one of {', '.join(SIGNED_METHODS)}, got {method!r}")
    return method
