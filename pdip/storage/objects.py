"""`ObjectDataStore`: items in object storage behind an fsspec URL (`s3://bucket/prefix`,
`gs://...`, `abfs://...`, `file:///srv/items`), through the protocol's own package (s3fs, gcsfs,
adlfs; fsspec itself for local files).

Uploads are written with `autocommit=False` and committed once every chunk arrived (S3: a
multipart upload completed, or aborted when the chunks fail), so the previous object stays in
place until the new one is whole. Downloads read `chunk_bytes` at a time, without a cache.
Where the filesystem signs URLs (s3fs: presigned GET URLs), `download_url` hands them out, so
clients fetch from the object store directly. `storage_options` (credentials, endpoint) go to
the filesystem and are never logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import mimetypes
from collections.abc import Iterator, Mapping
from typing import Any

from pdip.storage.base import CHUNK_BYTES, DataStore, Expectation
from pdip.storage.errors import StorageConfigurationError
from pdip.storage.items import DataItem

PART_BYTES = 5 * 1_048_576  # S3's smallest multipart part: what an upload holds in memory
# The keyword each object store's `open` takes the content type with; others guess it from the key.
CONTENT_TYPE_OPTION = {"s3": "ContentType", "s3a": "ContentType", "gs": "content_type", "gcs": "content_type"}


class ObjectDataStore(DataStore):
    """Items under `url`, an fsspec URL of a folder or bucket prefix."""

    def __init__(
        self,
        url: str,
        storage_options: Mapping[str, Any] | None = None,
        name: str = "data",
        chunk_bytes: int = CHUNK_BYTES,
        part_bytes: int = PART_BYTES,
    ):
        super().__init__(name, chunk_bytes)
        from fsspec.core import url_to_fs

        try:
            self.fs, root = url_to_fs(url, **dict(storage_options or {}))
        except (ImportError, ValueError) as error:
            raise StorageConfigurationError(f"data store {name!r}: url: cannot open {url}: {error}") from None
        self.root = root.rstrip("/")
        self.part_bytes = part_bytes
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self._content_type_option = next((CONTENT_TYPE_OPTION[p] for p in protocols if p in CONTENT_TYPE_OPTION), None)

    def __repr__(self) -> str:  # the URL's options may hold credentials: name the store only
        return f"ObjectDataStore({self.name!r})"

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def _item(self, key: str) -> DataItem | None:
        try:
            info = self.fs.info(self._path(key))
        except FileNotFoundError:
            return None
        if info.get("type") != "file":
            return None
        return self._described(key, info)

    def _described(self, key: str, info: Mapping[str, Any]) -> DataItem:
        updated = info.get("LastModified") or info.get("mtime") or info.get("created")
        if isinstance(updated, (int, float)):
            updated = dt.datetime.fromtimestamp(updated, dt.timezone.utc)
        etag = str(info.get("ETag") or "").strip('"')
        if not etag:  # a filesystem without etags: one from what changes with every write
            etag = hashlib.blake2b(f"{info['size']}:{updated}:{info.get('ino')}".encode(), digest_size=12).hexdigest()
        content_type = info.get("ContentType") or mimetypes.guess_type(key)[0] or "application/octet-stream"
        return DataItem(key, int(info["size"]), updated, etag, content_type)

    def _read(self, key: str, start: int, stop: int) -> Iterator[bytes]:
        with self.fs.open(self._path(key), "rb", block_size=self.chunk_bytes, cache_type="none") as file:
            yield from self._chunks(file, start, stop)

    def _write(self, key: str, chunks: Iterator[bytes], content_type: str, expect: Expectation) -> DataItem:
        path = self._path(key)
        options = {self._content_type_option: content_type} if self._content_type_option else {}
        parent = path.rpartition("/")[0]
        if parent and not self.fs.exists(parent):
            self.fs.makedirs(parent, exist_ok=True)  # local folders; a no-op in object storage
        file = self.fs.open(path, "wb", block_size=self.part_bytes, autocommit=False, **options)
        try:
            for chunk in chunks:
                file.write(chunk)
            file.close()
            expect(self._item(key))
            file.commit()
        except BaseException:
            file.discard()
            raise
        self.fs.invalidate_cache(path)
        return self._described(key, self.fs.info(path))

    def _delete(self, key: str) -> bool:
        if self._item(key) is None:
            return False
        self.fs.rm_file(self._path(key))
        self.fs.invalidate_cache(self._path(key))
        return True

    def _items(self, prefix: str, after: str | None, limit: int) -> list[DataItem]:
        start = len(self.root) + 1
        found = []
        for path, info in sorted(self.fs.find(self.root, detail=True).items()):
            key = path[start:]
            if not key.startswith(prefix) or (after is not None and key <= after):
                continue
            found.append(self._described(key, info))
            if len(found) == limit:
                break
        return found

    def download_url(self, key: str, seconds: int) -> str | None:
        super().download_url(key, seconds)
        try:
            return self.fs.sign(self._path(key), expiration=seconds)
        except NotImplementedError:
            return None
