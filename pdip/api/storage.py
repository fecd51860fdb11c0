"""Data store endpoints: list, upload, download and delete items, and hand out URLs for them.

    GET    /api/data/{store}?prefix=&after=&limit=     a page of items, in key order
    PUT    /api/data/{store}/{key}                     upload the body (streamed) -> 201 / 200
    GET    /api/data/{store}/{key}                     download (streamed), ETag; If-None-Match -> 304; Range -> 206
    DELETE /api/data/{store}/{key}                     204; 404 if there was none
    POST   /api/data-urls/{store}/{key}?method=GET|PUT&seconds=   a URL to download or upload by
    GET|PUT /api/data-signed/{store}/{key}?expires=&signature=    what a signed URL points at

Bodies are read and answered `chunk_bytes` at a time, never whole: an upload goes through
`DataStore.write` as it arrives, with the store's limit (`STORAGE.MAX_ITEM_BYTES`, not
`API.MAX_BODY_BYTES`) checked on the declared length first and on the bytes counted after.
Served when `STORAGE.STORES` names a store (or `STORAGE.ENDPOINTS` is true and the application
adds its own); stores belong to the application, not to a tenant.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from urllib.parse import quote

from flask import request
from werkzeug.http import http_date
from werkzeug.wrappers import Response

from pdip.api.base import ControllerBase
from pdip.api.errors import ApiError, BadRequestError
from pdip.configuration.models.api import ApiConfig
from pdip.storage import DataItem, DataStores, ItemNotFoundError, ItemTooLargeError, check_key
from pdip.storage.stores import StorageConfig


@dataclasses.dataclass
class ItemPageView:
    """A page of items; ask again with `after=next_after` for the next one."""

    items: list[DataItem]
    next_after: str | None = None


@dataclasses.dataclass
class DataUrl:
    """A URL that downloads (GET) or uploads (PUT) one item until `expires_at`."""

    url: str
    method: str
    expires_at: dt.datetime
    presigned: bool  # true: the store's own URL (S3), which bypasses this API


class _ItemEndpoints:
    """What the item endpoints share: download with ETag checks, and streamed upload."""

    def __init__(self, stores: DataStores):
        self.stores = stores

    def download(self, store: str, key: str) -> Response:
        data = self.stores.get(store)
        item = data.item(key)
        if item is None:
            raise ItemNotFoundError(store, key)
        headers = {
            "ETag": f'"{item.etag}"',
            "Last-Modified": http_date(item.updated_at),
            "Cache-Control": "no-cache",
            "Accept-Ranges": "bytes",
            # uploaded HTML or SVG must not run scripts in the API's origin when opened in a browser
            "Content-Security-Policy": "sandbox",
            "X-Content-Type-Options": "nosniff",
        }
        if request.if_none_match and request.if_none_match.contains_weak(item.etag):
            return Response(status=304, headers=headers)
        start, stop, status = _wanted_range(item)
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{item.size}"
        headers["Content-Length"] = str(stop - start)
        body = data.read(key, start, stop) if request.method != "HEAD" else iter(())
        return Response(body, status, headers, content_type=item.content_type, direct_passthrough=True)

    def upload(self, store: str, key: str) -> tuple[DataItem, int, dict[str, str]]:
        data = self.stores.get(store)
        check_key(key)
        limit = self.stores.max_item_bytes(store)
        if request.content_length is not None and request.content_length > limit:
            raise ItemTooLargeError(key, limit)
        self.stores.check_content_type(store, key, request.mimetype or None)
        if_match = _one_etag(request.if_match, "If-Match")
        if_none_match = request.if_none_match.star_tag
        existed = data.item(key) is not None
        request.max_content_length = limit  # this request's own limit, instead of API.MAX_BODY_BYTES
        item = data.write(
            key,
            _body(request.stream, data.chunk_bytes),
            request.content_type or None,
            max_bytes=limit,
            if_match=if_match,
            if_none_match=if_none_match,
        )
        return item, 200 if existed else 201, {"ETag": f'"{item.etag}"'}


class DataItemsController(ControllerBase):
    """Binary data items."""

    route = "/data/<store>"
    tenanted = False
    tags = ("Data",)

    def __init__(self, stores: DataStores):
        self.stores = stores

    def get(self, store: str, prefix: str = "", after: str | None = None, limit: int = 100) -> ItemPageView:
        """A page of a store's items, in key order."""
        try:
            page = self.stores.get(store).items(prefix, after, limit)
        except ValueError as error:
            raise BadRequestError(str(error)) from None
        return ItemPageView(page.items, page.next_after)


class DataItemController(ControllerBase):
    route = "/data/<store>/<path:key>"
    tenanted = False
    tags = ("Data",)

    def __init__(self, stores: DataStores):
        self.stores = stores
        self.endpoints = _ItemEndpoints(stores)

    def get(self, store: str, key: str):
        """Download an item (streamed); If-None-Match with its ETag answers 304."""
        return self.endpoints.download(store, key)

    def put(self, store: str, key: str):
        """Upload an item: the body as it is, streamed; If-Match / If-None-Match: * are checked."""
        return self.endpoints.upload(store, key)

    def delete(self, store: str, key: str) -> None:
        """Delete an item."""
        if not self.stores.get(store).delete(key):
            raise ItemNotFoundError(store, key)


class DataUrlsController(ControllerBase):
    route = "/data-urls/<store>/<path:key>"
    tenanted = False
    tags = ("Data",)

    def __init__(self, stores: DataStores, config: StorageConfig, api: ApiConfig):
        self.stores = stores
        self.config = config
        self.base_url = "/" + api.base_url.strip("/") if api.base_url.strip("/") else ""

    def post(self, store: str, key: str, method: str = "GET", seconds: int | None = None) -> DataUrl:
        """A URL to download (GET) or upload (PUT) one item, valid for `seconds`."""
        data = self.stores.get(store)
        check_key(key)
        method = method.upper()
        seconds = self.config.url_seconds if seconds is None else seconds
        if method not in ("GET", "PUT"):
            raise BadRequestError(f"method: expected GET or PUT, got {method!r}")
        if not 1 <= seconds <= self.config.max_url_seconds:
            raise BadRequestError(f"seconds: expected 1 to {self.config.max_url_seconds}, got {seconds}")
        now = dt.datetime.now(dt.timezone.utc)
        if method == "GET":
            if data.item(key) is None:
                raise ItemNotFoundError(store, key)
            presigned = data.download_url(key, seconds)
            if presigned:
                return DataUrl(presigned, method, now + dt.timedelta(seconds=seconds), True)
        if self.stores.signer is None:
            raise ApiError("signed URLs need STORAGE.SECRET (at least 32 bytes)", status=501)
        expires, signature = self.stores.signer.sign(method, store, key, seconds, now.timestamp())
        path = f"{self.base_url}/data-signed/{quote(store, safe='')}/{quote(key, safe='/')}"
        url = f"{request.url_root.rstrip('/')}{path}?expires={expires}&signature={signature}"
        return DataUrl(url, method, dt.datetime.fromtimestamp(expires, dt.timezone.utc), False)


class SignedDataController(ControllerBase):
    """What a signed URL points at; the signature is the credential."""

    route = "/data-signed/<store>/<path:key>"
    anonymous = True
    tenanted = False
    tags = ("Data",)

    def __init__(self, stores: DataStores):
        self.stores = stores
        self.endpoints = _ItemEndpoints(stores)

    def get(self, store: str, key: str, expires: int, signature: str):
        """Download an item by a signed URL."""
        self._check("GET", store, key, expires, signature)
        return self.endpoints.download(store, key)

    def put(self, store: str, key: str, expires: int, signature: str):
        """Upload an item by a signed URL."""
        self._check("PUT", store, key, expires, signature)
        return self.endpoints.upload(store, key)

    def _check(self, method: str, store: str, key: str, expires: int, signature: str) -> None:
        if self.stores.signer is None:
            raise ApiError("signed URLs need STORAGE.SECRET (at least 32 bytes)", status=501)
        self.stores.signer.check(method, store, key, expires, signature)


STORAGE_CONTROLLERS = [DataItemsController, DataItemController, DataUrlsController, SignedDataController]


def storage_served(config: StorageConfig) -> bool:
    """`STORAGE.ENDPOINTS` if set, else whether `STORAGE.STORES` names a store."""
    return bool(config.stores) if config.endpoints is None else config.endpoints


def _wanted_range(item: DataItem) -> tuple[int, int, int]:
    """(start, stop, status) of a download: the one `Range` asked for (206), or all of it (200)
    when none was, when `If-Range` names another etag (or a date, which is not compared), or
    when several ranges were asked for (RFC 9110 allows the whole instead); 416 when the range
    lies past the end."""
    wanted, if_range = request.range, request.if_range
    another_version = (if_range.etag or if_range.date) is not None and if_range.etag != item.etag
    if wanted is None or len(wanted.ranges) != 1 or another_version:
        return 0, item.size, 200
    bounds = wanted.range_for_length(item.size)
    if bounds is None:
        raise ApiError(
            f"bytes {wanted.to_header()[6:]} lie outside the item's {item.size} bytes",
            status=416,
            headers={"Content-Range": f"bytes */{item.size}"},
        )
    return bounds[0], bounds[1], 206


def _body(stream, size: int) -> Iterator[bytes]:
    while chunk := stream.read(size):
        yield chunk


def _one_etag(etags, header: str) -> str | None:
    """The one etag of If-Match (or `*`); several are not supported and say so."""
    if etags.star_tag:
        return "*"
    tags = list(etags)
    if len(tags) > 1:
        raise BadRequestError(f"{header}: expected one etag or *, got {len(tags)}")
    return tags[0] if tags else None
