"""`DirectoryDataStore`: items as files under a folder of the host.

A write goes to a temporary file beside its target and is renamed over it once complete, so a
reader sees the old content or the new one, never a part. The content type of each item is kept
in `.pdip-meta/<key>.json` beside the items (a key may not start with that folder); the etag
comes from the file's size, modification time and inode, so it changes with every write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import mimetypes
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pdip.storage.base import CHUNK_BYTES, DataStore, Expectation
from pdip.storage.errors import InvalidKeyError, KeyConflictError
from pdip.storage.items import DataItem

META_FOLDER = ".pdip-meta"
_TEMPORARY = ".pdip-upload-"


class DirectoryDataStore(DataStore):
    """Items as files under `root` (made if missing)."""

    def __init__(self, root: str | os.PathLike, name: str = "data", chunk_bytes: int = CHUNK_BYTES):
        super().__init__(name, chunk_bytes)
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if key.split("/", 1)[0] == META_FOLDER:
            raise InvalidKeyError(key, f"{META_FOLDER}/ is where the store keeps its own records")
        path = self.root / key
        if not path.resolve().is_relative_to(self.root):
            raise InvalidKeyError(key, "a link leads out of the store")
        return path

    def _meta_path(self, key: str) -> Path:
        return self.root / META_FOLDER / f"{key}.json"

    def _item(self, key: str) -> DataItem | None:
        path = self._path(key)
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not path.is_file():
            return None
        return self._described(key, stat)

    def _described(self, key: str, stat: os.stat_result) -> DataItem:
        tag = hashlib.blake2b(f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}".encode(), digest_size=12)
        try:
            content_type = json.loads(self._meta_path(key).read_text(encoding="utf-8")).get("content_type")
        except (FileNotFoundError, NotADirectoryError, ValueError):  # a file put there by other means
            content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        updated = dt.datetime.fromtimestamp(stat.st_mtime, dt.timezone.utc)
        return DataItem(key, stat.st_size, updated, tag.hexdigest(), content_type)

    def _read(self, key: str, start: int, stop: int) -> Iterator[bytes]:
        with open(self._path(key), "rb") as file:
            yield from self._chunks(file, start, stop)

    def _write(self, key: str, chunks: Iterator[bytes], content_type: str, expect: Expectation) -> DataItem:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise KeyConflictError(key) from None
        if path.is_dir():
            raise KeyConflictError(key)
        handle, temporary = tempfile.mkstemp(prefix=_TEMPORARY, dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as file:
                for chunk in chunks:
                    file.write(chunk)
                file.flush()
                os.fsync(file.fileno())
            expect(self._item(key))
            meta = self._meta_path(key)
            meta.parent.mkdir(parents=True, exist_ok=True)
            meta.write_text(json.dumps({"content_type": content_type}), encoding="utf-8")
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return self._described(key, path.stat())

    def _delete(self, key: str) -> bool:
        path = self._path(key)
        if not path.is_file():
            return False
        path.unlink()
        self._meta_path(key).unlink(missing_ok=True)
        return True

    def _items(self, prefix: str, after: str | None, limit: int) -> list[DataItem]:
        keys = (key for key in self._keys(prefix) if after is None or key > after)
        return list(itertools.islice(filter(None, map(self._item, keys)), limit))  # None: deleted meanwhile

    def _keys(self, prefix: str) -> Iterator[str]:
        """Every key starting with `prefix`, in key order, walking only the folders that can hold one."""
        folder, _, _ = prefix.rpartition("/")
        start = self.root / folder if folder else self.root
        yield from sorted(key for key in self._walk(start, folder) if key.startswith(prefix))

    def _walk(self, folder: Path, relative: str) -> Iterator[str]:
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            key = f"{relative}/{entry.name}" if relative else entry.name
            if entry.name.startswith(_TEMPORARY) or key == META_FOLDER:
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from self._walk(Path(entry.path), key)
            elif entry.is_file(follow_symlinks=False):  # links are not followed out of the store
                yield key
