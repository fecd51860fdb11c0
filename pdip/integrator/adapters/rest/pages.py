"""Pages of a REST source: where each page is asked for, where its rows are, and which page is next.

A page is asked for by a `PageRequest` (a URL and the paging parameters of that page), which is
also what a position records: `{"url": ..., "params": {"page": 3}, "base": true, "row": 250}`
means "the page asked for so, of which 250 rows were read", and a resumed read asks for that page
again and skips them; `{"done": true}` means nothing is left. Positions hold no setting's value
but the paging ones, so no secret reaches the state database.

The styles (`paginate`): `page` and `offset` count on until a page holds no rows (a page shorter
than the size asked for is not taken as the last: a server may cap the size); `next` follows the
URL at a dotted path of the response, `link` the `Link` header's `rel="next"` (RFC 8288), and
`cursor` sends the value at a dotted path of the response as a parameter, each until there is
none. Without `paginate` the source makes one request.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urljoin

from pdip.integrator.adapters.rest.settings import Pagination

MISSING = object()


@dataclasses.dataclass(frozen=True)
class PageRequest:
    """One page to ask for: `url`, its paging `params`, and whether the connection's own `params`
    go along (`base`: always, except to a `next` or `link` URL, which carries its own query)."""

    url: str
    params: dict[str, Any]
    base: bool = True

    def position(self, row: int = 0) -> dict[str, Any]:
        return {"url": self.url, "params": dict(self.params), "base": self.base, "row": row}


DONE = {"done": True}


class NoNextPage(Exception):
    """The address of the next page is in a page that could not be read."""


def at_path(document: Any, path: str) -> Any:
    """The value at a dotted `path` (`data.items`, `results.0.rows`) of a JSON document, or MISSING."""
    value = document
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value


class Paging:
    """The pages of one read in the style of `pagination` (None: one page)."""

    def __init__(self, pagination: Pagination | None):
        self.style = pagination

    def first(self, url: str, extra: dict[str, Any]) -> PageRequest:
        """The first page; `extra` are parameters the read adds (the incremental watermark)."""
        style, params = self.style, dict(extra)
        if style is not None and style.page is not None:
            params[style.page.param] = style.page.start
            if style.page.size_param and style.page.size:
                params[style.page.size_param] = style.page.size
        elif style is not None and style.offset is not None:
            params[style.offset.param] = 0
            params[style.offset.limit_param] = style.offset.limit
        return PageRequest(url, params)

    @staticmethod
    def resumed(position: Any) -> PageRequest | None:
        """The page a position says to ask for (None: the read was done)."""
        if position.get("done"):
            return None
        return PageRequest(position["url"], dict(position["params"]), position.get("base", True))

    def after(self, page: PageRequest, response: Any, document: Any, rows: int | None) -> PageRequest | None:
        """The page after `page`, whose `response` held `document` (MISSING: not JSON) and `rows`
        rows (None: unknown); None when `page` was the last. Raises `NoNextPage` when the next
        page's address was in a document that could not be read."""
        style = self.style
        if style is None:
            return None
        if style.link:
            target = response.links.get("next", {}).get("url")
            return PageRequest(urljoin(str(response.url), target), {}, base=False) if target else None
        if style.page is not None:
            if rows == 0:
                return None
            return dataclasses.replace(
                page, params={**page.params, style.page.param: page.params[style.page.param] + 1}
            )
        if style.offset is not None:
            if rows == 0:
                return None
            step = style.offset.limit if rows is None else rows
            return dataclasses.replace(
                page, params={**page.params, style.offset.param: page.params[style.offset.param] + step}
            )
        if document is MISSING:
            raise NoNextPage
        if style.next is not None:
            target = at_path(document, style.next)
            if target in (MISSING, None, ""):
                return None
            return PageRequest(urljoin(str(response.url), str(target)), {}, base=False)
        value = at_path(document, style.cursor.path)
        if value in (MISSING, None, ""):
            return None
        return dataclasses.replace(page, params={**page.params, style.cursor.param: value})
