"""Salted hashing of field values: HMAC-SHA-256 with a secret salt, as 64 hex digits.

The same value hashes the same way in every table, file and run that shares the salt, so joins
on hashed keys still work, while nobody without the salt can hash candidate e-mail addresses to
find a match. Values are hashed in a canonical text form in which values Python holds equal
hash equal: `1`, `1.0`, `True` and `Decimal("1")` all hash as "1", a datetime as its ISO text,
mappings and lists as sorted JSON. None stays None ("not set" gives nothing away).

HMAC's two inner hash states are computed once per salt, and a column is hashed through a
dictionary of the values already seen, so a column of a million rows with ten thousand
distinct values costs ten thousand hashes and a million dictionary lookups.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from pdip.conversion.tagged import encode

_BLOCK = 64  # SHA-256's block size, the HMAC key length


class ValueHasher:
    """`hasher(value)` -> the salted hash of `value` (None for None)."""

    __slots__ = ("_inner", "_key", "_outer")

    def __init__(self, salt: str | bytes):
        key = salt.encode("utf-8") if isinstance(salt, str) else bytes(salt)
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._key = key
        self._inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
        self._outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in key))

    def __reduce__(self) -> tuple:
        """Pickled as its key (hash objects do not pickle). The key is the salt: whoever pickles a
        hasher carries a secret (the Dask executor encrypts such a task)."""
        return (ValueHasher, (self._key,))

    def __call__(self, value: Any) -> str | None:
        if value is None:
            return None
        inner = self._inner.copy()
        inner.update(canonical_bytes(value))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def column(self, values: Iterable[Any]) -> list[str | None]:
        """The hashes of a column's values, each distinct value hashed once."""
        seen = _Seen(self)
        try:
            return list(map(seen.__getitem__, values))
        except TypeError:  # a cell that cannot be a dictionary key (a dict or a list)
            return [self(value) for value in values]

    def __repr__(self) -> str:
        return "ValueHasher(salt=***)"


class _Seen(dict):
    """Values already hashed; a missing one is hashed on first lookup."""

    __slots__ = ("_hasher",)

    def __init__(self, hasher: ValueHasher):
        super().__init__()
        self._hasher = hasher

    def __missing__(self, value: Any) -> str | None:
        hashed = self[value] = self._hasher(value)
        return hashed


def canonical_bytes(value: Any) -> bytes:
    """The text a value is hashed as; equal values (by Python's ==) give equal text."""
    kind = type(value)
    if kind is str:
        return value.encode("utf-8")
    if kind is bytes or kind is bytearray:
        return bytes(value)
    if kind is int or kind is bool:
        return str(int(value)).encode("ascii")
    if kind is float:
        return (str(int(value)) if value.is_integer() else repr(value)).encode("ascii")
    if kind is Decimal:
        if value.is_finite() and value == value.to_integral_value():
            return str(int(value)).encode("ascii")
        return str(value.normalize()).encode("ascii")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat().encode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value).encode("ascii")
    try:
        return json.dumps(encode(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except TypeError:
        return repr(value).encode("utf-8")
