"""`HttpExporter`: change-log entries POSTed to an HTTP endpoint, one request per batch.

    exporter = HttpExporter("https://audit.example.com/changes", headers={"Authorization": token})
    cart = TrackedDict({}, name="cart", observers=[exporter])

The body of each request is a JSON array of entries, each as `entry.to_json()` writes it (read
one back with `ChangeLogEntry.from_dict`), sent with the standard library's HTTP client. Any
answer other than 2xx, or no answer within `timeout` seconds, raises `ExportError` and the
entries wait for the next flush (see `BatchingExporter`). Headers may hold credentials: they
are sent and never shown; errors and `repr` name the endpoint without user, password or query.
A user and password in the address (`https://user:password@host/...`) are sent as HTTP Basic
authentication, unless `headers` has an `Authorization` of its own.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from pdip.tracking.entry import ChangeLogEntry
from pdip.tracking.errors import ExportError
from pdip.tracking.exporters import BatchingExporter


class HttpExporter(BatchingExporter):
    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        batch_size: int = 100,
        max_delay: float | None = None,
        max_pending: int = 100_000,
        priority: int = 0,
        logger: Any = None,
    ):
        super().__init__(
            batch_size=batch_size, max_delay=max_delay, max_pending=max_pending, priority=priority, logger=logger
        )
        parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            shown = shown_url(url) if isinstance(url, str) else type(url).__name__
            raise ValueError(f"url: expected an http:// or https:// address; got {shown!r}")
        self.endpoint = shown_url(url)
        self.headers = {"Content-Type": "application/json", **dict(headers or {})}
        if parts.username is not None:  # the standard client takes no user in the address: send it as Basic
            user = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            self.headers.setdefault("Authorization", "Basic " + base64.b64encode(user.encode()).decode())
            url = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        self.url = url
        self.timeout = timeout

    def _prepare(self, entry: ChangeLogEntry) -> str:
        return entry.to_json()

    def _write(self, batch: list[str]) -> None:
        body = ("[" + ",".join(batch) + "]").encode()
        request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as error:
            raise ExportError(
                f"{self.endpoint} answered HTTP {error.code} ({error.reason}) to {len(batch)} change-log entries; "
                "they wait for the next flush"
            ) from None
        except OSError as error:  # URLError, timeouts, refused connections
            reason = getattr(error, "reason", None) or error
            raise ExportError(
                f"cannot send {len(batch)} change-log entries to {self.endpoint} ({reason}); "
                "they wait for the next flush"
            ) from None

    def __repr__(self) -> str:
        return f"HttpExporter({self.endpoint!r}, pending={self.pending})"


def shown_url(url: str) -> str:
    """`url` as it may be shown: scheme, host, port and path; no user, password, query or fragment."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))
