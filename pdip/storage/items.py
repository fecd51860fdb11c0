"""What a data store holds: items (binary content with a key, size, modified time, etag and
content type), pages of them, and the rule every key follows."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator

from pdip.storage.errors import InvalidKeyError, ItemTooLargeError

MAX_KEY_LENGTH = 1024  # S3's limit, in UTF-8 bytes


@dataclasses.dataclass(frozen=True)
class DataItem:
    """One stored item, without its content. `etag` changes whenever the content does."""

    key: str
    size: int
    updated_at: dt.datetime
    etag: str
    content_type: str | None = None


@dataclasses.dataclass(frozen=True)
class ItemPage:
    """A page of a listing, in key order; pass `next_after` as `after` for the next page
    (None: this was the last one)."""

    items: list[DataItem]
    next_after: str | None = None


def check_key(key: str) -> str:
    """`key` if a store may hold it: relative, `/`-separated, no `.` or `..` segment, no empty
    segment, no NUL or other control character, no backslash, at most 1024 UTF-8 bytes."""
    if not isinstance(key, str) or not key:
        raise InvalidKeyError(str(key), "expected a non-empty text key")
    if any(ord(character) < 32 or ord(character) == 127 for character in key):
        raise InvalidKeyError(key, "control characters (NUL included) are not allowed")
    if "\\" in key:
        raise InvalidKeyError(key, "a backslash is not allowed; separate folders with /")
    if key.startswith("/") or (len(key) > 1 and key[1] == ":"):
        raise InvalidKeyError(key, "expected a relative key, not an absolute path")
    segments = key.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise InvalidKeyError(key, "empty, '.' and '..' segments are not allowed")
    if len(key.encode("utf-8")) > MAX_KEY_LENGTH:
        raise InvalidKeyError(key, f"longer than {MAX_KEY_LENGTH} bytes")
    return key


def check_prefix(prefix: str) -> str:
    """A listing prefix: empty, or the start of a valid key (a trailing `/` allowed)."""
    if prefix:
        check_key(prefix.rstrip("/") or ".")
    return prefix


def limited(chunks: Iterable[bytes], key: str, max_bytes: int | None) -> Iterator[bytes]:
    """`chunks`, refusing with ItemTooLargeError as soon as they pass `max_bytes` in all."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if max_bytes is not None and total > max_bytes:
            raise ItemTooLargeError(key, max_bytes)
        yield chunk


def rechunked(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """`chunks` as pieces of exactly `size` bytes (the last one shorter); holds at most one piece."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)
