"""The `STORAGE` section and `DataStores`, the application's named stores.

```yaml
STORAGE:
  SECRET: ${PDIP_STORAGE_SECRET}      # signs pdip's own URLs; at least 32 bytes
  MAX_ITEM_BYTES: 104857600           # 413 above it; a store may set its own
  STORES:
    uploads: {KIND: directory, PATH: data/uploads, CONTENT_TYPES: [image/png, image/jpeg]}
    reports: {KIND: object, URL: "s3://reports/2026", STORAGE_OPTIONS: {anon: false}}
    notes:   {KIND: chunks}           # in the DATABASE section's database, or URL: a SQLAlchemy URL
```
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

from pdip.base import Pdi
from pdip.configuration.models.base import BaseConfig
from pdip.dependency import ISingleton
from pdip.storage.base import CHUNK_BYTES, DataStore
from pdip.storage.errors import ContentTypeError, StorageConfigurationError, StoreNotFoundError
from pdip.storage.signing import UrlSigner

KINDS = ("directory", "object", "chunks")


@dataclasses.dataclass
class StoreConfig:
    """One store of `STORAGE.STORES`."""

    kind: Literal["directory", "object", "chunks"]
    path: str | None = None  # directory: a folder, relative to the application's root
    url: str | None = None  # object: an fsspec URL; chunks: a SQLAlchemy URL (default: DATABASE's)
    storage_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    max_item_bytes: int | None = None
    content_types: list[str] = dataclasses.field(default_factory=list)  # empty: any
    chunk_bytes: int = CHUNK_BYTES

    def __repr__(self) -> str:  # storage options hold credentials
        return f"StoreConfig(kind={self.kind!r}, path={self.path!r})"


class StorageConfig(BaseConfig):
    """The `STORAGE` section: the named data stores, their limits, and the URL secret."""

    stores: dict[str, StoreConfig] = dataclasses.field(default_factory=dict)
    secret: str | None = None
    max_item_bytes: int = 100 * 1_048_576
    url_seconds: int = 900
    max_url_seconds: int = 7 * 24 * 3600
    endpoints: bool | None = None  # the API's data endpoints; None: when STORES names a store


class DataStores(ISingleton):
    """The configured stores by name, plus any an application adds; made and checked at start."""

    def __init__(self, config: StorageConfig, pdi: Pdi):
        self.config = config
        self._pdi = pdi
        self._stores: dict[str, DataStore] = {}
        self._limits: dict[str, int] = {}
        self._content_types: dict[str, list[str]] = {}
        self.signer = UrlSigner(config.secret) if config.secret else None
        for name, store in config.stores.items():
            self.add(store_from(name, store, pdi), store.max_item_bytes, store.content_types)

    def add(self, store: DataStore, max_item_bytes: int | None = None, content_types: list[str] | None = None) -> None:
        """Serve `store` under its name, with its own limit and accepted content types."""
        self._stores[store.name] = store
        self._limits[store.name] = max_item_bytes or self.config.max_item_bytes
        self._content_types[store.name] = list(content_types or [])

    def get(self, name: str) -> DataStore:
        try:
            return self._stores[name]
        except KeyError:
            raise StoreNotFoundError(name, sorted(self._stores)) from None

    def max_item_bytes(self, name: str) -> int:
        self.get(name)
        return self._limits[name]

    def check_content_type(self, name: str, key: str, content_type: str | None) -> None:
        """ContentTypeError (415) unless the store takes `content_type` (its parameters ignored)."""
        allowed = self._content_types.get(name)
        if allowed and (content_type or "").split(";", 1)[0].strip().lower() not in allowed:
            raise ContentTypeError(key, content_type, allowed)


def store_from(name: str, config: StoreConfig, pdi: Pdi) -> DataStore:
    """The store `STORAGE.STORES.<name>` describes; StorageConfigurationError naming the key."""
    where = f"STORAGE.STORES.{name}"
    if config.kind == "directory":
        if not config.path:
            raise StorageConfigurationError(f"{where}.PATH: required for a directory store (a folder)")
        from pdip.storage.directory import DirectoryDataStore

        return DirectoryDataStore(Path(pdi.root_directory) / config.path, name, config.chunk_bytes)
    if config.kind == "object":
        if not config.url:
            raise StorageConfigurationError(f"{where}.URL: required for an object store (e.g. s3://bucket/prefix)")
        from pdip.storage.objects import ObjectDataStore

        return ObjectDataStore(config.url, config.storage_options, name, config.chunk_bytes)
    if config.kind == "chunks":
        return _chunk_store(name, config, pdi)
    raise StorageConfigurationError(f"{where}.KIND: expected one of {', '.join(KINDS)}, got {config.kind!r}")


def _chunk_store(name: str, config: StoreConfig, pdi: Pdi) -> DataStore:
    import sqlalchemy as sa

    from pdip.storage.chunks import ChunkDataStore

    if config.url:
        engine = sa.create_engine(config.url, pool_pre_ping=True)
    else:
        from pdip.data import DatabaseSessionManager

        engine = pdi.get(DatabaseSessionManager).engine
    return ChunkDataStore(engine, name, config.chunk_bytes)
