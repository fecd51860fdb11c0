"""What a request may carry: values every store can hold, JSON that parses, pages of bounded size.

A client's mistake is a 400 naming the field, never a 500 from deep inside a driver. The checks
here run before an action is called:

- JSON bodies are parsed with the standard library; one nested too deeply for the parser
  (a RecursionError) or spelling `NaN` / `Infinity` is refused as a whole.
- Integers outside 64 bits (what SQL stores call BIGINT), floats that overflow to infinity,
  strings with a NUL character (PostgreSQL text cannot hold one) or a lone UTF-16 surrogate
  (`"\\ud800"`, which no UTF-8 encoder accepts) are refused with their field. The raw body is
  scanned for what could spell them first, so a well-formed body costs one regular expression.
- Paging: a query parameter named `size` or `limit` is bounded to 1..`API.MAX_PAGE_SIZE`, and
  `page` to 1.. the last page whose offset still fits in 64 bits.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

from pdip.api.errors import BadRequestError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
PAGE_SIZE_NAMES = frozenset({"size", "limit"})
PAGE_NAME = "page"

# What could spell an unstorable value in raw JSON: a long run of digits, a large exponent, an
# escaped NUL or surrogate. Matching it only means the parsed value is looked at closely.
_SUSPECT = re.compile(rb"\d{19,}|[eE][+]?\d{3,}|\\u(?:0000|[dD][89a-fA-F])")


def parse_json(data: bytes) -> Any:
    """The body's JSON value; raises BadRequestError for text that is not JSON or not storable."""
    try:
        value = json.loads(data, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as error:
        raise BadRequestError(f"the body is not valid JSON: {error}") from None
    except RecursionError:
        raise BadRequestError("the body is not valid JSON: it is nested too deeply") from None
    if _SUSPECT.search(data):
        problems = [{"field": path or "body", "in": "body", "message": message} for path, message in unstorable(value)]
        if problems:
            raise BadRequestError("the request is invalid", errors=problems)
    return value


def unstorable(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(field path, what is wrong) for every value inside `value` that no store can hold."""
    kind = type(value)
    if kind is str:
        flaw = text_flaw(value)
        if flaw:
            yield path, f"the text {flaw}"
    elif kind is int:
        if not INT64_MIN <= value <= INT64_MAX:
            yield path, "expected an integer of at most 64 bits (-2**63 .. 2**63-1)"
    elif kind is float:
        if not math.isfinite(value):
            yield path, "expected a finite number"
    elif kind is dict:
        for key, item in value.items():
            yield from unstorable(item, f"{path}.{key}" if path else key)
            flaw = text_flaw(key)
            if flaw:
                yield f"{path}.{key}" if path else key, f"the field's name {flaw}"
    elif kind is list:
        for index, item in enumerate(value):
            yield from unstorable(item, f"{path}[{index}]")


def text_flaw(text: str) -> str | None:
    """Why `text` cannot be stored ("holds ..."), or None."""
    if "\x00" in text:
        return "holds a NUL character, which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "holds a lone UTF-16 surrogate, which is not Unicode text"
    return None


def value_problem(name: str, value: Any, max_page_size: int) -> str | None:
    """Why a converted route or query value cannot be used, or None: not storable, or a page
    parameter out of its bounds."""
    if type(value) is int:
        if name in PAGE_SIZE_NAMES and not 1 <= value <= max_page_size:
            return f"expected 1 to {max_page_size} (API.MAX_PAGE_SIZE), got {value}"
        last_page = last_page_number(max_page_size)
        if name == PAGE_NAME and not 1 <= value <= last_page:
            return f"expected 1 to {last_page}, got {value}"
    for _, problem in unstorable(value):
        return problem
    return None


def last_page_number(max_page_size: int) -> int:
    """The highest `page` whose first row's offset still fits in 64 bits."""
    return INT64_MAX // max_page_size


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
