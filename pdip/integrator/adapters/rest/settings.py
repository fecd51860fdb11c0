"""A REST connection's settings: declared for `pdip validate` and the docs, converted and checked
into `RestSettings` before any request is made.

    source:
      kind: rest
      url: https://api.example.com/v1/orders
      params: {status: paid}
      auth: {bearer: "${ORDERS_TOKEN}"}
      records: data                                  # where each response holds its rows
      paginate: {cursor: {param: after, path: meta.next}}
      incremental: {param: updated_since}            # the watermark of the integration's `cursor`

Nested settings (`auth`, `paginate`, `incremental`) are dataclasses, so the one converter
(`pdip.conversion`) checks them to their last key (`paginate.page.size: expected int`) and a
misspelt key is named. `auth` and `headers` are secret: their values never appear in a message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from pdip.configuration.settings import MASK, Setting
from pdip.conversion import ConversionError, convert
from pdip.integrator.adapters.file.values import VALUE_TYPES
from pdip.integrator.errors import OperationError, refuse_unknown
from pdip.integrator.types import FILE_TYPE_NAMES

METHODS = ("GET", "POST", "PUT", "PATCH")
SENDS = ("batch", "row")


def _one_of(owner: Any, names: tuple[str, ...]) -> None:
    chosen = [name for name in names if getattr(owner, name) not in (None, False)]
    if len(chosen) != 1:
        got = f"got {', '.join(chosen)}" if chosen else "got none"
        raise ValueError(f"expected exactly one of {', '.join(names)}, {got}")


# -- auth ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ApiKey:
    """`api_key: {header: X-Api-Key, value: ...}` or `{query: api_key, value: ...}`."""

    value: str
    header: str | None = None
    query: str | None = None

    def __post_init__(self):
        _one_of(self, ("header", "query"))


@dataclasses.dataclass(frozen=True)
class Basic:
    user: str
    password: str = ""


@dataclasses.dataclass(frozen=True)
class ClientCredentials:
    """OAuth 2 client credentials: a token asked of `token_url`, kept until it expires."""

    token_url: str
    client_id: str
    client_secret: str
    scope: str | None = None


@dataclasses.dataclass(frozen=True)
class Auth:
    bearer: str | None = None
    api_key: ApiKey | None = None
    basic: Basic | None = None
    oauth2: ClientCredentials | None = None

    def __post_init__(self):
        _one_of(self, ("bearer", "api_key", "basic", "oauth2"))

    def secrets(self) -> list[str]:
        """The values that must never be shown."""
        found = [self.bearer, self.api_key and self.api_key.value, self.basic and self.basic.password]
        if self.oauth2:
            found.append(self.oauth2.client_secret)
        return [value for value in found if value]


# -- pagination ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PageNumbers:
    """`?page=1`, `?page=2`, ... until a page holds no rows."""

    param: str = "page"
    start: int = 1
    size_param: str | None = None
    size: int | None = None


@dataclasses.dataclass(frozen=True)
class Offsets:
    """`?offset=0&limit=100`, `?offset=100&limit=100`, ... until a page holds no rows."""

    param: str = "offset"
    limit_param: str = "limit"
    limit: int = 100


@dataclasses.dataclass(frozen=True)
class Cursors:
    """The value at `path` in each response, sent as `param` for the next page."""

    param: str
    path: str


@dataclasses.dataclass(frozen=True)
class Pagination:
    """Exactly one style: `next` (the dotted path of the next page's URL in the response),
    `link` (the `Link: <...>; rel="next"` header), `page`, `offset` or `cursor`."""

    next: str | None = None
    link: bool = False
    page: PageNumbers | None = None
    offset: Offsets | None = None
    cursor: Cursors | None = None

    def __post_init__(self):
        _one_of(self, ("next", "link", "page", "offset", "cursor"))


PAGINATE = Literal["link", "page", "offset"] | Pagination

# A style that needs nothing more may be named alone: `paginate: link`, `paginate: page`.
SHORT_STYLES = {
    "link": Pagination(link=True),
    "page": Pagination(page=PageNumbers()),
    "offset": Pagination(offset=Offsets()),
}


@dataclasses.dataclass(frozen=True)
class Incremental:
    """The integration's high-watermark (of its `cursor`) sent as the query parameter `param`;
    `start` is sent on a first run, when there is no watermark yet."""

    param: str
    start: Any = None


# -- the connection -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RestSettings:
    url: str
    method: str | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    auth: Auth | None = None
    records: str | None = None
    paginate: PAGINATE | None = None
    incremental: Incremental | None = None
    columns: tuple[str, ...] | None = None
    types: dict[str, str] = dataclasses.field(default_factory=dict)
    send: str = "batch"
    retries: int = 5
    backoff: float = 0.5
    max_backoff: float = 60.0
    timeout: float = 30.0
    rate: float | None = None

    @property
    def pagination(self) -> Pagination | None:
        return SHORT_STYLES[self.paginate] if isinstance(self.paginate, str) else self.paginate

    def secrets(self) -> list[str]:
        """Every value an error, a log line or an event must not show."""
        found = self.auth.secrets() if self.auth else []
        return found + [str(value) for value in self.headers.values() if value]


SETTINGS = (
    Setting("url", str, required=True, help="a source's first page; a target's endpoint (`{column}` filled per row)"),
    Setting("method", str, allowed=METHODS, help="default: GET for a source, POST for a target"),
    Setting("params", dict[str, Any], help="query parameters sent with every request"),
    Setting("headers", dict[str, str], secret=True, help="headers sent with every request"),
    Setting(
        "auth",
        Auth,
        secret=True,
        help="`bearer`, `api_key` {header or query, value}, `basic` {user, "
        "password} or `oauth2` {token_url, client_id, client_secret, scope}",
    ),
    Setting(
        "records",
        str,
        help="the dotted path of the rows in a response (a target: in its body); default: the whole body",
    ),
    Setting(
        "paginate",
        PAGINATE,
        help="`next` {path}, `link`, `page` {param, "
        "start, size_param, size}, `offset` {param, limit_param, limit} or `cursor` {param, path}",
    ),
    Setting("incremental", Incremental, help="{param, start}: the integration's watermark sent as `param`"),
    Setting("columns", list[str], help="the fields read (default: the first row's keys)"),
    Setting("types", dict[str, str], allowed=FILE_TYPE_NAMES, help="`field: type` of a source's values"),
    Setting("send", str, default="batch", allowed=SENDS, help="a target sends each batch, or each row, in one request"),
    Setting("retries", int, default=5, help="tries after the first on connection errors, 429 and 5xx"),
    Setting("backoff", float, default=0.5, help="seconds before the first retry, doubled each time, jittered"),
    Setting("max_backoff", float, default=60.0, help="most seconds waited before a retry (Retry-After too)"),
    Setting("timeout", float, default=30.0, help="seconds to connect, and between bytes of a response"),
    Setting("rate", float, help="most requests per second (default: no bound)"),
)


def label(connection: Any) -> str:
    """How messages name the connection: by its name in CONNECTIONS, when it has one."""
    return f"rest connection {connection.name!r}" if connection.name else "rest connection"


def rest_settings(connection: Any) -> RestSettings:
    """The connection's settings, converted and checked: every problem named with its key (a
    secret setting's value masked), as one `OperationError`, before any request is made."""
    where = label(connection)
    raw = {str(key).lower(): value for key, value in connection.settings.items()}
    refuse_unknown(raw, [setting.name for setting in SETTINGS], f"{where}: ", "unknown setting for rest")
    secret = {setting.name for setting in SETTINGS if setting.secret}
    try:
        settings = convert(raw, RestSettings, lenient=True)
    except ConversionError as error:
        problems = [f"{where}: {problem.describe(_masked(secret))}" for problem in error.problems]
        raise OperationError("; ".join(problems), problems) from None
    problems = [f"{where}: {problem}" for problem in _problems(settings)]
    if problems:
        raise OperationError("; ".join(problems), problems)
    return settings


def _masked(secret: set[str]):
    def shown(path: str, value: Any) -> str:
        return MASK if path.split(".")[0].split("[")[0] in secret else repr(value)

    return shown


def _problems(settings: RestSettings) -> list[str]:
    found = []
    if not settings.url.strip():
        found.append("url: expected an http:// or https:// URL, got nothing")
    if settings.method is not None and settings.method.upper() not in METHODS:
        found.append(f"method: expected one of {', '.join(METHODS)}, got {settings.method!r}")
    if settings.send not in SENDS:
        found.append(f"send: expected one of {', '.join(SENDS)}, got {settings.send!r}")
    for column, name in settings.types.items():
        if name.lower() not in VALUE_TYPES:
            found.append(f"types.{column}: expected one of {', '.join(FILE_TYPE_NAMES)}, got {name!r}")
    for name in ("retries", "backoff", "max_backoff"):
        if getattr(settings, name) < 0:
            found.append(f"{name}: expected 0 or more, got {getattr(settings, name)!r}")
    for name in ("timeout", "rate"):
        value = getattr(settings, name)
        if value is not None and value <= 0:
            found.append(f"{name}: expected a positive number, got {value!r}")
    return found


def plain(value: Mapping[str, Any]) -> dict[str, Any]:
    """Query parameters as text, the way they travel (a watermark may be a datetime)."""
    return {name: item.isoformat() if hasattr(item, "isoformat") else item for name, item in value.items()}
