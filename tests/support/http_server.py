"""Local HTTP servers for tests: a WSGI application served on 127.0.0.1 (a free port) in a thread.

    with serve(app) as base:                 # "http://127.0.0.1:PORT"; stopped on exit
        ...
    rows = RowServer()                       # tables of JSON rows, read in every paging style
    with serve(rows) as base:
        rows.tables["orders"] = [{"id": 1}]
        GET  {base}/page/orders?page=1&size=100     {"data": [...], "page": 1}
        GET  {base}/offset/orders?offset=0&limit=10 {"items": [...], "total": N}
        GET  {base}/cursor/orders?after=K&size=10   {"results": [...], "meta": {"next": K2 or null}}
        GET  {base}/next/orders?size=10             {"data": {"rows": [...]}, "links": {"next": "/next/orders?from=10&size=10"}}
        GET  {base}/link/orders?size=10             [...] with `Link: <...>; rel="next"`
        GET  {base}/all/orders                      [...]
        POST {base}/<any style>/orders              a JSON array, {"data": [...]} or one object: stored
        PUT  {base}/<any style>/orders/<id>         one object, stored under its id

A table whose name starts with `strict` refuses a row whose `label` is null (422). `auth` makes
every table route demand credentials: ("bearer", token), ("header", name, key), ("query", name,
key), ("basic", user, password) or ("oauth2", client_id, client_secret), whose tokens are given
by POST {base}/oauth/token. `fault(status, ...)` answers the next requests that match with a
status (503 with `Retry-After`, a page that is not JSON); `requests` lists what was asked, with
when. Shared by the REST adapter's tests and benchmarks; any test may serve its own WSGI app.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

STYLES = ("all", "page", "offset", "cursor", "next", "link")


class QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without its line per request (tests and benchmarks make thousands), and
    with keep-alive (HTTP/1.1), as APIs serve their clients."""

    protocol_version = "HTTP/1.1"

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@contextlib.contextmanager
def serve(app: Callable) -> Iterator[str]:
    """Serve the WSGI `app` on 127.0.0.1, a port the system chooses, in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="pdip-test-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@dataclasses.dataclass
class Fault:
    status: int
    body: bytes
    headers: dict[str, str]
    when: Callable[[Request], bool]
    times: int


@dataclasses.dataclass(frozen=True)
class Asked:
    method: str
    path: str  # with its query string
    headers: dict[str, str]
    at: float  # time.monotonic()
    body: bytes


class RowServer:
    """A WSGI application holding `tables` of JSON rows (see the module's docstring)."""

    def __init__(self, auth: tuple | None = None):
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self.auth = auth
        self.tokens: list[str] = []
        self.requests: list[Asked] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._issued = itertools.count(1)

    def fault(
        self,
        status: int,
        body: bytes | str = b"",
        headers: dict[str, str] | None = None,
        when: Callable[[Request], bool] = lambda request: True,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests for which `when(request)` holds with `status`."""
        body = body.encode() if isinstance(body, str) else body
        self.faults.append(Fault(status, body, dict(headers or {}), when, times))

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        body = request.get_data()
        self.requests.append(
            Asked(request.method, request.full_path.rstrip("?"), dict(request.headers), time.monotonic(), body)
        )
        response = self._faulty(request) or self._answer(request, body)
        return response(environ, start_response)

    def _faulty(self, request: Request) -> Response | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.when(request):
                    fault.times -= 1
                    return Response(fault.body, fault.status, headers=fault.headers, content_type="text/html")
        return None

    def _answer(self, request: Request, body: bytes) -> Response:
        parts = request.path.strip("/").split("/")
        if parts == ["oauth", "token"] and request.method == "POST":
            return self._token(request)
        if len(parts) not in (2, 3) or parts[0] not in STYLES:
            return _json({"error": f"no route {request.path}"}, 404)
        if not self._allowed(request):
            return _json({"error": "unauthorized"}, 401, {"WWW-Authenticate": "Bearer"})
        style, name = parts[0], parts[1]
        if request.method == "GET" and len(parts) == 2:
            return self._page(style, name, request)
        if request.method in ("POST", "PUT", "PATCH"):
            return self._store(name, body, parts[2] if len(parts) == 3 else None)
        return _json({"error": "method not allowed"}, 405)

    # -- reading ----------------------------------------------------------------------------------

    def _page(self, style: str, name: str, request: Request) -> Response:
        rows, query = self.tables.get(name, []), request.args
        if style == "all":
            return _json(rows)
        if style == "page":
            size = int(query.get("size", 100))
            number = int(query.get("page", 1))
            return _json({"data": rows[(number - 1) * size : number * size], "page": number})
        if style == "offset":
            offset, limit = int(query.get("offset", 0)), int(query.get("limit", 100))
            return _json({"items": rows[offset : offset + limit], "total": len(rows)})
        size = int(query.get("size", 100))
        start = int(query.get("after", query.get("from", 0)))
        chunk, end = rows[start : start + size], start + size
        more = end < len(rows)
        if style == "cursor":
            return _json({"results": chunk, "meta": {"next": str(end) if more else None}})
        following = f"/{style}/{name}?from={end}&size={size}"
        if style == "next":
            return _json({"data": {"rows": chunk}, "links": {"next": following if more else None}})
        return _json(chunk, headers={"Link": f'<{following}>; rel="next"'} if more else {})

    # -- writing ----------------------------------------------------------------------------------

    def _store(self, name: str, body: bytes, key: str | None) -> Response:
        try:
            sent = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _json({"error": "the body is not JSON"}, 400)
        rows = sent.get("data", sent) if isinstance(sent, dict) else sent
        rows = [rows] if isinstance(rows, dict) else rows
        if name.startswith("strict") and any(row.get("label") is None for row in rows):
            return _json({"error": "label: must not be null"}, 422)
        with self._lock:
            table = self.tables.setdefault(name, [])
            if key is not None:
                table[:] = [row for row in table if str(row.get("id")) != key]
            table.extend(rows)
        return _json({"stored": len(rows)}, 201)

    # -- credentials ------------------------------------------------------------------------------

    def _allowed(self, request: Request) -> bool:
        if self.auth is None:
            return True
        style, *given = self.auth
        if style == "bearer":
            return request.headers.get("Authorization") == f"Bearer {given[0]}"
        if style == "header":
            return request.headers.get(given[0]) == given[1]
        if style == "query":
            return request.args.get(given[0]) == given[1]
        if style == "basic":
            return request.headers.get("Authorization") == _basic(*given)
        return request.headers.get("Authorization") in [f"Bearer {token}" for token in self.tokens]

    def _token(self, request: Request) -> Response:
        if (
            self.auth is None
            or self.auth[0] != "oauth2"
            or request.headers.get("Authorization") != _basic(*self.auth[1:])
        ):
            return _json({"error": "invalid_client"}, 401)
        if request.form.get("grant_type") != "client_credentials":
            return _json({"error": "unsupported_grant_type"}, 400)
        token = f"token-{next(self._issued)}"
        self.tokens.append(token)
        return _json({"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    def revoke(self) -> None:
        """Forget every token given (as an expiry would): the next request gets a 401."""
        self.tokens.clear()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(value), status, headers=headers or {}, content_type="application/json")
