"""Errors of the storage area; each declares the HTTP status the API answers it with."""

from __future__ import annotations

from pdip.api.errors import error_status
from pdip.configuration.errors import ConfigurationError


class StorageError(Exception):
    """Base of the storage area's errors about an item or a request for one."""


@error_status(400, title="Invalid key")
class InvalidKeyError(StorageError, ValueError):
    """A key that could escape its store or that a store cannot hold."""

    def __init__(self, key: str, reason: str):
        self.key = key
        self.reason = reason
        super().__init__(f"data key {key!r}: {reason}")


@error_status(404, title="No such item")
class ItemNotFoundError(StorageError, KeyError):
    def __init__(self, store: str, key: str):
        self.store = store
        self.key = key
        super().__init__(store, key)

    def __str__(self) -> str:
        return f"store {self.store!r} has no item {self.key!r}"


@error_status(404, title="No such store")
class StoreNotFoundError(StorageError, KeyError):
    def __init__(self, name: str, known: list[str]):
        self.name = name
        self.known = known
        super().__init__(name)

    def __str__(self) -> str:
        known = ", ".join(self.known) or "none"
        return f"no data store named {self.name!r} (configured: {known})"


@error_status(413, title="Item too large")
class ItemTooLargeError(StorageError):
    def __init__(self, key: str, limit: int):
        self.key = key
        self.limit = limit
        super().__init__(f"data key {key!r}: the item is larger than the limit of {limit} bytes")


@error_status(409, title="Key in use")
class KeyConflictError(StorageError):
    """A folder store cannot hold both `a` and `a/b`: one would be a file and a folder at once."""

    def __init__(self, key: str):
        self.key = key
        super().__init__(f"data key {key!r}: a part of it is an item, or it is a folder of items, in this store")


@error_status(412, title="Precondition failed")
class PreconditionFailedError(StorageError):
    """An upload's If-Match or If-None-Match does not hold for the item stored now."""


@error_status(415, title="Unsupported content type")
class ContentTypeError(StorageError):
    def __init__(self, key: str, content_type: str | None, allowed: list[str]):
        self.content_type = content_type
        super().__init__(
            f"data key {key!r}: content type {content_type!r} is not accepted (expected one of {', '.join(allowed)})"
        )


@error_status(403, title="Invalid signature")
class SignatureError(StorageError):
    """A signed URL that was altered, made for another method or item, or has expired."""


class StorageConfigurationError(ConfigurationError):
    """The `STORAGE` section cannot be used as written; names the key and what was expected."""
