"""REST endpoints as source and target: `kind: rest`.

    source: {kind: rest, url: "http://127.0.0.1:5000/api/Notes", headers: {X-Tenant-Id: acme},
             paginate: {page: {param: page, size_param: size, size: 1000}}}
    target: {kind: rest, url: "http://127.0.0.1:5000/api/Notes", send: row}

A source asks for pages (`pages.py`), finds the rows of each at `records` and makes a row of
each JSON object: its fields are `columns` (the setting, or the integration's), else the first
object's keys; `types` converts values through the type map's names, exactly or not at all. What
cannot be a row is dead-lettered with the page and row it was read at, and the read goes on: an
object lacking a field or holding one outside the columns, a value that does not convert, a page
that is not JSON (when the next page can be found without it). A batch's position is the page
to ask for next and the rows of it already read, so a resumed run continues there.

A target sends each batch as one JSON array (`send: batch`, the default; wrapped at `records`
when given), or each row as one JSON object (`send: row`, to a `url` whose `{column}` parts are
filled from the row: `PUT .../items/{id}`). A 4xx answer other than 401, 403 and 429 refuses
the rows it was sent, which are dead-lettered with the server's reason; the others land. A 2xx
answer is durable, so each batch commits when it is answered.
"""

from __future__ import annotations

import operator
import string
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import msgspec

from pdip.conversion import json_bytes
from pdip.integrator.adapters.base import Adapter, Capabilities, ReadRequest, Source, Target, WriteResult
from pdip.integrator.adapters.file.values import CONVERSION_ERRORS, VALUE_TYPES
from pdip.integrator.adapters.rest.pages import DONE, MISSING, NoNextPage, PageRequest, Paging, at_path
from pdip.integrator.adapters.rest.settings import SETTINGS, RestSettings, label, plain, rest_settings
from pdip.integrator.batch import Batch
from pdip.integrator.errors import OperationError
from pdip.integrator.types import named_types
from pdip.policy.secrets import mask_connection_string

SHOWN = 200  # characters of a page that is not JSON kept in its dead letter


def open_client(settings: RestSettings, where: str) -> Any:
    """The connection's HTTP client (httpx is imported only when a request is to be made)."""
    try:
        from pdip.integrator.adapters.rest.client import RestClient
    except ImportError:  # pragma: no cover - pdip[rest] installs httpx; checked by hand
        raise OperationError(f"{where}: rest connections need httpx: pip install 'pdip[rest]'") from None
    return RestClient(settings, where)


class RestEndpoint:
    """What source and target share: settings checked when made, a client opened when first used."""

    connection: Any

    def setup(self) -> None:
        self.label = label(self.connection)
        self.settings = rest_settings(self.connection)
        self._client = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = open_client(self.settings, self.label)
        return self._client

    def describe(self) -> str:
        return f"rest:{mask_connection_string(self.settings.url)}"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


# -- reading ------------------------------------------------------------------------------------


class Rows:
    """Turns a read's JSON objects into rows: the columns fixed by the first object unless
    chosen, each value converted to its declared type; what cannot be a row is refused."""

    def __init__(self, chosen: Sequence[str] | None, types: dict[str, str]):
        self.columns: list[str] | None = None
        self.known: set[str] | None = None  # no row matches it until the columns are fixed
        self.chosen = bool(chosen)
        self.types = {column: VALUE_TYPES[name.lower()] for column, name in types.items()}
        if chosen:
            self._fix(list(chosen))

    def _fix(self, columns: list[str]) -> None:
        self.columns, self.known = columns, set(columns)
        pick = operator.itemgetter(*columns)
        self.pick = pick if len(columns) > 1 else lambda item: (pick(item),)

    def row(self, item: Any) -> tuple | str:
        """The row of one JSON value, or why it cannot be one."""
        if item.__class__ is dict and not self.chosen and item.keys() == self.known and not self.types:
            return self.pick(item)  # the usual row, first: its fields are the columns
        if not isinstance(item, dict):
            return f"expected a JSON object, got {type(item).__name__}"
        if self.columns is None:
            if not item:
                return "an empty object: no fields to make the columns of"
            self._fix(list(item))
        if not self.chosen and item.keys() != self.known:
            extra = [repr(key) for key in item if key not in self.known]
            if extra:
                return (
                    f"unexpected field {', '.join(extra)}: the columns come from the first row "
                    f"({', '.join(self.columns)}); list every field under `columns`"
                )
        try:
            values = self.pick(item)
        except KeyError:
            missing = ", ".join(repr(column) for column in self.columns if column not in item)
            return f"missing field {missing} (a NULL is sent as null)"
        if not self.types:
            return values
        return self._typed(values)

    def _typed(self, values: tuple) -> tuple | str:
        converted = list(values)
        for index, column in enumerate(self.columns):
            convert = self.types.get(column)
            if convert is None or converted[index] is None:
                continue
            try:
                converted[index] = convert(converted[index])
            except CONVERSION_ERRORS:
                wanted = next(name for name, function in VALUE_TYPES.items() if function is convert)
                return f"field {column!r}: expected {wanted}, got {converted[index]!r}"
        return tuple(converted)


class RestSource(RestEndpoint, Source):
    def __init__(self, connection, context):
        super().__init__(connection, context)
        self.setup()
        self.paging = Paging(self.settings.pagination)

    def schema(self, request: ReadRequest) -> Any:
        """The declared `types` of the columns, when the columns are known before reading."""
        columns = request.columns or self.settings.columns
        return named_types(columns, self.settings.types, None) if columns else None

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        rows = Rows(request.columns or self.settings.columns, self.settings.types)
        if request.resume is None:
            page, skip = self.paging.first(self.settings.url, self._watermark(request)), 0
        else:
            page, skip = self.paging.resumed(request.resume), request.resume.get("row", 0)
        values: list[tuple] = []
        refused: list[tuple[dict[str, Any], str]] = []
        places: list[Any] = []
        keep = self._newer(rows, request)
        number = 0
        while page is not None:
            number += 1
            response, document, records = self._fetch(page, number)
            following = self._after(page, response, document, records, number)
            if records is None:
                held = {"url": self.client.shown(str(response.url)), "body": self.client.scrub(response.text[:SHOWN])}
                refused.append((held, self._not_json(response, number)))
                places.append(page.position())
                records = []
            start = skip
            while start < len(records):  # in runs that fill the batch at most, a row at a time
                end = min(len(records), start + request.batch_size - len(values))
                for index in range(start, end):
                    made = rows.row(records[index])
                    if made.__class__ is str:
                        refused.append(({"row": records[index]}, made))
                        places.append(page.position(index))
                    elif keep is None or keep(made):
                        values.append(made)
                start = end
                if len(values) >= request.batch_size:
                    last = end == len(records)
                    position = (following.position() if following else DONE) if last else page.position(end)
                    yield self._batch(rows, values, (refused, places), position, request)
                    values, refused, places = [], [], []
            page, skip = following, 0
        if values or refused:
            yield self._batch(rows, values, (refused, places), DONE, request)

    def _watermark(self, request: ReadRequest) -> dict[str, Any]:
        incremental = self.settings.incremental
        if incremental is None:
            return {}
        value = request.after if request.after is not None else incremental.start
        return {} if value is None else plain({incremental.param: value})

    def _fetch(self, page: PageRequest, number: int) -> tuple[Any, Any, list | None]:
        """The page's response, its JSON document (MISSING: not JSON) and its records (None: not JSON)."""
        method = (self.settings.method or "GET").upper()
        params = {**plain(self.settings.params), **page.params} if page.base else page.params
        response = self.client.send(method, page.url, params=params)
        if not response.is_success:
            raise self.client.refused(method, str(response.url), response)
        try:
            document = msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            return response, MISSING, None
        return response, document, self._records(document, response, number)

    def _records(self, document: Any, response: Any, number: int) -> list:
        path = self.settings.records
        found = document if path is None else at_path(document, path)
        where = f"page {number} ({self.client.shown(str(response.url))})"
        if found is MISSING:
            keys = ", ".join(document) if isinstance(document, dict) else type(document).__name__
            raise OperationError(f"{self.label}: records: {path!r} matches nothing in {where}, which holds: {keys}")
        if found is None:
            return []
        if isinstance(found, dict):
            if path is None:
                raise OperationError(
                    f"{self.label}: records: {where} is an object (keys: {', '.join(found)}); "
                    "name the one that holds the rows (records: data)"
                )
            return [found]
        if not isinstance(found, list):
            raise OperationError(
                f"{self.label}: records: {path or 'the body'} of {where} is a {type(found).__name__}, "
                "not a list of rows"
            )
        return found

    def _after(self, page: PageRequest, response: Any, document: Any, records: list | None, number: int) -> Any:
        try:
            following = self.paging.after(page, response, document, None if records is None else len(records))
        except NoNextPage:
            raise OperationError(
                f"{self.label}: paginate: {self._not_json(response, number)}, and it holds the next page's "
                "address: the read cannot go on"
            ) from None
        if following == page:
            raise OperationError(
                f"{self.label}: paginate: page {number} ({self.client.shown(str(response.url))}) names itself "
                "as the next page; the read would never end"
            )
        return following

    def _not_json(self, response: Any, number: int) -> str:
        kind = response.headers.get("Content-Type", "no Content-Type")
        return f"page {number} ({self.client.shown(str(response.url))}) is not JSON ({kind})"

    @staticmethod
    def _newer(rows: Rows, request: ReadRequest) -> Callable[[tuple], bool] | None:
        """What keeps a row of an incremental read: its cursor above the watermark (None: every row)."""
        if request.cursor is None or request.after is None:
            return None

        def newer(values: tuple) -> bool:
            value = values[rows.columns.index(request.cursor)]
            return value is not None and value > request.after

        return newer

    def _batch(self, rows: Rows, values: list[tuple], refused: tuple, position: Any, request: ReadRequest) -> Batch:
        """A batch of `values`, with what was `refused` since the last one and where (a pair of lists)."""
        columns = rows.columns or []
        batch = Batch(columns, values, position=position, rejected=refused[0], rejected_at=refused[1])
        batch.types = named_types(columns, self.settings.types, None)
        batch.partition = request.partition
        return batch


# -- writing ------------------------------------------------------------------------------------


class RestTarget(RestEndpoint, Target):
    def __init__(self, connection, context):
        super().__init__(connection, context)
        self.setup()
        self.fields = [name for _, name, _, _ in string.Formatter().parse(self.settings.url) if name]

    def prepare(self, columns: Sequence[str], create: bool, truncate: bool, types: Any = None) -> None:
        if truncate:
            raise OperationError(f"{self.label}: truncate_target: a rest target cannot empty its endpoint")
        if self.fields and self.settings.send != "row":
            raise OperationError(f"{self.label}: url: {{{self.fields[0]}}} is filled from a row, which needs send: row")
        missing = [name for name in self.fields if name not in columns]
        if missing and columns:
            raise OperationError(
                f"{self.label}: url: {{{missing[0]}}} is not a column of the rows (they have: {', '.join(columns)})"
            )

    def write(self, batch: Batch) -> WriteResult:
        records = batch.to_dicts()
        if self.settings.send == "row":
            refused = []
            for row, record in zip(batch.rows, records, strict=True):
                reason = self._send(self._url(record), record)
                if reason:
                    refused.append((row, reason))
            return WriteResult(len(records) - len(refused), refused)
        reason = self._send(self.settings.url, records)
        if reason:
            return WriteResult(0, [(row, reason) for row in batch.rows])
        return WriteResult(len(records))

    def _url(self, record: dict[str, Any]) -> str:
        quoted = {name: urllib.parse.quote(str(record[name]), safe="") for name in self.fields}
        return self.settings.url.format_map(quoted)

    def _send(self, url: str, rows: Any) -> str | None:
        """Send `rows`; None when the server took them, else its reason for refusing them."""
        method = (self.settings.method or "POST").upper()
        body = rows if self.settings.records is None else _wrapped(self.settings.records, rows)
        response = self.client.send(method, url, params=plain(self.settings.params), body=json_bytes(body))
        if response.is_success:
            return None
        if response.status_code in (401, 403) or not response.is_client_error:
            raise self.client.refused(method, url, response)
        return f"HTTP {response.status_code} {response.reason_phrase}: {self.client.answer(response)}"


def _wrapped(path: str, rows: Any) -> dict[str, Any]:
    """`rows` at the dotted `path` of an object (`data.items` -> {"data": {"items": rows}})."""
    for part in reversed(path.split(".")):
        rows = {part: rows}
    return rows


ADAPTER = Adapter(("rest",), RestSource, RestTarget, Capabilities(), settings=SETTINGS)
