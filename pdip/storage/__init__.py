"""Binary data: items (content with a size, modified time, etag and content type) kept in
stores on a folder (`DirectoryDataStore`), in object storage through fsspec (`ObjectDataStore`),
or as chunks in SQL tables (`ChunkDataStore`); streamed in chunks, never whole in memory.
`DataStores` holds the configured ones; the API serves them (pdip.api.storage)."""

from pdip.storage.base import DataStore
from pdip.storage.chunks import ChunkDataStore
from pdip.storage.directory import DirectoryDataStore
from pdip.storage.errors import (
    ContentTypeError,
    InvalidKeyError,
    ItemNotFoundError,
    ItemTooLargeError,
    KeyConflictError,
    PreconditionFailedError,
    SignatureError,
    StorageConfigurationError,
    StorageError,
    StoreNotFoundError,
)
from pdip.storage.items import DataItem, ItemPage, check_key
from pdip.storage.objects import ObjectDataStore
from pdip.storage.signing import UrlSigner
from pdip.storage.stores import DataStores, StorageConfig, StoreConfig

__all__ = [
    "ChunkDataStore",
    "ContentTypeError",
    "DataItem",
    "DataStore",
    "DataStores",
    "DirectoryDataStore",
    "InvalidKeyError",
    "ItemNotFoundError",
    "ItemPage",
    "ItemTooLargeError",
    "KeyConflictError",
    "ObjectDataStore",
    "PreconditionFailedError",
    "SignatureError",
    "StorageConfig",
    "StorageConfigurationError",
    "StorageError",
    "StoreConfig",
    "StoreNotFoundError",
    "UrlSigner",
    "check_key",
]
