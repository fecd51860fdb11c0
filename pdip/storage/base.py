"""`DataStore`: where binary items are kept. Every store streams: content goes in and comes out
as an iterator of chunks, never as one bytes object, so an item of any size costs a chunk of
memory.

    store.write("reports/2026.pdf", chunks, content_type="application/pdf", max_bytes=10_000_000)
    for chunk in store.read("reports/2026.pdf"): ...
    store.item("reports/2026.pdf")          # DataItem(key, size, updated_at, etag, content_type)
    store.items(prefix="reports/", limit=50)  # ItemPage(items, next_after)
    store.delete("reports/2026.pdf")

The public methods check keys, limits and preconditions, once, here; an implementation writes
only `_item`, `_read`, `_write`, `_delete` and `_items`. `_write` must leave the stored item
as it was when its chunks raise (a limit passed, a client gone): the new content replaces the
old one only whole. `If-Match` / `If-None-Match` are checked before the first byte and again by
the store just before it replaces the item (in the SQL store, under the item row's lock).
"""

from __future__ import annotations

import abc
import functools
import mimetypes
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from pdip.storage.errors import ItemNotFoundError, PreconditionFailedError
from pdip.storage.items import DataItem, ItemPage, check_key, check_prefix, limited

CHUNK_BYTES = 1_048_576
Expectation = Callable[[DataItem | None], None]  # raises PreconditionFailedError
MAX_PAGE = 1000


class DataStore(abc.ABC):
    """A named place for binary items; see the module's docstring.

    Args:
        name: how errors and URLs name the store.
        chunk_bytes: the size of the chunks `read` yields (and the chunk store keeps).
    """

    def __init__(self, name: str = "data", chunk_bytes: int = CHUNK_BYTES):
        if chunk_bytes < 1:
            raise ValueError(f"data store {name!r}: chunk_bytes: expected a positive number, got {chunk_bytes}")
        self.name = name
        self.chunk_bytes = chunk_bytes

    # -- what users call -------------------------------------------------------------------------

    def item(self, key: str) -> DataItem | None:
        """The item's size, time, etag and content type; None if there is none."""
        return self._item(check_key(key))

    def read(self, key: str, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """The item's content in chunks, bytes `start` to `stop` (exclusive; None: the end);
        ItemNotFoundError if there is none. The item is looked up at once; the content is read
        as the chunks are taken."""
        check_key(key)
        if start < 0 or (stop is not None and stop < start):
            raise ValueError(f"data key {key!r}: expected 0 <= start <= stop, got start={start}, stop={stop}")
        item = self._item(key)
        if item is None:
            raise ItemNotFoundError(self.name, key)
        stop = item.size if stop is None else min(stop, item.size)
        return self._read(key, start, max(start, stop))

    def write(
        self,
        key: str,
        chunks: Iterable[bytes],
        content_type: str | None = None,
        *,
        max_bytes: int | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> DataItem:
        """Store `chunks` under `key`, replacing what was there once all of them arrived.

        `max_bytes` refuses a larger item (ItemTooLargeError, nothing replaced); `if_match`
        replaces only the item with that etag, `if_none_match` only creates
        (PreconditionFailedError otherwise). The content type is guessed from the key when
        not given."""
        check_key(key)
        expect = functools.partial(_expect, key, if_match, if_none_match)
        if if_match is not None or if_none_match:
            expect(self._item(key))  # before any byte moves; the store checks again as it replaces
        content_type = content_type or mimetypes.guess_type(key)[0] or "application/octet-stream"
        return self._write(key, limited(chunks, key, max_bytes), content_type, expect)

    def delete(self, key: str) -> bool:
        """Delete the item; False if there was none."""
        return self._delete(check_key(key))

    def items(self, prefix: str = "", after: str | None = None, limit: int = 100) -> ItemPage:
        """Up to `limit` items whose keys start with `prefix` and sort after `after`, in key order."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit: expected 1 to {MAX_PAGE}, got {limit}")
        found = self._items(check_prefix(prefix), after, limit + 1)
        if len(found) > limit:
            return ItemPage(found[:limit], found[limit - 1].key)
        return ItemPage(found)

    def download_url(self, key: str, seconds: int) -> str | None:
        """A URL the item can be downloaded from without this process, valid for `seconds`,
        where the store has such URLs (S3's presigned ones); None where it has not."""
        check_key(key)
        return None

    # -- what a store implements -----------------------------------------------------------------

    @abc.abstractmethod
    def _item(self, key: str) -> DataItem | None: ...

    @abc.abstractmethod
    def _read(self, key: str, start: int, stop: int) -> Iterator[bytes]:
        """Bytes `start` to `stop` of the item, in chunks of at most `chunk_bytes`."""

    def _chunks(self, file: BinaryIO, start: int, stop: int) -> Iterator[bytes]:
        """Bytes `start` to `stop` of an open file, in chunks of at most `chunk_bytes` (a store's
        `_read` opens its file and hands it here)."""
        file.seek(start)
        left = stop - start
        while left > 0 and (chunk := file.read(min(self.chunk_bytes, left))):
            left -= len(chunk)
            yield chunk

    @abc.abstractmethod
    def _write(self, key: str, chunks: Iterator[bytes], content_type: str, expect: Expectation) -> DataItem:
        """Store the chunks; call `expect(current item or None)` as close to replacing the
        item as the store allows (it raises PreconditionFailedError), then replace it."""

    @abc.abstractmethod
    def _delete(self, key: str) -> bool: ...

    @abc.abstractmethod
    def _items(self, prefix: str, after: str | None, limit: int) -> list[DataItem]:
        """Up to `limit` items in key order, keys starting with `prefix`, after `after`."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def _expect(key: str, if_match: str | None, if_none_match: bool, current: DataItem | None) -> None:
    """PreconditionFailedError unless `current` (the stored item, or None) is what the write expects."""
    if if_none_match and current is not None:
        raise PreconditionFailedError(f"data key {key!r}: If-None-Match * but an item exists (etag {current.etag})")
    if if_match == "*" and current is None:
        raise PreconditionFailedError(f"data key {key!r}: If-Match * needs an existing item")
    if if_match not in (None, "*") and (current is None or current.etag != if_match):
        found = "no item" if current is None else f"etag {current.etag}"
        raise PreconditionFailedError(f"data key {key!r}: If-Match {if_match} does not match ({found})")
